/* fs/ceph/cf_misc.c - STATFS, ACCESS, the extended attributes, LSEEK. */
#include <errno.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "cf.h"

int cf_statfs(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	struct statvfs sv;
	int err;

	if (!n)
		return -ESTALE;
	err = ceph_ll_statfs(s->c->cmount, n->in, &sv);
	if (!err)
		sgf_fill_kstatfs(&out->st, &sv);
	cf_node_put(s, n);
	return err;
}

/* libcephfs 16 has no low-level access check: the mode bits against the
 * requester's uid and gid, as Ceph's own checks read them (root may read
 * and write anything, and execute what anyone may). */
int cf_access(const struct sgf_req *r, uint64_t ino, uint32_t mask)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	struct ceph_statx stx;
	unsigned bits;
	int err;

	if (!n)
		return -ESTALE;
	err = ceph_ll_getattr(s->c->cmount, n->in, &stx, CEPH_STATX_MODE | CEPH_STATX_UID |
			      CEPH_STATX_GID, AT_SYMLINK_NOFOLLOW, CF_PERM(r));
	cf_node_put(s, n);
	if (err || mask == F_OK)
		return err;
	if (r->uid == 0) {
		if (!(mask & X_OK) || S_ISDIR(stx.stx_mode) || (stx.stx_mode & 0111))
			return 0;
		return -EACCES;
	}
	if (r->uid == stx.stx_uid)
		bits = (stx.stx_mode >> 6) & 7;
	else if (r->gid == stx.stx_gid)
		bits = (stx.stx_mode >> 3) & 7;
	else
		bits = stx.stx_mode & 7;
	return (mask & 7 & ~bits) ? -EACCES : 0;
}

int cf_setxattr(const struct sgf_req *r, uint64_t ino, const char *name, const void *value,
		size_t size, uint32_t flags)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	int err;

	if (!n)
		return -ESTALE;
	err = ceph_ll_setxattr(s->c->cmount, n->in, name, value, size, (int)flags, CF_PERM(r));
	cf_node_put(s, n);
	return err;
}

ssize_t cf_getxattr(const struct sgf_req *r, uint64_t ino, const char *name, void *buf,
		    size_t size)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	int ret;

	if (!n)
		return -ESTALE;
	ret = ceph_ll_getxattr(s->c->cmount, n->in, name, buf, size, CF_PERM(r));
	cf_node_put(s, n);
	return ret;
}

ssize_t cf_listxattr(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	size_t len = 0;
	int err;

	if (!n)
		return -ESTALE;
	err = ceph_ll_listxattr(s->c->cmount, n->in, buf, size, &len, CF_PERM(r));
	cf_node_put(s, n);
	return err ? err : (ssize_t)len;
}

int cf_removexattr(const struct sgf_req *r, uint64_t ino, const char *name)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	int err;

	if (!n)
		return -ESTALE;
	err = ceph_ll_removexattr(s->c->cmount, n->in, name, CF_PERM(r));
	cf_node_put(s, n);
	return err;
}

int cf_lseek(const struct sgf_req *r, uint64_t ino, const struct fuse_lseek_in *in,
	     struct fuse_lseek_out *out)
{
	struct cf_session *s = r->fs;
	struct cf_handle *h = cf_handle_get(s, in->fh, ino, false);
	off_t off;

	if (!h)
		return -EBADF;
	if (in->offset > INT64_MAX) {
		cf_handle_put(s, h);
		return -ENXIO;
	}
	off = ceph_ll_lseek(s->c->cmount, h->fh, (off_t)in->offset, (int)in->whence);
	cf_handle_put(s, h);
	if (off < 0)
		return (int)off;
	out->offset = (uint64_t)off;
	return 0;
}
