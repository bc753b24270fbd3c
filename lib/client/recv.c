/* lib/client/recv.c - the receiver thread: reads each reply header, checks
 * it against the request it names before a byte of payload touches caller
 * memory, reads the payload straight into that request's buffers, and wakes
 * the owner. A dedicated thread keeps replies draining even while every
 * caller is blocked sending, so a full socket can never deadlock us. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "conn.h"

/* Read exactly n bytes into vec (consumed in place). 0, or -ENOTCONN at
 * EOF / on error. */
static int read_all(int fd, struct iovec *vec, int cnt)
{
	int i = 0;

	while (i < cnt) {
		if (vec[i].iov_len == 0) {
			i++;
			continue;
		}
		ssize_t n = readv(fd, vec + i, cnt - i > 1024 ? 1024 : cnt - i);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -ENOTCONN;
		while (n > 0 && i < cnt) {
			size_t step = (size_t)n < vec[i].iov_len ? (size_t)n : vec[i].iov_len;
			vec[i].iov_base = (char *)vec[i].iov_base + step;
			vec[i].iov_len -= step;
			n -= (ssize_t)step;
			if (vec[i].iov_len == 0)
				i++;
		}
	}
	return 0;
}

static int read_buf(int fd, void *buf, size_t n)
{
	struct iovec v = { .iov_base = buf, .iov_len = n };
	return read_all(fd, &v, 1);
}

/* Throw away n payload bytes nobody may receive. */
static int drain(int fd, size_t n)
{
	char junk[16384];

	while (n > 0) {
		size_t step = n < sizeof(junk) ? n : sizeof(junk);
		int r = read_buf(fd, junk, step);
		if (r < 0)
			return r;
		n -= step;
	}
	return 0;
}

/* Cut vec down to exactly n bytes (n <= its total); returns the entries used. */
static int trim_iov(struct iovec *vec, int cnt, size_t n)
{
	int i = 0;

	for (; i < cnt && n > 0; i++) {
		if (vec[i].iov_len > n)
			vec[i].iov_len = n;
		n -= vec[i].iov_len;
	}
	return i;
}

static bool error_in_range(int32_t error)
{
	return error <= 0 && error > -4096;
}

/* The slot and what it expects, looked up under the lock. The owner cannot
 * free or reuse an armed slot before it is done, and only this thread
 * completes slots, so the snapshot stays valid while we fill it. */
static struct sgf_slot *claim(struct sgf_client *c, uint64_t unique)
{
	pthread_mutex_lock(&c->lock);
	struct sgf_slot *s = sgf_slot_find_locked(c, unique);
	pthread_mutex_unlock(&c->lock);
	return s;
}

static void finish(struct sgf_client *c, struct sgf_slot *s, ssize_t result)
{
	if (result < 0 && result != -ENOTCONN)
		sgf_stats_error(&c->stats, s->opcode);
	pthread_mutex_lock(&c->lock);
	sgf_slot_complete_locked(c, s, result);
	pthread_mutex_unlock(&c->lock);
}

static void malformed(struct sgf_client *c)
{
	atomic_fetch_add_explicit(&c->stats.malformed, 1, memory_order_relaxed);
}

/* Handle one reply. Returns 0 to go on, or a negative errno when the stream
 * ended or can no longer be trusted. */
static int receive_one(struct sgf_client *c)
{
	struct fuse_out_header oh;

	if (read_buf(c->fd, &oh, sizeof(oh)) < 0)
		return -ENOTCONN;
	struct sgf_slot *s = oh.unique ? claim(c, oh.unique) : NULL;
	if (oh.len < sizeof(oh)) {
		/* We already read past the message's end: framing is lost. */
		malformed(c);
		if (s)
			finish(c, s, -EIO);
		return -ENOTCONN;
	}
	size_t payload = oh.len - sizeof(oh);
	if (oh.unique == 0)   /* a notification; we subscribe to none */
		return drain(c->fd, payload);
	if (!s) {
		malformed(c);
		if (!atomic_load(&c->inited))
			return -EPROTO;
		return drain(c->fd, payload);
	}
	if (!error_in_range(oh.error) || (oh.error != 0 && payload != 0) ||
	    (oh.error == 0 && (payload < s->ex.min || payload > s->ex.max))) {
		malformed(c);
		int r = drain(c->fd, payload);
		finish(c, s, r < 0 ? r : -EIO);
		return r;
	}
	if (oh.error != 0) {
		finish(c, s, oh.error);
		return 0;
	}
	int cnt = trim_iov(s->ex.iov, s->ex.iovcnt, payload);
	int r = read_all(c->fd, s->ex.iov, cnt);
	if (r < 0) {
		finish(c, s, r);
		return r;
	}
	ssize_t result = 0;
	if (s->ex.kind == SGF_RES_LEN) {
		result = (ssize_t)payload;
	} else if (s->ex.kind == SGF_RES_WRITE) {
		if (s->wout.size > s->ex.sent) {
			malformed(c);
			result = -EIO;
		} else {
			result = (ssize_t)s->wout.size;
		}
	}
	finish(c, s, result);
	return 0;
}

static void *receiver_main(void *arg)
{
	struct sgf_client *c = arg;

	while (receive_one(c) == 0)
		;
	/* Wake the peer too, so a half-open socket does not linger. */
	shutdown(c->fd, SHUT_RDWR);
	sgf_slots_fail_all(c);
	return NULL;
}

int sgf_receiver_start(struct sgf_client *c)
{
	int r = pthread_create(&c->receiver, NULL, receiver_main, c);
	if (r != 0)
		return -r;
	c->receiver_running = true;
	return 0;
}

void sgf_receiver_stop(struct sgf_client *c)
{
	if (!c->receiver_running)
		return;
	shutdown(c->fd, SHUT_RDWR);
	pthread_join(c->receiver, NULL);
	c->receiver_running = false;
}
