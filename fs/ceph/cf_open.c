/* fs/ceph/cf_open.c - OPEN, CREATE, FLUSH, RELEASE and the directory
 * handles: OPENDIR, READDIR / READDIRPLUS, RELEASEDIR. An O_DIRECT open is
 * opened O_DIRECT in Ceph too (no client cache: reads and writes go to the
 * OSDs) and answered FOPEN_DIRECT_IO, so the kernel's page cache stays out
 * as well. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include "cf.h"

/* What the requester's open flags become in Ceph (the kernel has dealt
 * with O_CREAT, O_EXCL, O_NOCTTY and, without atomic O_TRUNC, O_TRUNC). */
static int ceph_flags(uint32_t flags)
{
	return (int)(flags & (O_ACCMODE | O_APPEND | O_DIRECT | O_TRUNC | O_SYNC | O_DSYNC |
			      O_CREAT | O_EXCL | O_NOFOLLOW));
}

static void open_reply(struct fuse_open_out *out, uint64_t fh, uint32_t flags)
{
	out->fh = fh;
	out->open_flags = (flags & O_DIRECT) ? FOPEN_DIRECT_IO : 0;
}

int cf_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	    struct fuse_open_out *out)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	Fh *fh = NULL;
	uint64_t id;
	int err;

	if (!n)
		return -ESTALE;
	err = ceph_ll_open(s->c->cmount, n->in, ceph_flags(in->flags) & ~(O_CREAT | O_EXCL), &fh,
			   CF_PERM(r));
	if (!err) {
		id = cf_handle_publish(s, n, fh, NULL);
		if (id)
			open_reply(out, id, in->flags);
		else {
			ceph_ll_close(s->c->cmount, fh);
			err = -ENOMEM;
		}
	}
	cf_node_put(s, n);
	return err;
}

int cf_create(const struct sgf_req *r, uint64_t parent, const char *name,
	      const struct fuse_create_in *in, struct fuse_entry_out *entry,
	      struct fuse_open_out *open)
{
	struct cf_session *s = r->fs;
	struct ceph_mount_info *cm = s->c->cmount;
	struct ceph_statx stx;
	struct cf_node *p, *n;
	Inode *child = NULL;
	Fh *fh = NULL;
	uint64_t id = 0;
	int err = cf_check_name(name);

	if (err)
		return err;
	p = cf_node_get(s, parent);
	if (!p)
		return -ESTALE;
	err = ceph_ll_create(cm, p->in, name, in->mode, ceph_flags(in->flags) | O_CREAT, &child,
			     &fh, &stx, CF_WANT, 0, CF_PERM(r));
	cf_node_put(s, p);
	if (err)
		return err;
	err = cf_entry(s, r, child, &stx, entry);
	n = err ? NULL : cf_node_get(s, entry->nodeid);
	if (n) {
		id = cf_handle_publish(s, n, fh, NULL);
		cf_node_put(s, n);
	}
	if (!id) {
		/* The file exists now; only this open failed. */
		ceph_ll_close(cm, fh);
		if (!err)
			cf_node_forget(s, entry->nodeid, 1);
		return err ? err : -ENOMEM;
	}
	open_reply(open, id, in->flags);
	return 0;
}

int cf_flush(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in)
{
	(void)r, (void)ino, (void)in;
	/* Data written is in Ceph (or its client cache, which close and
	 * fsync write back); nothing is per file descriptor here. */
	return 0;
}

int cf_release(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in)
{
	return cf_handle_release(r->fs, in->fh, ino, false);
}

int cf_opendir(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	       struct fuse_open_out *out)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	struct ceph_dir_result *dir = NULL;
	int err;

	(void)in;
	if (!n)
		return -ESTALE;
	err = ceph_ll_opendir(s->c->cmount, n->in, &dir, CF_PERM(r));
	if (!err) {
		out->fh = cf_handle_publish(s, n, NULL, dir);
		if (!out->fh) {
			ceph_ll_releasedir(s->c->cmount, dir);
			err = -ENOMEM;
		}
	}
	cf_node_put(s, n);
	return err;
}

static bool is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/* One more entry of h's listing into db: 1 when full or at the end (the
 * entry, if any, left for the next call), 0 when added or skipped, -errno. */
static int add_next(struct cf_session *s, const struct sgf_req *r, struct cf_handle *h,
		    bool plus, struct sgf_dirbuf *db)
{
	struct ceph_mount_info *cm = s->c->cmount;
	int64_t pos = ceph_telldir(cm, h->dir);
	struct fuse_entry_out e;
	struct ceph_statx stx;
	struct dirent de;
	Inode *in = NULL;
	size_t len;
	int ret;

	ret = plus ? ceph_readdirplus_r(cm, h->dir, &de, &stx, CF_WANT, AT_SYMLINK_NOFOLLOW, &in)
		   : ceph_readdir_r(cm, h->dir, &de);
	if (ret <= 0)
		return ret < 0 ? ret : 1;
	len = strlen(de.d_name);
	if (!plus) {
		ret = sgf_dirbuf_add(db, de.d_name, len, de.d_ino, de.d_type, (uint64_t)de.d_off);
		if (ret == -ENOSPC) {
			ceph_seekdir(cm, h->dir, pos);
			return 1;
		}
		return 0;
	}
	if (!sgf_dirbuf_fits(db, len, true)) {
		if (in)
			ceph_ll_put(cm, in);
		ceph_seekdir(cm, h->dir, pos);
		return 1;
	}
	memset(&e, 0, sizeof(e));
	if (is_dot(de.d_name) || !in) {
		/* No lookup for "." and "..": at a root= mount's top ".." is
		 * outside what we serve. */
		if (in)
			ceph_ll_put(cm, in);
		e.attr.ino = de.d_ino;
		e.attr.mode = DTTOIF(de.d_type);
	} else if (cf_entry(s, r, in, &stx, &e) != 0) {
		memset(&e, 0, sizeof(e));
		e.attr.ino = de.d_ino;
		e.attr.mode = DTTOIF(de.d_type);
	}
	ret = sgf_dirbuf_add_plus(db, de.d_name, len, &e, (uint64_t)de.d_off);
	if (ret && e.nodeid)
		cf_node_forget(s, e.nodeid, 1);
	return 0;
}

int cf_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in, bool plus,
	       struct sgf_dirbuf *db)
{
	struct cf_session *s = r->fs;
	struct cf_handle *h = cf_handle_get(s, in->fh, ino, true);
	int ret = 0;

	if (!h)
		return -EBADF;
	if (in->offset > INT64_MAX) {
		cf_handle_put(s, h);
		return -EINVAL;
	}
	pthread_mutex_lock(&h->dir_lock);
	if ((int64_t)in->offset != ceph_telldir(s->c->cmount, h->dir))
		ceph_seekdir(s->c->cmount, h->dir, (int64_t)in->offset);
	while (ret == 0)
		ret = add_next(s, r, h, plus, db);
	pthread_mutex_unlock(&h->dir_lock);
	cf_handle_put(s, h);
	if (ret < 0)
		return db->used ? 0 : ret;
	return 0;
}

int cf_releasedir(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in)
{
	return cf_handle_release(r->fs, in->fh, ino, true);
}

int cf_fsyncdir(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in)
{
	struct cf_session *s = r->fs;
	struct cf_node *n = cf_node_get(s, ino);
	int err;

	if (!n)
		return -ESTALE;
	err = ceph_ll_sync_inode(s->c->cmount, n->in, (int)(in->fsync_flags & 1));
	cf_node_put(s, n);
	return err;
}
