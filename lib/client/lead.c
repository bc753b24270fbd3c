/* lib/client/lead.c - the receive role, passed among waiting callers
 * (leader/follower) instead of a receiver thread: a caller that waits for a
 * reply receives from the transport itself when nobody else does, routes
 * other callers' replies to them, and leaves once its own has come, waking
 * one waiter to take over only if someone still waits. A lone caller thus
 * gets its reply without any thread hand-off. */
#include <errno.h>
#include "conn.h"

static void sleeper_add(struct sgf_client *c, struct sgf_waiter *w)
{
	w->prev = NULL;
	w->next = c->sleepers;
	if (c->sleepers)
		c->sleepers->prev = w;
	c->sleepers = w;
}

static void sleeper_remove(struct sgf_client *c, struct sgf_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		c->sleepers = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
}

static bool role_take_locked(struct sgf_client *c)
{
	if (c->rx_busy)
		return false;
	c->rx_busy = true;
	return true;
}

/* Give the role up. A sleeper whose reply has come leaves by itself; one
 * still waiting would wait forever if nobody read, so wake one of those. */
static void role_release_locked(struct sgf_client *c)
{
	c->rx_busy = false;
	for (struct sgf_waiter *w = c->sleepers; w; w = w->next) {
		if (w->ndone == 0) {
			pthread_cond_signal(&w->cond);
			break;
		}
	}
}

/* The connection ended or cannot be trusted: hang up (which also wakes the
 * peer and any blocked sender) and fail everything pending. */
void sgf_conn_lost(struct sgf_client *c)
{
	c->tp->hangup(c);
	sgf_slots_fail_all(c);
}

/* Read replies until one of w's comes. Called with the role, without the
 * lock. */
static void lead(struct sgf_client *c, struct sgf_waiter *w, const struct timespec *deadline)
{
	for (;;) {
		int r = c->tp->rx_one(c, SGF_RX_BLOCK, deadline);
		if (r < 0) {
			sgf_conn_lost(c);  /* completes w's slots too */
			return;
		}
		pthread_mutex_lock(&c->lock);
		bool mine = w->ndone > 0;
		pthread_mutex_unlock(&c->lock);
		if (mine)
			break;
	}
	/* Replies already staged cost no syscall: hand them out now rather
	 * than wake a successor to do it. */
	for (;;) {
		int r = c->tp->rx_one(c, SGF_RX_STAGED, NULL);
		if (r < 0)
			sgf_conn_lost(c);
		if (r <= 0)
			break;
	}
}

void sgf_wait_locked(struct sgf_client *c, struct sgf_waiter *w,
		     const struct timespec *deadline)
{
	while (w->ndone == 0) {
		if (role_take_locked(c)) {
			pthread_mutex_unlock(&c->lock);
			lead(c, w, deadline);
			pthread_mutex_lock(&c->lock);
			role_release_locked(c);
			continue;
		}
		sleeper_add(c, w);
		if (deadline == NULL) {
			pthread_cond_wait(&w->cond, &c->lock);
		} else if (pthread_cond_timedwait(&w->cond, &c->lock, deadline) == ETIMEDOUT) {
			/* Whoever receives now meets the end and fails us. */
			c->tp->hangup(c);
			deadline = NULL;
		}
		sleeper_remove(c, w);
	}
}

int sgf_send_wait(struct sgf_client *c, unsigned long since)
{
	pthread_mutex_lock(&c->lock);
	bool reading = role_take_locked(c);
	pthread_mutex_unlock(&c->lock);

	int r = c->tp->wait_room(c, reading, since);
	if (reading) {
		/* Drain whatever replies are there (staged ones included), but
		 * never wait for more: our own request is what must move. */
		int got;
		while ((got = c->tp->rx_one(c, SGF_RX_NOWAIT, NULL)) > 0)
			;
		if (got < 0) {
			sgf_conn_lost(c);
			r = got;
		}
		pthread_mutex_lock(&c->lock);
		role_release_locked(c);
		pthread_mutex_unlock(&c->lock);
	}
	return r < 0 ? -ENOTCONN : 0;
}
