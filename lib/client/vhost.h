/* lib/client/vhost.h - the vhost-user transport, internal: the client plays
 * the frontend (the hypervisor's part: memory table, ring setup over the
 * socket) and the guest driver (FUSE requests as descriptor chains on
 * virtqueues in one shared memfd region). See docs/virtio.md. */
#ifndef SGFUSE_CLIENT_VHOST_H
#define SGFUSE_CLIENT_VHOST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "conn.h"
#include "../common/virtq.h"

/* Queue 0 is virtio-fs's hiprio queue (FORGET), queue 1 the request queue. */
#define SGF_VH_HIPRIO 0
#define SGF_VH_REQ 1
#define SGF_VH_NQUEUES 2
/* Queue sizes: 1024 is what libvhost-user (QEMU's virtiofsd) accepts at
 * most. A chain is at most max_pages + 2 descriptors (the header with its
 * argument, the reply header with a fixed reply, one per payload piece:
 * dio_plan.c never cuts more pieces than pages), so it always fits. */
#define SGF_VH_QUEUE_NUM 1024u
#define SGF_VH_HIPRIO_NUM 128u
#define SGF_VH_CHAIN_OVERHEAD 2u
#define SGF_VH_MAX_PAGES (SGF_VH_QUEUE_NUM - SGF_VH_CHAIN_OVERHEAD)
/* Where the region sits in guest physical space: not 0, so that an offset
 * mistaken for an address points nowhere. */
#define SGF_VH_GPA_BASE ((uint64_t)1 << 30)
/* Per slot: a control page (request header and fixed argument in the
 * first half, reply header and small replies in the second), then bounce
 * space of max_pages pages for payload from or to memory outside the
 * arena. */
#define SGF_VH_CTL_SIZE 4096u
#define SGF_VH_CTL_REPLY 2048u
/* One hiprio message (FORGET is 48 bytes). */
#define SGF_VH_HIPRIO_MSG 256u

/* Offsets into the shared region. */
struct sgf_vh_layout {
	unsigned qnum[SGF_VH_NQUEUES];
	size_t desc[SGF_VH_NQUEUES], avail[SGF_VH_NQUEUES], used[SGF_VH_NQUEUES];
	size_t hiprio;        /* SGF_VH_HIPRIO_NUM messages */
	size_t slots;         /* nslots slots of slot_size */
	size_t slot_size;     /* control page + bounce */
	size_t bounce_size;
	size_t arena, arena_size;
	size_t total;
};

/* Lay the region out (pure). -EINVAL for sizes that overflow. */
int sgf_vh_layout(struct sgf_vh_layout *l, unsigned nslots, uint32_t max_pages,
		  size_t arena_size);

/* The arena: whole pages handed out first fit (arena.c). */
struct sgf_arena {
	pthread_mutex_t lock;
	char *base;
	size_t npages;
	/* Per page: the length in pages of the allocation starting there,
	 * UINT32_MAX for the other pages of one, 0 for a free page. */
	uint32_t *run;
	size_t free_pages;
};

int sgf_arena_init(struct sgf_arena *a, void *base, size_t size);
void sgf_arena_fini(struct sgf_arena *a);
/* NULL with errno ENOMEM when no run of enough pages is free. */
void *sgf_arena_alloc(struct sgf_arena *a, size_t size);
/* 0, or -EINVAL when p is not the start of an allocation. */
int sgf_arena_free(struct sgf_arena *a, void *p);
/* Does [p, p + len) lie inside the arena (len > 0)? No lock: the bounds
 * never change. */
static inline bool sgf_arena_holds(const struct sgf_arena *a, const void *p, size_t len)
{
	uintptr_t b = (uintptr_t)a->base, x = (uintptr_t)p;
	size_t size = a->npages * SGF_PAGE_SIZE;
	return len > 0 && x >= b && x - b < size && len <= size - (x - b);
}

struct sgf_vh_queue {
	pthread_mutex_t lock;   /* the driver state; adds and reaps */
	struct sgf_vq_drv drv;
	int kick, call;         /* eventfds */
	uint16_t *owner;        /* per head: slot index (request queue) or
				 * message index (hiprio), set at add */
	bool ready;             /* drv set up, eventfds open */
};

