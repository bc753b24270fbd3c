/* tests/vhost/test_vhost_control.c - the vhost-user control protocol of
 * sgfuse-passthrough --vhost-user facing malformed and refused messages.
 * A broken stream (bad version, oversized or mis-sized payload, a message
 * cut short, fds where none belong or too many, SET_MEM_TABLE whose
 * nregions is not its fd count) closes the connection with a line on
 * stderr; a well-formed message the backend cannot honour (a region of
 * size 0 or larger than its fd, overlapping regions, SET_VRING_NUM not a
 * power of two, rings outside the memory table, unknown requests, bad
 * queue indices) gets a REPLY_ACK failure and the connection goes on.
 * Either way no crash, no fd or mapping left behind, and the next
 * frontend is served. */
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include "vt.h"
#include "vu_fuse.h"

#define V SGF_VU_VERSION
#define ACK (SGF_VU_VERSION | SGF_VU_FLAG_NEED_REPLY)

static int base_fds;

static void fresh(struct vf *f)
{
	REQUIRE(vf_open(f, vt_sock(), 0) == 0);
	REQUIRE(vf_negotiate(f) == 0);
}

/* After a connection closed: the daemon's fds and guest mappings are
 * back to what it had before any frontend. */
static void released(const char *what)
{
	pid_t pid = vt_daemon_pid();

	if (!VT_WAIT_UNTIL(vt_fd_count(pid) == base_fds && vt_map_count(pid, "memfd:") == 0,
			   10000))
		vt_fail(__FILE__, __LINE__, "%s: the daemon holds %d fds (%d before) and %d memfd "
			"mappings", what, vt_fd_count(pid), base_fds, vt_map_count(pid, "memfd:"));
}

/* The daemon lives and serves a whole frontend: start, INIT, GETATTR. */
static void serves(const char *what)
{
	struct fuse_attr_out a;
	struct vf f;

	if (!vt_daemon_alive()) {
		vt_fail(__FILE__, __LINE__, "%s: the daemon died", what);
		exit(vt_finish());
	}
	released(what);
	int r = vf_start(&f, vt_sock(), 0);
	if (r == 0)
		r = vf_init(&f, NULL);
	if (r == 0)
		r = vf_getattr(&f, FUSE_ROOT_ID, &a);
	if (r != 0)
		vt_fail(__FILE__, __LINE__, "%s: the next frontend: %d (%s)", what, r, strerror(-r));
	vf_close(&f);
	released(what);
}

/* The backend closes f's connection, says why on stderr, and serves the
 * next frontend. */
static void closes(const char *what, struct vf *f)
{
	static unsigned lines;

	if (vf_wait_closed(f, 10000) != 0)
		vt_fail(__FILE__, __LINE__, "%s: the connection stayed open", what);
	vf_close(f);
	unsigned n = vt_log_count("closing the connection");
	if (n <= lines)
		vt_fail(__FILE__, __LINE__, "%s: no line on stderr", what);
	lines = n;
	serves(what);
}

/* A SET_MEM_TABLE saying n regions (payload size bytes) with nfds fds;
 * the regions r[0..nr), the rest zero. */
static int mem_table(struct vf *f, const struct sgf_vu_mem_region *r, unsigned nr, unsigned n,
		     uint32_t size, const int *fds, unsigned nfds)
{
	struct sgf_vu_mem_table t;

	memset(&t, 0, sizeof(t));
	t.nregions = n;
	memcpy(t.regions, r, nr * sizeof(*r));
	return vf_ack(f, SGF_VU_SET_MEM_TABLE, &t, size, fds, nfds);
}

static struct sgf_vu_mem_region region_of(struct vf *f)
{
	return (struct sgf_vu_mem_region){ VF_GPA, f->size, (uint64_t)(uintptr_t)f->mem, VF_GUARD };
}

#define FULL ((uint32_t)sizeof(struct sgf_vu_mem_table))

/* ---- a broken stream ---- */

