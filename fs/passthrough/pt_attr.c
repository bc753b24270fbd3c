/* fs/passthrough/pt_attr.c - GETATTR and SETATTR. With an open handle
 * (FUSE_GETATTR_FH, FATTR_FH) the handle's fd is used; otherwise the node's
 * O_PATH fd, through calls that never follow a symlink. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pt.h"

int pt_getattr(const struct sgf_req *r, uint64_t ino, const struct fuse_getattr_in *in,
	       struct fuse_attr_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *node = pt_inode_get(pt, ino);
	struct stat st;
	int err;

	if (!node)
		return -ESTALE;
	if (in && (in->getattr_flags & FUSE_GETATTR_FH)) {
		struct pt_handle *h = pt_handle_get(pt, in->fh, ino, false);

		if (h) {
			err = fstat(h->fd, &st) < 0 ? -errno : 0;
			pt_handle_put(pt, h);
		} else {
			err = -EBADF;
		}
	} else {
		err = pt_stat_inode(node, &st);
	}
	if (!err)
		pt_fill_attr_out(pt, out, &st);
	pt_inode_put(pt, node);
	return err;
}

/* One attribute change at a time, each through the handle fd when there
 * is one (fd >= 0), else through the node. */
static int set_mode(const struct pt_inode *node, int fd, mode_t mode)
{
	char path[PT_PROC_PATH_MAX];

	if (fd >= 0)
		return fchmod(fd, mode) < 0 ? -errno : 0;
	/* Linux has no mode on symlinks. */
	if (node->type == S_IFLNK)
		return -EOPNOTSUPP;
	pt_proc_path(path, node->fd);
	return chmod(path, mode) < 0 ? -errno : 0;
}

static int set_owner(const struct pt_inode *node, int fd, uid_t uid, gid_t gid)
{
	if (fd >= 0)
		return fchown(fd, uid, gid) < 0 ? -errno : 0;
	if (fchownat(node->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int set_size(const struct pt_inode *node, int fd, uint64_t size)
{
	char path[PT_PROC_PATH_MAX];

	if (size > INT64_MAX)
		return -EINVAL;
	if (fd >= 0)
		return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	if (node->type == S_IFDIR)
		return -EISDIR;
	if (node->type != S_IFREG)
		return -EINVAL;
	pt_proc_path(path, node->fd);
	return truncate(path, (off_t)size) < 0 ? -errno : 0;
}

static int time_of(struct timespec *ts, uint32_t valid, uint32_t set_bit, uint32_t now_bit,
		   uint64_t sec, uint32_t nsec)
{
	if (valid & now_bit) {
		ts->tv_sec = 0;
		ts->tv_nsec = UTIME_NOW;
	} else if (valid & set_bit) {
		if (nsec >= 1000000000u || sec > INT64_MAX)
			return -EINVAL;
		ts->tv_sec = (time_t)sec;
		ts->tv_nsec = nsec;
	} else {
		ts->tv_sec = 0;
		ts->tv_nsec = UTIME_OMIT;
	}
	return 0;
}

static int set_times(const struct pt_inode *node, int fd, const struct fuse_setattr_in *in)
{
	struct timespec ts[2];
	int err = time_of(&ts[0], in->valid, FATTR_ATIME, FATTR_ATIME_NOW, in->atime,
			  in->atimensec);

	if (!err)
		err = time_of(&ts[1], in->valid, FATTR_MTIME, FATTR_MTIME_NOW, in->mtime,
			      in->mtimensec);
	if (err)
		return err;
	if (fd >= 0)
		return futimens(fd, ts) < 0 ? -errno : 0;
	if (utimensat(node->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int apply(const struct pt_inode *node, int fd, const struct fuse_setattr_in *in)
{
	uint32_t v = in->valid;
	int err = 0;

	if (v & FATTR_MODE)
		err = set_mode(node, fd, in->mode & 07777);
	if (!err && (v & (FATTR_UID | FATTR_GID)))
		err = set_owner(node, fd, (v & FATTR_UID) ? in->uid : (uid_t)-1,
				(v & FATTR_GID) ? in->gid : (gid_t)-1);
	if (!err && (v & FATTR_SIZE))
		err = set_size(node, fd, in->size);
	/* Times last, so a truncate's own mtime change does not win. */
	if (!err && (v & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)))
		err = set_times(node, fd, in);
	return err;
}

/* What a SETATTR may carry besides attributes to change. */
#define PT_FATTR_NOT_AN_ATTR (FATTR_FH | FATTR_LOCKOWNER | FATTR_KILL_SUIDGID)

/* suid/sgid to clear after a SETATTR (pt_killpriv.c), through fd (or the
 * node's O_PATH fd when -1). The kernel flags a truncate only for a caller
 * without CAP_FSETID, but any chown. A SETATTR with nothing to change is
 * how killpriv_v2 passes on the kernel's file_remove_privs() (write under
 * FUSE passthrough, fallocate): honoured for a requester that may write
 * the file or owns it, as a writer or an owner could clear the bits
 * anyway (a truncate to the same size does). */
static int kill_after(const struct sgf_req *r, const struct pt_inode *node, int fd,
		      const struct fuse_setattr_in *in)
{
	struct sgf_passthrough *pt = r->fs;
	bool o_path = fd < 0;
	struct stat st;

	if (o_path)
		fd = node->fd;
	if (in->valid & FATTR_KILL_SUIDGID)
		return pt_kill_suidgid(r, fd, o_path,
				       !(in->valid & FATTR_SIZE) && pt_requester_capable(r));
	if (!pt->killpriv || (in->valid & ~PT_FATTR_NOT_AN_ATTR) || pt_requester_capable(r) ||
	    node->type != S_IFREG)
		return 0;
	/* Checked as the requester (SETATTR runs with its ids). */
	if (faccessat(node->fd, "", W_OK, AT_EMPTY_PATH | AT_EACCESS) < 0 &&
	    (fstat(fd, &st) < 0 || st.st_uid != r->uid))
		return 0;
	return pt_kill_suidgid(r, fd, o_path, false);
}

int pt_setattr(const struct sgf_req *r, uint64_t ino, const struct fuse_setattr_in *in,
	       struct fuse_attr_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *node = pt_inode_get(pt, ino);
	struct pt_handle *h = NULL;
	struct stat st;
	int err;

	if (!node)
		return -ESTALE;
	if (in->valid & FATTR_FH) {
		h = pt_handle_get(pt, in->fh, ino, false);
		if (!h) {
			pt_inode_put(pt, node);
			return -EBADF;
		}
	}
	err = apply(node, h ? h->fd : -1, in);
	if (!err)
		err = kill_after(r, node, h ? h->fd : -1, in);
	if (!err)
		err = h ? (fstat(h->fd, &st) < 0 ? -errno : 0) : pt_stat_inode(node, &st);
	if (!err)
		pt_fill_attr_out(pt, out, &st);
	if (h)
		pt_handle_put(pt, h);
	pt_inode_put(pt, node);
	return err;
}
