/* sgfuse/fuse_compat.h - FUSE protocol definitions newer than the installed
 * <linux/fuse.h> (Debian 12 ships 7.38). Everything here is guarded so a newer
 * system header wins; values are the protocol's, up to minor 7.45. */
#ifndef SGFUSE_FUSE_COMPAT_H
#define SGFUSE_FUSE_COMPAT_H

#include <linux/fuse.h>
#include <stdint.h>

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

#endif
