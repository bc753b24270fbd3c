/* tests/mounted/test_ops.c - every operation through the kernel: each step
 * acts on the mount and checks the effect in the backing directory (which
 * no cache stands in front of), including the error paths. In the harness's
 * Ceph mode the daemon is sgfuse-ceph and the "backing directory" another
 * Ceph client's view of the same file system; where Ceph differs from a
 * local filesystem (no rename flags, no holes, no preallocation, lazy
 * file counts, 64 KiB of xattrs per inode) the checks say so. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "harness.h"

static void put(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void test_lookup_stat(void)
{
	struct h_pp p;
	struct stat sm, sb;
	h_pp(&p, "f1");
	put(p.b, "hello, world", 0640);
	CHECK_OK(stat(p.m, &sm));
	CHECK_OK(stat(p.b, &sb));
	CHECK_EQ(sm.st_size, 12);
	CHECK_EQ(sm.st_mode, 0100640);
	CHECK_EQ(sm.st_nlink, sb.st_nlink);
	CHECK_EQ(sm.st_uid, sb.st_uid);
	CHECK_EQ(sm.st_gid, sb.st_gid);
	CHECK_EQ(sm.st_mtim.tv_sec, sb.st_mtim.tv_sec);
	CHECK_EQ(sm.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
	CHECK(h_content_is(p.m, "hello, world"));
	struct stat st;
	CHECK_OK(stat(h_mnt(), &st));
	CHECK(S_ISDIR(st.st_mode));
	CHECK_ERR(stat(h_pp(&p, "does-not-exist")->m, &st), ENOENT);
	CHECK_ERR(stat(h_pp(&p, "f1/below-a-file")->m, &st), ENOTDIR);
}

static void test_setattr(void)
{
	struct h_pp p;
	struct stat sb;
	h_pp(&p, "f2");
	put(p.m, "0123456789abcdef", 0644);
	CHECK_OK(chmod(p.m, 0600));
	CHECK_OK(stat(p.b, &sb));
	CHECK_EQ(sb.st_mode & 07777, 0600);
	CHECK_OK(chown(p.m, 1234, 5678));
	CHECK_OK(stat(p.b, &sb));
	CHECK_EQ(sb.st_uid, 1234);
	CHECK_EQ(sb.st_gid, 5678);
	CHECK_OK(chown(p.m, 0, 0));
	CHECK_OK(truncate(p.m, 10));
	CHECK_OK(stat(p.b, &sb));
	CHECK_EQ(sb.st_size, 10);
	CHECK(h_content_is(p.b, "0123456789"));

	int fd = open(p.m, O_RDWR);
	CHECK(fd >= 0);
	CHECK_OK(ftruncate(fd, 5000));
	CHECK_OK(stat(p.b, &sb));
	CHECK_EQ(sb.st_size, 5000);
	CHECK_OK(fchmod(fd, 0640));
	CHECK_OK(stat(p.b, &sb));
	CHECK_EQ(sb.st_mode & 07777, 0640);

	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1500000000, 987654321 } };
	CHECK_OK(utimensat(AT_FDCWD, p.m, ts, 0));
	CHECK_OK(stat(p.b, &sb));
	CHECK_EQ(sb.st_atim.tv_sec, 1000000000);
	CHECK_EQ(sb.st_atim.tv_nsec, 123456789);
	CHECK_EQ(sb.st_mtim.tv_sec, 1500000000);
	CHECK_EQ(sb.st_mtim.tv_nsec, 987654321);
	struct timespec ts2[2] = { { 0, UTIME_OMIT }, { 1600000000, 5 } };
	CHECK_OK(futimens(fd, ts2));
	CHECK_OK(stat(p.b, &sb));
	CHECK_EQ(sb.st_atim.tv_sec, 1000000000);
	CHECK_EQ(sb.st_mtim.tv_sec, 1600000000);
	CHECK_EQ(sb.st_mtim.tv_nsec, 5);
	close(fd);
	CHECK_ERR(truncate(h_pp(&p, "no-such-file")->m, 0), ENOENT);
}

static void test_symlink(void)
{
	struct h_pp p;
	char buf[256];
	struct stat st;
	h_pp(&p, "ln");
	CHECK_OK(symlink("some/target", p.m));
	ssize_t n = readlink(p.b, buf, sizeof(buf));
	CHECK_EQ(n, 11);
	CHECK(n == 11 && memcmp(buf, "some/target", 11) == 0);
	CHECK_OK(lstat(p.b, &st));
	CHECK(S_ISLNK(st.st_mode));
	memset(buf, 0, sizeof(buf));
	n = readlink(p.m, buf, sizeof(buf));
	CHECK_EQ(n, 11);
	CHECK(n == 11 && memcmp(buf, "some/target", 11) == 0);
	CHECK_OK(lstat(p.m, &st));
	CHECK(S_ISLNK(st.st_mode));
	CHECK_EQ(st.st_size, 11);
	/* A link made in the backing dir reads back through the mount. */
	struct h_pp q;
	h_pp(&q, "ln2");
	CHECK_OK(symlink("f1", q.b));
	CHECK(h_content_is(q.m, "hello, world"));
	CHECK_ERR(symlink("x", p.m), EEXIST);
	CHECK_ERR(readlink(h_pp(&q, "f1")->m, buf, sizeof(buf)), EINVAL);
}

