/* tests/mounted/test_tmpfile.c - open(dir, O_TMPFILE) through the mount
 * (FUSE_TMPFILE): an unnamed file that can be written, then linked into
 * place by its fd or by /proc/self/fd/N and read back by name; with O_EXCL
 * it can never be linked; one never linked leaves nothing behind in the
 * backing directory (its inode is freed once closed); and a user's belongs
 * to that user. */
#include <dirent.h>
#include <grp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"

/* Names in the backing directory, "." and ".." left out. */
static int backing_entries(void)
{
	DIR *d = opendir(h_backing());
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Free inodes of the backing tmpfs. */
static unsigned long long backing_free_inodes(void)
{
	struct statvfs sv;

	return statvfs(h_backing(), &sv) == 0 ? (unsigned long long)sv.f_ffree : 0;
}

/* An unnamed file, open(2) failing the test when it cannot be made. */
static int tmpfile_in_mnt(int extra_flags, mode_t mode)
{
	int fd = open(h_mnt(), O_TMPFILE | O_RDWR | extra_flags, mode);

	if (fd < 0)
		h_fail(__FILE__, __LINE__, "open(mnt, O_TMPFILE%s): %s",
		       extra_flags & O_EXCL ? "|O_EXCL" : "", strerror(errno));
	return fd;
}

static void test_linked_by_fd(void)
{
	struct h_pp p;
	struct stat st;
	int before = backing_entries();
	int fd = tmpfile_in_mnt(0, 0640);

	REQUIRE(fd >= 0);
	CHECK_OK(fstat(fd, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0640);
	CHECK_EQ(st.st_nlink, 0);
	CHECK_EQ(pwrite(fd, "written unnamed", 15, 0), 15);
	CHECK_EQ(backing_entries(), before); /* still no name anywhere */

	CHECK_OK(linkat(fd, "", AT_FDCWD, h_pp(&p, "tmp-by-fd")->m, AT_EMPTY_PATH));
	CHECK_OK(fstat(fd, &st));
	CHECK_EQ(st.st_nlink, 1);
	CHECK_EQ(backing_entries(), before + 1);
	CHECK(h_content_is(p.m, "written unnamed"));
	CHECK(h_content_is(p.b, "written unnamed"));
	/* The open fd and the name are one file. */
	CHECK_EQ(pwrite(fd, "W", 1, 0), 1);
	CHECK(h_content_is(p.m, "Written unnamed"));
	close(fd);
	CHECK(h_content_is(p.m, "Written unnamed"));
	CHECK_OK(stat(p.b, &st));
	CHECK_EQ(st.st_mode & 07777, 0640);
}

static void test_linked_by_proc(void)
{
	struct h_pp p;
	char proc[64];
	int fd = tmpfile_in_mnt(O_DIRECT, 0600);

	REQUIRE(fd >= 0);
	/* O_DIRECT: the unnamed file takes direct I/O like any other. */
	char *buf;
	REQUIRE(posix_memalign((void **)&buf, 4096, 4096) == 0);
	memset(buf, 'z', 4096);
	CHECK_EQ(pwrite(fd, buf, 4096, 0), 4096);
	free(buf);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	CHECK_OK(linkat(AT_FDCWD, proc, AT_FDCWD, h_pp(&p, "tmp-by-proc")->m, AT_SYMLINK_FOLLOW));
	close(fd);
	struct stat st;
	CHECK_OK(stat(p.b, &st));
	CHECK_EQ(st.st_size, 4096);
	CHECK_EQ(st.st_nlink, 1);
	char back[8] = { 0 };
	CHECK_EQ(h_read_file(p.m, back, 2), 1);
	CHECK_EQ(back[0], 'z');
	/* A name that is taken stays taken. */
	fd = tmpfile_in_mnt(0, 0600);
	if (fd >= 0) {
		CHECK_ERR(linkat(fd, "", AT_FDCWD, p.m, AT_EMPTY_PATH), EEXIST);
		close(fd);
	}
}

static void test_excl_never_linked(void)
{
	struct h_pp p;
	char proc[64];
	int before = backing_entries();
	int fd = tmpfile_in_mnt(O_EXCL, 0600);

	REQUIRE(fd >= 0);
	CHECK_EQ(write(fd, "x", 1), 1);
	CHECK_ERR(linkat(fd, "", AT_FDCWD, h_pp(&p, "tmp-excl")->m, AT_EMPTY_PATH), ENOENT);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	CHECK_ERR(linkat(AT_FDCWD, proc, AT_FDCWD, p.m, AT_SYMLINK_FOLLOW), ENOENT);
	CHECK_ERR(access(p.b, F_OK), ENOENT);
	CHECK_EQ(backing_entries(), before);
	close(fd);
}

static void test_unlinked_leaves_nothing(void)
{
	int before = backing_entries();
	unsigned long long free_before = backing_free_inodes();
	int fd = tmpfile_in_mnt(0, 0644);

	REQUIRE(fd >= 0);
	CHECK_EQ(write(fd, "forgotten", 9), 9);
	CHECK(backing_free_inodes() < free_before); /* the file is real... */
	close(fd);
	CHECK_EQ(backing_entries(), before); /* ...never had a name... */
	/* ...and is gone once the kernel forgets it (FORGET is sent when the
	 * closed inode is evicted: soon, not at once). */
	for (int i = 0; i < 100 && backing_free_inodes() != free_before; i++)
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	CHECK_EQ(backing_free_inodes(), free_before);
}

#define NOBODY 65534

/* Made as the requester: a user's unnamed file, linked by the only way a
 * user has (the /proc link), belongs to that user in the backing dir. */
static void test_owned_by_requester(void)
{
	struct h_pp d, p;
	struct stat st = { 0 };

	CHECK_OK(mkdir(h_pp(&d, "open")->m, 0777));
	h_pp(&p, "open/users-tmp");
	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		char proc[64];
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
			_exit(120);
		int fd = open(d.m, O_TMPFILE | O_WRONLY, 0600);
		if (fd < 0)
			_exit(121);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (write(fd, "mine", 4) != 4 ||
		    linkat(AT_FDCWD, proc, AT_FDCWD, p.m, AT_SYMLINK_FOLLOW) != 0)
			_exit(122);
		_exit(0);
	}
	int status;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	CHECK_OK(stat(p.b, &st));
	CHECK_EQ(st.st_uid, NOBODY);
	CHECK_EQ(st.st_gid, NOBODY);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK(h_content_is(p.b, "mine"));
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 60);
	h_start("allow_other"); /* the user of test_owned_by_requester */
	/* First: it counts the backing fs's free inodes, which the later
	 * tests' closed files change whenever their FORGETs arrive. */
	test_unlinked_leaves_nothing();
	test_linked_by_fd();
	test_linked_by_proc();
	test_excl_never_linked();
	test_owned_by_requester();
	CHECK_EQ(h_stop(), 0);
	return h_finish();
}
