/* tests/mounted/test_whiteout.c - renameat2(RENAME_WHITEOUT) through the
 * mount (what overlayfs and container tools do): the file moves and a 0:0
 * character device is left at the old name, in the backing directory and
 * as seen through the mount; combined with RENAME_NOREPLACE it still
 * refuses an existing target, and the other flags keep their meaning. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "harness.h"

static bool is_whiteout(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		fprintf(stderr, "  %s: %s\n", path, strerror(errno));
		return false;
	}
	if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 0 || minor(st.st_rdev) != 0) {
		fprintf(stderr, "  %s: mode %o rdev %u:%u (want a 0:0 char device)\n", path,
			st.st_mode, major(st.st_rdev), minor(st.st_rdev));
		return false;
	}
	return true;
}

/* The d_type readdir on the mount reports for name, or -1. */
static int dir_type(const char *name)
{
	DIR *d = opendir(h_mnt());
	struct dirent *e;
	int type = -1;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, name) == 0)
			type = e->d_type;
	closedir(d);
	return type;
}

static void test_whiteout(void)
{
	struct h_pp a, b, c;

	h_pp(&a, "wa");
	h_pp(&b, "wb");
	REQUIRE(h_write_file(a.m, "A", 1) == 0);
	CHECK_OK(renameat2(AT_FDCWD, a.m, AT_FDCWD, b.m, RENAME_WHITEOUT));
	CHECK(h_content_is(b.b, "A"));
	CHECK(h_content_is(b.m, "A"));
	CHECK(is_whiteout(a.b));
	CHECK(is_whiteout(a.m));
	CHECK_EQ(dir_type("wa"), DT_CHR);

	/* Over an existing target: replaced, whiteout left behind. */
	h_pp(&c, "wc");
	REQUIRE(h_write_file(c.m, "C", 1) == 0);
	CHECK_OK(renameat2(AT_FDCWD, c.m, AT_FDCWD, b.m, RENAME_WHITEOUT));
	CHECK(h_content_is(b.m, "C"));
	CHECK(is_whiteout(c.b));
	CHECK(is_whiteout(c.m));

	/* With NOREPLACE: an existing target is refused, nothing changes. */
	REQUIRE(h_write_file(h_pp(&a, "wd")->m, "D", 1) == 0);
	CHECK_ERR(renameat2(AT_FDCWD, a.m, AT_FDCWD, b.m, RENAME_WHITEOUT | RENAME_NOREPLACE),
		  EEXIST);
	CHECK(h_content_is(a.b, "D"));
	CHECK(h_content_is(b.b, "C"));
	CHECK_OK(renameat2(AT_FDCWD, a.m, AT_FDCWD, h_pp(&c, "we")->m,
			   RENAME_WHITEOUT | RENAME_NOREPLACE));
	CHECK(h_content_is(c.b, "D"));
	CHECK(is_whiteout(a.b));

	/* EXCHANGE does not combine with WHITEOUT (the VFS says so). */
	CHECK_ERR(renameat2(AT_FDCWD, b.m, AT_FDCWD, c.m, RENAME_WHITEOUT | RENAME_EXCHANGE),
		  EINVAL);
	CHECK(h_content_is(b.b, "C"));
	CHECK(h_content_is(c.b, "D"));
	/* The other flags as before. */
	CHECK_OK(renameat2(AT_FDCWD, b.m, AT_FDCWD, c.m, RENAME_EXCHANGE));
	CHECK(h_content_is(b.b, "D"));
	CHECK(h_content_is(c.b, "C"));
	CHECK_ERR(renameat2(AT_FDCWD, b.m, AT_FDCWD, c.m, RENAME_NOREPLACE), EEXIST);
	/* A whiteout of a name that is not there. */
	CHECK_ERR(renameat2(AT_FDCWD, h_pp(&a, "no-such")->m, AT_FDCWD, h_pp(&c, "wf")->m,
			    RENAME_WHITEOUT),
		  ENOENT);

	/* A whiteout is removed like any name. */
	CHECK_OK(unlink(h_pp(&a, "wa")->m));
	CHECK_ERR(access(a.b, F_OK), ENOENT);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 60);
	h_start("");
	test_whiteout();
	CHECK_EQ(h_stop(), 0);
	return h_finish();
}
