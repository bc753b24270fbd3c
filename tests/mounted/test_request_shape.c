/* tests/mounted/test_request_shape.c - the seed's observation as a test: one
 * O_DIRECT pwritev/preadv of 32 separate 4 KiB pages becomes exactly one
 * WRITE/READ of 131072 bytes with the default limits, and 32 requests of
 * 4096 bytes with -o max_pages=1. Counted by the daemon's own statistics. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "harness.h"

#define SEGS 32
#define SEG 4096

struct snap {
	uint64_t count, bytes, hist_4k, hist_128k;
};

static char stats_text[65536];

static struct snap snap(const char *op)
{
	struct snap s = { 0, 0, 0, 0 };
	int err = h_stats(stats_text, sizeof(stats_text));
	if (err) {
		h_fail(__FILE__, __LINE__, "reading stats: %s", strerror(-err));
		return s;
	}
	s.count = h_stat_op(stats_text, op, "count");
	s.bytes = h_stat_op(stats_text, op, "bytes");
	s.hist_4k = h_stat_hist(stats_text, op, 4096);
	s.hist_128k = h_stat_hist(stats_text, op, 131072);
	return s;
}

/* 32 pages, every other page of the arena: scattered, page-aligned. */
static void make_iov(unsigned char *arena, struct iovec *iov)
{
	for (int i = 0; i < SEGS; i++) {
		iov[i].iov_base = arena + (size_t)i * 2 * SEG;
		iov[i].iov_len = SEG;
	}
}

static void run(const char *opts, uint64_t want_requests, uint64_t want_size, unsigned char tag)
{
	char path[4096];
	unsigned char *arena;
	struct iovec iov[SEGS];
	printf("-- options \"%s\": expect %llu request(s) of %llu bytes\n", opts,
	       (unsigned long long)want_requests, (unsigned long long)want_size);
	h_start(opts);
	REQUIRE(posix_memalign((void **)&arena, SEG, (size_t)2 * SEGS * SEG) == 0);
	make_iov(arena, iov);
	for (int i = 0; i < SEGS; i++)
		memset(iov[i].iov_base, tag + i, SEG);

	int fd = open(H_PATH(path, h_mnt(), "shape.dat"), O_CREAT | O_RDWR | O_DIRECT, 0644);
	REQUIRE(fd >= 0);

	struct snap w0 = snap("WRITE");
	CHECK_EQ(pwritev(fd, iov, SEGS, 0), SEGS * SEG);
	struct snap w1 = snap("WRITE");
	CHECK_EQ(w1.count - w0.count, want_requests);
	CHECK_EQ(w1.bytes - w0.bytes, SEGS * SEG);
	CHECK_EQ((want_size == 4096 ? w1.hist_4k - w0.hist_4k : w1.hist_128k - w0.hist_128k),
		 want_requests);

	for (int i = 0; i < SEGS; i++)
		memset(iov[i].iov_base, 0, SEG);
	struct snap r0 = snap("READ");
	CHECK_EQ(preadv(fd, iov, SEGS, 0), SEGS * SEG);
	struct snap r1 = snap("READ");
	CHECK_EQ(r1.count - r0.count, want_requests);
	CHECK_EQ(r1.bytes - r0.bytes, SEGS * SEG);
	CHECK_EQ((want_size == 4096 ? r1.hist_4k - r0.hist_4k : r1.hist_128k - r0.hist_128k),
		 want_requests);
	for (int i = 0; i < SEGS; i++) {
		unsigned char *p = iov[i].iov_base;
		if (p[0] != (unsigned char)(tag + i) || p[SEG - 1] != (unsigned char)(tag + i)) {
			h_fail(__FILE__, __LINE__, "segment %d read back wrong", i);
			break;
		}
	}
	if (h_failed())
		fprintf(stderr, "last stats:\n%s", stats_text);
	close(fd);
	free(arena);
	CHECK_EQ(h_stop(), 0);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 110);
	run("", 1, 131072, 1);
	run("max_pages=1", SEGS, 4096, 100);
	return h_finish();
}
