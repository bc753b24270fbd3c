/* tests/mounted/test_dio_mmap.c - a file opened with O_DIRECT (answered
 * FOPEN_DIRECT_IO) can also be mapped MAP_SHARED through the mount, and the
 * mapping and the direct I/O see each other's writes as far as the kernel
 * promises with FUSE_DIRECT_IO_ALLOW_MMAP: a direct write drops the cached
 * pages of its range (the mapping shows it at once), a store into the
 * mapping reaches the file once msync'd. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "harness.h"

#define PAGE 4096
#define LEN (2 * PAGE)

static bool all_are(const char *p, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return false;
	return true;
}

/* One byte of the backing file, read beside the mount (no cache of ours). */
static int backing_byte(const char *path, off_t off)
{
	char c;
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : pread(fd, &c, 1, off);

	if (fd >= 0)
		close(fd);
	return n == 1 ? c : -1;
}

static void test_shared_map_of_direct_open(void)
{
	char m[4096], b[4096];
	char *buf, *map;
	int fd;

	H_PATH(m, h_mnt(), "dio-mapped");
	H_PATH(b, h_backing(), "dio-mapped");
	REQUIRE(posix_memalign((void **)&buf, PAGE, LEN) == 0);
	fd = open(m, O_RDWR | O_CREAT | O_DIRECT, 0644);
	REQUIRE(fd >= 0);
	memset(buf, 'a', LEN);
	CHECK_EQ(pwrite(fd, buf, LEN, 0), LEN);

	/* The refusal this is about: ENODEV without ALLOW_MMAP. */
	map = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		h_fail(__FILE__, __LINE__, "mmap(MAP_SHARED) of an O_DIRECT open: %s",
		       strerror(errno));
	REQUIRE(map != MAP_FAILED);
	CHECK(all_are(map, LEN, 'a'));

	/* Mapping -> direct I/O: a store is in the file after msync. */
	map[0] = 'M';
	map[PAGE + 1] = 'N';
	CHECK_OK(msync(map, LEN, MS_SYNC));
	memset(buf, 0, LEN);
	CHECK_EQ(pread(fd, buf, LEN, 0), LEN);
	CHECK_EQ(buf[0], 'M');
	CHECK_EQ(buf[PAGE + 1], 'N');
	CHECK(all_are(buf + 1, PAGE, 'a')); /* 1 .. PAGE: untouched */
	CHECK_EQ(backing_byte(b, 0), 'M');
	CHECK_EQ(backing_byte(b, PAGE + 1), 'N');

	/* Direct I/O -> mapping: a direct write is seen through the mapping
	 * at once (its cached page was dropped), the other page keeps the
	 * mapped store. */
	memset(buf, 'd', PAGE);
	CHECK_EQ(pwrite(fd, buf, PAGE, 0), PAGE);
	CHECK(all_are(map, PAGE, 'd'));
	CHECK_EQ(map[PAGE + 1], 'N');
	CHECK_EQ(backing_byte(b, 0), 'd');

	/* Another O_DIRECT open of the same file sees the same. */
	int fd2 = open(m, O_RDONLY | O_DIRECT);
	CHECK(fd2 >= 0);
	memset(buf, 0, LEN);
	CHECK_EQ(pread(fd2, buf, LEN, 0), LEN);
	CHECK(all_are(buf, PAGE, 'd'));
	CHECK_EQ(buf[PAGE + 1], 'N');
	close(fd2);

	CHECK_OK(munmap(map, LEN));
	close(fd);
	free(buf);
}

/* MAP_PRIVATE of an O_DIRECT open worked before and still does: a private
 * store never reaches the file. */
static void test_private_map_of_direct_open(void)
{
	char m[4096], b[4096];
	int fd;

	H_PATH(m, h_mnt(), "dio-private");
	H_PATH(b, h_backing(), "dio-private");
	REQUIRE(h_write_file(b, "pppp", 4) == 0);
	fd = open(m, O_RDWR | O_DIRECT);
	REQUIRE(fd >= 0);
	char *map = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(map != MAP_FAILED);
	if (map != MAP_FAILED) {
		CHECK_EQ(map[0], 'p');
		map[0] = 'X';
		CHECK_OK(munmap(map, PAGE));
	}
	close(fd);
	CHECK_EQ(backing_byte(b, 0), 'p');
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 60);
	h_start("");
	test_shared_map_of_direct_open();
	test_private_map_of_direct_open();
	CHECK_EQ(h_stop(), 0);
	return h_finish();
}
