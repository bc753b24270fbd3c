/* lib/server/request.c - request ownership: the session's bounded pool of
 * request buffers, keeping a request past its operation, the one reply each
 * request gets whoever sends it, INTERRUPT lookup, and the EIO answer for
 * kept requests a session ends with.
 *
 * A request's state moves ACTIVE -> (KEPT ->) DONE by compare-and-swap, so
 * exactly one reply wins; its buffers go back to the pool when the last
 * reference (worker, keep, INTERRUPT pin) is dropped. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "session.h"

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static int request_buffers(struct sgf_request *q, struct sgf_session *se)
{
	size_t lead = SGF_PAGE_SIZE - SGF_WRITE_PAYLOAD_OFFSET;
	size_t recv = round_up(lead + sgf_session_recv_size(se), SGF_PAGE_SIZE);
	size_t reply = round_up(sgf_session_reply_size(se), SGF_PAGE_SIZE);

	/* One allocation: receive area, then the reply area, both page
	 * aligned; untouched pages cost no memory. */
	q->recv_mem = aligned_alloc(SGF_PAGE_SIZE, recv + reply);
	if (q->recv_mem == NULL)
		return -ENOMEM;
	q->recv_buf = (char *)q->recv_mem + lead;
	q->recv_size = recv - lead;
	q->reply_buf = (char *)q->recv_mem + recv;
	q->read_buf = q->reply_buf;
	return 0;
}

/* A slot request: a page for headers, then the page-aligned payload the
 * transport receives into and READ replies from, then the reply area. */
static int slot_buffers(struct sgf_request *q, struct sgf_session *se, size_t payload)
{
	size_t reply = round_up(sgf_session_reply_size(se), SGF_PAGE_SIZE);

	payload = round_up(payload, SGF_PAGE_SIZE);
	q->recv_mem = aligned_alloc(SGF_PAGE_SIZE, SGF_PAGE_SIZE + payload + reply);
	if (q->recv_mem == NULL)
		return -ENOMEM;
	q->recv_buf = q->read_buf = (char *)q->recv_mem + SGF_PAGE_SIZE;
	q->recv_size = payload;
	q->reply_buf = q->recv_buf + payload;
	return 0;
}

static void append_free(struct sgf_session *se, struct sgf_request *q)
{
	q->next_free = NULL;
	if (se->free_tail)
		se->free_tail->next_free = q;
	else
		se->free_list = q;
	se->free_tail = q;
}

int sgf_pool_init(struct sgf_session *se, unsigned n, unsigned nslots, size_t slot_payload)
{
	if (n == 0)
		n = 1;
	se->reqs = calloc(n + nslots, sizeof(*se->reqs));
	if (se->reqs == NULL)
		return -ENOMEM;
	pthread_mutex_init(&se->pool_lock, NULL);
	pthread_cond_init(&se->pool_cond, NULL);
	se->nreqs = n + nslots;
	se->nslots = nslots;
	for (unsigned i = n; i < n + nslots; i++) {
		struct sgf_request *q = &se->reqs[i];
		q->se = se;
		if (slot_buffers(q, se, slot_payload) != 0) {
			sgf_pool_free(se);
			return -ENOMEM;
		}
	}
	/* A queue: taken from the head, given back at the tail, so an
	 * answered request's buffer serves again only after every other free
	 * one did, and a stray second reply through its handle is refused
	 * for as long as possible. (A synchronous request never comes back
	 * here: its worker keeps the buffer.) */
	for (unsigned i = 0; i < n; i++) {
		struct sgf_request *q = &se->reqs[i];
		if (request_buffers(q, se) != 0) {
			sgf_pool_free(se);
			return -ENOMEM;
		}
		q->se = se;
		append_free(se, q);
	}
	return 0;
}

