/* lib/server/session.c - a session's life: creation with its options and
 * request pool, the INIT handshake that settles it, accessors, and the
 * buffer sizes requests need. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "session.h"
#include "uring.h"

/* Capabilities a filesystem's init may clear from ci->flags. */
#define SGF_DECLINABLE                                                          \
	((uint64_t)(FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_EXPORT_SUPPORT | \
		    FUSE_ASYNC_READ | FUSE_PARALLEL_DIROPS | FUSE_CACHE_SYMLINKS |      \
		    FUSE_ASYNC_DIO | FUSE_PASSTHROUGH))

/* Largest xattr value and symlink target a reply may carry. */
#define SGF_XATTR_MAX 65536u

static size_t max_sz(size_t a, size_t b)
{
	return a > b ? a : b;
}

struct sgf_session *sgf_session_new(const struct sgf_ops *ops, void *fs,
				    const struct sgf_session_opts *opts)
{
	struct sgf_session *se;

	if (ops == NULL) {
		errno = EINVAL;
		return NULL;
	}
	se = calloc(1, sizeof(*se));
	if (se == NULL)
		return NULL;
	se->ops = ops;
	se->fs = fs;
	if (opts)
		se->opts = *opts;
	if (se->opts.max_write == 0)
		se->opts.max_write = SGF_DEFAULT_MAX_WRITE;
	if (se->opts.max_write < SGF_PAGE_SIZE)
		se->opts.max_write = SGF_PAGE_SIZE;
	if (se->opts.max_pages_limit == 0)
		se->opts.max_pages_limit = sgf_kernel_max_pages_limit();
	se->max_pages_offer = sgf_derive_max_pages(se->opts.max_write, se->opts.max_pages,
						   se->opts.max_pages_limit);
	if (se->opts.max_inflight == 0)
		se->opts.max_inflight = SGF_MAX_BACKGROUND + sgf_default_threads();
	if (se->opts.io_uring && se->opts.io_uring_depth == 0)
		se->opts.io_uring_depth = SGF_URING_DEPTH_DEFAULT;
	pthread_mutex_init(&se->init_lock, NULL);
	pthread_cond_init(&se->init_cond, NULL);
	/* Ring entries are requests of the pool too (INTERRUPT finds them,
	 * the end of the session answers them), made now whether or not
	 * the kernel will offer io_uring: untouched, they cost address
	 * space only. */
	unsigned nslots = se->opts.io_uring ? sgf_uring_nqueues() * se->opts.io_uring_depth : 0;
	size_t payload = max_sz(sgf_session_recv_size(se), sgf_session_reply_size(se));
	int err = sgf_pool_init(se, se->opts.max_inflight, nslots, payload);
	if (err) {
		pthread_cond_destroy(&se->init_cond);
		pthread_mutex_destroy(&se->init_lock);
		free(se);
		errno = -err;
		return NULL;
	}
	return se;
}

void sgf_session_destroy(struct sgf_session *se)
{
	if (se == NULL)
		return;
	sgf_pool_free(se);
	pthread_cond_destroy(&se->init_cond);
	pthread_mutex_destroy(&se->init_lock);
	free(se);
}

void sgf_session_init_replied(struct sgf_session *se)
{
	pthread_mutex_lock(&se->init_lock);
	se->init_replied = true;
	pthread_cond_broadcast(&se->init_cond);
	pthread_mutex_unlock(&se->init_lock);
}

void sgf_session_init_wait_over(struct sgf_session *se)
{
	pthread_mutex_lock(&se->init_lock);
	se->init_wait_over = true;
	pthread_cond_broadcast(&se->init_cond);
	pthread_mutex_unlock(&se->init_lock);
}

bool sgf_session_wait_init(struct sgf_session *se)
{
	bool replied;

	pthread_mutex_lock(&se->init_lock);
	while (!se->init_replied && !se->init_wait_over)
		pthread_cond_wait(&se->init_cond, &se->init_lock);
	replied = se->init_replied && !se->init_wait_over;
	pthread_mutex_unlock(&se->init_lock);
	return replied;
}

int sgf_session_do_init(struct sgf_session *se, const void *arg, size_t arg_len,
			struct fuse_init_out *out, size_t *out_len)
{
	struct fuse_init_in in;
	struct sgf_conn_info ci;
	int err;

	memset(&in, 0, sizeof(in));
	memcpy(&in, arg, arg_len < sizeof(in) ? arg_len : sizeof(in));
	pthread_mutex_lock(&se->init_lock);
	if (atomic_load(&se->initialized)) {
		err = -EINVAL; /* a second INIT */
		goto out;
	}
	/* Passthrough needs a channel that registers backing files (a
	 * socket peer offering it cannot have any). */
	struct sgf_session_opts opts = se->opts;
	if (se->ch == NULL || !sgf_chan_has_backing(se->ch))
		opts.passthrough = false;
	err = sgf_negotiate_init(&opts, &in, arg_len, out, out_len, &ci);
	if (err || *out_len == FUSE_COMPAT_INIT_OUT_SIZE)
		goto out; /* failed, or asked the requester to retry */
	if (se->ops->init) {
		struct sgf_conn_info theirs = ci;
		err = se->ops->init(se->fs, &theirs);
		if (err)
			goto out;
		/* The filesystem may lower max_write; everything else stays as
		 * negotiated (the buffers are sized for it). */
		if (theirs.max_write < ci.max_write && theirs.max_write >= SGF_PAGE_SIZE)
			ci.max_write = out->max_write = theirs.max_write;
		/* It may decline capabilities that only change what the
		 * requester asks for, never the buffers' layout. */
		uint64_t dropped = ci.flags & ~theirs.flags & SGF_DECLINABLE;
		ci.flags &= ~dropped;
		out->flags &= ~(uint32_t)dropped;
		out->flags2 &= ~(uint32_t)(dropped >> 32);
		if (dropped & FUSE_PASSTHROUGH)
			sgf_init_out_set_stack_depth(out, 0);
		/* ...and ask for those it must opt into. */
		sgf_init_opt_in(&ci, out, theirs.flags);
	}
	se->conn = ci;
	se->lim.max_write = ci.max_write;
	se->lim.max_read = ci.max_read;
	atomic_store(&se->initialized, true);
out:
	pthread_mutex_unlock(&se->init_lock);
	return err;
}

const struct sgf_conn_info *sgf_session_conn(const struct sgf_session *se)
{
	return se != NULL && atomic_load(&se->initialized) ? &se->conn : NULL;
}

bool sgf_session_initialized(const struct sgf_session *se)
{
	return atomic_load(&se->initialized);
}

bool sgf_session_exited(const struct sgf_session *se)
{
	return atomic_load(&se->exited);
}

void sgf_session_exit(struct sgf_session *se)
{
	atomic_store(&se->exited, true);
}

struct sgf_stats *sgf_session_stats(struct sgf_session *se)
{
	return &se->stats;
}


size_t sgf_session_recv_size(const struct sgf_session *se)
{
	/* Headers and fixed args fit in a page; the payload is a WRITE of
	 * max_write or a SETXATTR value. */
	return SGF_PAGE_SIZE + max_sz(se->opts.max_write, SGF_XATTR_MAX);
}

size_t sgf_session_reply_size(const struct sgf_session *se)
{
	/* A requester without FUSE_MAX_PAGES reads 32 pages at a time. */
	size_t pages = max_sz(se->max_pages_offer, 32);
	return max_sz(pages * SGF_PAGE_SIZE, max_sz(SGF_XATTR_MAX, SGF_PATH_MAX));
}
