/* lib/server/vhost_queue.c - one virtqueue of the vhost-user-fs backend:
 * its workers take turns waiting for the guest's kick, pop a descriptor
 * chain, and hand it to the session as a FUSE request whose WRITE payload
 * stays in guest memory and whose READ data is read straight into the
 * chain's writable buffers (zero copies here). The queue is the requests'
 * channel: a reply is written into the chain's writable part, the chain
 * is pushed to the used ring and the guest interrupted, from whichever
 * thread answers. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "session.h"
#include "vhost.h"

/* Copy up to len bytes out of iov[0..n) into buf; returns the bytes. */
static size_t gather(const struct iovec *iov, unsigned n, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
		memcpy((char *)buf + done, iov[i].iov_base, k);
		done += k;
	}
	return done;
}

/* Step iov[0..*n) past skip bytes in place: the first entries are dropped
 * or shortened. Returns the first entry left. */
static struct iovec *skip_bytes(struct iovec *iov, unsigned *n, size_t skip)
{
	while (*n > 0 && skip >= iov->iov_len) {
		skip -= iov->iov_len;
		iov++, (*n)--;
	}
	if (*n > 0) {
		iov->iov_base = (char *)iov->iov_base + skip;
		iov->iov_len -= skip;
	}
	return iov;
}

/* ---- the used ring ---------------------------------------------------- */

/* The slot back to the free list; vq->lock held. */
static void free_slot_locked(struct vhost_queue *vq, struct vhost_slot *s)
{
	s->next_free = vq->free_slots;
	vq->free_slots = s;
	if (--vq->slots_busy == 0)
		pthread_cond_broadcast(&vq->idle);
}

/* Give the chain back with len bytes written, interrupt the guest if it
 * wants, free the slot (unless its worker still holds it). Dropped once
 * the queue stopped. */
static void push(struct vhost_queue *vq, struct vhost_slot *s, uint32_t len)
{
	bool notify = false;
	int fd;

	pthread_mutex_lock(&vq->lock);
	s->replied = true;
	if (!vq->stopped && sgf_vq_push(&vq->ring, s->head, len) == 0)
		notify = sgf_vq_dev_should_notify(&vq->ring);
	fd = vq->call_fd;
	if (notify && fd >= 0 && eventfd_write(fd, 1) != 0) {
	}
	if (!s->held)
		free_slot_locked(vq, s);
	pthread_mutex_unlock(&vq->lock);
}

/* The worker is done looking at s (the session returned): whether a reply
 * was pushed meanwhile, in which case the slot is freed here. A slot
 * freed by the push itself could already serve another chain, whose
 * replied flag the worker would then read as its own. */
static bool let_go(struct vhost_queue *vq, struct vhost_slot *s)
{
	pthread_mutex_lock(&vq->lock);
	bool replied = s->replied;
	s->held = false;
	if (replied)
		free_slot_locked(vq, s);
	pthread_mutex_unlock(&vq->lock);
	return replied;
}

/* The channel's send: write the reply into the chain's writable buffers.
 * An iovec with a NULL base is data the operation already wrote in place
 * (a READ into read_dst): skipped over, not copied. A reply that does not
 * fit the chain is replaced by an EIO header when that fits, else nothing
 * is written; the chain goes back either way. */
static int queue_send(struct sgf_chan *ch, void *slot, const struct iovec *iov, int iovcnt)
{
	struct vhost_queue *vq = (struct vhost_queue *)ch;
	struct vhost_slot *s = slot;
	size_t total = 0, done = 0;
	unsigned wi = 0;
	size_t woff = 0;

	if (s == NULL)
		return -EOPNOTSUPP; /* virtio-fs has no notification queue here */
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > s->wr_bytes || total < sizeof(struct fuse_out_header)) {
		struct fuse_out_header oh;
		memcpy(&oh, iov[0].iov_base, sizeof(oh));
		oh.len = sizeof(oh);
		oh.error = -EIO;
		if (s->wr_bytes < sizeof(oh)) {
			push(vq, s, 0);
			return -EMSGSIZE;
		}
		struct iovec one = { &oh, sizeof(oh) };
		queue_send(ch, slot, &one, 1);
		return -EMSGSIZE;
	}
	for (int i = 0; i < iovcnt; i++) {
		size_t left = iov[i].iov_len, from = 0;
		while (left > 0) {
			size_t room = s->wr[wi].iov_len - woff;
			size_t k = left < room ? left : room;
			if (iov[i].iov_base)
				memcpy((char *)s->wr[wi].iov_base + woff,
				       (const char *)iov[i].iov_base + from, k);
			from += k, left -= k, woff += k, done += k;
			if (woff == s->wr[wi].iov_len)
				wi++, woff = 0;
		}
	}
	push(vq, s, (uint32_t)done);
	return 0;
}

