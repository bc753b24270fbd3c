/* lib/client/io.c - sgf_preadv/sgf_pwritev: validates the caller's request
 * and runs the dio engine with the connection as its transport. Each planned
 * request takes a slot whose scratch iovecs hold its slice of the caller's
 * buffers, so WRITE payload is sent from and READ payload received into the
 * caller's memory directly. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include "conn.h"
#include "dio.h"

struct io_call {
	struct sgf_client *c;
	const struct sgf_file *f;
	bool write;
	const struct iovec *iov;
	int iovcnt;
	unsigned window;
	struct sgf_waiter w;
	struct sgf_slot *by_tag[SGF_DIO_WINDOW_MAX];
};

static int io_submit(void *ctx, const struct sgf_dio_req *rq, unsigned tag, bool may_block)
{
	struct io_call *io = ctx;
	struct sgf_client *c = io->c;
	struct sgf_slot *s;
	int r = sgf_slot_acquire(c, may_block, &s);

	if (r < 0)
		return r;
	/* iovbuf[0] header, [1] fixed argument, [2..] the slice. */
	int n = sgf_dio_slice(io->iov, io->iovcnt, rq, s->iovbuf + 2, s->iovcap - 2);
	if (n < 0) {
		sgf_slot_release(c, s);
		return -EIO;
	}
	struct sgf_expect ex = { .min = 0 };
	uint32_t opcode;
	struct fuse_write_in win;
	struct fuse_read_in rin;
	struct iovec send_vec[2];
	struct iovec *vec;
	int cnt;

	if (io->write) {
		opcode = FUSE_WRITE;
		memset(&win, 0, sizeof(win));
		win.fh = io->f->fh;
		win.offset = rq->offset;
		win.size = (uint32_t)rq->size;
		win.flags = io->f->flags;
		s->wout_iov = (struct iovec){ &s->wout, sizeof(s->wout) };
		memset(&s->wout, 0, sizeof(s->wout));
		ex = (struct sgf_expect){ .kind = SGF_RES_WRITE, .min = sizeof(s->wout),
					  .max = sizeof(s->wout), .iov = &s->wout_iov,
					  .iovcnt = 1, .sent = rq->size };
		vec = s->iovbuf;
		vec[1] = (struct iovec){ &win, sizeof(win) };
		cnt = n + 2;
	} else {
		opcode = FUSE_READ;
		memset(&rin, 0, sizeof(rin));
		rin.fh = io->f->fh;
		rin.offset = rq->offset;
		rin.size = (uint32_t)rq->size;
		rin.flags = io->f->flags;
		ex = (struct sgf_expect){ .kind = SGF_RES_LEN, .min = 0, .max = rq->size,
					  .iov = s->iovbuf + 2, .iovcnt = n };
		/* The slice is the reply's destination; send from other iovecs
		 * so the two never share entries. */
		vec = send_vec;
		vec[1] = (struct iovec){ &rin, sizeof(rin) };
		cnt = 2;
	}
	io->by_tag[tag] = s;
	sgf_slot_arm(c, s, opcode, &ex, &io->w, tag);
	sgf_stats_add(&c->stats, opcode, rq->size);
	sgf_stat_inc(&c->stats.seg_hist[sgf_hist_bucket(rq->npages)], 1);
	/* A failed send still completes the slot (see struct sgf_transport). */
	(void)sgf_send_request(c, s, opcode, io->f->nodeid, vec, cnt);
	return 0;
}

static void io_complete(void *ctx, unsigned *tag, ssize_t *result)
{
	struct io_call *io = ctx;
	struct sgf_client *c = io->c;
	struct sgf_slot *done = NULL;

	pthread_mutex_lock(&c->lock);
	while (done == NULL) {
		sgf_wait_locked(c, &io->w, NULL);
		for (unsigned t = 0; t < io->window && done == NULL; t++) {
			struct sgf_slot *s = io->by_tag[t];
			if (s && s->done) {
				done = s;
				*tag = t;
				*result = s->result;
				io->by_tag[t] = NULL;
				io->w.ndone--;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	sgf_slot_release(c, done);
}

/* Kernel-style checks before anything is sent. Returns the total size or
 * -EINVAL. */
static ssize_t check_range(const struct iovec *iov, int iovcnt, uint64_t off)
{
	size_t total = 0;

	if (iovcnt < 0 || (iovcnt > 0 && iov == NULL))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > (size_t)SSIZE_MAX - total)
			return -EINVAL;
		if (iov[i].iov_len > 0 && iov[i].iov_base == NULL)
			return -EFAULT;
		total += iov[i].iov_len;
	}
	if (off > (uint64_t)INT64_MAX || total > (uint64_t)INT64_MAX - off)
		return -EINVAL;
	return (ssize_t)total;
}

static ssize_t run_io(struct sgf_client *c, const struct sgf_file *f, const struct iovec *iov,
		      int iovcnt, uint64_t off, bool write)
{
	if (c == NULL || f == NULL)
		return -EINVAL;
	ssize_t total = check_range(iov, iovcnt, off);
	if (total <= 0)
		return total;

	struct io_call io = { .c = c, .f = f, .write = write, .iov = iov, .iovcnt = iovcnt,
			      .window = c->window };
	struct sgf_dio_limits lim = {
		.max_pages = c->conn.max_pages,
		.max_bytes = write ? c->conn.max_write : c->conn.max_read,
	};
	struct sgf_dio_transport t = { .ctx = &io, .submit = io_submit,
				       .complete = io_complete };
	int r = sgf_waiter_init(c, &io.w);
	if (r < 0)
		return r;
	ssize_t res = sgf_dio_run(iov, iovcnt, off, &lim, sgf_client_policy(c), io.window, &t);
	sgf_waiter_destroy(c, &io.w);
	return res;
}

ssize_t sgf_preadv(struct sgf_client *c, const struct sgf_file *f, const struct iovec *iov,
		   int iovcnt, uint64_t off)
{
	return run_io(c, f, iov, iovcnt, off, false);
}

ssize_t sgf_pwritev(struct sgf_client *c, const struct sgf_file *f, const struct iovec *iov,
		    int iovcnt, uint64_t off)
{
	return run_io(c, f, iov, iovcnt, off, true);
}

ssize_t sgf_pread(struct sgf_client *c, const struct sgf_file *f, void *buf, size_t size,
		  uint64_t off)
{
	struct iovec v = { .iov_base = buf, .iov_len = size };
	return run_io(c, f, &v, 1, off, false);
}

ssize_t sgf_pwrite(struct sgf_client *c, const struct sgf_file *f, const void *buf,
		   size_t size, uint64_t off)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = size };
	return run_io(c, f, &v, 1, off, true);
}
