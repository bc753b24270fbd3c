/* lib/common/proto.c - the per-opcode table and the request validator that both
 * ends of sgfuse run before any operation sees a message. */
#include <errno.h>
#include <string.h>
#include "wire.h"

#define ROW(op, nm, size, t) [op] = { .name = nm, .in_size = size, .tail = t }

static const struct sgf_opdesc optable[SGF_OPCODE_LIMIT] = {
	ROW(FUSE_LOOKUP, "LOOKUP", 0, SGF_TAIL_NAME),
	[FUSE_FORGET] = { "FORGET", sizeof(struct fuse_forget_in), SGF_TAIL_NONE, true },
	ROW(FUSE_GETATTR, "GETATTR", sizeof(struct fuse_getattr_in), SGF_TAIL_NONE),
	ROW(FUSE_SETATTR, "SETATTR", sizeof(struct fuse_setattr_in), SGF_TAIL_NONE),
	ROW(FUSE_READLINK, "READLINK", 0, SGF_TAIL_NONE),
	ROW(FUSE_SYMLINK, "SYMLINK", 0, SGF_TAIL_NAME2),
	ROW(FUSE_MKNOD, "MKNOD", sizeof(struct fuse_mknod_in), SGF_TAIL_NAME),
	ROW(FUSE_MKDIR, "MKDIR", sizeof(struct fuse_mkdir_in), SGF_TAIL_NAME),
	ROW(FUSE_UNLINK, "UNLINK", 0, SGF_TAIL_NAME),
	ROW(FUSE_RMDIR, "RMDIR", 0, SGF_TAIL_NAME),
	ROW(FUSE_RENAME, "RENAME", sizeof(struct fuse_rename_in), SGF_TAIL_NAME2),
	ROW(FUSE_LINK, "LINK", sizeof(struct fuse_link_in), SGF_TAIL_NAME),
	ROW(FUSE_OPEN, "OPEN", sizeof(struct fuse_open_in), SGF_TAIL_NONE),
	ROW(FUSE_READ, "READ", sizeof(struct fuse_read_in), SGF_TAIL_NONE),
	ROW(FUSE_WRITE, "WRITE", sizeof(struct fuse_write_in), SGF_TAIL_DATA),
	ROW(FUSE_STATFS, "STATFS", 0, SGF_TAIL_NONE),
	ROW(FUSE_RELEASE, "RELEASE", sizeof(struct fuse_release_in), SGF_TAIL_NONE),
	ROW(FUSE_FSYNC, "FSYNC", sizeof(struct fuse_fsync_in), SGF_TAIL_NONE),
	/* We never negotiate FUSE_SETXATTR_EXT, so the short form is the one. */
	ROW(FUSE_SETXATTR, "SETXATTR", FUSE_COMPAT_SETXATTR_IN_SIZE, SGF_TAIL_XATTR),
	ROW(FUSE_GETXATTR, "GETXATTR", sizeof(struct fuse_getxattr_in), SGF_TAIL_NAME),
	ROW(FUSE_LISTXATTR, "LISTXATTR", sizeof(struct fuse_getxattr_in), SGF_TAIL_NONE),
	ROW(FUSE_REMOVEXATTR, "REMOVEXATTR", 0, SGF_TAIL_NAME),
	ROW(FUSE_FLUSH, "FLUSH", sizeof(struct fuse_flush_in), SGF_TAIL_NONE),
	ROW(FUSE_INIT, "INIT", 0, SGF_TAIL_INIT),
	ROW(FUSE_OPENDIR, "OPENDIR", sizeof(struct fuse_open_in), SGF_TAIL_NONE),
	ROW(FUSE_READDIR, "READDIR", sizeof(struct fuse_read_in), SGF_TAIL_NONE),
	ROW(FUSE_RELEASEDIR, "RELEASEDIR", sizeof(struct fuse_release_in), SGF_TAIL_NONE),
	ROW(FUSE_FSYNCDIR, "FSYNCDIR", sizeof(struct fuse_fsync_in), SGF_TAIL_NONE),
	ROW(FUSE_GETLK, "GETLK", sizeof(struct fuse_lk_in), SGF_TAIL_NONE),
	ROW(FUSE_SETLK, "SETLK", sizeof(struct fuse_lk_in), SGF_TAIL_NONE),
	ROW(FUSE_SETLKW, "SETLKW", sizeof(struct fuse_lk_in), SGF_TAIL_NONE),
	ROW(FUSE_ACCESS, "ACCESS", sizeof(struct fuse_access_in), SGF_TAIL_NONE),
	ROW(FUSE_CREATE, "CREATE", sizeof(struct fuse_create_in), SGF_TAIL_NAME),
	[FUSE_INTERRUPT] = { "INTERRUPT", sizeof(struct fuse_interrupt_in), SGF_TAIL_NONE,
			     true },
	ROW(FUSE_BMAP, "BMAP", sizeof(struct fuse_bmap_in), SGF_TAIL_NONE),
	ROW(FUSE_DESTROY, "DESTROY", 0, SGF_TAIL_NONE),
	ROW(FUSE_IOCTL, "IOCTL", sizeof(struct fuse_ioctl_in), SGF_TAIL_ANY),
	ROW(FUSE_POLL, "POLL", sizeof(struct fuse_poll_in), SGF_TAIL_NONE),
	[FUSE_NOTIFY_REPLY] = { "NOTIFY_REPLY", sizeof(struct fuse_notify_retrieve_in),
				SGF_TAIL_ANY, true },
	[FUSE_BATCH_FORGET] = { "BATCH_FORGET", sizeof(struct fuse_batch_forget_in),
				SGF_TAIL_FORGETS, true },
	ROW(FUSE_FALLOCATE, "FALLOCATE", sizeof(struct fuse_fallocate_in), SGF_TAIL_NONE),
	ROW(FUSE_READDIRPLUS, "READDIRPLUS", sizeof(struct fuse_read_in), SGF_TAIL_NONE),
	ROW(FUSE_RENAME2, "RENAME2", sizeof(struct fuse_rename2_in), SGF_TAIL_NAME2),
	ROW(FUSE_LSEEK, "LSEEK", sizeof(struct fuse_lseek_in), SGF_TAIL_NONE),
	ROW(FUSE_COPY_FILE_RANGE, "COPY_FILE_RANGE", sizeof(struct fuse_copy_file_range_in),
	    SGF_TAIL_NONE),
	ROW(FUSE_SETUPMAPPING, "SETUPMAPPING", sizeof(struct fuse_setupmapping_in), SGF_TAIL_NONE),
	ROW(FUSE_REMOVEMAPPING, "REMOVEMAPPING", sizeof(struct fuse_removemapping_in),
	    SGF_TAIL_ANY),
	ROW(FUSE_SYNCFS, "SYNCFS", sizeof(struct fuse_syncfs_in), SGF_TAIL_NONE),
	/* Shaped like CREATE; the name is the kernel's placeholder ("/"). */
	ROW(FUSE_TMPFILE, "TMPFILE", sizeof(struct fuse_create_in), SGF_TAIL_NAME),
	ROW(SGF_OP_STATX, "STATX", sizeof(struct sgf_fuse_statx_in), SGF_TAIL_NONE),
	ROW(SGF_OP_COPY_FILE_RANGE_64, "COPY_FILE_RANGE_64",
	    sizeof(struct fuse_copy_file_range_in), SGF_TAIL_NONE),
};

