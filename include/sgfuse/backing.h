/* sgfuse/backing.h - FUSE passthrough (protocol 7.40, Linux 6.9+): a
 * filesystem names a backing file when it answers OPEN or CREATE, and the
 * kernel then does READ, WRITE and mmap on that file itself; the data never
 * comes to the server. Only on kernel mounts served through /dev/fuse, with
 * sgf_server_opts.passthrough set and FUSE_PASSTHROUGH in the
 * sgf_conn_info flags that init sees.
 *
 *   int id = sgf_backing_open(r, fd);          // at the inode's first open
 *   if (id > 0) sgf_open_set_backing(out, id); // else: served by requests
 *   ...
 *   sgf_backing_close(r, id);                  // at its last release
 *
 * The kernel's rules: an inode has one backing file at a time, so every
 * open of it that is passed through must name the same id, and while it has
 * one, an open answered without FOPEN_PASSTHROUGH fails (EIO) in the
 * opener; an inode opened without passthrough cannot get a backing file
 * until those opens are released. FOPEN_DIRECT_IO beside FOPEN_PASSTHROUGH
 * sends READ and WRITE to the server again (only mmap is passed through).
 * The backing file serves every open of the inode, whatever its access mode,
 * and the kernel uses it with the credentials of the registering thread. */
#ifndef SGFUSE_BACKING_H
#define SGFUSE_BACKING_H

#include <stdint.h>
#include <sgfuse/ops.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Register the open file fd (not consumed: close it when done; the kernel
 * holds its own reference) as a backing file of r's session. Returns its id
 * (> 0), or -EOPNOTSUPP (not a kernel session, or passthrough was not
 * negotiated), -EPERM (the server lacks CAP_SYS_ADMIN), -ELOOP (fd's
 * filesystem stacks too deep: FUSE or overlayfs), -EBADF, -EINVAL (not a
 * regular file, or a kernel that refuses), other -errno. Any request of the
 * session serves as r. A failure is remembered as r's fallback reason (see
 * sgf_backing_fallback). */
int sgf_backing_open(const struct sgf_req *r, int fd);

/* Forget a backing id: opens answered with it keep their backing file, new
 * ones cannot name it. Call once no open may still be answered with it
 * (typically at the inode's last RELEASE). 0 or -errno (-EOPNOTSUPP as
 * above, -ENOENT for an id not registered). */
int sgf_backing_close(const struct sgf_req *r, int backing_id);

/* Say why the OPEN, CREATE or TMPFILE r is answered without FOPEN_PASSTHROUGH on a
 * session with passthrough (why: a string that lives until the reply; err:
 * 0 or the -errno behind it). Only for -o debug's line about the fallback;
 * the library counts fallbacks itself (stats.passthrough_fallback). */
void sgf_backing_fallback(const struct sgf_req *r, const char *why, int err);

/* Answer an open with backing file backing_id (from sgf_backing_open). The
 * id travels in what <linux/fuse.h> before 7.40 calls padding. */
static inline void sgf_open_set_backing(struct fuse_open_out *o, int backing_id)
{
	o->open_flags |= FOPEN_PASSTHROUGH;
#if FUSE_KERNEL_MINOR_VERSION >= 40
	o->backing_id = backing_id;
#else
	o->padding = (uint32_t)backing_id;
#endif
}

/* The backing id an open reply names (0 when it names none). */
static inline int sgf_open_backing_id(const struct fuse_open_out *o)
{
	if (!(o->open_flags & FOPEN_PASSTHROUGH))
		return 0;
#if FUSE_KERNEL_MINOR_VERSION >= 40
	return o->backing_id;
#else
	return (int)o->padding;
#endif
}

#ifdef __cplusplus
}
#endif
#endif
