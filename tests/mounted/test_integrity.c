/* tests/mounted/test_integrity.c - vectored O_DIRECT I/O through the mount:
 * threads on disjoint regions do random preadv/pwritev (sector-aligned, then
 * any alignment) checked against a model, then the whole file and backing. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "harness.h"

#define THREADS 4
#define REGION (4u << 20)
#define FILE_SIZE ((size_t)THREADS * REGION)
#define ARENA (3u << 20)
#define MAX_SEGS 128
#define ITERATIONS 150

static unsigned char *model;   /* expected file content; threads own disjoint regions */
static char file_path[4096];

struct worker {
	int id;
	uint64_t seed;
	int failures;
	unsigned long long bytes_read, bytes_written, ops;
};

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Lay out nseg segments in the arena with gaps; sizes multiples of align
 * (1 for "any"). Returns the total length. */
static size_t lay_out(uint64_t *s, unsigned char *arena, struct iovec *iov, int nseg,
		      size_t align, size_t max_total)
{
	size_t pos = 0, total = 0;
	for (int i = 0; i < nseg; i++) {
		size_t len = align > 1 ? align * (1 + next(s) % 32) : 1 + next(s) % 20000;
		size_t gap = align > 1 ? align * (next(s) % 8) : next(s) % 4096;
		if (total + len > max_total)
			len = max_total - total;
		if (pos + gap + len > ARENA || len == 0)
			return total;
		iov[i].iov_base = arena + pos + gap;
		iov[i].iov_len = len;
		pos += gap + len;
		total += len;
	}
	return total;
}

static int count_segs(const struct iovec *iov, int max, size_t total)
{
	size_t sum = 0;
	int n = 0;
	while (n < max && sum < total)
		sum += iov[n++].iov_len;
	return n;
}

__attribute__((format(printf, 2, 3)))
static void fail(struct worker *w, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL worker %d (seed %llu): ", w->id, (unsigned long long)w->seed);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	w->failures++;
}

static void run_phase(struct worker *w, int fd, uint64_t *s, unsigned char *arena,
		      size_t align)
{
	struct iovec iov[MAX_SEGS];
	size_t base = (size_t)w->id * REGION;
	for (int it = 0; it < ITERATIONS && w->failures < 5; it++) {
		int want = 1 + (int)(next(s) % MAX_SEGS);
		size_t total = lay_out(s, arena, iov, want, align, REGION / 2);
		int nseg = count_segs(iov, want, total);
		if (total == 0)
			continue;
		size_t span = REGION - total;
		size_t off = next(s) % (span + 1);
		if (align > 1)
			off -= off % align;
		bool write_op = next(s) % 2;
		if (write_op) {
			for (int i = 0; i < nseg; i++) {
				unsigned char *p = iov[i].iov_base;
				for (size_t j = 0; j < iov[i].iov_len; j++)
					p[j] = (unsigned char)next(s);
			}
			ssize_t r = pwritev(fd, iov, nseg, (off_t)(base + off));
			if (r != (ssize_t)total) {
				fail(w, "pwritev returned %zd, want %zu", r, total);
				continue;
			}
			size_t at = base + off;
			for (int i = 0; i < nseg; i++) {
				memcpy(model + at, iov[i].iov_base, iov[i].iov_len);
				at += iov[i].iov_len;
			}
			w->bytes_written += total;
		} else {
			for (int i = 0; i < nseg; i++)
				memset(iov[i].iov_base, 0xEE, iov[i].iov_len);
			ssize_t r = preadv(fd, iov, nseg, (off_t)(base + off));
			if (r != (ssize_t)total) {
				fail(w, "preadv returned %zd, want %zu", r, total);
				continue;
			}
			size_t at = base + off;
			for (int i = 0; i < nseg; i++) {
				if (memcmp(model + at, iov[i].iov_base, iov[i].iov_len) != 0) {
					fail(w, "preadv data mismatch at file offset %zu, segment "
					     "length %zu", at, iov[i].iov_len);
					break;
				}
				at += iov[i].iov_len;
			}
			w->bytes_read += total;
		}
		w->ops++;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t s = w->seed;
	unsigned char *arena;
	if (posix_memalign((void **)&arena, 4096, ARENA) != 0) {
		w->failures++;
		return NULL;
	}
	int fd = open(file_path, O_RDWR | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "FAIL worker %d: open O_DIRECT: %s\n", w->id, strerror(errno));
		w->failures++;
		free(arena);
		return NULL;
	}
	run_phase(w, fd, &s, arena, 512);
	run_phase(w, fd, &s, arena, 1);
	close(fd);
	free(arena);
	return NULL;
}

static void compare_whole(const char *path, bool direct)
{
	unsigned char *buf;
	REQUIRE(posix_memalign((void **)&buf, 4096, REGION) == 0);
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	CHECK(fd >= 0);
	for (size_t off = 0; fd >= 0 && off < FILE_SIZE; off += REGION) {
		ssize_t r = pread(fd, buf, REGION, (off_t)off);
		CHECK_EQ(r, REGION);
		if (r == REGION && memcmp(buf, model + off, REGION) != 0) {
			size_t i = 0;
			while (buf[i] == model[off + i])
				i++;
			h_fail(__FILE__, __LINE__, "%s differs from the model at offset %zu",
			       path, off + i);
			break;
		}
	}
	if (fd >= 0)
		close(fd);
	free(buf);
}

/* Seeds are printed so a failure can be replayed (second argument). */
int main(int argc, char **argv)
{
	h_init(argc, argv, 110);
	h_start("");
	model = calloc(1, FILE_SIZE);
	REQUIRE(model != NULL);
	H_PATH(file_path, h_mnt(), "integrity.dat");
	int fd = open(file_path, O_CREAT | O_RDWR, 0644);
	REQUIRE(fd >= 0);
	CHECK_OK(ftruncate(fd, (off_t)FILE_SIZE));
	close(fd);

	uint64_t seed0 = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)getpid() * 2654435761u;
	printf("seed %llu (pass it as the second argument to replay)\n",
	       (unsigned long long)seed0);
	struct worker w[THREADS];
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .id = i, .seed = seed0 + 0x9E3779B97F4A7C15ull * (i + 1) };
		REQUIRE(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		printf("worker %d: %llu ops, %llu bytes read, %llu written\n", i, w[i].ops,
		       w[i].bytes_read, w[i].bytes_written);
		if (w[i].failures)
			h_fail(__FILE__, __LINE__, "worker %d: %d failures", i, w[i].failures);
	}
	compare_whole(file_path, true);
	compare_whole(file_path, false);
	CHECK_EQ(h_stop(), 0);
	char backing[4096];
	compare_whole(H_PATH(backing, h_backing(), "integrity.dat"), false);
	free(model);
	return h_finish();
}