const struct sgf_opdesc *sgf_opdesc(uint32_t opcode)
{
	if (opcode >= SGF_OPCODE_LIMIT || optable[opcode].name == NULL)
		return NULL;
	return &optable[opcode];
}

const char *sgf_opname(uint32_t opcode)
{
	const struct sgf_opdesc *d = sgf_opdesc(opcode);
	return d ? d->name : "UNKNOWN";
}

/* Take one NUL-terminated, non-empty name of at most max bytes from
 * [*p, end); advance *p past its NUL. */
static int take_name(const char **p, const char *end, size_t max, const char **name)
{
	size_t room = (size_t)(end - *p);
	const char *nul = memchr(*p, '\0', room);

	if (nul == NULL || nul == *p)
		return -EINVAL;
	if ((size_t)(nul - *p) > max)
		return -ENAMETOOLONG;
	*name = *p;
	*p = nul + 1;
	return 0;
}

static int parse_tail(const struct sgf_opdesc *d, const char *p, const char *end,
		      size_t ext_len, const struct sgf_limits *lim, struct sgf_parsed *out)
{
	size_t rest = (size_t)(end - p);
	int err;

	/* Only a WRITE payload may lie outside the message buffer, and then
	 * all of it. */
	if (ext_len && (d->tail != SGF_TAIL_DATA || rest != 0))
		return -EINVAL;
	switch (d->tail) {
	case SGF_TAIL_NONE:
		return rest == 0 ? 0 : -EINVAL;
	case SGF_TAIL_NAME:
		/* FUSE_GETXATTR names are xattr names: up to 255 too. */
		err = take_name(&p, end, SGF_NAME_MAX, &out->name);
		return err ? err : (p == end ? 0 : -EINVAL);
	case SGF_TAIL_NAME2: {
		/* SYMLINK's second string is a target path, longer allowed. */
		size_t max2 = out->hdr->opcode == FUSE_SYMLINK ? SGF_PATH_MAX : SGF_NAME_MAX;
		err = take_name(&p, end, SGF_NAME_MAX, &out->name);
		if (!err)
			err = take_name(&p, end, max2, &out->name2);
		return err ? err : (p == end ? 0 : -EINVAL);
	}
	case SGF_TAIL_DATA: {
		const struct fuse_write_in *w = out->arg;
		if (w->size != rest + ext_len || w->size > lim->max_write)
			return -EINVAL;
		out->data = rest ? p : NULL;
		out->data_len = rest + ext_len;
		return 0;
	}
	case SGF_TAIL_XATTR: {
		const struct fuse_setxattr_in *x = out->arg;
		err = take_name(&p, end, SGF_NAME_MAX, &out->name);
		if (err)
			return err;
		if ((size_t)(end - p) != x->size || x->size > 65536)
			return -EINVAL;
		out->data = p;
		out->data_len = x->size;
		return 0;
	}
	case SGF_TAIL_FORGETS: {
		const struct fuse_batch_forget_in *b = out->arg;
		if ((uint64_t)b->count * sizeof(struct fuse_forget_one) != rest)
			return -EINVAL;
		out->data = rest ? p : NULL;
		out->data_len = rest;
		return 0;
	}
	case SGF_TAIL_ANY:
		out->data = rest ? p : NULL;
		out->data_len = rest;
		return 0;
	case SGF_TAIL_INIT:
		break;
	}
	return -EINVAL;
}

