/* lib/client/vhost_conn.c - sgf_client_connect("vhost-user:PATH"): the
 * connection to the backend's socket, the handshake and INIT under one
 * deadline, and the vhost-user transport's ops table (hangup, close, arena
 * buffers; sending and receiving are vhost_send.c and vhost_recv.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "vhost.h"

/* How long disconnect waits for each GET_VRING_BASE. */
#define SGF_VH_STOP_TIMEOUT_MS 1000u
/* Between tries while the backend's listen backlog is full. */
#define SGF_VH_CONNECT_RETRY_MS 10

static void vh_hangup(struct sgf_client *c)
{
	struct sgf_vhost *vh = c->vh;

	atomic_store(&vh->hung_up, true);
	/* Wakes a receiver in poll (the socket reads end of file) and tells
	 * the backend we are gone. */
	shutdown(vh->sock, SHUT_RDWR);
}

static void vh_close(struct sgf_client *c)
{
	if (c->vh == NULL)
		return;
	sgf_vh_stop(c->vh, SGF_VH_STOP_TIMEOUT_MS);
	sgf_vh_free(c->vh);
	c->vh = NULL;
}

static void *vh_buf_alloc(struct sgf_client *c, size_t size)
{
	return sgf_arena_alloc(&c->vh->arena, size);
}

static void vh_buf_free(struct sgf_client *c, void *p)
{
	(void)sgf_arena_free(&c->vh->arena, p);
}

static const struct sgf_transport vhost_transport = {
	.name = "vhost-user",
	.send = sgf_vh_send,
	.send_noreply = sgf_vh_send_noreply,
	.rx_one = sgf_vh_rx_one,
	.wait_room = sgf_vh_wait_room,
	.hangup = vh_hangup,
	.close = vh_close,
	.buf_alloc = vh_buf_alloc,
	.buf_free = vh_buf_free,
};

static void deadline_in(struct timespec *dl, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, dl);
	dl->tv_sec += ms / 1000;
	dl->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl->tv_nsec >= 1000000000L) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000L;
	}
}

static long ms_until(const struct timespec *dl)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(dl->tv_sec - now.tv_sec) * 1000 + (dl->tv_nsec - now.tv_nsec) / 1000000;
}

static void set_timeouts(int fd, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A blocking socket connected to path by deadline: connect(2) on a Unix
 * socket whose backlog is full would otherwise wait without bound. */
static int connect_by(const char *path, const struct timespec *dl)
{
	struct sockaddr_un addr;
	int len = sgf_unix_address(path, &addr), fd;

	if (len < 0)
		return len;
	while ((fd = sgf_unix_connect(&addr, len, true)) == -EAGAIN) {
		if (ms_until(dl) <= 0)
			return -ETIMEDOUT;
		struct timespec ts = { 0, SGF_VH_CONNECT_RETRY_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int sgf_vhost_connect(const char *path, const struct sgf_client_opts *opts,
		      struct sgf_client **out)
{
	struct sgf_client *c;
	struct timespec dl;
	int r = sgf_client_new(opts, &c);

	if (r < 0)
		return r;
	struct sgf_vhost *vh = calloc(1, sizeof(*vh));
	if (vh == NULL) {
		sgf_client_free(c);
		return -ENOMEM;
	}
	vh->sock = vh->memfd = -1;
	for (unsigned i = 0; i < SGF_VH_NQUEUES; i++)
		vh->q[i].kick = vh->q[i].call = -1;
	c->vh = vh;
	c->tp = &vhost_transport;
	/* A chain must fit its queue (vhost.h). */
	if (c->want_max_pages > SGF_VH_MAX_PAGES)
		c->want_max_pages = SGF_VH_MAX_PAGES;

	deadline_in(&dl, c->connect_timeout_ms);
	vh->sock = connect_by(path, &dl);
	r = vh->sock < 0 ? vh->sock : 0;
	if (r == 0) {
		/* Bounds a message that stops halfway; poll bounds the wait
		 * for its start. */
		set_timeouts(vh->sock, c->connect_timeout_ms);
		r = sgf_vh_setup(c, vh, &dl);
	}
	if (r == 0) {
		long left = ms_until(&dl);
		c->init_timeout_ms = left < 1 ? 1 : (unsigned)left;
		r = sgf_client_start(c);
		/* A silent device: INIT's deadline broke the connection. */
		if (r == -ENOTCONN && atomic_load(&vh->timed_out))
			r = -ETIMEDOUT;
	}
	if (r < 0) {
		sgf_client_free(c);
		return r;
	}
	set_timeouts(vh->sock, SGF_VH_STOP_TIMEOUT_MS);
	c->init_timeout_ms = 0;
	*out = c;
	return 0;
}