static void stream(void)
{
	uint64_t v = 0;
	struct vf f;
	int efd = eventfd(0, EFD_CLOEXEC), fds[SGF_VU_MAX_FDS + 2];

	REQUIRE(efd >= 0);
	fresh(&f);
	CHECK_EQ(vf_send(&f, SGF_VU_GET_FEATURES, 2, NULL, 0, NULL, 0), 0);
	closes("version 2", &f);
	fresh(&f);
	CHECK_EQ(vf_send(&f, SGF_VU_GET_FEATURES, 0, NULL, 0, NULL, 0), 0);
	closes("version 0", &f);
	fresh(&f);
	CHECK_EQ(vf_send(&f, SGF_VU_GET_FEATURES, V | SGF_VU_FLAG_REPLY, NULL, 0, NULL, 0), 0);
	closes("a request flagged as a reply", &f);

	static unsigned char big[8192];
	fresh(&f);
	/* The backend may close before the payload is all sent. */
	int sr = vf_send(&f, SGF_VU_SET_FEATURES, ACK, big, sizeof(big), NULL, 0);
	CHECK(sr == 0 || sr == -EPIPE || sr == -ECONNRESET);
	closes("payload of 8192 bytes", &f);
	fresh(&f);
	sr = vf_send(&f, 50, ACK, big, 513, NULL, 0);
	CHECK(sr == 0 || sr == -EPIPE || sr == -ECONNRESET);
	closes("payload of 513 bytes for an unknown request", &f);
	fresh(&f);
	CHECK_EQ(vf_send(&f, SGF_VU_SET_FEATURES, ACK, NULL, 0xffffffffu, NULL, 0), 0);
	closes("payload size 2^32-1 announced", &f);
	fresh(&f);
	CHECK_EQ(vf_send(&f, SGF_VU_SET_VRING_NUM, ACK, &v, 4, NULL, 0), 0);
	closes("SET_VRING_NUM of 4 bytes", &f);
	fresh(&f);
	CHECK_EQ(vf_send(&f, SGF_VU_GET_FEATURES, V, &v, 8, NULL, 0), 0);
	closes("GET_FEATURES with a payload", &f);

	/* Cut short: a header promising 8 bytes, 4 of them, end of stream. */
	fresh(&f);
	struct sgf_vu_hdr h = { SGF_VU_SET_FEATURES, ACK, 8 };
	CHECK(send(f.sock, &h, sizeof(h), MSG_NOSIGNAL) == sizeof(h));
	CHECK(send(f.sock, &v, 4, MSG_NOSIGNAL) == 4);
	CHECK_EQ(shutdown(f.sock, SHUT_WR), 0);
	closes("a message cut short", &f);

	/* Fds where none belong, or where they do but more than allowed. */
	fresh(&f);
	CHECK_EQ(vf_send(&f, SGF_VU_GET_FEATURES, V, NULL, 0, &efd, 1), 0);
	closes("GET_FEATURES with an fd", &f);
	fresh(&f);
	v = 1 | SGF_VU_VRING_NOFD;
	CHECK_EQ(vf_send(&f, SGF_VU_SET_VRING_KICK, ACK, &v, 8, &efd, 1), 0);
	closes("SET_VRING_KICK with NOFD and an fd", &f);
	fresh(&f);
	v = 1;
	CHECK_EQ(vf_send(&f, SGF_VU_SET_VRING_CALL, ACK, &v, 8, NULL, 0), 0);
	closes("SET_VRING_CALL without its fd", &f);
	for (unsigned i = 0; i < SGF_VU_MAX_FDS + 2; i++)
		fds[i] = efd;
	fresh(&f);
	struct sgf_vu_mem_region r = region_of(&f);
	CHECK_EQ(mem_table(&f, &r, 1, 1, FULL, fds, 2), -ENOTCONN);
	closes("SET_MEM_TABLE: 1 region, 2 fds", &f);
	fresh(&f);
	r = region_of(&f);
	CHECK_EQ(mem_table(&f, &r, 1, 2, FULL, &f.memfd, 1), -ENOTCONN);
	closes("SET_MEM_TABLE: 2 regions, 1 fd", &f);
	fresh(&f);
	r = region_of(&f);
	CHECK_EQ(mem_table(&f, &r, 1, 9, FULL, fds, 8), -ENOTCONN);
	closes("SET_MEM_TABLE: 9 regions, 8 fds", &f);
	fresh(&f);
	r = region_of(&f);
	CHECK_EQ(mem_table(&f, &r, 1, 1, 8 + 16, &f.memfd, 1), -ENOTCONN);
	closes("SET_MEM_TABLE: payload shorter than its region", &f);
	fresh(&f);
	r = region_of(&f);
	CHECK_EQ(mem_table(&f, &r, 1, 0, 4, NULL, 0), -ENOTCONN);
	closes("SET_MEM_TABLE: payload shorter than its head", &f);

	/* More fds than any message carries (sgf_vu_send stops at 8). */
	fresh(&f);
	{
		union {
			char buf[CMSG_SPACE(sizeof(fds))];
			struct cmsghdr align;
		} ctl;
		struct sgf_vu_hdr hh = { SGF_VU_SET_OWNER, ACK, 0 };
		struct iovec iov = { &hh, sizeof(hh) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(c), fds, sizeof(fds));
		CHECK(sendmsg(f.sock, &mh, MSG_NOSIGNAL) == sizeof(hh));
	}
	closes("10 fds on one message", &f);
	close(efd);
}

