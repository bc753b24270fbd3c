/* fs/ceph/cf_misc.c - STATFS, the extended attributes, LSEEK. */
#include <errno.h>
#include <sys/statvfs.h>
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
