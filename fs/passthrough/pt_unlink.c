/* fs/passthrough/pt_unlink.c - ops that remove or move names (UNLINK,
 * RMDIR, RENAME). The nodes stay until the requester forgets them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "pt.h"

static int unlink_in(const struct sgf_req *r, uint64_t parent, const char *name, int flags)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *dir;
	int err = pt_check_name(name);

	if (err)
		return err;
	if (pt_is_dot_or_dotdot(name)) {
		/* What unlink(2) / rmdir(2) say for these names. */
		if (!(flags & AT_REMOVEDIR))
			return -EISDIR;
		return strcmp(name, ".") == 0 ? -EINVAL : -ENOTEMPTY;
	}
	dir = pt_get_dir(pt, parent, &err);
	if (!dir)
		return err;
	if (unlinkat(dir->fd, name, flags) < 0)
		err = -errno;
	pt_inode_put(pt, dir);
	return err;
}

int pt_unlink(const struct sgf_req *r, uint64_t parent, const char *name)
{
	return unlink_in(r, parent, name, 0);
}

int pt_rmdir(const struct sgf_req *r, uint64_t parent, const char *name)
{
	return unlink_in(r, parent, name, AT_REMOVEDIR);
}

int pt_rename(const struct sgf_req *r, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, uint32_t flags)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *from, *to;
	int err = pt_check_name(name);

	if (!err)
		err = pt_check_name(newname);
	if (err)
		return err;
	if (pt_is_dot_or_dotdot(name) || pt_is_dot_or_dotdot(newname))
		return -EINVAL;
	/* The backing fs decides what it supports of these, and which
	 * combinations it takes (RENAME_EXCHANGE with either other is
	 * refused already by the requester's VFS). A whiteout is a 0:0
	 * character device left at the old name, which overlayfs and
	 * container tools use. */
	if (flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	from = pt_get_dir(pt, parent, &err);
	if (!from)
		return err;
	to = pt_get_dir(pt, newparent, &err);
	if (to) {
		if (renameat2(from->fd, name, to->fd, newname, flags) < 0)
			err = -errno;
		pt_inode_put(pt, to);
	}
	pt_inode_put(pt, from);
	return err;
}