void sgf_pool_free(struct sgf_session *se)
{
	if (se->reqs == NULL)
		return;
	for (unsigned i = 0; i < se->nreqs; i++)
		free(se->reqs[i].recv_mem);
	free(se->reqs);
	se->reqs = NULL;
	pthread_cond_destroy(&se->pool_cond);
	pthread_mutex_destroy(&se->pool_lock);
}

struct sgf_request *sgf_pool_get(struct sgf_session *se)
{
	return sgf_pool_get_unless(se, NULL);
}

struct sgf_request *sgf_pool_get_unless(struct sgf_session *se, const atomic_bool *stop)
{
	struct sgf_request *q = NULL;

	pthread_mutex_lock(&se->pool_lock);
	while (se->free_list == NULL && !se->pool_closed && !(stop && atomic_load(stop)))
		pthread_cond_wait(&se->pool_cond, &se->pool_lock);
	if (!se->pool_closed && se->free_list) {
		q = se->free_list;
		se->free_list = q->next_free;
		if (se->free_list == NULL)
			se->free_tail = NULL;
		se->in_use++;
		sgf_stat_max(&se->stats.buffers_max, se->in_use);
		atomic_store(&q->refs, 1);
		atomic_store(&q->state, SGF_REQ_ACTIVE);
	}
	pthread_mutex_unlock(&se->pool_lock);
	return q;
}

static void put_locked(struct sgf_request *q)
{
	struct sgf_session *se = q->se;

	atomic_store(&q->state, SGF_REQ_FREE);
	atomic_store(&q->live_unique, 0);
	if (q->give_back)
		q->give_back(q);
	else
		append_free(se, q);
	se->in_use--;
	/* Broadcast: both pool waiters and the end-of-session wait for idle. */
	pthread_cond_broadcast(&se->pool_cond);
}

void sgf_pool_put(struct sgf_request *q)
{
	pthread_mutex_lock(&q->se->pool_lock);
	put_locked(q);
	pthread_mutex_unlock(&q->se->pool_lock);
}

struct sgf_request *sgf_pool_slot(struct sgf_session *se, unsigned i)
{
	return i < se->nslots ? &se->reqs[se->nreqs - se->nslots + i] : NULL;
}

void sgf_pool_take_slot(struct sgf_request *q)
{
	struct sgf_session *se = q->se;

	pthread_mutex_lock(&se->pool_lock);
	se->in_use++;
	sgf_stat_max(&se->stats.buffers_max, se->in_use);
	atomic_store(&q->refs, 1);
	atomic_store(&q->state, SGF_REQ_ACTIVE);
	pthread_mutex_unlock(&se->pool_lock);
}

bool sgf_pool_exhausted(struct sgf_session *se)
{
	bool empty;

	pthread_mutex_lock(&se->pool_lock);
	empty = se->free_list == NULL;
	pthread_mutex_unlock(&se->pool_lock);
	return empty;
}

void sgf_pool_wake(struct sgf_session *se)
{
	pthread_mutex_lock(&se->pool_lock);
	pthread_cond_broadcast(&se->pool_cond);
	pthread_mutex_unlock(&se->pool_lock);
}

void sgf_pool_close(struct sgf_session *se)
{
	pthread_mutex_lock(&se->pool_lock);
	se->pool_closed = true;
	pthread_cond_broadcast(&se->pool_cond);
	pthread_mutex_unlock(&se->pool_lock);
}

bool sgf_request_unref(struct sgf_request *q)
{
	return atomic_fetch_sub(&q->refs, 1) == 1;
}

static void unref_or_put(struct sgf_request *q)
{
	if (sgf_request_unref(q))
		sgf_pool_put(q);
}

static struct sgf_request *request_of(const struct sgf_req *r)
{
	/* pub is the first member: the cast is the container. */
	return (struct sgf_request *)(void *)r;
}

struct sgf_req *sgf_req_keep(const struct sgf_req *r)
{
	struct sgf_request *q;
	int expect = SGF_REQ_ACTIVE;

