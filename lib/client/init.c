/* lib/client/init.c - INIT from the requester's side: propose protocol 7.38
 * with FUSE_INIT_EXT and FUSE_MAX_PAGES, tell a peer that is no FUSE server
 * apart (EPROTO), and hand the reply to init_settle.c. */
#include <errno.h>
#include <string.h>
#include "conn.h"

/* What we offer. No splice, no writeback cache, no readdirplus: this
 * requester has no page cache and reads directories the plain way. */
#define SGF_CLIENT_INIT_FLAGS (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_ATOMIC_O_TRUNC | \
			       FUSE_MAX_PAGES | FUSE_PARALLEL_DIROPS | FUSE_INIT_EXT)

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

	ssize_t r = sgf_call_sync_timeout(c, &call, c->init_timeout_ms);
	/* A reply we cannot read, or garbage before the peer went away: not a
	 * FUSE server speaking our framing. */
	if (r == -EIO || r == -ENOSYS ||
	    (r == -ENOTCONN && sgf_stat_load(&c->stats.malformed) > 0))
		return -EPROTO;
	if (r < 0)
		return (int)r;
	r = sgf_client_settle_init(&out, c->want_max_pages, c->want_max_read, &c->conn);
	if (r == 0)
		atomic_store(&c->inited, true);
	return (int)r;
}
