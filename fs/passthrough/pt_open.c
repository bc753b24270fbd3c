/* fs/passthrough/pt_open.c - OPEN, CREATE and TMPFILE: a backing fd per handle, with
 * O_DIRECT kept, dropped or tried per the backing_direct option, and the
 * requester told to send direct I/O when its opener asked for O_DIRECT -
 * or, under FUSE passthrough, to use the node's backing file itself
 * (pt_backing.c). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pt.h"

/* What of the requester's open flags reaches the backing file. O_APPEND
 * is dropped because every WRITE carries its own offset; creation flags
 * only matter to CREATE. */
#define PT_KEEP_FLAGS (O_ACCMODE | O_TRUNC | O_SYNC | O_DSYNC | O_DIRECT | O_NOATIME)

static int reply_flags(uint32_t requested)
{
	if (requested & O_DIRECT)
		return FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES;
	return 0;
}

/* Reopen a real file behind an O_PATH (or other) fd with flags. */
static int reopen(int fd, int flags)
{
	char path[PT_PROC_PATH_MAX];
	int nfd;

	pt_proc_path(path, fd);
	nfd = open(path, flags | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}

/* The backing fd for a regular file open, per backing_direct. */
static int open_backing(struct sgf_passthrough *pt, int path_fd, int flags, bool *direct)
{
	int fd;

	if ((flags & O_DIRECT) && pt->backing_direct == SGF_BACKING_DIRECT_OFF)
		flags &= ~O_DIRECT;
	fd = reopen(path_fd, flags);
	if (fd == -EINVAL && (flags & O_DIRECT) &&
	    pt->backing_direct == SGF_BACKING_DIRECT_AUTO) {
		flags &= ~O_DIRECT;
		fd = reopen(path_fd, flags);
	}
	*direct = fd >= 0 && (flags & O_DIRECT);
	return fd;
}

static int publish(const struct sgf_req *r, struct pt_inode *node, int fd, int buffered_fd,
		   bool direct, uint32_t requested, struct fuse_open_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_handle *h = pt_handle_new(pt, node, false);

	if (!h)
		return -ENOMEM;
	h->fd = fd;
	atomic_store(&h->buffered_fd, buffered_fd);
	h->may_fallback = direct && pt->backing_direct == SGF_BACKING_DIRECT_AUTO;
	out->open_flags = (uint32_t)reply_flags(requested);
	/* Before publishing: once the fh is known a RELEASE may come. */
	pt_backing_attach(r, node, h, (int)requested, direct, out);
	out->fh = pt_handle_publish(pt, h);
	return 0;
}

static int check_openable(const struct pt_inode *node)
{
	switch (node->type) {
	case S_IFREG:
		return 0;
	case S_IFDIR:
		return -EISDIR;
	case S_IFLNK:
		return -ELOOP;
	default:
		/* Devices and fifos are opened by the requester's own kernel,
		 * never through us; opening a fifo here could block a worker. */
		return -ENXIO;
	}
}

int pt_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	    struct fuse_open_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *node = pt_inode_get(pt, ino);
	int flags = (int)in->flags & PT_KEEP_FLAGS;
	bool direct;
	int err, fd;

	if (!node)
		return -ESTALE;
	err = check_openable(node);
	if (!err && (flags & O_ACCMODE) == O_ACCMODE)
		err = -EINVAL;
	if (err)
		goto out;
	fd = open_backing(pt, node->fd, flags, &direct);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	/* O_TRUNC reaches OPEN only with FUSE_ATOMIC_O_TRUNC (else it is a
	 * SETATTR of the size); the flag marks a caller without CAP_FSETID. */
	if ((in->open_flags & FUSE_OPEN_KILL_SUIDGID) && (flags & O_TRUNC))
		err = pt_kill_suidgid(r, fd, false, false);
	if (!err)
		err = publish(r, node, fd, -1, direct, in->flags, out);
	if (err)
		close(fd);
out:
	pt_inode_put(pt, node);
	return err;
}

/* The first, buffered fd of a new file: name created, or opened if it
 * exists, or with name NULL an unnamed file made there with O_TMPFILE -
 * with the requester's O_EXCL, so the backing fs too refuses to ever link
 * it. With FUSE_OPEN_KILL_SUIDGID (O_TRUNC without O_EXCL, by a caller
 * without CAP_FSETID) an existing file loses suid/sgid as a truncate
 * would, and a created one keeps the mode asked for: O_EXCL first tells
 * them apart. */
