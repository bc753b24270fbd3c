/* tests/vm/guest_integrity.c - guest_io integrity: random O_DIRECT
 * preadv/pwritev (page-aligned offsets, 1-64 segments of 1-4 pages) against
 * an in-memory model of the region; every read and a final sweep checked. */
#include "guest_io.h"
#include "pattern.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_SEGS 64
#define MAX_SEG_PAGES 4
/* Room for every segment plus a gap page after each, so no two segments
 * are adjacent in memory and the kernel has to walk the vector. */
#define ARENA ((size_t)MAX_SEGS * (MAX_SEG_PAGES + 1) * GIO_PAGE)

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The first byte where buf differs from the model at off; prints it. */
static int compare(const unsigned char *buf, const unsigned char *model, size_t len,
		   uint64_t off, uint64_t op)
{
	if (memcmp(buf, model, len) == 0)
		return 0;
	size_t i = 0;
	while (buf[i] == model[i])
		i++;
	printf("MISMATCH op=%llu off=%llu want=0x%02x got=0x%02x\n", (unsigned long long)op,
	       (unsigned long long)(off + i), model[i], buf[i]);
	return 1;
}

/* The whole region in 1 MiB calls: written from the model at the start,
 * read back and compared at the end. */
static int sweep(int fd, unsigned char *model, uint64_t size, bool write, unsigned char *buf)
{
	for (uint64_t off = 0; off < size; off += 1u << 20) {
		size_t n = (size_t)(size - off < (1u << 20) ? size - off : 1u << 20);
		ssize_t r = write ? pwrite(fd, model + off, n, (off_t)off)
				  : pread(fd, buf, n, (off_t)off);
		if (r != (ssize_t)n)
			return gio_err("sweep %s at %llu: %zd: %s\n", write ? "write" : "read",
				       (unsigned long long)off, r, r < 0 ? strerror(errno) : "short");
		if (!write && compare(buf, model + off, n, off, 0))
			return 1;
	}
	return 0;
}

int gio_integrity(int argc, char **argv)
{
	if (argc != 4 && argc != 5)
		return gio_err("usage: guest_io integrity PATH SIZE SECONDS [SEED]\n");
	uint64_t size = gio_num("SIZE", argv[2]);
	double secs = strtod(argv[3], NULL);
	rng = argc == 5 ? gio_num("SEED", argv[4]) : 1;
	rng = vm_pat_word(rng, 0) | 1; /* xorshift must not start at 0 */
	if (size < 2 * MAX_SEG_PAGES * GIO_PAGE || size % GIO_PAGE)
		return gio_err("SIZE must be a multiple of %u, at least %u\n", GIO_PAGE,
			       2 * MAX_SEG_PAGES * GIO_PAGE);
	int fd = gio_open(argv[1]);
	if (fd < 0)
		return 1;
	uint64_t dev = gio_blk_size(fd);
	if (dev && dev < size)
		return gio_err("SIZE %llu is larger than the device (%llu)\n",
			       (unsigned long long)size, (unsigned long long)dev);
	/* Page-aligned, so the initial sweep can write from it directly. */
	unsigned char *model = gio_alloc((size_t)size), *arena = gio_alloc(ARENA);
	vm_pat_fill(model, (size_t)size, 0, rng);
	if (sweep(fd, model, size, true, NULL))
		return 1;

	uint64_t ops = 0, writes = 0, bytes = 0;
	double end = gio_now() + secs;
	while (gio_now() < end) {
		struct iovec iov[MAX_SEGS];
		int n = 1 + (int)(next() % MAX_SEGS);
		size_t total = 0, at = 0;
		for (int i = 0; i < n; i++) {
			size_t len = (1 + next() % MAX_SEG_PAGES) * GIO_PAGE;
			iov[i] = (struct iovec){ arena + at, len };
			at += len + GIO_PAGE;
			total += len;
		}
		uint64_t pages = (size - total) / GIO_PAGE + 1;
		uint64_t off = (next() % pages) * GIO_PAGE;
		bool write = next() & 1;
		ops++;
		if (write) {
			for (int i = 0; i < n; i++)
				for (size_t j = 0; j < iov[i].iov_len; j += 8) {
					uint64_t v = next();
					memcpy((unsigned char *)iov[i].iov_base + j, &v, 8);
				}
		}
		ssize_t r = write ? pwritev(fd, iov, n, (off_t)off) : preadv(fd, iov, n, (off_t)off);
		if (r != (ssize_t)total)
			return gio_err("op %llu: %s of %d segments, %zu bytes at %llu: %zd: %s\n",
				       (unsigned long long)ops, write ? "pwritev" : "preadv", n, total,
				       (unsigned long long)off, r, r < 0 ? strerror(errno) : "short");
		uint64_t pos = off;
		for (int i = 0; i < n; i++) {
			if (write)
				memcpy(model + pos, iov[i].iov_base, iov[i].iov_len);
			else if (compare(iov[i].iov_base, model + pos, iov[i].iov_len, pos, ops))
				return 1;
			pos += iov[i].iov_len;
		}
		writes += write;
		bytes += total;
	}
	if (sweep(fd, model, size, false, arena))
		return gio_err("integrity: the final sweep failed after %llu ops\n",
			       (unsigned long long)ops);
	printf("integrity size=%llu ops=%llu writes=%llu reads=%llu bytes=%llu OK\n",
	       (unsigned long long)size, (unsigned long long)ops, (unsigned long long)writes,
	       (unsigned long long)(ops - writes), (unsigned long long)bytes);
	close(fd);
	return 0;
}
