/* tests/interop/test_vhost_client.c - our client over vhost-user against a
 * backend we did not write (QEMU's virtiofsd; or our own, see
 * tests/vhost_peer.h): the handshake and INIT, metadata round trips checked
 * in the source directory, packed O_DIRECT pwritev/preadv of 32 x 4 KiB
 * from ordinary buffers and from sgf_client_buf_alloc() ones, every byte
 * verified in the source file and back, one request per call; readdir,
 * rename, unlink, truncate, statfs, several threads at once, and an
 * orderly disconnect that lets the backend go. argv[1]: the sgfuse
 * daemon, for SGF_VHOST_PEER=sgfuse. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include "check.h"
#include "vhost_peer.h"

#define PAGE 4096u
#define NSEG 32
#define CALL (NSEG * PAGE)

static char dir[] = "/tmp/sgf-vhost-client-XXXXXX";
static char src[128], sock[128];

static uint8_t pat(uint64_t off, unsigned salt)
{
	return (uint8_t)((off * 131 + (off >> 12) * 7 + salt) & 0xff);
}

static void fill(const struct iovec *iov, int n, uint64_t off, unsigned salt)
{
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < iov[i].iov_len; j++)
			((uint8_t *)iov[i].iov_base)[j] = pat(off++, salt);
}

static bool matches(const struct iovec *iov, int n, uint64_t off, unsigned salt)
{
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < iov[i].iov_len; j++)
			if (((uint8_t *)iov[i].iov_base)[j] != pat(off++, salt))
				return false;
	return true;
}

/* The source file at name holds pat(off.., salt) for len bytes at off. */
static bool source_has(const char *name, uint64_t off, size_t len, unsigned salt)
{
	char path[256];
	uint8_t *buf = malloc(len);
	snprintf(path, sizeof(path), "%s/%s", src, name);
	int fd = open(path, O_RDONLY);
	bool ok = buf && fd >= 0 && pread(fd, buf, len, (off_t)off) == (ssize_t)len;
	for (size_t i = 0; ok && i < len; i++)
		ok = buf[i] == pat(off + i, salt);
	if (fd >= 0)
		close(fd);
	free(buf);
	return ok;
}

static bool source_exists(const char *name)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", src, name);
	return lstat(path, &st) == 0;
}

static uint64_t requests(struct sgf_client *c, uint32_t op)
{
	struct sgf_stats st;
	sgf_stats_snapshot(sgf_client_stats(c), &st);
	return st.count[op];
}

/* One packed vectored write and read back, per buffer kind; 32 pages go
 * out as one request each way (max_pages is at least 32 everywhere). */
static void packed_io(struct sgf_client *c, const struct sgf_file *f, const char *name,
		      struct iovec *iov, uint64_t off, unsigned salt, const char *what)
{
	uint64_t w0 = requests(c, FUSE_WRITE), r0 = requests(c, FUSE_READ);

	fill(iov, NSEG, off, salt);
	CHECK_EQ_CTX(sgf_pwritev(c, f, iov, NSEG, off), CALL, what);
	CHECK_EQ_CTX(requests(c, FUSE_WRITE) - w0, 1, what);
	CHECK_EQ_CTX(source_has(name, off, CALL, salt), 1, what);
	for (int i = 0; i < NSEG; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
	CHECK_EQ_CTX(sgf_preadv(c, f, iov, NSEG, off), CALL, what);
	CHECK_EQ_CTX(requests(c, FUSE_READ) - r0, 1, what);
	CHECK_EQ_CTX(matches(iov, NSEG, off, salt), 1, what);
}

struct names {
	int n;
	bool f, g, dot;
};

static int collect(void *ctx, const struct sgf_dirent *e)
{
	struct names *nm = ctx;
	nm->n++;
	if (e->namelen == 1 && e->name[0] == 'f')
		nm->f = true;
	if (e->namelen == 1 && e->name[0] == 'g')
		nm->g = true;
	if (e->namelen == 1 && e->name[0] == '.')
		nm->dot = true;
	return 0;
}

struct worker {
	struct sgf_client *c;
	struct sgf_file f;
	unsigned id;
	int fails;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char *mem = sgf_client_buf_alloc(w->c, CALL);
	struct iovec iov[NSEG];

