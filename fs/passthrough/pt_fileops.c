/* fs/passthrough/pt_fileops.c - the ops on an open file besides I/O:
 * FLUSH, RELEASE, FSYNC, FALLOCATE, LSEEK. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#include "pt.h"

int pt_flush(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_handle *h = pt_handle_get(pt, in->fh, ino, false);
	int err = 0, dupfd;

	if (!h)
		return -EBADF;
	/* Closing a duplicate reports what close() of the opener's file would
	 * (delayed write errors, e.g. on NFS) and drops its POSIX locks. */
	dupfd = dup(h->fd);
	if (dupfd < 0 || close(dupfd) < 0)
		err = -errno;
	pt_handle_put(pt, h);
	return err;
}

int pt_release(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in)
{
	struct pt_handle *h = pt_handle_get(r->fs, in->fh, ino, false);

	if (h) {
		pt_backing_detach(r, h);
		pt_handle_put(r->fs, h);
	}
	return pt_handle_release(r->fs, in->fh, ino, false);
}

int pt_handle_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in,
		    bool is_dir)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_handle *h = pt_handle_get(pt, in->fh, ino, is_dir);
	int ret;

	if (!h)
		return -EBADF;
	if (in->fsync_flags & FUSE_FSYNC_FDATASYNC)
		ret = fdatasync(h->fd);
	else
		ret = fsync(h->fd);
	ret = ret < 0 ? -errno : 0;
	pt_handle_put(pt, h);
	return ret;
}

int pt_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in)
{
	return pt_handle_fsync(r, ino, in, false);
}

int pt_fallocate(const struct sgf_req *r, uint64_t ino, const struct fuse_fallocate_in *in)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_handle *h;
	int ret;

	if (in->offset > INT64_MAX || in->length > INT64_MAX ||
	    in->mode > INT32_MAX)
		return -EINVAL;
	h = pt_handle_get(pt, in->fh, ino, false);
	if (!h)
		return -EBADF;
	ret = fallocate(h->fd, (int)in->mode, (off_t)in->offset, (off_t)in->length);
	ret = ret < 0 ? -errno : 0;
	/* Linux clears suid/sgid on fallocate as on write (file_modified()).
	 * No flag comes with it, so whether the caller lacks CAP_FSETID is
	 * judged by its fsuid (pt_killpriv.c). */
	if (ret == 0 && !pt_requester_capable(r))
		ret = pt_kill_suidgid(r, h->fd, false, false);
	pt_handle_put(pt, h);
	return ret;
}

int pt_lseek(const struct sgf_req *r, uint64_t ino, const struct fuse_lseek_in *in,
	     struct fuse_lseek_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_handle *h;
	off_t pos;
	int err = 0;

	/* The requester keeps its own file position; it only asks us where
	 * data and holes are. */
	if (in->whence != SEEK_DATA && in->whence != SEEK_HOLE)
		return -EINVAL;
	if (in->offset > INT64_MAX)
		return -ENXIO;
	h = pt_handle_get(pt, in->fh, ino, false);
	if (!h)
		return -EBADF;
	pos = lseek(h->fd, (off_t)in->offset, (int)in->whence);
	if (pos < 0)
		err = -errno;
	else
		out->offset = (uint64_t)pos;
	pt_handle_put(pt, h);
	return err;
}
