/* tests/pt/test_pt_fdcache.c - the passthrough fs made under a small fd
 * limit (soft RLIMIT_NOFILE 64: a cache of 32 node fds), its ops called
 * directly: many nodes cost a bounded number of fds, and a node whose fd was
 * let go is reopened by handle for getattr, readdirplus, hard links, after
 * a rename on the backing side, while open after its unlink; deleted and
 * closed, it is stale. Needs root (CAP_DAC_READ_SEARCH). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sgfuse/passthrough.h>
#include "../unit/check.h"

#define ROOT FUSE_ROOT_ID
#define SOFT_LIMIT 64
#define CACHED (SOFT_LIMIT / 2)
#define NFILES 200

static char base[64];
static char backing[128];
static const struct sgf_ops *ops;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void bpath(char *buf, size_t size, const char *name)
{
	if ((size_t)snprintf(buf, size, "%s/%s", backing, name) >= size)
		die(name);
}

static void make_file(const char *name, const char *content)
{
	char p[PATH_MAX];
	int fd;

	bpath(p, sizeof(p), name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		die(p);
	close(fd);
}

static struct sgf_req rq(struct sgf_passthrough *pt)
{
	return (struct sgf_req){ .unique = 1, .fs = pt, .pid = getpid() };
}

static uint64_t lookup(struct sgf_passthrough *pt, uint64_t parent, const char *name)
{
	struct sgf_req r = rq(pt);
	struct fuse_entry_out e = { 0 };

	return ops->lookup(&r, parent, name, &e) == 0 ? e.nodeid : 0;
}

static int getattr(struct sgf_passthrough *pt, uint64_t nodeid)
{
	struct sgf_req r = rq(pt);
	struct fuse_getattr_in in = { 0 };
	struct fuse_attr_out a = { 0 };

	return ops->getattr(&r, nodeid, &in, &a);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Look up (and so make) NFILES nodes: every older unpinned fd is let go. */
static void churn(struct sgf_passthrough *pt)
{
	char name[32];

	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "f%03d", i);
		CHECK(lookup(pt, ROOT, name) != 0);
	}
}

static struct sgf_passthrough *new_small(void)
{
	struct rlimit was, small;
	struct sgf_passthrough *pt;
	int err;

	/* The cache bound is read at new(); the limit itself may go back. */
	if (getrlimit(RLIMIT_NOFILE, &was) < 0)
		die("getrlimit");
	small = was;
	small.rlim_cur = SOFT_LIMIT;
	if (setrlimit(RLIMIT_NOFILE, &small) < 0)
		die("setrlimit");
	err = sgf_passthrough_new(&pt, backing, NULL);
	setrlimit(RLIMIT_NOFILE, &was);
	if (err) {
		errno = -err;
		die("sgf_passthrough_new");
	}
	return pt;
}

static void test_bounded(struct sgf_passthrough *pt, int fds_before)
{
	churn(pt);
	/* Root, the mount fd and the cache; never a node per file. */
	CHECK(open_fds() - fds_before <= CACHED + 4);
	/* Every node is still served, each reopened by its handle. */
	for (uint64_t id = ROOT + 1; id <= ROOT + NFILES; id++)
		CHECK_EQ(getattr(pt, id), 0);
	CHECK(open_fds() - fds_before <= CACHED + 4);
}

static void test_hardlink_rename(struct sgf_passthrough *pt)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	uint64_t one, two;

	make_file("hl_a", "x");
	bpath(a, sizeof(a), "hl_a");
	bpath(b, sizeof(b), "hl_b");
	bpath(c, sizeof(c), "hl_c");
	CHECK(link(a, b) == 0);
	one = lookup(pt, ROOT, "hl_a");
	churn(pt);
	/* The other name finds the same node, whose fd is reopened. */
	two = lookup(pt, ROOT, "hl_b");
	CHECK(one != 0);
	CHECK_EQ(two, one);
	churn(pt);
	/* A handle does not care about names. */
	CHECK(rename(a, c) == 0);
	CHECK(unlink(b) == 0);
	CHECK_EQ(getattr(pt, one), 0);
	CHECK_EQ(lookup(pt, ROOT, "hl_c"), one);
}

