/* lib/server/dirbuf.c - packing directory entries into READDIR / READDIRPLUS
 * replies in the kernel's record layout (8-byte aligned records). */
#include <errno.h>
#include <string.h>
#include <sgfuse/ops.h>

static size_t entry_size(size_t namelen, bool plus)
{
	return plus ? FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + namelen)
		    : FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);
}

bool sgf_dirbuf_fits(const struct sgf_dirbuf *db, size_t namelen, bool plus)
{
	return db->used + entry_size(namelen, plus) <= db->size;
}

static void put_dirent(char *p, const char *name, size_t namelen, uint64_t ino,
		       uint32_t type, uint64_t off, size_t reclen)
{
	struct fuse_dirent d = { .ino = ino, .off = off, .namelen = (uint32_t)namelen,
				 .type = type };

	memcpy(p, &d, FUSE_NAME_OFFSET);
	memcpy(p + FUSE_NAME_OFFSET, name, namelen);
	/* Padding goes to the requester: zero it. */
	memset(p + FUSE_NAME_OFFSET + namelen, 0, reclen - FUSE_NAME_OFFSET - namelen);
}

int sgf_dirbuf_add(struct sgf_dirbuf *db, const char *name, size_t namelen, uint64_t ino,
		   uint32_t type, uint64_t off)
{
	size_t rec = entry_size(namelen, false);

	if (namelen == 0 || namelen > SGF_NAME_MAX)
		return -EINVAL;
	if (db->used + rec > db->size)
		return -ENOSPC;
	put_dirent(db->buf + db->used, name, namelen, ino, type, off, rec);
	db->used += rec;
	return 0;
}

int sgf_dirbuf_add_plus(struct sgf_dirbuf *db, const char *name, size_t namelen,
			const struct fuse_entry_out *entry, uint64_t off)
{
	size_t rec = entry_size(namelen, true);
	char *p = db->buf + db->used;

	if (namelen == 0 || namelen > SGF_NAME_MAX)
		return -EINVAL;
	if (db->used + rec > db->size)
		return -ENOSPC;
	memcpy(p, entry, sizeof(*entry));
	put_dirent(p + sizeof(*entry), name, namelen, entry->attr.ino,
		   (entry->attr.mode & 0170000) >> 12, off, rec - sizeof(*entry));
	db->used += rec;
	return 0;
}