/* ---- refused, the connection goes on ---- */

/* A region larger than its fd: mapped as asked, a later access past the
 * fd's end would be SIGBUS. */
static void short_fd(void)
{
	struct vf f;
	int small = memfd_create("vf-small", MFD_CLOEXEC);

	REQUIRE(small >= 0 && ftruncate(small, 4096) == 0);
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, small, 0);
	REQUIRE(p != MAP_FAILED);
	fresh(&f);
	struct sgf_vu_mem_region r = { VF_GPA, 1ull << 30, (uint64_t)(uintptr_t)p, 0 };
	int ack = mem_table(&f, &r, 1, 1, FULL, &small, 1);
	CHECK_EQ(ack, 1);
	if (ack == 0) {
		/* Accepted: show what it costs. Queue 1's rings in the fd's one
		 * page, a request 512 MiB into the region, past the fd. */
		struct sgf_vq_drv d;
		unsigned num = 8;
		unsigned char *m = p;
		uint64_t used = 512, idx = 1;
		struct sgf_vu_vring_state s = { 1, num }, b = { 1, 0 }, on = { 1, 1 };
		struct sgf_vu_vring_addr a = { .index = 1, .desc_user_addr = (uintptr_t)m,
					       .avail_user_addr = (uintptr_t)(m + 256),
					       .used_user_addr = (uintptr_t)(m + used) };
		int kick = eventfd(0, EFD_CLOEXEC);
		REQUIRE(sgf_vq_drv_init(&d, num, m, m + 256, m + used, false) == 0);
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_BASE, &b, sizeof(b), NULL, 0), 0);
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_KICK, &idx, sizeof(idx), &kick, 1), 0);
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ENABLE, &on, sizeof(on), NULL, 0), 0);
		struct sgf_vq_buf rd = { VF_GPA + (512u << 20), 64 }, wr = { VF_GPA + 1024, 512 };
		uint16_t head;
		CHECK_EQ(sgf_vq_drv_add(&d, &rd, 1, &wr, 1, &head), 0);
		CHECK(eventfd_write(kick, 1) == 0);
		vt_msleep(500);
		sgf_vq_drv_fini(&d);
		close(kick);
	}
	vf_close(&f);
	munmap(p, 4096);
	close(small);
	serves("a region larger than its fd");
}

