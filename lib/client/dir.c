/* lib/client/dir.c - reading directories: READDIR into a caller buffer, a
 * decoder that checks every fuse_dirent record against the buffer before
 * handing it out, and a walk over a whole directory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "conn.h"

/* The kernel's bound on a directory entry name in a READDIR reply. */
#define SGF_DIRENT_NAME_MAX 1024u
#define SGF_LIST_BUF_MAX (64u * 1024u)

ssize_t sgf_readdir(struct sgf_client *c, const struct sgf_file *d, uint64_t off,
		    void *buf, size_t size)
{
	struct fuse_read_in in;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct sgf_call call = { .opcode = FUSE_READDIR, .nodeid = d->nodeid, .arg = &in,
				 .arg_size = sizeof(in) };

	if (buf == NULL || size == 0 || size > c->conn.max_read)
		return -EINVAL;
	memset(&in, 0, sizeof(in));
	in.fh = d->fh;
	in.offset = off;
	in.size = (uint32_t)size;
	in.flags = d->flags;
	call.ex = (struct sgf_expect){ .kind = SGF_RES_LEN, .min = 0, .max = size,
				       .iov = &iov, .iovcnt = 1 };
	return sgf_call_sync(c, &call);
}

int sgf_dirent_next(const void *buf, size_t len, size_t *pos, struct sgf_dirent *out)
{
	const char *base = buf;
	struct fuse_dirent de;

	if (*pos >= len)
		return 0;
	if (len - *pos < FUSE_NAME_OFFSET)
		return -EIO;
	memcpy(&de, base + *pos, FUSE_NAME_OFFSET);
	if (de.namelen == 0 || de.namelen > SGF_DIRENT_NAME_MAX ||
	    de.namelen > len - *pos - FUSE_NAME_OFFSET)
		return -EIO;
	const char *name = base + *pos + FUSE_NAME_OFFSET;
	if (memchr(name, '/', de.namelen) || memchr(name, '\0', de.namelen))
		return -EIO;
	*out = (struct sgf_dirent){ .ino = de.ino, .off = de.off, .type = de.type,
				    .namelen = de.namelen, .name = name };
	size_t reclen = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + de.namelen);
	/* The last record may lack its alignment padding. */
	*pos = reclen < len - *pos ? *pos + reclen : len;
	return 1;
}

/* Deliver every entry of one READDIR buffer; updates *off to resume. */
static int deliver(const char *buf, size_t n, uint64_t *off,
		   int (*fn)(void *ctx, const struct sgf_dirent *e), void *ctx)
{
	struct sgf_dirent e;
	size_t pos = 0;
	int r;

	while ((r = sgf_dirent_next(buf, n, &pos, &e)) == 1) {
		int stop = fn(ctx, &e);
		if (stop != 0)
			return stop;
		*off = e.off;
	}
	return r;
}

int sgf_list_dir(struct sgf_client *c, uint64_t nodeid,
		 int (*fn)(void *ctx, const struct sgf_dirent *e), void *ctx)
{
	struct sgf_file d;
	size_t size = c->conn.max_read < SGF_LIST_BUF_MAX ? c->conn.max_read : SGF_LIST_BUF_MAX;
	char *buf = malloc(size);
	uint64_t off = 0;
	int r;

	if (!buf)
		return -ENOMEM;
	r = sgf_opendir(c, nodeid, &d);
	bool opened = r == 0;
	while (r == 0) {
		ssize_t n = sgf_readdir(c, &d, off, buf, size);
		if (n <= 0) {
			r = (int)n;
			break;
		}
		uint64_t before = off;
		r = deliver(buf, (size_t)n, &off, fn, ctx);
		/* A cookie that does not move would loop forever. */
		if (r == 0 && off == before)
			r = -EIO;
	}
	if (opened && r != -ENOTCONN)
		(void)sgf_releasedir(c, &d);
	free(buf);
	return r;
}
