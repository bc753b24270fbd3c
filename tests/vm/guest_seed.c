/* tests/vm/guest_seed.c - guest_io seed: the seed's loop inside the guest,
 * O_DIRECT pwritev then preadv of N scattered 4 KiB pages, one call per N
 * pages (or, --per-page, one pwrite/pread per page), every read checked;
 * --marks tells the host on the console where each phase begins and ends. */
#include "guest_io.h"
#include "pattern.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_PAGES 1024
/* After a mark the guest idles this long, so the host (polling the console
 * file every 50 ms) samples the backend's CPU time between two phases, not
 * inside one. */
#define MARK_IDLE_US 250000

struct seed_run {
	int fd;
	unsigned pages;
	bool per_page;
	struct iovec wr[MAX_PAGES], rd[MAX_PAGES];
	uint64_t range;     /* offsets wrap here (a multiple of the call size) */
	uint64_t syscalls;  /* made in the last phase */
	uint64_t bytes;
	double io_secs;     /* time inside the syscalls only, not the checks */
	const char *marks;  /* --marks NAME, else NULL */
};

/* "SGF-VM: MARK NAME WHAT" straight to the console, not through step's
 * output file (the host reads that only after the step), then idle. */
static int mark(const struct seed_run *s, const char *what)
{
	if (!s->marks)
		return 0;
	char line[160];
	int n = snprintf(line, sizeof(line), "SGF-VM: MARK %s %s\n", s->marks, what);
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return gio_err("--marks: open /dev/console: %s\n", strerror(errno));
	ssize_t w = write(fd, line, (size_t)n);
	close(fd);
	if (w != n)
		return gio_err("--marks: write /dev/console: %s\n", w < 0 ? strerror(errno) : "short");
	usleep(MARK_IDLE_US);
	return 0;
}

/* One call's worth: N pages at off, vectored or page by page. */
static int one_call(struct seed_run *s, bool write, uint64_t off)
{
	const struct iovec *iov = write ? s->wr : s->rd;
	size_t total = (size_t)s->pages * GIO_PAGE;
	double t0 = gio_now();
	if (!s->per_page) {
		ssize_t r = write ? pwritev(s->fd, iov, (int)s->pages, (off_t)off)
				  : preadv(s->fd, iov, (int)s->pages, (off_t)off);
		s->syscalls++;
		if (r != (ssize_t)total)
			return gio_err("%s at %llu: %zd of %zu: %s\n", write ? "pwritev" : "preadv",
				       (unsigned long long)off, r, total,
				       r < 0 ? strerror(errno) : "short");
	} else {
		for (unsigned i = 0; i < s->pages; i++) {
			off_t at = (off_t)(off + (uint64_t)i * GIO_PAGE);
			ssize_t r = write ? pwrite(s->fd, iov[i].iov_base, GIO_PAGE, at)
					  : pread(s->fd, iov[i].iov_base, GIO_PAGE, at);
			s->syscalls++;
			if (r != GIO_PAGE)
				return gio_err("%s at %lld: %zd: %s\n", write ? "pwrite" : "pread",
					       (long long)at, r, r < 0 ? strerror(errno) : "short");
		}
	}
	s->io_secs += gio_now() - t0;
	s->bytes += total;
	if (!write) {
		/* Every write stores the same pages, so every read must return
		 * them, whatever its offset. */
		for (unsigned i = 0; i < s->pages; i++)
			if (memcmp(s->rd[i].iov_base, s->wr[i].iov_base, GIO_PAGE) != 0)
				return gio_err("read at %llu: page %u differs from what was written\n",
					       (unsigned long long)off, i);
	}
	return 0;
}

