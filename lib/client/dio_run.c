/* lib/client/dio_run.c - drives one vectored direct I/O: plans requests,
 * keeps up to a window of them in flight on a transport, folds completions
 * (which may arrive in any order) into the result in file order, and never
 * returns while a request still points into the caller's buffers. */
#include <errno.h>
#include <string.h>
#include "dio.h"

struct window_entry {
	size_t asked;
	ssize_t got;
	bool done;
};

ssize_t sgf_dio_run(const struct iovec *iov, int iovcnt, uint64_t off,
		    const struct sgf_dio_limits *lim, enum sgf_dio_policy policy,
		    unsigned window, const struct sgf_dio_transport *t)
{
	struct window_entry w[SGF_DIO_WINDOW_MAX];
	struct sgf_dio_cursor cur;
	struct sgf_dio_tally tally;
	struct sgf_dio_req pending;
	bool have_pending = false, stop = false;
	uint64_t next = 0, fold = 0;  /* sequence numbers: next to send, next to fold */
	unsigned inflight = 0;

	if (window == 0)
		window = 1;
	if (window > SGF_DIO_WINDOW_MAX)
		window = SGF_DIO_WINDOW_MAX;
	memset(w, 0, window * sizeof(w[0]));
	sgf_dio_cursor_init(&cur, iov, iovcnt, off, lim, policy);
	sgf_dio_tally_init(&tally);

	for (;;) {
		/* Tags are reused modulo window, so bound what is unfolded, not
		 * only what is in flight. */
		while (!stop && next - fold < window) {
			if (!have_pending) {
				if (!sgf_dio_plan_next(&cur, &pending)) {
					stop = true;
					break;
				}
				have_pending = true;
			}
			unsigned tag = (unsigned)(next % window);
			int r = t->submit(t->ctx, &pending, tag, inflight == 0);
			if (r == -EAGAIN && inflight > 0)
				break;  /* no free slot: collect a completion first */
			have_pending = false;
			w[tag] = (struct window_entry){ .asked = pending.size };
			next++;
			if (r < 0) {
				w[tag].done = true;
				w[tag].got = r;
				stop = true;
				break;
			}
			inflight++;
		}
		while (fold < next && w[fold % window].done) {
			struct window_entry *e = &w[fold % window];
			sgf_dio_tally_fold(&tally, e->asked, e->got);
			if (tally.ended)
				stop = true;
			fold++;
		}
		if (inflight == 0) {
			if (stop)
				break;
			continue;
		}

		unsigned tag = 0;
		ssize_t res = -EIO;
		t->complete(t->ctx, &tag, &res);
		if (tag >= window || w[tag].done)
			continue;  /* transport bug; never fold a result twice */
		w[tag].done = true;
		w[tag].got = res;
		inflight--;
		/* Anything after a failed or short request cannot count. */
		if (sgf_dio_ends_call(w[tag].asked, res))
			stop = true;
	}
	return sgf_dio_tally_result(&tally);
}