static void test_unlinked(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_open_in oin = { .flags = O_RDONLY };
	struct fuse_open_out oout = { 0 };
	struct fuse_release_in rin = { 0 };
	char p[PATH_MAX], buf[8] = "";
	struct iovec iov = { buf, sizeof(buf) };
	uint64_t gone, held;

	make_file("gone", "g");
	make_file("held", "held");
	gone = lookup(pt, ROOT, "gone");
	held = lookup(pt, ROOT, "held");
	CHECK(gone && held);
	CHECK_EQ(ops->open(&r, held, &oin, &oout), 0);
	bpath(p, sizeof(p), "gone");
	CHECK(unlink(p) == 0);
	bpath(p, sizeof(p), "held");
	CHECK(unlink(p) == 0);
	churn(pt);
	/* Deleted and closed: nothing to reopen. */
	CHECK_EQ(getattr(pt, gone), -ESTALE);
	/* Deleted but open: the open file keeps the object, and its own fd. */
	CHECK_EQ(getattr(pt, held), 0);
	{
		struct fuse_read_in rd = { .fh = oout.fh, .size = sizeof(buf) };

		CHECK_EQ(ops->read(&r, held, &rd, &iov, 1), 4);
		CHECK(memcmp(buf, "held", 4) == 0);
	}
	rin.fh = oout.fh;
	CHECK_EQ(ops->release(&r, held, &rin), 0);
}

/* READDIRPLUS under an open directory whose node fd was let go. */
static void test_readdirplus(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_open_in oin = { .flags = O_RDONLY };
	struct fuse_open_out oout = { 0 };
	struct fuse_release_in rin = { 0 };
	char p[PATH_MAX], mem[4096];
	uint64_t dir;

	bpath(p, sizeof(p), "dir");
	CHECK(mkdir(p, 0755) == 0);
	bpath(p, sizeof(p), "dir/inner");
	CHECK(close(open(p, O_WRONLY | O_CREAT, 0644)) == 0);
	dir = lookup(pt, ROOT, "dir");
	CHECK(dir != 0);
	CHECK_EQ(ops->opendir(&r, dir, &oin, &oout), 0);
	churn(pt);
	{
		struct fuse_read_in rd = { .fh = oout.fh, .size = sizeof(mem) };
		struct sgf_dirbuf db = { .buf = mem, .size = sizeof(mem) };

		CHECK_EQ(ops->readdir(&r, dir, &rd, true, &db), 0);
		/* ".", ".." and "inner", each a full entry. */
		CHECK(db.used > 0);
		CHECK(memmem(mem, db.used, "inner", 5) != NULL);
	}
	rin.fh = oout.fh;
	CHECK_EQ(ops->releasedir(&r, dir, &rin), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	remove(p);
	return 0;
}

static int run_tests(void)
{
	int fds_before = open_fds();
	struct sgf_passthrough *pt;

	ops = sgf_passthrough_ops();
	for (int i = 0; i < NFILES; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%03d", i);
		make_file(name, "");
	}
	pt = new_small();
	test_bounded(pt, fds_before);
	test_hardlink_rename(pt);
	test_unlinked(pt);
	test_readdirplus(pt);
	sgf_passthrough_free(pt);
	CHECK_EQ(open_fds(), fds_before);
	return check_exit();
}

/* The tests run in a child so the temp directory goes however they end. */
int main(void)
{
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		printf("SKIP: reopening by handle needs root\n");
		return 77;
	}
	snprintf(base, sizeof(base), "/tmp/sgf-ptfd-XXXXXX");
	if (!mkdtemp(base))
		die("mkdtemp");
	snprintf(backing, sizeof(backing), "%s/backing", base);
	if (mkdir(backing, 0755) < 0)
		die("mkdir");
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		exit(run_tests()); /* exit, not _exit: LeakSanitizer runs at exit */
	status = pid > 0 && waitpid(pid, &status, 0) == pid ? status : -1;
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (status == -1 || !WIFEXITED(status)) {
		fprintf(stderr, "FAIL: tests did not finish (status %d)\n", status);
		return 1;
	}
	return WEXITSTATUS(status);
}
