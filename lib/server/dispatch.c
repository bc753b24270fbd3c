/* lib/server/dispatch.c - one request in, one reply out: validate the
 * message, call the filesystem operation it names with arguments and
 * outputs that live in the request, and answer with what it returned - now,
 * or later when the operation kept the request. Operations never see the
 * channel, and nothing here asks which transport it is. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "session.h"

/* Below this a READ is copied: splicing costs four more system calls per
 * reply, which only a large payload pays back (on tmpfs, 4 KiB and 8 KiB
 * READs ran even, 16 KiB and up gained). */
#define SPLICE_MIN_READ (16u * 1024u)

/* The reply being built: fixed argument(s) plus an optional payload, in
 * one buffer (data, data_len) or in the filesystem's own iovecs. */
struct reply {
	const void *arg[2];
	size_t arg_len[2];
	const void *data;
	size_t data_len;
	const struct iovec *data_iov;
	int data_iovcnt;
	size_t in_place;  /* payload bytes already where the reply goes */
};

static void debug_request(const struct fuse_in_header *h)
{
	fprintf(stderr, "sgfuse: unique %llu %s nodeid %llu len %u pid %u\n",
		(unsigned long long)h->unique, sgf_opname(h->opcode),
		(unsigned long long)h->nodeid, h->len, h->pid);
}

static int send_reply(struct sgf_session *se, struct sgf_request *q, uint64_t unique,
		      uint32_t opcode, int err, const struct reply *r)
{
	struct fuse_out_header oh = { .unique = unique, .error = err };
	struct iovec iov[SGF_SEND_IOV_MAX] = { { &oh, sizeof(oh) } };
	int n = 1, ret;

	if (err == 0) {
		for (int i = 0; i < 2; i++)
			if (r->arg_len[i])
				iov[n++] = (struct iovec){ (void *)r->arg[i], r->arg_len[i] };
		if (r->data_len)
			iov[n++] = (struct iovec){ (void *)r->data, r->data_len };
		for (int i = 0; i < r->data_iovcnt; i++) /* bounded by sgf_reply_iov */
			iov[n++] = r->data_iov[i];
		if (r->in_place) /* see chan.h: a NULL base is data in place */
			iov[n++] = (struct iovec){ NULL, r->in_place };
	} else {
		sgf_stats_error(&se->stats, opcode);
	}
	for (int i = 0; i < n; i++)
		oh.len += (uint32_t)iov[i].iov_len;
	if (se->opts.debug)
		fprintf(stderr, "sgfuse:    unique %llu -> %s, %u bytes\n",
			(unsigned long long)unique, err ? strerror(-err) : "ok", oh.len);
	ret = sgf_chan_reply(q->ch, q->slot, iov, n);
	/* ENOENT: the kernel dropped an interrupted request; nothing is lost. */
	return ret == -ENOENT ? 0 : ret;
}

static void set_arg(struct reply *r, const void *arg, size_t len)
{
	r->arg[0] = arg;
	r->arg_len[0] = len;
}

/* A result the filesystem could not have meant: answered EIO, counted. */
static int refuse(struct sgf_request *q)
{
	sgf_stat_inc(&q->se->stats.refused, 1);
	return -EIO;
}

/* The reply shape of each opcode, from what the operation returned.
 * Returns the error to send (0: success with r filled). */
