/* fs/passthrough/pt_mkobj.c - ops that make a new name under a directory
 * (MKNOD, MKDIR, SYMLINK, LINK) and answer with its entry. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pt.h"

/* The requester sends the creating process's umask too; applying it again
 * is harmless when it was applied already and right when it was not. */
static mode_t masked(uint32_t mode, uint32_t umask)
{
	return (mode_t)(mode & ~(umask & 0777));
}

int pt_mknod(const struct sgf_req *r, uint64_t parent, const char *name,
	     const struct fuse_mknod_in *in, struct fuse_entry_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	mode_t type = in->mode & S_IFMT;
	struct pt_inode *dir;
	int err = pt_check_new_name(name);

	if (err)
		return err;
	/* Directories and symlinks have their own ops. */
	if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
	    type != S_IFBLK)
		return -EINVAL;
	dir = pt_get_dir(pt, parent, &err);
	if (!dir)
		return err;
	if (mknodat(dir->fd, name, type | (masked(in->mode, in->umask) & 07777),
		    (dev_t)in->rdev) < 0)
		err = -errno;
	else
		err = pt_lookup_name(pt, dir, name, out);
	pt_inode_put(pt, dir);
	return err;
}

int pt_mkdir(const struct sgf_req *r, uint64_t parent, const char *name,
	     const struct fuse_mkdir_in *in, struct fuse_entry_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *dir;
	int err = pt_check_new_name(name);

	if (err)
		return err;
	dir = pt_get_dir(pt, parent, &err);
	if (!dir)
		return err;
	if (mkdirat(dir->fd, name, masked(in->mode, in->umask) & 07777) < 0)
		err = -errno;
	else
		err = pt_lookup_name(pt, dir, name, out);
	pt_inode_put(pt, dir);
	return err;
}

int pt_symlink(const struct sgf_req *r, uint64_t parent, const char *name,
	       const char *target, struct fuse_entry_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *dir;
	int err = pt_check_new_name(name);

	if (err)
		return err;
	/* Any target is fine: symlinks are stored, never followed here. */
	if (!target || !*target)
		return -ENOENT;
	dir = pt_get_dir(pt, parent, &err);
	if (!dir)
		return err;
	if (symlinkat(target, dir->fd, name) < 0)
		err = -errno;
	else
		err = pt_lookup_name(pt, dir, name, out);
	pt_inode_put(pt, dir);
	return err;
}

static int link_node(const struct pt_inode *src, const struct pt_inode *dir, const char *name)
{
	char path[PT_PROC_PATH_MAX];

	if (linkat(src->fd, "", dir->fd, name, AT_EMPTY_PATH) == 0)
		return 0;
	/* Without CAP_DAC_READ_SEARCH, AT_EMPTY_PATH says ENOENT; the proc
	 * link names the same object (a symlink stays itself). */
	if (errno != ENOENT)
		return -errno;
	pt_proc_path(path, src->fd);
	if (linkat(AT_FDCWD, path, dir->fd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
}

int pt_link(const struct sgf_req *r, uint64_t ino, uint64_t newparent,
	    const char *newname, struct fuse_entry_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *src, *dir;
	int err = pt_check_new_name(newname);

	if (err)
		return err;
	src = pt_inode_get(pt, ino);
	if (!src)
		return -ESTALE;
	if (src->type == S_IFDIR) {
		pt_inode_put(pt, src);
		return -EPERM;
	}
	dir = pt_get_dir(pt, newparent, &err);
	if (dir) {
		err = link_node(src, dir, newname);
		if (!err)
			err = pt_lookup_name(pt, dir, newname, out);
		pt_inode_put(pt, dir);
	}
	pt_inode_put(pt, src);
	return err;
}