static void refused(void)
{
	struct vf f;
	uint64_t v;

	fresh(&f);
	/* Memory. */
	struct sgf_vu_mem_region r[2] = { region_of(&f), region_of(&f) };
	r[0].memory_size = 0;
	CHECK_EQ(mem_table(&f, r, 1, 1, FULL, &f.memfd, 1), 1);
	r[0] = region_of(&f);
	int two[2] = { f.memfd, f.memfd };
	CHECK_EQ(mem_table(&f, r, 2, 2, FULL, two, 2), 1); /* overlapping */
	r[0].mmap_offset = UINT64_MAX - 4096;
	CHECK_EQ(mem_table(&f, r, 1, 1, FULL, &f.memfd, 1), 1);
	r[0] = region_of(&f);
	r[0].userspace_addr = UINT64_MAX - 4096;
	CHECK_EQ(mem_table(&f, r, 1, 1, FULL, &f.memfd, 1), 1);
	r[0] = region_of(&f);
	r[0].guest_phys_addr = UINT64_MAX - 4096;
	CHECK_EQ(mem_table(&f, r, 1, 1, FULL, &f.memfd, 1), 1);
	CHECK_EQ(vt_map_count(vt_daemon_pid(), "memfd:"), 0);
	CHECK_EQ(vf_set_mem(&f), 0);

	/* Features. */
	v = f.features | 1;
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_FEATURES, &v, 8, NULL, 0), 1);
	v = f.features | (1ull << 63);
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_FEATURES, &v, 8, NULL, 0), 1);
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_FEATURES, &f.features, 8, NULL, 0), 0);

	/* Queue sizes and indices. */
	const uint32_t nums[] = { 3, 0, 65536, 100, 0x80000000u };
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		struct sgf_vu_vring_state s = { 1, nums[i] };
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 1);
	}
	REQUIRE(f.nqueues >= 2);
	const uint32_t idxs[] = { (uint32_t)f.nqueues, 255, 0xffffffffu };
	for (size_t i = 0; i < sizeof(idxs) / sizeof(idxs[0]); i++) {
		struct sgf_vu_vring_state s = { idxs[i], 64 };
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 1);
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_BASE, &s, sizeof(s), NULL, 0), 1);
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0), 1);
		uint32_t base = 1;
		CHECK_EQ(vf_get_vring_base(&f, idxs[i], &base), 0);
		CHECK_EQ(base, 0);
	}
	int efd = eventfd(0, EFD_CLOEXEC);
	v = 200;
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_KICK, &v, 8, &efd, 1), 1);
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_CALL, &v, 8, &efd, 1), 1);
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ERR, &v, 8, &efd, 1), 1);
	v = 1 | SGF_VU_VRING_NOFD;
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_KICK, &v, 8, NULL, 0), 1); /* we do not poll */
	struct sgf_vu_vring_state st = { 1, 1u << 16 };
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0), 1);
	st = (struct sgf_vu_vring_state){ 1, 2 };
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0), 1);

	/* Unknown and unsupported requests: refused, fds they bring closed. */
	unsigned before = vt_log_count("not supported");
	const uint32_t unknown[] = { 0, 50, 63, 64, 1000, 0xffffffffu, SGF_VU_SET_LOG_BASE,
				     SGF_VU_GET_CONFIG, SGF_VU_ADD_MEM_REG };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		CHECK_EQ(vf_ack(&f, unknown[i], &v, 8, NULL, 0), 1);
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_LOG_FD, NULL, 0, &efd, 1), 1);
	CHECK_EQ(vf_ack(&f, 40000, NULL, 0, two, 2), 1);
	CHECK_EQ(vt_log_count("not supported"), before + 11);
	close(efd);

	/* Rings outside the memory table: the queue cannot start. */
	struct sgf_vq_drv *d = &f.q[1].drv;
	REQUIRE(vf_queue_up(&f, 0, 0) == 0);
	f.q[1].desc = VF_GPA + (1u << 20);
	f.q[1].avail = f.q[1].desc + 4096;
	f.q[1].used = f.q[1].desc + 8192;
	REQUIRE(sgf_vq_drv_init(d, f.num, vf_host(&f, f.q[1].desc), vf_host(&f, f.q[1].avail),
				vf_host(&f, f.q[1].used), true) == 0);
	f.q[1].up = true;
	f.q[1].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f.q[1].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	REQUIRE(f.q[1].kick >= 0 && f.q[1].call >= 0);
	struct sgf_vu_vring_addr good = {
		.index = 1, .desc_user_addr = (uintptr_t)vf_host(&f, f.q[1].desc),
		.avail_user_addr = (uintptr_t)vf_host(&f, f.q[1].avail),
		.used_user_addr = (uintptr_t)vf_host(&f, f.q[1].used) };
	struct sgf_vu_vring_state n = { 1, f.num }, on = { 1, 1 }, off = { 1, 0 };
	uint64_t one = 1;
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_NUM, &n, sizeof(n), NULL, 0), 0);
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_KICK, &one, 8, &f.q[1].kick, 1), 0);
	before = vt_log_count("cannot start");
	struct sgf_vu_vring_addr bad[5] = { good, good, good, good, good };
	bad[0].desc_user_addr = f.q[1].desc;                 /* a gpa, not a user address */
	bad[1].used_user_addr = (uintptr_t)vf_host(&f, VF_GPA) - 4096; /* before the region */
	bad[2].desc_user_addr = (uintptr_t)f.mem + f.size - 64; /* runs past its end */
	bad[3].desc_user_addr += 8;                          /* misaligned */
	bad[4].avail_user_addr = 0;
	for (unsigned i = 0; i < 5; i++) {
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ENABLE, &off, sizeof(off), NULL, 0), 0);
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ADDR, &bad[i], sizeof(bad[i]), NULL, 0), 0);
		CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ENABLE, &on, sizeof(on), NULL, 0), 1);
	}
	CHECK_EQ(vt_log_count("cannot start"), before + 5);
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ENABLE, &off, sizeof(off), NULL, 0), 0);
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ADDR, &good, sizeof(good), NULL, 0), 0);
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_CALL, &one, 8, &f.q[1].call, 1), 0);
	CHECK_EQ(vf_ack(&f, SGF_VU_SET_VRING_ENABLE, &on, sizeof(on), NULL, 0), 0);
	struct fuse_attr_out a;
	CHECK_EQ(vf_init(&f, NULL), 0);
	CHECK_EQ(vf_getattr(&f, FUSE_ROOT_ID, &a), 0);

	/* Memory tables while a session runs: an old table's mappings go
	 * as soon as no chain is in flight (they do not pile up), and the
	 * session goes on over the new one. */
	int acks[2] = { 0, 0 };
	for (unsigned i = 0; i < 70; i++)
		acks[vf_set_mem(&f) ? 1 : 0]++;
	CHECK_EQ(acks[1], 0);
	CHECK(vt_map_count(vt_daemon_pid(), "memfd:") <= 2);
	CHECK_EQ(vf_getattr(&f, FUSE_ROOT_ID, &a), 0);
	vf_close(&f);
	serves("refused messages");
}

