/* sgfuse/reply.h - deferred replies: an operation keeps its request, returns
 * SGF_DEFER, and the request is answered later from any thread. The library
 * guarantees one reply per request on the wire, whatever the filesystem
 * does: a second reply is refused and counted, a kept request never answered
 * is answered EIO when the session ends. */
#ifndef SGFUSE_REPLY_H
#define SGFUSE_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <sgfuse/ops.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Keep request r past the operation's return (call it inside the operation,
 * then return SGF_DEFER). Returns the handle to answer through; everything
 * the operation was handed (r, names, in, out, iov, db) stays valid and the
 * request's buffers stay reserved until the reply. NULL for FORGET and
 * read_source, which cannot be kept. Calling it twice returns the same
 * handle. Keeping costs no allocation: the request lives in one of the
 * session's max_inflight buffers, and workers stop receiving while all of
 * them are in use. */
struct sgf_req *sgf_req_keep(const struct sgf_req *r);

/* Answer a kept request with what its operation would have returned: 0 or a
 * byte count with the output structs / iov / dirbuf filled, or -errno.
 * Returns 0 when the reply was handed to the transport (or the requester is
 * gone: -ENOTCONN is not reported for that), -EALREADY when r was already
 * answered (nothing sent; counted in stats.refused). After a reply r is
 * invalid: do not touch it, its names or its buffers again. The handle is
 * the request's buffer, which serves a later request once it is free (the
 * library reuses free buffers oldest first, so that is after every other
 * free one): a second reply is refused until then, and after that would
 * answer the later request. So one owner answers, once. One exception:
 * a kept request the library answered EIO because its session ended keeps
 * its buffers until ops->destroy has returned, so a backend still filling
 * them (it learns from -EALREADY) does no harm. */
int sgf_reply(struct sgf_req *r, long result);

/* Shorthands: copy the struct into the request's output, then sgf_reply(r, 0)
 * (sgf_reply_data and sgf_reply_write: sgf_reply(r, n)); sgf_reply_create
 * answers CREATE and TMPFILE. */
int sgf_reply_err(struct sgf_req *r, int neg_errno);
int sgf_reply_entry(struct sgf_req *r, const struct fuse_entry_out *e);
int sgf_reply_create(struct sgf_req *r, const struct fuse_entry_out *e,
		     const struct fuse_open_out *o);
int sgf_reply_attr(struct sgf_req *r, const struct fuse_attr_out *a);
int sgf_reply_open(struct sgf_req *r, const struct fuse_open_out *o);
int sgf_reply_statfs(struct sgf_req *r, const struct fuse_statfs_out *s);
/* READ: n bytes were filled into the iov the operation got. */
int sgf_reply_data(struct sgf_req *r, size_t n);
/* READ answered from the filesystem's own buffers, with no copy into the
 * request's: the reply carries iov[0..iovcnt) (at most SGF_REPLY_IOV_MAX
 * entries, their total at most the size asked for, else the reply is EIO).
 * The bytes are handed to the transport before the call returns (for
 * /dev/fuse and sockets: copied or queued), so the buffers may be reused
 * as soon as it returns; keep them stable until then. -EINVAL for another
 * opcode or a bad iov. */
#define SGF_REPLY_IOV_MAX 12
int sgf_reply_iov(struct sgf_req *r, const struct iovec *iov, int iovcnt);

/* WRITE: n bytes were written. */
int sgf_reply_write(struct sgf_req *r, size_t n);

/* Has the requester interrupted r (an INTERRUPT for it arrived)? Valid from
 * the operation until the reply, kept or not. */
bool sgf_req_interrupted(const struct sgf_req *r);

#ifdef __cplusplus
}
#endif
#endif
