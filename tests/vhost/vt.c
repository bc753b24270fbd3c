/* tests/vhost/vt.c - the vhost tests' scaffolding (vt.h): temp dir, the
 * daemon's life, its statistics and stderr, /proc counts, and cleanup that
 * runs however the test ends (hence one static struct handlers reach). */
#include "vt.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct {
	bool ready;
	char daemon[PATH_MAX];
	char dir[PATH_MAX], src[PATH_MAX], sock[PATH_MAX], stats[PATH_MAX], log[PATH_MAX];
	volatile pid_t pid;       /* the running daemon, 0 when none */
	bool said_dead;
	volatile sig_atomic_t failures;
} V;

void vt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	V.failures++;
}

bool vt_failed(void) { return V.failures != 0; }
const char *vt_dir(void) { return V.dir; }
const char *vt_src(void) { return V.src; }
const char *vt_sock(void) { return V.sock; }
const char *vt_stats_path(void) { return V.stats; }
pid_t vt_daemon_pid(void) { return V.pid; }

double vt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void vt_msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

char *vt_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size) {
		vt_fail(__FILE__, __LINE__, "path too long: %s/%s", dir, name);
		exit(vt_finish());
	}
	return buf;
}

/* Async-signal-safe: the daemon goes. */
static void kill_daemon(void)
{
	pid_t pid = V.pid;

	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		V.pid = 0;
	}
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void cleanup(void)
{
	kill_daemon();
	/* $VT_KEEP: leave the temp dir (the daemon's whole log) to look at. */
	if (V.ready && getenv("VT_KEEP")) {
		fprintf(stderr, "vt: kept %s\n", V.dir);
		V.ready = false;
	}
	if (V.ready) {
		nftw(V.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		V.ready = false;
	}
}

static void on_fatal_signal(int sig)
{
	static const char msg[] = "vt: fatal signal or timeout, cleaning up\n";

	if (write(2, msg, sizeof(msg) - 1) < 0) {
	}
	kill_daemon();
	signal(sig, SIG_DFL);
	raise(sig);
}

void vt_init(int argc, char **argv, unsigned timeout_s)
{
	static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL,
				    SIGTERM, SIGINT, SIGHUP, SIGALRM };
	const char *d = argc > 1 ? argv[1] : getenv("SGF_DAEMON");
	struct sigaction sa;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (d == NULL || access(d, X_OK) != 0 || realpath(d, V.daemon) == NULL) {
		printf("SKIP: no daemon to test (argv[1] or $SGF_DAEMON): %s\n", d ? d : "(none)");
		exit(VT_SKIP);
	}
	snprintf(V.dir, sizeof(V.dir), "/tmp/sgfuse-vhost-XXXXXX");
	if (mkdtemp(V.dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	V.ready = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	/* A backend that closed the socket under a send must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup);
	alarm(timeout_s);
	vt_join(V.src, sizeof(V.src), V.dir, "src");
	vt_join(V.sock, sizeof(V.sock), V.dir, "vhost.sock");
	vt_join(V.stats, sizeof(V.stats), V.dir, "stats.txt");
	vt_join(V.log, sizeof(V.log), V.dir, "daemon.log");
	if (mkdir(V.src, 0755) != 0) {
		perror(V.src);
		exit(1);
	}
}

pid_t vt_daemon_start(const char *opts)
{
	char o[PATH_MAX + 512];
	struct stat st;
	int n = snprintf(o, sizeof(o), "stats_file=%s%s%s", V.stats, opts && *opts ? "," : "",
			 opts ? opts : "");

	REQUIRE(n > 0 && (size_t)n < sizeof(o));
	REQUIRE(V.pid == 0);
	unlink(V.sock);
	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		/* Die with the test rather than outlive it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(V.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execl(V.daemon, V.daemon, "--vhost-user", V.sock, "-o", o, V.src, (char *)NULL);
		_exit(127);
	}
	V.pid = pid;
	V.said_dead = false;
	/* ASan and TSan builds start slowly on a loaded machine. */
	for (unsigned ms = 0; ms < 30000; ms += 5) {
		if (stat(V.sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return pid;
		if (!vt_daemon_alive())
			break;
		vt_msleep(5);
	}
	vt_fail(__FILE__, __LINE__, "the daemon's socket %s did not appear", V.sock);
	exit(vt_finish());
}

bool vt_daemon_alive(void)
{
	int status;

	if (V.pid <= 0)
		return false;
	pid_t r = waitpid(V.pid, &status, WNOHANG);
	if (r == 0)
		return true;
	if (r == V.pid) {
		V.pid = 0;
		if (!V.said_dead) {
			if (WIFSIGNALED(status))
				fprintf(stderr, "vt: the daemon was killed by signal %d (%s)\n",
					WTERMSIG(status), strsignal(WTERMSIG(status)));
			else
				fprintf(stderr, "vt: the daemon exited with %d\n",
					WEXITSTATUS(status));
		}
		V.said_dead = true;
	}
	return false;
}

int vt_daemon_stop(int sig, unsigned timeout_ms)
{
	pid_t pid = V.pid;
	int status;

	if (pid <= 0)
		return -1;
	kill(pid, sig);
	for (unsigned ms = 0; ms < timeout_ms; ms += 5) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			V.pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		vt_msleep(5);
	}
	kill_daemon();
	return -1;
}

static ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got + 1 < size) {
		ssize_t r = read(fd, buf + got, size - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	close(fd);
	return (ssize_t)got;
}

int vt_stats(char *buf, size_t size)
{
	if (V.pid <= 0)
		return -ESRCH;
	if (unlink(V.stats) != 0 && errno != ENOENT)
		return -errno;
	if (kill(V.pid, SIGUSR1) != 0)
		return -errno;
	/* The file appears whole: the library writes a temp file and
	 * renames it. */
	if (!VT_WAIT_UNTIL(access(V.stats, F_OK) == 0, 10000))
		return -ETIMEDOUT;
	ssize_t r = read_file(V.stats, buf, size);
	return r < 0 ? (int)r : 0;
}

/* The text after "prefix " on a line of its own, or NULL. */
static const char *find_line(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return p + n + 1;
	return NULL;
}

uint64_t vt_stat_op(const char *stats, const char *op, const char *field)
{
	char prefix[64];
	unsigned long long count, bytes, errors;

	snprintf(prefix, sizeof(prefix), "op %s", op);
	const char *p = find_line(stats, prefix);
	if (!p || sscanf(p, "count %llu bytes %llu errors %llu", &count, &bytes, &errors) != 3)
		return 0;
	return !strcmp(field, "count") ? count : !strcmp(field, "bytes") ? bytes : errors;
}

uint64_t vt_stat_count(const char *stats, const char *name)
{
	unsigned long long n;
	const char *p = find_line(stats, name);

	return p && sscanf(p, "%llu", &n) == 1 ? n : 0;
}

unsigned vt_log_count(const char *needle)
{
	static char buf[1 << 20];
	unsigned n = 0;

	if (read_file(V.log, buf, sizeof(buf)) < 0)
		return 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		n += strstr(line, needle) != NULL;
	return n;
}

int vt_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int vt_map_count(pid_t pid, const char *needle)
{
	char path[64], line[4096];
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* The daemon's stderr, for a failed test's log. */
static void dump_log(void)
{
	static char buf[1 << 16];
	ssize_t n = read_file(V.log, buf, sizeof(buf));

	if (n > 0)
		fprintf(stderr, "---- daemon stderr (%s) ----\n%s---- end ----\n", V.log, buf);
}

int vt_finish(void)
{
	if (V.pid > 0) {
		int code = vt_daemon_stop(SIGTERM, 20000);
		if (code != 0)
			vt_fail(__FILE__, __LINE__, "the daemon's exit at the end: %d", code);
	}
	if (V.failures)
		dump_log();
	cleanup();
	printf("%s\n", V.failures ? "FAILED" : "PASSED");
	return V.failures ? 1 : 0;
}
