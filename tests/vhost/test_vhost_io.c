/* tests/vhost/test_vhost_io.c - the vhost-user backend's happy path: our
 * test frontend against sgfuse-passthrough --vhost-user on a temp SOURCE.
 * INIT, LOOKUP, CREATE, a 128 KiB WRITE whose payload is 32 descriptors of
 * 4 KiB read back through 32 writable page descriptors (the bytes checked
 * in SOURCE too), odd splits, the statistics showing one WRITE of 131072
 * bytes, FORGET on the hiprio queue, 3600 GETATTRs with 24 in flight on two
 * workers (each answered once, by its own reply); memory outside the
 * region untouched. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "vt.h"
#include "vu_fuse.h"

#define BIG (32u * 4096u)

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 4096 + 1);
}

/* The bytes of SOURCE/name at off. */
static bool source_has(const char *name, const unsigned char *want, size_t len, off_t off)
{
	char path[4096];
	static unsigned char buf[BIG];
	int fd = open(vt_join(path, sizeof(path), vt_src(), name), O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? pread(fd, buf, len, off) : -1;

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)len && memcmp(buf, want, len) == 0;
}

/* Many GETATTRs in flight at once on the two workers, again and again:
 * each chain comes back exactly once, with its own reply. */
static void burst(struct vf *f)
{
	enum { SLOTS = 24, ROUNDS = 150 };
	uint32_t in_len = sizeof(struct fuse_in_header) + sizeof(struct fuse_getattr_in);
	uint32_t out_len = sizeof(struct fuse_out_header) + sizeof(struct fuse_attr_out);
	struct sgf_vq_buf rd[SLOTS], wr[SLOTS];
	uint64_t mark = f->brk, sent[SLOTS];
	bool busy[SLOTS] = { false };
	unsigned slot_of[VF_NUM], bad = 0, done = 0;

	for (unsigned i = 0; i < SLOTS; i++) {
		rd[i] = (struct sgf_vq_buf){ vf_alloc(f, in_len, 64), in_len };
		wr[i] = (struct sgf_vq_buf){ vf_alloc(f, out_len, 64), out_len };
	}
	while (done < SLOTS * ROUNDS && bad == 0) {
		for (unsigned i = 0; i < SLOTS; i++) {
			if (busy[i])
				continue;
			struct fuse_in_header h;
			uint16_t head;
			vf_in_header(f, &h, FUSE_GETATTR, FUSE_ROOT_ID, in_len);
			memcpy(vf_host(f, rd[i].gpa), &h, sizeof(h));
			memset((char *)vf_host(f, rd[i].gpa) + sizeof(h), 0, in_len - sizeof(h));
			memset(vf_host(f, wr[i].gpa), 0, out_len);
			if (vf_add(f, VF_REQ, &rd[i], 1, &wr[i], 1, &head) != 0)
				break;
			busy[i] = true;
			sent[i] = h.unique;
			slot_of[head] = i;
		}
		uint16_t head;
		uint32_t len;
		int r = vf_wait_used(f, VF_REQ, &head, &len, VF_TIMEOUT_MS);
		if (r != 1) {
			vt_fail(__FILE__, __LINE__, "burst: after %u replies: %d", done, r);
			break;
		}
		unsigned i = slot_of[head];
		struct fuse_out_header oh;
		memcpy(&oh, vf_host(f, wr[i].gpa), sizeof(oh));
		if (!busy[i] || len != out_len || oh.len != out_len || oh.unique != sent[i] || oh.error) {
			vt_fail(__FILE__, __LINE__, "burst: reply %u: head %u used len %u, out len %u "
				"unique %llu (sent %llu) error %d", done, head, len, oh.len,
				(unsigned long long)oh.unique, (unsigned long long)sent[i], oh.error);
			bad++;
		}
		busy[i] = false;
		done++;
	}
	/* Reap what is left before the buffers go. */
	for (unsigned i = 0; i < SLOTS && bad == 0; i++) {
		uint16_t head;
		uint32_t len;
		if (busy[i] && vf_wait_used(f, VF_REQ, &head, &len, VF_TIMEOUT_MS) == 1)
			busy[slot_of[head]] = false;
	}
	vf_mem_reset(f, mark);
}

