/* fs/passthrough/pt_xattr.c - extended attributes. The f*xattr calls refuse
 * O_PATH fds, so they go by /proc/self/fd/N, which resolves to the object
 * itself. A symlink cannot be reached that way (the path would follow it),
 * so symlinks show no attributes and refuse new ones. With no_xattr every op
 * is ENOSYS, the answer after which the kernel sends that op no more. */
#include <errno.h>
#include <sys/xattr.h>
#include "pt.h"

static const struct sgf_passthrough *pt_fs(const struct sgf_req *r)
{
	return r->fs;
}

/* The node, or NULL with *err set; *path names it for the path calls. */
static struct pt_inode *get_node(const struct sgf_req *r, uint64_t ino,
				 char path[PT_PROC_PATH_MAX], int *err)
{
	struct pt_inode *node = pt_inode_get(r->fs, ino);

	if (!node) {
		*err = -ESTALE;
		return NULL;
	}
	pt_proc_path(path, node->fd);
	return node;
}

int pt_setxattr(const struct sgf_req *r, uint64_t ino, const char *name,
		const void *value, size_t size, uint32_t flags)
{
	char path[PT_PROC_PATH_MAX];
	struct pt_inode *node;
	int err = 0;

	if (pt_fs(r)->no_xattr)
		return -ENOSYS;
	if (flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	node = get_node(r, ino, path, &err);
	if (!node)
		return err;
	if (node->type == S_IFLNK)
		err = -EOPNOTSUPP;
	else if (setxattr(path, name, value, size, (int)flags) < 0)
		err = -errno;
	pt_inode_put(r->fs, node);
	return err;
}

ssize_t pt_getxattr(const struct sgf_req *r, uint64_t ino, const char *name,
		    void *buf, size_t size)
{
	char path[PT_PROC_PATH_MAX];
	struct pt_inode *node;
	int err = 0;
	ssize_t n;

	if (pt_fs(r)->no_xattr)
		return -ENOSYS;
	node = get_node(r, ino, path, &err);
	if (!node)
		return err;
	if (node->type == S_IFLNK)
		n = -ENODATA;
	else if ((n = getxattr(path, name, size ? buf : NULL, size)) < 0)
		n = -errno;
	pt_inode_put(r->fs, node);
	return n;
}

ssize_t pt_listxattr(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
{
	char path[PT_PROC_PATH_MAX];
	struct pt_inode *node;
	int err = 0;
	ssize_t n;

	if (pt_fs(r)->no_xattr)
		return -ENOSYS;
	node = get_node(r, ino, path, &err);
	if (!node)
		return err;
	if (node->type == S_IFLNK)
		n = 0;
	else if ((n = listxattr(path, size ? buf : NULL, size)) < 0)
		n = -errno;
	pt_inode_put(r->fs, node);
	return n;
}

int pt_removexattr(const struct sgf_req *r, uint64_t ino, const char *name)
{
	char path[PT_PROC_PATH_MAX];
	struct pt_inode *node;
	int err = 0;

	if (pt_fs(r)->no_xattr)
		return -ENOSYS;
	node = get_node(r, ino, path, &err);
	if (!node)
		return err;
	if (node->type == S_IFLNK)
		err = -ENODATA;
	else if (removexattr(path, name) < 0)
		err = -errno;
	pt_inode_put(r->fs, node);
	return err;
}
