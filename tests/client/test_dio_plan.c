/* tests/client/test_dio_plan.c - the dio planner and the result tally, with
 * no sockets: table-driven cases with exact request sizes (the shapes
 * Linux sends among them), and random iovec arrays checked against an independent
 * page-by-page model and the planner's invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "dio.h"

#define PAGE 4096u
#define KiB 1024u
#define MiB (1024u * 1024u)
#define MAX_SEGS 1024
#define MAX_REQS 4096

/* A segment as an offset into a page-aligned arena plus a length. */
struct seg {
	size_t at;
	size_t len;
};

struct plan_case {
	const char *name;
	uint32_t max_pages, max_bytes;
	enum sgf_dio_policy policy;
	/* Segments: either listed, or generated as count x len, one every stride. */
	struct seg segs[8];
	int nsegs;
	int gen_count;
	size_t gen_len, gen_stride, gen_at;
	/* Expected requests: sizes (and page counts when npages[0] != 0),
	 * or rep_count requests of rep_size after the listed ones. */
	size_t sizes[8];
	uint32_t npages[8];
	int nsizes;
	int rep_count;
	size_t rep_size;
};

static unsigned char *arena;
static size_t arena_size;

static int build_iov(const struct plan_case *pc, struct iovec *iov)
{
	int n = 0;

	for (int i = 0; i < pc->nsegs; i++, n++)
		iov[n] = (struct iovec){ arena + pc->segs[i].at, pc->segs[i].len };
	for (int i = 0; i < pc->gen_count; i++, n++)
		iov[n] = (struct iovec){ arena + pc->gen_at + (size_t)i * pc->gen_stride,
					 pc->gen_len };
	return n;
}

static int plan_all(const struct iovec *iov, int n, uint64_t off, uint32_t max_pages,
		    uint32_t max_bytes, enum sgf_dio_policy policy, struct sgf_dio_req *out)
{
	struct sgf_dio_limits lim = { max_pages, max_bytes };
	struct sgf_dio_cursor cur;
	int k = 0;

	sgf_dio_cursor_init(&cur, iov, n, off, &lim, policy);
	while (k < MAX_REQS && sgf_dio_plan_next(&cur, &out[k]))
		k++;
	return k;
}

