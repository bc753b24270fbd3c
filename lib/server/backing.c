/* lib/server/backing.c - FUSE passthrough on the library's side: backing
 * files registered through the session's channel (only the /dev/fuse kind
 * offers it), and the accounting of OPEN/CREATE replies: passed through,
 * or served by requests and why. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "session.h"

static struct sgf_request *request_of(const struct sgf_req *r)
{
	/* pub is the first member: the cast is the container. */
	return (struct sgf_request *)(void *)r;
}

static bool negotiated(const struct sgf_session *se)
{
	return atomic_load(&se->initialized) && (se->conn.flags & FUSE_PASSTHROUGH);
}

/* The session's channel when it may register backing files, else NULL. */
static struct sgf_chan *backing_chan(const struct sgf_req *r)
{
	struct sgf_session *se = r ? r->session : NULL;

	if (se == NULL || se->ch == NULL || atomic_load(&se->ended) || !negotiated(se))
		return NULL;
	return se->ch;
}

int sgf_backing_open(const struct sgf_req *r, int fd)
{
	struct sgf_chan *ch = backing_chan(r);
	int id;

	if (ch == NULL)
		return -EOPNOTSUPP;
	if (fd < 0)
		return -EBADF;
	id = sgf_chan_backing_open(ch, fd);
	if (id < 0) {
		sgf_backing_fallback(r, "backing open", id);
		return id;
	}
	int live = atomic_fetch_add(&r->session->backing_live, 1) + 1;
	if (r->session->opts.debug)
		fprintf(stderr, "sgfuse:    unique %llu backing id %d for fd %d (%d live)\n",
			(unsigned long long)r->unique, id, fd, live);
	return id;
}

int sgf_backing_close(const struct sgf_req *r, int backing_id)
{
	struct sgf_chan *ch = backing_chan(r);
	int err;

	if (ch == NULL)
		return -EOPNOTSUPP;
	if (backing_id <= 0)
		return -ENOENT;
	err = sgf_chan_backing_close(ch, backing_id);
	if (err == 0) {
		int live = atomic_fetch_sub(&r->session->backing_live, 1) - 1;
		if (r->session->opts.debug)
			fprintf(stderr,
				"sgfuse:    unique %llu backing id %d closed (%d live)\n",
				(unsigned long long)r->unique, backing_id, live);
	} else if (r->session->opts.debug) {
		fprintf(stderr, "sgfuse:    unique %llu backing id %d close: %s\n",
			(unsigned long long)r->unique, backing_id, strerror(-err));
	}
	return err;
}

void sgf_backing_fallback(const struct sgf_req *r, const char *why, int err)
{
	struct sgf_request *q;

	if (r == NULL || (r->opcode != FUSE_OPEN && r->opcode != FUSE_CREATE &&
			  r->opcode != FUSE_TMPFILE))
		return;
	q = request_of(r);
	q->backing_why = why;
	q->backing_err = err;
}

int sgf_backing_account(struct sgf_request *q, const struct fuse_open_out *o)
{
	struct sgf_session *se = q->se;

	if (o->open_flags & FOPEN_PASSTHROUGH) {
		/* A filesystem bug: no id can have been registered. */
		if (!negotiated(se))
			return -EIO;
		sgf_stat_inc(&se->stats.passthrough, 1);
		return 0;
	}
	if (!negotiated(se))
		return 0;
	/* Every OPEN, CREATE and TMPFILE is of a regular file: the kernel opens
	 * directories with OPENDIR and special files without asking us. */
	sgf_stat_inc(&se->stats.passthrough_fallback, 1);
	if (se->opts.debug) {
		const char *why = q->backing_why ? q->backing_why : "no backing file named";
		fprintf(stderr, "sgfuse:    unique %llu served by requests, not passed through: %s%s%s\n",
			(unsigned long long)q->pub.unique, why, q->backing_err ? ": " : "",
			q->backing_err ? strerror(-q->backing_err) : "");
	}
	return 0;
}
