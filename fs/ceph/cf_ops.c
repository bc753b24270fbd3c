/* fs/ceph/cf_ops.c - the operations table. Every op is given its session
 * (r->fs); ops that are not here answer ENOSYS. */
#include "cf.h"

static const struct sgf_ops ceph_ops = {
	.init = cf_init,
	.destroy = cf_destroy,
	.lookup = cf_lookup,
	.forget = cf_forget,
	.getattr = cf_getattr,
	.setattr = cf_setattr,
	.readlink = cf_readlink,
	.symlink = cf_symlink,
	.mknod = cf_mknod,
	.mkdir = cf_mkdir,
	.unlink = cf_unlink,
	.rmdir = cf_rmdir,
	.rename = cf_rename,
	.link = cf_link,
	.open = cf_open,
	.create = cf_create,
	.read = cf_read,
	.write = cf_write,
	.flush = cf_flush,
	.release = cf_release,
	.fsync = cf_fsync,
	.opendir = cf_opendir,
	.readdir = cf_readdir,
	.releasedir = cf_releasedir,
	.fsyncdir = cf_fsyncdir,
	.statfs = cf_statfs,
	.setxattr = cf_setxattr,
	.getxattr = cf_getxattr,
	.listxattr = cf_listxattr,
	.removexattr = cf_removexattr,
	.access = cf_access,
	.fallocate = cf_fallocate,
	.lseek = cf_lseek,
};

const struct sgf_ops *sgf_ceph_ops(void)
{
	return &ceph_ops;
}