static void test_mknod(void)
{
	struct h_pp p;
	struct stat st;
	CHECK_OK(mkfifo(h_pp(&p, "fifo")->m, 0640));
	CHECK_OK(lstat(p.b, &st));
	CHECK(S_ISFIFO(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0640);
	CHECK_OK(lstat(p.m, &st));
	CHECK(S_ISFIFO(st.st_mode));
	CHECK_OK(mknod(h_pp(&p, "regnode")->m, S_IFREG | 0604, 0));
	CHECK_OK(lstat(p.b, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0604);
	CHECK_OK(mknod(h_pp(&p, "chardev")->m, S_IFCHR | 0600, makedev(1, 3)));
	CHECK_OK(lstat(p.b, &st));
	CHECK(S_ISCHR(st.st_mode));
	CHECK_EQ(major(st.st_rdev), 1);
	CHECK_EQ(minor(st.st_rdev), 3);
	CHECK_ERR(mkfifo(h_pp(&p, "fifo")->m, 0640), EEXIST);
}

static void test_dirs_unlink(void)
{
	struct h_pp p, q;
	struct stat st;
	CHECK_OK(mkdir(h_pp(&p, "d")->m, 0750));
	CHECK_OK(stat(p.b, &st));
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0750);
	CHECK_ERR(mkdir(p.m, 0755), EEXIST);
	put(h_pp(&q, "d/x")->m, "x", 0644);
	CHECK_OK(access(q.b, F_OK));
	CHECK_ERR(rmdir(p.m), ENOTEMPTY);
	CHECK_ERR(unlink(p.m), EISDIR);
	CHECK_ERR(rmdir(q.m), ENOTDIR);
	CHECK_OK(unlink(q.m));
	CHECK_ERR(access(q.b, F_OK), ENOENT);
	CHECK_ERR(unlink(q.m), ENOENT);
	CHECK_OK(rmdir(p.m));
	CHECK_ERR(access(p.b, F_OK), ENOENT);
	CHECK_ERR(rmdir(p.m), ENOENT);
	CHECK_ERR(mkdir(h_pp(&p, "nodir/sub")->m, 0755), ENOENT);
	CHECK_ERR(mkdir(h_pp(&p, "f1/sub")->m, 0755), ENOTDIR);
}

static void test_rename(void)
{
	struct h_pp a, b, c, d;
	h_pp(&a, "ra");
	h_pp(&b, "rb");
	h_pp(&c, "rc");
	put(a.m, "A", 0644);
	put(b.m, "B", 0644);
	CHECK_OK(rename(a.m, c.m));
	CHECK_ERR(access(a.b, F_OK), ENOENT);
	CHECK(h_content_is(c.b, "A"));
	if (h_ceph()) {
		/* Ceph renames only as rename(2) does: flags are refused. */
		struct h_pp z;
		CHECK_ERR(renameat2(AT_FDCWD, c.m, AT_FDCWD, h_pp(&z, "rz")->m, RENAME_NOREPLACE),
			  EINVAL);
		CHECK_ERR(renameat2(AT_FDCWD, c.m, AT_FDCWD, b.m, RENAME_EXCHANGE), EINVAL);
		CHECK(h_content_is(b.b, "B"));
		CHECK(h_content_is(c.b, "A"));
		CHECK_OK(rename(c.m, a.m));
		CHECK_OK(rename(b.m, c.m));
		CHECK_OK(rename(a.m, b.m));
		CHECK_OK(rename(c.m, a.m));
	} else {
		CHECK_ERR(renameat2(AT_FDCWD, c.m, AT_FDCWD, b.m, RENAME_NOREPLACE), EEXIST);
		CHECK(h_content_is(b.b, "B"));
		CHECK(h_content_is(c.b, "A"));
		CHECK_OK(renameat2(AT_FDCWD, c.m, AT_FDCWD, b.m, RENAME_EXCHANGE));
		CHECK(h_content_is(b.b, "A"));
		CHECK(h_content_is(c.b, "B"));
		CHECK(h_content_is(b.m, "A"));
		CHECK(h_content_is(c.m, "B"));
		CHECK_OK(renameat2(AT_FDCWD, c.m, AT_FDCWD, a.m, RENAME_NOREPLACE));
		CHECK(h_content_is(a.b, "B"));
		CHECK_ERR(renameat2(AT_FDCWD, c.m, AT_FDCWD, b.m, RENAME_EXCHANGE), ENOENT);
	}
	/* Overwriting rename. */
	CHECK_OK(rename(a.m, b.m));
	CHECK(h_content_is(b.b, "B"));
	CHECK_ERR(access(a.b, F_OK), ENOENT);

	/* Across directories, and directories themselves. */
	CHECK_OK(mkdir(h_pp(&c, "rd1")->m, 0755));
	CHECK_OK(mkdir(h_pp(&d, "rd2")->m, 0755));
	CHECK_OK(rename(b.m, h_pp(&a, "rd1/moved")->m));
	CHECK(h_content_is(a.b, "B"));
	CHECK_OK(rename(c.m, h_pp(&b, "rd2/rd1")->m));
	CHECK(h_content_is(h_pp(&a, "rd2/rd1/moved")->b, "B"));
	CHECK_ERR(rename(h_pp(&a, "rd2")->m, h_pp(&b, "rd2/rd1/inside")->m), EINVAL);
	/* A file over a non-empty dir, a dir over a non-empty dir, a dir over a file. */
	put(h_pp(&a, "rfile")->m, "f", 0644);
	CHECK_ERR(rename(a.m, h_pp(&b, "rd2")->m), EISDIR);
	CHECK_OK(mkdir(h_pp(&c, "rd3")->m, 0755));
	CHECK_ERR(rename(c.m, h_pp(&b, "rd2")->m), ENOTEMPTY);
	CHECK_ERR(rename(c.m, a.m), ENOTDIR);
	CHECK_ERR(rename(h_pp(&a, "no-such")->m, h_pp(&b, "whatever")->m), ENOENT);

	/* Across filesystems: the VFS refuses with EXDEV. */
	char outside[4096];
	H_PATH(outside, h_root(), "outside/xdev");
	put(outside, "x", 0644);
	CHECK_ERR(rename(outside, h_pp(&a, "xdev")->m), EXDEV);
	CHECK_ERR(rename(h_pp(&b, "rfile")->m, outside), EXDEV);
	CHECK_ERR(link(outside, a.m), EXDEV);
}

static void test_link(void)
{
	struct h_pp a, b;
	struct stat sa, sb, ba;
	put(h_pp(&a, "la")->m, "linked", 0644);
	CHECK_OK(link(a.m, h_pp(&b, "lb")->m));
	CHECK_OK(stat(a.b, &ba));
	CHECK_EQ(ba.st_nlink, 2);
	CHECK_OK(stat(b.b, &sb));
	CHECK_EQ(sb.st_ino, ba.st_ino);
	CHECK_OK(stat(a.m, &sa));
	CHECK_OK(stat(b.m, &sb));
	CHECK_EQ(sa.st_ino, sb.st_ino);
	CHECK_EQ(sb.st_nlink, 2);
	CHECK(h_content_is(b.m, "linked"));
	CHECK_ERR(link(a.m, b.m), EEXIST);
	CHECK_ERR(link(h_pp(&a, "no-such")->m, h_pp(&b, "lc")->m), ENOENT);
	CHECK_OK(unlink(h_pp(&a, "la")->m));
	CHECK_OK(stat(h_pp(&b, "lb")->m, &sb));
	CHECK_EQ(sb.st_nlink, 1);
}

static void test_open_rw(void)
{
	struct h_pp p, q;
	struct stat st;
	h_pp(&p, "rw");
	int fd = open(p.m, O_CREAT | O_EXCL | O_RDWR, 0640);
	CHECK(fd >= 0);
	CHECK_OK(stat(p.b, &st));
	CHECK_EQ(st.st_mode & 07777, 0640);
	CHECK_ERR(open(p.m, O_CREAT | O_EXCL | O_RDWR, 0640), EEXIST);

	static char data[300000], back[300000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + i / 4096);
	CHECK_EQ(write(fd, data, sizeof(data)), sizeof(data));
	CHECK_EQ(pread(fd, back, sizeof(back), 0), sizeof(back));
	CHECK(memcmp(data, back, sizeof(data)) == 0);
	CHECK_EQ(pread(fd, back, 100, sizeof(data) - 50), 50);
	CHECK_EQ(pread(fd, back, 100, sizeof(data) + 10), 0);
	CHECK_OK(fsync(fd));
	CHECK_OK(fdatasync(fd));
	close(fd);
	/* The backing file holds the bytes. */
	int bfd = open(p.b, O_RDONLY);
	CHECK(bfd >= 0);
	memset(back, 0, sizeof(back));
	CHECK_EQ(pread(bfd, back, sizeof(back), 0), sizeof(back));
	CHECK(memcmp(data, back, sizeof(data)) == 0);
	close(bfd);

	/* O_APPEND and O_TRUNC. */
	fd = open(p.m, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "tail", 4), 4);
	close(fd);
	CHECK_OK(stat(p.b, &st));
	CHECK_EQ(st.st_size, sizeof(data) + 4);
	fd = open(p.m, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	close(fd);
	CHECK_OK(stat(p.b, &st));
	CHECK_EQ(st.st_size, 0);

	CHECK_OK(mkdir(h_pp(&q, "odir")->m, 0755));
	CHECK_ERR(open(q.m, O_WRONLY), EISDIR);
	CHECK_ERR(open(q.m, O_RDWR), EISDIR);
	fd = open(q.m, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	CHECK_OK(fsync(fd));
	close(fd);
	CHECK_ERR(open(p.m, O_RDONLY | O_DIRECTORY), ENOTDIR);
	CHECK_ERR(open(h_pp(&q, "rw/x")->m, O_RDONLY), ENOTDIR);
	CHECK_ERR(open(h_pp(&q, "absent")->m, O_RDONLY), ENOENT);
	CHECK_ERR(open(h_pp(&q, "absent/x")->m, O_RDONLY | O_CREAT, 0644), ENOENT);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Many entries with long names: several READDIR(PLUS) replies. */
static void test_readdir(void)
{
	enum { N = 600 };
	struct h_pp p;
	char name[128], path[4096];
	CHECK_OK(mkdir(h_pp(&p, "many")->b, 0755));
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "a-rather-long-file-name-to-fill-pages-%04d", i);
		H_PATH(path, p.b, name);
		put(path, "", 0644);
	}
	for (int pass = 0; pass < 2; pass++) {
		DIR *d = opendir(p.m);
		CHECK(d != NULL);
		if (!d)
			return;
		char **seen = calloc(N + 16, sizeof(char *));
		int n = 0, dots = 0;
		for (;;) {
			errno = 0;
			struct dirent *de = readdir(d);
			if (!de) {
				CHECK_EQ(errno, 0);
				break;
			}
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
				dots++;
				continue;
			}
			CHECK(de->d_type == DT_REG || de->d_type == DT_UNKNOWN);
			if (n < N + 16)
				seen[n++] = strdup(de->d_name);
		}
		closedir(d);
		CHECK_EQ(n, N);
		CHECK(dots <= 2);
		qsort(seen, (size_t)n, sizeof(char *), cmp_str);
		for (int i = 0; i < n && i < N; i++) {
			snprintf(name, sizeof(name), "a-rather-long-file-name-to-fill-pages-%04d", i);
			if (strcmp(seen[i], name) != 0) {
				h_fail(__FILE__, __LINE__, "entry %d is %s, want %s", i, seen[i], name);
				break;
			}
		}
		for (int i = 0; i < n; i++)
			free(seen[i]);
		free(seen);
	}
	/* An empty directory lists nothing but dots. */
	CHECK_OK(mkdir(h_pp(&p, "emptydir")->m, 0755));
	DIR *d = opendir(p.m);
	CHECK(d != NULL);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL)
		CHECK(!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."));
	if (d)
		closedir(d);
	CHECK_ERR(opendir(h_pp(&p, "f1")->m) == NULL ? -1 : 0, ENOTDIR);
}

