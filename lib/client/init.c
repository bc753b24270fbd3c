/* lib/client/init.c - INIT from the requester's side: propose protocol 7.38
 * with FUSE_INIT_EXT and FUSE_MAX_PAGES, then settle the limits the dio
 * engine packs against from the server's reply, as the kernel would. */
#include <errno.h>
#include <string.h>
#include "conn.h"

/* What we offer. No splice, no writeback cache, no readdirplus: this
 * requester has no page cache and reads directories the plain way. */
#define SGF_CLIENT_INIT_FLAGS (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_ATOMIC_O_TRUNC | \
			       FUSE_MAX_PAGES | FUSE_PARALLEL_DIROPS | FUSE_INIT_EXT)

int sgf_client_settle_init(const struct fuse_init_out *out, uint32_t want_max_pages,
			   uint32_t want_max_read, struct sgf_client_conn *conn)
{
	if (out->major != SGF_PROTO_MAJOR || out->minor < SGF_PROTO_MINOR_MIN)
		return -EPROTO;
	memset(conn, 0, sizeof(*conn));
	conn->proto_major = out->major;
	conn->proto_minor = out->minor;
	conn->flags = out->flags;
	if (out->flags & FUSE_INIT_EXT)
		conn->flags |= (uint64_t)out->flags2 << 32;
	conn->max_readahead = out->max_readahead;
	/* The kernel never goes below one page per WRITE either. */
	conn->max_write = out->max_write < SGF_PAGE_SIZE ? SGF_PAGE_SIZE : out->max_write;

	uint32_t pages = SGF_CLIENT_LEGACY_MAX_PAGES;
	if (conn->flags & FUSE_MAX_PAGES)
		pages = out->max_pages == 0 ? 1 : out->max_pages;
	if (want_max_pages == 0)
		want_max_pages = SGF_CLIENT_DEFAULT_MAX_PAGES;
	if (pages > want_max_pages)
		pages = want_max_pages;
	conn->max_pages = pages;

	uint64_t read = (uint64_t)pages * SGF_PAGE_SIZE;
	if (want_max_read != 0 && want_max_read < read)
		read = want_max_read;
	conn->max_read = (uint32_t)(read > UINT32_MAX ? UINT32_MAX : read);
	return 0;
}

int sgf_client_init(struct sgf_client *c)
{
	struct fuse_init_in in;
	struct fuse_init_out out;
	struct iovec iov;
	struct sgf_call call = {
		.opcode = FUSE_INIT,
		.nodeid = 0,
		.arg = &in,
		.arg_size = sizeof(in),
	};
	uint64_t flags = SGF_CLIENT_INIT_FLAGS;

	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	in.major = SGF_PROTO_MAJOR;
	in.minor = SGF_PROTO_MINOR;
	in.max_readahead = c->want_max_pages * SGF_PAGE_SIZE;
	in.flags = (uint32_t)flags;
	in.flags2 = (uint32_t)(flags >> 32);
	sgf_expect_fixed(&call.ex, &iov, &out, sizeof(out));
	call.ex.min = FUSE_COMPAT_22_INIT_OUT_SIZE;

	ssize_t r = sgf_call_sync(c, &call);
	/* A reply we cannot read, or garbage before the peer went away: not a
	 * FUSE server speaking our framing. */
	if (r == -EIO || r == -ENOSYS ||
	    (r == -ENOTCONN && atomic_load(&c->stats.malformed) > 0))
		return -EPROTO;
	if (r < 0)
		return (int)r;
	r = sgf_client_settle_init(&out, c->want_max_pages, c->want_max_read, &c->conn);
	if (r == 0)
		atomic_store(&c->inited, true);
	return (int)r;
}
