/* lib/client/vhost_send.c - a request as a descriptor chain: device-
 * readable header, argument and WRITE payload, then device-writable reply
 * header and reply (READ payload). Buffers inside the arena go by address,
 * without a copy; other memory is copied once, into the slot's control page
 * when small and contiguous with the header, else into its bounce space.
 * FORGET goes on the hiprio queue from a pool of small messages. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include "vhost.h"

struct chain {
	struct sgf_vhost *vh;
	struct sgf_vh_slot *vs;
	unsigned n;             /* descriptors so far, in vs->bufs */
	unsigned dir_start;     /* first descriptor of the current direction */
	size_t ctl_used, ctl_end; /* the control page half being filled */
	size_t bounce_used;
	int err;
};

static struct sgf_vq_buf *last(struct chain *ch)
{
	return ch->n > ch->dir_start ? &ch->vs->bufs[ch->n - 1] : NULL;
}

static bool ends_at(const struct sgf_vq_buf *b, uint64_t gpa)
{
	return b != NULL && b->gpa + b->len == gpa;
}

/* Append [gpa, gpa + len), growing the last descriptor when it continues
 * it: contiguous pieces cost one descriptor. */
static void emit(struct chain *ch, uint64_t gpa, size_t len)
{
	struct sgf_vq_buf *b = last(ch);

	if (ch->err)
		return;
	if (ends_at(b, gpa) && len <= UINT32_MAX - b->len) {
		b->len += (uint32_t)len;
		return;
	}
	if (len > UINT32_MAX || ch->n == ch->vs->bufcap) {
		ch->err = -E2BIG;
		return;
	}
	ch->vs->bufs[ch->n++] = (struct sgf_vq_buf){ .gpa = gpa, .len = (uint32_t)len };
}

/* Room for n bytes that must be copied: after the last descriptor when it
 * ends in the control page half and they fit (it just grows), else in the
 * bounce space, continuing the run the last descriptor ends, or starting a
 * page-aligned one (for backends doing O_DIRECT on it). A request's
 * payload needs at most max_pages pages of it that way (dio_plan.c puts at
 * most max_pages page descriptors in one). NULL when it does not fit. */
static char *place(struct chain *ch, size_t n, uint64_t *gpa)
{
	struct sgf_vh_slot *vs = ch->vs;
	const struct sgf_vq_buf *b = last(ch);

	if (ch->err)
		return NULL;
	if (ends_at(b, vs->ctl_gpa + ch->ctl_used) && n <= ch->ctl_end - ch->ctl_used) {
		*gpa = vs->ctl_gpa + ch->ctl_used;
		ch->ctl_used += n;
		return vs->ctl + (*gpa - vs->ctl_gpa);
	}
	size_t at = ch->bounce_used, size = ch->vh->lay.bounce_size;
	if (!ends_at(b, vs->bounce_gpa + at))
		at = (at + SGF_PAGE_SIZE - 1) / SGF_PAGE_SIZE * SGF_PAGE_SIZE;
	if (at > size || n > size - at) {
		ch->err = -E2BIG;
		return NULL;
	}
	ch->bounce_used = at + n;
	*gpa = vs->bounce_gpa + at;
	return vs->bounce + at;
}

static void add_readable(struct chain *ch, const void *p, size_t len)
{
	uint64_t gpa;

	if (len == 0)
		return;
	if (sgf_arena_holds(&ch->vh->arena, p, len)) {
		emit(ch, sgf_vh_gpa(ch->vh, p), len);
		return;
	}
	char *dst = place(ch, len, &gpa);
	if (dst) {
		memcpy(dst, p, len);
		emit(ch, gpa, len);
	}
}

/* A reply destination; remembered in order, for the copy out. */
static void add_writable(struct chain *ch, void *p, size_t len)
{
	struct sgf_vh_slot *vs = ch->vs;
	const void *src = NULL;
	uint64_t gpa;

	if (len == 0 || ch->err)
		return;
	if (vs->npieces == vs->piececap) {
		ch->err = -E2BIG;
		return;
	}
	if (sgf_arena_holds(&ch->vh->arena, p, len)) {
		gpa = sgf_vh_gpa(ch->vh, p);
	} else {
		src = place(ch, len, &gpa);
		if (src == NULL)
			return;
	}
	vs->pieces[vs->npieces++] = (struct sgf_vh_piece){ .dst = p, .src = src, .len = len };
	emit(ch, gpa, len);
}

