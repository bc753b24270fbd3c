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

/* Drop a reference to s (vq->lock held): the worker's, or the answer's.
 * With both gone the slot is free. */
static void slot_unref_locked(struct vhost_queue *vq, struct vhost_slot *s)
{
	if (--s->refs > 0)
		return;
	s->next_free = vq->free_slots;
	vq->free_slots = s;
	if (--vq->slots_busy == 0)
		pthread_cond_broadcast(&vq->idle);
}

/* Give the chain back with len bytes written and interrupt the guest if
 * it wants; only the first call per chain does anything (it drops the
 * answer's reference). While the queue is stopped the element waits for
 * the restart (see deferred in vhost.h). */
static void push(struct vhost_queue *vq, struct vhost_slot *s, uint32_t len)
{
	pthread_mutex_lock(&vq->lock);
	if (!s->replied) {
		s->replied = true;
		if (s->gen != vq->gen) {
			/* popped from a ring the guest has reset since */
		} else if (vq->stopped) {
			if (vq->ndeferred < vq->num)
				vq->deferred[vq->ndeferred++] =
					(struct vring_used_elem){ .id = s->head, .len = len };
		} else if (sgf_vq_push(&vq->ring, s->head, len) == 0 &&
			   sgf_vq_dev_should_notify(&vq->ring) && vq->call_fd >= 0 &&
			   eventfd_write(vq->call_fd, 1) != 0) {
		}
		slot_unref_locked(vq, s);
	}
	pthread_mutex_unlock(&vq->lock);
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
		s->refs = 2; /* the worker's and the answer's */
		s->replied = false;
		s->gen = vq->gen;
	}
	pthread_mutex_unlock(&vq->lock);
	return s;
}

/* The worker is done with s (it may not touch it after this). */
static void worker_unref(struct vhost_queue *vq, struct vhost_slot *s)
{
	pthread_mutex_lock(&vq->lock);
	slot_unref_locked(vq, s);
	pthread_mutex_unlock(&vq->lock);
}

/* A slot taken but no chain popped into it. */
static void give_slot(struct vhost_queue *vq, struct vhost_slot *s)
{
	pthread_mutex_lock(&vq->lock);
	s->refs = 1;
	slot_unref_locked(vq, s);
	pthread_mutex_unlock(&vq->lock);
}

static void report_broken(struct vhost_queue *vq, int err)
{
	if (atomic_exchange(&vq->reported, true))
		return;
	fprintf(stderr, "sgfuse: vhost-user queue %u: the guest's ring is malformed (%s); "
			"queue stopped\n", vq->index, strerror(-err));
	pthread_mutex_lock(&vq->lock);
	if (vq->err_fd >= 0 && eventfd_write(vq->err_fd, 1) != 0) {
	}
	pthread_mutex_unlock(&vq->lock);
}

/* Wait for a kick (or the stop); the caller holds poll_lock. A kick fd
 * that hangs up or fails (not an eventfd the frontend keeps) would wake us
 * for ever: from then on only the stop is waited for. */
static void wait_kick(struct vhost_queue *vq)
{
	struct pollfd p[2] = { { vq->kick_dead ? -1 : vq->kick_fd, POLLIN, 0 },
			       { vq->wake_fd, POLLIN, 0 } };
	eventfd_t v;

	if (poll(p, 2, -1) <= 0)
		return;
	if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
		fprintf(stderr, "sgfuse: vhost-user queue %u: its kick fd hung up; queue idle\n",
			vq->index);
		vq->kick_dead = true;
	} else if (p[0].revents & POLLIN) {
		(void)eventfd_read(vq->kick_fd, &v);
	}
}

/* Does the chain in s start a new FUSE connection: an INIT on a request
 * queue whose session has had its INIT (or its DESTROY)? */
static bool new_connection(struct vhost_queue *vq, const struct vhost_slot *s)
{
	return vq->index > 0 && s->has_hdr && s->hdr.opcode == FUSE_INIT &&
	       (sgf_session_initialized(vq->se) || sgf_session_exited(vq->se));
}

/* Pop the next chain into s, waiting for it. 1: got one; 0: stop; a chain
 * error: pushed back here already, try again. The caller holds poll_lock. */
