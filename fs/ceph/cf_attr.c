/* fs/ceph/cf_attr.c - Ceph's statx as FUSE attributes and entries, and
 * GETATTR / SETATTR. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "cf.h"

static void split_timeout(double t, uint64_t *sec, uint32_t *nsec)
{
	*sec = (uint64_t)t;
	*nsec = (uint32_t)((t - (double)*sec) * 1e9);
}

/* Ceph keeps a device number as the Linux kernel does inside (20 minor
 * bits), which is what its kernel client and ceph-fuse store; FUSE carries
 * the kernel's 32-bit user encoding (8 + 12 bits of major, 20 of minor
 * split 8 + 12). */
uint32_t cf_rdev_to_fuse(uint64_t dev)
{
	uint32_t major = (uint32_t)(dev >> 20) & 0xfff, minor = (uint32_t)dev & 0xfffff;

	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

uint64_t cf_rdev_from_fuse(uint32_t rdev)
{
	uint32_t major = (rdev & 0xfff00) >> 8, minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);

	return ((uint64_t)major << 20) | minor;
}

void cf_fill_attr(struct fuse_attr *a, const struct ceph_statx *stx)
{
	memset(a, 0, sizeof(*a));
	a->ino = stx->stx_ino;
	a->size = stx->stx_size;
	a->blocks = stx->stx_blocks;
	a->atime = (uint64_t)stx->stx_atime.tv_sec;
	a->atimensec = (uint32_t)stx->stx_atime.tv_nsec;
	a->mtime = (uint64_t)stx->stx_mtime.tv_sec;
	a->mtimensec = (uint32_t)stx->stx_mtime.tv_nsec;
	a->ctime = (uint64_t)stx->stx_ctime.tv_sec;
	a->ctimensec = (uint32_t)stx->stx_ctime.tv_nsec;
	a->mode = stx->stx_mode;
	a->nlink = stx->stx_nlink;
	a->uid = stx->stx_uid;
	a->gid = stx->stx_gid;
	a->rdev = cf_rdev_to_fuse(stx->stx_rdev);
	a->blksize = stx->stx_blksize;
}

void cf_fill_attr_out(struct sgf_ceph *c, struct fuse_attr_out *out,
		      const struct ceph_statx *stx)
{
	split_timeout(c->attr_timeout, &out->attr_valid, &out->attr_valid_nsec);
	cf_fill_attr(&out->attr, stx);
}

int cf_entry(struct cf_session *s, const struct sgf_req *r, Inode *in,
	     const struct ceph_statx *stx, struct fuse_entry_out *out)
{
	uint64_t nodeid = cf_node_learn(s, r, in, stx->stx_ino);

	if (!nodeid)
		return -ENOMEM;
	out->nodeid = nodeid;
	out->generation = 0; /* nodeids are never reused within a run */
	split_timeout(s->c->entry_timeout, &out->entry_valid, &out->entry_valid_nsec);
	split_timeout(s->c->attr_timeout, &out->attr_valid, &out->attr_valid_nsec);
	cf_fill_attr(&out->attr, stx);
	return 0;
}

int cf_check_name(const char *name)
{
	/* One component: Ceph would take "a/b" as a path of two. */
	if (!strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/'))
		return -EINVAL;
	return strlen(name) > SGF_NAME_MAX ? -ENAMETOOLONG : 0;
}

/* Node n's attributes, as Ceph has them now, into out. */
static int attr_reply(const struct sgf_req *r, struct cf_node *n, struct fuse_attr_out *out)
{
	struct cf_session *s = r->fs;
	struct ceph_statx stx;
	int err = ceph_ll_getattr(s->c->cmount, n->in, &stx, CF_WANT, AT_SYMLINK_NOFOLLOW,
				  CF_PERM(r));

	if (!err)
		cf_fill_attr_out(s->c, out, &stx);
	return err;
}

int cf_getattr(const struct sgf_req *r, uint64_t ino, const struct fuse_getattr_in *in,
	       struct fuse_attr_out *out)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	int err;

	(void)in; /* an open handle's attributes are its inode's */
	if (!n)
		return -ESTALE;
	err = attr_reply(r, n, out);
	cf_node_put(s, n);
	return err;
}

