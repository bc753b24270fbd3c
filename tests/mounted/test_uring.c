/* tests/mounted/test_uring.c - the daemon with -o io_uring: with the kernel's
 * enable_uring off it says so in exactly one line and serves through
 * /dev/fuse; with it on, O_DIRECT I/O is served through ring entries and
 * verified byte for byte (io_uring_depth default, 1 and 64); SIGTERM and a
 * foreign unmount while 16 threads keep ring entries busy end the daemon
 * with status 0 and leave nothing mounted and no thread hanging; a bad
 * io_uring_depth is a usage error. The test sets enable_uring itself and
 * puts back the value it found however it ends (exit, failure, signal,
 * the harness's timeout). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include "harness.h"
#include "uring_param.h"

#define PAGE 4096u
#define NPAGES 32
#define NLOAD 16
#define LOAD_SEGS 4
#define LOAD_SEG (16u * 1024)
#define NOT_USED "io_uring not used"

static char stats_text[1 << 16];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

#define WAIT_UNTIL(cond, ms) ({ \
	double w_end_ = now_s() + (ms) / 1000.0; \
	bool w_ok_; \
	while (!(w_ok_ = (cond)) && now_s() < w_end_) \
		sleep_ms(2); \
	w_ok_; \
})

/* ---- the kernel setting: ours to restore on every path -------------------- */

/* The harness restores enable_uring only when $SGF_TEST_OPTS made it switch
 * it; this test switches it itself, so it keeps the original value in its
 * own copy of uring_param_saved and restores it at exit and from every
 * fatal signal the harness handles (before the harness's own handler). */
static const int fatal_sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL,
				  SIGTERM, SIGINT, SIGHUP, SIGALRM };
static struct sigaction harness_sa[sizeof(fatal_sigs) / sizeof(fatal_sigs[0])];

static void restore_on_signal(int sig)
{
	uring_param_restore();
	for (size_t i = 0; i < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); i++) {
		if (fatal_sigs[i] == sig && harness_sa[i].sa_handler != SIG_DFL &&
		    harness_sa[i].sa_handler != SIG_IGN) {
			harness_sa[i].sa_handler(sig);
			return;
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void restore_at_exit(void)
{
	uring_param_restore();
}

static void param_take_over(void)
{
	char was;
	int err = uring_param_get(&was);
	if (err) {
		printf("SKIP: this kernel has no FUSE over io_uring (%s: %s)\n",
		       SGF_URING_PARAM, strerror(-err));
		exit(H_EXIT_SKIP);
	}
	uring_param_saved = was;
	atexit(restore_at_exit); /* runs before the harness's cleanup */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); i++)
		sigaction(fatal_sigs[i], &sa, &harness_sa[i]);
}

static void param_set(char v)
{
	int err = uring_param_set(v);
	if (err) {
		h_fail(__FILE__, __LINE__, "cannot set %s to %c: %s", SGF_URING_PARAM, v,
		       strerror(-err));
		exit(h_finish());
	}
}

/* ---- the daemon ------------------------------------------------------------ */

static char err_path[4096];

/* DAEMON -f -o stats_file=STATS,opts BACKING MNT with stderr to a file
 * (h_start keeps stderr), waiting for the mount. */
static pid_t start_daemon(const char *opts)
{
	char o[8192];
	snprintf(o, sizeof(o), "stats_file=%s,%s", h_stats_path(), opts);
	H_PATH(err_path, h_root(), "daemon.err");
	char *args[] = { "-f", "-o", o, (char *)h_backing(), (char *)h_mnt(), NULL };
	pid_t pid = h_spawn(args, NULL, err_path);
	int status;
	for (unsigned ms = 0; ms < 10000; ms += 5) {
		if (h_fuse_mounted(h_mnt(), NULL, 0))
			return pid;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			h_forget_daemon();
			h_fail(__FILE__, __LINE__, "daemon (-o %s) exited %d before mounting",
			       opts, h_exit_code(status));
			exit(h_finish());
		}
		sleep_ms(5);
	}
	h_fail(__FILE__, __LINE__, "daemon (-o %s) did not mount within 10 s", opts);
	exit(h_finish());
}

/* SIGTERM, then it must be gone within 5 s with status 0, unmounted. */
static void stop_daemon(pid_t pid, const char *what)
{
	double t0 = now_s();
	kill(pid, SIGTERM);
	int code = h_exit_code(h_wait(pid, 10));
	double took = now_s() - t0;
	if (code != 0)
		h_fail(__FILE__, __LINE__, "%s: daemon exit %d after SIGTERM, want 0", what, code);
	if (took > 5.0)
		h_fail(__FILE__, __LINE__, "%s: daemon took %.1f s to exit", what, took);
	CHECK(!h_mounted(h_mnt()));
}