static int next_chain(struct vhost_queue *vq, struct vhost_slot *s)
{
	struct sgf_vq_elem e = { .rd = s->rd, .rd_max = vq->iov_per,
				 .wr = s->wr, .wr_max = vq->iov_per };

	while (!atomic_load(&vq->stop)) {
		/* After DESTROY nothing more is for this session (the next
		 * INIT belongs to the one the device starts next). */
		if (sgf_session_exited(vq->se)) {
			wait_kick(vq);
			continue;
		}
		pthread_mutex_lock(&vq->lock);
		int r = vq->ring.broken ? -EIO : sgf_vq_pop(&vq->ring, &e);
		bool more = false, broken = vq->ring.broken;
		if (r == 0)
			more = sgf_vq_dev_set_notify(&vq->ring, true);
		pthread_mutex_unlock(&vq->lock);
		if (r == 1) {
			s->head = e.head;
			s->rd_n = e.rd_n, s->wr_n = e.wr_n;
			s->rd_bytes = e.rd_bytes, s->wr_bytes = e.wr_bytes;
			/* The header once, for whoever asks what it is (the
			 * parser reads its own copy from recv_buf). */
			s->has_hdr = gather(s->rd, s->rd_n, &s->hdr, sizeof(s->hdr)) ==
				     sizeof(s->hdr);
			if (!new_connection(vq, s))
				return 1;
			/* An INIT for a session that had one: the guest's FUSE
			 * connection is a new one (a reboot, a driver reload).
			 * It goes back to the ring for the session the device
			 * starts next. */
			pthread_mutex_lock(&vq->lock);
			sgf_vq_unpop(&vq->ring);
			pthread_mutex_unlock(&vq->lock);
			sgf_session_exit(vq->se);
			sgf_vhost_dev_session_ended(vq->dev);
			continue;
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
	const struct fuse_in_header *h = &s->hdr;
	uint32_t rd_bytes = s->rd_bytes;
	size_t fixed = sizeof(*h) + sizeof(struct fuse_write_in);
	size_t len;
	int ret;

	q->ext_write = NULL, q->ext_write_n = 0, q->ext_write_len = 0;
	q->ext_read = NULL, q->ext_read_n = 0;
	if (!s->has_hdr) {
		/* No header: nobody to answer; the chain goes back empty. */
		sgf_stat_inc(&se->stats.malformed, 1);
		push(vq, s, 0);
		sgf_pool_put(q);
		return;
	}
	if (h->opcode == FUSE_WRITE && rd_bytes > fixed) {
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
		len = gather(s->rd, s->rd_n, q->recv_buf, sizeof(*h));
	}
	/* Read into the chain only when it holds all that was asked for:
	 * operations fill up to the size asked. A chain with less room is
	 * read into our buffer and answered EIO (the reply cannot fit). */
	struct fuse_read_in rin;
	if (h->opcode == FUSE_READ && len >= sizeof(*h) + sizeof(rin) &&
	    (memcpy(&rin, q->recv_buf + sizeof(*h), sizeof(rin)), true) &&
	    s->wr_bytes >= sizeof(struct fuse_out_header) &&
	    s->wr_bytes - sizeof(struct fuse_out_header) >= rin.size) {
		unsigned n = s->wr_n;
		memcpy(s->read_dst, s->wr, n * sizeof(*s->wr));
		q->ext_read = skip_bytes(s->read_dst, &n, sizeof(struct fuse_out_header));
		q->ext_read_n = (int)n;
	}
	q->slot = s;
	ret = sgf_session_handle(se, &vq->ch, q, len, NULL);
	if (ret != SGF_KEPT) {
		/* Answered, or never to be (FORGET): the chain goes back
		 * (push does nothing when the answer pushed it). */
		push(vq, s, 0);
		sgf_pool_put(q);
	}
	if (sgf_session_exited(se))
		sgf_vhost_dev_session_ended(vq->dev);
}

/* Whether the worker that just popped a chain should let another wait for
 * the next one while it serves this one: when more chains are available or
 * others are in flight (kept, or served by another worker). A lone request
 * stream (one in flight at a time) keeps the role with one thread:
 * handing it over costs a wake-up of another worker per request only for
 * it to find the ring empty and sleep again (measured over our client: a
 * third more backend CPU per GB). A chain that arrives while a lone one is
 * served waits for it; from two pending on, workers serve in parallel. */
static bool pass_role(struct vhost_queue *vq)
{
	bool pass;

	pthread_mutex_lock(&vq->lock);
	pass = vq->ring.inflight > 1 || sgf_vq_dev_has_avail(&vq->ring);
	pthread_mutex_unlock(&vq->lock);
	return pass;
}

/* A worker: a slot, the kick-waiting role, a chain, then a request buffer
 * (never a buffer while idle: a queue's idle workers would take the pool
 * from the other queues). */
static void *worker_main(void *arg)
{
	struct vhost_queue *vq = arg;
	struct sgf_session *se = vq->se;
	bool role = false; /* holds poll_lock: waits for the guest's kicks */

	while (!atomic_load(&vq->stop)) {
		struct vhost_slot *s = take_slot(vq);
		if (s == NULL) /* cannot be: a slot per request and per worker */
			break;
		if (!role)
			pthread_mutex_lock(&vq->poll_lock);
		role = true;
		if (next_chain(vq, s) != 1) {
			give_slot(vq, s);
			break;
		}
		/* Blocks while kept requests hold every buffer; the role is
		 * kept meanwhile (nobody else could serve either). */
		struct sgf_request *q = sgf_pool_get_unless(se, &vq->stop);
		if (q == NULL) {
			/* Stopping: the chain goes back to the ring for the
			 * restart (no pop since ours: we hold the role). */
			pthread_mutex_lock(&vq->lock);
			sgf_vq_unpop(&vq->ring);
			pthread_mutex_unlock(&vq->lock);
			give_slot(vq, s);
			break;
		}
		if (pass_role(vq)) {
			pthread_mutex_unlock(&vq->poll_lock);
			role = false;
		}
		serve_chain(vq, s, q);
		worker_unref(vq, s);
	}
	if (role)
		pthread_mutex_unlock(&vq->poll_lock);
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
	vq->deferred = calloc(num, sizeof(*vq->deferred));
	if (vq->slots == NULL || vq->iov_mem == NULL || vq->deferred == NULL) {
		free(vq->slots), free(vq->iov_mem), free(vq->deferred);
		vq->slots = NULL, vq->iov_mem = NULL, vq->deferred = NULL;
		return -ENOMEM;
	}
	vq->ndeferred = 0;
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

	/* A slot per request the session can hold and one per worker (which
	 * takes its slot before it waits for a chain): slots never run out
	 * first. They live as long as the session: a late answer may hold
	 * one. */
	if (vq->slots && (vq->se != se || vq->iov_per != a->num + SGF_VQ_MEM_MAX_REGIONS ||
			  vq->nslots < se->nreqs + nthreads)) {
		if (vq->slots_busy > 0)
			return -EBUSY;
		sgf_vhost_queue_release(vq);
	}
	if (vq->slots == NULL && (err = alloc_slots(vq, se->nreqs + nthreads, a->num)) != 0)
		return err;
	vq->threads = calloc(nthreads, sizeof(*vq->threads));
	if (vq->threads == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&vq->lock);
	/* Answers kept while stopped belong to this ring only if it goes on
	 * where it stopped. */
	bool resume = vq->se == se && a->last_avail == vq->stopped_base &&
		      a->desc == vq->ring_addr.desc && a->avail == vq->ring_addr.avail &&
		      a->used == vq->ring_addr.used;
	err = sgf_vq_dev_init(&vq->ring, mem, a);
	if (err == 0) {
		vq->se = se;
		vq->ring_addr = *a;
		vq->stopped = false;
		for (unsigned i = 0; resume && i < vq->ndeferred; i++)
			sgf_vq_fill(&vq->ring, (uint16_t)vq->deferred[i].id, vq->deferred[i].len);
		if (resume && vq->ndeferred) {
			sgf_vq_flush(&vq->ring);
			if (sgf_vq_dev_should_notify(&vq->ring) && vq->call_fd >= 0 &&
			    eventfd_write(vq->call_fd, 1) != 0) {
			}
		}
		vq->ndeferred = 0;
		if (!resume && vq->slots_busy > 0)
			vq->gen++; /* answers still due were for the old ring */
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
	vq->kick_dead = false;
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
	vq->base = vq->stopped_base = vq->ring.last_avail;
	pthread_mutex_unlock(&vq->lock);
	vq->started = false;
}

/* Slots of a stopped queue that a late answer may still hold are freed
 * with the queue's memory: only when nothing can answer any more. */
void sgf_vhost_queue_release(struct vhost_queue *vq)
{
	free(vq->slots), free(vq->iov_mem), free(vq->deferred);
	vq->slots = NULL, vq->iov_mem = NULL, vq->deferred = NULL;
	vq->nslots = 0;
	vq->ndeferred = 0;
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
