/* lib/server/server.c - the server object: creation (the ops table copied
 * by size, signals), the sessions it serves and their teardown (destroy
 * exactly once), run until the end of the session / exit / a signal, and
 * the exit call that is safe from a signal handler. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "../common/stats_priv.h"
#include "mount.h"
#include "server.h"
#include "vhost.h"

/* Copy the caller's table; ops past its end stay NULL (missing). A table
 * longer than ours is accepted only when what we do not know is empty. */
static int copy_ops(struct sgf_ops *dst, const struct sgf_ops *src, size_t size)
{
	memset(dst, 0, sizeof(*dst));
	if (size > sizeof(*dst)) {
		const unsigned char *extra = (const unsigned char *)src + sizeof(*dst);
		for (size_t i = 0; i < size - sizeof(*dst); i++)
			if (extra[i] != 0)
				return -EINVAL;
		size = sizeof(*dst);
	}
	memcpy(dst, src, size);
	return 0;
}

static int dup_opt(char **dst, const char *src)
{
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static int block_signals(struct sgf_server *srv)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &set, &srv->old_mask) != 0)
		return -EINVAL;
	sigdelset(&set, SIGPIPE); /* blocked: ignored; never read */
	srv->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (srv->sig_fd < 0) {
		int err = -errno;
		pthread_sigmask(SIG_SETMASK, &srv->old_mask, NULL);
		return err;
	}
	return 0;
}

static void restore_signals(struct sgf_server *srv)
{
	sigset_t pipe_sig;
	struct timespec zero = { 0, 0 };

	if (srv->sig_fd < 0)
		return;
	close(srv->sig_fd);
	/* A SIGPIPE held back while blocked must not kill the process once
	 * the old mask returns. */
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	if (!sigismember(&srv->old_mask, SIGPIPE))
		while (sigtimedwait(&pipe_sig, NULL, &zero) > 0)
			;
	pthread_sigmask(SIG_SETMASK, &srv->old_mask, NULL);
}

int sgf_server_new(struct sgf_server **out, const struct sgf_ops *ops, size_t ops_size,
		   void *fs, const struct sgf_server_opts *opts)
{
	struct sgf_server *srv;
	int err;

	if (out == NULL || ops == NULL)
		return -EINVAL;
	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	srv->listen_fd = -1;
	srv->sig_fd = -1;
	srv->fs = fs;
	if (opts)
		srv->opts = *opts;
	srv->opts.fsname = srv->opts.subtype = srv->opts.stats_file = NULL;
	err = copy_ops(&srv->ops, ops, ops_size);
	if (err == 0 && opts && (opts->max_write && opts->max_write < SGF_PAGE_SIZE))
		err = -EINVAL;
	if (err == 0 && opts && (opts->mount_flags & ~(uint64_t)SGF_MOUNT_FLAGS))
		err = -EINVAL;
	for (size_t i = 0; err == 0 && opts && i < sizeof(opts->reserved) / 8; i++)
		if (opts->reserved[i] != 0)
			err = -EINVAL; /* an option this library does not know */
	if (err == 0 && opts)
		err = dup_opt(&srv->fsname, opts->fsname) ?: dup_opt(&srv->subtype, opts->subtype)
			?: dup_opt(&srv->stats_file, opts->stats_file);
	if (err == 0) {
		srv->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (srv->exit_fd < 0)
			err = -errno;
	}
	if (err == 0 && srv->opts.handle_signals)
		err = block_signals(srv);
	if (err) {
		if (srv->exit_fd > 0)
			close(srv->exit_fd);
		free(srv->fsname), free(srv->subtype), free(srv->stats_file);
		free(srv);
		return err;
	}
	srv->opts.fsname = srv->fsname;
	srv->opts.subtype = srv->subtype;
	srv->opts.stats_file = srv->stats_file;
	/* The defaults, settled once for every session. */
	if (srv->opts.threads == 0)
		srv->opts.threads = sgf_default_threads();
	if (srv->opts.max_inflight == 0)
		srv->opts.max_inflight = SGF_MAX_BACKGROUND + srv->opts.threads;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->idle, NULL);
	*out = srv;
	return 0;
}

