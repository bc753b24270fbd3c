/* sgfuse/stats.h - request statistics shared by server and client: per-opcode
 * counts and payload bytes, READ/WRITE size histograms, segments per request
 * (client), and the server's request-ownership counters. The library updates
 * the fields atomically; read them with sgf_stats_snapshot() or print them. */
#ifndef SGFUSE_STATS_H
#define SGFUSE_STATS_H

#include <stdint.h>
#include <stdio.h>
#include <sgfuse/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Histogram bucket b counts sizes in [2^(b-1), 2^b); bucket 0 counts size 0,
 * the last bucket also every larger size. */
#define SGF_HIST_BUCKETS 33

struct sgf_stats {
	uint64_t count[SGF_OPCODE_LIMIT];  /* requests by opcode */
	uint64_t bytes[SGF_OPCODE_LIMIT];  /* payload bytes by opcode */
	uint64_t errors[SGF_OPCODE_LIMIT]; /* error replies by opcode */
	uint64_t read_hist[SGF_HIST_BUCKETS];
	uint64_t write_hist[SGF_HIST_BUCKETS];
	uint64_t seg_hist[SGF_HIST_BUCKETS]; /* segments (pages) per I/O request */
	uint64_t unknown;     /* opcodes outside the table */
	uint64_t malformed;   /* requests or replies that failed validation */
	/* Server only: requests kept by the filesystem and answered later;
	 * replies refused (a second reply to one request, a reply after the
	 * session ended, SGF_DEFER without sgf_req_keep, a nonsense result);
	 * kept requests answered EIO because the session ended first;
	 * INTERRUPTs that found their request; requests that arrived through
	 * io_uring ring entries (-o io_uring; the rest came through /dev/fuse
	 * or a socket); opens answered with a backing file for FUSE
	 * passthrough, and opens of regular files that could not be passed
	 * through and are served by requests instead (-o passthrough); the
	 * most request buffers in use at once (worker-held and kept; always
	 * the last field). */
	uint64_t kept;
	uint64_t refused;
	uint64_t abandoned;
	uint64_t interrupts;
	uint64_t uring;
	uint64_t passthrough;
	uint64_t passthrough_fallback;
	uint64_t buffers_max;
};

/* Bucket index for a size. */
unsigned sgf_hist_bucket(uint64_t size);

/* Copy live counters into *out (each field read atomically). */
void sgf_stats_snapshot(const struct sgf_stats *st, struct sgf_stats *out);

/* Add every counter of src to dst (buffers_max: the larger one). */
void sgf_stats_merge(struct sgf_stats *dst, const struct sgf_stats *src);

/* Zero every counter. */
void sgf_stats_reset(struct sgf_stats *st);

/* Print in the stable text format documented in sgf_stats_print(3):
 *   op NAME count N bytes B errors E
 *   hist READ|WRITE|SEGS LOW N      (LOW = smallest size in the bucket)
 *   malformed N / unknown N / kept N / refused N / abandoned N /
 *   interrupts N / uring N / passthrough N / passthrough_fallback N /
 *   buffers_max N
 * Only nonzero lines are printed. Returns 0 or -errno. */
int sgf_stats_print(const struct sgf_stats *st, FILE *f);

/* Write the same text to path atomically (temp file + rename; never
 * through a symlink at the temp name). 0 or -errno. */
int sgf_stats_write_file(const struct sgf_stats *st, const char *path);

#ifdef __cplusplus
}
#endif
#endif
