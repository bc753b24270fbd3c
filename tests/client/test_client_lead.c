/* tests/client/test_client_lead.c - the receive role that waiting callers
 * pass among themselves (no receiver thread): replies reach every thread
 * whatever order they come in, a full socket in both directions does not
 * deadlock a caller that is still sending, and a connection that breaks
 * (shut down here, killed server, silent DESTROY) ends every wait. A
 * reader that leaves hands the role on to a caller still waiting, whether
 * or not it polls before sleeping. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include "check.h"
#include "fake_server.h"

#define PAGE 4096u
#define NTHREADS 4

enum mode { M_ECHO, M_BATCH, M_SILENT, M_STALL_SECOND_WRITE, M_HANDOFF };

struct tctx {
	enum mode mode;
	unsigned batch;            /* M_BATCH: GETATTRs held back per round */
	uint64_t held[16];
	unsigned nheld, rounds;
	unsigned nwrite, bad_payload;
	int gate;                  /* M_HANDOFF: pipe the test opens */
	atomic_uint seen;          /* requests the handler got (any thread reads) */
};

static uint8_t pat(uint64_t off)
{
	return (uint8_t)(off * 13 + (off >> 12) * 5 + 3);
}

static int reply_attr(int fd, uint64_t unique, uint64_t nodeid)
{
	struct fuse_attr_out ao;

	memset(&ao, 0, sizeof(ao));
	ao.attr.ino = nodeid;
	ao.attr.mode = 0100644;
	return fake_reply(fd, unique, 0, &ao, sizeof(ao));
}

/* Answer the held GETATTRs: first come first served on even rounds, the
 * other way round on odd ones. The nodeid travels in the held unique's
 * companion slot. */
static int release_batch(struct fake_srv *s, struct tctx *t)
{
	for (unsigned k = 0; k < t->nheld; k += 2) {
		unsigned i = t->rounds % 2 ? t->nheld - 2 - k : k;
		if (reply_attr(s->fd, t->held[i], t->held[i + 1]) < 0)
			return -1;
	}
	t->nheld = 0;
	t->rounds++;
	return 0;
}

static int on_read(struct fake_srv *s, const struct fuse_in_header *h, const void *body)
{
	static uint8_t buf[1 << 20];
	struct fuse_read_in in;

	memcpy(&in, body, sizeof(in));
	size_t n = in.size < sizeof(buf) ? in.size : sizeof(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = pat(in.offset + i);
	return fake_reply(s->fd, h->unique, 0, buf, n);
}

static int on_write(struct fake_srv *s, struct tctx *t, const struct fuse_in_header *h,
		    const void *body, size_t len)
{
	struct fuse_write_in in;

	if (len < sizeof(in))
		return -1;
	memcpy(&in, body, sizeof(in));
	if (len - sizeof(in) != in.size)
		return -1;
	if (t->mode == M_STALL_SECOND_WRITE && t->nwrite == 1)
		pause();  /* stop reading: the client's next WRITE fills the socket */
	t->nwrite++;
	const uint8_t *data = (const uint8_t *)body + sizeof(in);
	for (size_t i = 0; i < in.size; i++)
		if (data[i] != pat(in.offset + i))
			t->bad_payload++;
	struct fuse_write_out out = { .size = in.size };
	return fake_reply(s->fd, h->unique, 0, &out, sizeof(out));
}

static int handler(struct fake_srv *s, const struct fuse_in_header *h, const void *body,
		   size_t len)
{
	struct tctx *t = s->ctx;

	atomic_fetch_add(&t->seen, 1);
	switch (h->opcode) {
	case FUSE_GETATTR:
		if (t->mode == M_SILENT)
			return 0;
		if (t->mode == M_HANDOFF && t->nheld == 0) {
			t->held[t->nheld++] = h->unique;
			t->held[t->nheld++] = h->nodeid;
			return 0;
		}
		if (t->mode == M_HANDOFF) {
			/* Answer the first, then the second once the test says. */
			char go;
			t->nheld = 0;
			if (reply_attr(s->fd, t->held[0], t->held[1]) < 0 ||
			    fake_read_full(t->gate, &go, 1) < 0)
				return 1;
			return reply_attr(s->fd, h->unique, h->nodeid) != 0;
		}
		if (t->mode == M_BATCH) {
			t->held[t->nheld++] = h->unique;
			t->held[t->nheld++] = h->nodeid;
			return t->nheld == 2 * t->batch ? release_batch(s, t) != 0 : 0;
		}
		return reply_attr(s->fd, h->unique, h->nodeid) != 0;
	case FUSE_READ:
		return len < sizeof(struct fuse_read_in) || on_read(s, h, body) != 0;
	case FUSE_WRITE:
		return on_write(s, t, h, body, len) != 0;
	default:
		return fake_reply(s->fd, h->unique, -ENOSYS, NULL, 0) != 0;
	}
}

static struct sgf_client *open_fake(struct fake_srv *s, struct tctx *t, enum mode m,
				    int sndbuf, const struct sgf_client_opts *o)
{
	memset(t, 0, sizeof(*t));
	t->mode = m;
	fake_srv_defaults(s, handler, t);
	s->sndbuf = sndbuf;
	struct sgf_client *c = fake_srv_attach(s, o);
	CHECK(c != NULL);
	return c;
}

static void fill(uint8_t *p, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(off + i);
}

static bool pattern_ok(const uint8_t *p, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(off + i))
			return false;
	return true;
}

