/* tests/mounted/fault_fs.c - a backing store that fails on purpose: the
 * server suite's in-memory filesystem (srv_helper) with two files whose
 * READ and WRITE fail at a chosen byte offset, short or EIO (fault_fs.h).
 * Every file is opened FOPEN_DIRECT_IO, so each read or write of a file on
 * this mount reaches us with the caller's offset and size (no page cache,
 * no readahead deciding where a fault lands).
 *
 *   fault_fs -f -o fault_at=BYTES,fault_size=BYTES MOUNTPOINT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "srv_helper.h"
#include "fault_fs.h"

struct fault {
	uint64_t at, size;
	uint64_t ino_short, ino_eio;
};

static struct fault *fault_of(const struct sgf_req *r)
{
	return ((struct sh_fs *)r->fs)->user;
}

/* How much of [off, off + size) of ino may move: size when the range is
 * clear of the fault, fewer for a short fault, -EIO for a failing one. */
static int64_t allowed(const struct fault *f, uint64_t ino, uint64_t off, uint32_t size)
{
	if ((ino != f->ino_short && ino != f->ino_eio) || off + size <= f->at)
		return size;
	if (off >= f->at || ino == f->ino_eio)
		return -EIO;
	return (int64_t)(f->at - off);
}

static ssize_t fault_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			  const struct iovec *iov, int iovcnt)
{
	struct fuse_read_in part = *in;
	int64_t n = allowed(fault_of(r), ino, in->offset, in->size);

	if (n < 0)
		return n;
	part.size = (uint32_t)n;
	return sh_read(r, ino, &part, iov, iovcnt);
}

static ssize_t fault_write(const struct sgf_req *r, uint64_t ino, const struct fuse_write_in *in,
			   const struct iovec *iov, int iovcnt)
{
	struct fuse_write_in part = *in;
	int64_t n = allowed(fault_of(r), ino, in->offset, in->size);

	if (n < 0)
		return n;
	part.size = (uint32_t)n;
	return sh_write(r, ino, &part, iov, iovcnt);
}

static int parse_u64(const char *value, uint64_t *out, char *err, size_t errlen)
{
	char *end;

	errno = 0;
	*out = value ? strtoull(value, &end, 0) : 0;
	if (!value || errno || *end || end == value) {
		snprintf(err, errlen, "want a number, got %s", value ? value : "nothing");
		return -EINVAL;
	}
	return 0;
}

static int fault_opt(void *fsp, const char *key, const char *value, char *err, size_t errlen)
{
	struct fault *f = ((struct sh_fs *)fsp)->user;

	if (strcmp(key, "fault_at") == 0)
		return parse_u64(value, &f->at, err, errlen);
	if (strcmp(key, "fault_size") == 0)
		return parse_u64(value, &f->size, err, errlen);
	return -ENOENT;
}

/* The command line is known: make the two faulty files. */
static int fault_check(void *fsp, char *err, size_t errlen)
{
	struct sh_fs *fs = fsp;
	struct fault *f = fs->user;
	uint8_t *data;

	if (f->size == 0 || f->size > (64u << 20)) {
		snprintf(err, errlen, "fault_size must be 1 byte to 64 MiB");
		return -EINVAL;
	}
	data = malloc(f->size);
	if (data == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < f->size; i++)
		data[i] = fault_byte(i);
	f->ino_short = sh_fs_add(fs, 1, FAULT_SHORT, S_IFREG | 0644, data, f->size);
	f->ino_eio = sh_fs_add(fs, 1, FAULT_EIO, S_IFREG | 0644, data, f->size);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct sgf_main_ext ext = {
		.name = "fault_fs",
		.help = "    -o fault_at=BYTES     where READ and WRITE of the faulty files fail\n"
			"    -o fault_size=BYTES   the faulty files' size at start\n",
		.opt = fault_opt,
		.check = fault_check,
	};
	struct fault f = { .at = UINT64_MAX };
	struct sh_fs *fs = sh_fs_new();
	struct sgf_ops ops;
	int status;

	fs->user = &f;
	fs->open_flags = FOPEN_DIRECT_IO;
	sh_ops_fill(&ops);
	ops.read = fault_read;
	ops.write = fault_write;
	status = sgf_main_ext(argc, argv, &ops, sizeof(ops), fs, &ext);
	sh_fs_free(fs);
	return status;
}
