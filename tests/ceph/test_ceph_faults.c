/* tests/ceph/test_ceph_faults.c - what goes wrong around the cluster: a
 * cluster that cannot be reached fails the start (one line, exit 1,
 * nothing mounted); SIGTERM with direct I/O in flight exits 0 and
 * unmounts; the OSD killed under writers gives them errors within the
 * configured osd_timeout, not a hang, and the daemon still ends cleanly. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"

#define THREADS 6
#define SEGS 32
#define PAGE 4096

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct io_thread {
	pthread_t t;
	int id;
	int err;          /* the first errno seen */
	double err_at;    /* when */
	unsigned long calls;
};

static atomic_bool stop_io;

/* Packed O_DIRECT writes and reads of its own 1 MiB until an error or
 * stop_io. */
static void *io_main(void *arg)
{
	struct io_thread *t = arg;
	char path[4096], name[32];
	void *buf;
	struct iovec iov[SEGS];

	snprintf(name, sizeof(name), "io-%d", t->id);
	H_PATH(path, h_mnt(), name);
	if (posix_memalign(&buf, PAGE, SEGS * PAGE) != 0)
		return NULL;
	memset(buf, 'a' + t->id, SEGS * PAGE);
	for (int i = 0; i < SEGS; i++)
		iov[i] = (struct iovec){ (char *)buf + i * PAGE, PAGE };
	int fd = open(path, O_CREAT | O_RDWR | O_DIRECT, 0644);
	if (fd < 0) {
		t->err = errno;
		t->err_at = now_s();
		free(buf);
		return NULL;
	}
	while (!atomic_load(&stop_io)) {
		off_t off = (off_t)(t->calls % 8) * SEGS * PAGE;
		ssize_t n = (t->calls & 1) ? preadv(fd, iov, SEGS, off) : pwritev(fd, iov, SEGS, off);
		if (n < 0) {
			t->err = errno;
			t->err_at = now_s();
			break;
		}
		t->calls++;
	}
	close(fd);
	free(buf);
	return NULL;
}

static void start_io(struct io_thread *t)
{
	atomic_store(&stop_io, false);
	for (int i = 0; i < THREADS; i++) {
		t[i] = (struct io_thread){ .id = i };
		REQUIRE(pthread_create(&t[i].t, NULL, io_main, &t[i]) == 0);
	}
}

static void join_io(struct io_thread *t)
{
	atomic_store(&stop_io, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i].t, NULL);
}

/* A conf whose monitor nobody listens on. */
static void unreachable(void)
{
	char conf[4096], err[4096], out[4096], text[8192], opt[4200];
	H_PATH(conf, h_root(), "unreachable.conf");
	H_PATH(err, h_root(), "unreachable.err");
	H_PATH(out, h_root(), "unreachable.out");
	ssize_t n = h_read_file(h_ceph_conf(), text, sizeof(text));
	REQUIRE(n > 0);
	char *mon = strstr(text, "mon host = ");
	REQUIRE(mon != NULL);
	char *eol = strchr(mon, '\n');
	char fixed[8192];
	snprintf(fixed, sizeof(fixed), "%.*smon host = [v2:127.0.0.1:1]%s", (int)(mon - text), text,
		 eol ? eol : "");
	REQUIRE(h_write_file(conf, fixed, strlen(fixed)) == 0);
	snprintf(opt, sizeof(opt), "conf=%s,mount_timeout=3", conf);
	char *args[] = { "-f", "-o", opt, (char *)h_mnt(), NULL };
	double t0 = now_s();
	int status = h_wait(h_spawn(args, out, err), 60);
	double took = now_s() - t0;
	printf("unreachable cluster: exit %d after %.1f s\n", h_exit_code(status), took);
	CHECK_EQ(h_exit_code(status), 1);
	CHECK(took < 30);
	CHECK(!h_mounted(h_mnt()));
	n = h_read_file(err, text, sizeof(text));
	CHECK(n > 0 && strstr(text, "cannot mount") && strchr(text, '\n') == text + n - 1);
	if (n > 0)
		printf("  said: %s", text);
	h_forget_daemon();
}

static void sigterm_in_flight(void)
{
	struct io_thread t[THREADS];
	h_start("osd_timeout=10");
	start_io(t);
	usleep(1500 * 1000);
	double t0 = now_s();
	CHECK_EQ(h_stop(), 0);
	printf("SIGTERM under I/O: exited after %.1f s\n", now_s() - t0);
	CHECK(!h_mounted(h_mnt()));
	join_io(t);
	unsigned long calls = 0;
	for (int i = 0; i < THREADS; i++)
		calls += t[i].calls;
	printf("  %lu calls before the end\n", calls);
	CHECK(calls > 0);
}

static void osd_killed(void)
{
	struct io_thread t[THREADS];
	const double osd_timeout = 5;
	/* With no OSD the session cannot close cleanly at exit either: Ceph
	 * gives up after shutdown_timeout. */
	h_start("osd_timeout=5,shutdown_timeout=5");
	start_io(t);
	usleep(1000 * 1000);
	double t0 = now_s();
	REQUIRE(h_ceph_kill("osd") == 0);
	/* Every writer must get its error; the alarm catches a hang. */
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i].t, NULL);
	for (int i = 0; i < THREADS; i++) {
		printf("  thread %d: %s after %.1f s\n", i, strerrorname_np(t[i].err),
		       t[i].err_at - t0);
		CHECK(t[i].err == EIO || t[i].err == ETIMEDOUT);
		CHECK(t[i].err_at - t0 < 3 * osd_timeout + 5);
	}
	/* The mount goes at once; the process once Ceph gave up. */
	double t1 = now_s();
	pid_t pid = h_daemon_pid();
	REQUIRE(kill(pid, SIGTERM) == 0);
	while (h_mounted(h_mnt()) && now_s() - t1 < 5)
		usleep(10 * 1000);
	printf("OSD gone: unmounted after %.1f s\n", now_s() - t1);
	CHECK(!h_mounted(h_mnt()));
	CHECK_EQ(h_exit_code(h_wait(pid, 30)), 0);
	printf("  daemon exited after %.1f s\n", now_s() - t1);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 170);
	if (!h_ceph()) {
		printf("SKIP: needs the harness's Ceph mode ($SGF_TEST_CEPH)\n");
		return H_EXIT_SKIP;
	}
	unreachable();
	sigterm_in_flight();
	osd_killed(); /* last: the cluster has no OSD after it */
	return h_finish();
}
