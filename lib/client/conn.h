/* lib/client/conn.h - internals of a client connection: its transport (a
 * stream socket, or virtqueues over vhost-user), the bounded table of
 * requests in flight (slots, found by unique), and the receive role that
 * waiting callers take in turn to validate each reply and route its payload
 * straight into the memory of the request that owns it. */
#ifndef SGFUSE_CLIENT_CONN_H
#define SGFUSE_CLIENT_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/un.h>
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
/* vhost-user: the shared arena sgf_client_buf_alloc() hands out, and how
 * long the handshake and INIT may take. */
#define SGF_CLIENT_DEFAULT_ARENA ((size_t)64 << 20)
#define SGF_CLIENT_MAX_ARENA ((size_t)64 << 30)
#define SGF_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define SGF_CLIENT_MAX_CONNECT_TIMEOUT_MS 3600000u
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

struct sgf_transport;
struct sgf_vhost;

struct sgf_client {
	/* How requests travel (stream.c or vhost_conn.c); nothing above the
	 * transport asks which one it is. */
	const struct sgf_transport *tp;
	struct sgf_vhost *vh;       /* the vhost-user transport's state, or NULL */
	int fd;                     /* the stream transport's socket, or -1 */
	pthread_mutex_t lock;       /* slots, free stack, dead, receive role */
	pthread_cond_t slot_cond;   /* a slot was freed or the connection died */
	pthread_mutex_t send_lock;  /* one message on the wire at a time */
	bool dead;
	/* The receive role: at most one thread reads the socket (and rx). */
	bool rx_busy;
	struct sgf_waiter *sleepers;  /* waiters blocked on their cond */
	struct sgf_rx rx;           /* the stream transport's staging */
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
	size_t arena_size;          /* vhost-user: bytes for sgf_client_buf_alloc */
	unsigned connect_timeout_ms; /* vhost-user: handshake and INIT */
	unsigned init_timeout_ms;   /* INIT gives up after this; 0 never */
};

enum sgf_rx_mode {
	SGF_RX_BLOCK,   /* wait for the next reply */
	SGF_RX_NOWAIT,  /* only a reply already there (stream: its header) */
	SGF_RX_STAGED,  /* only a reply already in memory: no syscall */
};

/* What the rest of the client needs from a transport. The receive role
 * (lead.c) and the calls are written against this alone. */
struct sgf_transport {
	const char *name;
	/* Put the request of armed slot s on its way: vec[0] is the
	 * transport's (for the fuse_in_header it builds), vec[1..cnt) is the
	 * rest of the message,
	 * s->ex says where the reply goes (vec entries may be modified). On
	 * failure the slot still completes (with -ENOTCONN or the error), so
	 * the caller always waits for it; returns 0 or -errno. */
	int (*send)(struct sgf_client *c, struct sgf_slot *s, uint32_t opcode,
		    uint64_t nodeid, struct iovec *vec, int cnt);
	/* The same for a request that gets no reply (FORGET), under unique. */
	int (*send_noreply)(struct sgf_client *c, uint64_t unique, uint32_t opcode,
			    uint64_t nodeid, struct iovec *vec, int cnt);
	/* Receive role only: take one reply and complete its slot. 1 one was
	 * handled, 0 mode found none, -ENOTCONN / -EPROTO the connection is
	 * over (the caller then fails everything). With a deadline
	 * (CLOCK_MONOTONIC), the connection is broken when it passes. */
	int (*rx_one)(struct sgf_client *c, enum sgf_rx_mode mode, const struct timespec *deadline);
	/* A sender found no room: wait until there may be some. reading: it
	 * holds the receive role meanwhile (sgf_send_wait drains replies
	 * after). since: the transport's progress count (room_gen) seen when
	 * room ran out. 0, or -ENOTCONN. */
	int (*wait_room)(struct sgf_client *c, bool reading, unsigned long since);
	/* Break the connection: whoever receives next fails everything. Any
	 * thread, any time, more than once. */
	void (*hangup)(struct sgf_client *c);
	/* Free the transport (after DESTROY, or after a failed start). */
	void (*close)(struct sgf_client *c);
	/* sgf_client_buf_alloc / _free. */
	void *(*buf_alloc)(struct sgf_client *c, size_t size);
	void (*buf_free)(struct sgf_client *c, void *p);
};

extern const struct sgf_transport sgf_stream_transport;

