/* tests/vhost/test_vhost_lifecycle.c - the vhost-user backend's life cycle
 * against sgfuse-passthrough --vhost-user: a frontend SIGKILLed in the
 * middle of a stream of WRITEs (the session ends, every fd and guest
 * mapping goes, the next frontend is served), DESTROY then INIT again on
 * the same connection, GET_VRING_BASE on every queue then a restart at
 * those bases (a chain added while stopped is served after), frontends
 * served one at a time, and SIGTERM with a frontend connected (exit 0
 * promptly, socket removed). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "vt.h"
#include "vu_fuse.h"

static int base_fds;

/* Every fd and guest mapping of past frontends is gone. */
static void released(const char *what)
{
	pid_t pid = vt_daemon_pid();

	if (!VT_WAIT_UNTIL(vt_fd_count(pid) == base_fds && vt_map_count(pid, "memfd:") == 0,
			   15000))
		vt_fail(__FILE__, __LINE__, "%s: the daemon holds %d fds (%d before any frontend) "
			"and %d memfd mappings", what, vt_fd_count(pid), base_fds,
			vt_map_count(pid, "memfd:"));
}

/* A new frontend is served and sees what earlier ones left in SOURCE. */
static void serves(const char *what, const char *name)
{
	struct fuse_entry_out e;
	struct vf f;
	int r;

	if (!vt_daemon_alive()) {
		vt_fail(__FILE__, __LINE__, "%s: the daemon died", what);
		exit(vt_finish());
	}
	r = vf_start(&f, vt_sock(), 0);
	if (r == 0)
		r = vf_init(&f, NULL);
	if (r == 0 && name)
		r = vf_lookup(&f, FUSE_ROOT_ID, name, &e);
	if (r != 0)
		vt_fail(__FILE__, __LINE__, "%s: the next frontend: %d (%s)", what, r, strerror(-r));
	vf_close(&f);
}

/* ---- a frontend killed mid-transfer ---- */

#define SLOTS 8u
#define PAYLOAD (128u << 10)
#define SEG (32u << 10)

/* The child: WRITEs of 128 KiB (4 descriptors of payload) kept in flight,
 * each in buffers of its own, until it is killed; one byte on ready after
 * the first completions. */
static void writer(int ready)
{
	struct vf f;
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct sgf_vq_buf rd[SLOTS][1 + PAYLOAD / SEG], wr[SLOTS];
	bool busy[SLOTS] = { false };
	unsigned slot_of[VF_NUM];
	uint64_t done = 0;

	int r = vf_start(&f, vt_sock(), 0);
	if (r == 0)
		r = vf_init(&f, NULL);
	if (r == 0)
		r = vf_create(&f, FUSE_ROOT_ID, "big", 0644, &e, &o);
	if (r) {
		fprintf(stderr, "writer: setup: %d (%s)\n", r, strerror(-r));
		_exit(2);
	}
	for (unsigned s = 0; s < SLOTS; s++) {
		rd[s][0] = (struct sgf_vq_buf){ vf_alloc(&f, 80, 64), 80 };
		for (unsigned i = 1; i <= PAYLOAD / SEG; i++) {
			rd[s][i] = (struct sgf_vq_buf){ vf_alloc(&f, SEG, 4096), SEG };
			memset(vf_host(&f, rd[s][i].gpa), 'a' + (int)s, SEG);
		}
		wr[s] = (struct sgf_vq_buf){ vf_alloc(&f, 24, 64), 24 };
	}
	for (;;) {
		for (unsigned s = 0; s < SLOTS; s++) {
			if (busy[s])
				continue;
			struct fuse_in_header h;
			struct fuse_write_in in = { .fh = o.fh, .offset = (uint64_t)s * PAYLOAD,
						    .size = PAYLOAD };
			vf_in_header(&f, &h, FUSE_WRITE, e.nodeid, 80 + PAYLOAD);
			memcpy(vf_host(&f, rd[s][0].gpa), &h, sizeof(h));
			memcpy((char *)vf_host(&f, rd[s][0].gpa) + sizeof(h), &in, sizeof(in));
			uint16_t head;
			if (vf_add(&f, VF_REQ, rd[s], 1 + PAYLOAD / SEG, &wr[s], 1, &head) != 0)
				break;
			busy[s] = true;
			slot_of[head] = s;
		}
		uint16_t head;
		uint32_t len;
		if (vf_wait_used(&f, VF_REQ, &head, &len, VF_TIMEOUT_MS) != 1)
			_exit(3);
		busy[slot_of[head]] = false;
		if (++done == 10 && write(ready, "x", 1) != 1)
			_exit(4);
	}
}