static void test_statfs(void)
{
	struct statvfs m, b;
	CHECK_OK(statvfs(h_mnt(), &m));
	CHECK_OK(statvfs(h_backing(), &b));
	CHECK_EQ(m.f_bsize, b.f_bsize);
	CHECK_EQ(m.f_frsize, b.f_frsize);
	CHECK_EQ(m.f_blocks, b.f_blocks);
	/* Ceph counts files lazily (recursive stats): two clients may differ. */
	if (!h_ceph())
		CHECK_EQ(m.f_files, b.f_files);
	CHECK_EQ(m.f_namemax, b.f_namemax);
}

static void test_xattr(void)
{
	struct h_pp p;
	char buf[256];
	put(h_pp(&p, "xa")->m, "x", 0644);
	if (setxattr(p.b, "user.probe", "1", 1, 0) != 0) {
		printf("xattr: backing fs refuses user.* (%s); skipping\n", strerror(errno));
		return;
	}
	CHECK_OK(removexattr(p.b, "user.probe"));
	CHECK_OK(setxattr(p.m, "user.test", "hello", 5, 0));
	CHECK_EQ(getxattr(p.b, "user.test", buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ(getxattr(p.m, "user.test", NULL, 0), 5);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(getxattr(p.m, "user.test", buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_ERR(getxattr(p.m, "user.test", buf, 2), ERANGE);
	CHECK_ERR(setxattr(p.m, "user.test", "again", 5, XATTR_CREATE), EEXIST);
	CHECK_ERR(setxattr(p.m, "user.absent", "v", 1, XATTR_REPLACE), ENODATA);
	CHECK_OK(setxattr(p.m, "user.second", "", 0, 0));
	CHECK_EQ(getxattr(p.m, "user.second", buf, sizeof(buf)), 0);

	ssize_t n = listxattr(p.m, buf, sizeof(buf));
	CHECK(n > 0);
	bool has_test = false, has_second = false;
	for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(buf + i) + 1) {
		has_test |= strcmp(buf + i, "user.test") == 0;
		has_second |= strcmp(buf + i, "user.second") == 0;
	}
	CHECK(has_test && has_second);
	CHECK_EQ(listxattr(p.m, NULL, 0), n);
	CHECK_ERR(listxattr(p.m, buf, 3), ERANGE);

	/* Set in the backing dir, seen through the mount. */
	CHECK_OK(setxattr(p.b, "user.behind", "bk", 2, 0));
	CHECK_EQ(getxattr(p.m, "user.behind", buf, sizeof(buf)), 2);

	CHECK_OK(removexattr(p.m, "user.test"));
	CHECK_ERR(getxattr(p.b, "user.test", buf, sizeof(buf)), ENODATA);
	CHECK_ERR(getxattr(p.m, "user.test", buf, sizeof(buf)), ENODATA);
	CHECK_ERR(removexattr(p.m, "user.test"), ENODATA);
	/* On a directory as well. */
	CHECK_OK(mkdir(h_pp(&p, "xdir")->m, 0755));
	CHECK_OK(setxattr(p.m, "user.d", "dir", 3, 0));
	CHECK_EQ(getxattr(p.b, "user.d", buf, sizeof(buf)), 3);
}

static void test_access(void)
{
	struct h_pp p;
	put(h_pp(&p, "acc")->m, "a", 0644);
	CHECK_OK(access(p.m, F_OK));
	CHECK_OK(access(p.m, R_OK | W_OK));
	CHECK_ERR(access(p.m, X_OK), EACCES);
	CHECK_OK(chmod(p.m, 0755));
	CHECK_OK(access(p.m, X_OK));
	CHECK_ERR(access(h_pp(&p, "no-such")->m, F_OK), ENOENT);
}

static void test_fallocate(void)
{
	struct h_pp p;
	struct stat st;
	int fd = open(h_pp(&p, "falloc")->m, O_CREAT | O_RDWR, 0644);
	CHECK(fd >= 0);
	CHECK_OK(fallocate(fd, 0, 0, 1 << 20));
	CHECK_OK(stat(p.b, &st));
	CHECK_EQ(st.st_size, 1 << 20);
	/* Ceph allocates nothing ahead: sizes hold, block counts do not. */
	CHECK(h_ceph() || st.st_blocks >= (1 << 20) / 512);
	CHECK_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20));
	CHECK_OK(stat(p.b, &st));
	CHECK_EQ(st.st_size, 1 << 20);
	CHECK(h_ceph() || st.st_blocks >= (2 << 20) / 512);
	blkcnt_t before = st.st_blocks;
	CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 256 << 10));
	CHECK_OK(stat(p.b, &st));
	CHECK_EQ(st.st_size, 1 << 20);
	CHECK(h_ceph() || st.st_blocks < before);
	close(fd);
}

