/* tests/mounted/test_passthrough.c - FUSE passthrough (-o passthrough) on a
 * real mount: READ and WRITE of passed-through files never reach the daemon
 * (buffered and O_DIRECT), the data is the backing file's byte for byte,
 * opens of one inode share one backing file, a file the kernel refuses
 * (on an overlayfs: stacked too deep) is served by requests and counted as
 * a fallback, and 10,000 open/close cycles leave no backing file behind.
 * Skips (77) when the kernel or the daemon's privileges give no
 * passthrough. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"

#define SIZE (1u << 20)
#define CYCLES 10000

static char stats[65536];
static unsigned char *buf, *back;

static uint64_t stat_of(const char *name)
{
	if (h_stats(stats, sizeof(stats)) != 0) {
		h_fail(__FILE__, __LINE__, "reading stats");
		return 0;
	}
	return h_stat_count(stats, name);
}

static uint64_t requests(const char *op)
{
	if (h_stats(stats, sizeof(stats)) != 0)
		return UINT64_MAX;
	return h_stat_op(stats, op, "count");
}

static int daemon_fds(void)
{
	char path[64];
	int n = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)h_daemon_pid());
	DIR *d = opendir(path);
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* close() returns before the kernel's RELEASE reaches the daemon (it is a
 * background request), so fd counts are read once they stop moving: the
 * count after it stayed the same for 100 ms (at most 5 s), or, given a
 * wanted count, as soon as it is reached. */
static int settled_fds(int want)
{
	int last = daemon_fds(), same_ms = 0;

	for (int ms = 0; ms < 5000 && last != want; ms += 10) {
		struct timespec t = { 0, 10 * 1000 * 1000 };
		nanosleep(&t, NULL);
		int n = daemon_fds();
		same_ms = n == last ? same_ms + 10 : 0;
		last = n;
		if (want < 0 && same_ms >= 100)
			break;
	}
	return last;
}

/* Files the kernel has allocated, system-wide (first field of file-nr). */
static long kernel_files(void)
{
	char text[128];
	if (h_read_file("/proc/sys/fs/file-nr", text, sizeof(text)) <= 0)
		return -1;
	return strtol(text, NULL, 10);
}

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 131 + (i >> 12));
}

/* The backing file holds exactly what was written through the mount. */
static void check_backing(const char *name, const unsigned char *want, size_t n)
{
	char path[4096];
	int fd = open(H_PATH(path, h_backing(), name), O_RDONLY);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(pread(fd, back, n, 0), n);
	if (memcmp(back, want, n) != 0)
		h_fail(__FILE__, __LINE__, "%s: backing file differs from what was written", name);
	close(fd);
}

/* Write and read SIZE bytes through the mount with open flags extra. */
static void io_case(const char *name, int extra, unsigned seed)
{
	char path[4096];
	uint64_t pt0 = stat_of("passthrough");
	uint64_t r0 = requests("READ"), w0 = requests("WRITE");
	int fd = open(H_PATH(path, h_mnt(), name), O_CREAT | O_RDWR | extra, 0644);

	REQUIRE(fd >= 0);
	pattern(buf, SIZE, seed);
	CHECK_EQ(pwrite(fd, buf, SIZE, 0), SIZE);
	CHECK_OK(fsync(fd));
	check_backing(name, buf, SIZE);
	memset(buf, 0, SIZE);
	CHECK_EQ(pread(fd, buf, SIZE, 0), SIZE);
	pattern(back, SIZE, seed);
	if (memcmp(buf, back, SIZE) != 0)
		h_fail(__FILE__, __LINE__, "%s: read back differs", name);
	/* Setattr still comes to the daemon and lands on the backing file. */
	CHECK_OK(ftruncate(fd, SIZE / 2));
	struct stat st;
	CHECK_OK(stat(H_PATH(path, h_backing(), name), &st));
	CHECK_EQ(st.st_size, SIZE / 2);
	CHECK_EQ(pread(fd, buf, SIZE, 0), SIZE / 2);
	CHECK_EQ(requests("READ"), r0);
	CHECK_EQ(requests("WRITE"), w0);
	CHECK_EQ(stat_of("passthrough"), pt0 + 1);
	close(fd);
}

