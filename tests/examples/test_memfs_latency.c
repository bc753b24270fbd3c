/* tests/examples/test_memfs_latency.c - what deferred replies buy: with
 * latency_us=L and two worker threads, N O_DIRECT reads issued at once by N
 * threads all complete in about L when memfs keeps them for its backend
 * (defer=1), and in about N/2 * L when each one holds a worker (defer=0).
 * Also more concurrent requests than the session has request buffers
 * (max_inflight): workers stop receiving until buffers come back, nothing
 * fails. The data read is checked too. Then the edges of a kept request's
 * life: a signal interrupts a read waiting in the backend (EINTR, at once
 * when deferred), and SIGTERM ends the daemon while reads are kept (the
 * library answers them EIO, memfs's destroy stops its backend, exit 0). */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include "ex_util.h"

#define LATENCY_MS 50
#define MAX_THREADS 200
#define BLOCK EX_PAGE

struct reader {
	int id;
	int fd;
	pthread_barrier_t *start;
	double done;             /* when its read completed */
	bool ok;
};

static void *reader_main(void *arg)
{
	struct reader *t = arg;
	char *buf = aligned_alloc(EX_PAGE, BLOCK);
	char want[BLOCK];

	pthread_barrier_wait(t->start);
	if (buf != NULL) {
		ssize_t n = pread(t->fd, buf, BLOCK, (off_t)t->id * BLOCK);

		t->done = ex_now();
		ex_pattern(want, BLOCK, (uint64_t)t->id);
		t->ok = n == BLOCK && memcmp(buf, want, BLOCK) == 0;
		if (!t->ok)
			fprintf(stderr, "reader %d: pread: %zd (%s)\n", t->id, n,
				n < 0 ? strerror(errno) : "short or wrong data");
	}
	free(buf);
	return NULL;
}

/* n readers at once on one O_DIRECT file; returns the wall time in s. */
static double burst(const char *path, int n)
{
	struct reader t[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	pthread_barrier_t start;
	double t0, last = 0;
	int fd = open(path, O_RDONLY | O_DIRECT), ok = 0;

	REQUIRE(fd >= 0);
	pthread_barrier_init(&start, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++) {
		t[i] = (struct reader){ .id = i, .fd = fd, .start = &start };
		REQUIRE(pthread_create(&th[i], NULL, reader_main, &t[i]) == 0);
	}
	ex_msleep(50); /* every thread at the barrier */
	t0 = ex_now();
	pthread_barrier_wait(&start);
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		ok += t[i].ok;
		if (t[i].done > last)
			last = t[i].done;
	}
	pthread_barrier_destroy(&start);
	close(fd);
	CHECK_EQ(ok, n);
	return last - t0;
}

static void run(const char *opts, bool deferred)
{
	char path[PATH_MAX], stats[16384], *data = aligned_alloc(EX_PAGE, MAX_THREADS * BLOCK);
	pid_t pid = ex_mount(opts);
	const double l = LATENCY_MS / 1000.0;
	int fd;

	REQUIRE(data != NULL);
	for (int i = 0; i < MAX_THREADS; i++)
		ex_pattern(data + (size_t)i * BLOCK, BLOCK, (uint64_t)i);
	H_PATH(path, h_mnt(), "f");
	fd = open(path, O_WRONLY | O_CREAT | O_DIRECT, 0644);
	REQUIRE(fd >= 0);
	/* One write of everything (one latency, however it is answered). */
	CHECK_EQ(write(fd, data, MAX_THREADS * BLOCK), MAX_THREADS * BLOCK);
	close(fd);

	if (deferred) {
		double t64 = burst(path, 64), t200 = burst(path, 200);

		printf("%s: 64 reads at once: %.3f s; 200 reads at once: %.3f s "
		       "(latency %.3f s)\n", opts, t64, t200, l);
		/* All 64 wait together: about one latency, not 64 or 32 of them.
		 * Generous bounds for a loaded machine, far below the serial
		 * 32 * l that two blocked workers would take. */
		CHECK(t64 >= l * 0.9);
		CHECK(t64 < l * 10);
		/* 200 > max_inflight (64 + threads): a few rounds. */
		CHECK(t200 < l * 20);
	} else {
		double t16 = burst(path, 16);

		printf("%s: 16 reads at once: %.3f s (latency %.3f s)\n", opts, t16, l);
		/* Two workers, each blocked for one latency per request. */
		CHECK(t16 >= l * 8 * 0.9);
	}
	CHECK_EQ(h_stats(stats, sizeof(stats)), 0);
	printf("  server: READ %llu kept %llu refused %llu abandoned %llu buffers_max %llu\n",
	       (unsigned long long)h_stat_op(stats, "READ", "count"),
	       (unsigned long long)ex_stat_counter(stats, "kept"),
	       (unsigned long long)ex_stat_counter(stats, "refused"),
	       (unsigned long long)ex_stat_counter(stats, "abandoned"),
	       (unsigned long long)ex_stat_counter(stats, "buffers_max"));
	if (deferred)
		CHECK(ex_stat_counter(stats, "buffers_max") >= 64);
	CHECK_EQ(ex_stat_counter(stats, "refused"), 0);
	CHECK_EQ(ex_umount(pid), 0);
	free(data);
}