/* NEED_REPLY without REPLY_ACK negotiated: no ack (the spec's rule). */
static void no_reply_ack(void)
{
	struct sgf_vu_msg m;
	uint64_t feat;
	struct vf f;

	REQUIRE(vf_open(&f, vt_sock(), VF_NO_REPLY_ACK) == 0);
	REQUIRE(vf_negotiate(&f) == 0);
	CHECK_EQ(vf_send(&f, SGF_VU_SET_OWNER, ACK, NULL, 0, NULL, 0), 0);
	CHECK_EQ(vf_send(&f, 50, ACK, NULL, 0, NULL, 0), 0);
	CHECK_EQ(vf_recv(&f, &m, 300), -ETIMEDOUT);
	CHECK_EQ(vf_get_u64(&f, SGF_VU_GET_FEATURES, &feat), 0);
	vf_close(&f);
	serves("NEED_REPLY without REPLY_ACK");
}

/* Not run by the suite (it kills the daemon): a frontend that shrinks
 * its memfd under a region the backend mapped. The backend's next access
 * past the new end is SIGBUS; this says whether the daemon survived.
 * Run: test_vhost_control DAEMON --shrink */
static int shrink_after(void)
{
	struct vf f;

	REQUIRE(vf_start(&f, vt_sock(), 0) == 0);
	REQUIRE(vf_init(&f, NULL) == 0);
	/* A request in the data area, then the file cut to the rings. */
	uint64_t req = vf_alloc(&f, 256, 64);
	struct fuse_in_header h;
	vf_in_header(&f, &h, FUSE_GETATTR, FUSE_ROOT_ID, sizeof(h) + sizeof(struct fuse_getattr_in));
	memcpy(vf_host(&f, req), &h, sizeof(h));
	REQUIRE(ftruncate(f.memfd, VF_GUARD + (128u << 10)) == 0);
	vf_raw_desc(&f, VF_REQ, 0, req, h.len, VRING_DESC_F_NEXT, 1);
	vf_raw_desc(&f, VF_REQ, 1, req, 128, VRING_DESC_F_WRITE, 0);
	vf_raw_publish(&f, VF_REQ, 0);
	vt_msleep(1000);
	bool alive = vt_daemon_alive();
	printf("after the frontend shrank its memfd: the daemon %s\n",
	       alive ? "lives" : "died (see above)");
	CHECK(alive);
	vf_close(&f);
	return vt_finish();
}

int main(int argc, char **argv)
{
	vt_init(argc, argv, 280);
	if (argc > 2 && strcmp(argv[2], "--shrink") == 0) {
		vt_daemon_start("threads=2");
		return shrink_after();
	}
	vt_daemon_start("threads=2");
	/* Let the daemon settle (its fd count is the baseline). */
	vt_msleep(200);
	base_fds = vt_fd_count(vt_daemon_pid());
	REQUIRE(base_fds > 0);
	serves("the first frontend");
	stream();
	refused();
	no_reply_ack();
	short_fd();
	return vt_finish();
}