static int shape_reply(struct sgf_request *q, long ret, struct reply *r)
{
	const struct sgf_parsed *p = &q->p;
	union sgf_op_out *out = &q->out;

	if (ret < -4095 || ret > 0x7fffffffL) /* a filesystem returning nonsense */
		return refuse(q);
	if (ret < 0)
		return (int)ret;
	switch (q->pub.opcode) {
	case FUSE_LOOKUP:
	case FUSE_SYMLINK:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_LINK:
		set_arg(r, &out->e, sizeof(out->e));
		break;
	case FUSE_CREATE:
	case FUSE_TMPFILE:
		if (sgf_backing_account(q, &q->open2) != 0)
			return refuse(q);
		set_arg(r, &out->e, sizeof(out->e));
		r->arg[1] = &q->open2, r->arg_len[1] = sizeof(q->open2);
		break;
	case FUSE_GETATTR:
	case FUSE_SETATTR:
		set_arg(r, &out->a, sizeof(out->a));
		break;
	case FUSE_OPEN:
		if (sgf_backing_account(q, &out->o) != 0)
			return refuse(q);
		set_arg(r, &out->o, sizeof(out->o));
		break;
	case FUSE_OPENDIR:
		set_arg(r, &out->o, sizeof(out->o));
		break;
	case FUSE_STATFS:
		set_arg(r, &out->s, sizeof(out->s));
		break;
	case FUSE_LSEEK:
		set_arg(r, &out->l, sizeof(out->l));
		break;
	case FUSE_READLINK:
		if (ret > (long)SGF_PATH_MAX)
			return refuse(q);
		r->data = q->reply_buf, r->data_len = (size_t)ret;
		break;
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR: {
		uint32_t size = ((const struct fuse_getxattr_in *)p->arg)->size;
		if (size == 0) {
			out->x.size = (uint32_t)ret;
			set_arg(r, &out->x, sizeof(out->x));
		} else if (ret > (long)size) {
			return -ERANGE;
		} else {
			r->data = q->reply_buf, r->data_len = (size_t)ret;
		}
		break;
	}
	case FUSE_WRITE:
		if (ret > (long)((const struct fuse_write_in *)p->arg)->size)
			return refuse(q); /* the filesystem claims more than it got */
		out->w.size = (uint32_t)ret;
		set_arg(r, &out->w, sizeof(out->w));
		break;
	case FUSE_READ:
		if (ret > (long)((const struct fuse_read_in *)p->arg)->size)
			return refuse(q);
		if (q->data_iov) /* sgf_reply_iov: the filesystem's buffers */
			r->data_iov = q->data_iov, r->data_iovcnt = q->data_iovcnt;
		else if (q->ext_read) /* read straight into the reply's memory */
			r->in_place = (size_t)ret;
		else
			r->data = q->read_buf, r->data_len = (size_t)ret;
		break;
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
		if (q->db.used > q->db.size)
			return refuse(q);
		r->data = q->db.buf, r->data_len = q->db.used;
		break;
	default:
		break;
	}
	return 0;
}

int sgf_request_send(struct sgf_request *q, long result)
{
	struct reply r = { 0 };
	int err = shape_reply(q, result, &r);

	atomic_store(&q->live_unique, 0);
	return send_reply(q->se, q, q->pub.unique, q->pub.opcode, err, &r);
}

/* Shorten iov[0..n) to at most size bytes; returns the entries left. */
static int iov_trim(struct iovec *iov, int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len >= size) {
			iov[i].iov_len = size;
			return size ? i + 1 : i;
		}
		size -= iov[i].iov_len;
	}
	return n;
}

/* Call the operation the request names; its arguments and outputs are all
 * in q. Returns what the operation returned. */
