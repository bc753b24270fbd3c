/* lib/stats.c - request counters and their stable text form (docs/stats.md),
 * shared by the server session and the client connection. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sgfuse/stats.h>

unsigned sgf_hist_bucket(uint64_t size)
{
	unsigned b = 0;

	while (size != 0 && b < SGF_HIST_BUCKETS - 1) {
		size >>= 1;
		b++;
	}
	return b;
}

void sgf_stats_add(struct sgf_stats *st, uint32_t opcode, uint64_t bytes)
{
	if (opcode >= SGF_OPCODE_LIMIT) {
		atomic_fetch_add_explicit(&st->unknown, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&st->count[opcode], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->bytes[opcode], bytes, memory_order_relaxed);
	if (opcode == FUSE_READ)
		atomic_fetch_add_explicit(&st->read_hist[sgf_hist_bucket(bytes)], 1,
					  memory_order_relaxed);
	else if (opcode == FUSE_WRITE)
		atomic_fetch_add_explicit(&st->write_hist[sgf_hist_bucket(bytes)], 1,
					  memory_order_relaxed);
}

void sgf_stats_error(struct sgf_stats *st, uint32_t opcode)
{
	if (opcode < SGF_OPCODE_LIMIT)
		atomic_fetch_add_explicit(&st->errors[opcode], 1, memory_order_relaxed);
}

static void merge(_Atomic uint64_t *dst, const _Atomic uint64_t *src, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		atomic_fetch_add_explicit(&dst[i], atomic_load_explicit(&src[i], memory_order_relaxed),
					  memory_order_relaxed);
}

void sgf_stats_merge(struct sgf_stats *dst, const struct sgf_stats *src)
{
	merge(dst->count, src->count, SGF_OPCODE_LIMIT);
	merge(dst->bytes, src->bytes, SGF_OPCODE_LIMIT);
	merge(dst->errors, src->errors, SGF_OPCODE_LIMIT);
	merge(dst->read_hist, src->read_hist, SGF_HIST_BUCKETS);
	merge(dst->write_hist, src->write_hist, SGF_HIST_BUCKETS);
	merge(dst->seg_hist, src->seg_hist, SGF_HIST_BUCKETS);
	merge(&dst->unknown, &src->unknown, 1);
	merge(&dst->malformed, &src->malformed, 1);
}

void sgf_stats_reset(struct sgf_stats *st)
{
	for (unsigned i = 0; i < SGF_OPCODE_LIMIT; i++) {
		atomic_store(&st->count[i], 0);
		atomic_store(&st->bytes[i], 0);
		atomic_store(&st->errors[i], 0);
	}
	for (unsigned b = 0; b < SGF_HIST_BUCKETS; b++) {
		atomic_store(&st->read_hist[b], 0);
		atomic_store(&st->write_hist[b], 0);
		atomic_store(&st->seg_hist[b], 0);
	}
	atomic_store(&st->unknown, 0);
	atomic_store(&st->malformed, 0);
}

static uint64_t bucket_low(unsigned b)
{
	return b == 0 ? 0 : (uint64_t)1 << (b - 1);
}

static void print_hist(FILE *f, const char *label, const _Atomic uint64_t *h)
{
	for (unsigned b = 0; b < SGF_HIST_BUCKETS; b++) {
		uint64_t n = atomic_load_explicit(&h[b], memory_order_relaxed);
		if (n)
			fprintf(f, "hist %s %llu %llu\n", label,
				(unsigned long long)bucket_low(b), (unsigned long long)n);
	}
}

int sgf_stats_print(const struct sgf_stats *st, FILE *f)
{
	for (unsigned i = 0; i < SGF_OPCODE_LIMIT; i++) {
		uint64_t c = atomic_load_explicit(&st->count[i], memory_order_relaxed);
		uint64_t e = atomic_load_explicit(&st->errors[i], memory_order_relaxed);
		if (c == 0 && e == 0)
			continue;
		fprintf(f, "op %s count %llu bytes %llu errors %llu\n", sgf_opname(i),
			(unsigned long long)c,
			(unsigned long long)atomic_load_explicit(&st->bytes[i],
								 memory_order_relaxed),
			(unsigned long long)e);
	}
	print_hist(f, "READ", st->read_hist);
	print_hist(f, "WRITE", st->write_hist);
	print_hist(f, "SEGS", st->seg_hist);
	uint64_t m = atomic_load(&st->malformed), u = atomic_load(&st->unknown);
	if (m)
		fprintf(f, "malformed %llu\n", (unsigned long long)m);
	if (u)
		fprintf(f, "unknown %llu\n", (unsigned long long)u);
	return ferror(f) ? -EIO : 0;
}

int sgf_stats_write_file(const struct sgf_stats *st, const char *path)
{
	size_t n = strlen(path) + 8;
	char *tmp = malloc(n);
	FILE *f;
	int fd, err;

	if (tmp == NULL)
		return -ENOMEM;
	snprintf(tmp, n, "%s.tmp", path);
	/* Never through a symlink someone planted at the temp name. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (f == NULL) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		free(tmp);
		return err;
	}
	err = sgf_stats_print(st, f);
	if (fclose(f) != 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = -errno;
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}