/* One thread, hundreds of one-page requests in flight, tiny socket buffers
 * and a server that answers each request before reading the next: replies
 * pile up until the server blocks sending, then our requests pile up until
 * we would block sending. Only a sender that reads replies while it waits
 * gets through. */
static void full_both_ways_one_thread(void)
{
	struct sgf_client_opts o = { .max_pages = 1, .window = 256, .max_inflight = 256 };
	struct sgf_file f = { .nodeid = 7, .fh = 1 };
	const size_t size = 512 * PAGE;
	struct fake_srv s;
	struct tctx t;
	struct sgf_client *c = open_fake(&s, &t, M_ECHO, 4096, &o);
	uint8_t *buf = aligned_alloc(PAGE, size);

	if (!c || !buf) {
		free(buf);
		return;
	}
	fill(buf, size, 5 * PAGE);
	CHECK_EQ(sgf_pwrite(c, &f, buf, size, 5 * PAGE), size);
	memset(buf, 0, size);
	CHECK_EQ(sgf_pread(c, &f, buf, size, 5 * PAGE), size);
	CHECK(pattern_ok(buf, size, 5 * PAGE));
	CHECK_EQ(sgf_client_disconnect(c), 0);
	fake_srv_stop(&s);
	CHECK_EQ(t.nwrite, 512);
	CHECK_EQ(t.bad_payload, 0);
	free(buf);
}

struct io_worker {
	struct sgf_client *c;
	unsigned id;
	int failures;
};

/* Alternate vectored writes and reads of two-page requests on our own
 * range; more requests want to be in flight than the table holds. */
static void *io_worker_main(void *arg)
{
	struct io_worker *w = arg;
	struct sgf_file f = { .nodeid = 7, .fh = 1 };
	enum { SEGS = 48, SEG = 3000 };
	uint8_t *mem = malloc(SEGS * SEG);
	struct iovec iov[SEGS];

	if (!mem) {
		w->failures++;
		return NULL;
	}
	for (int i = 0; i < SEGS; i++)
		iov[i] = (struct iovec){ mem + i * SEG, SEG };
	for (unsigned round = 0; round < 20; round++) {
		uint64_t off = ((uint64_t)w->id * 64 + round) * SEGS * SEG + w->id * 111;
		fill(mem, SEGS * SEG, off);
		if (sgf_pwritev(w->c, &f, iov, SEGS, off) != SEGS * SEG)
			w->failures++;
		memset(mem, 0, SEGS * SEG);
		if (sgf_preadv(w->c, &f, iov, SEGS, off) != SEGS * SEG ||
		    !pattern_ok(mem, SEGS * SEG, off))
			w->failures++;
	}
	free(mem);
	return NULL;
}

static void full_both_ways_threads(void)
{
	struct sgf_client_opts o = { .max_pages = 2, .window = 32, .max_inflight = 48 };
	struct fake_srv s;
	struct tctx t;
	struct sgf_client *c = open_fake(&s, &t, M_ECHO, 4096, &o);
	pthread_t th[NTHREADS];
	struct io_worker w[NTHREADS];

	if (!c)
		return;
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct io_worker){ .c = c, .id = i };
		pthread_create(&th[i], NULL, io_worker_main, &w[i]);
	}
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_CTX(w[i].failures, 0, "io worker");
	}
	CHECK_EQ(sgf_client_disconnect(c), 0);
	fake_srv_stop(&s);
	CHECK_EQ(t.bad_payload, 0);
}

