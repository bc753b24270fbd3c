/* fs/passthrough/pt_ops.c - the operations table the server dispatches
 * through, and the session-level callbacks. */
#include "pt.h"

/* The negotiated limits suit us as they are; passthrough is used when it
 * was agreed (-o passthrough on a kernel that offers it). We clear suid
 * and sgid ourselves where the kernel flags it (pt_killpriv.c): asked for
 * wherever the kernel offers it. */
int pt_init(void *fs, struct sgf_conn_info *ci)
{
	struct sgf_passthrough *pt = fs;

	pt->passthrough = (ci->flags & FUSE_PASSTHROUGH) != 0;
	pt->killpriv = (ci->requester_flags & FUSE_HANDLE_KILLPRIV_V2) != 0;
	if (pt->killpriv)
		ci->flags |= FUSE_HANDLE_KILLPRIV_V2;
	return 0;
}

/* Nodes and handles outlive the session: sgf_passthrough_free() releases
 * them, once no worker can call in any more. */
void pt_destroy(void *fs)
{
	(void)fs;
}

/* Ops that check permissions or make objects run as the requester; ops on
 * an open handle or that need no permission (getattr by fd, readlink,
 * statfs) run as the daemon. */
#define AS_REQUESTER(type, r, call) \
	{ \
		struct pt_creds creds_; \
		type ret_ = (type)pt_creds_enter((r)->fs, (r), &creds_); \
		if (ret_ == 0) { \
			ret_ = (call); \
			pt_creds_leave((r)->fs, &creds_); \
		} \
		return ret_; \
	}

static int as_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
		     struct fuse_entry_out *out)
AS_REQUESTER(int, r, pt_lookup(r, parent, name, out))

static int as_setattr(const struct sgf_req *r, uint64_t ino, const struct fuse_setattr_in *in,
		      struct fuse_attr_out *out)
AS_REQUESTER(int, r, pt_setattr(r, ino, in, out))

static int as_symlink(const struct sgf_req *r, uint64_t parent, const char *name,
		      const char *target, struct fuse_entry_out *out)
AS_REQUESTER(int, r, pt_symlink(r, parent, name, target, out))

static int as_mknod(const struct sgf_req *r, uint64_t parent, const char *name,
		    const struct fuse_mknod_in *in, struct fuse_entry_out *out)
AS_REQUESTER(int, r, pt_mknod(r, parent, name, in, out))

static int as_mkdir(const struct sgf_req *r, uint64_t parent, const char *name,
		    const struct fuse_mkdir_in *in, struct fuse_entry_out *out)
AS_REQUESTER(int, r, pt_mkdir(r, parent, name, in, out))

static int as_unlink(const struct sgf_req *r, uint64_t parent, const char *name)
AS_REQUESTER(int, r, pt_unlink(r, parent, name))

static int as_rmdir(const struct sgf_req *r, uint64_t parent, const char *name)
AS_REQUESTER(int, r, pt_rmdir(r, parent, name))

static int as_rename(const struct sgf_req *r, uint64_t parent, const char *name,
		     uint64_t newparent, const char *newname, uint32_t flags)
AS_REQUESTER(int, r, pt_rename(r, parent, name, newparent, newname, flags))

static int as_link(const struct sgf_req *r, uint64_t ino, uint64_t newparent,
		   const char *newname, struct fuse_entry_out *out)
AS_REQUESTER(int, r, pt_link(r, ino, newparent, newname, out))

static int as_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
		   struct fuse_open_out *out)
AS_REQUESTER(int, r, pt_open(r, ino, in, out))

static int as_create(const struct sgf_req *r, uint64_t parent, const char *name,
		     const struct fuse_create_in *in, struct fuse_entry_out *entry,
		     struct fuse_open_out *open)
AS_REQUESTER(int, r, pt_create(r, parent, name, in, entry, open))

static int as_tmpfile(const struct sgf_req *r, uint64_t parent, const struct fuse_create_in *in,
		      struct fuse_entry_out *entry, struct fuse_open_out *open)
AS_REQUESTER(int, r, pt_tmpfile(r, parent, in, entry, open))

static int as_opendir(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
		      struct fuse_open_out *out)
AS_REQUESTER(int, r, pt_opendir(r, ino, in, out))

static int as_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		      bool plus, struct sgf_dirbuf *db)
AS_REQUESTER(int, r, pt_readdir(r, ino, in, plus, db))

static int as_setxattr(const struct sgf_req *r, uint64_t ino, const char *name,
		       const void *value, size_t size, uint32_t flags)
AS_REQUESTER(int, r, pt_setxattr(r, ino, name, value, size, flags))

static ssize_t as_getxattr(const struct sgf_req *r, uint64_t ino, const char *name,
			   void *buf, size_t size)
AS_REQUESTER(ssize_t, r, pt_getxattr(r, ino, name, buf, size))

static ssize_t as_listxattr(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
AS_REQUESTER(ssize_t, r, pt_listxattr(r, ino, buf, size))

static int as_removexattr(const struct sgf_req *r, uint64_t ino, const char *name)
AS_REQUESTER(int, r, pt_removexattr(r, ino, name))

static int as_access(const struct sgf_req *r, uint64_t ino, uint32_t mask)
AS_REQUESTER(int, r, pt_access(r, ino, mask))

static const struct sgf_ops pt_ops = {
	.init = pt_init,
	.destroy = pt_destroy,
	.lookup = as_lookup,
	.forget = pt_forget,
	.getattr = pt_getattr,
	.setattr = as_setattr,
	.readlink = pt_readlink,
	.symlink = as_symlink,
	.mknod = as_mknod,
	.mkdir = as_mkdir,
	.unlink = as_unlink,
	.rmdir = as_rmdir,
	.rename = as_rename,
	.link = as_link,
	.open = as_open,
	.create = as_create,
	.read = pt_read,
	.read_source = pt_read_source,
	.read_source_done = pt_read_source_done,
	.write = pt_write,
	.flush = pt_flush,
	.release = pt_release,
	.fsync = pt_fsync,
	.opendir = as_opendir,
	.readdir = as_readdir,
	.releasedir = pt_releasedir,
	.fsyncdir = pt_fsyncdir,
	.statfs = pt_statfs,
	.setxattr = as_setxattr,
	.getxattr = as_getxattr,
	.listxattr = as_listxattr,
	.removexattr = as_removexattr,
	.access = as_access,
	.fallocate = pt_fallocate,
	.lseek = pt_lseek,
	.tmpfile = as_tmpfile,
};

const struct sgf_ops *sgf_passthrough_ops(void)
{
	return &pt_ops;
}