/* "uring N" of a stats text; 0 when absent (zero lines are left out). */
static uint64_t stat_uring(const char *text)
{
	const char *p = strncmp(text, "uring ", 6) == 0 ? text : strstr(text, "\nuring ");
	if (p == NULL)
		return 0;
	return strtoull(p + (p == text ? 6 : 7), NULL, 10);
}

struct snap { uint64_t uring, reads, writes; };

static struct snap snap(void)
{
	struct snap s = { 0, 0, 0 };
	int err = h_stats(stats_text, sizeof(stats_text));
	if (err) {
		h_fail(__FILE__, __LINE__, "stats: %s", strerror(-err));
		return s;
	}
	s.uring = stat_uring(stats_text);
	s.reads = h_stat_op(stats_text, "READ", "count");
	s.writes = h_stat_op(stats_text, "WRITE", "count");
	return s;
}

/* Lines of the daemon's stderr that contain needle; the last into line. */
static int err_lines_with(const char *needle, char *line, size_t size)
{
	static char text[1 << 16];
	int n = 0;
	if (h_read_file(err_path, text, sizeof(text)) < 0)
		return 0;
	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (memmem(p, len, needle, strlen(needle))) {
			n++;
			if (line)
				snprintf(line, size, "%.*s", (int)len, p);
		}
		p += len + (nl != NULL);
	}
	return n;
}

/* The kernel hands requests to the rings only once every queue has
 * registered entries; before that they come through /dev/fuse. LOOKUPs of
 * names never seen (never cached) until one came through a ring. */
static bool wait_ring_ready(void)
{
	char path[4200];
	struct stat st;
	for (int i = 0; i < 2000; i++) {
		snprintf(path, sizeof(path), "%s/probe-%d", h_mnt(), i);
		CHECK_ERR(stat(path, &st), ENOENT);
		if (snap().uring > 0)
			return true;
		sleep_ms(2);
	}
	return false;
}

/* ---- I/O -------------------------------------------------------------------- */

static unsigned char pat(unsigned seed, size_t i)
{
	return (unsigned char)((i * 131u + seed * 7u + (i >> 12)) & 0xff);
}

/* 32 x 4 KiB O_DIRECT pwritev then preadv into other pages, byte for
 * byte; the READ and WRITE requests of it must all have come through ring
 * entries: uring grows at least by their number. */
static void direct_io_check(const char *what)
{
	char path[4200];
	unsigned char *w = NULL, *r = NULL;
	struct iovec wiov[NPAGES], riov[NPAGES];
	REQUIRE(posix_memalign((void **)&w, PAGE, NPAGES * PAGE) == 0);
	REQUIRE(posix_memalign((void **)&r, PAGE, NPAGES * PAGE) == 0);
	for (size_t i = 0; i < NPAGES * PAGE; i++)
		w[i] = pat(1, i);
	memset(r, 0, NPAGES * PAGE);
	/* Every other page of the buffers: separate segments, not one run. */
	for (int i = 0; i < NPAGES; i++) {
		wiov[i] = (struct iovec){ w + (size_t)((i * 5) % NPAGES) * PAGE, PAGE };
		riov[i] = (struct iovec){ r + (size_t)((i * 5) % NPAGES) * PAGE, PAGE };
	}
	int fd = open(H_PATH(path, h_mnt(), "direct"), O_CREAT | O_TRUNC | O_RDWR | O_DIRECT, 0644);
	REQUIRE(fd >= 0);
	struct snap a = snap();
	CHECK_EQ(pwritev(fd, wiov, NPAGES, 0), NPAGES * PAGE);
	CHECK_EQ(preadv(fd, riov, NPAGES, 0), NPAGES * PAGE);
	struct snap b = snap();
	close(fd);
	if (memcmp(w, r, NPAGES * PAGE) != 0) {
		size_t i = 0;
		while (w[i] == r[i])
			i++;
		h_fail(__FILE__, __LINE__, "%s: read back differs at byte %zu", what, i);
	}
	uint64_t io = (b.reads - a.reads) + (b.writes - a.writes);
	CHECK(b.reads > a.reads);
	CHECK(b.writes > a.writes);
	CHECK(b.uring > 0);
	if (b.uring - a.uring < io)
		h_fail(__FILE__, __LINE__, "%s: %llu READ+WRITE requests, only %llu through rings",
		       what, (unsigned long long)io, (unsigned long long)(b.uring - a.uring));
	/* And the data is really in the backing file. */
	unsigned char *back = malloc(NPAGES * PAGE + 1);
	REQUIRE(back != NULL);
	ssize_t n = h_read_file(H_PATH(path, h_backing(), "direct"), (char *)back, NPAGES * PAGE + 1);
	CHECK_EQ(n, NPAGES * PAGE);
	for (int i = 0; n == NPAGES * PAGE && i < NPAGES; i++)
		if (memcmp(back + (size_t)i * PAGE, wiov[i].iov_base, PAGE) != 0) {
			h_fail(__FILE__, __LINE__, "%s: backing file page %d differs", what, i);
			break;
		}
	free(back);
	free(w);
	free(r);
}

