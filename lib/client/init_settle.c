/* lib/client/init_settle.c - what an INIT reply means for this requester:
 * the limits the dio engine packs against, settled the way the kernel
 * settles them (a pure function, tested without a server). */
#include <errno.h>
#include <string.h>
#include "conn.h"

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