/* One time of a SETATTR: now (read by the caller) or the value given;
 * the Ceph mask bits when it is set. "Now" also carries Ceph's _NOW bit:
 * it is what lets a user who may write the file, not its owner, touch it
 * (as POSIX allows). */
static int set_time(struct timespec *t, uint32_t valid, uint32_t bit, uint32_t now_bit,
		    uint64_t sec, uint32_t nsec, const struct timespec *now, int ceph_bit,
		    int ceph_now_bit)
{
	if (valid & now_bit) {
		*t = *now;
		return ceph_bit | ceph_now_bit;
	}
	if (valid & bit)
		*t = (struct timespec){ (time_t)sec, (long)nsec };
	else
		return 0;
	return ceph_bit;
}

/* FUSE's SETATTR fields and flags as Ceph's mask over a statx. */
static int setattr_mask(const struct fuse_setattr_in *in, struct ceph_statx *stx)
{
	struct timespec now = { 0, 0 };
	int mask = 0;

	memset(stx, 0, sizeof(*stx));
	if (in->valid & FATTR_MODE) {
		stx->stx_mode = (uint16_t)in->mode;
		mask |= CEPH_SETATTR_MODE;
	}
	if (in->valid & FATTR_UID) {
		stx->stx_uid = in->uid;
		mask |= CEPH_SETATTR_UID;
	}
	if (in->valid & FATTR_GID) {
		stx->stx_gid = in->gid;
		mask |= CEPH_SETATTR_GID;
	}
	if (in->valid & FATTR_SIZE) {
		stx->stx_size = in->size;
		mask |= CEPH_SETATTR_SIZE;
	}
	/* "Now" is read here: libcephfs 16 takes the statx value whenever
	 * the time bit is set, its _NOW bits notwithstanding. */
	if (in->valid & (FATTR_ATIME_NOW | FATTR_MTIME_NOW))
		clock_gettime(CLOCK_REALTIME, &now);
	mask |= set_time(&stx->stx_atime, in->valid, FATTR_ATIME, FATTR_ATIME_NOW, in->atime,
			 in->atimensec, &now, CEPH_SETATTR_ATIME, CEPH_SETATTR_ATIME_NOW);
	mask |= set_time(&stx->stx_mtime, in->valid, FATTR_MTIME, FATTR_MTIME_NOW, in->mtime,
			 in->mtimensec, &now, CEPH_SETATTR_MTIME, CEPH_SETATTR_MTIME_NOW);
	if (in->valid & FATTR_CTIME) {
		stx->stx_ctime.tv_sec = (time_t)in->ctime;
		stx->stx_ctime.tv_nsec = in->ctimensec;
		mask |= CEPH_SETATTR_CTIME;
	}
	if (in->valid & FATTR_KILL_SUIDGID)
		mask |= CEPH_SETATTR_KILL_SGUID;
	return mask;
}

int cf_setattr(const struct sgf_req *r, uint64_t ino, const struct fuse_setattr_in *in,
	       struct fuse_attr_out *out)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	struct ceph_statx stx;
	int mask, err = 0;

	if (!n)
		return -ESTALE;
	if (in->valid & FATTR_FH) {
		struct cf_handle *h = cf_handle_get(s, in->fh, ino, false);

		if (!h)
			err = -EBADF;
		else
			cf_handle_put(s, h);
	}
	mask = setattr_mask(in, &stx);
	if (!err && mask)
		err = ceph_ll_setattr(s->c->cmount, n->in, &stx, mask, CF_PERM(r));
	if (!err)
		err = attr_reply(r, n, out);
	cf_node_put(s, n);
	return err;
}