/* Calls for secs seconds (at least one), offsets walking [0, limit). */
static int phase(struct seed_run *s, bool write, double secs, uint64_t limit)
{
	uint64_t per_call = (uint64_t)s->pages * GIO_PAGE, off = 0;
	const char *op = write ? "writev" : "readv";
	char what[32];
	s->syscalls = s->bytes = 0;
	s->io_secs = 0;
	snprintf(what, sizeof(what), "%s-begin", op);
	if (mark(s, what))
		return 1;
	double end = gio_now() + secs;
	do {
		if (one_call(s, write, off))
			return 1;
		off += per_call;
		if (off + per_call > limit)
			off = 0;
	} while (gio_now() < end);
	snprintf(what, sizeof(what), "%s-end", op);
	return mark(s, what);
}

int gio_seed(int argc, char **argv)
{
	static struct seed_run s;
	double secs = 2;
	uint64_t range = 8u << 20;
	s.pages = 32;
	if (argc < 2)
		return gio_err("usage: guest_io seed PATH [--pages N] [--secs S] [--per-page] "
			       "[--range BYTES] [--marks NAME]\n");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--per-page") == 0)
			s.per_page = true;
		else if (strcmp(argv[i], "--pages") == 0 && i + 1 < argc)
			s.pages = (unsigned)gio_num("--pages", argv[++i]);
		else if (strcmp(argv[i], "--secs") == 0 && i + 1 < argc)
			secs = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--range") == 0 && i + 1 < argc)
			range = gio_num("--range", argv[++i]);
		else if (strcmp(argv[i], "--marks") == 0 && i + 1 < argc)
			s.marks = argv[++i];
		else
			return gio_err("seed: unknown argument %s\n", argv[i]);
	}
	if (s.pages == 0 || s.pages > MAX_PAGES)
		return gio_err("seed: --pages must be 1-%d\n", MAX_PAGES);
	s.fd = gio_open(argv[1]);
	if (s.fd < 0)
		return 1;
	uint64_t per_call = (uint64_t)s.pages * GIO_PAGE, dev = gio_blk_size(s.fd);
	if (dev && dev < range)
		range = dev; /* a block device smaller than the range */
	s.range = range - range % per_call;
	if (s.range == 0)
		return gio_err("seed: range %llu is below one call (%llu bytes)\n",
			       (unsigned long long)range, (unsigned long long)per_call);

	/* Every other page of an arena: scattered buffers, as the seed's. */
	unsigned char *w = gio_alloc((size_t)s.pages * 2 * GIO_PAGE);
	unsigned char *r = gio_alloc((size_t)s.pages * 2 * GIO_PAGE);
	for (unsigned i = 0; i < s.pages; i++) {
		s.wr[i] = (struct iovec){ w + (size_t)i * 2 * GIO_PAGE, GIO_PAGE };
		s.rd[i] = (struct iovec){ r + (size_t)i * 2 * GIO_PAGE, GIO_PAGE };
		vm_pat_fill(s.wr[i].iov_base, GIO_PAGE, (uint64_t)i * GIO_PAGE, 1);
	}

	if (phase(&s, true, secs, s.range))
		return 1;
	double wmbps = (double)s.bytes / s.io_secs / 1e6;
	uint64_t writes = s.syscalls, wbytes = s.bytes, wcalls = s.bytes / per_call;
	/* Reads only where the writes reached. */
	uint64_t reached = wcalls * per_call < s.range ? wcalls * per_call : s.range;
	if (phase(&s, false, secs, reached))
		return 1;
	double rmbps = (double)s.bytes / s.io_secs / 1e6;
	printf("seed pages=%u per_page=%d size=%u writes=%llu reads=%llu writev_mbps=%.1f "
	       "readv_mbps=%.1f writev_bytes=%llu readv_bytes=%llu\n", s.pages,
	       s.per_page ? 1 : 0, s.per_page ? GIO_PAGE : (unsigned)per_call,
	       (unsigned long long)writes, (unsigned long long)s.syscalls, wmbps, rmbps,
	       (unsigned long long)wbytes, (unsigned long long)s.bytes);
	close(s.fd);
	return 0;
}