static const struct plan_case cases[] = {
	{ "design: 300 x 100 B one per page", 256, MiB, SGF_DIO_PACKED,
	  .gen_count = 300, .gen_len = 100, .gen_stride = PAGE,
	  .sizes = { 25600, 4400 }, .npages = { 256, 44 }, .nsizes = 2 },
	{ "design: 300 x 100 B per segment", 256, MiB, SGF_DIO_PER_SEGMENT,
	  .gen_count = 300, .gen_len = 100, .gen_stride = PAGE,
	  .rep_count = 300, .rep_size = 100 },
	{ "design: 4 MiB at page offset 100", 256, MiB, SGF_DIO_PACKED,
	  .segs = { { 100, 4 * MiB } }, .nsegs = 1,
	  .sizes = { 1048476, 1048576, 1048576, 1048576, 100 },
	  .npages = { 256, 256, 256, 256, 1 }, .nsizes = 5 },
	{ "design: 4 MiB at page offset 100, per segment", 256, MiB, SGF_DIO_PER_SEGMENT,
	  .segs = { { 100, 4 * MiB } }, .nsegs = 1,
	  .sizes = { 1048476, 1048576, 1048576, 1048576, 100 }, .nsizes = 5 },
	{ "design: 32 x 4 KiB aligned", 256, MiB, SGF_DIO_PACKED,
	  .gen_count = 32, .gen_len = 4 * KiB, .gen_stride = 4 * KiB,
	  .sizes = { 131072 }, .npages = { 32 }, .nsizes = 1 },
	{ "design: 32 x 4 KiB aligned, max_pages 1", 1, MiB, SGF_DIO_PACKED,
	  .gen_count = 32, .gen_len = 4 * KiB, .gen_stride = 4 * KiB,
	  .rep_count = 32, .rep_size = 4096 },
	{ "32 x 4 KiB, max_pages 16", 16, MiB, SGF_DIO_PACKED,
	  .gen_count = 32, .gen_len = 4 * KiB, .gen_stride = 4 * KiB,
	  .sizes = { 65536, 65536 }, .npages = { 16, 16 }, .nsizes = 2 },
	{ "32 x 4 KiB, max_pages 32", 32, MiB, SGF_DIO_PACKED,
	  .gen_count = 32, .gen_len = 4 * KiB, .gen_stride = 4 * KiB,
	  .sizes = { 131072 }, .npages = { 32 }, .nsizes = 1 },
	{ "32 x 4 KiB, per segment", 256, MiB, SGF_DIO_PER_SEGMENT,
	  .gen_count = 32, .gen_len = 4 * KiB, .gen_stride = 4 * KiB,
	  .rep_count = 32, .rep_size = 4096 },
	/* Adjacent segments sharing a page each hold a descriptor for it, as
	 * the kernel pins the page once per segment. */
	{ "32 x 4 KiB contiguous at +100: two descriptors each", 256, MiB, SGF_DIO_PACKED,
	  .gen_count = 32, .gen_len = 4 * KiB, .gen_stride = 4 * KiB, .gen_at = 100,
	  .sizes = { 131072 }, .npages = { 64 }, .nsizes = 1 },
	{ "same, max_pages 32", 32, MiB, SGF_DIO_PACKED,
	  .gen_count = 32, .gen_len = 4 * KiB, .gen_stride = 4 * KiB, .gen_at = 100,
	  .sizes = { 65536, 65536 }, .npages = { 32, 32 }, .nsizes = 2 },
	{ "32 x 4 KiB, each at page offset 8: two pages per segment", 256, MiB,
	  SGF_DIO_PACKED, .gen_count = 32, .gen_len = 4 * KiB, .gen_stride = 8 * KiB,
	  .gen_at = 8, .sizes = { 131072 }, .npages = { 64 }, .nsizes = 1 },
	{ "same, max_pages 16 splits inside segments", 16, MiB, SGF_DIO_PACKED,
	  .gen_count = 32, .gen_len = 4 * KiB, .gen_stride = 8 * KiB, .gen_at = 8,
	  .rep_count = 4, .rep_size = 32768 },
	{ "10000 B at 4000 spans 4 pages", 256, MiB, SGF_DIO_PACKED,
	  .segs = { { 4000, 10000 } }, .nsegs = 1,
	  .sizes = { 10000 }, .npages = { 4 }, .nsizes = 1 },
	{ "10000 B at 4000, max_pages 1", 1, MiB, SGF_DIO_PACKED,
	  .segs = { { 4000, 10000 } }, .nsegs = 1,
	  .sizes = { 96, 4096, 4096, 1712 }, .npages = { 1, 1, 1, 1 }, .nsizes = 4 },
	{ "10000 B at 4000, max_pages 2", 2, MiB, SGF_DIO_PACKED,
	  .segs = { { 4000, 10000 } }, .nsegs = 1,
	  .sizes = { 4192, 5808 }, .npages = { 2, 2 }, .nsizes = 2 },
	{ "3 MiB aligned, max_write 1 MiB", 256, MiB, SGF_DIO_PACKED,
	  .segs = { { 0, 3 * MiB } }, .nsegs = 1, .rep_count = 3, .rep_size = MiB },
	{ "200000 B, byte limit 100000 splits mid-page", 256, 100000, SGF_DIO_PACKED,
	  .segs = { { 0, 200000 } }, .nsegs = 1,
	  .sizes = { 100000, 100000 }, .npages = { 25, 25 }, .nsizes = 2 },
	{ "small segments, byte limit 250", 256, 250, SGF_DIO_PACKED,
	  .segs = { { 0, 100 }, { PAGE, 100 }, { 2 * PAGE, 100 }, { 3 * PAGE, 100 } },
	  .nsegs = 4, .sizes = { 250, 150 }, .npages = { 3, 2 }, .nsizes = 2 },
	{ "zero-length segments are skipped", 256, MiB, SGF_DIO_PACKED,
	  .segs = { { 0, 0 }, { 10, 5 }, { 100, 0 }, { 200, 7 }, { 300, 0 } },
	  .nsegs = 5, .sizes = { 12 }, .npages = { 2 }, .nsizes = 1 },
	{ "only empty segments: no request", 256, MiB, SGF_DIO_PACKED,
	  .segs = { { 0, 0 }, { 10, 0 } }, .nsegs = 2, .nsizes = 0 },
	{ "per segment keeps segments apart and splits big ones", 2, MiB,
	  SGF_DIO_PER_SEGMENT,
	  .segs = { { 0, 100 }, { 50, 100 }, { PAGE - 10, 3 * PAGE } }, .nsegs = 3,
	  .sizes = { 100, 100, 10 + PAGE, 2 * PAGE - 10 }, .npages = { 1, 1, 2, 2 },
	  .nsizes = 4 },
	{ "two segments share one page: one descriptor each", 256, MiB, SGF_DIO_PACKED,
	  .segs = { { 0, 100 }, { 100, 100 } }, .nsegs = 2,
	  .sizes = { 200 }, .npages = { 2 }, .nsizes = 1 },
	{ "max_pages 256 with 4 KiB pages and 600 single pages", 256, MiB, SGF_DIO_PACKED,
	  .gen_count = 600, .gen_len = PAGE, .gen_stride = PAGE,
	  .sizes = { MiB, MiB, 88 * PAGE }, .npages = { 256, 256, 88 }, .nsizes = 3 },
};

