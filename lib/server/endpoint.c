/* lib/server/endpoint.c - where a server's requests come from: a kernel
 * mount, an fd someone else connected, or a listening Unix socket whose
 * every connection is a session of its own (own INIT, own workers, own
 * filesystem instance when opts.fs_new is set). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "mount.h"
#include "server.h"

/* Each connection costs its request buffers, so a peer may not open them
 * without bound. */
#define MAX_CONNECTIONS 128
#define ACCEPT_PAUSE_MS 100

static int single_endpoint(struct sgf_server *srv, struct sgf_chan *ch, struct sgf_conn *c)
{
	if (ch == NULL) {
		int err = -errno;
		sgf_conn_end(c);
		return err;
	}
	c->ch = ch;
	c->se->ch = ch;
	srv->single = c;
	return 0;
}

int sgf_server_mount(struct sgf_server *srv, const char *mountpoint)
{
	struct sgf_mount_opts mo;
	struct sgf_conn *c;
	int fd, err;

	if (srv == NULL || mountpoint == NULL)
		return -EINVAL;
	if (srv->ep != SGF_EP_NONE)
		return -EBUSY;
	if (access("/dev/fuse", F_OK) != 0)
		return -ENODEV;
	srv->mountpoint = realpath(mountpoint, NULL);
	if (srv->mountpoint == NULL)
		return -errno;
	/* The session (and the filesystem instance) first: a filesystem that
	 * cannot start leaves nothing mounted. */
	err = sgf_conn_new(srv, true, &c);
	if (err)
		goto fail;
	mo = (struct sgf_mount_opts){ .source = srv->opts.fsname,
				      .subtype = srv->opts.subtype,
				      .allow_other = srv->opts.allow_other,
				      .default_permissions = srv->opts.default_permissions,
				      .max_read = srv->opts.max_read,
				      .flags = (unsigned long)srv->opts.mount_flags,
				      .suid = srv->opts.suid,
				      .dev = srv->opts.dev,
				      .force_fusermount = srv->opts.force_fusermount };
	fd = sgf_mount(srv->mountpoint, &mo);
	if (fd < 0) {
		err = fd;
		sgf_conn_end(c);
		goto fail;
	}
	err = single_endpoint(srv, sgf_chan_dev_new(fd), c);
	if (err) {
		close(fd);
		sgf_unmount(srv->mountpoint);
		goto fail;
	}
	srv->ep = SGF_EP_MOUNT;
	return 0;
fail:
	free(srv->mountpoint);
	srv->mountpoint = NULL;
	return err;
}

static bool is_dev_fuse(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 &&
	       minor(st.st_rdev) == 229;
}

int sgf_server_attach(struct sgf_server *srv, int fd)
{
	struct sgf_conn *c;
	struct stat st;
	int err, type = 0;
	socklen_t len = sizeof(type);
	bool dev;

	if (srv == NULL || fd < 0 || srv->ep != SGF_EP_NONE) {
		if (fd >= 0)
			close(fd);
		return srv == NULL || fd < 0 ? -EINVAL : -EBUSY;
	}
	dev = is_dev_fuse(fd);
	if (!dev &&
	    (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	     getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)) {
		close(fd);
		return -ENOTSOCK;
	}
	err = sgf_conn_new(srv, dev, &c);
	if (err) {
		close(fd);
		return err;
	}
	err = single_endpoint(srv, dev ? sgf_chan_dev_new(fd) : sgf_chan_stream_new(fd), c);
	if (err) {
		close(fd);
		return err;
	}
	srv->ep = SGF_EP_ATTACH;
	return 0;
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
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Only our own user may connect: a peer acts with the credentials it
	 * writes in its request headers. No connection is possible before
	 * listen(), so the chmod in between leaves no window. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0600) != 0 ||
	    listen(fd, 64) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return -e;
	}
	return fd;
}

