/* lib/server/chan_splice.c - READ replies spliced from a file to a stream socket
 * through a worker's pipe, so the payload is never copied by the server. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sgfuse/proto.h>
#include "chan_stream.h"

/* Empty n bytes out of a pipe that holds them, so it can be used again. */
static void empty_pipe(const struct sgf_splice_pipe *p, size_t n)
{
	char sink[4096];

	while (n) {
		ssize_t r = read(p->fd[0], sink, n < sizeof(sink) ? n : sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		n -= (size_t)r;
	}
}

/* Splice up to len bytes of fd at off into the pipe; the count (short only
 * at end of file) or -EAGAIN with the pipe left empty. The pipe is written
 * non-blocking so a range that does not fit cannot hang the worker. */
static ssize_t fill_pipe(int fd, uint64_t off, size_t len, const struct sgf_splice_pipe *p)
{
	size_t got = 0;

	while (got < len) {
		loff_t o = (loff_t)(off + got);
		ssize_t n = splice(fd, &o, p->fd[1], NULL, len - got, SPLICE_F_NONBLOCK);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			empty_pipe(p, got);
			return -EAGAIN;
		}
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Move n bytes from the pipe to the socket. splice has no MSG_NOSIGNAL, so
 * SIGPIPE is held back in this thread and a pending one taken away: a
 * library must not kill its process when a peer leaves. */
static int drain_pipe_to_socket(struct sgf_chan *ch, const struct sgf_splice_pipe *p,
				size_t *left)
{
	sigset_t pipe_sig, old;
	int err = 0;

	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_sig, &old);
	while (*left) {
		ssize_t r = splice(p->fd[0], NULL, ch->fd, NULL, *left, SPLICE_F_MOVE);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r == 0 ? -EIO : -errno;
			break;
		}
		*left -= (size_t)r;
	}
	if (err == -EPIPE && !sigismember(&old, SIGPIPE)) {
		struct timespec zero = { 0, 0 };
		while (sigtimedwait(&pipe_sig, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

ssize_t sgf_stream_send_spliced(struct sgf_chan *base, void *hdr, size_t hdr_len, int fd,
				uint64_t off, size_t len, const struct sgf_splice_pipe *p)
{
	struct sgf_stream *ch = (struct sgf_stream *)base;
	struct fuse_out_header *oh = hdr;
	struct iovec iov = { hdr, hdr_len };
	ssize_t got;
	size_t left;
	int err;

	if (hdr_len < sizeof(*oh) || len > UINT32_MAX - hdr_len)
		return -EINVAL;
	if (sgf_pages_spanned((uintptr_t)off, len) > p->slots)
		return -EAGAIN;
	/* Read first, outside the send lock: the header must carry the true
	 * length, which a short file only tells by the splice's count. */
	got = fill_pipe(fd, off, len, p);
	if (got < 0)
		return got;
	oh->len = (uint32_t)(hdr_len + (size_t)got);
	left = (size_t)got;
	pthread_mutex_lock(&ch->send_lock);
	err = sgf_stream_send_locked(ch, &iov, 1);
	if (err == 0)
		err = drain_pipe_to_socket(base, p, &left);
	pthread_mutex_unlock(&ch->send_lock);
	if (err == 0)
		return got;
	empty_pipe(p, left); /* exactly what stayed behind */
	if (err == -EPIPE || err == -ECONNRESET || err == -ENODEV)
		return -ENODEV;
	/* Part of a message went out: the peer could not find the next one. */
	sgf_stream_break(ch);
	return err;
}