static void run_case(const struct plan_case *pc)
{
	static struct iovec iov[MAX_SEGS + 8];
	static struct sgf_dio_req rq[MAX_REQS];
	int n = build_iov(pc, iov);
	int k = plan_all(iov, n, 12345, pc->max_pages, pc->max_bytes, pc->policy, rq);
	int want = pc->nsizes + pc->rep_count;

	CHECK_EQ_CTX(k, want, pc->name);
	uint64_t off = 12345;
	for (int i = 0; i < k && i < want; i++) {
		size_t size = i < pc->nsizes ? pc->sizes[i] : pc->rep_size;
		CHECK_EQ_CTX(rq[i].size, size, pc->name);
		if (i < pc->nsizes && pc->npages[0] != 0)
			CHECK_EQ_CTX(rq[i].npages, pc->npages[i], pc->name);
		CHECK_EQ_CTX(rq[i].offset, off, pc->name);
		off += rq[i].size;
	}
}

/* An independent model: walk the bytes page piece by page piece, opening a
 * new request when a limit or (per segment) a segment boundary says so. */
static int model_plan(const struct iovec *iov, int n, uint32_t max_pages, uint32_t max_bytes,
		      enum sgf_dio_policy policy, size_t *sizes, uint32_t *pages)
{
	int k = -1;
	for (int i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base;
		size_t left = iov[i].iov_len;
		bool new_seg = true;
		while (left > 0) {
			if (k < 0 || pages[k] == max_pages || sizes[k] == max_bytes ||
			    (policy == SGF_DIO_PER_SEGMENT && new_seg)) {
				k++;
				sizes[k] = 0;
				pages[k] = 0;
			}
			new_seg = false;
			size_t piece = PAGE - a % PAGE;
			if (piece > left)
				piece = left;
			if (piece > max_bytes - sizes[k])
				piece = max_bytes - sizes[k];
			sizes[k] += piece;
			pages[k]++;
			a += piece;
			left -= piece;
		}
	}
	return k + 1;
}

/* Random arrays: planner equals model, slices reassemble the byte stream,
 * and every request respects its limits. */
static void random_cases(unsigned rounds)
{
	static struct iovec iov[64];
	static struct sgf_dio_req rq[MAX_REQS];
	static struct iovec slice[4200];
	static size_t msizes[MAX_REQS];
	static uint32_t mpages[MAX_REQS];
	static const uint32_t page_limits[] = { 1, 2, 3, 16, 32, 256 };
	unsigned seed = 42;

	for (unsigned round = 0; round < rounds; round++) {
		int n = 1 + rand_r(&seed) % 40;
		size_t total = 0;
		for (int i = 0; i < n; i++) {
			size_t len = (size_t)rand_r(&seed) % (rand_r(&seed) % 4 ? 5000 : 70000);
			size_t at = (size_t)rand_r(&seed) % (arena_size - len);
			iov[i] = (struct iovec){ arena + at, len };
			total += len;
		}
		uint32_t mp = page_limits[rand_r(&seed) % 6];
		uint32_t mb = rand_r(&seed) % 3 ? 1 + (uint32_t)rand_r(&seed) % (300 * KiB) : MiB;
		enum sgf_dio_policy pol = rand_r(&seed) % 2 ? SGF_DIO_PACKED : SGF_DIO_PER_SEGMENT;
		char ctx[96];
		snprintf(ctx, sizeof(ctx), "random round %u (pages %u bytes %u %s)", round, mp,
			 mb, pol == SGF_DIO_PACKED ? "packed" : "per-segment");

		int k = plan_all(iov, n, 0, mp, mb, pol, rq);
		int mk = model_plan(iov, n, mp, mb, pol, msizes, mpages);
		CHECK_EQ_CTX(k, mk, ctx);

		/* Walk the original bytes alongside the slices. */
		int si = 0;
		size_t so = 0, sum = 0;
		for (int r = 0; r < k && r < mk; r++) {
			CHECK_EQ_CTX(rq[r].size, msizes[r], ctx);
			CHECK_EQ_CTX(rq[r].npages, mpages[r], ctx);
			CHECK(rq[r].npages <= mp && rq[r].size <= mb && rq[r].size > 0);
			CHECK_EQ_CTX(rq[r].offset, sum, ctx);
			int cnt = sgf_dio_slice(iov, n, &rq[r], slice, 4200);
			CHECK_EQ_CTX(cnt, rq[r].nsegs, ctx);
			uint32_t pages = 0;
			size_t bytes = 0;
			for (int j = 0; j < cnt; j++) {
				while (si < n && so == iov[si].iov_len) {
					si++;
					so = 0;
				}
				CHECK(si < n);
				if (si >= n)
					break;
				CHECK(slice[j].iov_base == (char *)iov[si].iov_base + so);
				CHECK(slice[j].iov_len <= iov[si].iov_len - so);
				so += slice[j].iov_len;
				pages += sgf_pages_spanned((uintptr_t)slice[j].iov_base,
							   slice[j].iov_len);
				bytes += slice[j].iov_len;
			}
			CHECK_EQ_CTX(pages, rq[r].npages, ctx);
			CHECK_EQ_CTX(bytes, rq[r].size, ctx);
			if (pol == SGF_DIO_PER_SEGMENT)
				CHECK_EQ_CTX(cnt, 1, ctx);
			sum += rq[r].size;
		}
		CHECK_EQ_CTX(sum, total, ctx);
	}
}