void sgf_vh_kick(struct sgf_vh_queue *q)
{
	uint64_t one = 1;

	/* Only fails when the count would overflow: it is then pending. */
	if (write(q->kick, &one, sizeof(one)) < 0) {
	}
}

void sgf_vh_drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
	}
}

/* Add the chain on the request queue, waiting for descriptors while other
 * chains hold them (reaping them meanwhile if nobody else does). */
static int submit(struct sgf_client *c, unsigned idx, struct chain *ch, unsigned nrd)
{
	struct sgf_vhost *vh = c->vh;
	struct sgf_vh_queue *q = &vh->q[SGF_VH_REQ];
	struct sgf_vq_buf *b = ch->vs->bufs;

	if (ch->n > q->drv.num)
		return -E2BIG;
	for (;;) {
		uint16_t head;
		pthread_mutex_lock(&q->lock);
		int r = sgf_vq_drv_add(&q->drv, b, nrd, b + nrd, ch->n - nrd, &head);
		if (r == 0) {
			q->owner[head] = (uint16_t)idx;
			bool kick = sgf_vq_drv_should_kick(&q->drv);
			pthread_mutex_unlock(&q->lock);
			if (kick)
				sgf_vh_kick(q);
			return 0;
		}
		unsigned long gen = vh->room_gen;
		pthread_mutex_unlock(&q->lock);
		if (r != -ENOSPC)
			return r == -EIO ? -ENOTCONN : r;  /* -EIO: the ring is broken */
		if (atomic_load(&vh->hung_up))
			return -ENOTCONN;
		r = sgf_send_wait(c, gen);
		if (r < 0)
			return r;
	}
}

int sgf_vh_send(struct sgf_client *c, struct sgf_slot *s, uint32_t opcode, uint64_t nodeid,
		struct iovec *vec, int cnt)
{
	struct sgf_vhost *vh = c->vh;
	unsigned idx = (unsigned)(s - c->slots);
	struct sgf_vh_slot *vs = &vh->slots[idx];
	struct chain ch = { .vh = vh, .vs = vs, .ctl_end = SGF_VH_CTL_REPLY };
	struct fuse_in_header ih;
	uint64_t len = sizeof(ih);
	int r;

	if (atomic_load(&vh->hung_up)) {
		r = -ENOTCONN;
		goto fail;
	}
	for (int i = 1; i < cnt; i++)
		len += vec[i].iov_len;
	if (len > UINT32_MAX) {
		r = -EINVAL;
		goto fail;
	}
	sgf_in_header(c, &ih, (uint32_t)len, opcode, s->unique, nodeid);
	memcpy(vs->ctl, &ih, sizeof(ih));
	ch.ctl_used = sizeof(ih);
	emit(&ch, vs->ctl_gpa, sizeof(ih));
	for (int i = 1; i < cnt; i++)
		add_readable(&ch, vec[i].iov_base, vec[i].iov_len);
	unsigned nrd = ch.n;

	/* The reply header always at the same place, zeroed so that a device
	 * that writes nothing cannot pass off an earlier reply. */
	ch.dir_start = ch.n;
	ch.ctl_used = SGF_VH_CTL_REPLY + sizeof(struct fuse_out_header);
	ch.ctl_end = SGF_VH_CTL_SIZE;
	memset(vs->ctl + SGF_VH_CTL_REPLY, 0, sizeof(struct fuse_out_header));
	emit(&ch, vs->ctl_gpa + SGF_VH_CTL_REPLY, sizeof(struct fuse_out_header));
	vs->npieces = 0;
	/* Exactly the largest reply accepted: the device gets no room for
	 * more than we would take. */
	size_t want = s->ex.max;
	for (int i = 0; i < s->ex.iovcnt && want > 0; i++) {
		size_t n = s->ex.iov[i].iov_len < want ? s->ex.iov[i].iov_len : want;
		add_writable(&ch, s->ex.iov[i].iov_base, n);
		want -= n;
	}
	r = ch.err ? ch.err : want ? -E2BIG : 0;
	if (r == 0)
		r = submit(c, idx, &ch, nrd);
	if (r == 0)
		return 0;
fail:
	/* Nothing of s is on the queue: no reply will ever complete it. */
	if (r == -ENOTCONN)
		c->tp->hangup(c);
	/* A message too long is the caller's (as on a socket); a chain
	 * that does not fit would be ours. */
	sgf_slot_fail_unsent(c, s, r == -ENOTCONN || r == -EINVAL ? r : -EIO);
	return r;
}

