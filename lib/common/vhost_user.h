/* lib/common/vhost_user.h - the vhost-user control protocol both ends of
 * virtio-fs speak over a Unix socket: message layout (header, payloads),
 * the request and feature numbers we use, and reading and writing one
 * message with its file descriptors. A received message is checked for
 * version, size and the descriptors its request carries before anyone
 * looks at it. Internal. */
#ifndef SGFUSE_COMMON_VHOST_USER_H
#define SGFUSE_COMMON_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

/* Requests, frontend to backend (QEMU's docs/interop/vhost-user.rst). */
enum sgf_vu_request {
	SGF_VU_GET_FEATURES = 1,
	SGF_VU_SET_FEATURES = 2,
	SGF_VU_SET_OWNER = 3,
	SGF_VU_RESET_OWNER = 4,
	SGF_VU_SET_MEM_TABLE = 5,
	SGF_VU_SET_LOG_BASE = 6,
	SGF_VU_SET_LOG_FD = 7,
	SGF_VU_SET_VRING_NUM = 8,
	SGF_VU_SET_VRING_ADDR = 9,
	SGF_VU_SET_VRING_BASE = 10,
	SGF_VU_GET_VRING_BASE = 11,
	SGF_VU_SET_VRING_KICK = 12,
	SGF_VU_SET_VRING_CALL = 13,
	SGF_VU_SET_VRING_ERR = 14,
	SGF_VU_GET_PROTOCOL_FEATURES = 15,
	SGF_VU_SET_PROTOCOL_FEATURES = 16,
	SGF_VU_GET_QUEUE_NUM = 17,
	SGF_VU_SET_VRING_ENABLE = 18,
	SGF_VU_SET_BACKEND_REQ_FD = 21,
	SGF_VU_GET_CONFIG = 24,
	SGF_VU_SET_CONFIG = 25,
	SGF_VU_RESET_DEVICE = 34,
	SGF_VU_GET_MAX_MEM_SLOTS = 36,
	SGF_VU_ADD_MEM_REG = 37,
	SGF_VU_REM_MEM_REG = 38,
	SGF_VU_SET_STATUS = 39,
	SGF_VU_GET_STATUS = 40,
	SGF_VU_REQUEST_MAX = 64, /* above every request we know */
};

/* Header flags. */
#define SGF_VU_VERSION 0x1u
#define SGF_VU_VERSION_MASK 0x3u
#define SGF_VU_FLAG_REPLY (1u << 2)
#define SGF_VU_FLAG_NEED_REPLY (1u << 3)

/* Virtio feature bits that matter here. */
#define SGF_VIRTIO_F_RING_INDIRECT_DESC 28
#define SGF_VIRTIO_F_RING_EVENT_IDX 29
#define SGF_VHOST_USER_F_PROTOCOL_FEATURES 30
#define SGF_VIRTIO_F_VERSION_1 32

/* Protocol feature bits. */
#define SGF_VU_PROTOCOL_F_MQ 0
#define SGF_VU_PROTOCOL_F_REPLY_ACK 3

/* SET_VRING_KICK / CALL / ERR: the queue index, and no fd (polling). */
#define SGF_VU_VRING_IDX_MASK 0xffu
#define SGF_VU_VRING_NOFD (1u << 8)

/* Most fds one message carries (SET_MEM_TABLE: one per region). */
#define SGF_VU_MAX_FDS 8

struct sgf_vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes after the header */
};

struct sgf_vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct sgf_vu_vring_addr {
	uint32_t index;
	uint32_t flags;              /* bit 0: log_guest_addr valid */
	uint64_t desc_user_addr;     /* in the frontend's address space */
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct sgf_vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;     /* where the frontend mapped it */
	uint64_t mmap_offset;        /* into the region's fd */
};

struct sgf_vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct sgf_vu_mem_region regions[SGF_VU_MAX_FDS];
};

union sgf_vu_payload {
	uint64_t u64;
	struct sgf_vu_vring_state state;
	struct sgf_vu_vring_addr addr;
	struct sgf_vu_mem_table mem;
	unsigned char bytes[512]; /* the largest payload we accept whole */
};

struct sgf_vu_msg {
	struct sgf_vu_hdr hdr;
	union sgf_vu_payload p;
};

/* "SET_MEM_TABLE" or "request 99". buf holds at least 24 bytes. */
const char *sgf_vu_request_name(uint32_t request, char *buf, unsigned size);

/* Read one message from a stream socket, with the fds sent along with it
 * (at most SGF_VU_MAX_FDS into fds, *nfds of them; the caller owns them,
 * on error too: they are closed here on every error). The header is
 * checked: version 1, no reply flag (when want_reply is false) or the reply
 * flag (when true), a payload of at most sizeof(union sgf_vu_payload)
 * bytes and of the size its request needs (see sgf_vu_check). Returns 0;
 * -ENOTCONN at end of file or a reset; -EPROTO a malformed message (the
 * stream cannot be trusted any more); -ETIMEDOUT when the rest of a begun
 * message did not come within the socket's receive timeout (also fatal);
 * -EINTR, -EAGAIN (nothing there yet); other -errno. */
int sgf_vu_recv(int fd, struct sgf_vu_msg *m, bool want_reply, int *fds, unsigned *nfds);

/* Whether a frontend request's payload size and number of fds suit it:
 * 0 or -EPROTO. Requests we do not know pass with any size (they are
 * then refused by the caller, not misread). */
int sgf_vu_check(const struct sgf_vu_msg *m, unsigned nfds);

/* Send one message (header + hdr.size payload bytes) with nfds fds.
 * 0, -ENOTCONN when the peer is gone, -ETIMEDOUT when it stopped reading
 * (SO_SNDTIMEO), other -errno. */
int sgf_vu_send(int fd, const struct sgf_vu_msg *m, const int *fds, unsigned nfds);

/* Build a request or a reply in m: header and payload size. */
void sgf_vu_msg_init(struct sgf_vu_msg *m, uint32_t request, uint32_t flags, uint32_t size);

#endif
