/* tools/bench/bench_main.c - sgfuse-bench: the seed's experiment. Loops of
 * vectored direct writes or reads (default 32 x 4 KiB) against one target,
 * from one or more threads, each run moving a byte count or lasting a set
 * time; median/min/max MB/s, calls per second, requests per call, CPU time. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <linux/fuse.h>
#include "bench.h"

#define PAGE 4096u
#define MAX_RUNS 1000

static const char usage[] =
	"Usage: sgfuse-bench --path FILE [options]\n"
	"       sgfuse-bench --connect ADDRESS --file PATH [--policy packed|per-segment]\n"
	"                    [--arena] [options]\n"
	"\n"
	"Time loops of O_DIRECT pwritev/preadv of SEGMENTS x SEG_SIZE bytes, the\n"
	"experiment of the Linux patch set \"fuse: optimize scatter-gather direct IO\".\n"
	"\n"
	"Target:\n"
	"  --path FILE            a file (on a FUSE mount, or tmpfs for the limit)\n"
	"  --connect ADDRESS      talk FUSE with the sgfuse client: unix:PATH, a server\n"
	"                         socket; vhost-user:PATH, a virtio-fs backend\n"
	"  --file PATH            file on that server, from its root (\"/a/b\" or\n"
	"                         \"a/b\"; created if missing)\n"
	"  --policy P             client packing: packed (default) or per-segment\n"
	"  --arena                buffers from sgf_client_buf_alloc: over vhost-user in\n"
	"                         the shared memory, moved without a copy (on a socket\n"
	"                         the same as without)\n"
	"  --label NAME           target name in the output\n"
	"Workload:\n"
	"  --op writev|readv|both (default both)\n"
	"  --segments N           iovec segments per call (default 32)\n"
	"  --seg-size BYTES       bytes per segment (default 4096)\n"
	"  --align OFFSET         segment start offset within its page (default 0)\n"
	"  --total BYTES          bytes moved per measurement (default 134217728);\n"
	"                         with --duration, the file range the threads share\n"
	"  --duration SECONDS     time each measurement instead: every thread cycles\n"
	"                         over its range until SECONDS have passed\n"
	"  --runs N               measurements per op; median, min, max (default 5)\n"
	"  --threads N            threads at once, each on its own file range\n"
	"                         (default 1)\n"
	"  --no-direct            open --path without O_DIRECT\n"
	"Reporting (MB/s and calls/s, the medians over runs):\n"
	"  --json                 one JSON object per measurement on stdout\n"
	"  --server-stats FILE:PID  an sgfuse daemon's stats_file and pid, for\n"
	"                         server requests per call and server CPU time\n"
	"  --server-pid PID       server CPU time only, of any process (no signal,\n"
	"                         no request counts)\n"
	"  --note TEXT            free text carried into the output\n"
	"  -h, --help             this text\n";

struct thread_arg {
	const struct bench_opts *o;
	const struct bench_target *t;
	unsigned id;
	void *handle;
	struct iovec *iov;
	void *mem;
	bool write;
	bool timed;              /* run for o->duration, not one pass */
	uint64_t calls;
	uint64_t bytes;
	uint64_t reached;        /* bytes from the range's start known written */
	int err;
	pthread_barrier_t *start;
};

struct result {
	uint64_t bytes;
	double mbps;
	double calls_per_s;
	double user, sys, server_cpu;
	double req_per_call;
};

static uint64_t call_bytes(const struct bench_opts *o)
{
	return (uint64_t)o->segments * o->seg_size;
}

