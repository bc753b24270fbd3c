/* tools/bench/bench_server_stats.c - ask a running sgfuse-passthrough for
 * its statistics (SIGUSR1 rewrites its stats file) and read its CPU time
 * from /proc, so a kernel-path measurement can show requests per call. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/proto.h>
#include "bench.h"

/* Ask for a fresh stats file: remove it, signal, wait for it to reappear. */
static FILE *fresh_stats(const struct bench_opts *o)
{
	struct timespec tick = { 0, 2 * 1000 * 1000 };

	if (o->stats_file == NULL || o->stats_pid <= 0)
		return NULL;
	unlink(o->stats_file);
	if (kill(o->stats_pid, SIGUSR1) != 0)
		return NULL;
	for (int i = 0; i < 2500; i++) { /* up to 5 s */
		FILE *f = fopen(o->stats_file, "re");
		if (f != NULL)
			return f;
		nanosleep(&tick, NULL);
	}
	return NULL;
}

int64_t bench_server_requests(const struct bench_opts *o, uint32_t opcode)
{
	FILE *f = fresh_stats(o);
	char line[256], name[64];
	unsigned long long count;
	int64_t found = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "op %63s count %llu", name, &count) == 2 &&
		    strcmp(name, sgf_opname(opcode)) == 0)
			found = (int64_t)count;
	fclose(f);
	return found;
}

double bench_server_cpu(const struct bench_opts *o)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	if (o->stats_pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", o->stats_pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces: state is 3,
	 * utime 14, stime 15. */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}