int sgf_conn_new(struct sgf_server *srv, bool kernel, struct sgf_conn **out)
{
	struct sgf_session_opts so = { .max_write = srv->opts.max_write,
				       .max_pages = srv->opts.max_pages,
				       .max_inflight = srv->opts.max_inflight,
				       .debug = srv->opts.debug,
				       .no_export = srv->opts.no_export,
				       .io_uring = srv->opts.io_uring && kernel,
				       .io_uring_depth = srv->opts.io_uring_depth,
				       .passthrough = srv->opts.passthrough };
	struct sgf_conn *c = calloc(1, sizeof(*c));
	int err;

	if (c == NULL)
		return -ENOMEM;
	c->srv = srv;
	c->fs = srv->fs;
	if (srv->opts.fs_new) {
		errno = 0;
		c->fs = srv->opts.fs_new(srv->fs);
		if (c->fs == NULL) {
			err = errno ? -errno : -EIO;
			free(c);
			return err;
		}
		c->fs_owned = true;
	}
	c->se = sgf_session_new(&srv->ops, c->fs, &so);
	if (c->se == NULL) {
		err = -errno;
		if (c->fs_owned && srv->opts.fs_free)
			srv->opts.fs_free(srv->fs, c->fs);
		free(c);
		return err;
	}
	c->se->server = srv;
	*out = c;
	return 0;
}

int sgf_conn_start(struct sgf_conn *c)
{
	c->se->ch = c->ch;
	c->loop = sgf_loop_start(c->se, c->ch, c->srv->opts.threads);
	if (c->loop == NULL)
		return -errno;
	/* The rings wait for INIT beside the workers, which keep serving
	 * /dev/fuse either way: a ring that cannot start costs no request. */
	if (c->se->opts.io_uring) {
		c->uring = sgf_uring_start(c->se, c->ch);
		if (c->uring == NULL)
			fprintf(stderr, "sgfuse: io_uring not used: cannot start its threads: %s; "
					"serving through /dev/fuse\n", strerror(errno));
	}
	return 0;
}

int sgf_conn_stop(struct sgf_conn *c)
{
	struct sgf_server *srv = c->srv;

	if (c->stopped)
		return c->err;
	c->stopped = true;
	if (c->loop && !c->joined) {
		sgf_loop_stop(c->loop);
		int err = sgf_loop_join(c->loop);
		if (c->err == 0)
			c->err = err;
	}
	sgf_uring_drain(c->uring);
	atomic_store(&c->se->ended, true);
	sgf_session_abandon_kept(c->se);
	sgf_uring_join(c->uring); /* after the EIO answers: they commit them */
	if ((c->loop || c->served) && !atomic_exchange(&c->se->destroy_called, true) &&
	    srv->ops.destroy)
		srv->ops.destroy(c->fs);
	sgf_loop_free(c->loop);
	c->loop = NULL;
	sgf_uring_free(c->uring);
	c->uring = NULL;
	/* The channel stays open with the session: a notification racing
	 * the end must find an fd that is still ours (it then fails with
	 * -ENOTCONN, the connection being gone or shut down). */
	if (c->fs_owned && srv->opts.fs_free)
		srv->opts.fs_free(srv->fs, c->fs);
	c->fs_owned = false;
	return c->err;
}

int sgf_conn_end(struct sgf_conn *c)
{
	struct sgf_server *srv = c->srv;
	int ret = sgf_conn_stop(c);

	sgf_chan_free(c->ch);
	sgf_stats_merge(&srv->ended, sgf_session_stats(c->se));
	sgf_session_destroy(c->se);
	free(c);
	return ret;
}

void sgf_server_exit(struct sgf_server *srv)
{
	uint64_t one = 1;

	if (srv == NULL)
		return;
	atomic_store(&srv->exit_requested, true);
	/* Only EAGAIN (counter full) can fail: it is readable then. */
	if (write(srv->exit_fd, &one, sizeof(one)) < 0) {
	}
}

void sgf_server_stats(struct sgf_server *srv, struct sgf_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&srv->lock);
	sgf_stats_merge(out, &srv->ended);
	if (srv->single)
		sgf_stats_merge(out, sgf_session_stats(srv->single->se));
	for (struct sgf_conn *c = srv->conns; c; c = c->next)
		sgf_stats_merge(out, sgf_session_stats(c->se));
	pthread_mutex_unlock(&srv->lock);
}

/* The filesystem's own lines (sgf_ops.stats) after the library's. */
static void fs_stats(void *arg, FILE *f)
{
	struct sgf_server *srv = arg;

	if (srv->ops.stats)
		srv->ops.stats(srv->fs, f);
}

void sgf_server_report(struct sgf_server *srv)
{
	struct sgf_stats *st;

	if (!srv->opts.stats && !srv->opts.stats_file)
		return;
	st = malloc(sizeof(*st));
	if (st == NULL)
		return;
	sgf_server_stats(srv, st);
	if (srv->opts.stats_file) {
		int err = sgf_stats_write_file_with(st, srv->opts.stats_file, fs_stats, srv);
		if (err)
			fprintf(stderr, "sgfuse: cannot write %s: %s\n", srv->opts.stats_file,
				strerror(-err));
	}
	if (srv->opts.stats) {
		fprintf(stderr, "--- sgfuse statistics ---\n");
		sgf_stats_print(st, stderr);
		fs_stats(srv, stderr);
	}
	free(st);
}

