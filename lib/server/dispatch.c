/* lib/dispatch.c - one request in, one reply out: validate the message,
 * call the filesystem operation it names, and send exactly one reply (none
 * for FORGET-like messages). Operations never see the channel. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sgfuse/channel.h>
#include "session_priv.h"

/* Below this a READ is copied: splicing costs four more system calls per
 * reply, which only a large payload pays back (on tmpfs, 4 KiB and 8 KiB
 * READs ran even, 16 KiB and up gained). */
#define SPLICE_MIN_READ (16u * 1024u)

/* Storage for whichever fixed reply argument an operation fills. */
union op_out {
	struct fuse_entry_out e;
	struct fuse_attr_out a;
	struct fuse_open_out o;
	struct fuse_statfs_out s;
	struct fuse_lseek_out l;
	struct fuse_write_out w;
	struct fuse_getxattr_out x;
};

/* The reply being built: fixed argument(s) plus an optional payload. */
struct reply {
	const void *arg[2];
	size_t arg_len[2];
	const void *data;
	size_t data_len;
};

static void debug_request(const struct fuse_in_header *h)
{
	fprintf(stderr, "sgfuse: unique %llu %s nodeid %llu len %u pid %u\n",
		(unsigned long long)h->unique, sgf_opname(h->opcode),
		(unsigned long long)h->nodeid, h->len, h->pid);
}

