/* sgfuse/fuse_compat.h - FUSE protocol definitions newer than the installed
 * <linux/fuse.h> (Debian 12 ships 7.38). Everything here is guarded so a newer
 * system header wins; values are the protocol's, up to minor 7.45. */
#ifndef SGFUSE_FUSE_COMPAT_H
#define SGFUSE_FUSE_COMPAT_H

#include <linux/fuse.h>
#include <stdint.h>
#include <sys/ioctl.h>

/* Opcodes added after 7.38 (enum values, so test by value not by #ifdef). */
#define SGF_OP_STATX 52             /* 7.39 */
#define SGF_OP_COPY_FILE_RANGE_64 53 /* 7.45 */

/* flags2 bits of fuse_init_{in,out} (bit N of the 64-bit flag word is
 * bit N-32 of flags2). */
#ifndef FUSE_DIRECT_IO_ALLOW_MMAP
#define FUSE_DIRECT_IO_ALLOW_MMAP (1ULL << 36) /* 7.39 */
#endif
#ifndef FUSE_PASSTHROUGH
#define FUSE_PASSTHROUGH (1ULL << 37) /* 7.40 */
#endif
#ifndef FUSE_NO_EXPORT_SUPPORT
#define FUSE_NO_EXPORT_SUPPORT (1ULL << 38) /* 7.40 */
#endif
#ifndef FUSE_HAS_RESEND
#define FUSE_HAS_RESEND (1ULL << 39) /* 7.40 */
#endif
#ifndef FUSE_ALLOW_IDMAP
#define FUSE_ALLOW_IDMAP (1ULL << 40) /* 7.41 */
#endif
#ifndef FUSE_OVER_IO_URING
#define FUSE_OVER_IO_URING (1ULL << 41) /* 7.42 */
#endif
#ifndef FUSE_REQUEST_TIMEOUT
#define FUSE_REQUEST_TIMEOUT (1ULL << 42) /* 7.43 */
#endif

/* 7.39: fuse_statx_in, the fixed argument of STATX. */
struct sgf_fuse_statx_in {
	uint32_t getattr_flags;
	uint32_t reserved;
	uint64_t fh;
	uint32_t sx_flags;
	uint32_t sx_mask;
};

/* 7.40: FUSE passthrough. An OPEN/CREATE reply with FOPEN_PASSTHROUGH names
 * in backing_id (the former padding of fuse_open_out) a file registered
 * with FUSE_DEV_IOC_BACKING_OPEN on /dev/fuse; INIT's max_stack_depth (the
 * first word after flags2 in fuse_init_out) says how deep the backing
 * files' filesystems stack. */
#ifndef FOPEN_PASSTHROUGH
#define FOPEN_PASSTHROUGH (1u << 7)
#endif
struct sgf_fuse_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define SGF_FUSE_DEV_IOC_MAGIC 229
#define SGF_FUSE_DEV_IOC_BACKING_OPEN _IOW(SGF_FUSE_DEV_IOC_MAGIC, 1, struct sgf_fuse_backing_map)
#define SGF_FUSE_DEV_IOC_BACKING_CLOSE _IOW(SGF_FUSE_DEV_IOC_MAGIC, 2, uint32_t)

/* 7.42: FUSE over io_uring. Each ring entry is a header buffer (this
 * struct) and a payload buffer registered with the kernel by
 * FUSE_IO_URING_CMD_REGISTER; a request arrives with its fuse_in_header in
 * in_out, the operation's fixed argument in op_in and the rest in the
 * payload; the reply goes back with its fuse_out_header in in_out and
 * everything else in the payload, committed (and the entry re-armed) by
 * FUSE_IO_URING_CMD_COMMIT_AND_FETCH. Commands are IORING_OP_URING_CMD on
 * the /dev/fuse fd, with struct sgf_fuse_uring_cmd_req in the 128-byte
 * SQE's command area. */
#define SGF_FUSE_URING_IN_OUT_HEADER_SZ 128
#define SGF_FUSE_URING_OP_IN_OUT_SZ 128

struct sgf_fuse_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;   /* set by the kernel; echoed in the commit */
	uint32_t payload_sz;  /* bytes used in the payload buffer */
	uint32_t padding;
	uint64_t reserved;
};

struct sgf_fuse_uring_req_header {
	char in_out[SGF_FUSE_URING_IN_OUT_HEADER_SZ];
	char op_in[SGF_FUSE_URING_OP_IN_OUT_SZ];
	struct sgf_fuse_uring_ent_in_out ring_ent_in_out;
};

enum sgf_fuse_uring_cmd {
	SGF_FUSE_IO_URING_CMD_INVALID = 0,
	SGF_FUSE_IO_URING_CMD_REGISTER = 1,
	SGF_FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};

struct sgf_fuse_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

#endif