static void test_lseek(void)
{
	struct h_pp p;
	h_pp(&p, "sparse");
	int bfd = open(p.b, O_CREAT | O_RDWR, 0644);
	REQUIRE(bfd >= 0);
	static char block[4096];
	memset(block, 'd', sizeof(block));
	CHECK_EQ(pwrite(bfd, block, sizeof(block), 0), sizeof(block));
	CHECK_EQ(pwrite(bfd, block, sizeof(block), 1 << 20), sizeof(block));
	close(bfd);
	const off_t end = (1 << 20) + 4096;
	int fd = open(p.m, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(lseek(fd, 0, SEEK_DATA), 0);
	if (h_ceph()) {
		/* Ceph knows no holes: all of the file is data (as POSIX allows). */
		CHECK_EQ(lseek(fd, 0, SEEK_HOLE), end);
		CHECK_EQ(lseek(fd, 4096, SEEK_DATA), 4096);
	} else {
		CHECK_EQ(lseek(fd, 0, SEEK_HOLE), 4096);
		CHECK_EQ(lseek(fd, 4096, SEEK_DATA), 1 << 20);
	}
	CHECK_EQ(lseek(fd, 1 << 20, SEEK_HOLE), end);
	CHECK_ERR(lseek(fd, end, SEEK_DATA), ENXIO);
	CHECK_EQ(lseek(fd, 0, SEEK_END), end);
	close(fd);
}

/* Longest names and symlink targets the kernel sends (255, PATH_MAX - 1). */
static void test_long_names(void)
{
	char name[NAME_MAX + 2], target[PATH_MAX], buf[PATH_MAX + 1];
	struct h_pp p, q;
	struct stat st;
	memset(name, 'L', NAME_MAX);
	name[NAME_MAX] = '\0';
	put(h_pp(&p, name)->m, "long", 0644);
	CHECK(h_content_is(p.b, "long"));
	name[0] = 'M';
	CHECK_OK(rename(p.m, h_pp(&q, name)->m));
	CHECK(h_content_is(q.b, "long"));
	CHECK_OK(stat(q.m, &st));
	/* The kernel passes names up to 1024 bytes on; a 256-byte one must
	 * come back as ENAMETOOLONG, as from any Linux filesystem. */
	name[NAME_MAX] = 'L';
	name[NAME_MAX + 1] = '\0';
	CHECK_ERR(open(h_pp(&p, name)->m, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);

	memset(target, 't', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	for (size_t i = 100; i < sizeof(target) - 1; i += 100)
		target[i] = '/';
	CHECK_OK(symlink(target, h_pp(&p, "longlink")->m));
	ssize_t n = readlink(p.b, buf, sizeof(buf));
	CHECK_EQ(n, PATH_MAX - 1);
	CHECK(n == PATH_MAX - 1 && memcmp(buf, target, (size_t)n) == 0);
	n = readlink(p.m, buf, sizeof(buf));
	CHECK_EQ(n, PATH_MAX - 1);
	CHECK(n == PATH_MAX - 1 && memcmp(buf, target, (size_t)n) == 0);
}

/* An open file that is unlinked lives on through its descriptor. */
static void test_orphan(void)
{
	struct h_pp p;
	struct stat st;
	char buf[16];
	int fd = open(h_pp(&p, "orphan")->m, O_CREAT | O_RDWR, 0644);
	CHECK(fd >= 0);
	CHECK_OK(unlink(p.m));
	CHECK_ERR(access(p.b, F_OK), ENOENT);
	CHECK_EQ(pwrite(fd, "still here", 10, 0), 10);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(pread(fd, buf, sizeof(buf), 0), 10);
	CHECK(memcmp(buf, "still here", 10) == 0);
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_nlink, 0);
	CHECK_OK(ftruncate(fd, 4));
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_size, 4);
	close(fd);
	CHECK_ERR(access(p.m, F_OK), ENOENT);
}

/* O_DIRECT at and around the end of file. */
static void test_direct_edges(void)
{
	struct h_pp p;
	struct stat st;
	unsigned char *buf;
	REQUIRE(posix_memalign((void **)&buf, 4096, 3 * 4096) == 0);
	memset(buf, 'q', 3 * 4096);
	int fd = open(h_pp(&p, "direct")->m, O_CREAT | O_RDWR | O_DIRECT, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, buf, 4096, 0), 4096);
	/* Across the end: the bytes that exist; at the end: nothing. */
	CHECK_EQ(pread(fd, buf, 4096, 4096 - 100), 100);
	CHECK_EQ(pread(fd, buf, 4096, 4096), 0);
	CHECK_EQ(pread(fd, buf, 4096, 1 << 20), 0);
	/* A write past the end leaves a hole that reads as zeros. */
	memset(buf, 'w', 4096);
	CHECK_EQ(pwrite(fd, buf, 4096, 3 * 4096), 4096);
	CHECK_OK(stat(p.b, &st));
	CHECK_EQ(st.st_size, 4 * 4096);
	memset(buf, 'x', 2 * 4096);
	CHECK_EQ(pread(fd, buf, 2 * 4096, 4096), 2 * 4096);
	bool zeros = true;
	for (int i = 0; i < 2 * 4096; i++)
		zeros &= buf[i] == 0;
	CHECK(zeros);
	/* Zero-length I/O. */
	struct iovec none = { buf, 0 };
	CHECK_EQ(pwritev(fd, &none, 1, 0), 0);
	CHECK_EQ(preadv(fd, &none, 1, 0), 0);
	/* An odd-sized unaligned segment list through O_DIRECT. */
	struct iovec odd[3] = { { buf + 1, 7 }, { buf + 4096 + 3, 4000 }, { buf + 8192 + 5, 1 } };
	memset(buf, 'o', 3 * 4096);
	CHECK_EQ(pwritev(fd, odd, 3, 11), 4008);
	char back[4008];
	int bfd = open(p.b, O_RDONLY);
	CHECK(bfd >= 0);
	CHECK_EQ(pread(bfd, back, sizeof(back), 11), sizeof(back));
	bool all_o = true;
	for (size_t i = 0; i < sizeof(back); i++)
		all_o &= back[i] == 'o';
	CHECK(all_o);
	close(bfd);
	close(fd);
	free(buf);
}

