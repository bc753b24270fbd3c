/* tests/vhost_peer.h - a vhost-user-fs backend for the client's tests,
 * started and killed by the test: QEMU's virtiofsd (the default) or our
 * own sgfuse-passthrough --vhost-user, as $SGF_VHOST_PEER says, so one
 * test runs against either. A peer that cannot run here skips the test
 * (exit 77); none outlives the test, however it ends. */
#ifndef SGF_TEST_VHOST_PEER_H
#define SGF_TEST_VHOST_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define VP_SKIP 77

/* $SGF_VHOST_PEER: "virtiofsd" (default) or "sgfuse". $SGF_VHOST_DAEMON:
 * the program, by default /usr/lib/qemu/virtiofsd for virtiofsd and the
 * sgfuse_daemon argument of vp_start (meson passes sgfuse-passthrough)
 * for sgfuse. $SGF_VHOST_DEBUG=1 starts it with its debug log on (in the
 * log file, printed when a start fails). */
struct vhost_peer {
	const char *kind;      /* "virtiofsd" or "sgfuse" */
	const char *program;
	pid_t pid;             /* 0 when not running */
	char sock[108];        /* the vhost-user socket */
	char log[160];         /* its stdout and stderr */
	char address[128];     /* "vhost-user:" + sock */
	/* virtiofsd serves one frontend, then exits; sgfuse serves one after
	 * another until it is stopped. */
	bool one_session;
};

/* Serve source on sock (a path; a stale file there is removed). Returns
 * when the socket listens; exits 77 with the reason when the peer is not
 * available (unknown kind, not root for virtiofsd, no such program, or it
 * ends before listening: its log is printed). */
void vp_start(struct vhost_peer *p, const char *source, const char *sock,
	      const char *sgfuse_daemon);
/* SIGKILL and reap (nothing when not running). */
void vp_kill(struct vhost_peer *p);
/* Wait up to ms for the peer to exit by itself: its wait status, or -1
 * (then it is killed). */
int vp_wait(struct vhost_peer *p, unsigned ms);
/* SIGTERM, wait up to 5 s, then SIGKILL; its wait status. */
int vp_stop(struct vhost_peer *p);
/* Print the peer's log to stderr (after a failure). */
void vp_dump_log(const struct vhost_peer *p);

#endif
