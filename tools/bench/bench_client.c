/* tools/bench/bench_client.c - the client target: the same loop through the
 * sgfuse client library to a FUSE server on a Unix socket, with the packed
 * or the per-segment policy, request counts from the client's counters. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sgfuse/client.h>
#include "bench.h"

struct client_ctx {
	struct sgf_client *c;
	uint64_t nodeid;
	uint32_t flags;
};

struct client_handle {
	struct client_ctx *ctx;
	struct sgf_file f;
};

static int client_open(void *ctx, unsigned thread, void **handle)
{
	struct client_ctx *cc = ctx;
	struct client_handle *h = calloc(1, sizeof(*h));
	int err;

	(void)thread;
	if (h == NULL)
		return -ENOMEM;
	h->ctx = cc;
	err = sgf_open(cc->c, cc->nodeid, cc->flags, &h->f);
	if (err) {
		free(h);
		return err;
	}
	*handle = h;
	return 0;
}

static ssize_t client_pwritev(void *handle, const struct iovec *iov, int n, uint64_t off)
{
	struct client_handle *h = handle;
	return sgf_pwritev(h->ctx->c, &h->f, iov, n, off);
}

static ssize_t client_preadv(void *handle, const struct iovec *iov, int n, uint64_t off)
{
	struct client_handle *h = handle;
	return sgf_preadv(h->ctx->c, &h->f, iov, n, off);
}

static void client_close(void *handle)
{
	struct client_handle *h = handle;
	sgf_release(h->ctx->c, &h->f);
	free(h);
}

static int64_t client_requests(void *ctx, uint32_t opcode)
{
	struct client_ctx *cc = ctx;
	struct sgf_stats st;

	sgf_stats_snapshot(sgf_client_stats(cc->c), &st);
	return (int64_t)st.count[opcode];
}

static void client_destroy(void *ctx)
{
	struct client_ctx *cc = ctx;
	sgf_forget(cc->c, cc->nodeid, 1);
	sgf_client_disconnect(cc->c);
	free(cc);
}

/* Find the file by name in the root directory, creating it if needed. */
static int find_file(struct client_ctx *cc, const char *name)
{
	struct fuse_entry_out e;
	struct sgf_file f;
	int err = sgf_lookup(cc->c, FUSE_ROOT_ID, name, &e);

	if (err == -ENOENT) {
		err = sgf_create(cc->c, FUSE_ROOT_ID, name, O_RDWR, 0644, &e, &f);
		if (err == 0)
			sgf_release(cc->c, &f);
	}
	if (err == 0)
		cc->nodeid = e.nodeid;
	return err;
}

int bench_client_target(const struct bench_opts *o, struct bench_target *t)
{
	struct sgf_client_opts co = { .policy = strcmp(o->policy, "per-segment") == 0
						       ? SGF_DIO_PER_SEGMENT
						       : SGF_DIO_PACKED };
	struct client_ctx *cc = calloc(1, sizeof(*cc));
	int err;

	if (cc == NULL)
		return -ENOMEM;
	cc->flags = O_RDWR | (o->direct ? O_DIRECT : 0);
	err = sgf_client_connect(o->connect, &co, &cc->c);
	if (err == 0) {
		err = find_file(cc, o->file);
		if (err)
			sgf_client_disconnect(cc->c);
	}
	if (err) {
		free(cc);
		return err;
	}
	*t = (struct bench_target){ cc, client_open, client_pwritev, client_preadv, client_close,
				    client_requests, client_destroy };
	return 0;
}