static void queue_shutdown(struct sgf_chan *ch)
{
	(void)ch;
}

static const struct sgf_chan_ops queue_ops = {
	.send = queue_send,
	.shutdown = queue_shutdown,
};

/* ---- workers ---------------------------------------------------------- */

static struct vhost_slot *take_slot(struct vhost_queue *vq)
{
	struct vhost_slot *s;

	pthread_mutex_lock(&vq->lock);
	s = vq->free_slots;
	if (s) {
		vq->free_slots = s->next_free;
		vq->slots_busy++;
	}
	pthread_mutex_unlock(&vq->lock);
	return s;
}

static void give_slot(struct vhost_queue *vq, struct vhost_slot *s)
{
	pthread_mutex_lock(&vq->lock);
	free_slot_locked(vq, s);
	pthread_mutex_unlock(&vq->lock);
}

static void report_broken(struct vhost_queue *vq, int err)
{
	if (atomic_exchange(&vq->reported, true))
		return;
	fprintf(stderr, "sgfuse: vhost-user queue %u: the guest's ring is malformed (%s); "
			"queue stopped\n", vq->index, strerror(-err));
	if (vq->err_fd >= 0 && eventfd_write(vq->err_fd, 1) != 0) {
	}
}

/* Wait for a kick (or the stop); the caller holds poll_lock. */
static void wait_kick(struct vhost_queue *vq)
{
	struct pollfd p[2] = { { vq->kick_fd, POLLIN, 0 }, { vq->wake_fd, POLLIN, 0 } };
	eventfd_t v;

	if (poll(p, 2, -1) > 0 && (p[0].revents & POLLIN))
		(void)eventfd_read(vq->kick_fd, &v);
}

/* Pop the next chain into s, waiting for it. 1: got one; 0: stop; a chain
 * error: pushed back here already, try again. The caller holds poll_lock. */
static int next_chain(struct vhost_queue *vq, struct vhost_slot *s)
{
	struct sgf_vq_elem e = { .rd = s->rd, .rd_max = vq->iov_per,
				 .wr = s->wr, .wr_max = vq->iov_per };

	while (!atomic_load(&vq->stop)) {
		pthread_mutex_lock(&vq->lock);
		int r = vq->ring.broken ? -EIO : sgf_vq_pop(&vq->ring, &e);
		bool more = false, broken = vq->ring.broken;
		/* A chain after the session's DESTROY belongs to the next
		 * session (a remount's INIT comes at once): it stays in the
		 * ring for the queues restarted with that one. Looked at after
		 * the pop: a guest that saw the DESTROY reply before adding
		 * the chain made the exit visible to us with it. */
		bool ended = r == 1 && sgf_session_exited(vq->se);
		if (ended)
			sgf_vq_unpop(&vq->ring);
		if (r == 0)
			more = sgf_vq_dev_set_notify(&vq->ring, true);
		pthread_mutex_unlock(&vq->lock);
		if (ended)
			return 0;
		if (r == 1) {
			s->head = e.head;
			s->rd_n = e.rd_n, s->wr_n = e.wr_n, s->wr_bytes = e.wr_bytes;
			return 1;
		}
		if (r < 0 && broken) {
			report_broken(vq, r);
			while (!atomic_load(&vq->stop))
				wait_kick(vq);
			return 0;
		}
		if (r < 0) {
			/* Only this chain is bad: give it back empty. */
			sgf_stat_inc(&vq->se->stats.malformed, 1);
			pthread_mutex_lock(&vq->lock);
			if (!vq->stopped && sgf_vq_push(&vq->ring, e.head, 0) == 0 &&
			    sgf_vq_dev_should_notify(&vq->ring) && vq->call_fd >= 0 &&
			    eventfd_write(vq->call_fd, 1) != 0) {
			}
			pthread_mutex_unlock(&vq->lock);
			continue;
		}
		if (!more)
			wait_kick(vq);
		pthread_mutex_lock(&vq->lock);
		sgf_vq_dev_set_notify(&vq->ring, false);
		pthread_mutex_unlock(&vq->lock);
	}
	return 0;
}