int sgf_parse_request(const void *msg, size_t len, const struct sgf_limits *lim,
		      struct sgf_parsed *out)
{
	return sgf_parse_request_ext(msg, len, 0, lim, out);
}

int sgf_parse_request_ext(const void *msg, size_t len, size_t ext_len,
			  const struct sgf_limits *lim, struct sgf_parsed *out)
{
	const char *base = msg, *p, *end;
	const struct fuse_in_header *h = msg;
	const struct sgf_opdesc *d;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(*h))
		return -EPROTO;
	out->hdr = h;
	/* Known before anything else, so a broken FORGET is still not
	 * answered. */
	d = sgf_opdesc(h->opcode);
	out->desc = d;
	if (ext_len > UINT32_MAX || h->len != len + ext_len)
		return -EIO;
	if (d == NULL)
		return -ENOSYS;
	p = base + sizeof(*h);
	end = base + len;

	if (d->tail == SGF_TAIL_INIT) {
		/* major, minor, max_readahead, flags at least; flags2 and
		 * the reserved words only from 7.36 on. */
		size_t n = (size_t)(end - p);
		if (n < 16 || n > sizeof(struct fuse_init_in))
			return -EINVAL;
		out->arg = p;
		out->arg_len = n;
		return 0;
	}
	if ((size_t)(end - p) < d->in_size)
		return -EINVAL;
	out->arg = d->in_size ? p : NULL;
	out->arg_len = d->in_size;
	p += d->in_size;

	if (h->opcode == FUSE_READ || h->opcode == FUSE_READDIR ||
	    h->opcode == FUSE_READDIRPLUS) {
		const struct fuse_read_in *r = out->arg;
		if (r->size > lim->max_read)
			return -EINVAL;
	}
	if ((h->opcode == FUSE_GETXATTR || h->opcode == FUSE_LISTXATTR) &&
	    ((const struct fuse_getxattr_in *)out->arg)->size > 65536)
		return -EINVAL;
	return parse_tail(d, p, end, ext_len, lim, out);
}