static void killed_mid_transfer(unsigned round)
{
	char what[64];
	int p[2];

	snprintf(what, sizeof(what), "frontend killed mid-transfer, round %u", round);
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	fflush(NULL);
	pid_t child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		close(p[0]);
		writer(p[1]);
	}
	close(p[1]);
	struct pollfd pf = { p[0], POLLIN, 0 };
	char c;
	bool ready = poll(&pf, 1, 30000) == 1 && read(p[0], &c, 1) == 1;
	if (!ready)
		vt_fail(__FILE__, __LINE__, "%s: the writer did not get going", what);
	/* Chains in flight at every moment now: kill it among them. */
	vt_msleep(20 + 30 * round);
	kill(child, SIGKILL);
	int status;
	REQUIRE(waitpid(child, &status, 0) == child);
	close(p[0]);
	if (ready && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
		vt_fail(__FILE__, __LINE__, "%s: the writer ended on its own (%d)", what, status);
	released(what);
	serves(what, "big");
	released(what);
}

/* ---- DESTROY, then INIT again ---- */

static void destroy_then_init(void)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct fuse_attr_out a;
	struct vf f;
	REQUIRE(vf_start(&f, vt_sock(), 0) == 0);
	REQUIRE(vf_init(&f, NULL) == 0);
	int r = vf_create(&f, FUSE_ROOT_ID, "kept", 0644, &e, &o);
	if (r)
		vt_fail(__FILE__, __LINE__, "CREATE: %d (%s)", r, strerror(-r));
	REQUIRE(r == 0);
	CHECK_EQ(vf_write(&f, e.nodeid, o.fh, 0, "one", 3, 1), 3);
	CHECK_EQ(vf_release(&f, e.nodeid, o.fh), 0);
	for (unsigned i = 0; i < 5; i++) {
		CHECK_EQ(vf_destroy(&f), 0);
		/* At once, as a guest remounting would: a new session takes
		 * it. */
		int r = vf_init(&f, NULL);
		if (r != 0)
			vt_fail(__FILE__, __LINE__, "INIT right after DESTROY %u: %d (%s)", i, r,
				strerror(-r));
		CHECK_EQ(vf_getattr(&f, FUSE_ROOT_ID, &a), 0);
		CHECK_EQ(vf_lookup(&f, FUSE_ROOT_ID, "kept", &e), 0);
		CHECK_EQ(e.attr.size, 3);
	}
	/* DESTROY, a pause for the session to end, and a request before
	 * any INIT: the new session has not been initialised. */
	CHECK_EQ(vf_destroy(&f), 0);
	vt_msleep(300);
	CHECK_EQ(vf_getattr(&f, FUSE_ROOT_ID, &a), -EIO);
	CHECK_EQ(vf_init(&f, NULL), 0);
	CHECK_EQ(vf_getattr(&f, FUSE_ROOT_ID, &a), 0);
	vf_close(&f);
	released("DESTROY then INIT");
}

/* ---- GET_VRING_BASE on every queue, then a restart ---- */

