/* tools/bench/bench.h - sgfuse-bench's parts: the options, a target (a file
 * through any mount, or the sgfuse client), and the server-statistics probe
 * that turns request counts into requests per call. */
#ifndef SGFUSE_BENCH_H
#define SGFUSE_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct bench_opts {
	const char *path;        /* --path FILE */
	const char *connect;     /* --connect unix:PATH | vhost-user:PATH */
	const char *file;        /* --file NAME (with --connect) */
	const char *policy;      /* packed | per-segment */
	const char *label;       /* name printed for the target */
	bool do_write, do_read;
	unsigned segments;
	size_t seg_size;
	size_t align;
	uint64_t total;          /* bytes per measurement (and the file range) */
	double duration;         /* --duration: seconds per measurement, 0: total */
	unsigned runs;
	unsigned threads;
	bool direct;
	bool arena;              /* buffers from sgf_client_buf_alloc */
	bool json;
	const char *stats_file;  /* server statistics file ... */
	int stats_pid;           /* ... refreshed by SIGUSR1 to this pid; the
				  * server whose CPU time is read (alone, with
				  * --server-pid: never signalled) */
	const char *note;        /* free text added to the output */
};

/* A place the loop reads and writes. One handle per thread. */
struct bench_target {
	void *ctx;
	int (*open_handle)(void *ctx, unsigned thread, void **handle);
	ssize_t (*pwritev)(void *handle, const struct iovec *iov, int n, uint64_t off);
	ssize_t (*preadv)(void *handle, const struct iovec *iov, int n, uint64_t off);
	void (*close_handle)(void *handle);
	/* Requests of opcode counted so far by the requester side, or -1. */
	int64_t (*requests)(void *ctx, uint32_t opcode);
	void (*destroy)(void *ctx);
	/* Page-aligned buffers for the loop (--arena), or NULL: the loop's
	 * own. */
	void *(*buf_alloc)(void *ctx, size_t size);
	void (*buf_free)(void *ctx, void *p);
};

/* Parse the command line: 0 ok, 1 for --help, -1 with *err set. */
int bench_parse_args(int argc, char **argv, struct bench_opts *o, const char **err);

/* Make the target: 0, or -errno with *step naming what failed (connect,
 * INIT, lookup, create, ...) and what (size bytes) the path or address it
 * failed on. */
int bench_file_target(const struct bench_opts *o, struct bench_target *t);
int bench_client_target(const struct bench_opts *o, struct bench_target *t, const char **step,
			char *what, size_t size);

/* Server-side READ/WRITE counts from the stats file after SIGUSR1; -1 when
 * unavailable. cpu gets the server's user+sys seconds (or -1). */
int64_t bench_server_requests(const struct bench_opts *o, uint32_t opcode);
double bench_server_cpu(const struct bench_opts *o);

#endif
