/* tests/harness.h - helpers for the mounted tests: a private tmpfs with
 * backing/ and mnt/, the daemon started on them, its statistics, and cleanup
 * that runs however the test ends (exit, abort, crash, signal, timeout). */
#ifndef SGF_TEST_HARNESS_H
#define SGF_TEST_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define H_EXIT_SKIP 77

/* Set up: daemon path from argv[1] (else $SGF_DAEMON); exit 77 when not root
 * or /dev/fuse is missing; a private mount namespace where possible; a temp
 * directory (own tmpfs) with backing/, mnt/ and outside/; cleanup handlers;
 * alarm(timeout_s) as a last resort. */
void h_init(int argc, char **argv, unsigned timeout_s);

/* h_init without a daemon (a test that starts none, or its own): needs
 * root only; h_daemon() is NULL; no Ceph mode (h_ceph_start() at will). */
void h_init_bare(unsigned timeout_s);
/* Is h_root() a tmpfs of our own (size=512m)? */
bool h_own_tmpfs(void);

const char *h_daemon(void);
const char *h_root(void);     /* the temp directory */
const char *h_backing(void);  /* ROOT/backing: the daemon's SOURCE */
const char *h_mnt(void);      /* ROOT/mnt: the mountpoint */
const char *h_stats_path(void);
/* $SGF_TEST_OPTS asks for FUSE over io_uring (switched on for the run). */
bool h_uring(void);

/* dir + "/" + name into buf (aborts the test when it does not fit). */
char *h_join(char *buf, size_t size, const char *dir, const char *name);
#define H_PATH(buf, dir, name) h_join((buf), sizeof(buf), (dir), (name))

/* Paths on the mount (m) and in the backing dir (b) for one name. */
struct h_pp {
	char m[4096], b[4096];
};
struct h_pp *h_pp(struct h_pp *p, const char *name);

/* Does the file at path hold exactly text? When not, says on stderr what
 * it holds (or why it cannot be read). */
bool h_content_is(const char *path, const char *text);

/* Start the daemon in the foreground:
 *   DAEMON -f -o stats_file=STATS[,opts][,$SGF_TEST_OPTS] BACKING MNT
 * and wait until the mount is live. Fails the test (exit) on error.
 * $SGF_TEST_OPTS lets meson run one test under several daemon settings. */
pid_t h_start(const char *opts);
/* Daemons spawned from now on run with RLIMIT_NOFILE n (soft and hard);
 * 0 (the default) leaves them ours. */
void h_set_fd_limit(unsigned long n);
/* Spawn DAEMON args... (args NULL-terminated, without argv[0]); stdout and
 * stderr go to out_path/err_path when non-NULL. The pid is remembered so
 * cleanup kills it. */
pid_t h_spawn(char *const args[], const char *out_path, const char *err_path);
/* Spawn any program (argv[0] a path; argv NULL-terminated), not the
 * daemon: for what a test runs beside it (QEMU, virtiofsd, a script).
 * Like h_spawn it dies with the test (PDEATHSIG), and its pid is kept in a
 * table cleanup empties on every path (exit, failure, signal, alarm),
 * SIGKILLing each before the daemon, whose mount it may be using. Up to 8
 * at once; h_wait and h_kill take a pid out of it. */
pid_t h_spawn_prog(char *const argv[], const char *out_path, const char *err_path);
/* SIGKILL pid and reap it (a no-op for 0). */
void h_kill(pid_t pid);
/* Has child pid ended? Then it is reaped (and forgotten as the daemon or
 * an h_spawn_prog child), its wait status stored, and true returned;
 * false while it runs. */
bool h_reaped(pid_t pid, int *status);
/* Sleep ms milliseconds (whole, across signals). */
void h_msleep(unsigned ms);
/* Wait up to timeout_s for pid; returns its wait status, or -1 on timeout
 * (pid is then killed and reaped). */
int h_wait(pid_t pid, unsigned timeout_s);
/* Exit code of a wait status; 128+sig when killed by sig; -1 on timeout. */
int h_exit_code(int status);
/* Send sig to the running daemon and wait for it (timeout 20 s); returns
 * h_exit_code() of its status. */
int h_stop_sig(int sig);
#define h_stop() h_stop_sig(SIGTERM)
pid_t h_daemon_pid(void);
/* Forget the running daemon (after the test reaped it itself). */
void h_forget_daemon(void);

/* Processes (not us) with needle in one of their arguments; up to max. */
int h_find_pids(const char *needle, pid_t *out, int max);

/* Is path a mountpoint of a fuse* filesystem (per /proc/self/mountinfo)?
 * fstype, when non-NULL, receives its type (e.g. "fuse.sgfuse"). */
