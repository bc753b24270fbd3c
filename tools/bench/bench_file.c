/* tools/bench/bench_file.c - the file target: preadv/pwritev on a path with
 * O_DIRECT, through a FUSE mount (ours or a peer's) or straight on tmpfs. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>
#include "bench.h"

struct file_ctx {
	const char *path;
	int flags;
};

static int file_open(void *ctx, unsigned thread, void **handle)
{
	struct file_ctx *c = ctx;
	int fd = open(c->path, c->flags, 0644);

	(void)thread;
	if (fd < 0)
		return -errno;
	*handle = (void *)(intptr_t)fd;
	return 0;
}

static ssize_t file_pwritev(void *h, const struct iovec *iov, int n, uint64_t off)
{
	ssize_t r = pwritev((int)(intptr_t)h, iov, n, (off_t)off);
	return r < 0 ? -errno : r;
}

static ssize_t file_preadv(void *h, const struct iovec *iov, int n, uint64_t off)
{
	ssize_t r = preadv((int)(intptr_t)h, iov, n, (off_t)off);
	return r < 0 ? -errno : r;
}

static void file_close(void *h)
{
	close((int)(intptr_t)h);
}

static int64_t file_requests(void *ctx, uint32_t opcode)
{
	(void)ctx, (void)opcode;
	return -1; /* the kernel keeps no per-file request count */
}

static void file_destroy(void *ctx)
{
	free(ctx);
}

int bench_file_target(const struct bench_opts *o, struct bench_target *t)
{
	struct file_ctx *c = malloc(sizeof(*c));

	if (c == NULL)
		return -ENOMEM;
	c->path = o->path;
	c->flags = O_RDWR | O_CREAT | O_CLOEXEC | (o->direct ? O_DIRECT : 0);
	*t = (struct bench_target){ c, file_open, file_pwritev, file_preadv, file_close,
				    file_requests, file_destroy, NULL, NULL };
	return 0;
}