struct slow_read {
	const char *path;
	ssize_t n;
	int err;
	double took;
};

static void *slow_read_main(void *arg)
{
	struct slow_read *sr = arg;
	char *buf = aligned_alloc(EX_PAGE, BLOCK);
	int fd = open(sr->path, O_RDONLY | O_DIRECT);
	double t0 = ex_now();

	sr->n = fd >= 0 && buf != NULL ? pread(fd, buf, BLOCK, 0) : -1;
	sr->err = sr->n < 0 ? errno : 0;
	sr->took = ex_now() - t0;
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static void on_sigusr2(int sig)
{
	(void)sig; /* only there to interrupt a system call */
}

/* An empty file: made by CREATE, which has no latency. Its O_DIRECT READ
 * still goes to memfs, as the kernel does not know what the file holds. */
static void make_empty_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);

	CHECK_OK(fd);
	if (fd >= 0)
		close(fd);
}

/* A read waiting out latency_us is interrupted by a signal: the kernel sends
 * INTERRUPT, memfs answers EINTR (deferred: at once, from its interrupt
 * callback; synchronous: when the worker's wait ends). */
static void interrupt(const char *opts, double latency, bool deferred)
{
	struct sigaction sa = { .sa_handler = on_sigusr2 }; /* no SA_RESTART */
	char path[PATH_MAX], stats[16384];
	struct slow_read sr = { .path = path };
	pid_t pid = ex_mount(opts);
	pthread_t th;

	H_PATH(path, h_mnt(), "slow");
	make_empty_file(path);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	REQUIRE(pthread_create(&th, NULL, slow_read_main, &sr) == 0);
	ex_msleep(200);
	pthread_kill(th, SIGUSR2);
	pthread_join(th, NULL);
	printf("%s: interrupted read: %zd (%s) after %.3f s\n", opts, sr.n,
	       sr.err ? strerrorname_np(sr.err) : "ok", sr.took);
	CHECK_EQ(sr.n, -1);
	CHECK_EQ(sr.err, EINTR);
	if (deferred)
		CHECK(sr.took < latency / 2);
	else
		CHECK(sr.took >= latency * 0.9);
	CHECK_EQ(h_stats(stats, sizeof(stats)), 0);
	CHECK(ex_stat_counter(stats, "interrupts") >= 1);
	CHECK_EQ(ex_stat_counter(stats, "refused"), 0);
	CHECK_EQ(ex_umount(pid), 0);
}

/* SIGTERM while reads wait in memfs's backend for 5 s: the daemon unmounts,
 * the library answers the kept reads EIO, memfs's destroy stops the backend
 * (without waiting for their latency) and the daemon exits 0. */
static void teardown_with_kept(void)
{
	struct slow_read sr[8];
	pthread_t th[8];
	char path[PATH_MAX], stats[16384];
	double t0;
	int code;

	ex_mount("latency_us=5000000,defer=1"); /* h_stop() ends it */
	H_PATH(path, h_mnt(), "slow");
	make_empty_file(path);
	for (int i = 0; i < 8; i++) {
		sr[i] = (struct slow_read){ .path = path };
		REQUIRE(pthread_create(&th[i], NULL, slow_read_main, &sr[i]) == 0);
	}
	ex_msleep(300);
	t0 = ex_now();
	code = h_stop();
	printf("SIGTERM with 8 reads kept: exit %d after %.3f s\n", code, ex_now() - t0);
	CHECK_EQ(code, 0);
	CHECK(ex_now() - t0 < 4.0);
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		/* EIO from the library; ENOTCONN if the kernel saw the
		 * connection end first. */
		CHECK(sr[i].n == -1 && (sr[i].err == EIO || sr[i].err == ENOTCONN));
		if (sr[i].n != -1 || (sr[i].err != EIO && sr[i].err != ENOTCONN))
			fprintf(stderr, "read %d: %zd (%s)\n", i, sr[i].n, strerror(sr[i].err));
	}
	CHECK(!h_fuse_mounted(h_mnt(), NULL, 0));
	/* The statistics written at the end. */
	CHECK(h_read_file(h_stats_path(), stats, sizeof(stats)) > 0);
	printf("  server: kept %llu abandoned %llu refused %llu\n",
	       (unsigned long long)ex_stat_counter(stats, "kept"),
	       (unsigned long long)ex_stat_counter(stats, "abandoned"),
	       (unsigned long long)ex_stat_counter(stats, "refused"));
	CHECK_EQ(ex_stat_counter(stats, "abandoned"), 8);
	CHECK_EQ(ex_stat_counter(stats, "refused"), 0);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 110);
	run("latency_us=50000,defer=1,threads=2", true);
	run("latency_us=50000,defer=0,threads=2", false);
	interrupt("latency_us=5000000,defer=1", 5.0, true);
	interrupt("latency_us=300000,defer=0", 0.3, false);
	teardown_with_kept();
	return h_finish();
}
