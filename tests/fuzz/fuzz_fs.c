/* tests/fuzz/fuzz_fs.c - the dispatch harness's fake filesystem. What an
 * operation does is chosen by bits 1..3 of the request's unique, which the
 * fuzzer controls: 0-2 answer now, 3 fails, 4 keeps and answers before
 * returning, 5 keeps until the next message, 6 keeps until the end (or an
 * INTERRUPT), 7 returns a result no filesystem should (when allowed): the
 * library must turn every one of them into one well-formed reply. */
#include <errno.h>
#include <string.h>
#include "fuzz_fs.h"

static unsigned mode_of(const struct sgf_req *r)
{
	return (unsigned)(r->unique >> 1) & 7u;
}

/* The result to return for an operation that would return result. */
static long settle(const struct sgf_req *r, long result)
{
	struct fuzz_fs *fs = r->fs;
	unsigned mode = mode_of(r);

	if (mode == 3)
		return -ENOENT;
	if (mode == 7 && fs->nonsense) {
		switch ((r->unique >> 4) & 3u) {
		case 0: return -5000;           /* no errno */
		case 1: return result + 4097;   /* more than asked or allowed */
		case 2: return SGF_DEFER;       /* deferred without a keep */
		default: return 1L << 40;
		}
	}
	if (mode < 4 || mode > 6 || fs->nkept >= fs->max_kept)
		return result;
	struct sgf_req *h = sgf_req_keep(r);
	if (h == NULL)
		return result;
	if (mode == 4) {
		sgf_reply(h, result); /* answered before the operation returns */
		return SGF_DEFER;
	}
	fs->kept[fs->nkept++] = (struct fuzz_kept){ h, result, mode == 6 };
	return SGF_DEFER;
}

void fuzz_fs_answer_kept(struct fuzz_fs *fs, bool everything)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fs->nkept; i++) {
		if (fs->kept[i].until_end && !everything)
			fs->kept[n++] = fs->kept[i];
		else
			sgf_reply(fs->kept[i].h, fs->kept[i].result);
	}
	fs->nkept = n;
}

void fuzz_fs_drop_kept(struct fuzz_fs *fs)
{
	fs->nkept = 0;
}

static void fill_attr(struct fuse_attr *a, uint64_t ino)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->mode = ino == 1 ? 040755 : 0100644;
	a->nlink = 1;
	a->size = 8192;
	a->blksize = 4096;
}

static void fill_entry(struct fuse_entry_out *e, uint64_t ino)
{
	e->nodeid = ino;
	e->generation = 1;
	e->entry_valid = 1;
	e->attr_valid = 1;
	fill_attr(&e->attr, ino);
}

static int fz_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
		     struct fuse_entry_out *out)
{
	(void)parent;
	fill_entry(out, 2 + strlen(name));
	return (int)settle(r, 0);
}

static void fz_forget(const struct sgf_req *r, uint64_t ino, uint64_t nlookup)
{
	(void)r; (void)ino; (void)nlookup;
	/* FORGET cannot be kept: the library must say so. */
	if (sgf_req_keep(r) != NULL)
		__builtin_trap();
}

static int fz_getattr(const struct sgf_req *r, uint64_t ino,
		      const struct fuse_getattr_in *in, struct fuse_attr_out *out)
{
	(void)in;
	fill_attr(&out->attr, ino);
	return (int)settle(r, 0);
}

static int fz_setattr(const struct sgf_req *r, uint64_t ino,
		      const struct fuse_setattr_in *in, struct fuse_attr_out *out)
{
	fill_attr(&out->attr, ino);
	if (in->valid & FATTR_SIZE)
		out->attr.size = in->size;
	return (int)settle(r, 0);
}