int main(int argc, char **argv)
{
	static unsigned char data[BIG], back[BIG];
	struct fuse_init_out io;
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct fuse_attr_out a;
	char stats[1 << 14], path[4096];
	struct vf f;

	vt_init(argc, argv, 150);
	int fd = open(vt_join(path, sizeof(path), vt_src(), "hello"), O_WRONLY | O_CREAT | O_CLOEXEC,
		      0644);
	REQUIRE(fd >= 0 && write(fd, "hello, guest\n", 13) == 13);
	close(fd);
	vt_daemon_start("threads=2");
	REQUIRE(vf_start(&f, vt_sock(), 0) == 0);
	CHECK(f.features & (1ull << SGF_VIRTIO_F_RING_EVENT_IDX));

	REQUIRE(vf_init(&f, &io) == 0);
	CHECK_EQ(io.major, FUSE_KERNEL_VERSION);
	CHECK(io.max_write >= BIG);

	CHECK_EQ(vf_lookup(&f, FUSE_ROOT_ID, "absent", &e), -ENOENT);
	CHECK_EQ(vf_lookup(&f, FUSE_ROOT_ID, "hello", &e), 0);
	CHECK_EQ(e.attr.size, 13);
	uint64_t hello = e.nodeid;

	REQUIRE(vf_create(&f, FUSE_ROOT_ID, "data", 0644, &e, &o) == 0);
	uint64_t ino = e.nodeid, fh = o.fh;
	for (size_t i = 0; i < BIG; i++)
		data[i] = pattern(i);

	/* 32 readable page descriptors of payload after the header's. */
	CHECK_EQ(vf_write(&f, ino, fh, 0, data, BIG, 32), (int)BIG);
	CHECK(source_has("data", data, BIG, 0));
	/* ... read back into 32 writable page descriptors. */
	CHECK_EQ(vf_read(&f, ino, fh, 0, back, BIG, 32), (int)BIG);
	CHECK(memcmp(back, data, BIG) == 0);

	/* Splits that are no multiple of anything: 3 segments of an
	 * unaligned range, and a READ past the end (short). */
	memset(back, 0, sizeof(back));
	CHECK_EQ(vf_read(&f, ino, fh, 1000, back, 10007, 3), 10007);
	CHECK(memcmp(back, data + 1000, 10007) == 0);
	CHECK_EQ(vf_read(&f, ino, fh, BIG - 100, back, 4096, 2), 100);
	CHECK(memcmp(back, data + BIG - 100, 100) == 0);
	CHECK_EQ(vf_read(&f, ino, fh, BIG + 1, back, 4096, 1), 0);

	CHECK_EQ(vf_getattr(&f, ino, &a), 0);
	CHECK_EQ(a.attr.size, BIG);

	/* The statistics: exactly one WRITE, of 131072 bytes. */
	REQUIRE(vt_stats(stats, sizeof(stats)) == 0);
	CHECK_EQ(vt_stat_op(stats, "WRITE", "count"), 1);
	CHECK_EQ(vt_stat_op(stats, "WRITE", "bytes"), BIG);
	CHECK_EQ(vt_stat_op(stats, "WRITE", "errors"), 0);
	CHECK(strstr(stats, "hist WRITE 131072 1\n") != NULL);
	CHECK_EQ(vt_stat_op(stats, "READ", "count"), 4);
	CHECK_EQ(vt_stat_count(stats, "malformed"), 0);

	CHECK_EQ(vf_release(&f, ino, fh), 0);
	CHECK_EQ(vf_forget(&f, hello, 1), 0);
	CHECK_EQ(vf_forget(&f, ino, 1), 0);
	/* The hiprio queue takes FORGET without a reply; the request queue
	 * still answers. */
	CHECK_EQ(vf_getattr(&f, FUSE_ROOT_ID, &a), 0);
	CHECK(S_ISDIR(a.attr.mode));

	burst(&f);

	CHECK(vf_canaries_ok(&f));
	CHECK(vt_daemon_alive());
	vf_close(&f);
	return vt_finish();
}
