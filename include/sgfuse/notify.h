/* sgfuse/notify.h - tell the kernel that something changed behind its back
 * (another node of a distributed store wrote a file, renamed an entry): drop
 * cached pages, attributes and dentries, or push data into its page cache.
 *
 * Each call sends one FUSE notification on the session and returns 0 or
 * -errno: -ENOTCONN when the session is not (or no longer) connected,
 * -ENOENT when the kernel does not know the node or entry (nothing to
 * invalidate: not an error for most callers), -EINVAL for bad arguments,
 * -ENAMETOOLONG for a name over 255 bytes. Safe from any thread. On a stream
 * socket the notification goes to the peer (our client ignores them).
 *
 * Deadlocks (the kernel's rules, as in libfuse). The kernel takes the
 * inode's locks to invalidate, so these calls must not run while the kernel
 * waits for an operation that holds those locks, i.e. not from inside:
 *  - sgf_notify_inval_entry / sgf_notify_delete (parent locked): LOOKUP,
 *    MKNOD, MKDIR, SYMLINK, LINK, CREATE, UNLINK, RMDIR, RENAME on that
 *    parent, and SETATTR, UNLINK, RMDIR, RENAME, SETXATTR, REMOVEXATTR,
 *    READDIR(PLUS) on the child;
 *  - sgf_notify_inval_inode with a data range, sgf_notify_store: a WRITE or
 *    SETATTR (truncate) of the same inode, or a READ the kernel issued for
 *    its page cache (waits on the locked page).
 * Outside those, calling from inside an operation is fine. From another
 * thread (a backend callback) every call is safe, except from the thread
 * that must answer the kept request the kernel is waiting on with those
 * locks held (answer it first, or notify from elsewhere). Retrieving page-cache
 * contents (FUSE_NOTIFY_RETRIEVE) is not offered: its reply arrives as a
 * request, which a synchronous call cannot wait for without tying a worker
 * thread to it. */
#ifndef SGFUSE_NOTIFY_H
#define SGFUSE_NOTIFY_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sgfuse/ops.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Drop cached attributes of ino, and its cached pages in [off, off + len)
 * (len 0: to the end; off < 0: attributes only). */
int sgf_notify_inval_inode(struct sgf_session *se, uint64_t ino, int64_t off, int64_t len);

/* Drop the dentry name in directory parent (and the parent's attributes). */
int sgf_notify_inval_entry(struct sgf_session *se, uint64_t parent, const char *name);

/* Entry name in parent, pointing to child, was deleted: as inval_entry, and
 * the kernel also drops child's dentry if it is a directory in use. */
int sgf_notify_delete(struct sgf_session *se, uint64_t parent, uint64_t child,
		      const char *name);

/* Put the bytes of iov[0..iovcnt) (at most SGF_NOTIFY_IOV_MAX entries,
 * -EINVAL beyond) at offset off of ino's page cache (and extend its cached
 * size if needed). The data is copied before the call returns. */
#define SGF_NOTIFY_IOV_MAX 14
int sgf_notify_store(struct sgf_session *se, uint64_t ino, uint64_t off,
		     const struct iovec *iov, int iovcnt);

#ifdef __cplusplus
}
#endif
#endif
