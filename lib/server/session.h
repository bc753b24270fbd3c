/* lib/server/session.h - one session: a requester (the kernel through
 * /dev/fuse, or a socket peer) after INIT, with its limits, statistics and
 * the pool of request buffers that bounds what it may hold in flight.
 * Shared by the server's files; internal. */
#ifndef SGFUSE_SERVER_SESSION_H
#define SGFUSE_SERVER_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <sgfuse/server.h>
#include "../common/stats_priv.h"
#include "../common/wire.h"
#include "chan.h"

/* Receive buffers are placed so that the payload of a WRITE, which follows
 * fuse_in_header and fuse_write_in, starts on a page boundary: then an
 * O_DIRECT backing file takes it without a bounce copy. */
#define SGF_WRITE_PAYLOAD_OFFSET \
	(sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))

/* max_background we announce at INIT, and so the default pool size. */
#define SGF_MAX_BACKGROUND 64u

/* Session options; zero means default. */
struct sgf_session_opts {
	uint32_t max_write;        /* default SGF_DEFAULT_MAX_WRITE */
	uint32_t max_pages;        /* default max_write / page; clamped */
	uint32_t max_pages_limit;  /* the kernel's ceiling; default read from
				    * /proc/sys/fs/fuse/max_pages_limit, 256 */
	unsigned max_inflight;     /* request buffers; default 64 + one per CPU */
	bool debug;                /* one line per request and reply on stderr */
	bool no_export;            /* do not offer export (NFS) support */
	bool io_uring;             /* accept FUSE_OVER_IO_URING when offered */
	unsigned io_uring_depth;   /* ring entries per queue; default 8 */
	bool passthrough;          /* accept FUSE_PASSTHROUGH when offered */
};

/* Ring entries per io_uring queue when opts.io_uring_depth is 0. */
#define SGF_URING_DEPTH_DEFAULT 8u

/* Storage for whichever fixed reply argument an operation fills. */
union sgf_op_out {
	struct fuse_entry_out e;
	struct fuse_attr_out a;
	struct fuse_open_out o;
	struct fuse_statfs_out s;
	struct fuse_lseek_out l;
	struct fuse_write_out w;
	struct fuse_getxattr_out x;
};

enum sgf_req_state {
	SGF_REQ_FREE,     /* in the pool */
	SGF_REQ_ACTIVE,   /* a worker received into it and runs its operation */
	SGF_REQ_KEPT,     /* the filesystem kept it: anyone may answer */
	SGF_REQ_DONE,     /* answered (or abandoned); buffers still held by refs */
};

/* One request with its buffers: what a worker receives into and what the
 * filesystem keeps when it defers. The operation's arguments, outputs and
 * iovecs all live here, so a kept request needs nothing from the worker. */
struct sgf_request {
	struct sgf_req pub;          /* first: ops get &pub */
	struct sgf_session *se;
	struct sgf_chan *ch;         /* the reply goes where the request came from */
	atomic_int state;
	atomic_uint refs;            /* worker, keep, INTERRUPT pins */
	atomic_bool interrupted;
	atomic_uint_least64_t live_unique; /* nonzero while in flight (INTERRUPT) */
	bool no_keep;                /* inside read_source / forget */
	struct sgf_parsed p;
	union sgf_op_out out;
	struct fuse_open_out open2;
	struct sgf_dirbuf db;
	struct iovec iov;
	const struct iovec *data_iov;  /* sgf_reply_iov: READ data from here */
	int data_iovcnt;
	/* Set by a channel whose requests lie in memory it shares with the
	 * requester (virtio-fs), before sgf_session_handle: where a WRITE's
	 * payload is (ext_write_len bytes, not in recv_buf) and where a
	 * READ's data goes (the reply's own payload area), so operations
	 * move data straight between the file and that memory. The channel
	 * owns the arrays (ext_read is trimmed here to the READ's size).
	 * NULL for every other channel. */
	const struct iovec *ext_write;
	int ext_write_n;
	size_t ext_write_len;
	struct iovec *ext_read;
	int ext_read_n;
	char *recv_buf;              /* WRITE payloads land page-aligned */
	size_t recv_size;
	char *reply_buf;             /* page-aligned reply payload */
	char *read_buf;              /* READ data: reply_buf, or a ring entry's
				      * payload (the reply leaves from there) */
	void *recv_mem;
	/* Slot requests (sgf_pool_init's nslots) belong to a transport's
	 * receive slot, an io_uring ring entry: slot is that entry, and
	 * give_back runs (under pool_lock) where others rejoin the free
	 * list. Both NULL for the rest. */
	void *slot;
	void (*give_back)(struct sgf_request *q);
	struct sgf_request *next_free;
	/* Why an OPEN/CREATE goes without passthrough (sgf_backing_fallback),
	 * for the debug line; reset per request. */
	const char *backing_why;
	int backing_err;
};

