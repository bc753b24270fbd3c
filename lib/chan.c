/* lib/chan.c - channels move whole FUSE messages: construction, /dev/fuse
 * (one read or write is one message; clones per worker), and the calls that
 * pick the stream code (chan_stream.c) or the splice path (chan_splice.c). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sgfuse/channel.h>
#include <sgfuse/proto.h>
#include "chan_priv.h"

static struct sgf_chan *chan_new(int fd, bool is_dev)
{
	struct sgf_chan *ch = calloc(1, sizeof(*ch));

	if (ch == NULL)
		return NULL;
	ch->fd = fd;
	ch->is_dev = is_dev;
	pthread_mutex_init(&ch->recv_lock, NULL);
	pthread_cond_init(&ch->role_free, NULL);
	pthread_mutex_init(&ch->send_lock, NULL);
	return ch;
}

struct sgf_chan *sgf_chan_dev_new(int fd)
{
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	return chan_new(fd, true);
}

struct sgf_chan *sgf_chan_stream_new(int fd)
{
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	return chan_new(fd, false);
}

struct sgf_chan *sgf_chan_clone(struct sgf_chan *ch)
{
	uint32_t master = (uint32_t)ch->fd;
	struct sgf_chan *c;
	int fd;

	if (!ch->is_dev) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (ioctl(fd, FUSE_DEV_IOC_CLONE, &master) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	c = chan_new(fd, true);
	if (c == NULL)
		close(fd);
	return c;
}

static ssize_t dev_recv(struct sgf_chan *ch, void *buf, size_t size)
{
	ssize_t n = read(ch->fd, buf, size);

	if (n >= 0)
		return n;
	switch (errno) {
	case ENOENT: /* request was interrupted before we got it */
		return -EAGAIN;
	case ENODEV:
		return -ENODEV;
	default:
		return -errno;
	}
}

ssize_t sgf_chan_recv(struct sgf_chan *ch, void *buf, size_t size)
{
	if (atomic_load(&ch->shut))
		return -ENODEV;
	return ch->is_dev ? dev_recv(ch, buf, size) : sgf_stream_recv(ch, buf, size);
}

int sgf_chan_send(struct sgf_chan *ch, const struct iovec *iov, int iovcnt)
{
	int err;

	if (iovcnt < 1 || iovcnt > SEND_IOV_MAX)
		return -EINVAL;
	if (ch->is_dev) {
		ssize_t n = writev(ch->fd, iov, iovcnt);
		return n < 0 ? -errno : 0;
	}
	pthread_mutex_lock(&ch->send_lock);
	err = sgf_stream_send_locked(ch, iov, iovcnt);
	pthread_mutex_unlock(&ch->send_lock);
	return err;
}

void sgf_chan_shutdown(struct sgf_chan *ch)
{
	atomic_store(&ch->shut, true);
	if (ch->is_dev)
		return;
	shutdown(ch->fd, SHUT_RDWR);
	pthread_mutex_lock(&ch->recv_lock);
	pthread_cond_broadcast(&ch->role_free);
	pthread_mutex_unlock(&ch->recv_lock);
}

int sgf_chan_fd(const struct sgf_chan *ch)
{
	return ch->fd;
}

bool sgf_chan_is_dev(const struct sgf_chan *ch)
{
	return ch->is_dev;
}

void sgf_chan_free(struct sgf_chan *ch)
{
	if (ch == NULL)
		return;
	close(ch->fd);
	pthread_mutex_destroy(&ch->recv_lock);
	pthread_cond_destroy(&ch->role_free);
	pthread_mutex_destroy(&ch->send_lock);
	free(ch);
}
