/* tests/vm/guest_io.c - guest_io's entry point (subcommand dispatch), the
 * fill/check pair whose pattern the host verifies, and shared helpers.
 * Built static: the guest has busybox and no libc. */
#include "guest_io.h"
#include "pattern.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

static const char usage[] =
	"usage: guest_io seed PATH [--pages N] [--secs S] [--per-page] [--range BYTES]\n"
	"                 [--marks NAME]\n"
	"       guest_io integrity PATH SIZE SECONDS [SEED]\n"
	"       guest_io fill PATH OFFSET LEN SEED [--chunk BYTES]\n"
	"       guest_io check PATH OFFSET LEN SEED [--chunk BYTES]\n"
	"All I/O is O_DIRECT; offsets and lengths are multiples of 4096.\n";

int gio_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	return 1;
}

int gio_open(const char *path)
{
	int fd = open(path, O_RDWR | O_DIRECT | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		gio_err("open %s: %s\n", path, strerror(errno));
	return fd;
}

uint64_t gio_blk_size(int fd)
{
	struct stat st;
	uint64_t size = 0;
	if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &size) == 0)
		return size;
	return 0;
}

void *gio_alloc(size_t size)
{
	void *p = NULL;
	if (posix_memalign(&p, GIO_PAGE, size ? size : GIO_PAGE) != 0) {
		gio_err("out of memory (%zu bytes)\n", size);
		exit(1);
	}
	memset(p, 0, size);
	return p;
}

uint64_t gio_num(const char *what, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	uint64_t mul = 1;
	switch (*end) {
	case 'K': case 'k': mul = 1ull << 10; end++; break;
	case 'M': case 'm': mul = 1ull << 20; end++; break;
	case 'G': case 'g': mul = 1ull << 30; end++; break;
	}
	if (errno || end == s || *end) {
		gio_err("%s: not a number: %s\n", what, s);
		exit(2);
	}
	return v * mul;
}

double gio_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fill/check PATH OFFSET LEN SEED [--chunk BYTES]: the pattern of SEED over
 * [OFFSET, OFFSET+LEN), written or verified in chunk-sized O_DIRECT calls
 * (default 256 KiB: a request size the tests' statistics keep apart from
 * the seed loop's 4 KiB and 128 KiB). */
static int fill_check(bool fill, int argc, char **argv)
{
	if (argc != 5 && !(argc == 7 && strcmp(argv[5], "--chunk") == 0))
		return gio_err("%s", usage);
	uint64_t off = gio_num("OFFSET", argv[2]), len = gio_num("LEN", argv[3]);
	uint64_t seed = gio_num("SEED", argv[4]);
	uint64_t chunk = argc == 7 ? gio_num("--chunk", argv[6]) : 256u << 10;
	if (off % GIO_PAGE || len % GIO_PAGE || chunk % GIO_PAGE || chunk == 0)
		return gio_err("OFFSET, LEN and --chunk must be multiples of %u\n", GIO_PAGE);
	int fd = gio_open(argv[1]);
	if (fd < 0)
		return 1;
	unsigned char *buf = gio_alloc(chunk);
	for (uint64_t done = 0; done < len;) {
		size_t n = (size_t)(len - done < chunk ? len - done : chunk);
		uint64_t at = off + done;
		ssize_t r;
		if (fill) {
			vm_pat_fill(buf, n, at, seed);
			r = pwrite(fd, buf, n, (off_t)at);
		} else {
			r = pread(fd, buf, n, (off_t)at);
		}
		if (r != (ssize_t)n)
			return gio_err("%s at %llu: %zd of %zu: %s\n", fill ? "pwrite" : "pread",
				       (unsigned long long)at, r, n, r < 0 ? strerror(errno) : "short");
		size_t bad = fill ? n : vm_pat_check(buf, n, at, seed);
		if (bad != n) {
			unsigned char want;
			vm_pat_fill(&want, 1, at + bad, seed);
			printf("MISMATCH off=%llu want=0x%02x got=0x%02x\n",
			       (unsigned long long)(at + bad), want, buf[bad]);
			return 1;
		}
		done += n;
	}
	if (fill && fsync(fd) != 0)
		return gio_err("fsync: %s\n", strerror(errno));
	printf("%s off=%llu len=%llu seed=%llu OK\n", fill ? "fill" : "check",
	       (unsigned long long)off, (unsigned long long)len, (unsigned long long)seed);
	free(buf);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "seed") == 0)
		return gio_seed(argc - 1, argv + 1);
	if (strcmp(cmd, "integrity") == 0)
		return gio_integrity(argc - 1, argv + 1);
	if (strcmp(cmd, "fill") == 0 || strcmp(cmd, "check") == 0)
		return fill_check(cmd[0] == 'f', argc - 1, argv + 1);
	fputs(usage, stderr);
	return 2;
}