static long call_op(struct sgf_session *se, struct sgf_request *q)
{
	const struct sgf_ops *ops = se->ops;
	const struct sgf_req *rq = &q->pub;
	const struct sgf_parsed *p = &q->p;
	const void *a = p->arg;
	uint64_t ino = rq->nodeid;
	union sgf_op_out *out = &q->out;

#define CALL(op, ...) (ops->op ? ops->op(__VA_ARGS__) : -ENOSYS)
	switch (rq->opcode) {
	case FUSE_LOOKUP:
		return CALL(lookup, rq, ino, p->name, &out->e);
	case FUSE_GETATTR:
		return CALL(getattr, rq, ino, a, &out->a);
	case FUSE_SETATTR:
		return CALL(setattr, rq, ino, a, &out->a);
	case FUSE_READLINK:
		return CALL(readlink, rq, ino, q->reply_buf, SGF_PATH_MAX);
	case FUSE_SYMLINK:
		return CALL(symlink, rq, ino, p->name, p->name2, &out->e);
	case FUSE_MKNOD:
		return CALL(mknod, rq, ino, p->name, a, &out->e);
	case FUSE_MKDIR:
		return CALL(mkdir, rq, ino, p->name, a, &out->e);
	case FUSE_UNLINK:
		return CALL(unlink, rq, ino, p->name);
	case FUSE_RMDIR:
		return CALL(rmdir, rq, ino, p->name);
	case FUSE_RENAME:
		return CALL(rename, rq, ino, p->name, ((const struct fuse_rename_in *)a)->newdir,
			    p->name2, 0);
	case FUSE_RENAME2: {
		const struct fuse_rename2_in *rn = a;
		return CALL(rename, rq, ino, p->name, rn->newdir, p->name2, rn->flags);
	}
	case FUSE_LINK:
		return CALL(link, rq, ((const struct fuse_link_in *)a)->oldnodeid, ino, p->name,
			    &out->e);
	/* Without open/opendir every open succeeds with fh 0 (a directory
	 * that cannot be opened cannot be listed). */
	case FUSE_OPEN:
		return ops->open ? ops->open(rq, ino, a, &out->o) : 0;
	case FUSE_OPENDIR:
		return ops->opendir ? ops->opendir(rq, ino, a, &out->o) : 0;
	case FUSE_CREATE:
		return CALL(create, rq, ino, p->name, a, &out->e, &q->open2);
	case FUSE_TMPFILE:
		/* The kernel sends a placeholder name ("/"); the file has none. */
		return CALL(tmpfile, rq, ino, a, &out->e, &q->open2);
	case FUSE_READ: {
		uint32_t size = ((const struct fuse_read_in *)a)->size;
		if (q->ext_read)
			return CALL(read, rq, ino, a, q->ext_read,
				    iov_trim(q->ext_read, q->ext_read_n, size));
		q->iov = (struct iovec){ q->read_buf, size };
		return CALL(read, rq, ino, a, &q->iov, 1);
	}
	case FUSE_WRITE:
		if (q->ext_write)
			return CALL(write, rq, ino, a, q->ext_write, q->ext_write_n);
		q->iov = (struct iovec){ (void *)p->data, p->data_len };
		return CALL(write, rq, ino, a, &q->iov, 1);
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
		q->db = (struct sgf_dirbuf){ q->reply_buf, ((const struct fuse_read_in *)a)->size, 0 };
		return CALL(readdir, rq, ino, a, rq->opcode == FUSE_READDIRPLUS, &q->db);
	case FUSE_FLUSH:
		return CALL(flush, rq, ino, a);
	case FUSE_RELEASE:
		return ops->release ? ops->release(rq, ino, a) : 0;
	case FUSE_RELEASEDIR:
		return ops->releasedir ? ops->releasedir(rq, ino, a) : 0;
	case FUSE_FSYNC:
		return CALL(fsync, rq, ino, a);
	case FUSE_FSYNCDIR:
		return CALL(fsyncdir, rq, ino, a);
	case FUSE_STATFS:
		return CALL(statfs, rq, ino, &out->s);
	case FUSE_SETXATTR:
		return CALL(setxattr, rq, ino, p->name, p->data, p->data_len,
			    ((const struct fuse_setxattr_in *)a)->flags);
	case FUSE_GETXATTR: {
		uint32_t size = ((const struct fuse_getxattr_in *)a)->size;
		return CALL(getxattr, rq, ino, p->name, size ? q->reply_buf : NULL, size);
	}
	case FUSE_LISTXATTR: {
		uint32_t size = ((const struct fuse_getxattr_in *)a)->size;
		return CALL(listxattr, rq, ino, size ? q->reply_buf : NULL, size);
	}
	case FUSE_REMOVEXATTR:
		return CALL(removexattr, rq, ino, p->name);
	case FUSE_ACCESS:
		return CALL(access, rq, ino, ((const struct fuse_access_in *)a)->mask);
	case FUSE_FALLOCATE:
		return CALL(fallocate, rq, ino, a);
	case FUSE_LSEEK:
		return CALL(lseek, rq, ino, a, &out->l);
	default:
		return -ENOSYS;
	}
#undef CALL
}

/* Answer a READ by splicing from the file the filesystem names. Returns
 * true when the reply was sent or the channel failed (*sent holds the
 * result), false when nothing was sent and the caller copies instead. */