/* Opens of one inode share one backing file: three opens at once cost the
 * daemon three handle fds and one backing fd, and all are passed through. */
static void shared_case(void)
{
	char path[4096];
	int fds[3];
	const int modes[3] = { O_RDONLY, O_WRONLY, O_RDWR | O_DIRECT };

	H_PATH(path, h_mnt(), "shared");
	REQUIRE(h_write_file(path, "shared data\n", 12) == 0);
	int base = settled_fds(-1); /* the node's own O_PATH fd is in it now */
	uint64_t pt0 = stat_of("passthrough");
	for (int i = 0; i < 3; i++) {
		fds[i] = open(path, modes[i]);
		CHECK(fds[i] >= 0);
	}
	CHECK_EQ(settled_fds(base + 3 + 1), base + 3 + 1);
	CHECK_EQ(stat_of("passthrough"), pt0 + 3);
	CHECK_EQ(pwrite(fds[1], "SHARED", 6, 0), 6);
	CHECK_EQ(pread(fds[0], buf, 12, 0), 12);
	CHECK(memcmp(buf, "SHARED data\n", 12) == 0);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	CHECK_EQ(settled_fds(base), base);
}

/* No backing file outlives its opens: the daemon's fds and the kernel's
 * open files stay flat over many cycles. */
static void leak_case(void)
{
	char path[4096];
	H_PATH(path, h_mnt(), "cycled");
	REQUIRE(h_write_file(path, "x", 1) == 0);
	int fd = open(path, O_RDONLY); /* warm the dentry and inode */
	CHECK(fd >= 0);
	close(fd);
	int fds0 = settled_fds(-1);
	long files0 = kernel_files();
	uint64_t pt0 = stat_of("passthrough");
	for (int i = 0; i < CYCLES; i++) {
		fd = open(path, i % 2 ? O_RDWR : O_RDONLY);
		if (fd < 0) {
			h_fail(__FILE__, __LINE__, "cycle %d: open: %s", i, strerror(errno));
			break;
		}
		close(fd);
	}
	CHECK_EQ(stat_of("passthrough"), pt0 + CYCLES);
	CHECK_EQ(settled_fds(fds0), fds0);
	/* Each leaked id would pin one file in the kernel; other processes
	 * open and close files meanwhile, hence the slack. */
	long files1 = kernel_files();
	if (files0 >= 0 && files1 - files0 > CYCLES / 10)
		h_fail(__FILE__, __LINE__, "kernel open files grew by %ld over %d cycles",
		       files1 - files0, CYCLES);
}

/* An overlayfs inside the backing directory: its files stack one level
 * deep, more than the max_stack_depth of 1 we announce, so the kernel
 * refuses them as backing files and they are served by requests. */
static bool mount_overlay(char *ovl, size_t size)
{
	char lower[4096], upper[4096], work[4096], opts[3 * 4096 + 64];
	H_PATH(lower, h_root(), "ovl-lower");
	H_PATH(upper, h_root(), "ovl-upper");
	H_PATH(work, h_root(), "ovl-work");
	h_join(ovl, size, h_backing(), "ovl");
	if (mkdir(lower, 0755) || mkdir(upper, 0755) || mkdir(work, 0755) || mkdir(ovl, 0755))
		return false;
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
	if (mount("overlay", ovl, "overlay", 0, opts) != 0) {
		printf("note: no overlayfs (%s): fallback case skipped\n", strerror(errno));
		return false;
	}
	return true;
}

