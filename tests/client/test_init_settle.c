/* tests/client/test_init_settle.c - the requester's reading of an INIT
 * reply: versions refused, FUSE_MAX_PAGES honoured or defaulted to the
 * kernel's 32, our own caps applied, max_write never below a page, flags2
 * only with FUSE_INIT_EXT. Table-driven, no server. */
#include "check.h"
#include "conn.h"

struct settle_case {
	const char *name;
	uint32_t major, minor, flags, flags2, max_write;
	uint16_t max_pages;
	uint32_t want_pages, want_read;
	int ret;
	uint32_t pages, write, read;
	uint64_t flags_out;
};

#define MP FUSE_MAX_PAGES
#define EXT FUSE_INIT_EXT

static const struct settle_case cases[] = {
	{ "libfuse-like 1 MiB", 7, 38, MP, 0, 1 << 20, 256, 0, 0, 0, 256, 1 << 20, 1 << 20, MP },
	{ "server offers more pages than we take", 7, 38, MP, 0, 1 << 20, 1024, 0, 0,
	  0, 256, 1 << 20, 1 << 20, MP },
	{ "we ask for fewer pages", 7, 38, MP, 0, 1 << 20, 256, 16, 0, 0, 16, 1 << 20, 65536, MP },
	{ "our max_read below the pages", 7, 38, MP, 0, 1 << 20, 256, 0, 10000,
	  0, 256, 1 << 20, 10000, MP },
	{ "our max_read above the pages", 7, 38, MP, 0, 1 << 20, 8, 0, 1 << 20,
	  0, 8, 1 << 20, 32768, MP },
	{ "no FUSE_MAX_PAGES: the kernel's 32", 7, 38, 0, 0, 1 << 20, 999, 0, 0,
	  0, 32, 1 << 20, 131072, 0 },
	{ "max_pages 0 counts as 1", 7, 38, MP, 0, 1 << 20, 0, 0, 0, 0, 1, 1 << 20, 4096, MP },
	{ "max_write below a page", 7, 38, MP, 0, 100, 1, 0, 0, 0, 1, 4096, 4096, MP },
	{ "flags2 with FUSE_INIT_EXT", 7, 38, MP | EXT, 3, 1 << 20, 256, 0, 0,
	  0, 256, 1 << 20, 1 << 20, MP | EXT | (3ULL << 32) },
	{ "flags2 ignored without FUSE_INIT_EXT", 7, 38, MP, 3, 1 << 20, 256, 0, 0,
	  0, 256, 1 << 20, 1 << 20, MP },
	{ "oldest minor", 7, 28, MP, 0, 1 << 20, 256, 0, 0, 0, 256, 1 << 20, 1 << 20, MP },
	{ "too old", 7, 27, MP, 0, 1 << 20, 256, 0, 0, -EPROTO, 0, 0, 0, 0 },
	{ "major 8", 8, 0, 0, 0, 0, 0, 0, 0, -EPROTO, 0, 0, 0, 0 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct settle_case *sc = &cases[i];
		struct fuse_init_out out = { .major = sc->major, .minor = sc->minor,
					     .flags = sc->flags, .flags2 = sc->flags2,
					     .max_write = sc->max_write,
					     .max_pages = sc->max_pages };
		struct sgf_client_conn conn;
		int r = sgf_client_settle_init(&out, sc->want_pages, sc->want_read, &conn);
		CHECK_EQ_CTX(r, sc->ret, sc->name);
		if (r != 0)
			continue;
		CHECK_EQ_CTX(conn.max_pages, sc->pages, sc->name);
		CHECK_EQ_CTX(conn.max_write, sc->write, sc->name);
		CHECK_EQ_CTX(conn.max_read, sc->read, sc->name);
		CHECK_EQ_CTX(conn.flags, sc->flags_out, sc->name);
		CHECK_EQ_CTX(conn.proto_minor, sc->minor, sc->name);
	}
	return check_exit();
}