static bool read_spliced(struct sgf_session *se, struct sgf_request *q,
			 const struct sgf_splice_pipe *pipe, int *sent)
{
	const struct sgf_ops *ops = se->ops;
	const struct fuse_read_in *in = q->p.arg;
	struct fuse_out_header oh = { .unique = q->pub.unique };
	void *token = NULL;
	uint64_t off = 0;
	ssize_t n;
	int fd = -1, err;

	if (pipe == NULL || in->size < SPLICE_MIN_READ || !sgf_chan_can_splice(q->ch) ||
	    !ops->read_source || !ops->read_source_done)
		return false;
	q->no_keep = true;
	err = ops->read_source(&q->pub, q->pub.nodeid, in, &fd, &off, &token);
	q->no_keep = false;
	if (err != 0)
		return false;
	n = fd < 0 || off > INT64_MAX - (uint64_t)in->size
		    ? -EAGAIN
		    : sgf_chan_send_spliced(q->ch, &oh, sizeof(oh), fd, off, in->size, pipe);
	ops->read_source_done(&q->pub, token);
	if (n == -EAGAIN || n == -EOPNOTSUPP || n == -EINVAL)
		return false;
	atomic_store(&q->state, SGF_REQ_DONE);
	if (se->opts.debug)
		fprintf(stderr, "sgfuse:    unique %llu -> ok, %zu bytes spliced\n",
			(unsigned long long)q->pub.unique, n > 0 ? (size_t)n : 0);
	*sent = n < 0 ? (int)n : 0;
	return true;
}

/* Payload bytes a request counts for: the size asked for by READ and
 * READDIR(PLUS), the size sent by WRITE, the trailing data otherwise. */
static uint64_t request_bytes(const struct sgf_parsed *p)
{
	uint32_t op = p->hdr->opcode;

	if (op == FUSE_WRITE)
		return ((const struct fuse_write_in *)p->arg)->size;
	if (op == FUSE_READ || op == FUSE_READDIR || op == FUSE_READDIRPLUS)
		return ((const struct fuse_read_in *)p->arg)->size;
	return p->data_len;
}

static void forget_batch(struct sgf_session *se, const struct sgf_req *rq,
			 const struct sgf_parsed *p)
{
	const char *d = p->data;

	for (size_t off = 0; off < p->data_len; off += sizeof(struct fuse_forget_one)) {
		struct fuse_forget_one one;
		memcpy(&one, d + off, sizeof(one));
		se->ops->forget(rq, one.nodeid, one.nlookup);
	}
}

/* Messages the library answers itself (or never answers): INIT, the
 * FORGETs, INTERRUPT, NOTIFY_REPLY, DESTROY. Returns true when h was one
 * of them; *ret is then the send result. */
static bool handle_control(struct sgf_session *se, struct sgf_request *q, int *ret)
{
	const struct sgf_parsed *p = &q->p;
	const struct fuse_in_header *h = p->hdr;
	struct reply r = { 0 };

	*ret = 0;
	switch (h->opcode) {
	case FUSE_INIT: {
		struct fuse_init_out init_out;
		size_t init_len;
		int err;
		sgf_stats_add(&se->stats, FUSE_INIT, 0);
		err = sgf_session_do_init(se, p->arg, p->arg_len, &init_out, &init_len);
		set_arg(&r, &init_out, init_len);
		*ret = send_reply(se, q, h->unique, h->opcode, err, &r);
		/* Settled and told: what waits for INIT (the io_uring queues,
		 * whose registration the kernel refuses before) may start. */
		if (*ret == 0 && sgf_session_initialized(se))
			sgf_session_init_replied(se);
		return true;
	}
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
	case FUSE_NOTIFY_REPLY:
	case FUSE_DESTROY:
		break;
	default:
		return false;
	}
	if (!atomic_load(&se->initialized)) {
		if (!p->desc->no_reply)
			*ret = send_reply(se, q, h->unique, h->opcode, -EIO, &r);
		return true;
	}
	if (h->opcode != FUSE_NOTIFY_REPLY) /* we send no RETRIEVE: nothing to count */
		sgf_stats_add(&se->stats, h->opcode, 0);
	q->no_keep = true;
	switch (h->opcode) {
	case FUSE_FORGET:
		if (se->ops->forget)
			se->ops->forget(&q->pub, h->nodeid,
					((const struct fuse_forget_in *)p->arg)->nlookup);
		break;
	case FUSE_BATCH_FORGET:
		if (se->ops->forget)
			forget_batch(se, &q->pub, p);
		break;
	case FUSE_INTERRUPT:
		/* The kernel's contract: a request we do not know (not read
		 * yet by its worker, or answered already) gets EAGAIN, and the
		 * kernel sends the INTERRUPT again or drops it. */
		if (!sgf_request_interrupt(se, ((const struct fuse_interrupt_in *)p->arg)->unique))
			*ret = send_reply(se, q, h->unique, h->opcode, -EAGAIN, &r);
		break;
	case FUSE_DESTROY:
		/* destroy runs at the end of the session, once kept requests
		 * are answered; the requester only waits for this reply. */
		sgf_session_exit(se);
		*ret = send_reply(se, q, h->unique, h->opcode, 0, &r);
		break;
	default:
		break;
	}
	q->no_keep = false;
	return true;
}