/* A1: enable_uring off: one line says why, /dev/fuse serves everything. */
static void test_fallback(void)
{
	char path[4200], buf[64], line[512] = "";
	printf("-- fallback (enable_uring=N)\n");
	param_set('N');
	pid_t pid = start_daemon("io_uring");
	REQUIRE(h_write_file(H_PATH(path, h_mnt(), "fb"), "fallback", 8) == 0);
	CHECK_EQ(h_read_file(path, buf, sizeof(buf)), 8);
	CHECK(memcmp(buf, "fallback", 8) == 0);
	CHECK_EQ(h_read_file(H_PATH(path, h_backing(), "fb"), buf, sizeof(buf)), 8);
	bool listed = false;
	DIR *d = opendir(h_mnt());
	CHECK(d != NULL);
	for (struct dirent *de; d && (de = readdir(d)) != NULL;)
		listed |= strcmp(de->d_name, "fb") == 0;
	if (d)
		closedir(d);
	CHECK(listed);
	/* Queue 0 says it once the INIT reply is out, beside the serving. */
	CHECK(WAIT_UNTIL(err_lines_with(NOT_USED, NULL, 0) > 0, 5000));
	CHECK_EQ(snap().uring, 0);
	stop_daemon(pid, "fallback");
	/* Final: exactly one line, naming the setting and the way out. */
	CHECK_EQ(err_lines_with(NOT_USED, line, sizeof(line)), 1);
	if (!strstr(line, "switched off") || !strstr(line, SGF_URING_PARAM) ||
	    !strstr(line, "serving through /dev/fuse"))
		h_fail(__FILE__, __LINE__, "fallback line does not say why and how: %s", line);
	CHECK(h_read_file(h_stats_path(), stats_text, sizeof(stats_text)) > 0);
	CHECK_EQ(stat_uring(stats_text), 0);
}

/* A2/A3: enable_uring on: requests through ring entries. */
static void test_enabled(const char *opts)
{
	printf("-- enabled: -o %s\n", opts);
	param_set('Y');
	pid_t pid = start_daemon(opts);
	REQUIRE(wait_ring_ready());
	direct_io_check(opts);
	stop_daemon(pid, opts);
	CHECK_EQ(err_lines_with(NOT_USED, NULL, 0), 0);
	CHECK_EQ(err_lines_with("sgfuse:", NULL, 0), 0);
}

/* ---- A4/A5: the end while 16 threads keep ring entries busy ----------------- */

struct loader {
	pthread_t t;
	int id, fd;
	atomic_uint iters;
	int err;            /* errno that ended it, 0: told to stop */
	bool short_io;      /* ended by a short transfer */
	unsigned corrupt;
	atomic_bool done;
};

static struct loader loaders[NLOAD];
static atomic_bool load_stop;