static void vring_base_restart(void)
{
	struct fuse_attr_out a;
	struct fuse_entry_out e;
	struct vf f;
	uint32_t b0, b1;

	REQUIRE(vf_start(&f, vt_sock(), 0) == 0);
	REQUIRE(vf_init(&f, NULL) == 0);
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(vf_getattr(&f, FUSE_ROOT_ID, &a), 0);
	CHECK_EQ(vf_lookup(&f, FUSE_ROOT_ID, "kept", &e), 0);
	CHECK_EQ(vf_forget(&f, e.nodeid, 1), 0);
	REQUIRE(vf_get_vring_base(&f, VF_HIPRIO, &b0) == 0);
	REQUIRE(vf_get_vring_base(&f, VF_REQ, &b1) == 0);
	CHECK_EQ(b0, f.q[VF_HIPRIO].drv.avail_idx);
	CHECK_EQ(b1, f.q[VF_REQ].drv.avail_idx);
	CHECK_EQ(b1, 7);

	/* A chain added while stopped waits for the restart. */
	uint64_t mark = f.brk;
	struct fuse_in_header h;
	struct fuse_getattr_in gin = { 0 };
	uint32_t inlen = sizeof(h) + sizeof(gin), outlen = sizeof(struct fuse_out_header) + sizeof(a);
	struct sgf_vq_buf rd = { vf_alloc(&f, inlen, 64), inlen }, wr = { vf_alloc(&f, outlen, 64),
									 outlen };
	vf_in_header(&f, &h, FUSE_GETATTR, FUSE_ROOT_ID, inlen);
	memcpy(vf_host(&f, rd.gpa), &h, sizeof(h));
	memcpy((char *)vf_host(&f, rd.gpa) + sizeof(h), &gin, sizeof(gin));
	uint16_t head, got;
	uint32_t len;
	REQUIRE(vf_add(&f, VF_REQ, &rd, 1, &wr, 1, &head) == 0);
	vf_kick(&f, VF_REQ);
	CHECK_EQ(vf_wait_used(&f, VF_REQ, &got, &len, 300), 0);

	REQUIRE(vf_queue_restart(&f, VF_HIPRIO, (uint16_t)b0) == 0);
	REQUIRE(vf_queue_restart(&f, VF_REQ, (uint16_t)b1) == 0);
	CHECK_EQ(vf_wait_used(&f, VF_REQ, &got, &len, VF_TIMEOUT_MS), 1);
	CHECK_EQ(got, head);
	/* Stopping every queue keeps the session (a paused VM goes on
	 * where it was, see docs/virtio.md): the request is answered by it. */
	struct fuse_out_header oh;
	memcpy(&oh, vf_host(&f, wr.gpa), sizeof(oh));
	CHECK_EQ(len, outlen);
	CHECK_EQ(oh.unique, h.unique);
	CHECK_EQ(oh.error, 0);
	vf_mem_reset(&f, mark);
	CHECK_EQ(vf_lookup(&f, FUSE_ROOT_ID, "kept", &e), 0);
	CHECK_EQ(vf_forget(&f, e.nodeid, 1), 0);
	/* A new INIT on it (a rebooted guest) starts a new session. */
	CHECK_EQ(vf_init(&f, NULL), 0);
	CHECK_EQ(vf_getattr(&f, FUSE_ROOT_ID, &a), 0);
	CHECK_EQ(vf_lookup(&f, FUSE_ROOT_ID, "kept", &e), 0);
	CHECK_EQ(vf_forget(&f, e.nodeid, 1), 0);
	CHECK(vf_canaries_ok(&f));
	vf_close(&f);
	released("GET_VRING_BASE and restart");
}

/* ---- one frontend at a time ---- */

static void one_at_a_time(void)
{
	struct sgf_vu_msg m;
	struct vf a, b;
	uint64_t feat;

	REQUIRE(vf_start(&a, vt_sock(), 0) == 0);
	REQUIRE(vf_init(&a, NULL) == 0);
	REQUIRE(vf_open(&b, vt_sock(), 0) == 0);
	CHECK_EQ(vf_send(&b, SGF_VU_GET_FEATURES, SGF_VU_VERSION, NULL, 0, NULL, 0), 0);
	CHECK_EQ(vf_recv(&b, &m, 500), -ETIMEDOUT);
	vf_close(&a);
	CHECK_EQ(vf_recv(&b, &m, VF_TIMEOUT_MS), 0);
	CHECK_EQ(m.hdr.request, SGF_VU_GET_FEATURES);
	CHECK_EQ(vf_get_u64(&b, SGF_VU_GET_FEATURES, &feat), 0);
	vf_close(&b);
	released("one at a time");
}

/* ---- SIGTERM with a frontend connected ---- */

static void sigterm(void)
{
	struct fuse_attr_out a;
	struct vf f;

	REQUIRE(vf_start(&f, vt_sock(), 0) == 0);
	REQUIRE(vf_init(&f, NULL) == 0);
	CHECK_EQ(vf_getattr(&f, FUSE_ROOT_ID, &a), 0);
	unlink(vt_stats_path());
	double t0 = vt_now();
	CHECK_EQ(vt_daemon_stop(SIGTERM, 10000), 0);
	double took = vt_now() - t0;
	if (took > 5.0)
		vt_fail(__FILE__, __LINE__, "SIGTERM took %.1f s", took);
	CHECK(access(vt_sock(), F_OK) != 0 && errno == ENOENT);
	CHECK(access(vt_stats_path(), F_OK) == 0);
	CHECK_EQ(vf_wait_closed(&f, 5000), 0);
	vf_close(&f);
}

int main(int argc, char **argv)
{
	vt_init(argc, argv, 280);
	vt_daemon_start("threads=2");
	vt_msleep(200);
	base_fds = vt_fd_count(vt_daemon_pid());
	REQUIRE(base_fds > 0);

	for (unsigned i = 0; i < 3; i++)
		killed_mid_transfer(i);
	CHECK(vt_log_count("frontend disconnected") >= 3);
	destroy_then_init();
	vring_base_restart();
	one_at_a_time();
	sigterm();
	return vt_finish();
}