static ssize_t fz_readlink(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
{
	(void)ino;
	if (size < 6)
		return -ENAMETOOLONG;
	memcpy(buf, "target", 6);
	return settle(r, 6);
}

static int fz_symlink(const struct sgf_req *r, uint64_t parent, const char *name,
		      const char *target, struct fuse_entry_out *out)
{
	(void)parent; (void)name;
	fill_entry(out, 100 + strlen(target));
	return (int)settle(r, 0);
}

static int fz_mknod(const struct sgf_req *r, uint64_t parent, const char *name,
		    const struct fuse_mknod_in *in, struct fuse_entry_out *out)
{
	(void)parent; (void)name;
	fill_entry(out, 200);
	out->attr.mode = in->mode;
	return (int)settle(r, 0);
}

static int fz_mkdir(const struct sgf_req *r, uint64_t parent, const char *name,
		    const struct fuse_mkdir_in *in, struct fuse_entry_out *out)
{
	(void)parent; (void)name;
	fill_entry(out, 300);
	out->attr.mode = 040000 | (in->mode & 07777);
	return (int)settle(r, 0);
}

static int fz_name_op(const struct sgf_req *r, uint64_t parent, const char *name)
{
	(void)parent;
	return (int)settle(r, strcmp(name, "busy") == 0 ? -EBUSY : 0);
}

static int fz_rename(const struct sgf_req *r, uint64_t parent, const char *name,
		     uint64_t newparent, const char *newname, uint32_t flags)
{
	(void)parent; (void)name; (void)newparent; (void)newname;
	return (int)settle(r, flags & ~3u ? -EINVAL : 0);
}

static int fz_link(const struct sgf_req *r, uint64_t ino, uint64_t newparent,
		   const char *newname, struct fuse_entry_out *out)
{
	(void)newparent; (void)newname;
	fill_entry(out, ino);
	return (int)settle(r, 0);
}

static int fz_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
		   struct fuse_open_out *out)
{
	(void)in;
	out->fh = ino;
	out->open_flags = FOPEN_DIRECT_IO;
	return (int)settle(r, 0);
}

static int fz_create(const struct sgf_req *r, uint64_t parent, const char *name,
		     const struct fuse_create_in *in, struct fuse_entry_out *entry,
		     struct fuse_open_out *open)
{
	(void)parent; (void)name;
	fill_entry(entry, 400);
	entry->attr.mode = 0100000 | (in->mode & 07777);
	open->fh = 400;
	return (int)settle(r, 0);
}

/* READ: a pattern, at most 1000 bytes; mode 4 answers from our own
 * buffer through sgf_reply_iov instead. */
static ssize_t fz_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		       const struct iovec *iov, int iovcnt)
{
	static char own[1000];
	size_t want = in->size < sizeof(own) ? in->size : sizeof(own), done = 0;
	struct fuzz_fs *fs = r->fs;

	(void)ino;
	if (mode_of(r) == 4 && fs->nkept < fs->max_kept) {
		struct sgf_req *h = sgf_req_keep(r);
		if (h) {
			struct iovec v[2] = { { own, want / 2 }, { own + want / 2, want - want / 2 } };
			memset(own, 'r', sizeof(own));
			sgf_reply_iov(h, v, 2);
			return SGF_DEFER;
		}
	}
	for (int i = 0; i < iovcnt && done < want; i++) {
		size_t k = iov[i].iov_len < want - done ? iov[i].iov_len : want - done;
		memset(iov[i].iov_base, (int)(in->offset & 0xff), k);
		done += k;
	}
	return settle(r, (long)done);
}

static ssize_t fz_write(const struct sgf_req *r, uint64_t ino, const struct fuse_write_in *in,
			const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	(void)ino;
	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return settle(r, n == in->size ? (long)n : -EIO);
}

static int fz_fh_op(const struct sgf_req *r, uint64_t ino, const void *in)
{
	(void)ino; (void)in;
	return (int)settle(r, 0);
}

static int fz_flush(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in)
{
	return fz_fh_op(r, ino, in);
}

static int fz_release(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in)
{
	return fz_fh_op(r, ino, in);
}

static int fz_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in)
{
	return fz_fh_op(r, ino, in);
}

