/* tests/examples/test_hello.c - examples/hello (argv[1]) as a user meets it:
 * mounted by the kernel, listed, stat'ed and read through real system calls,
 * refusing writes, unmounted from outside (the daemon then exits 0); then
 * served on a socket and read through the client library. */
#include <dirent.h>
#include <fcntl.h>
#include <sgfuse/client.h>
#include "ex_util.h"

static const char text[] = "Hello from sgfuse\n";
#define TEXT_LEN (sizeof(text) - 1)

static void kernel_mount(void)
{
	char path[PATH_MAX], buf[256];
	struct stat st;
	struct dirent *de;
	bool dot = false, dotdot = false, hello = false;
	int other = 0, fd;
	pid_t pid = ex_mount(NULL);
	DIR *d;

	/* readdir: exactly ".", ".." and "hello". */
	d = opendir(h_mnt());
	REQUIRE(d != NULL);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0)
			dot = true;
		else if (strcmp(de->d_name, "..") == 0)
			dotdot = true;
		else if (strcmp(de->d_name, "hello") == 0)
			hello = de->d_type == DT_REG || de->d_type == DT_UNKNOWN;
		else
			other++, fprintf(stderr, "unexpected entry '%s'\n", de->d_name);
	}
	closedir(d);
	CHECK(dot && dotdot && hello);
	CHECK_EQ(other, 0);

	/* stat */
	CHECK_OK(stat(h_mnt(), &st));
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0555);
	H_PATH(path, h_mnt(), "hello");
	CHECK_OK(stat(path, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0444);
	CHECK_EQ(st.st_size, TEXT_LEN);
	CHECK_EQ(st.st_nlink, 1);
	CHECK_ERR(stat(H_PATH(buf, h_mnt(), "nope"), &st), ENOENT);

	/* read: whole, at an offset, past the end */
	CHECK_EQ(h_read_file(path, buf, sizeof(buf)), TEXT_LEN);
	CHECK(strcmp(buf, text) == 0);
	fd = open(path, O_RDONLY);
	CHECK_OK(fd);
	if (fd >= 0) {
		CHECK_EQ(pread(fd, buf, 6, 6), 6);
		CHECK(memcmp(buf, "from s", 6) == 0);
		CHECK_EQ(pread(fd, buf, sizeof(buf), 100), 0);
		close(fd);
	}

	/* writing: the file refuses it (EACCES: mode 0444, hello's open), and
	 * nothing can be made (no create/mknod/mkdir: the kernel says ENOSYS,
	 * as sgf_main offers no read-only mount) */
	CHECK_ERR(open(path, O_WRONLY), EACCES);
	CHECK_ERR(open(path, O_RDWR), EACCES);
	CHECK_ERR(open(path, O_WRONLY | O_APPEND), EACCES);
	errno = 0;
	fd = open(H_PATH(buf, h_mnt(), "new"), O_WRONLY | O_CREAT, 0644);
	CHECK(fd == -1);
	if (fd == -1)
		printf("create in hello's root: %s\n", strerrorname_np(errno));
	CHECK(errno == EROFS || errno == EACCES || errno == EPERM || errno == ENOSYS);
	errno = 0;
	CHECK(mkdir(H_PATH(buf, h_mnt(), "dir"), 0755) == -1);
	CHECK(errno == EROFS || errno == EACCES || errno == EPERM || errno == ENOSYS);
	CHECK_ERR(stat(H_PATH(buf, h_mnt(), "new"), &st), ENOENT);

	/* Unmounted from outside, the daemon ends with status 0. */
	CHECK_EQ(ex_umount(pid), 0);
	CHECK(!h_fuse_mounted(h_mnt(), NULL, 0));
}

static int list_entry(void *ctx, const struct sgf_dirent *e)
{
	int *seen = ctx;

	if (e->namelen == 1 && memcmp(e->name, ".", 1) == 0)
		seen[0]++;
	else if (e->namelen == 2 && memcmp(e->name, "..", 2) == 0)
		seen[1]++;
	else if (e->namelen == 5 && memcmp(e->name, "hello", 5) == 0 && e->ino == 2)
		seen[2]++;
	else
		seen[3]++;
	return 0;
}

static void socket_client(void)
{
	char sock[PATH_MAX], addr[PATH_MAX + 8], buf[256];
	struct sgf_client *c = NULL;
	struct fuse_entry_out e;
	struct fuse_attr_out a;
	struct sgf_file f, w;
	int seen[4] = { 0 };
	pid_t pid = ex_listen(ex_sock_path(sock, sizeof(sock), "hello"), NULL);

	(void)pid;
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	REQUIRE(sgf_client_connect(addr, NULL, &c) == 0);

	CHECK_EQ(sgf_getattr(c, FUSE_ROOT_ID, &a), 0);
	CHECK(S_ISDIR(a.attr.mode));
	CHECK_EQ(sgf_lookup(c, FUSE_ROOT_ID, "nope", &e), -ENOENT);
	REQUIRE(sgf_lookup(c, FUSE_ROOT_ID, "hello", &e) == 0);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ(e.attr.size, TEXT_LEN);

	REQUIRE(sgf_open(c, e.nodeid, O_RDONLY, &f) == 0);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(sgf_pread(c, &f, buf, sizeof(buf), 0), TEXT_LEN);
	CHECK(memcmp(buf, text, TEXT_LEN) == 0);
	CHECK_EQ(sgf_pread(c, &f, buf, 6, 6), 6);
	CHECK(memcmp(buf, "from s", 6) == 0);
	CHECK_EQ(sgf_pread(c, &f, buf, sizeof(buf), TEXT_LEN), 0);
	CHECK_EQ(sgf_release(c, &f), 0);
	CHECK_EQ(sgf_open(c, e.nodeid, O_WRONLY, &w), -EACCES);
	sgf_forget(c, e.nodeid, 1);

	CHECK_EQ(sgf_list_dir(c, FUSE_ROOT_ID, list_entry, seen), 0);
	CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
	CHECK_EQ(seen[3], 0);

	CHECK_EQ(sgf_client_disconnect(c), 0);
	/* A listening daemon ends on SIGTERM, with status 0. */
	CHECK_EQ(h_stop(), 0);
	CHECK_ERR(access(sock, F_OK), ENOENT);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 100);
	kernel_mount();
	socket_client();
	return h_finish();
}
