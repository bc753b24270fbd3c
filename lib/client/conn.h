/* lib/client/conn.h - internals of a client connection: the socket, the
 * bounded table of requests in flight (slots, found by unique), and the
 * receive role that waiting callers take in turn to validate each reply and
 * route its payload straight into the memory of the request that owns it. */
#ifndef SGFUSE_CLIENT_CONN_H
#define SGFUSE_CLIENT_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sgfuse/client.h>
#include "../common/stats_priv.h"
#include "../common/wire.h"

#define SGF_CLIENT_DEFAULT_MAX_PAGES 256u
#define SGF_CLIENT_DEFAULT_INFLIGHT 64u
/* unique = seq << SGF_SLOT_SHIFT | slot index << 1: even like the kernel's
 * (bit 0 is its interrupt marker) and never 0 (which marks notifications). */
#define SGF_SLOT_SHIFT 13
#define SGF_CLIENT_MAX_INFLIGHT (1u << (SGF_SLOT_SHIFT - 1))
#define SGF_CLIENT_DEFAULT_WINDOW 16u
/* The kernel's max_pages when a server lacks FUSE_MAX_PAGES. */
#define SGF_CLIENT_LEGACY_MAX_PAGES 32u
#define SGF_CLIENT_DEFAULT_SPIN_US 50
#define SGF_CLIENT_MAX_SPIN_US 10000
/* Staging for reply bytes: whole small replies (and the start of the next
 * ones) come in with one recv; larger payloads bypass it. */
#define SGF_RX_STAGE 512u

/* Step over n bytes that moved, from entry i of vec (consumed in place);
 * returns the index of the first entry with bytes left (cnt when done). */
static inline int sgf_iov_advance(struct iovec *vec, int cnt, int i, size_t n)
{
	while (n > 0 && i < cnt) {
		size_t step = n < vec[i].iov_len ? n : vec[i].iov_len;
		vec[i].iov_base = (char *)vec[i].iov_base + step;
		vec[i].iov_len -= step;
		n -= step;
		if (vec[i].iov_len == 0)
			i++;
	}
	return i;
}

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
				 * receive role may modify */
	int iovcnt;
	size_t sent;            /* SGF_RES_WRITE: payload bytes sent */
};

/* Whoever waits for one or more slots: a single call, or a dio call. */
struct sgf_waiter {
	pthread_cond_t cond;    /* CLOCK_MONOTONIC */
	unsigned ndone;         /* completed slots not yet collected */
	/* On the connection's list of sleeping waiters (under c->lock). */
	struct sgf_waiter *next, *prev;
};

/* Reply bytes read but not yet consumed, and how polling for them has
 * fared; only the receive role touches it. */
struct sgf_rx {
	size_t head, tail;      /* unconsumed bytes are buf[head..tail) */
	unsigned spin_misses;   /* polls in a row that ended in sleep anyway */
	unsigned spin_skipped;  /* waits without polling since the last try */
	unsigned char buf[SGF_RX_STAGE];
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
	pthread_mutex_t lock;       /* slots, free stack, dead, receive role */
	pthread_cond_t slot_cond;   /* a slot was freed or the connection died */
	pthread_mutex_t send_lock;  /* one message on the wire at a time */
	bool dead;
	/* The receive role: at most one thread reads the socket (and rx). */
	bool rx_busy;
	struct sgf_waiter *sleepers;  /* waiters blocked on their cond */
	struct sgf_rx rx;
	/* INIT done: before it, a stray reply means the peer is not a FUSE
	 * server at all, and the connection is given up. */
	atomic_bool inited;
	struct sgf_slot *slots;
	unsigned nslots;
	unsigned *free_stack;
	unsigned nfree;
	uint64_t seq;               /* high bits of the next unique */
	atomic_uint inflight;       /* armed slots not yet done (set under lock) */
	atomic_uint callers;        /* calls under way (waiters alive) */
	struct sgf_client_conn conn;
	struct sgf_stats stats;
	_Atomic int policy;
	unsigned window;
	long spin_ns;               /* poll this long before sleeping; 0 never */
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
/* The same, but once timeout_ms have passed the connection is broken, so
 * the result is then -ENOTCONN unless the reply was already in. */
ssize_t sgf_slot_wait_timeout(struct sgf_client *c, struct sgf_slot *s, unsigned timeout_ms);
/* Mark s done with result (caller holds c->lock). */
void sgf_slot_complete_locked(struct sgf_client *c, struct sgf_slot *s, ssize_t result);
/* The armed, pending slot with this unique, or NULL (caller holds c->lock). */
struct sgf_slot *sgf_slot_find_locked(struct sgf_client *c, uint64_t unique);
/* The connection is gone: fail every pending slot with -ENOTCONN and wake
 * everyone. Only the receive role calls this: nobody else writes into
 * slots, so no reply is still being copied into a slot we fail. */
void sgf_slots_fail_all(struct sgf_client *c);

/* A waiter per call: init when the call starts, destroy when it ends
 * (together they count c->callers). */
int sgf_waiter_init(struct sgf_client *c, struct sgf_waiter *w);
void sgf_waiter_destroy(struct sgf_client *c, struct sgf_waiter *w);

/* ---- the receive role (lead.c) ---- */

/* Caller holds c->lock, and w has a slot in flight. Returns (lock held)
 * once w->ndone > 0: reads the socket itself while nobody else does, else
 * sleeps until its reply is routed to it or the role is handed over. With
 * a deadline (CLOCK_MONOTONIC), the connection is broken when it passes. */
void sgf_wait_locked(struct sgf_client *c, struct sgf_waiter *w,
		     const struct timespec *deadline);
/* A sender found the socket full: wait until it may write again, reading
 * replies meanwhile if nobody else does (the server may be blocked sending
 * them, and then would never read our request). 0, or -ENOTCONN. */
int sgf_send_wait(struct sgf_client *c);

/* ---- sending (send.c) ---- */

/* Send one request: vec[0] is filled here with the fuse_in_header, vec[1..cnt)
 * is the rest of the message. vec entries may be modified. On a failed send
 * the socket is shut down, so whoever reads next fails every pending slot;
 * the caller still waits for its own slot. Returns 0 or -errno. */
int sgf_send_request(struct sgf_client *c, uint64_t unique, uint32_t opcode,
		     uint64_t nodeid, struct iovec *vec, int cnt);

/* ---- receiving (recv.c); receive role only ---- */

enum sgf_rx_mode {
	SGF_RX_BLOCK,   /* wait for the next reply */
	SGF_RX_NOWAIT,  /* only a reply whose header is already readable */
	SGF_RX_STAGED,  /* only a reply already whole in c->rx: no syscall */
};

/* Read and route one reply. Returns 1 when one was handled, 0 when mode
 * found none, or -ENOTCONN / -EPROTO when the stream ended or can no
 * longer be trusted (the caller then fails everything). deadline as for
 * sgf_wait_locked. */
int sgf_rx_one(struct sgf_client *c, enum sgf_rx_mode mode, const struct timespec *deadline);

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