/* Take back hiprio messages the device is done with. Caller holds the
 * queue's lock. 0, or -EPROTO when the device broke the ring. */
static int hp_reclaim(struct sgf_vhost *vh, struct sgf_vh_queue *q)
{
	uint16_t head;
	uint32_t len;
	int r;

	while ((r = sgf_vq_drv_get_used(&q->drv, &head, &len)) == 1)
		vh->hp_free[vh->hp_nfree++] = q->owner[head];
	return r < 0 ? -EPROTO : 0;
}

/* Wait a little for the device to use hiprio messages, or to go away:
 * 0, or -ENOTCONN / -EPROTO once the socket says the backend left or
 * broke the protocol (a readable socket would otherwise spin us). */
static int hp_wait(struct sgf_client *c, struct sgf_vhost *vh, struct sgf_vh_queue *q)
{
	struct pollfd p[2] = { { .fd = q->call, .events = POLLIN },
			       { .fd = vh->sock, .events = POLLIN } };

	if (poll(p, 2, 10) <= 0)
		return 0;
	if (p[0].revents)
		sgf_vh_drain_eventfd(q->call);
	return p[1].revents ? sgf_vh_check_socket(c) : 0;
}

/* How long a FORGET waits for a free hiprio message before it is dropped
 * (a backend that never takes them must not hold the caller for ever). */
#define HP_WAIT_MAX_MS 5000

int sgf_vh_send_noreply(struct sgf_client *c, uint64_t unique, uint32_t opcode,
			uint64_t nodeid, struct iovec *vec, int cnt)
{
	struct sgf_vhost *vh = c->vh;
	struct sgf_vh_queue *q = &vh->q[SGF_VH_HIPRIO];
	struct fuse_in_header ih;
	size_t len = sizeof(ih);
	uint16_t head;
	int r;

	for (int i = 1; i < cnt; i++)
		len += vec[i].iov_len;
	if (len > SGF_VH_HIPRIO_MSG)
		return -E2BIG;
	for (unsigned waited = 0;; waited += 10) {
		if (atomic_load(&vh->hung_up))
			return -ENOTCONN;
		pthread_mutex_lock(&q->lock);
		r = hp_reclaim(vh, q);
		if (r < 0 || vh->hp_nfree > 0)
			break;
		pthread_mutex_unlock(&q->lock);
		if (waited >= HP_WAIT_MAX_MS)
			return -ETIMEDOUT;
		r = hp_wait(c, vh, q);
		if (r < 0)
			return r;
	}
	if (r == 0) {
		uint16_t m = vh->hp_free[--vh->hp_nfree];
		char *msg = vh->mem + vh->lay.hiprio + (size_t)m * SGF_VH_HIPRIO_MSG;
		size_t at = sizeof(ih);
		sgf_in_header(c, &ih, (uint32_t)len, opcode, unique, nodeid);
		memcpy(msg, &ih, sizeof(ih));
		for (int i = 1; i < cnt; i++) {
			memcpy(msg + at, vec[i].iov_base, vec[i].iov_len);
			at += vec[i].iov_len;
		}
		struct sgf_vq_buf b = { .gpa = sgf_vh_gpa(vh, msg), .len = (uint32_t)len };
		/* One descriptor per message, and as many messages as
		 * descriptors: there is room. */
		r = sgf_vq_drv_add(&q->drv, &b, 1, NULL, 0, &head);
		if (r == 0)
			q->owner[head] = m;
		else
			vh->hp_free[vh->hp_nfree++] = m;
	}
	bool kick = r == 0 && sgf_vq_drv_should_kick(&q->drv);
	pthread_mutex_unlock(&q->lock);
	if (r < 0) {
		/* A device that breaks the hiprio ring is broken: whoever
		 * receives next fails everything. */
		sgf_stat_inc(&c->stats.malformed, 1);
		c->tp->hangup(c);
		return -ENOTCONN;
	}
	if (kick)
		sgf_vh_kick(q);
	return 0;
}
