/* lib/client/reply.c - what a reply means for the request it answers, the
 * same whichever transport brought it: the checks of its header against
 * the slot's expectation, and the call's result once the payload is in. */
#include <errno.h>
#include "conn.h"

int sgf_reply_judge(const struct sgf_expect *ex, int32_t error, size_t payload)
{
	/* A negative errno, and an error carries nothing after the header. */
	if (error > 0 || error <= -4096 || (error != 0 && payload != 0))
		return -EIO;
	if (error != 0)
		return 0;
	return payload < ex->min || payload > ex->max ? -EIO : 1;
}

ssize_t sgf_reply_result(struct sgf_client *c, struct sgf_slot *s, size_t payload)
{
	if (s->ex.kind == SGF_RES_LEN)
		return (ssize_t)payload;
	if (s->ex.kind != SGF_RES_WRITE)
		return 0;
	/* A server claiming more than it was sent would make the caller
	 * count bytes that never moved. */
	if (s->wout.size > s->ex.sent) {
		sgf_stat_inc(&c->stats.malformed, 1);
		return -EIO;
	}
	return (ssize_t)s->wout.size;
}