/* telldir/seekdir: resuming from a cookie gives the same remainder. */
static void test_seekdir(void)
{
	struct h_pp p;
	DIR *d = opendir(h_pp(&p, "many")->m);
	CHECK(d != NULL);
	if (!d)
		return;
	struct dirent *de;
	for (int i = 0; i < 250 && (de = readdir(d)) != NULL; i++)
		;
	long pos = telldir(d);
	char first[256] = "";
	int rest = 0;
	if ((de = readdir(d)) != NULL) {
		snprintf(first, sizeof(first), "%s", de->d_name);
		rest++;
	}
	while (readdir(d) != NULL)
		rest++;
	seekdir(d, pos);
	de = readdir(d);
	CHECK(de != NULL && strcmp(de->d_name, first) == 0);
	int again = de ? 1 : 0;
	while (readdir(d) != NULL)
		again++;
	CHECK_EQ(again, rest);
	CHECK(rest > 0);
	closedir(d);
}

static void test_big_xattr(void)
{
	struct h_pp p;
	static char value[65536], back[65536];
	/* Ceph's MDS keeps at most 64 KiB of names and values per inode. */
	size_t size = h_ceph() ? 60000 : sizeof(value);
	put(h_pp(&p, "bigx")->m, "x", 0644);
	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (char)(i * 13);
	if (setxattr(p.b, "user.big", value, size, 0) != 0) {
		printf("big xattr: backing fs refuses 64 KiB values (%s); skipping\n",
		       strerror(errno));
		return;
	}
	CHECK_OK(removexattr(p.b, "user.big"));
	CHECK_OK(setxattr(p.m, "user.big", value, size, 0));
	CHECK_EQ(getxattr(p.b, "user.big", back, sizeof(back)), size);
	CHECK(memcmp(value, back, size) == 0);
	memset(back, 0, sizeof(back));
	CHECK_EQ(getxattr(p.m, "user.big", back, sizeof(back)), size);
	CHECK(memcmp(value, back, size) == 0);
}

