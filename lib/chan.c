/* lib/chan.c - the two channel kinds: /dev/fuse, where one read or write is
 * one message, and a stream socket framed by the FUSE header's len. */
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
#include <sgfuse/channel.h>
#include <sgfuse/proto.h>

/* The most iovecs one message is sent from (header, args, payload). */
#define SEND_IOV_MAX 16

struct sgf_chan {
	int fd;
	bool is_dev;
	atomic_bool shut;
	/* Stream: one thread at a time holds the receive role. It keeps the
	 * role while processing what it read unless more bytes are already
	 * waiting and another thread wants the role, so a lone request stream
	 * costs no hand-off between threads, and a pipelined one is spread. */
	pthread_mutex_t recv_lock;
	pthread_cond_t role_free;
	bool role_held;
	pthread_t role_owner;
	unsigned role_waiters;
	pthread_mutex_t send_lock; /* stream: one message written at a time */
};

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

/* Read exactly n bytes from a stream; 0 at a clean EOF before any byte.
 * Waits in poll(), never inside a blocking read: a stream socket's readers
 * share its wait queue with its writers, so a thread asleep in read() would
 * be woken for nothing each time the peer drains one of our replies. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (r == 0)
			return got == 0 ? 0 : -EPROTO;
		if (r < 0) {
			struct pollfd p = { fd, POLLIN, 0 };
			if (errno == EAGAIN && poll(&p, 1, -1) >= 0)
				continue;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Drop n bytes of a message we cannot hold, keeping the stream in step. */
static int drain(int fd, size_t n)
{
	char sink[4096];

	while (n) {
		size_t k = n < sizeof(sink) ? n : sizeof(sink);
		ssize_t r = read_full(fd, sink, k);
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
	r = read_full(ch->fd, h, sizeof(*h));
	if (r == 0)
		return -ENODEV;
	if (r < 0)
		return r == -ECONNRESET ? -ENODEV : r;
	if (h->len < sizeof(*h))
		return -EPROTO; /* no way to find the next message */
	if (h->len > size) {
		int e = drain(ch->fd, h->len - sizeof(*h));
		return e ? e : -EMSGSIZE;
	}
	r = read_full(ch->fd, (char *)buf + sizeof(*h), h->len - sizeof(*h));
	if (r < 0)
		return r;
	if ((size_t)r != h->len - sizeof(*h))
		return -EPROTO;
	return (ssize_t)h->len;
}

/* Take the receive role (or find we still hold it). False once shut. */
static bool take_role(struct sgf_chan *ch)
{
	pthread_t self = pthread_self();
	bool ok;

	pthread_mutex_lock(&ch->recv_lock);
	while (ch->role_held && !pthread_equal(ch->role_owner, self) &&
	       !atomic_load(&ch->shut)) {
		ch->role_waiters++;
		pthread_cond_wait(&ch->role_free, &ch->recv_lock);
		ch->role_waiters--;
	}
	ok = !atomic_load(&ch->shut);
	if (ok) {
		ch->role_held = true;
		ch->role_owner = self;
	}
	pthread_mutex_unlock(&ch->recv_lock);
	return ok;
}

/* After a message: pass the role on if someone waits for it and the next
 * message is already arriving (or the stream ended); otherwise keep it. */
static void maybe_release_role(struct sgf_chan *ch, bool ended)
{
	int pending = 0;

	pthread_mutex_lock(&ch->recv_lock);
	if (ended || (ch->role_waiters > 0 && ioctl(ch->fd, FIONREAD, &pending) == 0 &&
		      pending > 0)) {
		ch->role_held = false;
		if (ended)
			pthread_cond_broadcast(&ch->role_free);
		else
			pthread_cond_signal(&ch->role_free);
	}
	pthread_mutex_unlock(&ch->recv_lock);
}

ssize_t sgf_chan_recv(struct sgf_chan *ch, void *buf, size_t size)
{
	ssize_t r;

	if (atomic_load(&ch->shut))
		return -ENODEV;
	if (ch->is_dev)
		return dev_recv(ch, buf, size);
	if (!take_role(ch))
		return -ENODEV;
	r = stream_recv_one(ch, buf, size);
	if (r == -ENODEV || r == -EPROTO)
		atomic_store(&ch->shut, true);
	maybe_release_role(ch, atomic_load(&ch->shut));
	return r;
}

static int stream_send_locked(struct sgf_chan *ch, const struct iovec *iov, int iovcnt)
{
	struct iovec v[SEND_IOV_MAX];
	struct msghdr mh = { .msg_iov = v, .msg_iovlen = (size_t)iovcnt };

	memcpy(v, iov, sizeof(*iov) * (size_t)iovcnt);
	while (mh.msg_iovlen) {
		ssize_t n = sendmsg(ch->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EPIPE || errno == ECONNRESET ? -ENODEV : -errno;
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
	err = stream_send_locked(ch, iov, iovcnt);
	pthread_mutex_unlock(&ch->send_lock);
	return err;
}

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

ssize_t sgf_chan_send_spliced(struct sgf_chan *ch, void *hdr, size_t hdr_len, int fd,
			      uint64_t off, size_t len, const struct sgf_splice_pipe *p)
{
	struct fuse_out_header *oh = hdr;
	struct iovec iov = { hdr, hdr_len };
	ssize_t got;
	size_t left;
	int err;

	if (ch->is_dev)
		return -EOPNOTSUPP;
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
	err = stream_send_locked(ch, &iov, 1);
	if (err == 0)
		err = drain_pipe_to_socket(ch, p, &left);
	pthread_mutex_unlock(&ch->send_lock);
	if (err == 0)
		return got;
	empty_pipe(p, left); /* exactly what stayed behind */
	if (err == -EPIPE || err == -ECONNRESET || err == -ENODEV)
		return -ENODEV;
	/* Part of a message went out: the peer could not find the next one. */
	sgf_chan_shutdown(ch);
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