	if (r == NULL)
		return NULL;
	q = request_of(r);
	if (q->no_keep)
		return NULL;
	if (atomic_compare_exchange_strong(&q->state, &expect, SGF_REQ_KEPT)) {
		atomic_fetch_add(&q->refs, 1);
		sgf_stat_inc(&q->se->stats.kept, 1);
		return &q->pub;
	}
	return expect == SGF_REQ_KEPT ? &q->pub : NULL;
}

/* Move q to DONE from one of the states a reply may come from. */
static bool claim_reply(struct sgf_request *q, int from)
{
	int expect = from;

	return atomic_compare_exchange_strong(&q->state, &expect, SGF_REQ_DONE);
}

int sgf_reply(struct sgf_req *r, long result)
{
	struct sgf_request *q;
	int err;

	if (r == NULL)
		return -EINVAL;
	q = request_of(r);
	if (!claim_reply(q, SGF_REQ_KEPT)) {
		sgf_stat_inc(&q->se->stats.refused, 1);
		return -EALREADY;
	}
	if (result == SGF_DEFER) {
		sgf_stat_inc(&q->se->stats.refused, 1);
		result = -EIO;
	}
	err = sgf_request_send(q, result);
	unref_or_put(q);
	/* The requester being gone is the requester's business. */
	return err == -ENODEV || err == -ENOENT || err == -EPIPE ? 0 : err;
}

bool sgf_request_finish(struct sgf_request *q, long result)
{
	if (result == SGF_DEFER) {
		if (atomic_load(&q->state) == SGF_REQ_ACTIVE) {
			/* Deferred without keeping: nobody could ever answer. */
			sgf_stat_inc(&q->se->stats.refused, 1);
			if (claim_reply(q, SGF_REQ_ACTIVE))
				sgf_request_send(q, -EIO);
		}
	} else if (claim_reply(q, SGF_REQ_ACTIVE)) {
		sgf_request_send(q, result);
	} else if (claim_reply(q, SGF_REQ_KEPT)) {
		/* Kept, then answered by returning: the return is the reply
		 * and the kept handle is void. */
		sgf_request_send(q, result);
		unref_or_put(q);
	} else {
		/* Answered already (from inside the operation or another
		 * thread) and a value returned as well: a second reply. */
		sgf_stat_inc(&q->se->stats.refused, 1);
	}
	return sgf_request_unref(q);
}

/* Take a reference to a request someone else still holds (refs > 0); one
 * whose last reference is being dropped is not taken back. */
static bool pin(struct sgf_request *q)
{
	unsigned refs = atomic_load(&q->refs);

	while (refs > 0)
		if (atomic_compare_exchange_weak(&q->refs, &refs, refs + 1))
			return true;
	return false;
}

/* Drop a pin taken under pool_lock, still holding it. */
static void unpin_locked(struct sgf_request *q)
{
	if (sgf_request_unref(q))
		put_locked(q);
}

bool sgf_req_interrupted(const struct sgf_req *r)
{
	return r != NULL && atomic_load(&request_of(r)->interrupted);
}

bool sgf_request_interrupt(struct sgf_session *se, uint64_t unique)
{
	struct sgf_request *found = NULL;

	if (unique == 0)
		return false;
	pthread_mutex_lock(&se->pool_lock);
	for (unsigned i = 0; i < se->nreqs && found == NULL; i++) {
		struct sgf_request *q = &se->reqs[i];
		if (atomic_load(&q->live_unique) == unique && pin(q)) {
			/* Pinned, it cannot go back to the pool and be reused
			 * while the callback runs; look again now that it
			 * cannot change hands. */
			int st = atomic_load(&q->state);
			if ((st == SGF_REQ_ACTIVE || st == SGF_REQ_KEPT) &&
			    atomic_load(&q->live_unique) == unique)
				found = q;
			else
				unpin_locked(q);
		}
	}
	pthread_mutex_unlock(&se->pool_lock);
	if (found == NULL)
		return false;
	atomic_store(&found->interrupted, true);
	sgf_stat_inc(&se->stats.interrupts, 1);
	if (se->ops->interrupt && atomic_load(&found->state) != SGF_REQ_DONE)
		se->ops->interrupt(&found->pub);
	unref_or_put(found);
	return true;
}

