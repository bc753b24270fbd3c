/* tests/interop/test_vhost_killed.c - the vhost-user backend (virtiofsd,
 * or ours: tests/vhost_peer.h) killed while calls are in flight: four
 * threads loop over packed writes and reads (arena and ordinary buffers)
 * and GETATTRs; SIGKILL the backend; every thread's call must fail with
 * -ENOTCONN within two seconds, none may hang or return garbage, later
 * calls fail at once, and disconnect returns promptly. argv[1]: the
 * sgfuse daemon, for SGF_VHOST_PEER=sgfuse. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include "check.h"
#include "vhost_peer.h"

#define PAGE 4096u
#define NSEG 32
#define CALL (NSEG * PAGE)
#define THREADS 4

static char dir[] = "/tmp/sgf-vhost-killed-XXXXXX";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct worker {
	struct sgf_client *c;
	struct sgf_file f;
	unsigned id;
	atomic_uint calls;
	long last;          /* the call that ended the loop */
	double failed_at;
	bool garbage;       /* a result that is neither right nor an error */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	bool arena = w->id % 2 == 0;
	char *mem = arena ? sgf_client_buf_alloc(w->c, CALL) : aligned_alloc(PAGE, CALL);
	struct iovec iov[NSEG];
	struct fuse_attr_out a;

	if (mem == NULL) {
		w->garbage = true;
		return NULL;
	}
	for (int i = 0; i < NSEG; i++)
		iov[i] = (struct iovec){ mem + i * PAGE, PAGE };
	for (unsigned round = 0;; round++) {
		uint64_t off = (uint64_t)(w->id * 8 + round % 8) * CALL;
		long r;
		switch (round % 3) {
		case 0: r = sgf_pwritev(w->c, &w->f, iov, NSEG, off); break;
		case 1: r = sgf_preadv(w->c, &w->f, iov, NSEG, off); break;
		default: r = sgf_getattr(w->c, w->f.nodeid, &a); break;
		}
		if (r < 0) {
			w->last = r;
			w->failed_at = now_s();
			break;
		}
		if (round % 3 != 2 && r != CALL)
			w->garbage = true;
		atomic_fetch_add(&w->calls, 1);
	}
	if (arena)
		sgf_client_buf_free(w->c, mem);
	else
		free(mem);
	return NULL;
}

int main(int argc, char **argv)
{
	struct vhost_peer peer;
	struct sgf_client *c = NULL;
	struct fuse_entry_out e;
	struct sgf_file f;
	struct worker w[THREADS];
	pthread_t t[THREADS];
	char src[128], sock[128];

	alarm(60);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(sock, sizeof(sock), "%s/vfs.sock", dir);
	CHECK_EQ(mkdir(src, 0755), 0);
	vp_start(&peer, src, sock, argc > 1 ? argv[1] : NULL);
	int r = sgf_client_connect(peer.address, NULL, &c);
	CHECK_EQ(r, 0);
	if (r) {
		vp_dump_log(&peer);
		vp_kill(&peer);
		return check_exit();
	}
	CHECK_EQ(sgf_create(c, FUSE_ROOT_ID, "k", O_RDWR | O_DIRECT, 0644, &e, &f), 0);
	CHECK_EQ(sgf_truncate(c, e.nodeid, (uint64_t)THREADS * 8 * CALL), 0);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .c = c, .f = f, .id = (unsigned)i };
		CHECK_EQ(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	/* Until every thread is well under way. */
	for (int i = 0; i < THREADS; i++)
		while (atomic_load(&w[i].calls) < 5)
			usleep(1000);
	double killed_at = now_s();
	vp_kill(&peer);
	double slowest = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].failed_at - killed_at > slowest)
			slowest = w[i].failed_at - killed_at;
		CHECK_EQ_CTX(w[i].last, -ENOTCONN, "in flight");
		CHECK_EQ_CTX(w[i].failed_at - killed_at < 2.0, 1, "in flight");
		CHECK_EQ(w[i].garbage, 0);
	}
	printf("%s killed: every call failed within %.1f ms\n", peer.kind, slowest * 1e3);
	/* Later calls fail at once, FORGET does not wait for the dead
	 * queue, and disconnect has nobody to say DESTROY to. */
	struct fuse_attr_out a;
	double t0 = now_s();
	CHECK_EQ(sgf_getattr(c, FUSE_ROOT_ID, &a), -ENOTCONN);
	CHECK_EQ(sgf_pread(c, &f, &a, sizeof(a), 0), -ENOTCONN);
	sgf_forget(c, e.nodeid, 1);
	CHECK(now_s() - t0 < 0.5);
	t0 = now_s();
	CHECK_EQ(sgf_client_disconnect(c), -ENOTCONN);
	CHECK(now_s() - t0 < 1.5);
	if (check_failures)
		vp_dump_log(&peer);
	unlink(sock);
	unlink(peer.log);
	char path[160];
	snprintf(path, sizeof(path), "%s/k", src);
	unlink(path);
	rmdir(src);
	rmdir(dir);
	return check_exit();
}