static void *loader_main(void *arg)
{
	struct loader *l = arg;
	unsigned char *w = NULL, *r = NULL;
	struct iovec wiov[LOAD_SEGS], riov[LOAD_SEGS];
	const size_t total = LOAD_SEGS * LOAD_SEG;

	if (posix_memalign((void **)&w, PAGE, total) || posix_memalign((void **)&r, PAGE, total)) {
		l->err = ENOMEM;
		atomic_store(&l->done, true);
		return NULL;
	}
	for (int i = 0; i < LOAD_SEGS; i++) {
		wiov[i] = (struct iovec){ w + (size_t)i * LOAD_SEG, LOAD_SEG };
		riov[i] = (struct iovec){ r + (size_t)(LOAD_SEGS - 1 - i) * LOAD_SEG, LOAD_SEG };
	}
	while (!atomic_load(&load_stop)) {
		unsigned it = atomic_load(&l->iters);
		unsigned seed = (unsigned)l->id * 1000003u + it;
		off_t off = (off_t)((it % 8) * total);
		for (size_t i = 0; i < total; i++)
			w[i] = pat(seed, i);
		errno = 0;
		ssize_t n = pwritev(l->fd, wiov, LOAD_SEGS, off);
		if (n != (ssize_t)total) {
			l->err = n < 0 ? errno : 0;
			l->short_io = n >= 0;
			break;
		}
		memset(r, 0, total);
		errno = 0;
		n = preadv(l->fd, riov, LOAD_SEGS, off);
		if (n != (ssize_t)total) {
			l->err = n < 0 ? errno : 0;
			l->short_io = n >= 0;
			break;
		}
		/* riov took the segments in reverse order. */
		for (int s = 0; s < LOAD_SEGS; s++)
			if (memcmp(w + (size_t)s * LOAD_SEG, riov[s].iov_base, LOAD_SEG) != 0)
				l->corrupt++;
		atomic_fetch_add(&l->iters, 1);
	}
	free(w);
	free(r);
	atomic_store(&l->done, true);
	return NULL;
}

static void load_start(void)
{
	char path[4200], name[32];
	atomic_store(&load_stop, false);
	for (int i = 0; i < NLOAD; i++) {
		struct loader *l = &loaders[i];
		memset(l, 0, sizeof(*l));
		l->id = i;
		snprintf(name, sizeof(name), "load-%d", i);
		l->fd = open(H_PATH(path, h_mnt(), name), O_CREAT | O_TRUNC | O_RDWR | O_DIRECT, 0644);
		REQUIRE(l->fd >= 0);
		REQUIRE(pthread_create(&l->t, NULL, loader_main, l) == 0);
	}
}

static bool load_all_past(unsigned iters)
{
	for (int i = 0; i < NLOAD; i++)
		if (atomic_load(&loaders[i].iters) < iters && !atomic_load(&loaders[i].done))
			return false;
	return true;
}

static unsigned at_detach[NLOAD];

/* Every thread did n more rounds since at_detach (or ended). */
static bool load_all_advanced(unsigned n)
{
	for (int i = 0; i < NLOAD; i++)
		if (atomic_load(&loaders[i].iters) < at_detach[i] + n &&
		    !atomic_load(&loaders[i].done))
			return false;
	return true;
}

static bool load_all_done(void)
{
	for (int i = 0; i < NLOAD; i++)
		if (!atomic_load(&loaders[i].done))
			return false;
	return true;
}

/* Join within 10 s (a thread stuck in a request would hang here: fail, and
 * h_finish's cleanup kills the daemon, which ends its request). */
static void load_join(const char *what, bool errors_ok)
{
	if (!WAIT_UNTIL(load_all_done(), 10000)) {
		h_fail(__FILE__, __LINE__, "%s: I/O threads still blocked 10 s after the end", what);
		exit(h_finish());
	}
	unsigned total = 0, ended[3] = { 0, 0, 0 }, shorts = 0;
	for (int i = 0; i < NLOAD; i++) {
		struct loader *l = &loaders[i];
		pthread_join(l->t, NULL);
		close(l->fd);
		total += atomic_load(&l->iters);
		ended[0] += l->err == ENOTCONN;
		ended[1] += l->err == ECONNABORTED;
		ended[2] += l->err == EIO;
		shorts += l->short_io;
		if (l->corrupt)
			h_fail(__FILE__, __LINE__, "%s: thread %d read back wrong data %u times",
			       what, i, l->corrupt);
		if (!errors_ok && (l->err || l->short_io))
			h_fail(__FILE__, __LINE__, "%s: thread %d ended with %s%s", what, i,
			       l->err ? strerrorname_np(l->err) : "0", l->short_io ? " (short)" : "");
		/* ECANCELED: a request the kernel had just handed a ring entry
		 * when the daemon's queue thread ended (the kernel completes it
		 * as that thread's task work, and a thread gone cancels it). */
		if (errors_ok && l->err && l->err != ENOTCONN && l->err != ECONNABORTED &&
		    l->err != EIO && l->err != ECANCELED)
			h_fail(__FILE__, __LINE__, "%s: thread %d ended with %s, want ENOTCONN, "
			       "ECONNABORTED, ECANCELED or EIO", what, i, strerrorname_np(l->err));
	}
	printf("%s: %u verified I/O rounds; threads ended by ENOTCONN %u, ECONNABORTED %u, "
	       "EIO %u, a short transfer %u\n", what, total, ended[0], ended[1], ended[2], shorts);
}

