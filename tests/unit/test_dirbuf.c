/* tests/unit/test_dirbuf.c - readdir reply buffers: fuse_dirent and
 * fuse_direntplus layout, 8-byte aligned; a full buffer refuses an entry
 * unchanged, and sgf_dirbuf_fits agrees with sgf_dirbuf_add. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sgfuse/ops.h>
#include "check.h"

static void check_plain(void)
{
	char buf[256];
	memset(buf, 0xAA, sizeof(buf));
	struct sgf_dirbuf db = { .buf = buf, .size = sizeof(buf), .used = 0 };
	size_t expect = 0;
	int added = 0;
	for (int i = 0;; i++) {
		char name[32];
		size_t n = (size_t)snprintf(name, sizeof(name), "entry-%d", i * 7);
		bool fits = sgf_dirbuf_fits(&db, n, false);
		size_t before = db.used;
		int r = sgf_dirbuf_add(&db, name, n, 100 + (uint64_t)i, 8, (uint64_t)i + 1);
		CHECK_EQ(fits, r == 0);
		if (r != 0) {
			CHECK_EQ(r, -ENOSPC);
			CHECK_EQ(db.used, before);
			break;
		}
		/* Read the entry back in the kernel's layout. */
		struct fuse_dirent de;
		memcpy(&de, buf + before, sizeof(de));
		CHECK_EQ(de.ino, 100 + i);
		CHECK_EQ(de.off, i + 1);
		CHECK_EQ(de.namelen, n);
		CHECK_EQ(de.type, 8);
		CHECK(memcmp(buf + before + FUSE_NAME_OFFSET, name, n) == 0);
		expect += FUSE_DIRENT_SIZE(&de);
		CHECK_EQ(db.used, expect);
		CHECK_EQ(db.used % 8, 0);
		added++;
	}
	CHECK(added >= 5);
	CHECK(db.used <= db.size);
}

/* An exact fit is a fit. */
static void check_exact_fit(void)
{
	char buf[FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + 5)];
	struct sgf_dirbuf db = { .buf = buf, .size = sizeof(buf), .used = 0 };
	CHECK(sgf_dirbuf_fits(&db, 5, false));
	CHECK_EQ(sgf_dirbuf_add(&db, "abcde", 5, 1, 8, 1), 0);
	CHECK_EQ(db.used, sizeof(buf));
	CHECK(!sgf_dirbuf_fits(&db, 1, false));
	CHECK_EQ(sgf_dirbuf_add(&db, "x", 1, 2, 8, 2), -ENOSPC);
	/* A zero-size buffer takes nothing. */
	struct sgf_dirbuf empty = { .buf = buf, .size = 0, .used = 0 };
	CHECK(!sgf_dirbuf_fits(&empty, 1, false));
	CHECK_EQ(sgf_dirbuf_add(&empty, "x", 1, 2, 8, 2), -ENOSPC);
	CHECK_EQ(empty.used, 0);
}

static void check_plus(void)
{
	char buf[1024];
	struct sgf_dirbuf db = { .buf = buf, .size = sizeof(buf), .used = 0 };
	struct fuse_entry_out e;
	memset(&e, 0, sizeof(e));
	e.nodeid = 77;
	e.attr.ino = 1234;
	e.attr.mode = 0100644;
	size_t expect = 0;
	for (int i = 0;; i++) {
		bool fits = sgf_dirbuf_fits(&db, 4, true);
		size_t before = db.used;
		int r = sgf_dirbuf_add_plus(&db, "name", 4, &e, (uint64_t)i + 10);
		CHECK_EQ(fits, r == 0);
		if (r != 0) {
			CHECK_EQ(r, -ENOSPC);
			CHECK_EQ(db.used, before);
			break;
		}
		struct fuse_direntplus dp;
		memcpy(&dp, buf + before, sizeof(dp));
		CHECK_EQ(dp.entry_out.nodeid, 77);
		CHECK_EQ(dp.dirent.ino, 1234);
		CHECK_EQ(dp.dirent.off, i + 10);
		CHECK_EQ(dp.dirent.namelen, 4);
		CHECK_EQ(dp.dirent.type, 8); /* DT_REG from S_IFREG */
		CHECK(memcmp(buf + before + FUSE_NAME_OFFSET_DIRENTPLUS, "name", 4) == 0);
		expect += FUSE_DIRENTPLUS_SIZE(&dp);
		CHECK_EQ(db.used, expect);
	}
	CHECK_EQ(expect, 6 * FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 4));
}

int main(void)
{
	check_plain();
	check_exact_fit();
	check_plus();
	return check_exit();
}
