/* lib/server/fill.c - helpers that fill reply structs from what the C library
 * returns (struct stat, struct statvfs), so a filesystem's operations stay a
 * few lines each. */
#include <string.h>
#include <sgfuse/ops.h>

void sgf_fill_attr(struct fuse_attr *a, const struct stat *st)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->rdev = (uint32_t)st->st_rdev;
	a->blksize = (uint32_t)st->st_blksize;
}

void sgf_fill_kstatfs(struct fuse_kstatfs *k, const struct statvfs *sv)
{
	memset(k, 0, sizeof(*k));
	k->blocks = sv->f_blocks;
	k->bfree = sv->f_bfree;
	k->bavail = sv->f_bavail;
	k->files = sv->f_files;
	k->ffree = sv->f_ffree;
	k->bsize = (uint32_t)sv->f_bsize;
	k->namelen = (uint32_t)sv->f_namemax;
	k->frsize = (uint32_t)sv->f_frsize;
}
