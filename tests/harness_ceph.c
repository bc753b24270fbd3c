/* tests/harness_ceph.c - the harness's throw-away Ceph cluster: runs
 * scripts/ceph-cluster (in ROOT/ceph) for a test, and stops it however
 * the test ends: on exit with the script's stop, from a fatal signal or
 * the timeout with a SIGKILL of every process started with the cluster's
 * ceph.conf (found in /proc with plain system calls, all a signal handler
 * may safely make). Ceph mode ($SGF_TEST_CEPH names the script): h_init
 * starts the cluster and mounts its file system with ceph-fuse on
 * ROOT/backing, the view of "another node" the tests check our mount
 * against; h_start then runs the daemon with conf= instead of a SOURCE. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SGF_CEPH_CLUSTER_SCRIPT
#define SGF_CEPH_CLUSTER_SCRIPT "scripts/ceph-cluster"
#endif

#define MAX_FUSE 16 /* fuse.N.mnt records the script leaves in DIR/run */

static struct {
	bool up;                     /* h_ceph(): started */
	volatile sig_atomic_t live;  /* start ran, stop has not */
	volatile pid_t script;       /* the script while it runs (its group) */
	char path[PATH_MAX];         /* the script */
	char dir[PATH_MAX], conf[PATH_MAX];
} C;

/* --- async-signal-safe helpers (no stdio, no malloc) --- */

/* The NULL-terminated parts, joined, into buf; false when they do not fit. */
static bool join(char *buf, size_t size, const char *const *parts)
{
	size_t n = 0;
	for (; *parts; parts++)
		for (const char *p = *parts; *p; p++) {
			if (n + 1 >= size)
				return false;
			buf[n++] = *p;
		}
	buf[n] = '\0';
	return true;
}
#define JOIN(buf, ...) join((buf), sizeof(buf), (const char *const[]){ __VA_ARGS__, NULL })

static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static void itoa10(int v, char *buf)
{
	char tmp[16];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
}

/* "/proc/PID/" + leaf */
static bool proc_path(char *buf, size_t size, pid_t pid, const char *leaf)
{
	char num[16];
	itoa10((int)pid, num);
	return join(buf, size, (const char *const[]){ "/proc/", num, leaf, NULL });
}

/* Is pid a live process started with our ceph.conf as one argument (a
 * stale pid file's pid may belong to anyone by now)? */
static bool is_ours(pid_t pid)
{
	static char args[8192];
	char path[64];
	if (pid <= 0 || !proc_path(path, sizeof(path), pid, "/cmdline"))
		return false;
	ssize_t len = read_small(path, args, sizeof(args));
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(args + i) + 1)
		if (strcmp(args + i, C.conf) == 0)
			return true;
	return false;
}

/* Dead: no /proc entry, or a zombie its parent has yet to reap. */
static bool is_gone(pid_t pid)
{
	char path[64], stat[512];
	if (!proc_path(path, sizeof(path), pid, "/stat") || read_small(path, stat, sizeof(stat)) <= 0)
		return true;
	const char *p = strrchr(stat, ')');
	return !p || p[1] == '\0' || p[2] == 'Z';
}

/* Every process of the cluster, by its command line (daemons, ceph-fuse,
 * the ceph CLIs of a start). getdents64: opendir() may allocate. */
static int find_ours(pid_t *out, int max)
{
	static char buf[16384];
	int n = 0, fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (;;) {
		long len = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (len <= 0)
			break;
		for (long off = 0; off < len;) {
			/* struct linux_dirent64: ino, off, reclen, type, name */
			unsigned short reclen;
			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			const char *name = buf + off + 19;
			long pid = 0;
			for (const char *p = name; *p >= '0' && *p <= '9'; p++)
				pid = pid * 10 + (*p - '0');
			if (pid > 0 && pid != getpid() && n < max && is_ours((pid_t)pid))
				out[n++] = (pid_t)pid;
			off += reclen;
		}
	}
	close(fd);
	return n;
}

/* The signal path: detach ceph-fuse mounts, SIGKILL every process of the
 * cluster, give them a few seconds to die. */
void h_ceph_stop_safe(void)
{
	pid_t pids[256];
	char path[PATH_MAX], mnt[PATH_MAX];

	if (C.script > 0)
		kill(-C.script, SIGKILL); /* no more daemons from a start or restart */
	if (!C.live)
		return;
	for (int i = 0; i < MAX_FUSE; i++) {
		char num[16];
		itoa10(i, num);
		if (JOIN(path, C.dir, "/run/fuse.", num, ".mnt") && read_small(path, mnt, sizeof(mnt)) > 0) {
			char *nl = strchr(mnt, '\n');
			if (nl)
				*nl = '\0';
			umount2(mnt, MNT_DETACH);
		}
	}
	int n = find_ours(pids, 256);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int waited = 0; waited < 5000; waited += 20) {
		bool all = true;
		for (int i = 0; i < n; i++)
			all = all && is_gone(pids[i]);
		if (all)
			break;
		h_msleep(20);
	}
}

