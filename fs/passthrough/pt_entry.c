/* fs/passthrough/pt_entry.c - what every name op shares: name checks, the
 * confined lookup of one component under a parent's O_PATH fd, and turning
 * a stat into the attr / entry replies. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "pt.h"

void pt_proc_path(char buf[PT_PROC_PATH_MAX], int fd)
{
	snprintf(buf, PT_PROC_PATH_MAX, "/proc/self/fd/%d", fd);
}

int pt_stat_inode(const struct pt_inode *in, struct stat *st)
{
	if (fstatat(in->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

void pt_fill_attr_out(const struct sgf_passthrough *pt, struct fuse_attr_out *out,
		      const struct stat *st)
{
	out->attr_valid = pt->attr_sec;
	out->attr_valid_nsec = pt->attr_nsec;
	sgf_fill_attr(&out->attr, st);
}

static void fill_entry(const struct sgf_passthrough *pt, struct fuse_entry_out *out,
		       uint64_t nodeid, const struct stat *st)
{
	out->nodeid = nodeid;
	/* Nodeids are never reused within a run, so generation stays 0. */
	out->generation = 0;
	out->entry_valid = pt->entry_sec;
	out->entry_valid_nsec = pt->entry_nsec;
	out->attr_valid = pt->attr_sec;
	out->attr_valid_nsec = pt->attr_nsec;
	sgf_fill_attr(&out->attr, st);
}

int pt_entry_from_fd(struct sgf_passthrough *pt, int fd, struct fuse_entry_out *out)
{
	struct stat st;
	uint64_t nodeid;

	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	nodeid = pt_inode_learn(pt, fd, &st);
	if (!nodeid)
		return -ENOMEM;
	fill_entry(pt, out, nodeid, &st);
	return 0;
}

int pt_lookup_name(struct sgf_passthrough *pt, struct pt_inode *parent, const char *name,
		   struct fuse_entry_out *out)
{
	int err = pt_check_name(name);
	int fd;

	if (err)
		return err;
	if (parent->type != S_IFDIR)
		return -ENOTDIR;
	/* The root's parent is outside the backing directory: it is the root. */
	if (parent == pt->root && strcmp(name, "..") == 0)
		name = ".";
	/* One component, never followed: a symlink is served as itself. */
	fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return pt_entry_from_fd(pt, fd, out);
}

int pt_check_name(const char *name)
{
	size_t len = strnlen(name, NAME_MAX + 1);

	if (len == 0 || strchr(name, '/'))
		return -EINVAL;
	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

bool pt_is_dot_or_dotdot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

int pt_check_new_name(const char *name)
{
	int err = pt_check_name(name);

	if (err)
		return err;
	return pt_is_dot_or_dotdot(name) ? -EEXIST : 0;
}

struct pt_inode *pt_get_dir(struct sgf_passthrough *pt, uint64_t nodeid, int *err)
{
	struct pt_inode *in = pt_inode_get(pt, nodeid);

	if (!in) {
		*err = -ESTALE;
		return NULL;
	}
	if (in->type != S_IFDIR) {
		pt_inode_put(pt, in);
		*err = -ENOTDIR;
		return NULL;
	}
	return in;
}
