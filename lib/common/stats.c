/* lib/common/stats.c - request counters and their stable text form (sgf_stats_print(3)),
 * shared by the server session and the client connection. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "stats_priv.h"

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
		sgf_stat_inc(&st->unknown, 1);
		return;
	}
	sgf_stat_inc(&st->count[opcode], 1);
	sgf_stat_inc(&st->bytes[opcode], bytes);
	if (opcode == FUSE_READ)
		sgf_stat_inc(&st->read_hist[sgf_hist_bucket(bytes)], 1);
	else if (opcode == FUSE_WRITE)
		sgf_stat_inc(&st->write_hist[sgf_hist_bucket(bytes)], 1);
}

void sgf_stats_error(struct sgf_stats *st, uint32_t opcode)
{
	if (opcode < SGF_OPCODE_LIMIT)
		sgf_stat_inc(&st->errors[opcode], 1);
}

/* The counters as one flat array, in field order (buffers_max last). */
#define NCOUNTERS (sizeof(struct sgf_stats) / sizeof(uint64_t))

void sgf_stats_snapshot(const struct sgf_stats *st, struct sgf_stats *out)
{
	const uint64_t *src = (const uint64_t *)st;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < NCOUNTERS; i++)
		dst[i] = sgf_stat_load(&src[i]);
}

void sgf_stats_merge(struct sgf_stats *dst, const struct sgf_stats *src)
{
	const uint64_t *s = (const uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;

	for (size_t i = 0; i + 1 < NCOUNTERS; i++)
		sgf_stat_inc(&d[i], sgf_stat_load(&s[i]));
	sgf_stat_max(&dst->buffers_max, sgf_stat_load(&src->buffers_max));
}

void sgf_stats_reset(struct sgf_stats *st)
{
	uint64_t *d = (uint64_t *)st;

	for (size_t i = 0; i < NCOUNTERS; i++)
		__atomic_store_n(&d[i], 0, __ATOMIC_RELAXED);
}

static uint64_t bucket_low(unsigned b)
{
	return b == 0 ? 0 : (uint64_t)1 << (b - 1);
}

static void print_hist(FILE *f, const char *label, const uint64_t *h)
{
	for (unsigned b = 0; b < SGF_HIST_BUCKETS; b++) {
		uint64_t n = sgf_stat_load(&h[b]);
		if (n)
			fprintf(f, "hist %s %llu %llu\n", label,
				(unsigned long long)bucket_low(b), (unsigned long long)n);
	}
}

int sgf_stats_print(const struct sgf_stats *st, FILE *f)
{
	for (unsigned i = 0; i < SGF_OPCODE_LIMIT; i++) {
		uint64_t c = sgf_stat_load(&st->count[i]);
		uint64_t e = sgf_stat_load(&st->errors[i]);
		if (c == 0 && e == 0)
			continue;
		fprintf(f, "op %s count %llu bytes %llu errors %llu\n", sgf_opname(i),
			(unsigned long long)c,
			(unsigned long long)sgf_stat_load(&st->bytes[i]),
			(unsigned long long)e);
	}
	print_hist(f, "READ", st->read_hist);
	print_hist(f, "WRITE", st->write_hist);
	print_hist(f, "SEGS", st->seg_hist);
	const struct { const char *name; const uint64_t *v; } singles[] = {
		{ "malformed", &st->malformed }, { "unknown", &st->unknown },
		{ "kept", &st->kept },           { "refused", &st->refused },
		{ "abandoned", &st->abandoned }, { "interrupts", &st->interrupts },
		{ "uring", &st->uring },         { "passthrough", &st->passthrough },
		{ "passthrough_fallback", &st->passthrough_fallback },
		{ "buffers_max", &st->buffers_max },
	};
	for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
		uint64_t v = sgf_stat_load(singles[i].v);
		if (v)
			fprintf(f, "%s %llu\n", singles[i].name, (unsigned long long)v);
	}
	return ferror(f) ? -EIO : 0;
}

int sgf_stats_write_file(const struct sgf_stats *st, const char *path)
{
	return sgf_stats_write_file_with(st, path, NULL, NULL);
}

int sgf_stats_write_file_with(const struct sgf_stats *st, const char *path,
			      void (*more)(void *arg, FILE *f), void *arg)
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
	if (err == 0 && more)
		more(arg, f);
	if (fclose(f) != 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = -errno;
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}
