/* tools/daemon_listen.c - sgfuse-passthrough --listen: serve the backing
 * directory to FUSE requesters on a Unix stream socket. Every connection is
 * its own session (own INIT, own inode table) served by its own workers. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/loop.h>
#include <sgfuse/passthrough.h>
#include "daemon.h"

#define PROG "sgfuse-passthrough"
/* Each connection costs its workers' buffers (about max_write each), so a
 * peer may not open them without bound. */
#define MAX_CONNECTIONS 128
#define ACCEPT_PAUSE_MS 100

struct server;

struct conn {
	struct conn *next;
	struct server *srv;
	struct sgf_passthrough *pt;
	struct sgf_session *se;
	struct sgf_chan *ch;
	struct sgf_loop *loop;
};

struct server {
	const struct sgf_daemon_args *args;
	pthread_mutex_t lock;
	pthread_cond_t idle;    /* signalled when a connection goes away */
	struct conn *conns;     /* live connections */
	unsigned nconns;
	struct sgf_stats ended; /* totals of connections that ended */
};

static void conn_free(struct conn *c)
{
	sgf_session_destroy(c->se);
	sgf_chan_free(c->ch);
	sgf_passthrough_free(c->pt);
	free(c);
}

/* Waits for a connection's workers, folds its statistics into the server's
 * totals and frees it. */
static void *conn_reaper(void *arg)
{
	struct conn *c = arg, **pp;
	struct server *srv = c->srv;
	int err = sgf_loop_join(c->loop);

	if (err)
		fprintf(stderr, PROG ": connection ended: %s\n", strerror(-err));
	pthread_mutex_lock(&srv->lock);
	for (pp = &srv->conns; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	srv->nconns--;
	sgf_stats_merge(&srv->ended, sgf_session_stats(c->se));
	pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
	conn_free(c);
	return NULL;
}

/* The socket file is 0600, but check the peer too: a socket passed on or a
 * mode changed by hand must not let another user act as us. */
static int peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return -errno;
	return cred.uid == geteuid() || cred.uid == 0 ? 0 : -EACCES;
}

static int conn_start(struct server *srv, int fd)
{
	const struct sgf_daemon_args *a = srv->args;
	struct sgf_passthrough_opts pto = sgf_daemon_pt_opts(a);
	struct sgf_session_opts so = sgf_daemon_session_opts(a);
	struct conn *c = calloc(1, sizeof(*c));
	pthread_t reaper;
	int err;

	pthread_mutex_lock(&srv->lock);
	err = srv->nconns >= MAX_CONNECTIONS ? -EUSERS : 0;
	pthread_mutex_unlock(&srv->lock);
	if (err == 0)
		err = peer_allowed(fd);
	if (c == NULL || err) {
		free(c);
		close(fd);
		return err ? err : -ENOMEM;
	}
	c->srv = srv;
	c->ch = sgf_chan_stream_new(fd);
	if (c->ch == NULL)
		close(fd);
	if (c->ch == NULL || (c->pt = sgf_passthrough_new(a->source, &pto)) == NULL ||
	    (c->se = sgf_session_new(sgf_passthrough_ops(), c->pt, &so)) == NULL ||
	    (c->loop = sgf_loop_start(c->se, c->ch, a->threads)) == NULL) {
		err = -errno;
		conn_free(c);
		return err;
	}
	pthread_mutex_lock(&srv->lock);
	c->next = srv->conns;
	srv->conns = c;
	srv->nconns++;
	pthread_mutex_unlock(&srv->lock);
	err = -pthread_create(&reaper, NULL, conn_reaper, c);
	if (err == 0) {
		pthread_detach(reaper);
		return 0;
	}
	/* No reaper: stop this peer and reap it here. */
	sgf_chan_shutdown(c->ch);
	conn_reaper(c);
	return err;
}

static void report(struct server *srv, bool to_stderr)
{
	struct sgf_stats *all = calloc(1, sizeof(*all));

	if (all == NULL)
		return;
	pthread_mutex_lock(&srv->lock);
	sgf_stats_merge(all, &srv->ended);
	for (struct conn *c = srv->conns; c; c = c->next)
		sgf_stats_merge(all, sgf_session_stats(c->se));
	pthread_mutex_unlock(&srv->lock);
	sgf_daemon_report(srv->args, all, to_stderr);
	free(all);
}

/* Stop every connection and wait until their reapers are done. */
static void stop_all(struct server *srv)
{
	pthread_mutex_lock(&srv->lock);
	for (struct conn *c = srv->conns; c; c = c->next)
		sgf_chan_shutdown(c->ch);
	while (srv->conns)
		pthread_cond_wait(&srv->idle, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
}

/* Say why a connection was refused, at most once a second. */
static void refused(int err, time_t *last)
{
	time_t now = time(NULL);

	if (now == *last)
		return;
	*last = now;
	fprintf(stderr, PROG ": connection refused: %s\n", strerror(-err));
}

static int open_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* A socket left by a previous run may go; any other file stays. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Only our own user may connect: a peer acts with the credentials it
	 * writes in its request headers. No connection is possible before
	 * listen(), so the chmod in between leaves no window. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0600) != 0 ||
	    listen(fd, 64) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int sgf_daemon_listen(const struct sgf_daemon_args *a)
{
	const char *path = a->listen + strlen("unix:");
	struct server srv = { .args = a };
	struct sgf_passthrough *probe;
	struct sgf_passthrough_opts pto = sgf_daemon_pt_opts(a);
	int lfd, sigfd;
	time_t last_refusal = 0;

	/* Check SOURCE once up front so a bad one fails at start. */
	probe = sgf_passthrough_new(a->source, &pto);
	if (probe == NULL) {
		fprintf(stderr, PROG ": cannot serve SOURCE %s: %s\n", a->source, strerror(errno));
		return 1;
	}
	sgf_passthrough_free(probe);
	sigfd = sgf_daemon_signalfd();
	lfd = open_listener(path);
	if (sigfd < 0 || lfd < 0) {
		fprintf(stderr, PROG ": cannot listen on %s: %s\n", path,
			strerror(lfd < 0 ? -lfd : errno));
		if (sigfd >= 0)
			close(sigfd);
		return 1;
	}
	pthread_mutex_init(&srv.lock, NULL);
	pthread_cond_init(&srv.idle, NULL);
	for (;;) {
		struct pollfd pfd[2] = { { sigfd, POLLIN, 0 }, { lfd, POLLIN, 0 } };
		struct signalfd_siginfo si;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents) {
			if (read(sigfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo != SIGUSR1)
				break;
			report(&srv, a->stats);
		}
		if (pfd[1].revents) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			int err = fd < 0 ? -errno : conn_start(&srv, fd);
			if (err && err != -EINTR && err != -ECONNABORTED)
				refused(err, &last_refusal);
			/* Out of fds the listener stays readable: pause it
			 * instead of spinning. */
			if (err == -EMFILE || err == -ENFILE || err == -ENOMEM)
				poll(pfd, 1, ACCEPT_PAUSE_MS);
		}
	}
	close(lfd);
	unlink(path);
	stop_all(&srv);
	report(&srv, a->stats);
	close(sigfd);
	pthread_cond_destroy(&srv.idle);
	pthread_mutex_destroy(&srv.lock);
	return 0;
}