int sgf_server_listen(struct sgf_server *srv, const char *address)
{
	const char *path;
	bool vhost;
	int fd;

	if (srv == NULL || address == NULL)
		return -EINVAL;
	vhost = strncmp(address, "vhost-user:", 11) == 0;
	if (!vhost && strncmp(address, "unix:", 5) != 0)
		return -EINVAL;
	path = address + (vhost ? 11 : 5);
	if (*path == '\0')
		return -EINVAL;
	if (srv->ep != SGF_EP_NONE)
		return -EBUSY;
	srv->listen_path = strdup(path);
	if (srv->listen_path == NULL)
		return -ENOMEM;
	fd = open_listener(path);
	if (fd < 0) {
		free(srv->listen_path);
		srv->listen_path = NULL;
		return fd;
	}
	srv->listen_fd = fd;
	srv->ep = vhost ? SGF_EP_VHOST : SGF_EP_LISTEN;
	return 0;
}

/* ---- serving a listener --------------------------------------------------- */

/* Waits for a connection's workers, then ends its session. */
static void *conn_reaper(void *arg)
{
	struct sgf_conn *c = arg, **pp;
	struct sgf_server *srv = c->srv;
	int err = sgf_loop_join(c->loop);

	c->joined = true;
	c->err = err;
	if (err)
		fprintf(stderr, "sgfuse: connection ended: %s\n", strerror(-err));
	pthread_mutex_lock(&srv->lock);
	for (pp = &srv->conns; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	pthread_mutex_unlock(&srv->lock);
	sgf_conn_end(c);
	pthread_mutex_lock(&srv->lock);
	srv->nconns--;
	pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* The socket file is 0600, but check the peer too: a socket passed on or a
 * mode changed by hand must not let another user act as us. */
int sgf_peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return -errno;
	return cred.uid == geteuid() || cred.uid == 0 ? 0 : -EACCES;
}

static int conn_accept(struct sgf_server *srv, int fd)
{
	struct sgf_conn *c;
	pthread_t reaper;
	int err;

	pthread_mutex_lock(&srv->lock);
	err = srv->nconns >= MAX_CONNECTIONS ? -EUSERS : 0;
	pthread_mutex_unlock(&srv->lock);
	if (err == 0)
		err = sgf_peer_allowed(fd);
	if (err == 0)
		err = sgf_conn_new(srv, false, &c);
	if (err) {
		close(fd);
		return err;
	}
	c->ch = sgf_chan_stream_new(fd);
	if (c->ch == NULL) {
		err = -errno;
		close(fd);
		sgf_conn_end(c);
		return err;
	}
	err = sgf_conn_start(c);
	if (err) {
		sgf_conn_end(c);
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
	sgf_loop_stop(c->loop);
	conn_reaper(c);
	return err;
}

/* Say why a connection was refused, at most once a second. */
static void refused(int err, time_t *last)
{
	time_t now = time(NULL);

	if (now == *last)
		return;
	*last = now;
	fprintf(stderr, "sgfuse: connection refused: %s\n", strerror(-err));
}

/* Stop every connection and wait until their reapers are done. */
static void stop_all(struct sgf_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	for (struct sgf_conn *c = srv->conns; c; c = c->next)
		sgf_loop_stop(c->loop);
	while (srv->nconns > 0)
		pthread_cond_wait(&srv->idle, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
}

int sgf_listen_run(struct sgf_server *srv)
{
	time_t last_refusal = 0;
	int ret = 0;

	while (!atomic_load(&srv->exit_requested)) {
		struct pollfd pfd[3] = { { srv->exit_fd, POLLIN, 0 }, { srv->listen_fd, POLLIN, 0 },
					 { srv->sig_fd, POLLIN, 0 } };
		struct signalfd_siginfo si;

		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (pfd[1].revents & (POLLERR | POLLNVAL)) {
			ret = -EIO; /* the listening socket broke */
			break;
		}
		if (pfd[0].revents)
			break;
		if (pfd[2].revents && read(srv->sig_fd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGUSR1)
				break;
			sgf_server_report(srv);
		}
		if (pfd[1].revents) {
			int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			int err = fd < 0 ? -errno : conn_accept(srv, fd);
			if (err && err != -EINTR && err != -ECONNABORTED && err != -EAGAIN) {
				refused(err, &last_refusal);
				/* The listener may stay readable (out of fds,
				 * memory, ...): pause it instead of spinning. */
				poll(pfd, 1, ACCEPT_PAUSE_MS);
			}
		}
	}
	close(srv->listen_fd);
	srv->listen_fd = -1;
	unlink(srv->listen_path);
	stop_all(srv);
	return ret;
}
