/* lib/server/chan.c - what every channel kind shares: the common head, the
 * wake eventfd that shutdown writes so every receiver (on every clone) wakes,
 * and the calls that go through the kind's ops table. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "chan.h"

int sgf_chan_init(struct sgf_chan *ch, const struct sgf_chan_ops *ops, int fd,
		  const struct sgf_chan *clone_of)
{
	ch->ops = ops;
	ch->fd = fd;
	if (clone_of) {
		ch->wake_fd = clone_of->wake_fd;
		ch->shut = clone_of->shut;
		ch->owns_wake = false;
		return 0;
	}
	ch->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ch->wake_fd < 0)
		return -errno;
	ch->owns_wake = true;
	ch->shut = &ch->shut_own;
	return 0;
}

int sgf_chan_reply(struct sgf_chan *ch, void *slot, const struct iovec *iov, int iovcnt)
{
	if (iovcnt < 1 || iovcnt > SGF_SEND_IOV_MAX)
		return -EINVAL;
	return ch->ops->send(ch, slot, iov, iovcnt);
}

int sgf_chan_send(struct sgf_chan *ch, const struct iovec *iov, int iovcnt)
{
	return sgf_chan_reply(ch, NULL, iov, iovcnt);
}

struct sgf_chan *sgf_chan_clone(struct sgf_chan *ch)
{
	if (ch->ops->clone == NULL) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	return ch->ops->clone(ch);
}

void sgf_chan_shutdown(struct sgf_chan *ch)
{
	uint64_t one = 1;

	atomic_store(ch->shut, true);
	/* Never read, so it stays readable for every poller. */
	if (write(ch->wake_fd, &one, sizeof(one)) < 0) {
		/* Only EAGAIN (counter full) is possible: already readable. */
	}
	if (ch->ops->shutdown)
		ch->ops->shutdown(ch);
}

bool sgf_chan_is_shut(const struct sgf_chan *ch)
{
	return atomic_load(ch->shut);
}

int sgf_chan_wait_readable(struct sgf_chan *ch, int fd)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { ch->wake_fd, POLLIN, 0 } };

	for (;;) {
		if (atomic_load(ch->shut))
			return -ENODEV;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents || atomic_load(ch->shut))
			return -ENODEV;
		if (p[0].revents)
			return 0;
	}
}

int sgf_chan_fd(const struct sgf_chan *ch)
{
	return ch->fd;
}

void sgf_chan_free(struct sgf_chan *ch)
{
	if (ch == NULL)
		return;
	close(ch->fd);
	if (ch->owns_wake)
		close(ch->wake_fd);
	if (ch->ops->free)
		ch->ops->free(ch);
	else
		free(ch);
}
