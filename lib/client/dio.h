/* lib/client/dio.h - the dio engine, internal: a pure planner that cuts an
 * iovec array into READ/WRITE requests, a pure tally of the direct-I/O result
 * contract, and the loop that drives both over any transport (the client
 * connection, or a recording fake in the tests). */
#ifndef SGFUSE_CLIENT_DIO_H
#define SGFUSE_CLIENT_DIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sgfuse/client.h>

/* Limits one request must respect. */
struct sgf_dio_limits {
	uint32_t max_pages;   /* page descriptors per request, >= 1 */
	uint32_t max_bytes;   /* payload bytes per request, >= 1 */
};

/* Where planning stands in the caller's iovec array. */
struct sgf_dio_cursor {
	const struct iovec *iov;
	int iovcnt;
	int idx;              /* current segment */
	size_t seg_off;       /* bytes of it already planned */
	uint64_t file_off;    /* file offset of the next request */
	struct sgf_dio_limits lim;
	enum sgf_dio_policy policy;
};

/* One planned request: the contiguous file range [offset, offset+size) and
 * the slice of the caller's iovecs that carries it. */
struct sgf_dio_req {
	uint64_t offset;
	size_t size;
	uint32_t npages;      /* page descriptors it holds */
	uint32_t nsegs;       /* iovec entries in its slice */
	int first_iov;        /* slice start: segment index ... */
	size_t first_off;     /* ... and offset inside it */
};

void sgf_dio_cursor_init(struct sgf_dio_cursor *cur, const struct iovec *iov, int iovcnt,
			 uint64_t file_off, const struct sgf_dio_limits *lim,
			 enum sgf_dio_policy policy);

/* Plan the next request. Returns false when the iovecs are used up. */
bool sgf_dio_plan_next(struct sgf_dio_cursor *cur, struct sgf_dio_req *out);

/* Fill out[0..rq->nsegs) with the iovec slice of rq. Returns the count, or
 * -EINVAL when cap is too small or rq does not fit iov. */
int sgf_dio_slice(const struct iovec *iov, int iovcnt, const struct sgf_dio_req *rq,
		  struct iovec *out, unsigned cap);

/* The direct-I/O result contract, folded over request results in file order. */
struct sgf_dio_tally {
	size_t progress;      /* bytes of the completed prefix */
	int error;            /* the error that ended the call with no progress */
	bool ended;           /* a short reply or an error was folded */
};

void sgf_dio_tally_init(struct sgf_dio_tally *t);
/* Fold the next request in order: asked bytes, got = bytes moved or -errno. */
void sgf_dio_tally_fold(struct sgf_dio_tally *t, size_t asked, ssize_t got);
/* The call's return value. */
ssize_t sgf_dio_tally_result(const struct sgf_dio_tally *t);
/* Does this single result end the call (no point sending anything after it)? */
bool sgf_dio_ends_call(size_t asked, ssize_t got);

/* What the loop needs from a transport. */
struct sgf_dio_transport {
	void *ctx;
	/* Start request rq (its payload is the slice of the call's iovecs)
	 * under tag. may_block false: return -EAGAIN instead of waiting for
	 * room. Any other negative errno: nothing was sent. */
	int (*submit)(void *ctx, const struct sgf_dio_req *rq, unsigned tag, bool may_block);
	/* Wait for one of this call's requests to finish: its tag and result
	 * (bytes moved or -errno). Only called with requests in flight. */
	void (*complete)(void *ctx, unsigned *tag, ssize_t *result);
};

/* Upper bound on the window (requests one call keeps in flight). */
#define SGF_DIO_WINDOW_MAX 256u

/* Run one vectored direct I/O: plan, submit up to window requests at once
 * (tags are 0..window-1, reused), fold completions in file order, stop
 * submitting once the result is settled, and wait for everything sent.
 * Returns the tally's result. The caller has validated iov and the range. */
ssize_t sgf_dio_run(const struct iovec *iov, int iovcnt, uint64_t off,
		    const struct sgf_dio_limits *lim, enum sgf_dio_policy policy,
		    unsigned window, const struct sgf_dio_transport *t);

#endif
