/* tests/harness.c - scaffolding of the mounted tests: temp tree on a private
 * tmpfs, daemon lifecycle, mount detection, stats over SIGUSR1, and cleanup
 * from atexit and fatal signals (hence one static struct handlers can reach). */
#include "harness.h"
#include "uring_param.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct {
	bool ready;
	bool own_tmpfs;           /* root is our tmpfs: unmounting it removes all */
	const char *daemon;
	char daemon_abs[PATH_MAX]; /* tests may chdir */
	char root[PATH_MAX], backing[PATH_MAX], mnt[PATH_MAX], outside[PATH_MAX];
	char stats[PATH_MAX];
	volatile pid_t pid;       /* the running daemon, 0 when none */
	volatile sig_atomic_t failures;
	bool uring;               /* $SGF_TEST_OPTS asks for io_uring */
	uint64_t uring_seen;      /* requests the daemons took from rings */
	unsigned long fd_limit;   /* RLIMIT_NOFILE of spawned daemons; 0: ours */
	volatile pid_t progs[8];  /* h_spawn_prog's children alive; 0: free slot */
} H;

#define N_PROGS (sizeof(H.progs) / sizeof(H.progs[0]))

void h_msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void h_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	H.failures++;
}

bool h_failed(void) { return H.failures != 0; }
const char *h_daemon(void) { return H.daemon; }
const char *h_root(void) { return H.root; }
const char *h_backing(void) { return H.backing; }
const char *h_mnt(void) { return H.mnt; }
const char *h_stats_path(void) { return H.stats; }
pid_t h_daemon_pid(void) { return H.pid; }
void h_forget_daemon(void) { H.pid = 0; }

static void die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	H.failures++;
	exit(h_finish());
}

char *h_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		die(name);
	}
	return buf;
}

/* Detach the mount and kill the daemon (async-signal-safe). */
static void kill_daemon(void)
{
	umount2(H.mnt, MNT_DETACH);
	pid_t pid = H.pid;
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		H.pid = 0;
	}
}

static void forget_prog(pid_t pid)
{
	for (size_t i = 0; i < N_PROGS; i++)
		if (H.progs[i] == pid)
			H.progs[i] = 0;
}

/* SIGKILL and reap every h_spawn_prog child (async-signal-safe). */
static void kill_progs(void)
{
	for (size_t i = 0; i < N_PROGS; i++) {
		pid_t pid = H.progs[i];
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			H.progs[i] = 0;
		}
	}
}

void h_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	forget_prog(pid);
	if (H.pid == pid)
		H.pid = 0;
}

/* Async-signal-safe part of cleanup: the other children (they may use the
 * mount), the daemon, then the cluster it may use, and when root is our
 * own tmpfs, drop it (that removes every file). */
static void cleanup_safe(void)
{
	uring_param_restore();
	kill_progs();
	if (!H.ready)
		return;
	kill_daemon();
	/* Before the tmpfs goes: the cluster's pid files are in it. */
	h_ceph_stop_safe();
	if (H.own_tmpfs && umount2(H.root, MNT_DETACH) == 0) {
		H.own_tmpfs = false;
		rmdir(H.root);
		H.ready = false;
	}
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

int h_find_pids(const char *needle, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		char path[300], args[8192];
		pid_t pid = (pid_t)atoi(de->d_name);
		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, args, sizeof(args) - 1);
		close(fd);
		if (len <= 0)
			continue;
		args[len] = '\0';
		for (ssize_t i = 0; i < len; i += (ssize_t)strlen(args + i) + 1) {
			if (strstr(args + i, needle)) {
				out[n++] = pid;
				break;
			}
		}
	}
	closedir(d);
	return n;
}

/* A daemon that went to the background is no child of ours: find it by
 * the temp dir's name on its command line. */
static void kill_strays(void)
{
	pid_t pids[16];
	/* The random part of the temp dir's name, so relative paths match too. */
	int n = h_find_pids(strrchr(H.root, '/') + 1, pids, 16);
	for (int i = 0; i < n; i++) {
		if (pids[i] == H.pid)
			continue; /* ours; cleanup_safe() stops it */
		fprintf(stderr, "harness: killing stray process %d\n", (int)pids[i]);
		kill(pids[i], SIGKILL);
	}
}

