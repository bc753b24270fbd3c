/* tests/ceph/test_ceph_root.c - root=/DIR serves one directory of the file
 * system and nothing above it: names outside are not found, what is made
 * lands inside, nothing moves out, and a root that does not exist fails
 * the start (exit 1, nothing mounted). The harness's ceph-fuse view shows
 * the whole file system to check against. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	REQUIRE(close(fd) == 0);
}

static void view(char *buf, const char *name)
{
	h_join(buf, 4096, h_backing(), name);
}

static void mnt(char *buf, const char *name)
{
	h_join(buf, 4096, h_mnt(), name);
}

int main(int argc, char **argv)
{
	char p[4096], q[4096], buf[256];
	struct stat st;

	h_init(argc, argv, 110);
	if (!h_ceph()) {
		printf("SKIP: needs the harness's Ceph mode ($SGF_TEST_CEPH)\n");
		return H_EXIT_SKIP;
	}
	view(p, "secret");
	put(p, "ceph secret");
	view(p, "sub");
	REQUIRE(mkdir(p, 0755) == 0);
	view(p, "sub/inner");
	REQUIRE(mkdir(p, 0755) == 0);
	view(p, "sub/inner/f");
	put(p, "inside");
	view(p, "sub/up");
	REQUIRE(symlink("../secret", p) == 0);

	/* A root that is not there: a clear failure at start. */
	char err[4096], out[4096];
	H_PATH(err, h_root(), "daemon.err");
	H_PATH(out, h_root(), "daemon.out");
	char conf[4200];
	snprintf(conf, sizeof(conf), "conf=%s,root=/no/such/dir", h_ceph_conf());
	char *bad[] = { "-f", "-o", conf, (char *)h_mnt(), NULL };
	int status = h_wait(h_spawn(bad, out, err), 60);
	CHECK_EQ(h_exit_code(status), 1);
	CHECK(!h_mounted(h_mnt()));
	CHECK(h_read_file(err, buf, sizeof(buf)) > 0 && strstr(buf, "/no/such/dir"));
	h_forget_daemon();

	h_start("root=/sub");
	mnt(p, "inner/f");
	CHECK(h_content_is(p, "inside"));
	mnt(p, "secret");
	CHECK_ERR(stat(p, &st), ENOENT);
	mnt(p, "inner/../../secret"); /* the kernel resolves "..": the mount's parent */
	CHECK_ERR(stat(p, &st), ENOENT);
	/* The link is kept as written; followed, it leaves the mount (for the
	 * local directory above it), never for Ceph's /secret. */
	mnt(p, "up");
	CHECK_EQ(readlink(p, buf, sizeof(buf)), 9);
	CHECK(memcmp(buf, "../secret", 9) == 0);
	ssize_t n = h_read_file(p, buf, sizeof(buf));
	CHECK(n < 0 || strcmp(buf, "ceph secret") != 0);
	/* What is made lands inside /sub. */
	mnt(p, "made-here");
	put(p, "new");
	view(q, "sub/made-here");
	CHECK(h_content_is(q, "new"));
	view(q, "made-here");
	CHECK_ERR(stat(q, &st), ENOENT);
	/* Nothing leaves by rename or link: another filesystem to the VFS. */
	H_PATH(q, h_root(), "outside/moved");
	CHECK_ERR(rename(p, q), EXDEV);
	CHECK_ERR(link(p, q), EXDEV);
	/* The root's own attributes are /sub's. */
	CHECK_OK(stat(h_mnt(), &st));
	struct stat vst;
	view(q, "sub");
	CHECK_OK(stat(q, &vst));
	CHECK_EQ(st.st_ino, vst.st_ino);
	CHECK_EQ(h_stop(), 0);
	return h_finish();
}
