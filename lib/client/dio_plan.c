/* lib/client/dio_plan.c - cuts a caller's iovec array into READ/WRITE
 * requests: every segment contributes the page descriptors it spans, and a
 * request closes at max_pages descriptors or max_bytes, splitting a segment
 * where a limit falls. Pure functions, no I/O. */
#include <errno.h>
#include "dio.h"

void sgf_dio_cursor_init(struct sgf_dio_cursor *cur, const struct iovec *iov, int iovcnt,
			 uint64_t file_off, const struct sgf_dio_limits *lim,
			 enum sgf_dio_policy policy)
{
	cur->iov = iov;
	cur->iovcnt = iovcnt < 0 ? 0 : iovcnt;
	cur->idx = 0;
	cur->seg_off = 0;
	cur->file_off = file_off;
	cur->lim = *lim;
	if (cur->lim.max_pages == 0)
		cur->lim.max_pages = 1;
	if (cur->lim.max_bytes == 0)
		cur->lim.max_bytes = 1;
	cur->policy = policy;
}

/* Bytes that fit from address addr into avail_pages page descriptors. */
static uint64_t bytes_in_pages(uintptr_t addr, uint32_t avail_pages)
{
	return (uint64_t)(SGF_PAGE_SIZE - addr % SGF_PAGE_SIZE) +
	       (uint64_t)(avail_pages - 1) * SGF_PAGE_SIZE;
}

static void skip_empty(struct sgf_dio_cursor *cur)
{
	while (cur->idx < cur->iovcnt && cur->seg_off >= cur->iov[cur->idx].iov_len) {
		cur->idx++;
		cur->seg_off = 0;
	}
}

bool sgf_dio_plan_next(struct sgf_dio_cursor *cur, struct sgf_dio_req *out)
{
	skip_empty(cur);
	if (cur->idx >= cur->iovcnt)
		return false;

	*out = (struct sgf_dio_req){ .offset = cur->file_off, .first_iov = cur->idx,
				     .first_off = cur->seg_off };
	while (cur->idx < cur->iovcnt && out->npages < cur->lim.max_pages &&
	       out->size < cur->lim.max_bytes) {
		if (cur->seg_off >= cur->iov[cur->idx].iov_len) {
			skip_empty(cur);
			continue;
		}
		/* The pre-patch policy never mixes two segments in a request. */
		if (cur->policy == SGF_DIO_PER_SEGMENT && out->nsegs > 0)
			break;
		uintptr_t addr = (uintptr_t)cur->iov[cur->idx].iov_base + cur->seg_off;
		uint64_t take = cur->iov[cur->idx].iov_len - cur->seg_off;
		uint64_t room = cur->lim.max_bytes - out->size;
		uint64_t page_room = bytes_in_pages(addr, cur->lim.max_pages - out->npages);

		if (take > room)
			take = room;
		if (take > page_room)
			take = page_room;
		out->npages += sgf_pages_spanned(addr, (size_t)take);
		out->size += (size_t)take;
		out->nsegs++;
		cur->seg_off += (size_t)take;
		if (cur->seg_off == cur->iov[cur->idx].iov_len) {
			cur->idx++;
			cur->seg_off = 0;
		}
	}
	cur->file_off += out->size;
	return true;
}

int sgf_dio_slice(const struct iovec *iov, int iovcnt, const struct sgf_dio_req *rq,
		  struct iovec *out, unsigned cap)
{
	size_t left = rq->size;
	size_t skip = rq->first_off;
	unsigned n = 0;

	for (int i = rq->first_iov; left > 0; i++, skip = 0) {
		if (i < 0 || i >= iovcnt || skip > iov[i].iov_len)
			return -EINVAL;
		size_t len = iov[i].iov_len - skip;
		if (len == 0)
			continue;
		if (n == cap)
			return -EINVAL;
		if (len > left)
			len = left;
		out[n].iov_base = (char *)iov[i].iov_base + skip;
		out[n].iov_len = len;
		n++;
		left -= len;
	}
	return (int)n;
}
