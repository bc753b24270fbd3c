/* lib/common/virtq.h - the virtio split virtqueue, both ends: the device
 * side the vhost-user-fs backend runs on rings in guest memory it does not
 * trust, and the driver side our client runs when it plays the guest. Both
 * use the layout of <linux/virtio_ring.h> (little-endian, virtio 1.x), so a
 * driver and a device can run against each other over one buffer. Single
 * threaded per queue; the barriers order our accesses against the other
 * end's. Internal. */
#ifndef SGFUSE_COMMON_VIRTQ_H
#define SGFUSE_COMMON_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_ring.h>
#include "guestmem.h"

/* The virtio 1.x limit on a split queue's size. */
#define SGF_VQ_MAX_NUM 32768u

/* Bytes of each ring area for a queue of num entries, with the event-idx
 * word (harmless when the feature is off). Alignment: desc 16, avail 2,
 * used 4 (virtio 1.x 2.7). */
static inline size_t sgf_vq_desc_size(unsigned num) { return 16u * (size_t)num; }
static inline size_t sgf_vq_avail_size(unsigned num) { return 6u + 2u * (size_t)num; }
static inline size_t sgf_vq_used_size(unsigned num) { return 6u + 8u * (size_t)num; }

/* ---- device side ---- */

/* Where the rings are, as SET_VRING_NUM / SET_VRING_ADDR / SET_VRING_BASE
 * give them. */
struct sgf_vq_addr {
	unsigned num;         /* power of two, 1..SGF_VQ_MAX_NUM */
	uint64_t desc, avail, used; /* guest physical addresses */
	uint16_t last_avail;  /* SET_VRING_BASE; 0 for a fresh queue */
	bool event_idx;       /* VIRTIO_RING_F_EVENT_IDX negotiated */
};

struct sgf_vq_dev {
	const struct sgf_vq_mem *mem; /* must outlive the queue; a new
				       * memory table means a new init */
	unsigned num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	bool event_idx;
	bool broken;            /* the ring itself is malformed: stop */
	uint16_t last_avail;    /* next avail ring slot to consume */
	uint16_t used_idx;      /* next used slot; published by flush */
	uint16_t signalled_used; /* used idx at the last notify decision */
	bool signalled_valid;
	unsigned inflight;      /* popped, not yet pushed */
};

/* What sgf_vq_pop fills: the caller gives the arrays and their sizes. */
struct sgf_vq_elem {
	struct iovec *rd; unsigned rd_max;  /* in: device-readable buffers */
	struct iovec *wr; unsigned wr_max;  /* in: device-writable buffers */
	unsigned rd_n, wr_n;                /* out: iovecs used */
	uint32_t rd_bytes, wr_bytes;        /* out: byte totals */
	uint16_t head;                      /* out: the chain's id for push */
};

/* Translate and check the ring areas. -EINVAL: num not a power of two in
 * range, misaligned area, initial state inconsistent; translation errors
 * (-EFAULT, -EOVERFLOW) when an area is not inside one region. */
int sgf_vq_dev_init(struct sgf_vq_dev *vq, const struct sgf_vq_mem *mem,
		    const struct sgf_vq_addr *a);

/* Take the next available chain. 1: e holds it; 0: nothing available;
 * negative errno: either the ring is broken (vq->broken set, nothing was
 * consumed, every later pop fails with -EIO: mark the device
 * NEEDS_RESET) or only this chain is malformed (vq->broken clear, the
 * chain is consumed and e->head names it: push it with len 0, or treat
 * it as fatal too). Ring errors: -EPROTO more available than the queue
 * holds, -ERANGE head out of range. Chain errors: -ERANGE next out of
 * range, -ELOOP more descriptors than num (a loop), -EINVAL zero length or
 * a bad indirect descriptor, -EFAULT / -EOVERFLOW address not mapped /
 * wrapping, -EBADMSG readable after writable, -ENOBUFS an iovec array
 * too small, -E2BIG a total over 4 GiB. */
int sgf_vq_pop(struct sgf_vq_dev *vq, struct sgf_vq_elem *e);