static void fallback_case(void)
{
	char path[4096];
	uint64_t fb0 = stat_of("passthrough_fallback"), pt0 = stat_of("passthrough");
	uint64_t w0 = requests("WRITE"), r0 = requests("READ");
	int fd = open(H_PATH(path, h_mnt(), "ovl/stacked"), O_CREAT | O_RDWR, 0644);

	REQUIRE(fd >= 0);
	pattern(buf, SIZE, 7);
	CHECK_EQ(pwrite(fd, buf, SIZE, 0), SIZE);
	CHECK_OK(fsync(fd));
	/* A second open of the same inode is served the same way. */
	int fd2 = open(path, O_RDONLY | O_DIRECT);
	CHECK(fd2 >= 0);
	memset(buf, 0, SIZE);
	CHECK_EQ(pread(fd2, buf, SIZE, 0), SIZE);
	pattern(back, SIZE, 7);
	CHECK(memcmp(buf, back, SIZE) == 0);
	check_backing("ovl/stacked", back, SIZE);
	CHECK_EQ(stat_of("passthrough_fallback"), fb0 + 2);
	CHECK_EQ(stat_of("passthrough"), pt0);
	CHECK(requests("WRITE") > w0);
	CHECK(requests("READ") > r0);
	close(fd2);
	close(fd);
}

/* With xattr=off the daemon answers xattr requests ENOSYS and the kernel
 * sends no more; passed-through writes stay in the kernel (with or without
 * xattrs: the daemon's FUSE_HANDLE_KILLPRIV_V2 spares them the kernel's
 * security.capability look-up). */
static void no_xattr_case(void)
{
	char path[4096];
	int fd = open(H_PATH(path, h_mnt(), "noxattr"), O_CREAT | O_RDWR | O_DIRECT, 0644);

	REQUIRE(fd >= 0);
	pattern(buf, SIZE, 9);
	uint64_t g0 = requests("GETXATTR");
	for (int i = 0; i < 100; i++)
		CHECK_EQ(pwrite(fd, buf, SIZE, 0), SIZE);
	CHECK(requests("GETXATTR") - g0 <= 1);
	CHECK_EQ(requests("WRITE"), 0);
	check_backing("noxattr", buf, SIZE);
	CHECK_ERR(fsetxattr(fd, "user.x", "1", 1, 0), EOPNOTSUPP);
	CHECK_ERR(fgetxattr(fd, "user.x", path, sizeof(path)), EOPNOTSUPP);
	close(fd);
}

int main(int argc, char **argv)
{
	char path[4096], ovl[4096];
	h_init(argc, argv, 100);
	REQUIRE(posix_memalign((void **)&buf, 4096, SIZE) == 0);
	REQUIRE(posix_memalign((void **)&back, 4096, SIZE) == 0);
	bool overlay = mount_overlay(ovl, sizeof(ovl));

	h_start("passthrough");
	int fd = open(H_PATH(path, h_mnt(), "probe"), O_CREAT | O_RDWR, 0644);
	REQUIRE(fd >= 0);
	close(fd);
	if (stat_of("passthrough") == 0) {
		printf("SKIP: no passthrough (%s)\n",
		       stat_of("passthrough_fallback")
			       ? "the daemon could not register a backing file: CAP_SYS_ADMIN?"
			       : "the kernel did not offer FUSE_PASSTHROUGH at INIT");
		h_stop();
		if (overlay)
			umount2(ovl, MNT_DETACH);
		h_finish();
		return H_EXIT_SKIP;
	}
	io_case("buffered", 0, 1);
	io_case("direct", O_DIRECT, 2);
	shared_case();
	if (overlay)
		fallback_case();
	leak_case();
	CHECK_EQ(h_stop(), 0);
	h_start("passthrough,xattr=off");
	no_xattr_case();
	CHECK_EQ(h_stop(), 0);
	if (overlay)
		CHECK_OK(umount2(ovl, MNT_DETACH));
	free(buf);
	free(back);
	return h_finish();
}
