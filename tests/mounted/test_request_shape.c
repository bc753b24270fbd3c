/* tests/mounted/test_request_shape.c - the seed's observation as a test: a
 * vectored O_DIRECT call crosses the protocol in as few requests as the
 * limits allow, counted by the daemon's statistics around each call. Under
 * $SGF_TEST_OPTS passthrough none crosses it: the kernel does the I/O on
 * the backing file, and the daemon counts no READ or WRITE at all. In the
 * harness's Ceph mode every READ and WRITE must also be exactly one
 * ceph_ll_readv / ceph_ll_writev (sgfuse-ceph's counters). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "harness.h"

#define PAGE 4096u
#define ARENA_SIZE (8u << 20)
#define MAX_IOV 1024

enum layout { PAGES_32x4K, SEGS_300x100, BIG_4M_OFF100 };

/* Up to four (size, count) groups of requests. */
struct expect {
	struct { uint64_t size, count; } g[4];
};

struct shape_case {
	const char *opts;
	enum layout layout;
	struct expect write, read;
};

/* The kernel's shapes (seen on Linux 6.18, max_pages 256, 1 MiB):
 * 32 x 4 KiB pages -> 1 x 131072; 300 x 100 bytes one a page -> 25600 + 4400;
 * 4 MiB at page offset 100 -> 1048476, 3 x 1 MiB, 100; and the byte limits. */
static const struct shape_case cases[] = {
	{ "", PAGES_32x4K, { { { 131072, 1 } } }, { { { 131072, 1 } } } },
	{ "", SEGS_300x100, { { { 25600, 1 }, { 4400, 1 } } },
	  { { { 25600, 1 }, { 4400, 1 } } } },
	{ "", BIG_4M_OFF100, { { { 1048476, 1 }, { 1048576, 3 }, { 100, 1 } } },
	  { { { 1048476, 1 }, { 1048576, 3 }, { 100, 1 } } } },
	{ "max_pages=1", PAGES_32x4K, { { { 4096, 32 } } }, { { { 4096, 32 } } } },
	{ "max_pages=1", SEGS_300x100, { { { 100, 300 } } }, { { { 100, 300 } } } },
	{ "max_write=65536", PAGES_32x4K, { { { 65536, 2 } } }, { { { 65536, 2 } } } },
	{ "max_read=16384", PAGES_32x4K, { { { 131072, 1 } } }, { { { 16384, 8 } } } },
};

static char stats_text[65536];
static unsigned char *arena;
static bool passthrough; /* the daemon passes our file through */
static const struct expect no_requests;

/* Smallest size of the histogram bucket holding size (the format's LOW). */
static uint64_t bucket_low(uint64_t size)
{
	uint64_t low = 1;
	if (size == 0)
		return 0;
	while (low <= size / 2)
		low *= 2;
	return low;
}

struct snap {
	uint64_t count, bytes, hist[4];
	uint64_t uring; /* requests taken from io_uring ring entries */
};

static struct snap snap(const char *op, const struct expect *e)
{
	struct snap s;
	memset(&s, 0, sizeof(s));
	int err = h_stats(stats_text, sizeof(stats_text));
	if (err) {
		h_fail(__FILE__, __LINE__, "reading stats: %s", strerror(-err));
		return s;
	}
	s.count = h_stat_op(stats_text, op, "count");
	s.bytes = h_stat_op(stats_text, op, "bytes");
	const char *u = strstr(stats_text, "\nuring ");
	s.uring = u ? strtoull(u + 7, NULL, 10) : 0;
	for (int i = 0; i < 4 && e->g[i].count; i++)
		s.hist[i] = h_stat_hist(stats_text, op, bucket_low(e->g[i].size));
	return s;
}

static void check_delta(const char *op, const struct expect *e, const struct snap *a,
			const struct snap *b, uint64_t total, const char *opts)
{
	uint64_t count = 0;
	for (int i = 0; i < 4 && e->g[i].count; i++) {
		count += e->g[i].count;
		/* Groups sharing a bucket are summed. */
		uint64_t want = 0, low = bucket_low(e->g[i].size);
		for (int j = 0; j < 4 && e->g[j].count; j++)
			if (bucket_low(e->g[j].size) == low)
				want += e->g[j].count;
		if (b->hist[i] - a->hist[i] != want)
			h_fail(__FILE__, __LINE__, "[%s] %s: hist bucket %llu grew by %llu, want %llu",
			       opts, op, (unsigned long long)low,
			       (unsigned long long)(b->hist[i] - a->hist[i]),
			       (unsigned long long)want);
	}
	if (b->count - a->count != count)
		h_fail(__FILE__, __LINE__, "[%s] %s: %llu requests, want %llu", opts, op,
		       (unsigned long long)(b->count - a->count), (unsigned long long)count);
	/* With io_uring every one of them came through a ring entry. */
	if (h_uring() && b->uring - a->uring < count)
		h_fail(__FILE__, __LINE__, "[%s] %s: %llu requests through the ring, want >= %llu",
		       opts, op, (unsigned long long)(b->uring - a->uring),
		       (unsigned long long)count);
	if (b->bytes - a->bytes != total)
		h_fail(__FILE__, __LINE__, "[%s] %s: %llu bytes, want %llu", opts, op,
		       (unsigned long long)(b->bytes - a->bytes), (unsigned long long)total);
}

