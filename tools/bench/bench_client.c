/* tools/bench/bench_client.c - the client target: the same loop through the
 * sgfuse client library to a FUSE server socket (placeholder until the
 * client library lands). */
#include <errno.h>
#include "bench.h"

int bench_client_target(const struct bench_opts *o, struct bench_target *t)
{
	(void)o, (void)t;
	return -ENOTSUP;
}