static int send_reply(struct sgf_session *se, struct sgf_chan *ch,
		      const struct fuse_in_header *h, int err, const struct reply *r)
{
	struct fuse_out_header oh = { .unique = h->unique, .error = err };
	struct iovec iov[4] = { { &oh, sizeof(oh) } };
	int n = 1, ret;

	if (err == 0) {
		for (int i = 0; i < 2; i++)
			if (r->arg_len[i])
				iov[n++] = (struct iovec){ (void *)r->arg[i], r->arg_len[i] };
		if (r->data_len)
			iov[n++] = (struct iovec){ (void *)r->data, r->data_len };
	} else {
		sgf_stats_error(&se->stats, h->opcode);
	}
	for (int i = 0; i < n; i++)
		oh.len += (uint32_t)iov[i].iov_len;
	if (se->opts.debug)
		fprintf(stderr, "sgfuse:    unique %llu -> %s%s%u bytes\n",
			(unsigned long long)h->unique, err ? strerror(-err) : "ok",
			", ", oh.len);
	ret = sgf_chan_send(ch, iov, n);
	/* ENOENT: the kernel dropped an interrupted request; nothing is lost. */
	return ret == -ENOENT ? 0 : ret;
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

/* Every op that answers with an entry or attributes or nothing at all. The
 * return value is the error (or byte count) for the reply; r is filled. */
static long call_op(struct sgf_session *se, const struct sgf_req *rq,
		    const struct sgf_parsed *p, struct reply *r, char *rbuf,
		    union op_out *out, struct fuse_open_out *open2)
{
	const struct sgf_ops *ops = se->ops;
	const void *a = p->arg;
	uint64_t ino = rq->nodeid;
	long ret = -ENOSYS;

#define NEED(op) if (!ops->op) return -ENOSYS
#define ENTRY_REPLY() do { r->arg[0] = &out->e; r->arg_len[0] = sizeof(out->e); } while (0)
	switch (rq->opcode) {
	case FUSE_LOOKUP:
		NEED(lookup);
		ret = ops->lookup(rq, ino, p->name, &out->e);
		ENTRY_REPLY();
		break;
	case FUSE_GETATTR:
		NEED(getattr);
		ret = ops->getattr(rq, ino, a, &out->a);
		r->arg[0] = &out->a, r->arg_len[0] = sizeof(out->a);
		break;
	case FUSE_SETATTR:
		NEED(setattr);
		ret = ops->setattr(rq, ino, a, &out->a);
		r->arg[0] = &out->a, r->arg_len[0] = sizeof(out->a);
		break;
	case FUSE_READLINK:
		NEED(readlink);
		ret = ops->readlink(rq, ino, rbuf, SGF_PATH_MAX);
		if (ret > (long)SGF_PATH_MAX)
			ret = -EIO;
		r->data = rbuf, r->data_len = ret > 0 ? (size_t)ret : 0;
		break;
	case FUSE_SYMLINK:
		NEED(symlink);
		ret = ops->symlink(rq, ino, p->name, p->name2, &out->e);
		ENTRY_REPLY();
		break;
	case FUSE_MKNOD:
		NEED(mknod);
		ret = ops->mknod(rq, ino, p->name, a, &out->e);
		ENTRY_REPLY();
		break;
	case FUSE_MKDIR:
		NEED(mkdir);
		ret = ops->mkdir(rq, ino, p->name, a, &out->e);
		ENTRY_REPLY();
		break;
	case FUSE_UNLINK:
		NEED(unlink);
		ret = ops->unlink(rq, ino, p->name);
		break;
	case FUSE_RMDIR:
		NEED(rmdir);
		ret = ops->rmdir(rq, ino, p->name);
		break;
	case FUSE_RENAME:
		NEED(rename);
		ret = ops->rename(rq, ino, p->name,
				  ((const struct fuse_rename_in *)a)->newdir, p->name2, 0);
		break;
	case FUSE_RENAME2: {
		const struct fuse_rename2_in *rn = a;
		NEED(rename);
		ret = ops->rename(rq, ino, p->name, rn->newdir, p->name2, rn->flags);
		break;
	}
	case FUSE_LINK:
		NEED(link);
		ret = ops->link(rq, ((const struct fuse_link_in *)a)->oldnodeid, ino, p->name,
				&out->e);
		ENTRY_REPLY();
		break;
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		if (rq->opcode == FUSE_OPEN) {
			NEED(open);
			ret = ops->open(rq, ino, a, &out->o);
		} else {
			NEED(opendir);
			ret = ops->opendir(rq, ino, a, &out->o);
		}
		r->arg[0] = &out->o, r->arg_len[0] = sizeof(out->o);
		break;
	case FUSE_CREATE:
		NEED(create);
		ret = ops->create(rq, ino, p->name, a, &out->e, open2);
		ENTRY_REPLY();
		r->arg[1] = open2, r->arg_len[1] = sizeof(*open2);
		break;
	case FUSE_FLUSH:
		NEED(flush);
		ret = ops->flush(rq, ino, a);
		break;
	case FUSE_RELEASE:
		ret = ops->release ? ops->release(rq, ino, a) : 0;
		break;
	case FUSE_RELEASEDIR:
		ret = ops->releasedir ? ops->releasedir(rq, ino, a) : 0;
		break;
	case FUSE_FSYNC:
		NEED(fsync);
		ret = ops->fsync(rq, ino, a);
		break;
	case FUSE_FSYNCDIR:
		NEED(fsyncdir);
		ret = ops->fsyncdir(rq, ino, a);
		break;
	case FUSE_STATFS:
		NEED(statfs);
		ret = ops->statfs(rq, ino, &out->s);
		r->arg[0] = &out->s, r->arg_len[0] = sizeof(out->s);
		break;
	case FUSE_SETXATTR:
		NEED(setxattr);
		ret = ops->setxattr(rq, ino, p->name, p->data, p->data_len,
				    ((const struct fuse_setxattr_in *)a)->flags);
		break;
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR: {
		uint32_t size = ((const struct fuse_getxattr_in *)a)->size;
		if (rq->opcode == FUSE_GETXATTR) {
			NEED(getxattr);
			ret = ops->getxattr(rq, ino, p->name, size ? rbuf : NULL, size);
		} else {
			NEED(listxattr);
			ret = ops->listxattr(rq, ino, size ? rbuf : NULL, size);
		}
		if (ret >= 0 && size == 0) {
			out->x.size = (uint32_t)ret;
			r->arg[0] = &out->x, r->arg_len[0] = sizeof(out->x);
		} else if (ret > (long)size) {
			ret = -ERANGE;
		} else if (ret > 0) {
			r->data = rbuf, r->data_len = (size_t)ret;
		}
		break;
	}
	case FUSE_REMOVEXATTR:
		NEED(removexattr);
		ret = ops->removexattr(rq, ino, p->name);
		break;
	case FUSE_ACCESS:
		NEED(access);
		ret = ops->access(rq, ino, ((const struct fuse_access_in *)a)->mask);
		break;
	case FUSE_FALLOCATE:
		NEED(fallocate);
		ret = ops->fallocate(rq, ino, a);
		break;
	case FUSE_LSEEK:
		NEED(lseek);
		ret = ops->lseek(rq, ino, a, &out->l);
		r->arg[0] = &out->l, r->arg_len[0] = sizeof(out->l);
		break;
	default:
		break;
	}
#undef NEED
#undef ENTRY_REPLY
	return ret;
}

/* READ, WRITE, READDIR(PLUS): the data path. */
static long call_io(struct sgf_session *se, const struct sgf_req *rq,
		    const struct sgf_parsed *p, struct reply *r, char *rbuf,
		    struct fuse_write_out *wout)
{
	const struct sgf_ops *ops = se->ops;
	long ret;

	if (rq->opcode == FUSE_WRITE) {
		const struct fuse_write_in *in = p->arg;
		struct iovec iov = { (void *)p->data, p->data_len };
		if (!ops->write)
			return -ENOSYS;
		ret = ops->write(rq, rq->nodeid, in, &iov, 1);
		if (ret > (long)in->size)
			ret = -EIO; /* the filesystem claims more than it got */
		wout->size = ret > 0 ? (uint32_t)ret : 0;
		r->arg[0] = wout, r->arg_len[0] = sizeof(*wout);
		return ret;
	}

	const struct fuse_read_in *in = p->arg;
	if (rq->opcode == FUSE_READ) {
		struct iovec iov = { rbuf, in->size };
		if (!ops->read)
			return -ENOSYS;
		ret = ops->read(rq, rq->nodeid, in, &iov, 1);
		if (ret > (long)in->size)
			ret = -EIO;
	} else {
		struct sgf_dirbuf db = { rbuf, in->size, 0 };
		if (!ops->readdir)
			return -ENOSYS;
		ret = ops->readdir(rq, rq->nodeid, in, rq->opcode == FUSE_READDIRPLUS, &db);
		if (ret == 0)
			ret = (long)db.used;
	}
	r->data = rbuf;
	r->data_len = ret > 0 ? (size_t)ret : 0;
	return ret;
}

/* Answer a READ by splicing from the file the filesystem names. Returns
 * true when the reply was sent or the channel failed (*sent holds the
 * result), false when nothing was sent and the caller copies instead. */
static bool read_spliced(struct sgf_session *se, struct sgf_chan *ch,
			 const struct sgf_req *rq, const struct fuse_read_in *in,
			 const struct sgf_splice_pipe *pipe, int *sent)
{
	const struct sgf_ops *ops = se->ops;
	struct fuse_out_header oh = { .unique = rq->unique };
	void *token = NULL;
	uint64_t off = 0;
	ssize_t n;
	int fd = -1;

	if (pipe == NULL || in->size < SPLICE_MIN_READ || sgf_chan_is_dev(ch) ||
	    !ops->read_source || !ops->read_source_done)
		return false;
	if (ops->read_source(rq, rq->nodeid, in, &fd, &off, &token) != 0)
		return false;
	n = fd < 0 || off > INT64_MAX - (uint64_t)in->size
		    ? -EAGAIN
		    : sgf_chan_send_spliced(ch, &oh, sizeof(oh), fd, off, in->size, pipe);
	ops->read_source_done(rq, token);
	if (n == -EAGAIN || n == -EOPNOTSUPP || n == -EINVAL)
		return false;
	if (se->opts.debug)
		fprintf(stderr, "sgfuse:    unique %llu -> ok, %zu bytes spliced\n",
			(unsigned long long)rq->unique, n > 0 ? (size_t)n : 0);
	*sent = n < 0 ? (int)n : 0;
	return true;
}

static bool is_io(uint32_t op)
{
	return op == FUSE_READ || op == FUSE_WRITE || op == FUSE_READDIR ||
	       op == FUSE_READDIRPLUS;
}

/* Payload bytes a request counts for: the size asked for by READ and
 * READDIR(PLUS), the size sent by WRITE, the trailing data otherwise. */
static uint64_t request_bytes(const struct sgf_parsed *p)
{
	uint32_t op = p->hdr->opcode;

	if (op == FUSE_WRITE)
		return ((const struct fuse_write_in *)p->arg)->size;
	if (is_io(op))
		return ((const struct fuse_read_in *)p->arg)->size;
	return p->data_len;
}

int sgf_session_process(struct sgf_session *se, struct sgf_chan *ch, const void *msg,
			size_t len, void *reply_buf)
{
	return sgf_session_process_spliced(se, ch, msg, len, reply_buf, NULL);
}

int sgf_session_process_spliced(struct sgf_session *se, struct sgf_chan *ch,
				const void *msg, size_t len, void *reply_buf,
				const struct sgf_splice_pipe *pipe)
{
	struct sgf_parsed p;
	struct reply r = { 0 };
	union op_out out;
	struct fuse_open_out open2;
	struct fuse_init_out init_out;
	size_t init_len;
	long ret;
	int err;

	if ((uintptr_t)msg % 8 != 0)
		return -EINVAL; /* caller bug: wire structs need alignment */
	err = sgf_parse_request(msg, len, &se->lim, &p);
	if (err == -EPROTO) {
		atomic_fetch_add(&se->stats.malformed, 1);
		return 0; /* no header: nobody to answer */
	}
	const struct fuse_in_header *h = msg;
	if (se->opts.debug)
		debug_request(h);
	if (err) {
		atomic_fetch_add(err == -ENOSYS ? &se->stats.unknown : &se->stats.malformed, 1);
		/* A malformed FORGET still must not be answered. */
		if (p.desc && p.desc->no_reply)
			return 0;
		return send_reply(se, ch, h, err, &r);
	}

	if (h->opcode == FUSE_INIT) {
		sgf_stats_add(&se->stats, FUSE_INIT, 0);
		err = sgf_session_do_init(se, p.arg, p.arg_len, &init_out, &init_len);
		r.arg[0] = &init_out, r.arg_len[0] = init_len;
		return send_reply(se, ch, h, err, &r);
	}
	if (!atomic_load(&se->initialized)) {
		if (p.desc->no_reply)
			return 0;
		return send_reply(se, ch, h, -EIO, &r);
	}

	struct sgf_req rq = { .unique = h->unique, .nodeid = h->nodeid, .opcode = h->opcode,
			      .uid = h->uid, .gid = h->gid, .pid = h->pid, .fs = se->fs,
			      .session = se };
	switch (h->opcode) {
	case FUSE_FORGET:
		sgf_stats_add(&se->stats, h->opcode, 0);
		if (se->ops->forget)
			se->ops->forget(&rq, h->nodeid,
					((const struct fuse_forget_in *)p.arg)->nlookup);
		return 0;
	case FUSE_BATCH_FORGET:
		sgf_stats_add(&se->stats, h->opcode, 0);
		if (se->ops->forget)
			forget_batch(se, &rq, &p);
		return 0;
	case FUSE_INTERRUPT:
		/* Requests run to completion in one worker; the interrupted one
		 * is answered normally, which the protocol allows. */
		sgf_stats_add(&se->stats, h->opcode, 0);
		return 0;
	case FUSE_NOTIFY_REPLY:
		return 0; /* we never send RETRIEVE notifications */
	case FUSE_DESTROY:
		sgf_stats_add(&se->stats, h->opcode, 0);
		if (se->ops->destroy && !atomic_exchange(&se->exited, true))
			se->ops->destroy(se->fs);
		atomic_store(&se->exited, true);
		return send_reply(se, ch, h, 0, &r);
	default:
		break;
	}

	/* Counted before any reply leaves: a requester that saw the reply
	 * also sees the count. */
	sgf_stats_add(&se->stats, h->opcode, request_bytes(&p));
	if (h->opcode == FUSE_READ && read_spliced(se, ch, &rq, p.arg, pipe, &err))
		return err;
	memset(&out, 0, sizeof(out));
	memset(&open2, 0, sizeof(open2));
	if (is_io(h->opcode))
		ret = call_io(se, &rq, &p, &r, reply_buf, &out.w);
	else
		ret = call_op(se, &rq, &p, &r, reply_buf, &out, &open2);
	if (ret < -4095 || ret > 0x7fffffffL) /* a filesystem returning nonsense */
		ret = -EIO;
	return send_reply(se, ch, h, ret < 0 ? (int)ret : 0, &r);
}
