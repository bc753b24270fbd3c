/* lib/server/chan_stream.c - FUSE over a stream socket: messages framed by
 * the header's len (libfuse custom-io framing), one receiver at a time
 * through a sticky receive role, sends that survive partial writes. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sgfuse/proto.h>
#include "chan_stream.h"

/* Read exactly n bytes from a stream; 0 at a clean EOF before any byte.
 * Waits in poll(), never inside a blocking read: a stream socket's readers
 * share its wait queue with its writers, so a thread asleep in read() would
 * be woken for nothing each time the peer drains one of our replies. */
static ssize_t read_full(struct sgf_chan *ch, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(ch->fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (r == 0)
			return got == 0 ? 0 : -EPROTO;
		if (r < 0) {
			int err;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			err = sgf_chan_wait_readable(ch, ch->fd);
			if (err)
				return err;
			continue;
		}
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Drop n bytes of a message we cannot hold, keeping the stream in step. */
static int drain(struct sgf_chan *ch, size_t n)
{
	char sink[4096];

	while (n) {
		size_t k = n < sizeof(sink) ? n : sizeof(sink);
		ssize_t r = read_full(ch, sink, k);
		if (r <= 0)
			return r == 0 ? -EPROTO : (int)r;
		n -= k;
	}
	return 0;
}

static ssize_t stream_recv_one(struct sgf_chan *ch, void *buf, size_t size)
{
	struct fuse_in_header *h = buf;
	ssize_t r;

	if (size < sizeof(*h))
		return -EINVAL;
	r = read_full(ch, h, sizeof(*h));
	if (r == 0)
		return -ENODEV;
	if (r < 0)
		return r == -ECONNRESET ? -ENODEV : r;
	if (h->len < sizeof(*h))
		return -EPROTO; /* no way to find the next message */
	if (h->len > size) {
		int e = drain(ch, h->len - sizeof(*h));
		return e ? e : -EMSGSIZE;
	}
	r = read_full(ch, (char *)buf + sizeof(*h), h->len - sizeof(*h));
	if (r < 0)
		return r;
	if ((size_t)r != h->len - sizeof(*h))
		return -EPROTO;
	return (ssize_t)h->len;
}

/* Take the receive role (or find we still hold it). False once shut. */
static bool take_role(struct sgf_stream *ch)
{
	pthread_t self = pthread_self();
	bool ok;

	pthread_mutex_lock(&ch->recv_lock);
	while (ch->role_held && !pthread_equal(ch->role_owner, self) &&
	       !sgf_chan_is_shut(&ch->base)) {
		ch->role_waiters++;
		pthread_cond_wait(&ch->role_free, &ch->recv_lock);
		ch->role_waiters--;
	}
	ok = !sgf_chan_is_shut(&ch->base);
	if (ok) {
		ch->role_held = true;
		ch->role_owner = self;
	}
	pthread_mutex_unlock(&ch->recv_lock);
	return ok;
}

/* After a message: pass the role on if someone waits for it and the next
 * message is already arriving (or the stream ended); otherwise keep it. */
static void maybe_release_role(struct sgf_stream *ch, bool ended)
{
	int pending = 0;

	pthread_mutex_lock(&ch->recv_lock);
	if (ended || (ch->role_waiters > 0 && ioctl(ch->base.fd, FIONREAD, &pending) == 0 &&
		      pending > 0)) {
		ch->role_held = false;
		if (ended)
			pthread_cond_broadcast(&ch->role_free);
		else
			pthread_cond_signal(&ch->role_free);
	}
	pthread_mutex_unlock(&ch->recv_lock);
}

static ssize_t stream_recv(struct sgf_chan *base, void *buf, size_t size)
{
	struct sgf_stream *ch = (struct sgf_stream *)base;
	ssize_t r;

	if (!take_role(ch))
		return -ENODEV;
	r = stream_recv_one(base, buf, size);
	if (r == -ENODEV || r == -EPROTO)
		atomic_store(base->shut, true);
	maybe_release_role(ch, sgf_chan_is_shut(base));
	return r;
}

int sgf_stream_send_locked(struct sgf_stream *ch, const struct iovec *iov, int iovcnt)
{
	struct iovec v[SGF_SEND_IOV_MAX];
	struct msghdr mh = { .msg_iov = v, .msg_iovlen = (size_t)iovcnt };

	memcpy(v, iov, sizeof(*iov) * (size_t)iovcnt);
	while (mh.msg_iovlen) {
		ssize_t n = sendmsg(ch->base.fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			int err = errno == EPIPE || errno == ECONNRESET ? -ENODEV : -errno;
			if (errno == EINTR)
				continue;
			/* Part of a message out: the peer could not find the
			 * next one. Nothing more may be sent. */
			if (mh.msg_iov != v || mh.msg_iov->iov_base != iov->iov_base)
				sgf_stream_break(ch);
			return err;
		}
		/* Partial send: step over what went out. */
		while (mh.msg_iovlen && (size_t)n >= mh.msg_iov->iov_len) {
			n -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

void sgf_stream_break(struct sgf_stream *ch)
{
	shutdown(ch->base.fd, SHUT_RDWR);
	sgf_chan_shutdown(&ch->base);
}

static int stream_send(struct sgf_chan *base, void *slot, const struct iovec *iov, int iovcnt)
{
	struct sgf_stream *ch = (struct sgf_stream *)base;
	int err;

	(void)slot; /* every message goes down the one stream */
	pthread_mutex_lock(&ch->send_lock);
	err = sgf_stream_send_locked(ch, iov, iovcnt);
	pthread_mutex_unlock(&ch->send_lock);
	return err;
}

static void stream_shutdown(struct sgf_chan *base)
{
	struct sgf_stream *ch = (struct sgf_stream *)base;

	/* Reading stops; writing stays open until the channel is freed, so
	 * replies still under way, and the EIO answers to kept requests at
	 * the end of the session, reach the peer. */
	shutdown(base->fd, SHUT_RD);
	pthread_mutex_lock(&ch->recv_lock);
	pthread_cond_broadcast(&ch->role_free);
	pthread_mutex_unlock(&ch->recv_lock);
}

static void stream_free(struct sgf_chan *base)
{
	struct sgf_stream *ch = (struct sgf_stream *)base;

	pthread_mutex_destroy(&ch->recv_lock);
	pthread_cond_destroy(&ch->role_free);
	pthread_mutex_destroy(&ch->send_lock);
	free(ch);
}

static const struct sgf_chan_ops stream_ops = {
	.recv = stream_recv,
	.send = stream_send,
	.send_spliced = sgf_stream_send_spliced,
	.shutdown = stream_shutdown,
	.free = stream_free,
};

struct sgf_chan *sgf_chan_stream_new(int fd)
{
	struct sgf_stream *ch;
	int err, fl;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	/* Sends must block until whole: a socket handed over non-blocking
	 * would fail one halfway and break the framing. Receives never
	 * block anyway (MSG_DONTWAIT + poll). */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || ((fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0))
		return NULL;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return NULL;
	err = sgf_chan_init(&ch->base, &stream_ops, fd, NULL);
	if (err) {
		free(ch);
		errno = -err;
		return NULL;
	}
	pthread_mutex_init(&ch->recv_lock, NULL);
	pthread_cond_init(&ch->role_free, NULL);
	pthread_mutex_init(&ch->send_lock, NULL);
	return &ch->base;
}
