/* tools/bench/bench_client.c - the client target: the same loop through the
 * sgfuse client library to a FUSE server on a Unix socket or a virtio-fs
 * backend over vhost-user, with the packed or the per-segment policy,
 * request counts from the client's counters, and with --arena the loop's
 * buffers from sgf_client_buf_alloc (shared memory over vhost-user). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sgfuse/client.h>
#include "../connect_step.h"
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

static void *client_buf_alloc(void *ctx, size_t size)
{
	struct client_ctx *cc = ctx;
	return sgf_client_buf_alloc(cc->c, size);
}

static void client_buf_free(void *ctx, void *p)
{
	struct client_ctx *cc = ctx;
	sgf_client_buf_free(cc->c, p);
}

static void client_destroy(void *ctx)
{
	struct client_ctx *cc = ctx;
	sgf_forget(cc->c, cc->nodeid, 1);  /* never the root: find_file refuses directories */
	sgf_client_disconnect(cc->c);
	free(cc);
}

/* Find the file at path ("/a/b", "a/b": as sgfuse-client takes them),
 * creating it in its directory if missing. On failure *step names the
 * operation that failed and *what its path (in buf). */
static int find_file(struct client_ctx *cc, const char *path, const char **step,
		     char *what, size_t size)
{
	struct fuse_entry_out e;
	struct sgf_file f;
	const char *slash;
	uint64_t parent = FUSE_ROOT_ID;
	int err = sgf_lookup_path(cc->c, path, &e);

	*step = "lookup";
	snprintf(what, size, "%s", path);
	if (err == 0 && S_ISDIR(e.attr.mode)) {
		if (e.nodeid != FUSE_ROOT_ID)
			sgf_forget(cc->c, e.nodeid, 1);
		*step = "open";
		return -EISDIR;
	}
	if (err == -ENOENT) {
		/* The parent, then CREATE the last component in it. */
		slash = strrchr(path, '/');
		if (slash && slash[1] == '\0')
			return -ENOENT;  /* "dir/": no name to create */
		if (slash) {
			snprintf(what, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
			err = sgf_lookup_path(cc->c, what, &e);
			if (err == 0 && !S_ISDIR(e.attr.mode)) {
				sgf_forget(cc->c, e.nodeid, 1);
				err = -ENOTDIR;
			}
			if (err)
				return err;
			parent = e.nodeid;
		}
		*step = "create";
		snprintf(what, size, "%s", path);
		err = sgf_create(cc->c, parent, slash ? slash + 1 : path, O_RDWR, 0644, &e, &f);
		if (err == 0)
			sgf_release(cc->c, &f);
		if (parent != FUSE_ROOT_ID)
			sgf_forget(cc->c, parent, 1);
	}
	if (err == 0)
		cc->nodeid = e.nodeid;
	return err;
}

int bench_client_target(const struct bench_opts *o, struct bench_target *t, const char **step,
			char *what, size_t size)
{
	struct sgf_client_opts co = { .policy = strcmp(o->policy, "per-segment") == 0
						       ? SGF_DIO_PER_SEGMENT
						       : SGF_DIO_PACKED };
	struct client_ctx *cc = calloc(1, sizeof(*cc));
	int err;

	*step = "setup";
	snprintf(what, size, "%s", o->connect);
	if (cc == NULL)
		return -ENOMEM;
	cc->flags = O_RDWR | (o->direct ? O_DIRECT : 0);
	err = sgf_client_connect(o->connect, &co, &cc->c);
	if (err) {
		*step = connect_step(o->connect, err);
	} else {
		err = find_file(cc, o->file, step, what, size);
		if (err)
			sgf_client_disconnect(cc->c);
	}
	if (err) {
		free(cc);
		return err;
	}
	*t = (struct bench_target){ cc, client_open, client_pwritev, client_preadv, client_close,
				    client_requests, client_destroy,
				    o->arena ? client_buf_alloc : NULL,
				    o->arena ? client_buf_free : NULL };
	return 0;
}
