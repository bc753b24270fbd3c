/* tests/vhost/vu_front.h - a vhost-user frontend for tests only, playing
 * QEMU and the guest against a backend's socket: the control messages
 * (the good ones through helpers, anything at all through vf_send), one
 * memfd region of guest memory, queues 0 (hiprio) and 1 (requests) driven
 * by the library's driver side (virtq.h), and raw access to descriptors,
 * avail entries and the used ring for chains no driver would build. */
#ifndef SGF_VU_FRONT_H
#define SGF_VU_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vhost_user.h"
#include "virtq.h"

/* Guest physical address of the region: far from where it is mapped, so
 * a backend mixing guest and user addresses misses. */
#define VF_GPA 0x100000000ull
/* Region bytes by default: not a whole number of pages, so the backend's
 * mapping ends in a page whose tail is not guest memory (canary bytes). */
#define VF_MEM_SIZE ((4u << 20) - 192u)
/* Bytes of the memfd before the region (mmap_offset): mapped by the
 * backend, not guest memory (canary bytes). */
#define VF_GUARD 8192u
#define VF_CANARY 0x5a
/* The region's last bytes: where requests on the hiprio queue go (see
 * vf_call), apart from the other queue's. */
#define VF_ARENA0 (256u << 10)
#define VF_NUM 64u
#define VF_NQ 2u
#define VF_TIMEOUT_MS 20000u

/* vf_open flags */
#define VF_NO_EVENT_IDX 1u   /* do not negotiate VIRTIO_RING_F_EVENT_IDX */
#define VF_NO_REPLY_ACK 2u   /* do not negotiate REPLY_ACK */

struct vf_queue {
	struct sgf_vq_drv drv;
	uint64_t desc, avail, used;  /* guest addresses of the rings */
	int kick, call, err;         /* our eventfds (the backend gets copies) */
	bool up;
};

struct vf {
	int sock;
	unsigned flags;
	int memfd;
	unsigned char *map;          /* the whole memfd */
	size_t map_len;
	unsigned char *mem;          /* the region: map + VF_GUARD */
	uint64_t size;
	uint64_t features, protocol;
	uint64_t nqueues;            /* GET_QUEUE_NUM's answer (MQ), else 0 */
	unsigned num;
	struct vf_queue q[VF_NQ];
	uint64_t brk, brk0;          /* data area bump allocator (gpas) */
	uint64_t unique;
};

/* Connect to path (retrying up to VF_TIMEOUT_MS while it is not there)
 * and make the guest memory; no messages yet. 0 or -errno. */
int vf_open(struct vf *f, const char *path, unsigned flags);
/* Close the socket, unmap, close every fd. */
void vf_close(struct vf *f);
/* GET/SET_FEATURES, GET/SET_PROTOCOL_FEATURES, SET_OWNER. */
int vf_negotiate(struct vf *f);
/* SET_MEM_TABLE with our one region. */
int vf_set_mem(struct vf *f);
/* Lay out queue qi's rings in guest memory (fresh driver state, avail
 * index base) and give them to the backend: NUM, BASE, ADDR, KICK, CALL,
 * ERR, ENABLE. */
int vf_queue_up(struct vf *f, unsigned qi, uint16_t base);
/* Send the backend queue qi's rings again as they are (after a stop):
 * NUM, BASE (base), ADDR, a new KICK, ENABLE; the driver state stays. */
int vf_queue_restart(struct vf *f, unsigned qi, uint16_t base);
/* All of the above for both queues. 0 or -errno (the step that failed is
 * said on stderr). */
int vf_start(struct vf *f, const char *path, unsigned flags);

/* ---- control messages ---- */

/* One message, header as given (flags as is: add SGF_VU_VERSION
 * yourself), size payload bytes, nfds fds. 0 or -errno. */
int vf_send(struct vf *f, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds);
/* The next message from the backend, waiting up to timeout_ms: 0,
 * -ETIMEDOUT, -ENOTCONN (closed), -EPROTO (malformed). */
int vf_recv(struct vf *f, struct sgf_vu_msg *m, unsigned timeout_ms);
/* A request with NEED_REPLY (when REPLY_ACK was negotiated) and its ack:
 * 0 accepted, 1 refused (a nonzero ack), -errno (no ack, closed). */
int vf_ack(struct vf *f, uint32_t request, const void *payload, uint32_t size, const int *fds,
	   unsigned nfds);
/* A request whose reply is a u64 (GET_FEATURES, ...). */
int vf_get_u64(struct vf *f, uint32_t request, uint64_t *v);
int vf_get_vring_base(struct vf *f, unsigned qi, uint32_t *base);
/* Wait up to timeout_ms for the backend to close the connection (replies
 * it sends meanwhile are dropped): 0 closed, -ETIMEDOUT. */
int vf_wait_closed(struct vf *f, unsigned timeout_ms);

/* ---- guest memory ---- */

/* len bytes at a gpa aligned to align in the data area, zeroed. */
uint64_t vf_alloc(struct vf *f, size_t len, size_t align);
/* Our pointer to gpa (which must be inside the region). */
void *vf_host(struct vf *f, uint64_t gpa);
/* Give back everything allocated since mark = f->brk. */
static inline void vf_mem_reset(struct vf *f, uint64_t mark) { f->brk = mark; }
/* Are the bytes of the memfd outside the region as we left them? */
bool vf_canaries_ok(const struct vf *f);

/* ---- chains through the driver ---- */

/* Add a chain (the driver's way) and kick when the device asks for it. */
int vf_add(struct vf *f, unsigned qi, const struct sgf_vq_buf *rd, unsigned nrd,
	   const struct sgf_vq_buf *wr, unsigned nwr, uint16_t *head);
/* Reap one used element through the driver, waiting for the call eventfd
 * up to timeout_ms: 1, 0 timeout, -EPROTO the device broke the ring,
 * -ETIME the element came but no interrupt for it. */
int vf_wait_used(struct vf *f, unsigned qi, uint16_t *head, uint32_t *len, unsigned timeout_ms);

/* ---- raw ring access (only while the driver has nothing outstanding) ---- */

void vf_raw_desc(struct vf *f, unsigned qi, uint16_t i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next);
/* Publish head as the next avail entry, and kick. */
void vf_raw_publish(struct vf *f, unsigned qi, uint16_t head);
/* Write avail->idx as given (the driver's copy follows), and kick. */
void vf_raw_avail_idx(struct vf *f, unsigned qi, uint16_t idx);
/* The next used element read straight from the ring, waiting up to
 * timeout_ms: 1 (id, len), 0 timeout. */
int vf_raw_used(struct vf *f, unsigned qi, uint32_t *id, uint32_t *len, unsigned timeout_ms);
void vf_kick(struct vf *f, unsigned qi);
/* Wait up to timeout_ms for the backend to signal queue qi's err eventfd:
 * true if it did. */
bool vf_wait_err(struct vf *f, unsigned qi, unsigned timeout_ms);

#endif