static int open_new(const struct sgf_req *r, const struct pt_inode *dir, const char *name,
		    int flags, mode_t mode, bool kill)
{
	/* O_NONBLOCK: a fifo that raced into the name must not block us. */
	int base = (flags & ~O_DIRECT) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	int fd, err;

	if (name == NULL) {
		fd = openat(dir->fd, ".", (flags & ~(O_DIRECT | O_TRUNC)) | O_TMPFILE | O_CLOEXEC,
			    mode);
		return fd < 0 ? -errno : fd;
	}
	for (int tries = 0; kill && tries < 3; tries++) {
		fd = openat(dir->fd, name, base | O_CREAT | O_EXCL, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
		fd = openat(dir->fd, name, base, mode);
		if (fd >= 0) {
			err = pt_kill_suidgid(r, fd, false, false);
			if (err)
				close(fd);
			return err ? err : fd;
		}
		if (errno != ENOENT)
			return -errno;
		/* Unlinked in between: try to create it again. */
	}
	/* Still racing: the backing fs's own O_TRUNC, as the requester,
	 * clears the bits of a file it finds. */
	fd = openat(dir->fd, name, base | O_CREAT, mode);
	return fd < 0 ? -errno : fd;
}

/* Make the new file buffered, then give it its O_DIRECT twin when asked:
 * O_DIRECT at creation could make the file and then fail, leaving a retry
 * to trip over its own O_EXCL. */
static int create_fds(const struct sgf_req *r, struct pt_inode *dir, const char *name,
		      const struct fuse_create_in *in, int *fd, int *buffered_fd, bool *direct)
{
	struct sgf_passthrough *pt = r->fs;
	int flags = ((int)in->flags & PT_KEEP_FLAGS) | ((int)in->flags & O_EXCL);
	mode_t mode = (mode_t)(in->mode & ~(in->umask & 0777) & 07777);
	bool kill = (in->open_flags & FUSE_OPEN_KILL_SUIDGID) && (flags & O_TRUNC) &&
		    !(flags & O_EXCL);
	struct stat st;
	int bfd, dfd;

	if ((flags & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	bfd = open_new(r, dir, name, flags, mode, kill);
	if (bfd < 0)
		return bfd;
	if (fstat(bfd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(bfd);
		return -ENXIO;
	}
	*fd = bfd;
	*buffered_fd = -1;
	*direct = false;
	if (!(flags & O_DIRECT) || pt->backing_direct == SGF_BACKING_DIRECT_OFF)
		return 0;
	dfd = reopen(bfd, flags & ~(O_TRUNC | O_EXCL));
	if (dfd >= 0) {
		*fd = dfd;
		*direct = true;
		if (pt->backing_direct == SGF_BACKING_DIRECT_AUTO)
			*buffered_fd = bfd; /* the fallback twin, already open */
		else
			close(bfd);
		return 0;
	}
	if (dfd == -EINVAL && pt->backing_direct == SGF_BACKING_DIRECT_AUTO)
		return 0;
	close(bfd);
	return dfd;
}

/* CREATE (name) and TMPFILE (name NULL). */
static int create_in(const struct sgf_req *r, uint64_t parent, const char *name,
		     const struct fuse_create_in *in, struct fuse_entry_out *entry,
		     struct fuse_open_out *open_out)
{
	struct sgf_passthrough *pt = r->fs;
	int fd = -1, bfd = -1, path_fd;
	struct pt_inode *dir, *node = NULL;
	bool direct = false;
	int err = 0;

	dir = pt_get_dir(pt, parent, &err);
	if (!dir)
		return err;
	err = create_fds(r, dir, name, in, &fd, &bfd, &direct);
	if (err)
		goto out;
	/* The entry is the very file we opened, whatever renames race us
	 * (no O_NOFOLLOW: that would give the proc link itself). For a
	 * tmpfile this O_PATH fd is what a later LINK names it through. */
	path_fd = reopen(fd, O_PATH);
	err = path_fd < 0 ? path_fd : pt_entry_from_fd(pt, path_fd, entry);
	if (err)
		goto out_fds;
	node = pt_inode_get(pt, entry->nodeid);
	if (!node) {
		/* Forgotten already by a confused requester: nothing to open. */
		err = -ESTALE;
		goto out_fds;
	}
	err = publish(r, node, fd, bfd, direct, in->flags, open_out);
	pt_inode_put(pt, node);
	if (!err)
		goto out;
	pt_inode_forget(pt, entry->nodeid, 1);
out_fds:
	close(fd);
	if (bfd >= 0)
		close(bfd);
out:
	pt_inode_put(pt, dir);
	return err;
}

int pt_create(const struct sgf_req *r, uint64_t parent, const char *name,
	      const struct fuse_create_in *in, struct fuse_entry_out *entry,
	      struct fuse_open_out *open_out)
{
	int err = pt_check_new_name(name);

	return err ? err : create_in(r, parent, name, in, entry, open_out);
}

int pt_tmpfile(const struct sgf_req *r, uint64_t parent, const struct fuse_create_in *in,
	       struct fuse_entry_out *entry, struct fuse_open_out *open_out)
{
	return create_in(r, parent, NULL, in, entry, open_out);
}