/* Serve one chain as a FUSE request in q. */
static void serve_chain(struct vhost_queue *vq, struct vhost_slot *s, struct sgf_request *q)
{
	struct sgf_session *se = vq->se;
	struct fuse_in_header h;
	size_t fixed = sizeof(h) + sizeof(struct fuse_write_in);
	size_t len;
	int ret;

	s->replied = false;
	q->ext_write = NULL, q->ext_write_n = 0, q->ext_write_len = 0;
	q->ext_read = NULL, q->ext_read_n = 0;
	if (gather(s->rd, s->rd_n, &h, sizeof(h)) < sizeof(h)) {
		/* No header: nobody to answer; the chain goes back empty,
		 * the request buffer to the pool. */
		sgf_stat_inc(&se->stats.malformed, 1);
		push(vq, s, 0);
		sgf_pool_put(q);
		return;
	}
	uint32_t rd_bytes = 0;
	for (unsigned i = 0; i < s->rd_n; i++)
		rd_bytes += (uint32_t)s->rd[i].iov_len;
	if (h.opcode == FUSE_WRITE && rd_bytes > fixed) {
		/* Header and fuse_write_in here, the payload where it is. */
		unsigned n = s->rd_n;
		len = gather(s->rd, n, q->recv_buf, fixed);
		struct iovec *rest = skip_bytes(s->rd, &n, fixed);
		q->ext_write = rest;
		q->ext_write_n = (int)n;
		q->ext_write_len = rd_bytes - fixed;
	} else if (rd_bytes <= q->recv_size) {
		len = gather(s->rd, s->rd_n, q->recv_buf, rd_bytes);
	} else {
		/* Too big for any request of ours: the header alone fails
		 * validation and is answered with an error. */
		len = gather(s->rd, s->rd_n, q->recv_buf, sizeof(h));
	}
	if (h.opcode == FUSE_READ && s->wr_bytes > sizeof(struct fuse_out_header)) {
		unsigned n = s->wr_n;
		memcpy(s->read_dst, s->wr, n * sizeof(*s->wr));
		q->ext_read = skip_bytes(s->read_dst, &n, sizeof(struct fuse_out_header));
		q->ext_read_n = (int)n;
	}
	q->slot = s;
	s->held = true;
	ret = sgf_session_handle(se, &vq->ch, q, len, NULL);
	bool replied = let_go(vq, s);
	if (ret != SGF_KEPT) {
		/* Answered, or never to be (FORGET): the chain goes back. */
		if (!replied)
			push(vq, s, 0);
		sgf_pool_put(q);
	}
	if (sgf_session_exited(se))
		sgf_vhost_dev_session_ended(vq->dev);
}

static void *worker_main(void *arg)
{
	struct vhost_queue *vq = arg;
	struct sgf_session *se = vq->se;

	while (!atomic_load(&vq->stop)) {
		struct sgf_request *q = sgf_pool_get_unless(se, &vq->stop);
		if (q == NULL)
			break;
		struct vhost_slot *s = take_slot(vq);
		if (s == NULL) { /* cannot be: a slot per pool request */
			sgf_pool_put(q);
			break;
		}
		pthread_mutex_lock(&vq->poll_lock);
		int got = next_chain(vq, s);
		pthread_mutex_unlock(&vq->poll_lock);
		if (got != 1) {
			give_slot(vq, s);
			sgf_pool_put(q);
			break;
		}
		serve_chain(vq, s, q);
	}
	return NULL;
}

/* ---- life cycle ------------------------------------------------------- */

int sgf_vhost_queue_init(struct vhost_queue *vq, struct vhost_dev *dev, unsigned index)
{
	memset(vq, 0, sizeof(*vq));
	vq->dev = dev;
	vq->index = index;
	vq->kick_fd = vq->call_fd = vq->err_fd = -1;
	vq->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->wake_fd < 0)
		return -errno;
	vq->ch.ops = &queue_ops;
	vq->ch.fd = -1;
	vq->ch.wake_fd = -1;
	vq->ch.shut = &vq->ch.shut_own;
	pthread_mutex_init(&vq->lock, NULL);
	pthread_mutex_init(&vq->poll_lock, NULL);
	pthread_cond_init(&vq->idle, NULL);
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void sgf_vhost_queue_fini(struct vhost_queue *vq)
{
	close_fd(&vq->kick_fd);
	close_fd(&vq->call_fd);
	close_fd(&vq->err_fd);
	close_fd(&vq->wake_fd);
	pthread_cond_destroy(&vq->idle);
	pthread_mutex_destroy(&vq->poll_lock);
	pthread_mutex_destroy(&vq->lock);
}

