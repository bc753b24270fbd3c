/* lib/client/vhost_recv.c - completions on the request queue, for the
 * holder of the receive role: reap a used element, check the reply in its
 * chain against the slot that sent it (the device is not trusted: ring
 * indices and lengths are checked by virtq_drv.c, the reply header here),
 * copy bounced payload out to the caller, complete the slot. Waiting polls
 * the used ring a while, then sleeps on the call eventfd and the socket,
 * whose end is the end of the backend. */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include "vhost.h"

/* As the stream transport: stop polling after this many polls in a row
 * that ended in sleep anyway, try again every SPIN_PROBE_EVERY waits. */
#define SPIN_MISSES_MAX 4u
#define SPIN_PROBE_EVERY 64u

/* Receive role only: nobody else moves last_used. */
static bool used_pending(const struct sgf_vh_queue *q)
{
	uint16_t idx = le16toh(__atomic_load_n(&q->drv.used->idx, __ATOMIC_ACQUIRE));
	return idx != q->drv.last_used;
}

static long elapsed_ns(const struct timespec *from, const struct timespec *to)
{
	return (long)(to->tv_sec - from->tv_sec) * 1000000000L + (to->tv_nsec - from->tv_nsec);
}

/* Poll the used ring (a load, no syscall) for up to c->spin_ns while we
 * are the only caller; true once something is there. */