/* Fill the header every request starts with. */
static inline void sgf_in_header(const struct sgf_client *c, struct fuse_in_header *ih,
				 uint32_t len, uint32_t opcode, uint64_t unique, uint64_t nodeid)
{
	*ih = (struct fuse_in_header){ .len = len, .opcode = opcode, .unique = unique,
				       .nodeid = nodeid, .uid = c->uid, .gid = c->gid,
				       .pid = c->pid };
}

/* Only one call with one request in flight: a latency-bound caller. With
 * more, the server has work queued and other callers have replies to
 * handle, and they need the CPU polling would burn (measured on two CPUs:
 * four threads lost a quarter of their throughput to a polling reader). */
static inline bool sgf_client_alone(struct sgf_client *c)
{
	return atomic_load_explicit(&c->inflight, memory_order_relaxed) <= 1 &&
	       atomic_load_explicit(&c->callers, memory_order_relaxed) <= 1;
}

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
/* Complete s with err unless it is done already (the connection died
 * meanwhile): for a transport whose send failed before anything of s
 * reached the peer, so no reply can ever name it. Takes c->lock. */
void sgf_slot_fail_unsent(struct sgf_client *c, struct sgf_slot *s, ssize_t err);
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
/* A sender found no room (a full socket, no free descriptors): wait until
 * it may try again, receiving replies meanwhile if nobody else does (the
 * server may be blocked sending them, and then would never take our
 * request). since as for the transport's wait_room. 0, or -ENOTCONN. */
int sgf_send_wait(struct sgf_client *c, unsigned long since);
/* The connection is over: hang up and fail everything pending. */
void sgf_conn_lost(struct sgf_client *c);

/* Send one request of armed slot s (see struct sgf_transport). */
static inline int sgf_send_request(struct sgf_client *c, struct sgf_slot *s, uint32_t opcode,
				   uint64_t nodeid, struct iovec *vec, int cnt)
{
	return c->tp->send(c, s, opcode, nodeid, vec, cnt);
}

/* ---- the stream transport: sending (send.c), receiving (recv.c) ---- */

/* Put one message on the socket: vec[0] gets the header. On a failed send
 * the socket is shut down, so whoever reads next fails every pending slot.
 * 0 or -errno. */
int sgf_stream_send(struct sgf_client *c, uint64_t unique, uint32_t opcode,
		    uint64_t nodeid, struct iovec *vec, int cnt);
/* Read and route one reply (the transport's rx_one). */
int sgf_rx_one(struct sgf_client *c, enum sgf_rx_mode mode, const struct timespec *deadline);

/* ---- replies, either transport (reply.c) ---- */

/* What a reply header says for the expectation ex: 1 its payload bytes
 * are acceptable, 0 it is an error reply without payload (the result is
 * error), -EIO it is malformed. */
int sgf_reply_judge(const struct sgf_expect *ex, int32_t error, size_t payload);
/* The result of slot s once its accepted payload (payload bytes) is in
 * place; counts a malformed WRITE count. */
ssize_t sgf_reply_result(struct sgf_client *c, struct sgf_slot *s, size_t payload);

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
/* The same, but the connection is broken once timeout_ms (0: never) pass. */
ssize_t sgf_call_sync_timeout(struct sgf_client *c, const struct sgf_call *call,
			      unsigned timeout_ms);
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

/* ---- a connection's life (conn.c) ---- */

/* A client with opts applied and its request table, no transport yet
 * (c->fd -1). 0 or -errno. */
int sgf_client_new(const struct sgf_client_opts *opts, struct sgf_client **out);
/* Once c->tp is set up: INIT, then the per-slot scratch. 0 or -errno (the
 * caller then frees c). */
int sgf_client_start(struct sgf_client *c);
/* Free c and, when set, its transport. */
void sgf_client_free(struct sgf_client *c);

/* A socket path (or @NAME, abstract) into addr: the sockaddr length, or
 * -EINVAL / -ENAMETOOLONG (address.c). */
int sgf_unix_address(const char *path, struct sockaddr_un *addr);
/* A Unix stream socket connected to addr (nonblocking if asked: then a
 * full backlog is -EAGAIN rather than a wait): the fd or -errno. */
int sgf_unix_connect(const struct sockaddr_un *addr, int len, bool nonblock);

/* vhost-user (vhost_conn.c): connect to the backend socket at path and set
 * up the transport on c. */
int sgf_vhost_connect(const char *path, const struct sgf_client_opts *opts,
		      struct sgf_client **out);

#endif
