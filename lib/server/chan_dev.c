/* lib/server/chan_dev.c - the /dev/fuse channel: one read is one request,
 * one write one reply; each worker gets a clone (FUSE_DEV_IOC_CLONE) so they
 * do not share one queue lock. The fd is non-blocking and an idle receiver
 * waits in poll() beside the wake eventfd, so shutdown wakes it. It is also
 * the only kind that registers backing files for FUSE passthrough. */
#include <errno.h>
#include <fcntl.h>
#include <sgfuse/fuse_compat.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "chan.h"

static const struct sgf_chan_ops dev_ops;

static struct sgf_chan *dev_new(int fd, const struct sgf_chan *clone_of)
{
	struct sgf_chan *ch = calloc(1, sizeof(*ch));
	int fl = fcntl(fd, F_GETFL), err;

	if (ch == NULL)
		return NULL;
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    (err = sgf_chan_init(ch, &dev_ops, fd, clone_of)) != 0) {
		err = errno;
		free(ch);
		errno = err;
		return NULL;
	}
	return ch;
}

struct sgf_chan *sgf_chan_dev_new(int fd)
{
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	return dev_new(fd, NULL);
}

static struct sgf_chan *dev_clone(struct sgf_chan *ch)
{
	uint32_t master = (uint32_t)ch->fd;
	struct sgf_chan *c;
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC), e;

	if (fd < 0)
		return NULL;
	if (ioctl(fd, FUSE_DEV_IOC_CLONE, &master) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	c = dev_new(fd, ch);
	if (c == NULL) {
		e = errno;
		close(fd);
		errno = e;
	}
	return c;
}

static ssize_t dev_recv(struct sgf_chan *ch, void *buf, size_t size)
{
	for (;;) {
		ssize_t n;
		int err;

		if (sgf_chan_is_shut(ch))
			return -ENODEV;
		/* Under load the read succeeds at once; only an idle worker
		 * pays for the poll. */
		n = read(ch->fd, buf, size);
		if (n >= 0)
			return n;
		switch (errno) {
		case EAGAIN:
			err = sgf_chan_wait_readable(ch, ch->fd);
			if (err)
				return err;
			continue;
		case ENOENT: /* request was interrupted before we got it */
			return -EAGAIN;
		default:
			return -errno;
		}
	}
}

static int dev_send(struct sgf_chan *ch, void *slot, const struct iovec *iov, int iovcnt)
{
	ssize_t n;

	(void)slot; /* every message goes to the one fd */
	n = writev(ch->fd, iov, iovcnt);

	return n < 0 ? -errno : 0;
}

/* Backing files belong to the connection, so any of its fds (the master
 * or a worker's clone) registers them. */
static int dev_backing_open(struct sgf_chan *ch, int fd)
{
	struct sgf_fuse_backing_map map = { .fd = fd };
	int id = ioctl(ch->fd, SGF_FUSE_DEV_IOC_BACKING_OPEN, &map);

	if (id < 0)
		return -errno;
	/* Id 0 is never handed out; seeing it would mean a kernel we do not
	 * understand, and an open answered with it would fail. */
	return id > 0 ? id : -EPROTO;
}

static int dev_backing_close(struct sgf_chan *ch, int id)
{
	uint32_t bid = (uint32_t)id;

	return ioctl(ch->fd, SGF_FUSE_DEV_IOC_BACKING_CLOSE, &bid) < 0 ? -errno : 0;
}

static const struct sgf_chan_ops dev_ops = {
	.recv = dev_recv,
	.send = dev_send,
	.clone = dev_clone,
	.backing_open = dev_backing_open,
	.backing_close = dev_backing_close,
};
