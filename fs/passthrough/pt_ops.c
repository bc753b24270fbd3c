/* fs/passthrough/pt_ops.c - the operations table the server dispatches
 * through, and the session-level callbacks. */
#include "pt.h"

/* The negotiated limits suit us as they are. */
int pt_init(void *fs, struct sgf_conn_info *ci)
{
	(void)fs;
	(void)ci;
	return 0;
}

/* Nodes and handles outlive the session: sgf_passthrough_free() releases
 * them, once no worker can call in any more. */
void pt_destroy(void *fs)
{
	(void)fs;
}

static const struct sgf_ops pt_ops = {
	.init = pt_init,
	.destroy = pt_destroy,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.getattr = pt_getattr,
	.setattr = pt_setattr,
	.readlink = pt_readlink,
	.symlink = pt_symlink,
	.mknod = pt_mknod,
	.mkdir = pt_mkdir,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.rename = pt_rename,
	.link = pt_link,
	.open = pt_open,
	.create = pt_create,
	.read = pt_read,
	.write = pt_write,
	.flush = pt_flush,
	.release = pt_release,
	.fsync = pt_fsync,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.releasedir = pt_releasedir,
	.fsyncdir = pt_fsyncdir,
	.statfs = pt_statfs,
	.setxattr = pt_setxattr,
	.getxattr = pt_getxattr,
	.listxattr = pt_listxattr,
	.removexattr = pt_removexattr,
	.access = pt_access,
	.fallocate = pt_fallocate,
	.lseek = pt_lseek,
};

const struct sgf_ops *sgf_passthrough_ops(void)
{
	return &pt_ops;
}