/* A reply piece's way back: src is where the device wrote it (bounce), or
 * NULL when it wrote into dst itself (arena). */
struct sgf_vh_piece {
	void *dst;
	const void *src;
	size_t len;
};

struct sgf_vh_slot {
	char *ctl, *bounce;         /* host pointers into the region */
	uint64_t ctl_gpa, bounce_gpa;
	struct sgf_vq_buf *bufs;    /* scratch for the chain: readable then writable */
	unsigned bufcap;
	struct sgf_vh_piece *pieces; /* the reply's destinations, in order */
	unsigned npieces, piececap;
};

struct sgf_vhost {
	int sock;                   /* the vhost-user socket */
	int memfd;
	char *mem;                  /* our mapping of the region */
	uint64_t gpa;               /* its guest physical address */
	struct sgf_vh_layout lay;
	uint64_t features;          /* negotiated */
	uint64_t protocol_features;
	struct sgf_vh_queue q[SGF_VH_NQUEUES];
	struct sgf_vh_slot *slots;  /* parallel to c->slots */
	unsigned nslots;
	struct sgf_arena arena;
	bool arena_ready;
	/* hiprio messages not in flight (under q[SGF_VH_HIPRIO].lock) */
	uint16_t *hp_free;
	unsigned hp_nfree;
	/* Senders waiting for descriptors (under q[SGF_VH_REQ].lock):
	 * room_gen counts reaps that freed some. */
	pthread_cond_t room;
	bool room_ready;
	unsigned room_waiters;
	unsigned long room_gen;
	bool running;               /* setup completed: the rings are ours */
	atomic_bool hung_up;        /* hangup() ran, or the backend left */
	atomic_bool timed_out;      /* ... because a deadline passed */
	/* Receive role only: how polling for used entries has fared. */
	unsigned spin_misses, spin_skipped;
};

static inline uint64_t sgf_vh_gpa(const struct sgf_vhost *vh, const void *p)
{
	return vh->gpa + (uint64_t)((const char *)p - vh->mem);
}

/* ---- the frontend (vhost_setup.c) ---- */

/* Negotiate with the backend on vh->sock and set up the region, the
 * queues and the slots; by deadline. 0, -EPROTO (no vhost-user backend, a
 * refusal, features we need missing), -ETIMEDOUT, -ENOTCONN, other -errno. */
int sgf_vh_setup(struct sgf_client *c, struct sgf_vhost *vh, const struct timespec *deadline);
/* Stop the rings (GET_VRING_BASE) if the backend is still there. */
void sgf_vh_stop(struct sgf_vhost *vh, unsigned timeout_ms);
/* Free everything setup made (any part of it). */
void sgf_vh_free(struct sgf_vhost *vh);

/* ---- the driver (vhost_send.c, vhost_recv.c) ---- */

int sgf_vh_send(struct sgf_client *c, struct sgf_slot *s, uint32_t opcode, uint64_t nodeid,
		struct iovec *vec, int cnt);
int sgf_vh_send_noreply(struct sgf_client *c, uint64_t unique, uint32_t opcode,
			uint64_t nodeid, struct iovec *vec, int cnt);
int sgf_vh_rx_one(struct sgf_client *c, enum sgf_rx_mode mode, const struct timespec *deadline);
int sgf_vh_wait_room(struct sgf_client *c, bool reading, unsigned long since);
/* The socket end: 0 still there (nothing to read), -ENOTCONN it hung up
 * or we did, -EPROTO it sent something unasked. */
int sgf_vh_check_socket(struct sgf_client *c);
/* Milliseconds until deadline (CLOCK_MONOTONIC), 0 once past. */
int sgf_vh_ms_left(const struct timespec *deadline);
/* Write the kick eventfd of queue q. */
void sgf_vh_kick(struct sgf_vh_queue *q);
/* Clear an eventfd that polled readable. */
void sgf_vh_drain_eventfd(int fd);

#endif