static int alloc_slots(struct vhost_queue *vq, unsigned nslots, unsigned num)
{
	/* A chain has at most num descriptors, and a descriptor across
	 * adjacent regions becomes one iovec per region. */
	vq->iov_per = num + SGF_VQ_MEM_MAX_REGIONS;
	vq->slots = calloc(nslots, sizeof(*vq->slots));
	vq->iov_mem = calloc((size_t)nslots * 3 * vq->iov_per, sizeof(struct iovec));
	if (vq->slots == NULL || vq->iov_mem == NULL) {
		free(vq->slots), free(vq->iov_mem);
		vq->slots = NULL, vq->iov_mem = NULL;
		return -ENOMEM;
	}
	vq->nslots = nslots;
	vq->free_slots = NULL;
	for (unsigned i = 0; i < nslots; i++) {
		struct vhost_slot *s = &vq->slots[i];
		struct iovec *base = vq->iov_mem + (size_t)i * 3 * vq->iov_per;
		s->vq = vq;
		s->rd = base, s->wr = base + vq->iov_per, s->read_dst = base + 2 * vq->iov_per;
		s->next_free = vq->free_slots;
		vq->free_slots = s;
	}
	return 0;
}

int sgf_vhost_queue_start(struct vhost_queue *vq, const struct sgf_vq_mem *mem,
			  const struct sgf_vq_addr *a, struct sgf_session *se, unsigned nthreads)
{
	eventfd_t v;
	int err;

	/* One slot per request the session can hold (a worker takes a
	 * request before a slot, so slots never run out first); they live
	 * as long as the session, since a late answer may hold one. */
	if (vq->slots && (vq->se != se || vq->iov_per != a->num + SGF_VQ_MEM_MAX_REGIONS)) {
		if (vq->slots_busy > 0)
			return -EBUSY;
		sgf_vhost_queue_release(vq);
	}
	if (vq->slots == NULL && (err = alloc_slots(vq, se->nreqs, a->num)) != 0)
		return err;
	vq->threads = calloc(nthreads, sizeof(*vq->threads));
	if (vq->threads == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&vq->lock);
	err = sgf_vq_dev_init(&vq->ring, mem, a);
	if (err == 0) {
		vq->se = se;
		vq->stopped = false;
		/* Kicks are off while workers poll the ring; the one that
		 * finds it empty turns them on before sleeping. */
		sgf_vq_dev_set_notify(&vq->ring, false);
	}
	pthread_mutex_unlock(&vq->lock);
	if (err) {
		free(vq->threads);
		vq->threads = NULL;
		return err;
	}
	(void)eventfd_read(vq->wake_fd, &v);
	atomic_store(&vq->stop, false);
	atomic_store(&vq->reported, false);
	vq->started = true;
	for (vq->nthreads = 0; vq->nthreads < nthreads; vq->nthreads++) {
		err = -pthread_create(&vq->threads[vq->nthreads], NULL, worker_main, vq);
		if (err)
			break;
	}
	if (vq->nthreads == 0) {
		sgf_vhost_queue_stop(vq, 0);
		return err;
	}
	/* A kick that came before the workers: look at the ring at once. */
	if (eventfd_write(vq->kick_fd, 1) != 0) {
	}
	return 0;
}

void sgf_vhost_queue_stop(struct vhost_queue *vq, unsigned wait_ms)
{
	struct timespec until;

	if (!vq->started)
		return;
	atomic_store(&vq->stop, true);
	if (eventfd_write(vq->wake_fd, 1) != 0) {
	}
	sgf_pool_wake(vq->se);
	for (unsigned i = 0; i < vq->nthreads; i++)
		pthread_join(vq->threads[i], NULL);
	free(vq->threads);
	vq->threads = NULL;
	vq->nthreads = 0;
	/* Chains kept by the filesystem may still be answered; give them a
	 * moment, then drop their answers (the guest is resetting us). */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L)
		until.tv_sec++, until.tv_nsec -= 1000000000L;
	pthread_mutex_lock(&vq->lock);
	while (vq->slots_busy > 0 &&
	       pthread_cond_timedwait(&vq->idle, &vq->lock, &until) == 0)
		;
	vq->stopped = true;
	vq->base = vq->ring.last_avail;
	pthread_mutex_unlock(&vq->lock);
	vq->started = false;
}

/* Slots of a stopped queue that a late answer may still hold are freed
 * with the queue's memory: only when nothing can answer any more. */
void sgf_vhost_queue_release(struct vhost_queue *vq)
{
	free(vq->slots), free(vq->iov_mem);
	vq->slots = NULL, vq->iov_mem = NULL;
	vq->nslots = 0;
}

void sgf_vhost_queue_set_call(struct vhost_queue *vq, int fd)
{
	int old;

	pthread_mutex_lock(&vq->lock);
	old = vq->call_fd;
	vq->call_fd = fd;
	pthread_mutex_unlock(&vq->lock);
	if (old >= 0)
		close(old);
}