	if (mem == NULL) {
		w->fails++;
		return NULL;
	}
	for (int i = 0; i < NSEG; i++)
		iov[i] = (struct iovec){ mem + i * PAGE, PAGE };
	for (unsigned round = 0; round < 30; round++) {
		uint64_t off = (uint64_t)(w->id * 4 + round % 4) * CALL;
		fill(iov, NSEG, off, round);
		if (sgf_pwritev(w->c, &w->f, iov, NSEG, off) != CALL)
			w->fails++;
		memset(mem, 0, CALL);
		if (sgf_preadv(w->c, &w->f, iov, NSEG, off) != CALL || !matches(iov, NSEG, off, round))
			w->fails++;
	}
	sgf_client_buf_free(w->c, mem);
	return NULL;
}

static void threads(struct sgf_client *c, uint64_t parent)
{
	struct fuse_entry_out e;
	struct worker w[4];
	pthread_t t[4];
	struct sgf_file f;

	CHECK_EQ(sgf_create(c, parent, "threads", O_RDWR | O_DIRECT, 0644, &e, &f), 0);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ .c = c, .f = f, .id = i };
		CHECK_EQ(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(w[i].fails, 0);
	}
	CHECK_EQ(sgf_release(c, &f), 0);
	CHECK_EQ(sgf_unlink(c, parent, "threads"), 0);
	sgf_forget(c, e.nodeid, 1);
}