/* Has the requester gone: the kernel aborted the connection (unmounted from
 * outside), or the socket peer hung up? Polling with no events asks only
 * for POLLERR / POLLHUP. */
static bool requester_gone(const struct sgf_conn *c)
{
	struct pollfd p = { c->ch ? sgf_chan_fd(c->ch) : -1, 0, 0 };

	return c->ch != NULL && poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

/* How often the run loop looks whether a requester that left had anyone
 * left to notice it. */
#define GONE_CHECK_MS 100

/* Wait for the end: exit asked, a handled signal, the session ended on its
 * own (a worker stopped), or the requester went away while every worker
 * waits for a buffer a kept request holds. SIGUSR1 reports and waits on. */
static void wait_for_end(struct sgf_server *srv, struct sgf_conn *c)
{
	struct pollfd pfd[4] = { { srv->exit_fd, POLLIN, 0 },
				 { sgf_loop_done_fd(c->loop), POLLIN, 0 },
				 { srv->sig_fd, POLLIN, 0 },
				 { sgf_chan_fd(c->ch), 0, 0 } };

	bool gone = false;

	while (!atomic_load(&srv->exit_requested)) {
		struct signalfd_siginfo si;
		int n = poll(pfd, 4, gone ? GONE_CHECK_MS : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[0].revents || pfd[1].revents)
			return;
		if (pfd[3].revents) {
			/* Workers that can receive see the end themselves
			 * (and read what is still queued); only if every
			 * buffer is held by a kept request is nobody there. */
			gone = true;
			pfd[3].fd = -1;
		}
		if (gone && sgf_pool_exhausted(c->se))
			return;
		if (pfd[2].revents && read(srv->sig_fd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGUSR1)
				return;
			sgf_server_report(srv);
		}
	}
}

static void unmount_endpoint(struct sgf_server *srv)
{
	int err;

	if (srv->mountpoint == NULL)
		return;
	/* Unmounted from outside already: unmounting again would take away
	 * whatever is mounted there now, or was under us. */
	if (srv->single && requester_gone(srv->single)) {
		free(srv->mountpoint);
		srv->mountpoint = NULL;
		return;
	}
	/* Unmounting aborts the connection, so every worker sees ENODEV.
	 * EINVAL / ENOENT: someone unmounted it already. */
	err = sgf_unmount(srv->mountpoint);
	if (err && err != -EINVAL && err != -ENOENT)
		fprintf(stderr, "sgfuse: unmount %s: %s\n", srv->mountpoint, strerror(-err));
	free(srv->mountpoint);
	srv->mountpoint = NULL;
}

static int run_single(struct sgf_server *srv)
{
	struct sgf_conn *c = srv->single;
	int err = sgf_conn_start(c);

	if (err == 0)
		wait_for_end(srv, c);
	unmount_endpoint(srv);
	/* The session itself stays until sgf_server_destroy: a late reply to
	 * one of its requests is refused and counted, not a use after free. */
	int end_err = sgf_conn_stop(c);
	return err ? err : end_err;
}

int sgf_server_run(struct sgf_server *srv)
{
	int err;

	if (srv == NULL)
		return -EINVAL;
	if (srv->ran || srv->ep == SGF_EP_NONE)
		return srv->ran ? -EALREADY : -ENOTCONN;
	srv->ran = true;
	err = srv->ep == SGF_EP_LISTEN ? sgf_listen_run(srv)
	      : srv->ep == SGF_EP_VHOST ? sgf_vhost_run(srv)
					  : run_single(srv);
	sgf_server_report(srv);
	return err;
}

struct sgf_session *sgf_server_session(struct sgf_server *srv)
{
	return srv && srv->single ? srv->single->se : NULL;
}

void sgf_server_destroy(struct sgf_server *srv)
{
	if (srv == NULL)
		return;
	unmount_endpoint(srv);
	if (srv->single)
		sgf_conn_end(srv->single);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->listen_path);
	}
	free(srv->listen_path);
	close(srv->exit_fd);
	restore_signals(srv);
	pthread_cond_destroy(&srv->idle);
	pthread_mutex_destroy(&srv->lock);
	free(srv->fsname), free(srv->subtype), free(srv->stats_file);
	free(srv);
}