static void slice_errors(void)
{
	struct iovec iov[2] = { { arena, 100 }, { arena + 200, 100 } };
	struct iovec out[1];
	struct sgf_dio_req rq = { .size = 150, .first_iov = 0, .first_off = 0 };

	CHECK_EQ(sgf_dio_slice(iov, 2, &rq, out, 1), -EINVAL);  /* needs 2 entries */
	rq.size = 500;
	struct iovec out2[4];
	CHECK_EQ(sgf_dio_slice(iov, 2, &rq, out2, 4), -EINVAL); /* runs past iov */
	rq = (struct sgf_dio_req){ .size = 50, .first_iov = 1, .first_off = 50 };
	CHECK_EQ(sgf_dio_slice(iov, 2, &rq, out2, 4), 1);
	CHECK(out2[0].iov_base == arena + 250 && out2[0].iov_len == 50);
}

struct tally_case {
	const char *name;
	int n;
	size_t asked[6];
	ssize_t got[6];
	ssize_t want;
};

static const struct tally_case tallies[] = {
	{ "all complete", 3, { 10, 20, 30 }, { 10, 20, 30 }, 60 },
	{ "error on first", 3, { 10, 20, 30 }, { -EIO, 20, 30 }, -EIO },
	{ "error on middle", 3, { 10, 20, 30 }, { 10, -ENOSPC, 30 }, 10 },
	{ "error on last", 3, { 10, 20, 30 }, { 10, 20, -EIO }, 30 },
	{ "short first", 3, { 10, 20, 30 }, { 4, 20, 30 }, 4 },
	{ "short middle ends the call", 3, { 10, 20, 30 }, { 10, 5, 30 }, 15 },
	{ "short last", 3, { 10, 20, 30 }, { 10, 20, 29 }, 59 },
	{ "zero bytes first (EOF)", 2, { 10, 20 }, { 0, 20 }, 0 },
	{ "error after short is ignored", 3, { 10, 20, 30 }, { 10, 3, -EIO }, 13 },
	{ "short after error is ignored", 3, { 10, 20, 30 }, { -EACCES, 3, 30 }, -EACCES },
	{ "nothing", 0, { 0 }, { 0 }, 0 },
};

static void tally_cases(void)
{
	for (size_t i = 0; i < sizeof(tallies) / sizeof(tallies[0]); i++) {
		const struct tally_case *tc = &tallies[i];
		struct sgf_dio_tally t;
		sgf_dio_tally_init(&t);
		for (int j = 0; j < tc->n; j++)
			sgf_dio_tally_fold(&t, tc->asked[j], tc->got[j]);
		CHECK_EQ_CTX(sgf_dio_tally_result(&t), tc->want, tc->name);
	}
	CHECK(sgf_dio_ends_call(10, 9));
	CHECK(sgf_dio_ends_call(10, -EIO));
	CHECK(!sgf_dio_ends_call(10, 10));
}

int main(void)
{
	arena_size = 8 * MiB;
	arena = aligned_alloc(PAGE, arena_size);
	if (!arena)
		return 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	random_cases(3000);
	slice_errors();
	tally_cases();
	free(arena);
	return check_exit();
}