bool h_fuse_mounted(const char *path, char *fstype, size_t fstype_size);
/* Is anything mounted on path? */
bool h_mounted(const char *path);
/* Detach whatever is mounted on the mountpoint (like umount -l). */
void h_umount_lazy(const char *path);

/* Ask the daemon for its statistics (delete file, SIGUSR1, wait for it)
 * into buf. 0 or -errno. */
int h_stats(char *buf, size_t size);
/* Look up "op NAME count|bytes|errors" or "hist KIND LOW"; 0 when absent
 * (zero lines are omitted by the format). */
uint64_t h_stat_op(const char *stats, const char *op, const char *field);
uint64_t h_stat_hist(const char *stats, const char *kind, uint64_t low);
/* A single counter line "NAME N" (e.g. "passthrough"); 0 when absent. */
uint64_t h_stat_count(const char *stats, const char *name);
/* Does $SGF_TEST_OPTS hold the option word (e.g. "passthrough")? */
bool h_opts_have(const char *word);

/* Ceph mode ($SGF_TEST_CEPH = path of scripts/ceph-cluster): h_init starts
 * a throw-away cluster in h_ceph_dir() and mounts its file system with
 * ceph-fuse on h_backing() (so h_pp's .b paths are another Ceph client's
 * view); h_start passes conf=h_ceph_conf() and no SOURCE; cleanup stops
 * the cluster however the test ends. Is a cluster up (this mode, or
 * h_ceph_start)? */
bool h_ceph(void);
/* Start the cluster (mon, mgr, OSD, MDS, a CephFS named cephfs) in
 * ROOT/ceph now, without the ceph-fuse view, and wait until its MDS is
 * active; from then on cleanup always stops it. The script is
 * $SGF_TEST_CEPH, else the source tree's. Exits 77 (with the reason) when
 * Ceph is not installed; fails the test (exit) when the cluster does not
 * come up. CEPH_OSD_STORE=bluestore in the environment asks for bluestore
 * (the tmpfs grows to hold it). 0. */
int h_ceph_start(void);
const char *h_ceph_dir(void);
/* ROOT/ceph/ceph.conf: for ceph_conf_read_file(), id "admin". */
const char *h_ceph_conf(void);
/* SIGKILL one daemon ("mon", "mgr", "osd" or "mds") and wait until it is
 * gone / start it again and wait until it is back (the OSD only with
 * bluestore). The script's exit code: 0 done. */
int h_ceph_kill(const char *daemon);
int h_ceph_restart(const char *daemon);
/* ceph-fuse of the cluster's fs on mnt (stopped with the cluster) / its
 * unmount. The script's exit code (77: no ceph-fuse). */
int h_ceph_fuse_mount(const char *mnt);
int h_ceph_fuse_umount(const char *mnt);
/* Stop now (unmount, kill every daemon, remove ROOT/ceph); cleanup then
 * has nothing left to do. The script's exit code. */
int h_ceph_stop(void);
/* For the harness itself: Ceph mode's start (from h_init), the stop from a
 * signal handler (SIGKILL, async-signal-safe) and on exit (the script). */
void h_ceph_init(void);
void h_ceph_stop_safe(void);
void h_ceph_stop_full(void);

/* Read a whole small file into buf (NUL-terminated). Bytes read or -errno. */
ssize_t h_read_file(const char *path, char *buf, size_t size);
int h_write_file(const char *path, const void *data, size_t len);

/* Checks: a failed check prints where and why and marks the test failed,
 * then the test goes on. */
void h_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool h_failed(void);
/* Tear everything down and return the exit code (0 pass, 1 fail). */
int h_finish(void);

#define CHECK(cond) do { \
	if (!(cond)) h_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
} while (0)
/* expr must not return -1 (errno is printed). */
#define CHECK_OK(expr) do { \
	errno = 0; \
	if ((long)(expr) == -1) \
		h_fail(__FILE__, __LINE__, "%s: %s", #expr, strerror(errno)); \
} while (0)
/* expr must return -1 with errno == err. */
#define CHECK_ERR(expr, err) do { \
	errno = 0; \
	long h_r_ = (long)(expr); \
	if (h_r_ != -1 || errno != (err)) \
		h_fail(__FILE__, __LINE__, "%s: want -1/%s, got %ld/%s", #expr, \
		       strerrorname_np(err), h_r_, \
		       errno ? strerrorname_np(errno) : "0"); \
} while (0)
#define CHECK_EQ(a, b) do { \
	long long h_a_ = (long long)(a), h_b_ = (long long)(b); \
	if (h_a_ != h_b_) \
		h_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, h_a_, h_b_); \
} while (0)
/* Stop the test now (after a failure that makes the rest meaningless). */
#define REQUIRE(cond) do { \
	if (!(cond)) { \
		h_fail(__FILE__, __LINE__, "required: %s", #cond); \
		exit(h_finish()); \
	} \
} while (0)

#endif
