/* lib/session_priv.h - the session's state, shared by the files that make up
 * the server (session.c, init.c, dispatch.c, loop.c); not public. */
#ifndef SGFUSE_SESSION_PRIV_H
#define SGFUSE_SESSION_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <sgfuse/channel.h>
#include <sgfuse/server.h>

/* Receive buffers are placed so that the payload of a WRITE, which follows
 * fuse_in_header and fuse_write_in, starts on a page boundary: then an
 * O_DIRECT backing file takes it without a bounce copy. */
#define SGF_WRITE_PAYLOAD_OFFSET \
	(sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))

struct sgf_session {
	const struct sgf_ops *ops;
	void *fs;
	struct sgf_session_opts opts;
	uint32_t max_pages_offer;    /* derived at creation */
	struct sgf_conn_info conn;   /* written once, under init_lock */
	struct sgf_limits lim;
	pthread_mutex_t init_lock;
	atomic_bool initialized;
	atomic_bool exited;
	struct sgf_stats stats;
};

/* Handle FUSE_INIT (dispatch.c calls it). Returns 0 or -errno for the reply;
 * on success out and out_len hold the reply argument. */
int sgf_session_do_init(struct sgf_session *se, const void *arg, size_t arg_len,
			struct fuse_init_out *out, size_t *out_len);

/* Read the kernel's fs.fuse.max_pages_limit (256 if unreadable). */
uint32_t sgf_kernel_max_pages_limit(void);

#endif