/* --- the normal path --- */

/* Run the script: CMD A1 [A2]. Its exit code, 128+signal, or -1 when it
 * did not end within timeout_s (it and its children are then killed). */
static int run(unsigned timeout_s, const char *cmd, const char *a1, const char *a2)
{
	char *argv[] = { C.path, (char *)cmd, (char *)a1, (char *)a2, NULL };
	int status;

	fflush(NULL);
	pid_t pid = fork();
	if (pid == -1) {
		fprintf(stderr, "harness: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0); /* a timeout kills the ceph CLIs it runs too */
		execv(C.path, argv);
		fprintf(stderr, "harness: exec %s: %s\n", C.path, strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	C.script = pid;
	for (unsigned ms = 0; ms < timeout_s * 1000u; ms += 20) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			C.script = 0;
			return h_exit_code(status);
		}
		if (r == -1 && errno != EINTR)
			break;
		h_msleep(20);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
	C.script = 0;
	fprintf(stderr, "harness: %s %s %s: no end within %u s, killed\n", C.path, cmd,
		a1, timeout_s);
	return -1;
}

void h_ceph_stop_full(void)
{
	if (!C.live)
		return;
	int code = run(120, "stop", C.dir, NULL);
	if (code != 0) {
		h_fail(__FILE__, __LINE__, "ceph-cluster stop %s: exit %d; killing its processes",
		       C.dir, code);
		h_ceph_stop_safe();
	}
	C.live = 0;
}

/* The harness's tmpfs holds 512 MiB; bluestore's block file lives in it. */
static void make_room_for_bluestore(void)
{
	const char *store = getenv("CEPH_OSD_STORE");
	if (!store || strcmp(store, "bluestore") != 0)
		return;
	if (!getenv("CEPH_OSD_BYTES"))
		setenv("CEPH_OSD_BYTES", "2147483648", 1);
	unsigned long long bytes = strtoull(getenv("CEPH_OSD_BYTES"), NULL, 10);
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%llu", bytes + (1ULL << 30));
	if (h_own_tmpfs() && mount(NULL, h_root(), NULL, MS_REMOUNT, opts) != 0)
		fprintf(stderr, "harness: remount %s %s: %s (bluestore may run out of room)\n",
			h_root(), opts, strerror(errno));
}

int h_ceph_start(void)
{
	const char *script = getenv("SGF_TEST_CEPH");
	if (!script || !*script)
		script = SGF_CEPH_CLUSTER_SCRIPT;
	if (!realpath(script, C.path) || access(C.path, X_OK) != 0) {
		fprintf(stderr, "harness: %s: not an executable script ($SGF_TEST_CEPH)\n",
			script);
		h_fail(__FILE__, __LINE__, "no ceph-cluster script");
		exit(h_finish());
	}
	H_PATH(C.dir, h_root(), "ceph");
	H_PATH(C.conf, C.dir, "ceph.conf");
	make_room_for_bluestore();
	C.live = 1;
	int code = run(180, "start", C.dir, NULL);
	if (code == H_EXIT_SKIP) {
		printf("SKIP: Ceph is not installed (scripts/deps installs it)\n");
		C.live = 0;
		exit(H_EXIT_SKIP);
	}
	if (code != 0) {
		h_fail(__FILE__, __LINE__, "ceph-cluster start %s: exit %d", C.dir, code);
		exit(h_finish());
	}
	C.up = true;
	return 0;
}

void h_ceph_init(void)
{
	const char *script = getenv("SGF_TEST_CEPH");
	if (!script || !*script)
		return;
	h_ceph_start();
	if (h_ceph_fuse_mount(h_backing()) != 0) {
		h_fail(__FILE__, __LINE__, "ceph-fuse view on %s failed", h_backing());
		exit(h_finish());
	}
}

bool h_ceph(void) { return C.up; }

const char *h_ceph_conf(void) { return C.conf; }
const char *h_ceph_dir(void) { return C.dir; }

int h_ceph_kill(const char *daemon) { return run(60, "kill", C.dir, daemon); }
int h_ceph_restart(const char *daemon) { return run(120, "restart", C.dir, daemon); }
int h_ceph_fuse_mount(const char *mnt) { return run(60, "fuse-mount", C.dir, mnt); }
int h_ceph_fuse_umount(const char *mnt) { return run(60, "fuse-umount", mnt, NULL); }

int h_ceph_stop(void)
{
	if (!C.live)
		return 0;
	int code = run(120, "stop", C.dir, NULL);
	if (code == 0)
		C.live = 0;
	return code;
}
