/* fs/passthrough/pt_io.c - READ and WRITE, the hot path: one preadv/pwritev
 * straight between the backing file and the channel's iovecs, no copy and
 * no allocation. A misaligned request the backing fs refuses under O_DIRECT
 * is served by the handle's buffered twin when backing_direct is AUTO. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/uio.h>
#include "pt.h"

typedef ssize_t (*pt_iofn)(int fd, const struct iovec *iov, int iovcnt, off_t off);

static ssize_t one_io(pt_iofn fn, int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	ssize_t n;

	do
		n = fn(fd, iov, iovcnt, off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* A short transfer is returned as is: at end of file (read) or on a full
 * device (write) a second call would only confirm it. kill: the kernel
 * asked to clear suid/sgid with a write (FUSE_WRITE_KILL_SUIDGID). */
static ssize_t do_io(const struct sgf_req *r, uint64_t ino, uint64_t fh, uint64_t offset,
		     const struct iovec *iov, int iovcnt, pt_iofn fn, bool kill)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_handle *h;
	ssize_t n;

	if (offset > INT64_MAX || iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	if (iovcnt == 0)
		return 0;
	h = pt_handle_get(pt, fh, ino, false);
	if (!h)
		return -EBADF;
	if (kill) {
		/* Before the data goes in, as Linux does: a set-id file never
		 * holds a writer's bytes with its bits still on. Failing to
		 * clear fails the write. */
		int err = pt_kill_suidgid(r, h->fd, false, false);

		if (err) {
			pt_handle_put(pt, h);
			return err;
		}
	}
	n = one_io(fn, h->fd, iov, iovcnt, (off_t)offset);
	if (n == -EINVAL && h->may_fallback) {
		int bfd = pt_handle_buffered_fd(h);

		n = bfd < 0 ? bfd : one_io(fn, bfd, iov, iovcnt, (off_t)offset);
	}
	pt_handle_put(pt, h);
	return n;
}

ssize_t pt_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		const struct iovec *iov, int iovcnt)
{
	return do_io(r, ino, in->fh, in->offset, iov, iovcnt, preadv, false);
}

ssize_t pt_write(const struct sgf_req *r, uint64_t ino, const struct fuse_write_in *in,
		 const struct iovec *iov, int iovcnt)
{
	return do_io(r, ino, in->fh, in->offset, iov, iovcnt, pwritev,
		     (in->write_flags & FUSE_WRITE_KILL_SUIDGID) != 0);
}

/* The token is the handle with one ref held, so a RELEASE racing the splice
 * cannot close the fd under it. */
int pt_read_source(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		   int *fd, uint64_t *off, void **token)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_handle *h;
	int sfd;

	if (in->offset > INT64_MAX)
		return -EINVAL;
	h = pt_handle_get(pt, in->fh, ino, false);
	if (!h)
		return -EBADF;
	sfd = h->fd;
	/* Splice from an O_DIRECT fd reads into freshly allocated pages (one
	 * copy, slower than preadv to our buffer); from the page cache it
	 * passes the cached pages by reference. So take the buffered twin,
	 * unless O_DIRECT on the backing file was demanded (backing_direct=on). */
	if (h->may_fallback)
		sfd = pt_handle_buffered_fd(h);
	else if (fcntl(h->fd, F_GETFL) & O_DIRECT)
		sfd = -EOPNOTSUPP;
	if (sfd < 0) {
		pt_handle_put(pt, h);
		return sfd;
	}
	*fd = sfd;
	*off = in->offset;
	*token = h;
	return 0;
}

void pt_read_source_done(const struct sgf_req *r, void *token)
{
	pt_handle_put(r->fs, token);
}
