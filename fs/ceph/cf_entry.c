/* fs/ceph/cf_entry.c - the name ops that hand out a lookup reference
 * (LOOKUP, MKNOD, MKDIR, SYMLINK, LINK) and READLINK. Each Ceph call
 * returns the Inode with one reference, which cf_entry passes to the
 * requester's count. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "cf.h"

/* The parent node of a name op, with the name checked. */
static struct cf_node *parent_of(struct cf_session *s, uint64_t parent, const char *name,
				 int *err)
{
	struct cf_node *n;

	*err = cf_check_name(name);
	if (*err)
		return NULL;
	n = cf_node_get(s, parent);
	if (!n)
		*err = -ESTALE;
	return n;
}

int cf_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
	      struct fuse_entry_out *out)
{
	struct cf_session *s = r->fs;
	struct ceph_statx stx;
	Inode *in = NULL;
	int err;
	struct cf_node *p = parent_of(s, parent, name, &err);

	if (!p)
		return err;
	err = ceph_ll_lookup(s->c->cmount, p->in, name, &in, &stx, CF_WANT, AT_SYMLINK_NOFOLLOW,
			     CF_PERM(r));
	cf_node_put(s, p);
	return err ? err : cf_entry(s, r, in, &stx, out);
}

void cf_forget(const struct sgf_req *r, uint64_t ino, uint64_t nlookup)
{
	cf_node_forget(r->fs, ino, nlookup);
}

/* MKNOD, MKDIR and SYMLINK: one Ceph call making the child under parent,
 * whose reference becomes the entry's. */
enum make_kind { MAKE_NODE, MAKE_DIR, MAKE_LINK };

static int make_child(const struct sgf_req *r, uint64_t parent, const char *name,
		      enum make_kind kind, mode_t mode, dev_t rdev, const char *target,
		      struct fuse_entry_out *out)
{
	struct cf_session *s = r->fs;
	struct ceph_mount_info *cm = s->c->cmount;
	struct ceph_statx stx;
	Inode *child = NULL;
	int err;
	struct cf_node *p = parent_of(s, parent, name, &err);

	if (!p)
		return err;
	switch (kind) {
	case MAKE_NODE:
		err = ceph_ll_mknod(cm, p->in, name, mode, rdev, &child, &stx, CF_WANT, 0,
				    CF_PERM(r));
		break;
	case MAKE_DIR:
		err = ceph_ll_mkdir(cm, p->in, name, mode, &child, &stx, CF_WANT, 0, CF_PERM(r));
		break;
	default:
		err = ceph_ll_symlink(cm, p->in, name, target, &child, &stx, CF_WANT, 0,
				      CF_PERM(r));
		break;
	}
	cf_node_put(s, p);
	return err ? err : cf_entry(s, r, child, &stx, out);
}

int cf_mknod(const struct sgf_req *r, uint64_t parent, const char *name,
	     const struct fuse_mknod_in *in, struct fuse_entry_out *out)
{
	mode_t type = in->mode & S_IFMT;

	/* Directories and links have their own ops; anything else is no file
	 * type at all. */
	if (type != 0 && type != S_IFREG && type != S_IFCHR && type != S_IFBLK &&
	    type != S_IFIFO && type != S_IFSOCK)
		return -EINVAL;
	return make_child(r, parent, name, MAKE_NODE, in->mode,
			  (dev_t)cf_rdev_from_fuse(in->rdev), NULL, out);
}

int cf_mkdir(const struct sgf_req *r, uint64_t parent, const char *name,
	     const struct fuse_mkdir_in *in, struct fuse_entry_out *out)
{
	return make_child(r, parent, name, MAKE_DIR, in->mode, 0, NULL, out);
}

int cf_symlink(const struct sgf_req *r, uint64_t parent, const char *name,
	       const char *target, struct fuse_entry_out *out)
{
	return make_child(r, parent, name, MAKE_LINK, 0, 0, target, out);
}

int cf_link(const struct sgf_req *r, uint64_t ino, uint64_t newparent, const char *newname,
	    struct fuse_entry_out *out)
{
	struct cf_session *s = r->fs;
	struct ceph_mount_info *cm = s->c->cmount;
	struct cf_node *n, *p;
	struct ceph_statx stx;
	Inode *in = NULL;
	int err;

	p = parent_of(s, newparent, newname, &err);
	if (!p)
		return err;
	n = cf_node_get(s, ino);
	err = n ? ceph_ll_link(cm, n->in, p->in, newname, CF_PERM(r)) : -ESTALE;
	/* ceph_ll_link returns no reference: the new entry's comes from a
	 * lookup of the name just made. */
	if (!err)
		err = ceph_ll_lookup(cm, p->in, newname, &in, &stx, CF_WANT, AT_SYMLINK_NOFOLLOW,
				     CF_PERM(r));
	cf_node_put(s, n);
	cf_node_put(s, p);
	return err ? err : cf_entry(s, r, in, &stx, out);
}

ssize_t cf_readlink(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	int ret;

	if (!n)
		return -ESTALE;
	ret = ceph_ll_readlink(s->c->cmount, n->in, buf, size, CF_PERM(r));
	cf_node_put(s, n);
	return ret;
}

/* UNLINK and RMDIR. */
static int remove_name(const struct sgf_req *r, uint64_t parent, const char *name, bool dir)
{
	struct cf_session *s = r->fs;
	int err;
	struct cf_node *p = parent_of(s, parent, name, &err);

	if (!p)
		return err;
	err = dir ? ceph_ll_rmdir(s->c->cmount, p->in, name, CF_PERM(r))
		  : ceph_ll_unlink(s->c->cmount, p->in, name, CF_PERM(r));
	cf_node_put(s, p);
	return err;
}

int cf_unlink(const struct sgf_req *r, uint64_t parent, const char *name)
{
	return remove_name(r, parent, name, false);
}

int cf_rmdir(const struct sgf_req *r, uint64_t parent, const char *name)
{
	return remove_name(r, parent, name, true);
}

int cf_rename(const struct sgf_req *r, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, uint32_t flags)
{
	struct cf_session *s = r->fs;
	struct cf_node *p, *np;
	int err;

	/* Ceph renames only as rename(2) does: no RENAME_NOREPLACE,
	 * RENAME_EXCHANGE or RENAME_WHITEOUT (the caller sees EINVAL, as
	 * from a local filesystem without them). */
	if (flags)
		return -EINVAL;
	p = parent_of(s, parent, name, &err);
	if (!p)
		return err;
	np = parent_of(s, newparent, newname, &err);
	if (np)
		err = ceph_ll_rename(s->c->cmount, p->in, name, np->in, newname, CF_PERM(r));
	cf_node_put(s, np);
	cf_node_put(s, p);
	return err;
}