/* The worker has dropped its reference to q; last says whether it was the
 * last one. True when q is the worker's again (with one reference), false
 * when a keep or an INTERRUPT pin still holds it: whoever drops the last
 * reference gives it back to the pool. */
static bool worker_done(struct sgf_request *q, bool last)
{
	if (last)
		atomic_store(&q->refs, 1);
	return last;
}

int sgf_session_handle(struct sgf_session *se, struct sgf_chan *ch, struct sgf_request *q,
		       size_t len, const struct sgf_splice_pipe *pipe)
{
	struct sgf_parsed *p = &q->p;
	struct reply r = { 0 };
	long result;
	int err;

	/* The worker holds q's one reference here (a fresh one from the
	 * pool, or its own given back by worker_done). */
	atomic_store(&q->state, SGF_REQ_ACTIVE);
	atomic_store(&q->interrupted, false);
	q->ch = ch;
	q->data_iov = NULL;
	err = sgf_parse_request_ext(q->recv_buf, len, q->ext_write ? q->ext_write_len : 0,
				    &se->lim, p);
	if (err == -EPROTO) {
		sgf_stat_inc(&se->stats.malformed, 1);
		return SGF_HANDLED; /* no header: nobody to answer */
	}
	const struct fuse_in_header *h = (const void *)q->recv_buf;
	if (se->opts.debug)
		debug_request(h);
	if (err) {
		sgf_stat_inc(err == -ENOSYS ? &se->stats.unknown : &se->stats.malformed, 1);
		/* A malformed FORGET still must not be answered. */
		if (p->desc && p->desc->no_reply)
			return SGF_HANDLED;
		return send_reply(se, q, h->unique, h->opcode, err, &r);
	}
	q->pub = (struct sgf_req){ .unique = h->unique, .nodeid = h->nodeid,
				   .opcode = h->opcode, .uid = h->uid, .gid = h->gid,
				   .pid = h->pid, .fs = se->fs, .session = se,
				   .server = se->server };
	if (handle_control(se, q, &err))
		return err;
	if (!atomic_load(&se->initialized))
		return send_reply(se, q, h->unique, h->opcode, -EIO, &r);

	/* Counted before any reply leaves: a requester that saw the reply
	 * also sees the count. */
	sgf_stats_add(&se->stats, h->opcode, request_bytes(p));
	atomic_store(&q->live_unique, h->unique);
	if (h->opcode == FUSE_READ && read_spliced(se, q, pipe, &err)) {
		atomic_store(&q->live_unique, 0);
		return worker_done(q, sgf_request_unref(q)) ? err : SGF_KEPT;
	}
	memset(&q->out, 0, sizeof(q->out));
	memset(&q->open2, 0, sizeof(q->open2));
	q->backing_why = NULL;
	q->backing_err = 0;
	result = call_op(se, q);
	return worker_done(q, sgf_request_finish(q, result)) ? SGF_HANDLED : SGF_KEPT;
}

int sgf_session_process(struct sgf_session *se, struct sgf_chan *ch, const void *msg,
			size_t len)
{
	struct sgf_request *q;
	int ret;

	if (len > sgf_session_recv_size(se))
		len = sizeof(struct fuse_in_header); /* as a worker does: header only */
	q = sgf_pool_get(se);
	if (q == NULL)
		return -ENODEV;
	memcpy(q->recv_buf, msg, len);
	ret = sgf_session_handle(se, ch, q, len, NULL);
	if (ret != SGF_KEPT)
		sgf_pool_put(q);
	return ret == SGF_KEPT ? 0 : ret;
}