struct sgf_session {
	const struct sgf_ops *ops;
	void *fs;
	struct sgf_server *server;
	struct sgf_session_opts opts;
	uint32_t max_pages_offer;    /* derived at creation */
	struct sgf_conn_info conn;   /* written once, under init_lock */
	struct sgf_limits lim;
	pthread_mutex_t init_lock;
	pthread_cond_t init_cond;    /* init_replied or init_wait_over changed */
	bool init_replied;           /* the INIT reply has left */
	bool init_wait_over;         /* stop waiting for it: the session ends */
	atomic_bool initialized;
	atomic_bool exited;          /* DESTROY arrived or exit asked */
	atomic_bool ended;           /* teardown began: no notifications */
	atomic_bool destroy_called;
	struct sgf_stats stats;
	struct sgf_chan *ch;         /* the endpoint's channel (notifications,
				      * backing files) */
	atomic_int backing_live;     /* backing ids registered, not closed */

	/* The request pool (request.c). */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct sgf_request *reqs;
	unsigned nreqs;              /* all of them: the free ones, then ... */
	unsigned nslots;             /* ... the slot requests at the end */
	unsigned in_use;
	struct sgf_request *free_list; /* a queue: head ... */
	struct sgf_request *free_tail; /* ... and tail */
	bool pool_closed;
};

/* Derive the max_pages we announce: from max_write (rounded up to pages)
 * unless opts->max_pages asks for another value; never above the kernel's
 * limit nor the protocol's. */
uint32_t sgf_derive_max_pages(uint32_t max_write, uint32_t max_pages_opt, uint32_t limit);

/* Compute the INIT reply for a request init_in (arg_len bytes present).
 * Returns 0 or -errno: -EPROTO for a major below 7 or a minor below
 * SGF_PROTO_MINOR_MIN. A major above 7 gets 0 and an 8-byte reply holding
 * only our major and minor, which tells the requester to retry INIT with
 * them. out_len receives the size of init_out to send. */
int sgf_negotiate_init(const struct sgf_session_opts *opts, const struct fuse_init_in *in,
		       size_t arg_len, struct fuse_init_out *out, size_t *out_len,
		       struct sgf_conn_info *ci);

/* Grant the opt-in capabilities (FUSE_HANDLE_KILLPRIV_V2) a filesystem's
 * init asked for in asked, where the requester offered them: into ci and
 * the INIT reply out. Returns the bits added. */
uint64_t sgf_init_opt_in(struct sgf_conn_info *ci, struct fuse_init_out *out, uint64_t asked);

/* Worker threads when none are asked for: one per CPU (loop.c). */
unsigned sgf_default_threads(void);

/* A number from a /proc/sys file; 0 when unreadable. */
unsigned sgf_read_sysctl(const char *path);

/* Read the kernel's fs.fuse.max_pages_limit (256 if unreadable). */
uint32_t sgf_kernel_max_pages_limit(void);

/* Create a session serving ops (not copied: must outlive it) with
 * filesystem pointer fs; its request buffers are allocated here. NULL +
 * errno. */
struct sgf_session *sgf_session_new(const struct sgf_ops *ops, void *fs,
				    const struct sgf_session_opts *opts);
/* Free it; no worker or reply may be under way. */
void sgf_session_destroy(struct sgf_session *se);

bool sgf_session_initialized(const struct sgf_session *se);
/* True once DESTROY arrived or sgf_session_exit() was called. */
bool sgf_session_exited(const struct sgf_session *se);
void sgf_session_exit(struct sgf_session *se);
struct sgf_stats *sgf_session_stats(struct sgf_session *se);

/* Handle FUSE_INIT (dispatch.c calls it). Returns 0 or -errno for the reply;
 * on success out and out_len hold the reply argument. */
int sgf_session_do_init(struct sgf_session *se, const void *arg, size_t arg_len,
			struct fuse_init_out *out, size_t *out_len);

/* Bytes a receive buffer must hold for one request of this session, and a
 * reply buffer for one reply's payload. */
