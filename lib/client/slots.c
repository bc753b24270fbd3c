/* lib/client/slots.c - the bounded table of requests in flight. A unique
 * carries its slot index in its low bits, so a reply finds its request in
 * O(1); callers that find the table full wait (backpressure) instead of
 * growing it. */
#include <errno.h>
#include <time.h>
#include "conn.h"

int sgf_waiter_init(struct sgf_client *c, struct sgf_waiter *w)
{
	pthread_condattr_t attr;

	w->ndone = 0;
	w->next = w->prev = NULL;
	int r = pthread_condattr_init(&attr);
	if (r == 0)
		r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (r == 0)
		atomic_fetch_add_explicit(&c->callers, 1, memory_order_relaxed);
	return -r;
}

void sgf_waiter_destroy(struct sgf_client *c, struct sgf_waiter *w)
{
	atomic_fetch_sub_explicit(&c->callers, 1, memory_order_relaxed);
	pthread_cond_destroy(&w->cond);
}

int sgf_slot_acquire(struct sgf_client *c, bool may_block, struct sgf_slot **out)
{
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->dead) {
			pthread_mutex_unlock(&c->lock);
			return -ENOTCONN;
		}
		if (c->nfree > 0)
			break;
		if (!may_block) {
			pthread_mutex_unlock(&c->lock);
			return -EAGAIN;
		}
		pthread_cond_wait(&c->slot_cond, &c->lock);
	}
	struct sgf_slot *s = &c->slots[c->free_stack[--c->nfree]];
	s->busy = true;
	s->armed = false;
	s->done = false;
	s->unique = 0;
	s->waiter = NULL;
	pthread_mutex_unlock(&c->lock);
	*out = s;
	return 0;
}

void sgf_slot_arm(struct sgf_client *c, struct sgf_slot *s, uint32_t opcode,
		  const struct sgf_expect *ex, struct sgf_waiter *w, unsigned tag)
{
	uint64_t index = (uint64_t)(s - c->slots);

	pthread_mutex_lock(&c->lock);
	s->opcode = opcode;
	s->ex = *ex;
	s->waiter = w;
	s->tag = tag;
	s->result = 0;
	s->unique = (++c->seq << SGF_SLOT_SHIFT) | (index << 1);
	s->armed = true;
	atomic_fetch_add_explicit(&c->inflight, 1, memory_order_relaxed);
	/* A connection that died before we armed never completes us. */
	if (c->dead)
		sgf_slot_complete_locked(c, s, -ENOTCONN);
	pthread_mutex_unlock(&c->lock);
}

void sgf_slot_release(struct sgf_client *c, struct sgf_slot *s)
{
	pthread_mutex_lock(&c->lock);
	s->busy = false;
	s->armed = false;
	s->done = false;
	s->unique = 0;
	s->waiter = NULL;
	c->free_stack[c->nfree++] = (unsigned)(s - c->slots);
	pthread_cond_signal(&c->slot_cond);
	pthread_mutex_unlock(&c->lock);
}

static ssize_t wait_slot(struct sgf_client *c, struct sgf_slot *s,
			 const struct timespec *deadline)
{
	pthread_mutex_lock(&c->lock);
	/* s is the waiter's only slot, so its ndone counts just s. */
	while (!s->done)
		sgf_wait_locked(c, s->waiter, deadline);
	ssize_t r = s->result;
	s->waiter->ndone--;
	pthread_mutex_unlock(&c->lock);
	return r;
}

ssize_t sgf_slot_wait(struct sgf_client *c, struct sgf_slot *s)
{
	return wait_slot(c, s, NULL);
}

ssize_t sgf_slot_wait_timeout(struct sgf_client *c, struct sgf_slot *s, unsigned timeout_ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	return wait_slot(c, s, &deadline);
}

void sgf_slot_complete_locked(struct sgf_client *c, struct sgf_slot *s, ssize_t result)
{
	atomic_fetch_sub_explicit(&c->inflight, 1, memory_order_relaxed);
	s->result = result;
	s->done = true;
	s->waiter->ndone++;
	pthread_cond_signal(&s->waiter->cond);
}

void sgf_slot_fail_unsent(struct sgf_client *c, struct sgf_slot *s, ssize_t err)
{
	pthread_mutex_lock(&c->lock);
	if (s->armed && !s->done)
		sgf_slot_complete_locked(c, s, err);
	pthread_mutex_unlock(&c->lock);
}

struct sgf_slot *sgf_slot_find_locked(struct sgf_client *c, uint64_t unique)
{
	uint64_t index = (unique >> 1) & ((1u << (SGF_SLOT_SHIFT - 1)) - 1);

	if (unique == 0 || (unique & 1) || index >= c->nslots)
		return NULL;
	struct sgf_slot *s = &c->slots[index];
	if (!s->busy || !s->armed || s->done || s->unique != unique)
		return NULL;
	return s;
}

void sgf_slots_fail_all(struct sgf_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->dead = true;
	for (unsigned i = 0; i < c->nslots; i++) {
		struct sgf_slot *s = &c->slots[i];
		if (s->busy && s->armed && !s->done)
			sgf_slot_complete_locked(c, s, -ENOTCONN);
	}
	pthread_cond_broadcast(&c->slot_cond);
	pthread_mutex_unlock(&c->lock);
}
