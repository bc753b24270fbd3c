/* lib/server/vhost.h - the vhost-user-fs backend: a frontend (QEMU, or our
 * client) shares guest memory and virtqueues over a Unix socket, and FUSE
 * requests arrive as descriptor chains in that memory. vhost_dev.c speaks
 * the control protocol and owns the device state, the memory table and
 * the FUSE session; vhost_queue.c runs each queue's workers and is the
 * requests' channel (replies are written into the chain's device-writable
 * buffers). Internal. */
#ifndef SGFUSE_SERVER_VHOST_H
#define SGFUSE_SERVER_VHOST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sgfuse/proto.h>
#include "../common/guestmem.h"
#include "../common/vhost_user.h"
#include "../common/virtq.h"
#include "chan.h"

struct sgf_server;
struct sgf_conn;
struct sgf_session;

/* Queue 0 is hiprio (FORGET, INTERRUPT), the rest request queues. */
#define SGF_VHOST_MAX_QUEUES 9u

struct vhost_dev;
struct vhost_queue;

/* One chain being served: where its buffers are, and the request's view
 * of them. Owned by the queue; free again once the chain is pushed. */
struct vhost_slot {
	struct vhost_queue *vq;
	struct vhost_slot *next_free;
	uint16_t head;
	unsigned refs;           /* the worker's, the answer's (vq->lock) */
	unsigned gen;            /* the ring it was popped from (vq->gen) */
	bool replied;            /* pushed (reply written, or given up) */
	struct iovec *rd, *wr;   /* the chain, as popped */
	unsigned rd_n, wr_n;
	uint32_t rd_bytes, wr_bytes;
	struct fuse_in_header hdr;  /* the request's header, copied at pop */
	bool has_hdr;               /* the chain held a whole one */
	struct iovec *read_dst;  /* READ: wr past the reply header */
};

struct vhost_queue {
	struct sgf_chan ch;          /* first: requests' replies go through it */
	struct vhost_dev *dev;
	struct sgf_session *se;      /* whose requests the queue serves */
	unsigned index;
	/* Set by the control thread; the workers read them only while
	 * started (they are not changed then). */
	unsigned num;
	struct sgf_vu_vring_addr addr;
	bool addr_set;
	uint16_t base;               /* SET_VRING_BASE, or where we stopped */
	int kick_fd, err_fd;
	bool enabled;
	/* Running. */
	bool started;
	struct sgf_vq_dev ring;
	struct sgf_vq_addr ring_addr;  /* where it runs (or ran) */
	uint16_t stopped_base;       /* next avail index when it stopped */
	bool kick_dead;              /* the kick fd hung up */
	pthread_mutex_t lock;        /* ring, call_fd, stopped, slots */
	int call_fd;
	bool stopped;                /* late replies are dropped */
	pthread_mutex_t poll_lock;   /* held by the worker waiting for kicks */
	atomic_bool stop;
	int wake_fd;                 /* eventfd: stop */
	pthread_t *threads;
	unsigned nthreads;
	struct vhost_slot *slots, *free_slots;
	unsigned nslots, slots_busy;
	struct iovec *iov_mem;
	unsigned iov_per;            /* iovecs per array of a slot */
	pthread_cond_t idle;         /* slots_busy became 0 */
	/* Answers that came while the queue was stopped (a paused VM): pushed
	 * when it restarts where it stopped, dropped if it restarts elsewhere
	 * (the guest reset the ring). */
	struct vring_used_elem *deferred;
	unsigned ndeferred;
	unsigned gen;                /* bumped when the ring starts afresh: older
				      * chains' answers are dropped */
	atomic_bool reported;        /* one line about a broken ring */
};

/* Serve vhost-user frontends on srv's listening socket, one at a time,
 * until exit or a handled signal (endpoint.c calls it from run). */
int sgf_vhost_run(struct sgf_server *srv);
/* Serve one frontend already connected on fd (closed here) until it goes
 * or the server is to exit (true then). What sgf_vhost_run does per
 * connection; tests/fuzz/fuzz_vhost.c calls it on a socketpair. */
bool sgf_vhost_serve_fd(struct sgf_server *srv, int fd);

/* ---- vhost_queue.c ---- */

/* Set up a queue's fixed parts (index, locks, fds -1). */
int sgf_vhost_queue_init(struct vhost_queue *vq, struct vhost_dev *dev, unsigned index);
void sgf_vhost_queue_fini(struct vhost_queue *vq);
/* Start serving the ring at the addresses given (translated through mem)
 * for session se with nthreads workers. 0 or -errno (a ring outside guest
 * memory: -EFAULT, -EINVAL). */
int sgf_vhost_queue_start(struct vhost_queue *vq, const struct sgf_vq_mem *mem,
			  const struct sgf_vq_addr *a, struct sgf_session *se, unsigned nthreads);
/* Stop the workers; wait up to wait_ms for chains in flight (kept
 * requests) to be answered, then drop any later answer. Sets vq->base to
 * the next avail index. */
void sgf_vhost_queue_stop(struct vhost_queue *vq, unsigned wait_ms);
/* Free the slots, once nothing can answer a request of the queue's
 * session any more (the session has ended). */
void sgf_vhost_queue_release(struct vhost_queue *vq);
/* Replace the call eventfd (fd -1: none); the old one is closed. */
void sgf_vhost_queue_set_call(struct vhost_queue *vq, int fd);

/* Tell the device that its session ended (DESTROY arrived): from a worker. */
void sgf_vhost_dev_session_ended(struct vhost_dev *dev);

#endif
