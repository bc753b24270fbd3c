/* fs/passthrough/pt_dir.c - OPENDIR, READDIR / READDIRPLUS, RELEASEDIR,
 * FSYNCDIR. The requester resumes a listing by the cookie (d_off) of the
 * last entry it got; READDIRPLUS hands out one lookup per real entry. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "pt.h"

int pt_opendir(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	       struct fuse_open_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	char path[PT_PROC_PATH_MAX];
	struct pt_inode *node;
	struct pt_handle *h;
	int err = 0, fd;

	(void)in;
	node = pt_get_dir(pt, ino, &err);
	if (!node)
		return err;
	/* Through the proc link rather than openat(fd, "."): "." would need
	 * search permission, and a readable directory may be listed without. */
	pt_proc_path(path, node->fd);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	h = pt_handle_new(pt, node, true);
	if (!h) {
		close(fd);
		err = -ENOMEM;
		goto out;
	}
	h->fd = fd;
	h->dir = fdopendir(fd);
	if (!h->dir) {
		err = -errno;
		pt_handle_put(pt, h);
		goto out;
	}
	out->fh = pt_handle_publish(pt, h);
out:
	pt_inode_put(pt, node);
	return err;
}

/* The inode number to show for de: the root's ".." is the root itself,
 * as its lookup says, not the directory above the backing one. */
static uint64_t shown_ino(const struct sgf_passthrough *pt, const struct pt_handle *h,
			  const struct dirent *de)
{
	if (h->inode == pt->root && strcmp(de->d_name, "..") == 0)
		return pt->root->ino;
	return de->d_ino;
}

/* Entry without a nodeid (so no lookup is taken), only what the listing
 * itself says: for "." and "..", and names that cannot be looked up. */
static void bare_entry(struct fuse_entry_out *e, uint64_t ino, const struct dirent *de)
{
	memset(e, 0, sizeof(*e));
	e->attr.ino = ino;
	e->attr.mode = DTTOIF(de->d_type);
}

/* Add de; 1 when the buffer is full (de not added), else 0 (added or
 * skipped). */
static int add_entry(struct sgf_passthrough *pt, struct pt_handle *h, const struct dirent *de,
		     bool plus, struct sgf_dirbuf *db)
{
	size_t len = strlen(de->d_name);
	bool dot = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	struct fuse_entry_out e;
	int ret;

	if (!plus) {
		ret = sgf_dirbuf_add(db, de->d_name, len, shown_ino(pt, h, de), de->d_type,
				     (uint64_t)de->d_off);
		return ret == -ENOSPC ? 1 : 0;
	}
	/* Check for room before taking a lookup the reply might not carry. */
	if (!sgf_dirbuf_fits(db, len, true))
		return 1;
	if (dot) {
		bare_entry(&e, shown_ino(pt, h, de), de);
	} else {
		memset(&e, 0, sizeof(e));
		ret = pt_lookup_name(pt, h->inode, de->d_name, &e);
		if (ret == -ENOENT)
			return 0; /* removed since the listing was read */
		/* Listed but not looked up (e.g. EACCES: a directory readable
		 * but not searchable): the name alone, as "." goes. */
		if (ret)
			bare_entry(&e, de->d_ino, de);
	}
	ret = sgf_dirbuf_add_plus(db, de->d_name, len, &e, (uint64_t)de->d_off);
	if (ret && e.nodeid)
		pt_inode_forget(pt, e.nodeid, 1);
	return ret == -ENOSPC ? 1 : 0;
}

static int fill(struct sgf_passthrough *pt, struct pt_handle *h, bool plus,
		struct sgf_dirbuf *db)
{
	for (;;) {
		struct dirent *de;

		errno = 0;
		de = readdir(h->dir);
		if (!de)
			return errno && !db->used ? -errno : 0;
		/* The stream has moved past de whether or not it is sent; a
		 * next call resuming before it will seek. */
		h->dir_pos = (uint64_t)de->d_off;
		if (add_entry(pt, h, de, plus, db))
			return db->used ? 0 : -EINVAL; /* not even one entry fits */
	}
}

int pt_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
	       bool plus, struct sgf_dirbuf *db)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_handle *h = pt_handle_get(pt, in->fh, ino, true);
	int err;

	if (!h)
		return -EBADF;
	/* READDIRPLUS looks names up under the node's O_PATH fd: keep it open
	 * (the handle holds the node, not its fd). */
	err = plus ? pt_inode_pin(pt, h->inode) : 0;
	if (err) {
		pt_handle_put(pt, h);
		return err;
	}
	pthread_mutex_lock(&h->dir_lock);
	if (in->offset != h->dir_pos) {
		seekdir(h->dir, (long)in->offset);
		h->dir_pos = in->offset;
	}
	err = fill(pt, h, plus, db);
	pthread_mutex_unlock(&h->dir_lock);
	if (plus)
		pt_inode_unpin(pt, h->inode);
	pt_handle_put(pt, h);
	return err;
}

int pt_releasedir(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in)
{
	return pt_handle_release(r->fs, in->fh, ino, true);
}

int pt_fsyncdir(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in)
{
	return pt_handle_fsync(r, ino, in, true);
}
