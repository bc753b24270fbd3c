/* lib/client/call.c - one synchronous request from a declarative
 * description (opcode, fixed argument, names, expected reply): every
 * metadata operation is a few lines that fill a struct sgf_call. */
#include <errno.h>
#include <string.h>
#include "conn.h"

void sgf_expect_none(struct sgf_expect *ex)
{
	*ex = (struct sgf_expect){ .kind = SGF_RES_ZERO };
}

void sgf_expect_fixed(struct sgf_expect *ex, struct iovec *iov, void *out, size_t size)
{
	iov->iov_base = out;
	iov->iov_len = size;
	*ex = (struct sgf_expect){ .kind = SGF_RES_ZERO, .min = size, .max = size,
				   .iov = iov, .iovcnt = 1 };
}

int sgf_check_name(const char *name)
{
	if (name == NULL)
		return -EINVAL;
	size_t n = strnlen(name, SGF_NAME_MAX + 1);
	if (n == 0 || memchr(name, '/', n) != NULL)
		return -EINVAL;
	if (n > SGF_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* Header slot, fixed argument, up to two names. */
static int build_vec(const struct sgf_call *call, struct iovec vec[4])
{
	int n = 1;

	if (call->arg_size > 0)
		vec[n++] = (struct iovec){ (void *)call->arg, call->arg_size };
	if (call->name)
		vec[n++] = (struct iovec){ (void *)call->name, strlen(call->name) + 1 };
	if (call->name2)
		vec[n++] = (struct iovec){ (void *)call->name2, strlen(call->name2) + 1 };
	return n;
}

ssize_t sgf_call_sync(struct sgf_client *c, const struct sgf_call *call)
{
	return sgf_call_sync_timeout(c, call, 0);
}

ssize_t sgf_call_sync_timeout(struct sgf_client *c, const struct sgf_call *call,
			      unsigned timeout_ms)
{
	struct sgf_waiter w;
	struct sgf_slot *s;
	struct iovec vec[4];
	int r = sgf_waiter_init(c, &w);

	if (r < 0)
		return r;
	r = sgf_slot_acquire(c, true, &s);
	if (r < 0) {
		sgf_waiter_destroy(c, &w);
		return r;
	}
	sgf_slot_arm(c, s, call->opcode, &call->ex, &w, 0);
	sgf_stats_add(&c->stats, call->opcode, 0);
	/* A failed send still completes the slot (see struct sgf_transport). */
	(void)sgf_send_request(c, s, call->opcode, call->nodeid, vec, build_vec(call, vec));
	ssize_t res = timeout_ms ? sgf_slot_wait_timeout(c, s, timeout_ms) : sgf_slot_wait(c, s);
	sgf_slot_release(c, s);
	sgf_waiter_destroy(c, &w);
	return res;
}

int sgf_send_noreply(struct sgf_client *c, uint32_t opcode, uint64_t nodeid,
		     const void *arg, uint32_t arg_size)
{
	struct iovec vec[2] = { { 0 }, { (void *)arg, arg_size } };

	pthread_mutex_lock(&c->lock);
	bool dead = c->dead;
	uint64_t unique = ++c->seq << SGF_SLOT_SHIFT;  /* matches no slot: no reply expected */
	pthread_mutex_unlock(&c->lock);
	if (dead)
		return -ENOTCONN;
	sgf_stats_add(&c->stats, opcode, 0);
	return c->tp->send_noreply(c, unique, opcode, nodeid, vec, 2);
}
