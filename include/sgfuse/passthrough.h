/* sgfuse/passthrough.h - a filesystem that serves a backing directory
 * through sgf_ops ("fusexmp over tmpfs" of the seed). Inodes are keyed by
 * (st_dev, st_ino) and reached through O_PATH fds; nothing resolves outside
 * the backing directory. Where the backing fs gives file handles and the
 * process has CAP_DAC_READ_SEARCH, at most half the soft RLIMIT_NOFILE (as
 * read by sgf_passthrough_new) of those fds stay open, the least recently
 * used are closed and reopened by handle when next needed, so the requester
 * may hold any number of inodes; elsewhere every inode keeps its fd. The
 * process's fd limit is its own to raise (sgfuse-passthrough raises the
 * soft limit to the hard one); each instance takes its half. A root daemon runs every op that checks permissions
 * or makes an object with the requester's uid/gid (no supplementary
 * groups), so modes hold and new objects belong to their creator; any other
 * daemon serves as itself. Modes arrive already masked by the requester's
 * umask, so the daemon should run with umask(0). Symlinks carry no extended
 * attributes here (Linux offers no way to reach one through an O_PATH fd). */
#ifndef SGFUSE_PASSTHROUGH_H
#define SGFUSE_PASSTHROUGH_H

#include <sgfuse/server.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sgf_backing_direct {
	SGF_BACKING_DIRECT_AUTO, /* keep O_DIRECT where the backing fs takes it */
	SGF_BACKING_DIRECT_ON,   /* keep it; fail opens where it is refused */
	SGF_BACKING_DIRECT_OFF,  /* always drop it on the backing file */
};

/* How an open that asked for O_DIRECT reaches the backing file. The
 * requester is told FOPEN_DIRECT_IO either way. AUTO also serves a read or
 * write the backing fs refuses as misaligned through a buffered twin fd.
 * Under FUSE passthrough (init sees FUSE_PASSTHROUGH) each regular file's
 * opens share one backing file the kernel does the I/O on, with the
 * opener's O_DIRECT as asked; this option then only governs files served by
 * requests (OFF: an O_DIRECT open of a file not passed through yet is served
 * by requests). */
struct sgf_passthrough_opts {
	enum sgf_backing_direct backing_direct;
	double entry_timeout;   /* seconds; 0 means the default 1.0 */
	double attr_timeout;    /* seconds; 0 means the default 1.0 */
	/* Serve no extended attributes: every xattr op is answered ENOSYS,
	 * which makes the kernel stop sending them. */
	bool no_xattr;
};

struct sgf_passthrough;

/* Serve the directory source; opts may be NULL. 0 and *out, or -errno
 * (-ENOTDIR, -ENOENT, -EACCES; -EINVAL for a bad option, -ENOMEM). */
int sgf_passthrough_new(struct sgf_passthrough **out, const char *source,
			const struct sgf_passthrough_opts *opts);
/* Release every node and handle, whatever the requester still holds. Call
 * once no worker can call an op any more. */
void sgf_passthrough_free(struct sgf_passthrough *pt);

/* The operations table; pass pt as the session's fs pointer (one instance
 * per session: see sgf_server_opts.fs_new). */
const struct sgf_ops *sgf_passthrough_ops(void);

#ifdef __cplusplus
}
#endif
#endif