size_t sgf_session_recv_size(const struct sgf_session *se);
size_t sgf_session_reply_size(const struct sgf_session *se);

/* ---- dispatch.c ---- */

/* Results of sgf_session_handle besides -errno. */
#define SGF_HANDLED 0   /* answered (or never to be): the request is the caller's again */
#define SGF_KEPT 1      /* the filesystem kept it: the caller needs another */

/* Process the message of len bytes in q->recv_buf that arrived on ch:
 * validate, dispatch, reply (none for FORGET-like ops). pipe: a worker's
 * empty pipe for spliced READ replies, or NULL. Returns SGF_HANDLED,
 * SGF_KEPT, or -errno when a reply could not be sent (the channel is
 * gone). */
int sgf_session_handle(struct sgf_session *se, struct sgf_chan *ch, struct sgf_request *q,
		       size_t len, const struct sgf_splice_pipe *pipe);

/* Test hook: process one message given in msg (copied into a pool
 * request), as a worker would. Returns 0, or -errno when the reply could not
 * be sent. A kept request stays kept. */
int sgf_session_process(struct sgf_session *se, struct sgf_chan *ch, const void *msg,
			size_t len);

/* Send the reply result (what the operation returned) for q. The caller
 * has moved q to SGF_REQ_DONE. 0 or -errno from the channel. */
int sgf_request_send(struct sgf_request *q, long result);

/* Tell waiters that the INIT reply has been sent (dispatch.c); wait for it
 * (true), or for sgf_session_init_wait_over (false). */
void sgf_session_init_replied(struct sgf_session *se);
bool sgf_session_wait_init(struct sgf_session *se);
void sgf_session_init_wait_over(struct sgf_session *se);

/* ---- request.c: the pool and request ownership ---- */

/* n requests on the free list, and nslots slot requests after them, each
 * with a page-aligned payload of slot_payload bytes preceded by a page
 * for headers (see uring.c). */
int sgf_pool_init(struct sgf_session *se, unsigned n, unsigned nslots, size_t slot_payload);
/* Slot request i (0 <= i < nslots). */
struct sgf_request *sgf_pool_slot(struct sgf_session *se, unsigned i);
/* A slot request's message has arrived: count it in use, with the
 * caller's one reference. */
void sgf_pool_take_slot(struct sgf_request *q);
void sgf_pool_free(struct sgf_session *se);
/* Take a free request (blocks while none is free). NULL once closed. The
 * caller holds its one reference. */
struct sgf_request *sgf_pool_get(struct sgf_session *se);
/* The same, but NULL as soon as *stop is true (checked again whenever
 * sgf_pool_wake is called). */
struct sgf_request *sgf_pool_get_unless(struct sgf_session *se, const atomic_bool *stop);
void sgf_pool_wake(struct sgf_session *se);
/* Give back a request whose last reference the caller drops. */
void sgf_pool_put(struct sgf_request *q);
/* Is every request buffer in use (workers waiting for one)? */
bool sgf_pool_exhausted(struct sgf_session *se);
/* Wake and refuse waiters of sgf_pool_get. */
void sgf_pool_close(struct sgf_session *se);
/* Drop one reference; true when it was the last (the caller then owns q
 * and must reuse it or sgf_pool_put it). */
bool sgf_request_unref(struct sgf_request *q);
/* The worker's end of an operation that returned result. Returns true when
 * the worker may reuse q, false when q belongs to others now. */
bool sgf_request_finish(struct sgf_request *q, long result);
/* INTERRUPT for unique: mark the request and run ops->interrupt. false
 * when no request with that unique is in flight. */
bool sgf_request_interrupt(struct sgf_session *se, uint64_t unique);
/* End of session: answer EIO to every kept request, then wait until every
 * request is back in the pool. Workers must have stopped. */
void sgf_session_abandon_kept(struct sgf_session *se);

/* ---- backing.c: FUSE passthrough ---- */

/* Account for the OPEN/CREATE reply o of q (stats.passthrough or
 * passthrough_fallback, and the debug line). Returns 0, or -EIO when o names
 * a backing file on a session without passthrough (the requester could
 * not use it). */
int sgf_backing_account(struct sgf_request *q, const struct fuse_open_out *o);

/* The max_stack_depth field of an INIT reply (init.c). */
void sgf_init_out_set_stack_depth(struct fuse_init_out *out, uint32_t depth);

/* ---- notify.c ---- */
/* (public calls in <sgfuse/notify.h>) */

#endif