static void cleanup_all(void)
{
	/* QEMU and the like first: they may use the daemon's mount. The
	 * cluster's daemons and ceph-fuse are stopped in order, not taken for
	 * strays; after the daemon, which uses them. */
	kill_progs();
	if (H.ready) {
		kill_daemon();
		h_ceph_stop_full();
	}
	if (H.ready)
		kill_strays();
	cleanup_safe();
	if (H.ready) {
		nftw(H.root, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		H.ready = false;
	}
}

static void on_fatal_signal(int sig)
{
	static const char msg[] = "harness: fatal signal or timeout, cleaning up\n";
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing useful to do */
	}
	cleanup_safe();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_handlers(unsigned timeout_s)
{
	static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL,
				    SIGTERM, SIGINT, SIGHUP, SIGALRM };
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup_all);
	alarm(timeout_s);
}

/* A private mount namespace makes every mount we make vanish with us even
 * if we are SIGKILLed; explicit cleanup still runs in the normal case. */
static void private_namespace(void)
{
	if (unshare(CLONE_NEWNS) == 0)
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

static void make_dir(char *buf, const char *name)
{
	h_join(buf, PATH_MAX, H.root, name);
	if (mkdir(buf, 0755) == -1)
		die(buf);
}

/* Common to h_init and h_init_bare: io_uring variant, private namespace,
 * the temp tree and cleanup. */
static void init_root(unsigned timeout_s)
{
	const char *extra = getenv("SGF_TEST_OPTS");
	H.uring = extra && strstr(extra, "io_uring") != NULL;
	if (H.uring) {
		int err = uring_param_on();
		if (err) {
			printf("SKIP: io_uring variant, but this kernel has no FUSE over io_uring "
			       "to switch on (%s: %s)\n", SGF_URING_PARAM, strerror(-err));
			exit(H_EXIT_SKIP);
		}
	}
	umask(0);
	private_namespace();

	snprintf(H.root, sizeof(H.root), "/tmp/sgfuse-test-XXXXXX");
	if (!mkdtemp(H.root))
		die("mkdtemp");
	H.ready = true;
	install_handlers(timeout_s);
	if (mount("sgfuse-test", H.root, "tmpfs", 0, "size=512m,mode=0755") == 0)
		H.own_tmpfs = true;
	else
		fprintf(stderr, "harness: no private tmpfs (%s), using %s as is\n",
			strerror(errno), H.root);
	make_dir(H.backing, "backing");
	make_dir(H.mnt, "mnt");
	make_dir(H.outside, "outside");
	h_join(H.stats, sizeof(H.stats), H.root, "stats.txt");
}

void h_init(int argc, char **argv, unsigned timeout_s)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	H.daemon = argc > 1 ? argv[1] : getenv("SGF_DAEMON");
	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
		printf("SKIP: needs root and /dev/fuse\n");
		exit(H_EXIT_SKIP);
	}
	if (!H.daemon || access(H.daemon, X_OK) != 0) {
		fprintf(stderr, "harness: daemon not given or not executable "
			"(argv[1] or $SGF_DAEMON): %s\n", H.daemon ? H.daemon : "(none)");
		exit(1);
	}
	if (realpath(H.daemon, H.daemon_abs))
		H.daemon = H.daemon_abs;
	init_root(timeout_s);
	h_ceph_init();
}

void h_init_bare(unsigned timeout_s)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("SKIP: needs root\n");
		exit(H_EXIT_SKIP);
	}
	init_root(timeout_s);
}

bool h_own_tmpfs(void) { return H.own_tmpfs; }

/* mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SRC SUPER */
static bool find_mount(const char *path, bool fuse_only, char *fstype, size_t fssize)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool found = false;
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX], type[256];
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
		    sscanf(sep + 3, "%255s", type) != 1)
			continue;
		if (strcmp(mp, path) != 0)
			continue;
		if (fuse_only && strncmp(type, "fuse", 4) != 0)
			continue;
		found = true;
		if (fstype)
			snprintf(fstype, fssize, "%s", type);
	}
	fclose(f);
	return found;
}

bool h_fuse_mounted(const char *path, char *fstype, size_t fstype_size)
{
	return find_mount(path, true, fstype, fstype_size);
}

bool h_mounted(const char *path)
{
	return find_mount(path, false, NULL, 0);
}

void h_umount_lazy(const char *path)
{
	umount2(path, MNT_DETACH);
}

static void redirect(int fd, const char *path)
{
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f >= 0) {
		dup2(f, fd);
		close(f);
	}
}