void sgf_session_abandon_kept(struct sgf_session *se)
{
	for (unsigned i = 0; i < se->nreqs; i++) {
		struct sgf_request *q = &se->reqs[i];
		if (claim_reply(q, SGF_REQ_KEPT)) {
			sgf_stat_inc(&se->stats.abandoned, 1);
			sgf_request_send(q, -EIO);
			unref_or_put(q);
		}
	}
	/* Replies under way on other threads finish their send first. */
	pthread_mutex_lock(&se->pool_lock);
	while (se->in_use > 0)
		pthread_cond_wait(&se->pool_cond, &se->pool_lock);
	pthread_mutex_unlock(&se->pool_lock);
}

/* ---- typed shorthands ---------------------------------------------------- */

int sgf_reply_err(struct sgf_req *r, int neg_errno)
{
	return sgf_reply(r, neg_errno < 0 ? neg_errno : -EIO);
}

/* Copy src into the kept request at field offset off, then reply 0. A
 * request no longer kept is not written (its buffers may serve another
 * request by now); sgf_reply then refuses and counts the reply. */
static int reply_struct(struct sgf_req *r, size_t off, const void *src, size_t n)
{
	if (r == NULL || src == NULL)
		return -EINVAL;
	if (atomic_load(&request_of(r)->state) == SGF_REQ_KEPT)
		memcpy((char *)request_of(r) + off, src, n);
	return sgf_reply(r, 0);
}

#define REPLY_STRUCT(r, field, src) \
	reply_struct((r), offsetof(struct sgf_request, field), (src), sizeof(*(src)))

int sgf_reply_entry(struct sgf_req *r, const struct fuse_entry_out *e)
{
	return REPLY_STRUCT(r, out.e, e);
}

int sgf_reply_create(struct sgf_req *r, const struct fuse_entry_out *e,
		     const struct fuse_open_out *o)
{
	if (r == NULL || e == NULL || o == NULL)
		return -EINVAL;
	if (atomic_load(&request_of(r)->state) == SGF_REQ_KEPT)
		request_of(r)->open2 = *o;
	return REPLY_STRUCT(r, out.e, e);
}

int sgf_reply_attr(struct sgf_req *r, const struct fuse_attr_out *a)
{
	return REPLY_STRUCT(r, out.a, a);
}

int sgf_reply_open(struct sgf_req *r, const struct fuse_open_out *o)
{
	return REPLY_STRUCT(r, out.o, o);
}

int sgf_reply_statfs(struct sgf_req *r, const struct fuse_statfs_out *s)
{
	return REPLY_STRUCT(r, out.s, s);
}

int sgf_reply_data(struct sgf_req *r, size_t n)
{
	return sgf_reply(r, n > 0x7fffffff ? -EIO : (long)n);
}

int sgf_reply_iov(struct sgf_req *r, const struct iovec *iov, int iovcnt)
{
	struct sgf_request *q;
	size_t total = 0;

	if (r == NULL || iovcnt < 0 || iovcnt > SGF_REPLY_IOV_MAX || (iovcnt && iov == NULL))
		return -EINVAL;
	q = request_of(r);
	if (q->pub.opcode != FUSE_READ)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > 0x7fffffff - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	/* Set before the reply is claimed: only the winner reads them, and a
	 * request no longer kept is not written. */
	if (atomic_load(&q->state) == SGF_REQ_KEPT) {
		q->data_iov = iov;
		q->data_iovcnt = iovcnt;
	}
	return sgf_reply(r, (long)total);
}

int sgf_reply_write(struct sgf_req *r, size_t n)
{
	return sgf_reply(r, n > 0x7fffffff ? -EIO : (long)n);
}