static bool spin_used(struct sgf_client *c, const struct sgf_vh_queue *q)
{
	struct sgf_vhost *vh = c->vh;
	struct timespec t0, t;

	if (c->spin_ns == 0 || !sgf_client_alone(c))
		return false;
	if (vh->spin_misses >= SPIN_MISSES_MAX) {
		if (++vh->spin_skipped < SPIN_PROBE_EVERY)
			return false;
		vh->spin_skipped = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (used_pending(q) || atomic_load_explicit(&vh->hung_up, memory_order_relaxed)) {
			vh->spin_misses = 0;
			return true;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (elapsed_ns(&t0, &t) < c->spin_ns && sgf_client_alone(c));
	if (vh->spin_misses < SPIN_MISSES_MAX)
		vh->spin_misses++;
	return false;
}

int sgf_vh_check_socket(struct sgf_client *c)
{
	struct sgf_vhost *vh = c->vh;
	char b;

	if (atomic_load(&vh->hung_up))
		return -ENOTCONN;
	ssize_t n = recv(vh->sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n > 0) {
		/* Without a backend request channel it has nothing to tell
		 * us: a message now is a peer we cannot follow. */
		sgf_stat_inc(&c->stats.malformed, 1);
		return -EPROTO;
	}
	atomic_store(&vh->hung_up, true);
	return -ENOTCONN;
}

int sgf_vh_ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
		       (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms <= 0 ? 0 : ms > 1000000000 ? 1000000000 : (int)ms;
}

/* Sleep until the device calls, the socket stirs or the deadline passes
 * (then the connection is broken). timeout_ms -1: no deadline. */
static int sleep_used(struct sgf_client *c, const struct sgf_vh_queue *q, int timeout_ms)
{
	struct sgf_vhost *vh = c->vh;
	struct pollfd p[2] = { { .fd = q->call, .events = POLLIN },
			       { .fd = vh->sock, .events = POLLIN } };

	/* Our used_event store (made when we last reaped) before the used
	 * index load, against the device's store then load: one of us sees
	 * the other, so a used element cannot slip in unsignalled. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (used_pending(q))
		return 0;
	int n = poll(p, 2, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -ENOTCONN;
	if (n == 0) {
		atomic_store(&vh->timed_out, true);
		c->tp->hangup(c);
		return -ENOTCONN;
	}
	if (p[1].revents) {
		int r = sgf_vh_check_socket(c);
		if (r < 0)
			return r;
	}
	if (p[0].revents)
		sgf_vh_drain_eventfd(q->call);
	return 0;
}

static int wait_used(struct sgf_client *c, const struct sgf_vh_queue *q,
		     const struct timespec *deadline)
{
	if (deadline == NULL && spin_used(c, q))
		return 0;
	return sleep_used(c, q, deadline ? sgf_vh_ms_left(deadline) : -1);
}

/* The reply of the chain slot idx sent, used_len bytes written. */
static int deliver(struct sgf_client *c, unsigned idx, uint32_t used_len)
{
	struct sgf_vhost *vh = c->vh;
	struct sgf_slot *s = &c->slots[idx];
	struct sgf_vh_slot *vs = &vh->slots[idx];
	struct fuse_out_header oh;
	ssize_t result;

	/* Armed and pending: its owner waits, only we complete it. */
	pthread_mutex_lock(&c->lock);
	bool live = s->busy && s->armed && !s->done;
	pthread_mutex_unlock(&c->lock);
	if (!live)
		return 1;
	/* One copy of the header: the device may still write the page. */
	memcpy(&oh, vs->ctl + SGF_VH_CTL_REPLY, sizeof(oh));
	size_t payload = oh.len - sizeof(oh);
	int verdict = -EIO;
	if (used_len >= sizeof(oh) && oh.len == used_len && oh.unique == s->unique)
		verdict = sgf_reply_judge(&s->ex, oh.error, payload);
	if (verdict < 0) {
		sgf_stat_inc(&c->stats.malformed, 1);
		result = -EIO;
	} else if (verdict == 0) {
		result = oh.error;
	} else {
		size_t left = payload;
		for (unsigned i = 0; i < vs->npieces && left > 0; i++) {
			const struct sgf_vh_piece *pc = &vs->pieces[i];
			size_t n = pc->len < left ? pc->len : left;
			if (pc->src)
				memcpy(pc->dst, pc->src, n);
			left -= n;
		}
		result = sgf_reply_result(c, s, payload);
	}
	if (result < 0)
		sgf_stats_error(&c->stats, s->opcode);
	pthread_mutex_lock(&c->lock);
	sgf_slot_complete_locked(c, s, result);
	pthread_mutex_unlock(&c->lock);
	return 1;
}

int sgf_vh_rx_one(struct sgf_client *c, enum sgf_rx_mode mode, const struct timespec *deadline)
{
	struct sgf_vhost *vh = c->vh;
	struct sgf_vh_queue *q = &vh->q[SGF_VH_REQ];

	for (;;) {
		uint16_t head;
		uint32_t len;
		unsigned idx = 0;

		if (atomic_load(&vh->hung_up))
			return -ENOTCONN;
		pthread_mutex_lock(&q->lock);
		int r = sgf_vq_drv_get_used(&q->drv, &head, &len);
		if (r == 1) {
			idx = q->owner[head];
			/* Descriptors came free: senders short of them retry. */
			vh->room_gen++;
			if (vh->room_waiters)
				pthread_cond_broadcast(&vh->room);
		}
		pthread_mutex_unlock(&q->lock);
		if (r < 0) {
			sgf_stat_inc(&c->stats.malformed, 1);
			return -EPROTO;
		}
		if (r == 1)
			return deliver(c, idx, len);
		if (mode != SGF_RX_BLOCK)
			return 0;
		r = wait_used(c, q, deadline);
		if (r < 0)
			return r;
	}
}

int sgf_vh_wait_room(struct sgf_client *c, bool reading, unsigned long since)
{
	struct sgf_vhost *vh = c->vh;
	struct sgf_vh_queue *q = &vh->q[SGF_VH_REQ];

	if (atomic_load(&vh->hung_up))
		return -ENOTCONN;
	pthread_mutex_lock(&q->lock);
	bool freed = vh->room_gen != since;
	if (!freed && !reading) {
		/* Whoever reaps wakes us; the bound covers a receive role
		 * given up before anything was reaped. */
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_nsec += 5 * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		vh->room_waiters++;
		pthread_cond_timedwait(&vh->room, &q->lock, &dl);
		vh->room_waiters--;
	}
	pthread_mutex_unlock(&q->lock);
	/* With the receive role, wait for a completion ourselves (chains
	 * hold the descriptors, so one will come); the caller reaps it. */
	if (!freed && reading) {
		int r = sleep_used(c, q, -1);
		if (r < 0)
			return r;
	}
	return atomic_load(&vh->hung_up) ? -ENOTCONN : 0;
}
