/* lib/server/server.h - the server object's state, shared by server.c (life
 * cycle, run, signals, teardown) and endpoint.c (mount, listen, attach, the
 * per-connection sessions). Internal. */
#ifndef SGFUSE_SERVER_SERVER_H
#define SGFUSE_SERVER_SERVER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sgfuse/server.h>
#include "loop.h"
#include "session.h"
#include "uring.h"

/* One session being served: the endpoint's, or one socket connection's. */
struct sgf_conn {
	struct sgf_conn *next;
	struct sgf_server *srv;
	struct sgf_session *se;
	struct sgf_chan *ch;
	struct sgf_loop *loop;
	struct sgf_uring *uring; /* -o io_uring on a kernel session */
	void *fs;               /* what ops get as r->fs */
	bool fs_owned;          /* made by opts.fs_new */
	int err;                /* how serving ended */
	bool joined;            /* its workers were joined */
	bool stopped;           /* sgf_conn_stop ran */
	bool served;            /* served by other means than c->loop
				 * (vhost-user queues): destroy is due */
};

enum sgf_endpoint { SGF_EP_NONE, SGF_EP_MOUNT, SGF_EP_LISTEN, SGF_EP_ATTACH, SGF_EP_VHOST };

struct sgf_server {
	struct sgf_ops ops;     /* the caller's table, zero past its size */
	void *fs;
	struct sgf_server_opts opts;
	char *fsname, *subtype, *stats_file; /* copies of the opts' strings */
	enum sgf_endpoint ep;
	char *mountpoint;       /* mount: where, while mounted */
	int listen_fd;
	char *listen_path;
	struct sgf_conn *single; /* mount / attach: the one session */
	int exit_fd;            /* eventfd written by sgf_server_exit */
	atomic_bool exit_requested;
	bool ran;
	int sig_fd;             /* handle_signals: signalfd, else -1 */
	sigset_t old_mask;

	/* listen: live connections, and totals of the ended ones */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	struct sgf_conn *conns;
	unsigned nconns;
	struct sgf_stats ended;
};

/* Make a session (and its filesystem instance) for a new connection or
 * endpoint; the channel is added by the caller. 0 or -errno. */
int sgf_conn_new(struct sgf_server *srv, bool kernel, struct sgf_conn **out);
/* Start its workers on c->ch. 0 or -errno. */
int sgf_conn_start(struct sgf_conn *c);
/* Stop, join, answer kept requests EIO, call destroy once, release the
 * filesystem instance; the session and its channel stay (late replies to
 * its requests are refused, late notifications fail). Returns how serving ended: 0 or the first
 * worker's -errno. Again: returns the same. */
int sgf_conn_stop(struct sgf_conn *c);
/* sgf_conn_stop, then close the channel and free the session (its
 * statistics go into srv->ended first). */
int sgf_conn_end(struct sgf_conn *c);

/* Whether the peer of a Unix socket is our own user or root: 0 or -errno
 * (-EACCES). */
int sgf_peer_allowed(int fd);

/* Serve a listening socket until exit (endpoint.c). 0 or -errno. */
int sgf_listen_run(struct sgf_server *srv);

/* Write the statistics where the options say (end of run, SIGUSR1). */
void sgf_server_report(struct sgf_server *srv);

#endif
