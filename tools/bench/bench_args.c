/* tools/bench/bench_args.c - sgfuse-bench's command line into bench_opts,
 * with sizes that take K/M/G suffixes and clear messages for bad input. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

/* "4096", "4K", "1M", "2G": a positive size. */
static int parse_size(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	unsigned shift = 0;

	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': shift = 10, end++; break;
	case 'M': case 'm': shift = 20, end++; break;
	case 'G': case 'g': shift = 30, end++; break;
	default: break;
	}
	if (*end != '\0' || v > (max >> shift))
		return -EINVAL;
	v <<= shift;
	*out = v;
	return 0;
}

enum { O_PATH_ = 256, O_CONNECT, O_FILE, O_POLICY, O_LABEL, O_OP, O_SEGS, O_SEGSIZE,
       O_ALIGN, O_TOTAL, O_DURATION, O_RUNS, O_THREADS, O_NODIRECT, O_JSON, O_SSTATS,
       O_SPID, O_NOTE, O_ARENA };

int bench_parse_args(int argc, char **argv, struct bench_opts *o, const char **err)
{
	static const struct option longopts[] = {
		{ "path", required_argument, 0, O_PATH_ },
		{ "connect", required_argument, 0, O_CONNECT },
		{ "file", required_argument, 0, O_FILE },
		{ "policy", required_argument, 0, O_POLICY },
		{ "label", required_argument, 0, O_LABEL },
		{ "op", required_argument, 0, O_OP },
		{ "segments", required_argument, 0, O_SEGS },
		{ "seg-size", required_argument, 0, O_SEGSIZE },
		{ "align", required_argument, 0, O_ALIGN },
		{ "total", required_argument, 0, O_TOTAL },
		{ "duration", required_argument, 0, O_DURATION },
		{ "runs", required_argument, 0, O_RUNS },
		{ "threads", required_argument, 0, O_THREADS },
		{ "no-direct", no_argument, 0, O_NODIRECT },
		{ "arena", no_argument, 0, O_ARENA },
		{ "json", no_argument, 0, O_JSON },
		{ "server-stats", required_argument, 0, O_SSTATS },
		{ "server-pid", required_argument, 0, O_SPID },
		{ "note", required_argument, 0, O_NOTE },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint64_t v;
	int c;

	*o = (struct bench_opts){ .policy = "packed", .do_write = true, .do_read = true,
				  .segments = 32, .seg_size = 4096, .total = 128u << 20,
				  .runs = 5, .threads = 1, .direct = true };
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_PATH_: o->path = optarg; break;
		case O_CONNECT: o->connect = optarg; break;
		case O_FILE: o->file = optarg; break;
		case O_LABEL: o->label = optarg; break;
		case O_NOTE: o->note = optarg; break;
		case O_NODIRECT: o->direct = false; break;
		case O_ARENA: o->arena = true; break;
		case O_JSON: o->json = true; break;
		case 'h': return 1;
		case O_POLICY:
			if (strcmp(optarg, "packed") && strcmp(optarg, "per-segment"))
				return *err = "--policy takes packed or per-segment", -1;
			o->policy = optarg;
			break;
		case O_OP:
			o->do_write = !strcmp(optarg, "writev") || !strcmp(optarg, "both");
			o->do_read = !strcmp(optarg, "readv") || !strcmp(optarg, "both");
			if (!o->do_write && !o->do_read)
				return *err = "--op takes writev, readv or both", -1;
			break;
		case O_SEGS:
			if (parse_size(optarg, 1024, &v) || v == 0)
				return *err = "--segments takes 1..1024", -1;
			o->segments = (unsigned)v;
			break;
		case O_SEGSIZE:
			if (parse_size(optarg, 64u << 20, &v) || v == 0)
				return *err = "--seg-size takes 1 byte .. 64M", -1;
			o->seg_size = v;
			break;
		case O_ALIGN:
			if (parse_size(optarg, 4095, &v))
				return *err = "--align takes 0..4095", -1;
			o->align = v;
			break;
		case O_TOTAL:
			if (parse_size(optarg, 1ull << 40, &v) || v == 0)
				return *err = "--total takes a positive size (e.g. 128M)", -1;
			o->total = v;
			break;
		case O_DURATION: {
			char *end;

			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || end == optarg || *end != '\0' || !(o->duration > 0) ||
			    o->duration > 3600)
				return *err = "--duration takes seconds, more than 0 and up to 3600", -1;
			break;
		}
		case O_RUNS:
			if (parse_size(optarg, 1000, &v) || v == 0)
				return *err = "--runs takes 1..1000", -1;
			o->runs = (unsigned)v;
			break;
		case O_THREADS:
			if (parse_size(optarg, 256, &v) || v == 0)
				return *err = "--threads takes 1..256", -1;
			o->threads = (unsigned)v;
			break;
		case O_SSTATS: {
			char *colon = strrchr(optarg, ':');
			if (colon == NULL || parse_size(colon + 1, 1u << 30, &v) || v == 0)
				return *err = "--server-stats takes FILE:PID", -1;
			*colon = '\0';
			if (o->stats_pid)
				return *err = "give one of --server-stats and --server-pid", -1;
			o->stats_file = optarg;
			o->stats_pid = (int)v;
			break;
		}
		case O_SPID:
			/* A server without our stats file (another project's
			 * daemon): its CPU time only. It is never signalled. */
			if (parse_size(optarg, 1u << 30, &v) || v == 0)
				return *err = "--server-pid takes a process ID", -1;
			if (o->stats_pid)
				return *err = "give one of --server-stats and --server-pid", -1;
			o->stats_pid = (int)v;
			break;
		default:
			return *err = "unknown option (see --help)", -1;
		}
	}
	if (optind < argc)
		return *err = "unexpected argument (see --help)", -1;
	if (!o->path == !o->connect)
		return *err = "give exactly one of --path FILE or --connect ADDRESS", -1;
	if (o->connect && o->file == NULL)
		return *err = "--connect needs --file PATH", -1;
	if (o->arena && !o->connect)
		return *err = "--arena needs --connect (its buffers are the client's)", -1;
	if (o->total < (uint64_t)o->segments * o->seg_size * o->threads)
		return *err = "--total is smaller than one call per thread", -1;
	return 0;
}