/* Give back the chain the last sgf_vq_pop returned 1 for, unused: the
 * next pop returns it again. Only right after that pop (no other pop in
 * between). */
void sgf_vq_unpop(struct sgf_vq_dev *vq);

/* Write a used element without publishing it (batching); -EINVAL: id out
 * of range or nothing in flight; -EIO: broken. */
int sgf_vq_fill(struct sgf_vq_dev *vq, uint16_t id, uint32_t len);
/* Publish the filled elements (release: the guest sees their contents
 * and the data written into the buffers before the index). */
void sgf_vq_flush(struct sgf_vq_dev *vq);
/* fill + flush. */
int sgf_vq_push(struct sgf_vq_dev *vq, uint16_t id, uint32_t len);

/* Whether to interrupt the guest after the last flush: used_event with
 * event idx, else the driver's VRING_AVAIL_F_NO_INTERRUPT. Call once per
 * decision (it remembers what was signalled). */
bool sgf_vq_dev_should_notify(struct sgf_vq_dev *vq);

/* Ask for (on) or not (off) kicks when the guest adds buffers: used->flags
 * VRING_USED_F_NO_NOTIFY, or with event idx avail_event. Returns whether
 * buffers are available after a full barrier, so a caller that turned
 * kicks back on before sleeping does not miss one added meanwhile. */
bool sgf_vq_dev_set_notify(struct sgf_vq_dev *vq, bool on);

/* Whether the guest has made chains available that were not popped yet
 * (acquire: their contents are visible once this says so). */
bool sgf_vq_dev_has_avail(struct sgf_vq_dev *vq);

/* ---- driver side ---- */

/* One buffer to add, in guest addresses. */
struct sgf_vq_buf {
	uint64_t gpa;
	uint32_t len;
};

struct sgf_vq_drv {
	unsigned num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	bool event_idx;
	bool broken;          /* the device returned nonsense */
	uint16_t free_head;   /* first free descriptor; num_free of them */
	unsigned num_free;
	uint16_t avail_idx;   /* our copy of avail->idx */
	uint16_t kicked_avail; /* avail idx at the last kick decision */
	uint16_t last_used;   /* next used slot to reap */
	unsigned outstanding; /* chains added, not yet reaped */
	/* Private per descriptor, never read back from shared memory (the
	 * device could rewrite the table): */
	uint16_t *next;       /* free list and chain links */
	uint16_t *chain_len;  /* per head: descriptors in its chain, 0 if free */
	uint32_t *wr_bytes;   /* per head: writable bytes, bounds used len */
};

/* Lay out and zero the rings at the given host pointers (the driver's own
 * memory, aligned as above) and build the free list. -EINVAL bad num or
 * alignment, -ENOMEM. */
int sgf_vq_drv_init(struct sgf_vq_drv *vq, unsigned num, void *desc, void *avail,
		    void *used, bool event_idx);
void sgf_vq_drv_fini(struct sgf_vq_drv *vq);

/* Add one chain: nrd device-readable buffers then nwr device-writable
 * ones, and publish it (release). *head gets its id. -EINVAL no buffer,
 * a zero length or a total over 4 GiB; -ENOSPC not enough free
 * descriptors; -EIO broken. */
int sgf_vq_drv_add(struct sgf_vq_drv *vq, const struct sgf_vq_buf *rd, unsigned nrd,
		   const struct sgf_vq_buf *wr, unsigned nwr, uint16_t *head);

/* Whether to kick the device after adds: avail_event with event idx,
 * else the device's VRING_USED_F_NO_NOTIFY. */
bool sgf_vq_drv_should_kick(struct sgf_vq_drv *vq);

/* Reap one completed chain: 1 with *head and *len (bytes the device
 * wrote), 0 none, -EPROTO the device broke the ring (index too far ahead,
 * id not outstanding, len over the chain's writable bytes; vq->broken
 * set, -EIO afterwards). */
int sgf_vq_drv_get_used(struct sgf_vq_drv *vq, uint16_t *head, uint32_t *len);

#endif