static int make_iov(enum layout l, struct iovec *iov)
{
	switch (l) {
	case PAGES_32x4K: /* every other page: scattered, page-aligned */
		for (int i = 0; i < 32; i++)
			iov[i] = (struct iovec){ arena + (size_t)i * 2 * PAGE, PAGE };
		return 32;
	case SEGS_300x100: /* 100 bytes at the start of each of 300 pages */
		for (int i = 0; i < 300; i++)
			iov[i] = (struct iovec){ arena + (size_t)i * PAGE, 100 };
		return 300;
	case BIG_4M_OFF100:
		iov[0] = (struct iovec){ arena + 100, 4u << 20 };
		return 1;
	}
	return 0;
}

static void fill(const struct iovec *iov, int n, unsigned seed)
{
	for (int i = 0; i < n; i++) {
		unsigned char *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j++)
			p[j] = (unsigned char)(seed + i * 31 + j * 7);
	}
}

static bool same(const struct iovec *iov, int n, unsigned seed)
{
	for (int i = 0; i < n; i++) {
		const unsigned char *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j++)
			if (p[j] != (unsigned char)(seed + i * 31 + j * 7))
				return false;
	}
	return true;
}

/* Requests of op and Ceph calls of call so far (Ceph mode). */
struct ceph_calls {
	uint64_t requests, calls;
};

static struct ceph_calls ceph_calls(const char *op, const char *call)
{
	struct ceph_calls n = { 0, 0 };
	if (!h_ceph())
		return n;
	REQUIRE(h_stats(stats_text, sizeof(stats_text)) == 0);
	n.requests = h_stat_op(stats_text, op, "count");
	n.calls = h_stat_count(stats_text, call);
	return n;
}

/* One Ceph call per request, no more (no split), no fewer (no merge). */
static void check_calls(const char *call, struct ceph_calls a, struct ceph_calls b,
			const char *opts)
{
	if (h_ceph() && b.requests == a.requests)
		h_fail(__FILE__, __LINE__, "[%s] no request to count %s against", opts, call);
	if (h_ceph() && b.calls - a.calls != b.requests - a.requests)
		h_fail(__FILE__, __LINE__, "[%s] %llu requests made %llu %s calls", opts,
		       (unsigned long long)(b.requests - a.requests),
		       (unsigned long long)(b.calls - a.calls), call);
}

static void run_case(const struct shape_case *c, int fd, unsigned seed)
{
	struct iovec iov[MAX_IOV];
	int n = make_iov(c->layout, iov);
	uint64_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;

	const struct expect *we = passthrough ? &no_requests : &c->write;
	const struct expect *re = passthrough ? &no_requests : &c->read;
	uint64_t crossing = passthrough ? 0 : total;

	fill(iov, n, seed);
	struct ceph_calls cw0 = ceph_calls("WRITE", "ceph_ll_writev");
	struct snap w0 = snap("WRITE", we);
	CHECK_EQ(pwritev(fd, iov, n, 0), total);
	struct snap w1 = snap("WRITE", we);
	check_delta("WRITE", we, &w0, &w1, crossing, c->opts);
	check_calls("ceph_ll_writev", cw0, ceph_calls("WRITE", "ceph_ll_writev"), c->opts);

	for (int i = 0; i < n; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
	struct ceph_calls cr0 = ceph_calls("READ", "ceph_ll_readv");
	struct snap r0 = snap("READ", re);
	CHECK_EQ(preadv(fd, iov, n, 0), total);
	struct snap r1 = snap("READ", re);
	check_delta("READ", re, &r0, &r1, crossing, c->opts);
	check_calls("ceph_ll_readv", cr0, ceph_calls("READ", "ceph_ll_readv"), c->opts);
	if (!same(iov, n, seed))
		h_fail(__FILE__, __LINE__, "[%s] data read back differs", c->opts);
}

int main(int argc, char **argv)
{
	char path[4096];
	h_init(argc, argv, 110);
	REQUIRE(posix_memalign((void **)&arena, PAGE, ARENA_SIZE) == 0);
	H_PATH(path, h_mnt(), "shape.dat");
	const char *running = NULL;
	int fd = -1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct shape_case *c = &cases[i];
		/* One daemon per distinct option string. */
		if (!running || strcmp(running, c->opts) != 0) {
			if (running) {
				close(fd);
				CHECK_EQ(h_stop(), 0);
			}
			printf("-- options \"%s\"\n", c->opts);
			h_start(c->opts);
			running = c->opts;
			fd = open(path, O_CREAT | O_RDWR | O_DIRECT, 0644);
			REQUIRE(fd >= 0);
			if (h_opts_have("passthrough")) {
				REQUIRE(h_stats(stats_text, sizeof(stats_text)) == 0);
				passthrough = h_stat_count(stats_text, "passthrough") > 0;
				if (!passthrough) {
					printf("SKIP: the kernel did not take passthrough\n");
					close(fd);
					h_stop();
					h_finish();
					return H_EXIT_SKIP;
				}
			}
		}
		bool failed_before = h_failed();
		run_case(c, fd, (unsigned)i * 13 + 1);
		if (h_failed() && !failed_before)
			fprintf(stderr, "stats after case %zu:\n%s", i, stats_text);
	}
	close(fd);
	CHECK_EQ(h_stop(), 0);
	free(arena);
	return h_finish();
}
