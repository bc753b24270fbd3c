/* fs/passthrough/pt_misc.c - small node ops that need no handle: READLINK,
 * STATFS, ACCESS. */
#include <errno.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "pt.h"

ssize_t pt_readlink(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *node = pt_inode_get(pt, ino);
	ssize_t n;

	if (!node)
		return -ESTALE;
	if (node->type != S_IFLNK)
		n = -EINVAL;
	else if (size == 0)
		n = -ERANGE;
	else if ((n = readlinkat(node->fd, "", buf, size)) < 0)
		n = -errno;
	pt_inode_put(pt, node);
	return n;
}

int pt_statfs(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *node = pt_inode_get(pt, ino);
	struct statvfs sv;
	int err = 0;

	if (!node)
		return -ESTALE;
	if (fstatvfs(node->fd, &sv) < 0) {
		err = -errno;
	} else {
		sgf_fill_kstatfs(&out->st, &sv);
	}
	pt_inode_put(pt, node);
	return err;
}

int pt_access(const struct sgf_req *r, uint64_t ino, uint32_t mask)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *node;
	int err = 0;

	if (mask & ~(uint32_t)(R_OK | W_OK | X_OK))
		return -EINVAL;
	node = pt_inode_get(pt, ino);
	if (!node)
		return -ESTALE;
	/* AT_EACCESS: check with the fs ids the op runs under (the
	 * requester's), not the daemon's real ids. */
	if (faccessat(node->fd, "", (int)mask, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_EACCESS) < 0)
		err = -errno;
	pt_inode_put(pt, node);
	return err;
}
