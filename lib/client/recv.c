/* lib/client/recv.c - the stream transport's receiving: reads one reply,
 * whose header is checked against the request it names before a byte of
 * payload touches caller memory, and the payload goes straight into that
 * request's buffers. Small replies come in through a small staging buffer,
 * so one recv often brings several. Only the holder of the receive role
 * (lead.c) calls in here. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "conn.h"

static size_t staged(const struct sgf_rx *rx)
{
	return rx->tail - rx->head;
}

/* After this many polls in a row that ended in sleep anyway, polling is
 * wasted CPU: stop, but try again every SPIN_PROBE_EVERY waits. */
#define SPIN_MISSES_MAX 4u
#define SPIN_PROBE_EVERY 64u

static long elapsed_ns(const struct timespec *from, const struct timespec *to)
{
	return (long)(to->tv_sec - from->tv_sec) * 1000000000L + (to->tv_nsec - from->tv_nsec);
}

/* Poll without sleeping for up to c->spin_ns; true once readable. A reply
 * that finds us polling costs the server no wake-up, and us no sleep: on
 * a virtual machine each of those is an inter-processor interrupt and an
 * exit, several microseconds. */
static bool spin_readable(struct sgf_client *c)
{
	struct sgf_rx *rx = &c->rx;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	struct timespec t0, t;

	if (c->spin_ns == 0 || !sgf_client_alone(c))
		return false;
	if (rx->spin_misses >= SPIN_MISSES_MAX) {
		if (++rx->spin_skipped < SPIN_PROBE_EVERY)
			return false;
		rx->spin_skipped = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (poll(&p, 1, 0) != 0) {
			rx->spin_misses = 0;
			return true;  /* readable, or an error the read will report */
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (elapsed_ns(&t0, &t) < c->spin_ns && sgf_client_alone(c));
	if (rx->spin_misses < SPIN_MISSES_MAX)
		rx->spin_misses++;
	return false;
}

/* Wait until the socket is readable: poll for a while (spin_readable),
 * then sleep. We never sleep inside recv: a stream socket's readers share
 * its wait queue with its writers, so every time the server consumes one
 * of our requests, a thread asleep in recv would be woken for nothing (an
 * extra wake-up per request); poll(POLLIN) filters those out. Once the
 * deadline passes, break the connection, so reads return what is queued
 * and then end of file. */
static void wait_readable(struct sgf_client *c, const struct timespec *deadline)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	int ms = -1;

	if (deadline) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long left = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
				 (deadline->tv_nsec - now.tv_nsec) / 1000000;
		ms = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
	} else if (spin_readable(c)) {
		return;
	}
	if (poll(&p, 1, ms) == 0)
		shutdown(c->fd, SHUT_RDWR);
}

/* recvmsg that never blocks: > 0 bytes, 0 when nothing is there yet, or
 * -ENOTCONN at end of file or on error. */
static ssize_t recv_some(int fd, struct iovec *vec, int cnt)
{
	struct msghdr mh = { .msg_iov = vec, .msg_iovlen = (size_t)cnt };

	for (;;) {
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n > 0)
			return n;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -ENOTCONN;
	}
}

/* Bring more bytes into the staging buffer (moving what is left of it to
 * the front first). Returns > 0, 0 when !block and nothing is readable, or
 * -ENOTCONN at end of file or on error. Readable data is taken without a
 * poll; only an empty socket costs one. */
static ssize_t stage_more(struct sgf_client *c, bool block, const struct timespec *deadline)
{
	struct sgf_rx *rx = &c->rx;
	size_t left = staged(rx);

	if (rx->head > 0) {
		memmove(rx->buf, rx->buf + rx->head, left);
		rx->head = 0;
		rx->tail = left;
	}
	for (;;) {
		struct iovec v = { rx->buf + rx->tail, sizeof(rx->buf) - rx->tail };
		ssize_t n = recv_some(c->fd, &v, 1);
		if (n > 0)
			rx->tail += (size_t)n;
		if (n != 0 || !block)
			return n;
		wait_readable(c, deadline);
	}
}

/* Fill vec[0..cnt) exactly (entries consumed in place): staged bytes first,
 * the rest straight from the socket. 0, or -ENOTCONN. */