void h_set_fd_limit(unsigned long n)
{
	H.fd_limit = n;
}

/* fork + exec argv; the child dies with us, gets mask as its signal mask
 * when non-NULL, and the daemons' fd limit when daemon is set. */
static pid_t spawn(char *const argv[], const char *out_path, const char *err_path,
		   const sigset_t *mask, bool daemon)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == -1)
		die("fork");
	if (pid == 0) {
		/* Die with the test rather than outlive it holding a mount. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (out_path)
			redirect(1, out_path);
		if (err_path)
			redirect(2, err_path);
		if (mask)
			sigprocmask(SIG_SETMASK, mask, NULL);
		if (daemon && H.fd_limit) {
			/* Hard too: the daemon raises its soft limit to it. */
			struct rlimit rl = { H.fd_limit, H.fd_limit };
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				_exit(126);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

pid_t h_spawn(char *const args[], const char *out_path, const char *err_path)
{
	char *argv[64];
	size_t n = 0;
	argv[n++] = (char *)H.daemon;
	for (size_t i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid_t pid = spawn(argv, out_path, err_path, NULL, true);
	H.pid = pid;
	return pid;
}

pid_t h_spawn_prog(char *const argv[], const char *out_path, const char *err_path)
{
	size_t slot = 0;
	while (slot < N_PROGS && H.progs[slot] != 0)
		slot++;
	if (slot == N_PROGS) {
		errno = EAGAIN;
		die("h_spawn_prog: too many children");
	}
	/* No signal between fork and the table: a handler running there
	 * would not know the child. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t pid = spawn(argv, out_path, err_path, &old, false);
	H.progs[slot] = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid;
}

/* waitpid(WNOHANG) across EINTR; a reaped pid is forgotten. */
static pid_t reap(pid_t pid, int *status)
{
	pid_t r;
	while ((r = waitpid(pid, status, WNOHANG)) == -1 && errno == EINTR)
		;
	if (r == pid) {
		if (H.pid == pid)
			H.pid = 0;
		forget_prog(pid);
	}
	return r;
}

bool h_reaped(pid_t pid, int *status)
{
	return reap(pid, status) == pid;
}

int h_wait(pid_t pid, unsigned timeout_s)
{
	int status;
	for (unsigned ms = 0; ms < timeout_s * 1000u; ms += 10) {
		pid_t r = reap(pid, &status);
		if (r == pid)
			return status;
		if (r == -1)
			return -1;
		h_msleep(10);
	}
	h_kill(pid);
	return -1;
}

int h_exit_code(int status)
{
	if (status == -1)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

pid_t h_start(const char *opts)
{
	char o[PATH_MAX + 4096];
	const char *extra = getenv("SGF_TEST_OPTS");
	int n = snprintf(o, sizeof(o), "stats_file=%s%s%s%s%s", H.stats,
			 opts && *opts ? "," : "", opts ? opts : "",
			 extra && *extra ? "," : "", extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(o)) {
		errno = E2BIG;
		die("daemon options");
	}
	char conf[PATH_MAX + 8];
	char *args[8] = { "-f", "-o", o, H.backing, H.mnt, NULL };
	/* Ceph mode: the daemon serves the cluster, not a directory. */
	if (h_ceph()) {
		snprintf(conf, sizeof(conf), "conf=%s", h_ceph_conf());
		char *ceph_args[] = { "-f", "-o", conf, "-o", o, H.mnt, NULL };
		memcpy(args, ceph_args, sizeof(ceph_args));
	}
	if (H.pid > 0) {
		fprintf(stderr, "harness: a daemon is already running\n");
		H.failures++;
		exit(h_finish());
	}
	pid_t pid = h_spawn(args, NULL, NULL);
	for (unsigned ms = 0; ms < 20000; ms += 10) {
		if (h_fuse_mounted(H.mnt, NULL, 0))
			return pid;
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			H.pid = 0;
			fprintf(stderr, "harness: daemon exited (code %d) before mounting\n",
				h_exit_code(status));
			H.failures++;
			exit(h_finish());
		}
		h_msleep(10);
	}
	fprintf(stderr, "harness: mount did not appear on %s within 20 s\n", H.mnt);
	H.failures++;
	exit(h_finish());
}

static const char *find_line(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return p + n + 1;
	}
	return NULL;
}

bool h_uring(void)
{
	return H.uring;
}

/* An io_uring variant proves nothing unless requests took the ring: add up
 * what the daemons' final statistics say. */
static void note_uring_stats(void)
{
	static char buf[1 << 16];
	const char *p;

	/* The daemon writes its stats_file as it exits. */
	if (H.uring && h_read_file(H.stats, buf, sizeof(buf)) >= 0 && (p = find_line(buf, "uring")))
		H.uring_seen += strtoull(p, NULL, 10);
}

int h_stop_sig(int sig)
{
	pid_t pid = H.pid;
	if (pid <= 0)
		return -1;
	kill(pid, sig);
	int code = h_exit_code(h_wait(pid, 20));
	if (code == -1)
		fprintf(stderr, "harness: daemon did not exit within 20 s of signal %d\n", sig);
	note_uring_stats();
	return code;
}

struct h_pp *h_pp(struct h_pp *p, const char *name)
{
	H_PATH(p->m, h_mnt(), name);
	H_PATH(p->b, h_backing(), name);
	return p;
}

bool h_content_is(const char *path, const char *text)
{
	char buf[4096];
	ssize_t n = h_read_file(path, buf, sizeof(buf));

	if (n < 0 || strcmp(buf, text) != 0) {
		fprintf(stderr, "  %s: \"%s\" (want \"%s\")\n", path, n < 0 ? strerror((int)-n) : buf,
			text);
		return false;
	}
	return true;
}

ssize_t h_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	if (fd == -1)
		return -errno;
	while (got + 1 < size) {
		ssize_t r = read(fd, buf + got, size - 1 - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	close(fd);
	return (ssize_t)got;
}

int h_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return -errno;
	ssize_t w = write(fd, data, len);
	int err = w == (ssize_t)len ? 0 : (w == -1 ? -errno : -EIO);
	close(fd);
	return err;
}

int h_stats(char *buf, size_t size)
{
	if (H.pid <= 0)
		return -ESRCH;
	if (unlink(H.stats) == -1 && errno != ENOENT)
		return -errno;
	if (kill(H.pid, SIGUSR1) == -1)
		return -errno;
	for (unsigned ms = 0; ms < 10000; ms += 5) {
		if (access(H.stats, F_OK) == 0) {
			ssize_t r = h_read_file(H.stats, buf, size);
			return r < 0 ? (int)r : 0;
		}
		h_msleep(5);
	}
	return -ETIMEDOUT;
}

/* Find a line starting with prefix followed by a space; return the text after. */

uint64_t h_stat_op(const char *stats, const char *op, const char *field)
{
	char prefix[128];
	unsigned long long count, bytes, errors;
	snprintf(prefix, sizeof(prefix), "op %s", op);
	const char *p = find_line(stats, prefix);
	if (!p || sscanf(p, "count %llu bytes %llu errors %llu", &count, &bytes, &errors) != 3)
		return 0;
	if (strcmp(field, "count") == 0)
		return count;
	if (strcmp(field, "bytes") == 0)
		return bytes;
	return errors;
}

uint64_t h_stat_hist(const char *stats, const char *kind, uint64_t low)
{
	char prefix[128];
	unsigned long long n;
	snprintf(prefix, sizeof(prefix), "hist %s %llu", kind, (unsigned long long)low);
	const char *p = find_line(stats, prefix);
	if (!p || sscanf(p, "%llu", &n) != 1)
		return 0;
	return n;
}

uint64_t h_stat_count(const char *stats, const char *name)
{
	unsigned long long n;
	const char *p = find_line(stats, name);
	if (!p || sscanf(p, "%llu", &n) != 1)
		return 0;
	return n;
}

bool h_opts_have(const char *word)
{
	const char *extra = getenv("SGF_TEST_OPTS");
	size_t len = strlen(word);
	for (const char *p = extra; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && strncmp(p, word, len) == 0)
			return true;
		p = end ? end + 1 : p + n;
	}
	return false;
}

int h_finish(void)
{
	if (H.pid > 0) {
		/* A test that forgot to stop its daemon: stop it gently first so
		 * its exit path is exercised, then cleanup does the rest. */
		h_stop_sig(SIGTERM);
	} else {
		note_uring_stats(); /* the last daemon may have ended on its own */
	}
	if (H.uring && H.uring_seen == 0)
		h_fail(__FILE__, __LINE__, "io_uring variant, but no request came through a ring");
	cleanup_all();
	int failed = H.failures != 0;
	printf("%s\n", failed ? "FAILED" : "PASSED");
	return failed;
}