struct attr_worker {
	struct sgf_client *c;
	uint64_t nodeid;
	unsigned rounds;
	int wrong;
};

static void *attr_worker_main(void *arg)
{
	struct attr_worker *w = arg;
	struct fuse_attr_out ao;

	for (unsigned i = 0; i < w->rounds; i++) {
		memset(&ao, 0, sizeof(ao));
		if (sgf_getattr(w->c, w->nodeid, &ao) != 0 || ao.attr.ino != w->nodeid)
			w->wrong++;
	}
	return NULL;
}

/* Every thread has one GETATTR out; the server answers only once it holds
 * all of them, in arrival order or the reverse. Whoever reads must route
 * the others' replies, and hand the role on when it leaves first. */
static void replies_in_any_order(const struct sgf_client_opts *o)
{
	struct fake_srv s;
	struct tctx t;
	struct sgf_client *c = open_fake(&s, &t, M_BATCH, 0, o);
	pthread_t th[NTHREADS];
	struct attr_worker w[NTHREADS];

	if (!c)
		return;
	t.batch = NTHREADS;
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct attr_worker){ .c = c, .nodeid = 100 + i, .rounds = 300 };
		pthread_create(&th[i], NULL, attr_worker_main, &w[i]);
	}
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_CTX(w[i].wrong, 0, "getattr worker");
	}
	CHECK_EQ(sgf_client_disconnect(c), 0);
	fake_srv_stop(&s);
	CHECK_EQ(t.rounds, 300);
}

/* The first caller reads (it waits alone); its reply comes, it leaves, and
 * only then does the second caller's reply come: the reader must have
 * handed the role to the sleeper on its way out. */
static void leader_leaves_first(const struct sgf_client_opts *o)
{
	struct fake_srv s;
	struct tctx t;
	struct sgf_client *c = open_fake(&s, &t, M_HANDOFF, 0, o);
	pthread_t th[2];
	struct attr_worker w[2];
	int gate[2];

	if (!c)
		return;
	CHECK_EQ(pipe(gate), 0);
	t.gate = gate[0];
	for (unsigned i = 0; i < 2; i++) {
		w[i] = (struct attr_worker){ .c = c, .nodeid = 300 + i, .rounds = 1 };
		pthread_create(&th[i], NULL, attr_worker_main, &w[i]);
		while (atomic_load(&t.seen) < i + 1)
			usleep(1000);
		usleep(10000);  /* let it settle into its wait */
	}
	pthread_join(th[0], NULL);
	CHECK_EQ(write(gate[1], "g", 1), 1);
	pthread_join(th[1], NULL);
	CHECK_EQ(w[0].wrong, 0);
	CHECK_EQ(w[1].wrong, 0);
	CHECK_EQ(sgf_client_disconnect(c), 0);
	fake_srv_stop(&s);
	close(gate[0]);
	close(gate[1]);
}

static void *silent_attr_main(void *arg)
{
	struct attr_worker *w = arg;
	struct fuse_attr_out ao;

	if (sgf_getattr(w->c, w->nodeid, &ao) != -ENOTCONN)
		w->wrong++;
	return NULL;
}

/* Callers wait for replies that never come (one reads, the others sleep);
 * sgf_client_shutdown from another thread ends all of them. */
static void shutdown_ends_waits(void)
{
	struct fake_srv s;
	struct tctx t;
	struct sgf_client *c = open_fake(&s, &t, M_SILENT, 0, NULL);
	pthread_t th[NTHREADS];
	struct attr_worker w[NTHREADS];

	if (!c)
		return;
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct attr_worker){ .c = c, .nodeid = 200 + i };
		pthread_create(&th[i], NULL, silent_attr_main, &w[i]);
	}
	while (atomic_load(&t.seen) < NTHREADS)
		usleep(1000);
	sgf_client_shutdown(c);
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_CTX(w[i].wrong, 0, "waiter after shutdown");
	}
	CHECK_EQ(sgf_client_disconnect(c), -ENOTCONN);
	fake_srv_stop(&s);
}