static int read_into(struct sgf_client *c, struct iovec *vec, int cnt,
		     const struct timespec *deadline)
{
	struct sgf_rx *rx = &c->rx;
	int i = 0;

	for (; i < cnt && staged(rx) > 0; i++) {
		size_t step = vec[i].iov_len < staged(rx) ? vec[i].iov_len : staged(rx);
		memcpy(vec[i].iov_base, rx->buf + rx->head, step);
		rx->head += step;
		vec[i].iov_base = (char *)vec[i].iov_base + step;
		vec[i].iov_len -= step;
		if (vec[i].iov_len > 0)
			break;  /* staging ran dry inside this entry */
	}
	while (i < cnt) {
		if (vec[i].iov_len == 0) {
			i++;
			continue;
		}
		ssize_t n = recv_some(c->fd, vec + i, cnt - i > IOV_MAX ? IOV_MAX : cnt - i);
		if (n < 0)
			return (int)n;
		if (n == 0) {
			wait_readable(c, deadline);
			continue;
		}
		i = sgf_iov_advance(vec, cnt, i, (size_t)n);
	}
	return 0;
}

/* Throw away n payload bytes nobody may receive; the staging buffer is the
 * sink, as nothing is left in it once the staged part is skipped. */
static int discard(struct sgf_client *c, size_t n, const struct timespec *deadline)
{
	struct sgf_rx *rx = &c->rx;
	size_t skip = n < staged(rx) ? n : staged(rx);

	rx->head += skip;
	n -= skip;
	while (n > 0) {
		struct iovec v = { rx->buf, n < sizeof(rx->buf) ? n : sizeof(rx->buf) };
		size_t step = v.iov_len;
		rx->head = rx->tail = 0;
		int r = read_into(c, &v, 1, deadline);
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

/* The slot and what it expects, looked up under the lock. The owner cannot
 * free or reuse an armed slot before it is done, and only the receive role
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
	sgf_stat_inc(&c->stats.malformed, 1);
}

/* Get the next header into oh, as mode allows. 1, 0 (none), or -ENOTCONN. */
static int next_header(struct sgf_client *c, enum sgf_rx_mode mode,
		       const struct timespec *deadline, struct fuse_out_header *oh)
{
	struct sgf_rx *rx = &c->rx;

	if (mode == SGF_RX_STAGED) {
		if (staged(rx) < sizeof(*oh))
			return 0;
		memcpy(oh, rx->buf + rx->head, sizeof(*oh));
		if (oh->len < sizeof(*oh) || staged(rx) < oh->len)
			return 0;  /* whole or not at all; bad len is for later */
	}
	while (staged(rx) < sizeof(*oh)) {
		ssize_t n = stage_more(c, mode == SGF_RX_BLOCK, deadline);
		if (n <= 0)
			return (int)n;
	}
	memcpy(oh, rx->buf + rx->head, sizeof(*oh));
	rx->head += sizeof(*oh);
	return 1;
}

/* The payload of a reply whose header matched slot s and passed the checks:
 * read it into place and derive the result. */
static int take_payload(struct sgf_client *c, struct sgf_slot *s, size_t payload,
			const struct timespec *deadline)
{
	int cnt = trim_iov(s->ex.iov, s->ex.iovcnt, payload);
	int r = read_into(c, s->ex.iov, cnt, deadline);
	if (r < 0) {
		finish(c, s, r);
		return r;
	}
	finish(c, s, sgf_reply_result(c, s, payload));
	return 1;
}

int sgf_rx_one(struct sgf_client *c, enum sgf_rx_mode mode, const struct timespec *deadline)
{
	struct fuse_out_header oh;
	int r = next_header(c, mode, deadline, &oh);

	if (r <= 0)
		return r;
	struct sgf_slot *s = oh.unique ? claim(c, oh.unique) : NULL;
	if (oh.len < sizeof(oh)) {
		/* We already read past the message's end: framing is lost. */
		malformed(c);
		if (s)
			finish(c, s, -EIO);
		return -ENOTCONN;
	}
	size_t payload = oh.len - sizeof(oh);
	if (oh.unique == 0) {  /* a notification; we subscribe to none */
		r = discard(c, payload, deadline);
		return r < 0 ? r : 1;
	}
	if (!s) {
		malformed(c);
		if (!atomic_load(&c->inited))
			return -EPROTO;
		r = discard(c, payload, deadline);
		return r < 0 ? r : 1;
	}
	int verdict = sgf_reply_judge(&s->ex, oh.error, payload);
	if (verdict < 0) {
		malformed(c);
		r = discard(c, payload, deadline);
		finish(c, s, r < 0 ? r : -EIO);
		return r < 0 ? r : 1;
	}
	if (verdict == 0) {
		finish(c, s, oh.error);
		return 1;
	}
	return take_payload(c, s, payload, deadline);
}