/* Each thread's share of the file, in whole calls. */
static uint64_t thread_range(const struct bench_opts *o)
{
	uint64_t per_call = call_bytes(o);
	uint64_t range = o->total / o->threads / per_call * per_call;

	return range ? range : per_call;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static void free_mem(const struct bench_target *t, void *mem)
{
	if (t->buf_free)
		t->buf_free(t->ctx, mem);
	else
		free(mem);
}

/* Separate buffers per segment, each at o->align within its own pages,
 * with a gap page between them so no two segments are adjacent; from the
 * target (--arena) or our own. */
static int make_iov(const struct bench_opts *o, const struct bench_target *t,
		    struct thread_arg *ta)
{
	size_t stride = (o->align + o->seg_size + PAGE - 1) / PAGE * PAGE + PAGE;
	char *mem = t->buf_alloc ? t->buf_alloc(t->ctx, stride * o->segments)
				 : aligned_alloc(PAGE, stride * o->segments);

	ta->iov = calloc(o->segments, sizeof(*ta->iov));
	if (mem == NULL || ta->iov == NULL) {
		if (mem)
			free_mem(t, mem);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < o->segments; i++) {
		char *seg = mem + i * stride + o->align;
		memset(seg, 'a' + (int)((ta->id + i) % 26), o->seg_size);
		ta->iov[i] = (struct iovec){ seg, o->seg_size };
	}
	ta->mem = mem;
	return 0;
}

static void *thread_main(void *arg)
{
	struct thread_arg *ta = arg;
	const struct bench_opts *o = ta->o;
	uint64_t per_call = call_bytes(o);
	uint64_t range = thread_range(o);
	uint64_t base = ta->id * range;

	double deadline = 0;

	pthread_barrier_wait(ta->start);
	if (ta->timed)
		deadline = now() + o->duration;
	ta->calls = ta->bytes = 0;
	for (uint64_t off = 0; off < range || ta->timed; off += per_call) {
		if (ta->timed) {
			if (now() >= deadline)
				break;
			if (off >= range)
				off = 0; /* again from the start of the range */
		}
		ssize_t r = ta->write ? ta->t->pwritev(ta->handle, ta->iov, (int)o->segments, base + off)
				      : ta->t->preadv(ta->handle, ta->iov, (int)o->segments, base + off);
		if (r < 0) {
			ta->err = (int)r;
			break;
		}
		if ((uint64_t)r != per_call) {
			ta->err = -EIO; /* short transfer: the file is too small? */
			break;
		}
		ta->calls++;
		ta->bytes += (uint64_t)r;
		if (ta->write && off + per_call > ta->reached)
			ta->reached = off + per_call;
	}
	return NULL;
}

static int64_t request_count(const struct bench_opts *o, const struct bench_target *t,
			     uint32_t opcode)
{
	int64_t n = t->requests(t->ctx, opcode);
	return n >= 0 ? n : bench_server_requests(o, opcode);
}

/* One timed pass of every thread. */
static int measure(const struct bench_opts *o, const struct bench_target *t,
		   struct thread_arg *ta, bool write, bool timed, struct result *res)
{
	uint32_t opcode = write ? FUSE_WRITE : FUSE_READ;
	pthread_barrier_t start;
	pthread_t *th = calloc(o->threads, sizeof(*th));
	struct rusage ru0, ru1;
	double t0, t1, cpu0 = bench_server_cpu(o), cpu1;
	int64_t req0 = request_count(o, t, opcode), req1;
	uint64_t bytes = 0, calls = 0;
	int err = 0;

	if (th == NULL)
		return -ENOMEM;
	pthread_barrier_init(&start, NULL, o->threads + 1);
	for (unsigned i = 0; i < o->threads; i++) {
		ta[i].write = write;
		ta[i].timed = timed;
		ta[i].start = &start;
		ta[i].err = 0;
		err = -pthread_create(&th[i], NULL, thread_main, &ta[i]);
		if (err) {
			/* Threads already waiting at the barrier cannot be
			 * released cleanly: give up on the whole run. */
			fprintf(stderr, "sgfuse-bench: thread: %s\n", strerror(-err));
			exit(1);
		}
	}
	getrusage(RUSAGE_SELF, &ru0);
	pthread_barrier_wait(&start);
	t0 = now();
	for (unsigned i = 0; i < o->threads; i++) {
		pthread_join(th[i], NULL);
		bytes += ta[i].bytes;
		calls += ta[i].calls;
		if (ta[i].err && !err)
			err = ta[i].err;
	}
	t1 = now();
	getrusage(RUSAGE_SELF, &ru1);
	pthread_barrier_destroy(&start);
	free(th);
	if (err)
		return err;
	req1 = request_count(o, t, opcode);
	cpu1 = bench_server_cpu(o);
	res->bytes = bytes;
	res->mbps = (double)bytes / (t1 - t0) / 1e6;
	res->calls_per_s = (double)calls / (t1 - t0);
	res->user = cpu_seconds(&ru1.ru_utime) - cpu_seconds(&ru0.ru_utime);
	res->sys = cpu_seconds(&ru1.ru_stime) - cpu_seconds(&ru0.ru_stime);
	res->server_cpu = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	res->req_per_call = req0 >= 0 && req1 >= 0 && calls ? (double)(req1 - req0) / (double)calls
							    : -1;
	return 0;
}

/* Reads need data in every thread's whole range, which timed writes may not
 * have reached (or, for readv alone, no write did): write the rest,
 * unmeasured, in calls of up to 128 KiB whatever the measured shape, so a
 * slow one-page shape does not spend its time filling. */
static int fill(const struct bench_opts *o, const struct bench_target *t, struct thread_arg *ta)
{
	uint64_t per_call = call_bytes(o), range = thread_range(o);
	uint64_t chunk = per_call * (per_call < (128u << 10) ? (128u << 10) / per_call : 1);
	char *buf = aligned_alloc(PAGE, (chunk + PAGE - 1) / PAGE * PAGE);
	int err = 0;

	if (buf == NULL)
		return -ENOMEM;
	memset(buf, 'f', chunk);
	for (unsigned i = 0; i < o->threads && err == 0; i++) {
		while (ta[i].reached < range) {
			uint64_t n = range - ta[i].reached < chunk ? range - ta[i].reached : chunk;
			struct iovec iov = { buf, n };
			ssize_t r = t->pwritev(ta[i].handle, &iov, 1, i * range + ta[i].reached);

			if (r < 0 || (uint64_t)r != n) {
				err = r < 0 ? (int)r : -EIO;
				break;
			}
			ta[i].reached += n;
		}
	}
	free(buf);
	return err;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* A string as a JSON string literal (labels and notes come from the user). */
static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(const struct bench_opts *o, bool write, struct result *r, unsigned n)
{
	double mb[MAX_RUNS], cps[MAX_RUNS], med, cps_med, rpc = r[n - 1].req_per_call;
	double user = 0, sys = 0, srv = 0;
	uint64_t bytes = 0;
	const char *op = write ? "writev" : "readv";
	const char *label = o->label ? o->label : o->path ? o->path : o->connect;

	for (unsigned i = 0; i < n; i++) {
		mb[i] = r[i].mbps;
		cps[i] = r[i].calls_per_s;
		user += r[i].user, sys += r[i].sys;
		bytes += r[i].bytes;
		srv = r[i].server_cpu >= 0 && srv >= 0 ? srv + r[i].server_cpu : -1;
	}
	cps_med = median(cps, n);
	med = median(mb, n); /* sorted: mb[0] is the minimum */
	if (o->json) {
		printf("{\"target\":");
		json_string(label);
		printf(",\"op\":\"%s\",\"segments\":%u,\"seg_size\":%zu,"
		       "\"align\":%zu,\"threads\":%u,\"runs\":%u,\"mbps_median\":%.1f,"
		       "\"mbps_min\":%.1f,\"mbps_max\":%.1f,\"calls_per_s_median\":%.1f,",
		       op, o->segments, o->seg_size, o->align, o->threads, n, med, mb[0],
		       mb[n - 1], cps_med);
		if (o->duration > 0)
			printf("\"duration_s\":%.3f,", o->duration);
		printf("\"bytes\":%llu,", (unsigned long long)bytes);
		if (o->arena)
			printf("\"arena\":true,");
		if (rpc >= 0)
			printf("\"requests_per_call\":%.3f,", rpc);
		else
			printf("\"requests_per_call\":null,");
		printf("\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,", user, sys);
		if (srv >= 0)
			printf("\"server_cpu_s\":%.3f,", srv);
		printf("\"note\":");
		json_string(o->note ? o->note : "");
		printf("}\n");
	} else {
		printf("%s: %s %u x %zu B", label, op, o->segments, o->seg_size);
		if (o->threads > 1)
			printf(", %u threads", o->threads);
		if (o->arena)
			printf(", arena buffers");
		printf(": %.1f MB/s (median of %u, min %.1f, max %.1f), %.0f calls/s", med, n,
		       mb[0], mb[n - 1], cps_med);
		if (rpc >= 0)
			printf(", %.2f requests/call", rpc);
		printf(", cpu user %.2f s sys %.2f s", user, sys);
		if (srv >= 0)
			printf(", server cpu %.2f s", srv);
		if (o->note)
			printf(" [%s]", o->note);
		printf("\n");
	}
	fflush(stdout);
}

static int run_op(const struct bench_opts *o, const struct bench_target *t,
		  struct thread_arg *ta, bool write)
{
	struct result r[MAX_RUNS];

	for (unsigned i = 0; i < o->runs; i++) {
		int err = measure(o, t, ta, write, o->duration > 0, &r[i]);
		if (err) {
			fprintf(stderr, "sgfuse-bench: %s failed: %s\n", write ? "writev" : "readv",
				strerror(-err));
			return 1;
		}
	}
	report(o, write, r, o->runs);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_target t;
	struct thread_arg *ta;
	const char *err = NULL;
	int r, status = 0;

	r = bench_parse_args(argc, argv, &o, &err);
	if (r > 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "sgfuse-bench: %s\n", err);
		return 2;
	}
	char what[4200];
	const char *step = "setup";
	snprintf(what, sizeof(what), "%s", o.path ? o.path : o.connect);
	r = o.path ? bench_file_target(&o, &t)
		   : bench_client_target(&o, &t, &step, what, sizeof(what));
	if (r) {
		fprintf(stderr, "sgfuse-bench: %s %s: %s\n", step, what, strerror(-r));
		return 1;
	}
	ta = calloc(o.threads, sizeof(*ta));
	if (ta == NULL)
		return 1;
	for (unsigned i = 0; i < o.threads && status == 0; i++) {
		ta[i] = (struct thread_arg){ .o = &o, .t = &t, .id = i };
		r = make_iov(&o, &t, &ta[i]);
		if (r) {
			fprintf(stderr, "sgfuse-bench: buffers: %s\n", strerror(-r));
			status = 1;
			break;
		}
		r = t.open_handle(t.ctx, i, &ta[i].handle);
		if (r) {
			fprintf(stderr, "sgfuse-bench: open %s: %s\n", o.path ? o.path : o.file,
				strerror(-r));
			status = 1;
		}
	}
	if (status == 0 && o.do_write)
		status = run_op(&o, &t, ta, true);
	if (status == 0 && o.do_read) {
		r = fill(&o, &t, ta);
		if (r) {
			fprintf(stderr, "sgfuse-bench: filling the file: %s\n", strerror(-r));
			status = 1;
		} else {
			status = run_op(&o, &t, ta, false);
		}
	}
	for (unsigned i = 0; i < o.threads; i++) {
		if (ta[i].handle)
			t.close_handle(ta[i].handle);
		free(ta[i].iov);
		if (ta[i].mem)
			free_mem(&t, ta[i].mem);
	}
	free(ta);
	t.destroy(t.ctx);
	return status;
}
