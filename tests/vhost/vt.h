/* tests/vhost/vt.h - what the vhost-user backend tests share besides the
 * frontend: checks, a temp dir with the daemon's SOURCE, the daemon
 * (sgfuse-passthrough --vhost-user) started, signalled, watched and
 * reaped, its statistics and stderr, and its fd and mapping counts. */
#ifndef SGF_VT_H
#define SGF_VT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define VT_SKIP 77

void vt_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool vt_failed(void);
/* Stop the daemon if running, print its stderr on failure, remove the
 * temp dir; the exit status (0 pass, 1 fail). */
int vt_finish(void);

#define CHECK(cond) do { \
	if (!(cond)) vt_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
} while (0)
#define CHECK_EQ(a, b) do { \
	long long vt_a_ = (long long)(a), vt_b_ = (long long)(b); \
	if (vt_a_ != vt_b_) \
		vt_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, vt_a_, vt_b_); \
} while (0)
/* Stop the test now: the rest would be meaningless. */
#define REQUIRE(cond) do { \
	if (!(cond)) { \
		vt_fail(__FILE__, __LINE__, "required: %s", #cond); \
		exit(vt_finish()); \
	} \
} while (0)

/* The daemon from argv[1] (else $SGF_DAEMON; exit 77 when neither names
 * one); a fresh /tmp/sgfuse-vhost-XXXXXX with src/ (the SOURCE); cleanup
 * on exit, on fatal signals and after timeout_s (alarm). Call first. */
void vt_init(int argc, char **argv, unsigned timeout_s);
const char *vt_dir(void);
const char *vt_src(void);
const char *vt_sock(void);   /* DIR/vhost.sock */
const char *vt_stats_path(void);
/* dir + "/" + name into buf (the test fails when it does not fit). */
char *vt_join(char *buf, size_t size, const char *dir, const char *name);

/* Start DAEMON --vhost-user SOCK -o stats_file=STATS[,opts] SRC with its
 * stderr into DIR/daemon.log, and wait until the socket is there. The
 * test ends when it exits first or the socket does not appear. */
pid_t vt_daemon_start(const char *opts);
pid_t vt_daemon_pid(void);
/* Still running (not exited, not killed)? Says why not, once. */
bool vt_daemon_alive(void);
/* Send sig, wait up to timeout_ms; the exit code, 128+signal, or -1 on
 * timeout (it is then killed). */
int vt_daemon_stop(int sig, unsigned timeout_ms);

/* Statistics now (SIGUSR1 and the stats file) into buf: 0 or -errno. */
int vt_stats(char *buf, size_t size);
/* "op NAME count|bytes|errors", or a single counter line "NAME N"; 0 when
 * absent. */
uint64_t vt_stat_op(const char *stats, const char *op, const char *field);
uint64_t vt_stat_count(const char *stats, const char *name);
/* Lines the daemon wrote to stderr that hold needle. */
unsigned vt_log_count(const char *needle);

/* Open fds of pid; its mappings whose name holds needle; -1 on error. */
int vt_fd_count(pid_t pid);
int vt_map_count(pid_t pid, const char *needle);

double vt_now(void); /* CLOCK_MONOTONIC, seconds */
void vt_msleep(unsigned ms);
/* Poll cond every 5 ms for up to ms; true once it holds. */
#define VT_WAIT_UNTIL(cond, ms) ({ \
	double vt_end_ = vt_now() + (ms) / 1000.0; \
	bool vt_ok_; \
	while (!(vt_ok_ = (cond)) && vt_now() < vt_end_) \
		vt_msleep(5); \
	vt_ok_; \
})

#endif
