/* lib/client/conn.h - internals of a client connection: the socket, the
 * bounded table of requests in flight (slots, found by unique), and the
 * receiver thread that validates each reply and routes its payload straight
 * into the memory of the request that owns it. */
#ifndef SGFUSE_CLIENT_CONN_H
#define SGFUSE_CLIENT_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sgfuse/client.h>

#define SGF_CLIENT_DEFAULT_MAX_PAGES 256u
#define SGF_CLIENT_DEFAULT_INFLIGHT 64u
/* unique = seq << SGF_SLOT_SHIFT | slot index << 1: even like the kernel's
 * (bit 0 is its interrupt marker) and never 0 (which marks notifications). */
#define SGF_SLOT_SHIFT 13
#define SGF_CLIENT_MAX_INFLIGHT (1u << (SGF_SLOT_SHIFT - 1))
#define SGF_CLIENT_DEFAULT_WINDOW 16u
/* The kernel's max_pages when a server lacks FUSE_MAX_PAGES. */
#define SGF_CLIENT_LEGACY_MAX_PAGES 32u

/* How a reply's result is derived once its payload is in place. */
enum sgf_result_kind {
	SGF_RES_ZERO,   /* success is 0 (fixed out struct or nothing) */
	SGF_RES_LEN,    /* success is the payload length (READ, READDIR) */
	SGF_RES_WRITE,  /* success is fuse_write_out.size, checked against sent */
};

/* What a successful reply must look like and where its payload goes. */
struct sgf_expect {
	enum sgf_result_kind kind;
	size_t min, max;        /* accepted payload length range */
	struct iovec *iov;      /* destination, at least max bytes; scratch the
				 * receiver may modify */
	int iovcnt;
	size_t sent;            /* SGF_RES_WRITE: payload bytes sent */
};

/* Whoever waits for one or more slots: a single call, or a dio call. */
struct sgf_waiter {
	pthread_cond_t cond;
	unsigned ndone;         /* completed slots not yet collected */
};

struct sgf_slot {
	bool busy;              /* owned by a caller */
	bool armed;             /* unique assigned, reply expected */
	bool done;
	uint64_t unique;
	uint32_t opcode;
	unsigned tag;           /* the owner's name for it (dio window tag) */
	struct sgf_waiter *waiter;
	struct sgf_expect ex;
	struct fuse_write_out wout;  /* WRITE reply lands here ... */
	struct iovec wout_iov;       /* ... through this */
	ssize_t result;
	struct iovec *iovbuf;   /* scratch for a dio slice: header, arg, slice */
	unsigned iovcap;
};

struct sgf_client {
	int fd;
	pthread_mutex_t lock;       /* slots, free stack, dead */
	pthread_cond_t slot_cond;   /* a slot was freed or the connection died */
	pthread_mutex_t send_lock;  /* one message on the wire at a time */
	pthread_t receiver;
	bool receiver_running;
	bool dead;
	/* INIT done: before it, a stray reply means the peer is not a FUSE
	 * server at all, and the connection is given up. */
	atomic_bool inited;
	struct sgf_slot *slots;
	unsigned nslots;
	unsigned *free_stack;
	unsigned nfree;
	uint64_t seq;               /* high bits of the next unique */
	struct sgf_client_conn conn;
	struct sgf_stats stats;
	_Atomic int policy;
	unsigned window;
	uint32_t uid, gid, pid;
	uint32_t want_max_pages, want_max_read;
};

/* ---- slots (slots.c) ---- */

/* Take a free slot. may_block false: -EAGAIN when none is free.
 * -ENOTCONN once the connection is dead. */
int sgf_slot_acquire(struct sgf_client *c, bool may_block, struct sgf_slot **out);
/* Give a reply expectation and an owner to slot, assign its unique. */
void sgf_slot_arm(struct sgf_client *c, struct sgf_slot *s, uint32_t opcode,
		  const struct sgf_expect *ex, struct sgf_waiter *w, unsigned tag);
/* Return a slot that is not armed, or armed and done. */
void sgf_slot_release(struct sgf_client *c, struct sgf_slot *s);
/* Wait until s is done and return its result. Takes and drops c->lock. */
ssize_t sgf_slot_wait(struct sgf_client *c, struct sgf_slot *s);
/* Wait up to timeout_ms for s to be done (without collecting it). */
bool sgf_slot_wait_until(struct sgf_client *c, struct sgf_slot *s, unsigned timeout_ms);
/* Mark s done with result (caller holds c->lock). */
void sgf_slot_complete_locked(struct sgf_client *c, struct sgf_slot *s, ssize_t result);
/* The armed, pending slot with this unique, or NULL (caller holds c->lock). */
struct sgf_slot *sgf_slot_find_locked(struct sgf_client *c, uint64_t unique);
/* The connection is gone: fail every pending slot with -ENOTCONN and wake
 * everyone. Only the receiver calls this, after it stopped touching slots. */
void sgf_slots_fail_all(struct sgf_client *c);

int sgf_waiter_init(struct sgf_waiter *w);
void sgf_waiter_destroy(struct sgf_waiter *w);

/* ---- sending (send.c) ---- */

/* Send one request: vec[0] is filled here with the fuse_in_header, vec[1..cnt)
 * is the rest of the message. vec entries may be modified. On a failed send
 * the socket is shut down, so the receiver fails every pending slot; the
 * caller still waits for its own slot. Returns 0 or -errno. */
int sgf_send_request(struct sgf_client *c, uint64_t unique, uint32_t opcode,
		     uint64_t nodeid, struct iovec *vec, int cnt);

/* ---- receiving (recv.c) ---- */

int sgf_receiver_start(struct sgf_client *c);
void sgf_receiver_stop(struct sgf_client *c);

/* ---- one synchronous request (call.c) ---- */

struct sgf_call {
	uint32_t opcode;
	uint64_t nodeid;
	const void *arg;
	uint32_t arg_size;
	const char *name;       /* NUL-terminated tails, or NULL */
	const char *name2;
	struct sgf_expect ex;
};

/* Send call and wait for its reply: result >= 0 or -errno. */
ssize_t sgf_call_sync(struct sgf_client *c, const struct sgf_call *call);
/* Expectation helpers. */
void sgf_expect_none(struct sgf_expect *ex);
void sgf_expect_fixed(struct sgf_expect *ex, struct iovec *iov, void *out, size_t size);
/* Send a request that gets no reply (FORGET). */
int sgf_send_noreply(struct sgf_client *c, uint32_t opcode, uint64_t nodeid,
		     const void *arg, uint32_t arg_size);
/* A name we are willing to send: 0, -EINVAL or -ENAMETOOLONG. */
int sgf_check_name(const char *name);

/* ---- INIT (init.c) ---- */

/* Settle the limits from an INIT reply (pure; exposed for tests): -EPROTO
 * for a major other than 7 or a minor below SGF_PROTO_MINOR_MIN. */
int sgf_client_settle_init(const struct fuse_init_out *out, uint32_t want_max_pages,
			   uint32_t want_max_read, struct sgf_client_conn *conn);
/* Negotiate INIT and settle c->conn. */
int sgf_client_init(struct sgf_client *c);

#endif
