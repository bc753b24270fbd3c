/* tests/client/test_dio_run.c - the dio loop over a fake transport that
 * records every request and completes them in a chosen order (in order,
 * reversed, random) with scripted results: exact request sizes, the window
 * and table bounds, and the result contract under errors, short replies and
 * out-of-order completion. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "dio.h"

#define PAGE 4096u
#define MiB (1024u * 1024u)
#define MAX_REC 4096

enum order { IN_ORDER, REVERSED, RANDOM };
enum script { FULL, ERROR_AT, SHORT_AT, EOF_AT_LEN };

struct flight {
	unsigned tag, seq;
	size_t size;
	ssize_t result;
};

struct fake {
	/* configuration */
	unsigned slots;         /* table capacity */
	enum order order;
	enum script script;
	unsigned at;            /* request index for ERROR_AT / SHORT_AT */
	uint64_t file_len;      /* EOF_AT_LEN */
	int fail_submit_at;     /* submit returns -ENOTCONN for this seq; -1 never */
	unsigned seed;
	/* what happened */
	struct flight fl[256];
	unsigned nfl;
	unsigned nsub;
	size_t sizes[MAX_REC];
	uint32_t npages[MAX_REC];
	unsigned max_inflight;
	bool settled;
	unsigned submits_after_settle;
	unsigned tag_clashes;
	unsigned blocking_when_full;
};

static ssize_t scripted(struct fake *f, unsigned seq, const struct sgf_dio_req *rq)
{
	switch (f->script) {
	case ERROR_AT:
		return seq == f->at ? -EIO : (ssize_t)rq->size;
	case SHORT_AT:
		return seq == f->at ? (ssize_t)(rq->size / 2) : (ssize_t)rq->size;
	case EOF_AT_LEN:
		if (rq->offset >= f->file_len)
			return 0;
		return (ssize_t)(f->file_len - rq->offset < rq->size ? f->file_len - rq->offset
								     : rq->size);
	case FULL:
	default:
		return (ssize_t)rq->size;
	}
}

static int fake_submit(void *ctx, const struct sgf_dio_req *rq, unsigned tag, bool may_block)
{
	struct fake *f = ctx;

	if (f->nfl == f->slots) {
		if (may_block)
			f->blocking_when_full++;  /* a real table would deadlock here */
		return -EAGAIN;
	}
	if ((int)f->nsub == f->fail_submit_at) {
		f->nsub++;
		return -ENOTCONN;
	}
	for (unsigned i = 0; i < f->nfl; i++)
		if (f->fl[i].tag == tag)
			f->tag_clashes++;
	if (f->settled)
		f->submits_after_settle++;
	if (f->nsub < MAX_REC) {
		f->sizes[f->nsub] = rq->size;
		f->npages[f->nsub] = rq->npages;
	}
	f->fl[f->nfl++] = (struct flight){ tag, f->nsub, rq->size, scripted(f, f->nsub, rq) };
	f->nsub++;
	if (f->nfl > f->max_inflight)
		f->max_inflight = f->nfl;
	return 0;
}

static void fake_complete(void *ctx, unsigned *tag, ssize_t *result)
{
	struct fake *f = ctx;
	unsigned pick = 0;

	if (f->order == REVERSED)
		pick = f->nfl - 1;
	else if (f->order == RANDOM)
		pick = (unsigned)rand_r(&f->seed) % f->nfl;
	struct flight fl = f->fl[pick];
	/* Keep the rest in submission order. */
	memmove(&f->fl[pick], &f->fl[pick + 1], (f->nfl - pick - 1) * sizeof(fl));
	f->nfl--;
	if (sgf_dio_ends_call(fl.size, fl.result))
		f->settled = true;
	*tag = fl.tag;
	*result = fl.result;
}

static ssize_t run(struct fake *f, const struct iovec *iov, int n, uint32_t max_pages,
		   uint32_t max_bytes, enum sgf_dio_policy pol, unsigned window)
{
	struct sgf_dio_limits lim = { max_pages, max_bytes };
	struct sgf_dio_transport t = { .ctx = f, .submit = fake_submit, .complete = fake_complete };
	ssize_t r = sgf_dio_run(iov, n, 0, &lim, pol, window, &t);

	CHECK_EQ(f->nfl, 0);  /* nothing may still point into the caller's buffers */
	CHECK_EQ(f->tag_clashes, 0);
	CHECK_EQ(f->blocking_when_full, 0);
	CHECK_EQ(f->submits_after_settle, 0);
	CHECK(f->max_inflight <= window && f->max_inflight <= f->slots);
	return r;
}

static struct fake fake_new(enum order o, enum script s, unsigned at)
{
	struct fake f;
	memset(&f, 0, sizeof(f));
	f.slots = 256;
	f.order = o;
	f.script = s;
	f.at = at;
	f.fail_submit_at = -1;
	f.seed = 7;
	return f;
}

static unsigned char *arena;