int main(int argc, char **argv)
{
	struct vhost_peer peer;
	struct sgf_client *c = NULL;
	struct fuse_entry_out d, e;
	struct fuse_attr_out a;
	struct sgf_file f;
	struct iovec heap[NSEG], arena[NSEG];
	struct names nm = { 0 };

	alarm(150);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(sock, sizeof(sock), "%s/vfs.sock", dir);
	CHECK_EQ(mkdir(src, 0755), 0);
	vp_start(&peer, src, sock, argc > 1 ? argv[1] : NULL);
	int r = sgf_client_connect(peer.address, NULL, &c);
	CHECK_EQ(r, 0);
	if (r) {
		fprintf(stderr, "connect %s: %s\n", peer.address, strerror(-r));
		vp_dump_log(&peer);
		vp_kill(&peer);
		return check_exit();
	}
	const struct sgf_client_conn *cc = sgf_client_conn(c);
	CHECK_EQ(cc->proto_major, 7);
	CHECK(cc->max_pages >= NSEG && cc->max_write >= CALL);

	/* Names and attributes, each seen in the source directory. */
	CHECK_EQ(sgf_mkdir(c, FUSE_ROOT_ID, "d", 0755, &d), 0);
	CHECK(source_exists("d"));
	CHECK_EQ(sgf_getattr(c, d.nodeid, &a), 0);
	CHECK((a.attr.mode & S_IFMT) == S_IFDIR);
	CHECK_EQ(sgf_create(c, d.nodeid, "f", O_RDWR | O_DIRECT, 0640, &e, &f), 0);
	CHECK(source_exists("d/f"));
	struct fuse_entry_out none;
	CHECK_EQ(sgf_lookup(c, d.nodeid, "nope", &none), -ENOENT);

	/* Packed direct I/O: ordinary buffers (bounced), then arena ones
	 * (by address), then both in one call. */
	char *hmem = aligned_alloc(PAGE, CALL);
	char *amem = sgf_client_buf_alloc(c, CALL);
	CHECK(hmem != NULL && amem != NULL && (uintptr_t)amem % PAGE == 0);
	for (int i = 0; i < NSEG; i++) {
		heap[i] = (struct iovec){ hmem + i * PAGE, PAGE };
		arena[i] = (struct iovec){ amem + i * PAGE, PAGE };
	}
	packed_io(c, &f, "d/f", heap, 0, 1, "ordinary buffers");
	packed_io(c, &f, "d/f", arena, CALL, 2, "arena buffers");
	struct iovec mix[NSEG];
	for (int i = 0; i < NSEG; i++)
		mix[i] = i % 2 ? heap[i] : arena[i];
	packed_io(c, &f, "d/f", mix, 2 * CALL, 3, "mixed buffers");
	/* Unaligned, odd sizes: through bounce space, still verified. */
	struct iovec odd[3] = { { hmem + 1, 1000 }, { amem + 5, 3000 }, { hmem + 9000, 77 } };
	fill(odd, 3, 3 * CALL + 13, 4);
	CHECK_EQ(sgf_pwritev(c, &f, odd, 3, 3 * CALL + 13), 4077);
	CHECK(source_has("d/f", 3 * CALL + 13, 4077, 4));
	memset(hmem, 0, CALL);
	memset(amem, 0, CALL);
	CHECK_EQ(sgf_preadv(c, &f, odd, 3, 3 * CALL + 13), 4077);
	CHECK(matches(odd, 3, 3 * CALL + 13, 4));
	/* A read past the end is short. */
	CHECK_EQ(sgf_pread(c, &f, amem, CALL, 3 * CALL + 13 + 4000), 77);
	CHECK_EQ(sgf_fsync(c, &f, false), 0);
	CHECK_EQ(sgf_flush(c, &f), 0);
	CHECK_EQ(sgf_release(c, &f), 0);

	/* truncate, readdir, rename, unlink, statfs. */
	CHECK_EQ(sgf_truncate(c, e.nodeid, 5000), 0);
	struct stat st;
	char path[256];
	snprintf(path, sizeof(path), "%s/d/f", src);
	CHECK(stat(path, &st) == 0 && st.st_size == 5000);
	CHECK_EQ(sgf_list_dir(c, d.nodeid, collect, &nm), 0);
	CHECK(nm.f && nm.dot && !nm.g);
	CHECK_EQ(sgf_rename(c, d.nodeid, "f", d.nodeid, "g", 0), 0);
	CHECK(!source_exists("d/f") && source_exists("d/g"));
	nm = (struct names){ 0 };
	CHECK_EQ(sgf_list_dir(c, d.nodeid, collect, &nm), 0);
	CHECK(nm.g && !nm.f);
	sgf_forget(c, e.nodeid, 1);
	struct fuse_kstatfs kst;
	struct statvfs vst;
	CHECK_EQ(sgf_statfs(c, FUSE_ROOT_ID, &kst), 0);
	CHECK(statvfs(src, &vst) == 0 && kst.blocks == vst.f_blocks && kst.bsize == vst.f_bsize);

	threads(c, d.nodeid);
	/* As the kernel does, unlink what we hold a reference to: virtiofsd
	 * answers EIO for a name whose node it has forgotten. */
	CHECK_EQ(sgf_lookup(c, d.nodeid, "g", &e), 0);
	CHECK_EQ(sgf_unlink(c, d.nodeid, "g"), 0);
	sgf_forget(c, e.nodeid, 1);
	CHECK(!source_exists("d/g"));
	CHECK_EQ(sgf_rmdir(c, FUSE_ROOT_ID, "d"), 0);
	CHECK(!source_exists("d"));
	sgf_forget(c, d.nodeid, 1);

	struct sgf_stats stats;
	sgf_stats_snapshot(sgf_client_stats(c), &stats);
	CHECK_EQ(stats.malformed, 0);
	CHECK(stats.count[FUSE_FORGET] >= 2);
	sgf_client_buf_free(c, amem);
	free(hmem);
	CHECK_EQ(sgf_client_disconnect(c), 0);
	/* virtiofsd leaves once its frontend has: the rings were stopped and
	 * the socket closed in order. */
	if (peer.one_session) {
		int status = vp_wait(&peer, 5000);
		CHECK(status != -1 && WIFEXITED(status));
	} else {
		vp_stop(&peer);
	}
	if (check_failures)
		vp_dump_log(&peer);
	unlink(sock);
	unlink(peer.log);
	rmdir(src);
	rmdir(dir);
	return check_exit();
}
