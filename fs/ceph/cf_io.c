/* fs/ceph/cf_io.c - READ, WRITE, FSYNC and FALLOCATE, run on the backend
 * threads. The worker keeps the request, queues a job holding the open
 * handle, and returns SGF_DEFER; the job makes one ceph_ll_readv or
 * ceph_ll_writev straight on the request's iovecs (a packed request's
 * pages stay one call: no copy, no split) and answers from there. */
#include <errno.h>
#include <stdlib.h>
#include <sgfuse/reply.h>
#include "cf.h"

struct io_job {
	struct cf_job job;
	struct sgf_req *req;      /* kept */
	struct cf_handle *h;      /* held until the reply */
	uint32_t opcode;
	const struct iovec *iov;
	int iovcnt;
	int64_t off, len;
	uint32_t flags;           /* fsync flags, fallocate mode */
};

static void run_io(struct cf_job *job)
{
	struct io_job *j = (struct io_job *)job;
	struct cf_session *s = job->s;
	struct sgf_ceph *c = s->c;
	struct ceph_mount_info *cm = c->cmount;
	long ret;

	switch (j->opcode) {
	case FUSE_READ:
		ret = (long)ceph_ll_readv(cm, j->h->fh, j->iov, j->iovcnt, j->off);
		atomic_fetch_add(&c->readv_calls, 1);
		if (ret > 0)
			atomic_fetch_add(&c->read_bytes, (uint64_t)ret);
		break;
	case FUSE_WRITE:
		ret = (long)ceph_ll_writev(cm, j->h->fh, j->iov, j->iovcnt, j->off);
		atomic_fetch_add(&c->writev_calls, 1);
		if (ret > 0)
			atomic_fetch_add(&c->write_bytes, (uint64_t)ret);
		break;
	case FUSE_FSYNC:
		ret = ceph_ll_fsync(cm, j->h->fh, (int)(j->flags & 1));
		break;
	default: /* FUSE_FALLOCATE */
		ret = ceph_ll_fallocate(cm, j->h->fh, (int)j->flags, j->off, j->len);
		break;
	}
	/* The handle first: once answered, the requester may RELEASE it. */
	cf_handle_put(s, j->h);
	sgf_reply(j->req, ret);
	free(j);
}

/* Keep r and hand the op to the backend pool; SGF_DEFER, or -errno (the
 * handle put back) when it cannot be queued. */
static int defer(const struct sgf_req *r, struct cf_handle *h, struct io_job *proto)
{
	struct cf_session *s = r->fs;
	struct io_job *j = malloc(sizeof(*j));

	if (!j) {
		cf_handle_put(s, h);
		return -ENOMEM;
	}
	*j = *proto;
	j->job.run = run_io;
	j->job.s = s;
	j->h = h;
	j->req = sgf_req_keep(r);
	cf_pool_submit(s->c, &j->job);
	return SGF_DEFER;
}

ssize_t cf_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		const struct iovec *iov, int iovcnt)
{
	struct cf_handle *h = cf_handle_get(r->fs, in->fh, ino, false);
	struct io_job j = { .opcode = FUSE_READ, .iov = iov, .iovcnt = iovcnt,
			    .off = (int64_t)in->offset };

	if (!h)
		return -EBADF;
	if (in->size == 0 || in->offset > INT64_MAX) {
		cf_handle_put(r->fs, h);
		return in->size == 0 ? 0 : -EINVAL;
	}
	return defer(r, h, &j);
}

ssize_t cf_write(const struct sgf_req *r, uint64_t ino, const struct fuse_write_in *in,
		 const struct iovec *iov, int iovcnt)
{
	struct cf_handle *h = cf_handle_get(r->fs, in->fh, ino, false);
	struct io_job j = { .opcode = FUSE_WRITE, .iov = iov, .iovcnt = iovcnt,
			    .off = (int64_t)in->offset };

	if (!h)
		return -EBADF;
	if (in->size == 0 || in->offset > INT64_MAX) {
		cf_handle_put(r->fs, h);
		return in->size == 0 ? 0 : -EFBIG;
	}
	return defer(r, h, &j);
}

int cf_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in)
{
	struct cf_handle *h = cf_handle_get(r->fs, in->fh, ino, false);
	struct io_job j = { .opcode = FUSE_FSYNC, .flags = in->fsync_flags };

	return h ? defer(r, h, &j) : -EBADF;
}

int cf_fallocate(const struct sgf_req *r, uint64_t ino, const struct fuse_fallocate_in *in)
{
	struct cf_handle *h = cf_handle_get(r->fs, in->fh, ino, false);
	struct io_job j = { .opcode = FUSE_FALLOCATE, .off = (int64_t)in->offset,
			    .len = (int64_t)in->length, .flags = in->mode };

	if (!h)
		return -EBADF;
	if (in->offset > INT64_MAX || in->length > INT64_MAX) {
		cf_handle_put(r->fs, h);
		return -EINVAL;
	}
	if (in->length > INT64_MAX - in->offset) {
		cf_handle_put(r->fs, h);
		return -EFBIG;
	}
	return defer(r, h, &j);
}