static void design_cases(void)
{
	static struct iovec iov[300];
	ssize_t r;

	/* 300 x 100 B, one per page */
	for (int i = 0; i < 300; i++)
		iov[i] = (struct iovec){ arena + (size_t)i * PAGE, 100 };
	struct fake f = fake_new(IN_ORDER, FULL, 0);
	r = run(&f, iov, 300, 256, MiB, SGF_DIO_PACKED, 16);
	CHECK_EQ(r, 30000);
	CHECK_EQ(f.nsub, 2);
	CHECK_EQ(f.sizes[0], 25600);
	CHECK_EQ(f.sizes[1], 4400);
	CHECK_EQ(f.npages[0], 256);
	CHECK_EQ(f.npages[1], 44);

	f = fake_new(IN_ORDER, FULL, 0);
	r = run(&f, iov, 300, 256, MiB, SGF_DIO_PER_SEGMENT, 16);
	CHECK_EQ(r, 30000);
	CHECK_EQ(f.nsub, 300);
	CHECK_EQ(f.max_inflight, 16);

	/* 4 MiB at page offset 100 */
	iov[0] = (struct iovec){ arena + 100, 4 * MiB };
	f = fake_new(REVERSED, FULL, 0);
	r = run(&f, iov, 1, 256, MiB, SGF_DIO_PACKED, 16);
	CHECK_EQ(r, 4 * MiB);
	CHECK_EQ(f.nsub, 5);
	static const size_t want4[] = { 1048476, 1048576, 1048576, 1048576, 100 };
	for (int i = 0; i < 5; i++)
		CHECK_EQ(f.sizes[i], want4[i]);

	/* 32 x 4 KiB aligned */
	for (int i = 0; i < 32; i++)
		iov[i] = (struct iovec){ arena + (size_t)i * PAGE, PAGE };
	f = fake_new(IN_ORDER, FULL, 0);
	r = run(&f, iov, 32, 256, MiB, SGF_DIO_PACKED, 16);
	CHECK_EQ(r, 131072);
	CHECK_EQ(f.nsub, 1);
	CHECK_EQ(f.sizes[0], 131072);
	f = fake_new(RANDOM, FULL, 0);
	r = run(&f, iov, 32, 1, MiB, SGF_DIO_PACKED, 16);
	CHECK_EQ(r, 131072);
	CHECK_EQ(f.nsub, 32);
	for (int i = 0; i < 32; i++)
		CHECK_EQ(f.sizes[i], 4096);
}

/* 20 requests of one page each: error / short on first, middle, last, in
 * every completion order. */
static void contract_cases(void)
{
	static struct iovec iov[20];
	static const enum order orders[] = { IN_ORDER, REVERSED, RANDOM };
	static const unsigned ats[] = { 0, 9, 19 };
	char ctx[80];

	for (int i = 0; i < 20; i++)
		iov[i] = (struct iovec){ arena + (size_t)i * PAGE, PAGE };
	for (int o = 0; o < 3; o++) {
		for (int a = 0; a < 3; a++) {
			for (unsigned window = 1; window <= 32; window *= 4) {
				snprintf(ctx, sizeof(ctx), "order %d at %u window %u", o, ats[a],
					 window);
				struct fake f = fake_new(orders[o], ERROR_AT, ats[a]);
				ssize_t r = run(&f, iov, 20, 1, MiB, SGF_DIO_PACKED, window);
				CHECK_EQ_CTX(r, ats[a] == 0 ? -EIO : (ssize_t)(ats[a] * PAGE), ctx);

				f = fake_new(orders[o], SHORT_AT, ats[a]);
				r = run(&f, iov, 20, 1, MiB, SGF_DIO_PACKED, window);
				CHECK_EQ_CTX(r, (ssize_t)(ats[a] * PAGE + PAGE / 2), ctx);

				f = fake_new(orders[o], FULL, 0);
				r = run(&f, iov, 20, 1, MiB, SGF_DIO_PACKED, window);
				CHECK_EQ_CTX(r, 20 * PAGE, ctx);
				CHECK_EQ_CTX(f.nsub, 20, ctx);
			}
		}
	}
}

static void backpressure_and_failures(void)
{
	static struct iovec iov[64];
	ssize_t r;

	for (int i = 0; i < 64; i++)
		iov[i] = (struct iovec){ arena + (size_t)i * 2 * PAGE + 8, 1000 };
	/* A table of 2 slots under a window of 16: everything still goes. */
	struct fake f = fake_new(RANDOM, FULL, 0);
	f.slots = 2;
	r = run(&f, iov, 64, 256, MiB, SGF_DIO_PER_SEGMENT, 16);
	CHECK_EQ(r, 64000);
	CHECK_EQ(f.nsub, 64);
	CHECK(f.max_inflight <= 2);

	/* The connection dies at the 10th submit: the prefix before it counts. */
	f = fake_new(IN_ORDER, FULL, 0);
	f.fail_submit_at = 10;
	r = run(&f, iov, 64, 256, MiB, SGF_DIO_PER_SEGMENT, 4);
	CHECK_EQ(r, 10000);
	f = fake_new(REVERSED, FULL, 0);
	f.fail_submit_at = 0;
	r = run(&f, iov, 64, 256, MiB, SGF_DIO_PER_SEGMENT, 4);
	CHECK_EQ(r, -ENOTCONN);

	/* Reading across end of file: the short request ends the call. */
	for (int o = 0; o < 3; o++) {
		f = fake_new((enum order)o, EOF_AT_LEN, 0);
		f.file_len = 5500;
		r = run(&f, iov, 64, 256, MiB, SGF_DIO_PER_SEGMENT, 8);
		CHECK_EQ(r, 5500);
		f = fake_new((enum order)o, EOF_AT_LEN, 0);
		f.file_len = 0;
		r = run(&f, iov, 64, 256, MiB, SGF_DIO_PER_SEGMENT, 8);
		CHECK_EQ(r, 0);
	}

	/* Nothing to do. */
	f = fake_new(IN_ORDER, FULL, 0);
	r = run(&f, iov, 0, 256, MiB, SGF_DIO_PACKED, 8);
	CHECK_EQ(r, 0);
	CHECK_EQ(f.nsub, 0);
}

int main(void)
{
	arena = aligned_alloc(PAGE, 8 * MiB);
	if (!arena)
		return 1;
	design_cases();
	contract_cases();
	backpressure_and_failures();
	free(arena);
	return check_exit();
}