/* A4: SIGTERM under load. */
static void test_sigterm_under_load(void)
{
	printf("-- SIGTERM during I/O\n");
	param_set('Y');
	pid_t pid = start_daemon("io_uring");
	REQUIRE(wait_ring_ready());
	struct snap a = snap();
	load_start();
	CHECK(WAIT_UNTIL(load_all_past(3), 10000));
	struct snap b = snap();
	CHECK(b.uring - a.uring >= (b.reads - a.reads) + (b.writes - a.writes));
	/* The open files keep the superblock after the daemon's unmount: the
	 * daemon closing /dev/fuse is what ends the threads' requests. */
	stop_daemon(pid, "SIGTERM during I/O");
	load_join("SIGTERM during I/O", true);
	CHECK(!h_mounted(h_mnt()));
	CHECK(h_read_file(h_stats_path(), stats_text, sizeof(stats_text)) > 0);
	CHECK(stat_uring(stats_text) > 0);
	CHECK_EQ(err_lines_with(NOT_USED, NULL, 0), 0);
}

/* A5: a foreign lazy unmount under load. The open files keep the
 * superblock and its connection, so the I/O goes on (through the rings)
 * until the threads close their files; then the kernel ends the
 * connection and the daemon exits 0 by itself. */
static void test_detach_under_load(void)
{
	printf("-- foreign unmount during I/O\n");
	param_set('Y');
	pid_t pid = start_daemon("io_uring");
	REQUIRE(wait_ring_ready());
	load_start();
	CHECK(WAIT_UNTIL(load_all_past(3), 10000));
	CHECK_OK(umount2(h_mnt(), MNT_DETACH));
	CHECK(!h_mounted(h_mnt()));
	for (int i = 0; i < NLOAD; i++)
		at_detach[i] = atomic_load(&loaders[i].iters);
	CHECK(WAIT_UNTIL(load_all_advanced(3), 10000));
	atomic_store(&load_stop, true);
	load_join("foreign unmount during I/O", false);
	double t0 = now_s();
	int code = h_exit_code(h_wait(pid, 10));
	if (code != 0)
		h_fail(__FILE__, __LINE__, "foreign unmount: daemon exit %d, want 0", code);
	if (now_s() - t0 > 5.0)
		h_fail(__FILE__, __LINE__, "foreign unmount: daemon took %.1f s to exit",
		       now_s() - t0);
	CHECK(!h_mounted(h_mnt()));
	CHECK(h_read_file(h_stats_path(), stats_text, sizeof(stats_text)) > 0);
	CHECK(stat_uring(stats_text) > 0);
}

/* A6: bad io_uring_depth: usage error (2), one line, nothing mounted. */
static void bad_depth(const char *opt)
{
	char line[512] = "";
	char *args[] = { "-f", "-o", (char *)opt, (char *)h_backing(), (char *)h_mnt(), NULL };
	H_PATH(err_path, h_root(), "bad.err");
	pid_t pid = h_spawn(args, NULL, err_path);
	int code = h_exit_code(h_wait(pid, 10));
	if (code != 2)
		h_fail(__FILE__, __LINE__, "-o %s: exit %d, want 2", opt, code);
	CHECK_EQ(err_lines_with("", NULL, 0), 1);
	CHECK_EQ(err_lines_with("io_uring_depth", line, sizeof(line)), 1);
	printf("-o %s: %s\n", opt, line);
	if (h_mounted(h_mnt())) {
		h_fail(__FILE__, __LINE__, "-o %s: left a mount behind", opt);
		h_umount_lazy(h_mnt());
	}
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 100);
	if (access(SGF_URING_PARAM, F_OK) != 0) {
		printf("SKIP: this kernel has no FUSE over io_uring (%s missing)\n", SGF_URING_PARAM);
		return H_EXIT_SKIP;
	}
	param_take_over();
	char was = uring_param_saved;

	test_fallback();
	test_enabled("io_uring");
	test_enabled("io_uring,io_uring_depth=1");
	test_enabled("io_uring,io_uring_depth=64");
	test_sigterm_under_load();
	test_detach_under_load();
	bad_depth("io_uring,io_uring_depth=0");
	bad_depth("io_uring,io_uring_depth=abc");

	uring_param_restore();
	char now = 0;
	CHECK_EQ(uring_param_get(&now), 0);
	CHECK_EQ(now, was);
	return h_finish();
}