/* A server that never answers DESTROY does not keep disconnect waiting. */
static void silent_destroy(void)
{
	struct fake_srv s;
	struct tctx t;
	struct sgf_client *c = NULL;
	struct fuse_attr_out ao;

	memset(&t, 0, sizeof(t));
	fake_srv_defaults(&s, handler, &t);
	s.destroy_silent = true;
	int fd = fake_srv_start(&s);
	CHECK(fd >= 0);
	CHECK_EQ(sgf_client_attach(fd, NULL, &c), 0);
	if (!c) {
		fake_srv_stop(&s);
		return;
	}
	CHECK_EQ(sgf_getattr(c, 3, &ao), 0);
	CHECK_EQ(sgf_client_disconnect(c), -ENOTCONN);
	fake_srv_stop(&s);
}

struct writer {
	struct sgf_client *c;
	ssize_t result;
};

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	struct sgf_file f = { .nodeid = 7, .fh = 1 };
	size_t size = 4u << 20;
	uint8_t *buf = aligned_alloc(PAGE, size);

	if (buf)
		memset(buf, 0, size);
	wr->result = buf ? sgf_pwrite(wr->c, &f, buf, size, 0) : -ENOMEM;
	free(buf);
	return NULL;
}

/* The server stops reading while we are in the middle of sending a large
 * WRITE, then dies: the blocked sender returns. */
static void killed_while_sending(void)
{
	struct fake_srv s;
	struct tctx t;
	struct sgf_client *c = NULL;
	pthread_t th;

	memset(&t, 0, sizeof(t));
	t.mode = M_STALL_SECOND_WRITE;
	fake_srv_defaults(&s, handler, &t);
	s.sndbuf = 4096;
	int fd = fake_srv_start_process(&s);
	CHECK(fd >= 0);
	CHECK_EQ(sgf_client_attach(fd, NULL, &c), 0);
	if (!c) {
		fake_srv_stop(&s);
		return;
	}
	struct writer wr = { .c = c };
	pthread_create(&th, NULL, writer_main, &wr);
	/* Kill once the second WRITE is on its way; whether the sender is
	 * already blocked or not, the call must end the same way. */
	while (__atomic_load_n(&sgf_client_stats(c)->count[FUSE_WRITE], __ATOMIC_RELAXED) < 2)
		usleep(1000);
	usleep(20000);
	kill(s.child, SIGKILL);
	pthread_join(th, NULL);
	/* The first 1 MiB may have been answered before the server stalled. */
	CHECK(wr.result == -ENOTCONN || wr.result == (ssize_t)(1u << 20));
	CHECK_EQ(sgf_client_disconnect(c), -ENOTCONN);
	fake_srv_stop(&s);
}

/* The polling budget: a lone caller's results are the same polling or
 * not (the default polls, -1 never does), and out-of-range values are
 * refused. */
static void polling(void)
{
	static const struct sgf_client_opts never = { .spin_us = -1 };
	static const struct sgf_client_opts long_poll = { .spin_us = 10000 };
	struct sgf_client_opts too_long = { .spin_us = 10001 };
	struct fake_srv s;
	struct tctx t;
	const struct sgf_client_opts *opts[] = { NULL, &never, &long_poll };

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		struct sgf_client *c = open_fake(&s, &t, M_ECHO, 0, opts[i]);
		struct sgf_file f = { .nodeid = 7, .fh = 1 };
		uint8_t buf[3 * PAGE];
		struct fuse_attr_out ao;
		if (!c)
			continue;
		for (int k = 0; k < 50; k++) {
			CHECK_EQ(sgf_getattr(c, 40 + k, &ao), 0);
			CHECK_EQ(ao.attr.ino, 40 + k);
			CHECK_EQ(sgf_pread(c, &f, buf, sizeof(buf), k * 100), sizeof(buf));
			CHECK(pattern_ok(buf, sizeof(buf), k * 100));
		}
		CHECK_EQ(sgf_client_disconnect(c), 0);
		fake_srv_stop(&s);
	}
	struct sgf_client *c = NULL;
	fake_srv_defaults(&s, handler, &t);
	int fd = fake_srv_start(&s);
	CHECK(fd >= 0);
	CHECK_EQ(sgf_client_attach(fd, &too_long, &c), -EINVAL);
	fake_srv_stop(&s);  /* attach closed our end: the server sees EOF */
}

int main(void)
{
	static const struct sgf_client_opts never = { .spin_us = -1 };

	signal(SIGPIPE, SIG_IGN);
	full_both_ways_one_thread();
	full_both_ways_threads();
	replies_in_any_order(NULL);
	replies_in_any_order(&never);
	leader_leaves_first(NULL);
	leader_leaves_first(&never);
	polling();
	shutdown_ends_waits();
	silent_destroy();
	killed_while_sending();
	return check_exit();
}
