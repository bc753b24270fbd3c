/* lib/common/stats_priv.h - how the library updates the public counters:
 * relaxed atomic builtins on plain fields, so the public struct stays plain
 * C (and C++) while server and client threads count concurrently. */
#ifndef SGFUSE_COMMON_STATS_PRIV_H
#define SGFUSE_COMMON_STATS_PRIV_H

#include <sgfuse/stats.h>

static inline void sgf_stat_inc(uint64_t *field, uint64_t n)
{
	__atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

static inline uint64_t sgf_stat_load(const uint64_t *field)
{
	return __atomic_load_n(field, __ATOMIC_RELAXED);
}

/* Raise *field to v if it is lower. */
static inline void sgf_stat_max(uint64_t *field, uint64_t v)
{
	uint64_t cur = sgf_stat_load(field);

	while (cur < v && !__atomic_compare_exchange_n(field, &cur, v, true, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
}

/* Record one request of opcode with payload bytes (READ/WRITE also feed the
 * size histograms). */
void sgf_stats_add(struct sgf_stats *st, uint32_t opcode, uint64_t bytes);

/* Record an error reply for opcode. */
void sgf_stats_error(struct sgf_stats *st, uint32_t opcode);

/* sgf_stats_write_file, with more(arg, f) adding lines after the counters
 * (a filesystem's own, see sgf_ops.stats) before the file is renamed into
 * place. */
int sgf_stats_write_file_with(const struct sgf_stats *st, const char *path,
			      void (*more)(void *arg, FILE *f), void *arg);

#endif
