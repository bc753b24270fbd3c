/* sgfuse/stats.h - request statistics shared by server and client: per-opcode
 * counts and payload bytes, READ/WRITE size histograms, and (client side)
 * segments per request. Counters are atomics, safe to read while running. */
#ifndef SGFUSE_STATS_H
#define SGFUSE_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sgfuse/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Histogram bucket b counts sizes in [2^(b-1), 2^b); bucket 0 counts size 0. */
#define SGF_HIST_BUCKETS 33

struct sgf_stats {
	_Atomic uint64_t count[SGF_OPCODE_LIMIT];  /* requests by opcode */
	_Atomic uint64_t bytes[SGF_OPCODE_LIMIT];  /* payload bytes by opcode */
	_Atomic uint64_t errors[SGF_OPCODE_LIMIT]; /* error replies by opcode */
	_Atomic uint64_t read_hist[SGF_HIST_BUCKETS];
	_Atomic uint64_t write_hist[SGF_HIST_BUCKETS];
	_Atomic uint64_t seg_hist[SGF_HIST_BUCKETS]; /* segments (pages) per I/O request */
	_Atomic uint64_t unknown;     /* opcodes outside the table */
	_Atomic uint64_t malformed;   /* requests or replies that failed validation */
};

/* Bucket index for a size. */
unsigned sgf_hist_bucket(uint64_t size);

/* Record one request of opcode with payload bytes (READ/WRITE also feed the
 * size histograms). */
void sgf_stats_add(struct sgf_stats *st, uint32_t opcode, uint64_t bytes);

/* Record an error reply for opcode. */
void sgf_stats_error(struct sgf_stats *st, uint32_t opcode);

/* Add every counter of src to dst. */
void sgf_stats_merge(struct sgf_stats *dst, const struct sgf_stats *src);

/* Zero every counter. */
void sgf_stats_reset(struct sgf_stats *st);

/* Print in the stable text format documented in docs/stats.md:
 *   op NAME count N bytes B errors E
 *   hist READ|WRITE|SEGS LOW N      (LOW = smallest size in the bucket)
 *   malformed N / unknown N
 * Only nonzero lines are printed. Returns 0 or -errno. */
int sgf_stats_print(const struct sgf_stats *st, FILE *f);

/* Write the same text to path atomically (temp file + rename). */
int sgf_stats_write_file(const struct sgf_stats *st, const char *path);

#ifdef __cplusplus
}
#endif
#endif