/* copy_file_range (the daemon may lack COPY_FILE_RANGE; the kernel then
 * copies itself), shared mmap writes, and running a program from the mount. */
static void test_copy_mmap_exec(void)
{
	struct h_pp a, b;
	static char data[200000], back[200000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 11 + 3);
	int in = open(h_pp(&a, "cfr-src")->m, O_CREAT | O_RDWR, 0644);
	int out = open(h_pp(&b, "cfr-dst")->m, O_CREAT | O_RDWR, 0644);
	CHECK(in >= 0 && out >= 0);
	CHECK_EQ(write(in, data, sizeof(data)), sizeof(data));
	loff_t off_in = 0, off_out = 0;
	size_t left = sizeof(data);
	while (left > 0) {
		ssize_t n = copy_file_range(in, &off_in, out, &off_out, left, 0);
		if (n <= 0) {
			h_fail(__FILE__, __LINE__, "copy_file_range: %zd (%s)", n, strerror(errno));
			break;
		}
		left -= (size_t)n;
	}
	close(in);
	close(out);
	CHECK_EQ(h_read_file(b.b, back, sizeof(back)), sizeof(data) - 1);
	CHECK(memcmp(back, data, sizeof(data) - 1) == 0);

	/* MAP_SHARED writes reach the backing file after msync. */
	int fd = open(h_pp(&a, "mapped")->m, O_CREAT | O_RDWR, 0644);
	CHECK(fd >= 0);
	CHECK_OK(ftruncate(fd, 3 * 4096));
	char *map = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	if (map != MAP_FAILED) {
		memcpy(map + 4096 + 10, "mapped write", 12);
		CHECK_OK(msync(map, 3 * 4096, MS_SYNC));
		munmap(map, 3 * 4096);
		int bfd = open(a.b, O_RDONLY);
		char got[12] = "";
		CHECK_EQ(pread(bfd, got, 12, 4096 + 10), 12);
		CHECK(memcmp(got, "mapped write", 12) == 0);
		close(bfd);
	}
	close(fd);

	/* A program copied in through the mount runs from it. */
	int src = open("/bin/true", O_RDONLY);
	if (src < 0)
		return;
	int dst = open(h_pp(&a, "true")->m, O_CREAT | O_WRONLY | O_TRUNC, 0755);
	CHECK(dst >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(src, buf, sizeof(buf))) > 0)
		CHECK_EQ(write(dst, buf, (size_t)n), n);
	close(src);
	close(dst);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		execl(a.m, "true", (char *)NULL);
		_exit(errno == ETXTBSY ? 126 : 127);
	}
	int status = h_wait(pid, 20);
	CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 110);
	h_start("");
	test_lookup_stat();
	test_setattr();
	test_symlink();
	test_mknod();
	test_dirs_unlink();
	test_rename();
	test_link();
	test_open_rw();
	test_readdir();
	test_statfs();
	test_xattr();
	test_access();
	test_fallocate();
	test_lseek();
	test_long_names();
	test_orphan();
	test_direct_edges();
	test_seekdir();
	test_big_xattr();
	test_copy_mmap_exec();
	CHECK_EQ(h_stop(), 0);
	CHECK(!h_mounted(h_mnt()));
	return h_finish();
}
