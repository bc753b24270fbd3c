/* tests/ceph/test_ceph_nodes.c - two sgfuse-ceph mounts of one file system,
 * as two nodes would have: what one changes the other sees. Node 2 caches
 * attributes for 60 s, so new data it sees within seconds came by
 * notification (libcephfs's callback when this client loses the right to
 * cache a file's data drops the kernel's pages), and its counters must say
 * so. Names and attributes follow within the default entry_timeout and
 * attr_timeout (1 s): libcephfs 16 reports no rename or unlink made by
 * another client. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ceph_node.h"
#include "harness.h"

#define WAIT_MS 10000
/* What a 1 s timeout allows, with room for a slow machine. */
#define TIMEOUT_MS 3000

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	REQUIRE(close(fd) == 0);
}

/* Read path (through the page cache) until it holds text; ms waited, or
 * -1 after WAIT_MS. */
static int wait_content(const char *path, const char *text)
{
	char buf[256];
	for (int ms = 0; ms <= WAIT_MS; ms += 50) {
		ssize_t n = h_read_file(path, buf, sizeof(buf));
		if (n >= 0 && strcmp(buf, text) == 0)
			return ms;
		h_msleep(50);
	}
	return -1;
}

/* Until path exists (want true) or not; ms waited, or -1. */
static int wait_exists(const char *path, bool want)
{
	struct stat st;
	for (int ms = 0; ms <= WAIT_MS; ms += 50) {
		if ((lstat(path, &st) == 0) == want)
			return ms;
		h_msleep(50);
	}
	return -1;
}

static int wait_mode(const char *path, mode_t mode)
{
	struct stat st;
	for (int ms = 0; ms <= WAIT_MS; ms += 50) {
		if (stat(path, &st) == 0 && (st.st_mode & 07777) == mode)
			return ms;
		h_msleep(50);
	}
	return -1;
}

int main(int argc, char **argv)
{
	char a[4096], b[4096], a2[4096], b2[4096], stats[65536];
	struct node other;
	int ms;

	h_init(argc, argv, 110);
	if (!h_ceph()) {
		printf("SKIP: needs the harness's Ceph mode ($SGF_TEST_CEPH)\n");
		return H_EXIT_SKIP;
	}
	h_start("");
	node_start(&other, "node2", "attr_timeout=60");

	/* Data: the other node has the old bytes in its page cache. */
	H_PATH(a, h_mnt(), "shared");
	H_PATH(b, other.mnt, "shared");
	put(a, "first version");
	CHECK(wait_content(b, "first version") >= 0);
	put(a, "second, longer version");
	ms = wait_content(b, "second, longer version");
	printf("data change seen after %d ms\n", ms);
	CHECK(ms >= 0);
	/* Through a descriptor node 2 keeps open (no open to drop its pages):
	 * only the notification can. */
	int fd = open(b, O_RDONLY);
	char got[64] = "";
	REQUIRE(fd >= 0);
	CHECK_EQ(pread(fd, got, sizeof(got) - 1, 0), 22);
	put(a, "third, same-size text!");
	for (ms = 0; ms <= WAIT_MS; ms += 50) {
		memset(got, 0, sizeof(got));
		if (pread(fd, got, sizeof(got) - 1, 0) == 22 && !strcmp(got, "third, same-size text!"))
			break;
		h_msleep(50);
	}
	printf("data change seen through an open descriptor after %d ms\n",
	       ms <= WAIT_MS ? ms : -1);
	CHECK(ms <= WAIT_MS);
	close(fd);
	/* And back the other way. */
	put(b, "written on node 2");
	CHECK(wait_content(a, "written on node 2") >= 0);

	/* Names: within the entry timeout. */
	H_PATH(a2, h_mnt(), "renamed");
	H_PATH(b2, other.mnt, "renamed");
	CHECK(wait_exists(b2, false) >= 0); /* a negative look, not cached */
	CHECK_OK(rename(a, a2));
	ms = wait_exists(b, false);
	printf("rename: old name gone after %d ms\n", ms);
	CHECK(ms >= 0 && ms <= TIMEOUT_MS);
	CHECK(wait_exists(b2, true) >= 0);
	CHECK(wait_content(b2, "written on node 2") >= 0);
	CHECK_OK(unlink(a2));
	ms = wait_exists(b2, false);
	printf("unlink seen after %d ms\n", ms);
	CHECK(ms >= 0 && ms <= TIMEOUT_MS);

	/* A directory and a file in it, made on node 2, seen here. */
	H_PATH(b, other.mnt, "dir");
	CHECK_OK(mkdir(b, 0750));
	H_PATH(b2, b, "inner");
	put(b2, "inner text");
	H_PATH(a, h_mnt(), "dir/inner");
	CHECK(wait_content(a, "inner text") >= 0);

	/* Attributes follow within attr_timeout (ours: 1 s). */
	CHECK_OK(chmod(b2, 0600));
	ms = wait_mode(a, 0600);
	printf("chmod seen after %d ms\n", ms);
	CHECK(ms >= 0 && ms <= TIMEOUT_MS);

	/* Node 2 was told, rather than timing out its caches. */
	REQUIRE(node_stats(&other, stats, sizeof(stats)) == 0);
	CHECK(h_stat_count(stats, "ceph_notify_inode") > 0);
	if (h_failed())
		fprintf(stderr, "node 2 stats:\n%s", stats);

	CHECK_EQ(node_stop(&other), 0);
	CHECK(!h_mounted(other.mnt));
	CHECK_EQ(h_stop(), 0);
	return h_finish();
}