static int fz_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		      bool plus, struct sgf_dirbuf *db)
{
	static const char *names[] = { ".", "..", "a", "longer-name" };

	for (uint64_t i = in->offset; i < 4; i++) {
		struct fuse_entry_out e;
		memset(&e, 0, sizeof(e));
		fill_entry(&e, i == 0 ? ino : i + 10);
		if (i < 2)
			e.nodeid = 0; /* no lookup reference for . and .. */
		int err = plus ? sgf_dirbuf_add_plus(db, names[i], strlen(names[i]), &e, i + 1)
			       : sgf_dirbuf_add(db, names[i], strlen(names[i]), i + 10,
						i < 2 ? 4 : 8, i + 1);
		if (err)
			break;
	}
	return (int)settle(r, 0);
}

static int fz_statfs(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out)
{
	(void)ino;
	out->st.blocks = 1000;
	out->st.bfree = 500;
	out->st.bsize = 4096;
	out->st.namelen = 255;
	return (int)settle(r, 0);
}

static int fz_setxattr(const struct sgf_req *r, uint64_t ino, const char *name,
		       const void *value, size_t size, uint32_t flags)
{
	(void)ino; (void)name; (void)value; (void)size; (void)flags;
	return (int)settle(r, 0);
}

/* size 0 asks for the length; a buffer too small is -ERANGE. */
static ssize_t xattr_answer(const struct sgf_req *r, void *buf, size_t size,
			    const char *val, size_t len)
{
	if (size == 0)
		return settle(r, (long)len);
	if (size < len)
		return -ERANGE;
	memcpy(buf, val, len);
	return settle(r, (long)len);
}

static ssize_t fz_getxattr(const struct sgf_req *r, uint64_t ino, const char *name,
			   void *buf, size_t size)
{
	(void)ino; (void)name;
	return xattr_answer(r, buf, size, "value", 5);
}

static ssize_t fz_listxattr(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
{
	(void)ino;
	return xattr_answer(r, buf, size, "user.a\0user.b", 14);
}

static int fz_removexattr(const struct sgf_req *r, uint64_t ino, const char *name)
{
	return fz_name_op(r, ino, name);
}

static int fz_access(const struct sgf_req *r, uint64_t ino, uint32_t mask)
{
	(void)ino;
	return (int)settle(r, mask & ~7u ? -EINVAL : 0);
}

static int fz_fallocate(const struct sgf_req *r, uint64_t ino, const struct fuse_fallocate_in *in)
{
	return fz_fh_op(r, ino, in);
}

static int fz_lseek(const struct sgf_req *r, uint64_t ino, const struct fuse_lseek_in *in,
		    struct fuse_lseek_out *out)
{
	(void)ino;
	out->offset = in->offset;
	return (int)settle(r, 0);
}

/* A kept request the requester gave up on is answered -EINTR here. */
static void fz_interrupt(const struct sgf_req *r)
{
	struct fuzz_fs *fs = r->fs;

	for (unsigned i = 0; i < fs->nkept; i++) {
		if (fs->kept[i].h == r) {
			sgf_reply(fs->kept[i].h, -EINTR);
			fs->kept[i] = fs->kept[--fs->nkept];
			return;
		}
	}
}

const struct sgf_ops fuzz_fs_ops = {
	.lookup = fz_lookup,
	.forget = fz_forget,
	.getattr = fz_getattr,
	.setattr = fz_setattr,
	.readlink = fz_readlink,
	.symlink = fz_symlink,
	.mknod = fz_mknod,
	.mkdir = fz_mkdir,
	.unlink = fz_name_op,
	.rmdir = fz_name_op,
	.rename = fz_rename,
	.link = fz_link,
	.open = fz_open,
	.create = fz_create,
	.read = fz_read,
	.write = fz_write,
	.flush = fz_flush,
	.release = fz_release,
	.fsync = fz_fsync,
	.opendir = fz_open,
	.readdir = fz_readdir,
	.releasedir = fz_release,
	.fsyncdir = fz_fsync,
	.statfs = fz_statfs,
	.setxattr = fz_setxattr,
	.getxattr = fz_getxattr,
	.listxattr = fz_listxattr,
	.removexattr = fz_removexattr,
	.access = fz_access,
	.fallocate = fz_fallocate,
	.lseek = fz_lseek,
	.interrupt = fz_interrupt,
};
