/* lib/server/uring.c - FUSE over io_uring: the kernel keeps one queue per
 * possible CPU and hands a request to the queue of the CPU its caller runs
 * on; here each queue has a ring, a thread pinned to that CPU and
 * io_uring_depth entries. An entry is a header buffer and a payload buffer
 * registered with the kernel, and both belong to one slot request of the
 * session's pool: a request arrives in the entry, is validated and
 * dispatched as one from /dev/fuse, its reply is written back into the
 * entry (the queue is the request's channel, the entry its slot), and when
 * the request's last reference drops the entry goes on its queue's commit
 * list. The queue thread then commits the reply and fetches the next
 * request with one COMMIT_AND_FETCH.
 *
 * Only the queue thread submits to its ring: a command's completion runs as
 * task work of the thread that submitted it, and io_uring cancels a
 * thread's commands when that thread exits, so a reply from a backend
 * thread is handed over (list + eventfd), never submitted there. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "uring.h"

/* user_data of the read of the queue's eventfd (entries are pointers). */
#define TAG_KICK 1u

/* Tries of a REGISTER the kernel answers EAGAIN (INIT not processed yet:
 * cannot last, since we register only after the INIT reply was written). */
#define REGISTER_TRIES 100

struct uring_queue;

struct uring_ent {
	struct uring_queue *uq;
	struct sgf_request *q;        /* owns the buffers */
	struct sgf_fuse_uring_req_header *hdr;
	char *payload;
	size_t payload_size;
	struct iovec reg[2];          /* what REGISTER hands the kernel */
	uint64_t commit_id;
	bool replied;                 /* a reply is in the buffers */
	unsigned register_tries;
	struct uring_ent *next_commit;
};

struct uring_queue {
	struct sgf_chan ch;           /* first: replies go through ch.ops->send */
	struct sgf_uring *u;
	unsigned qid;
	pthread_t thread;             /* as created */
	pthread_t self;               /* as the thread itself sees it */
	bool started;
	struct io_uring ring;
	bool ring_ok;
	int kick_fd;                  /* commits handed over, or stop */
	uint64_t kick_buf;
	/* Held while a request is dispatched, so sgf_uring_drain() can wait
	 * for the one under way. */
	pthread_mutex_t dispatch_lock;
	pthread_mutex_t lock;         /* commits */
	struct uring_ent *commits;
	struct uring_ent *ents;
};

struct sgf_uring {
	struct sgf_session *se;
	struct sgf_chan *dev;
	unsigned nqueues, depth;
	struct uring_queue *queues;
	atomic_bool reported;         /* one line on stderr for all queues */
	atomic_bool draining;         /* answer new requests EIO, undispatched */
	atomic_bool stop;             /* commit what is left and end */
};

unsigned sgf_uring_nqueues(void)
{
	/* The kernel sizes its queue array by num_possible_cpus(): count the
	 * CPUs of /sys/devices/system/cpu/possible ("0-3", "0,2-5"). */
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	unsigned n = 0, lo, hi;
	char sep;

	if (f != NULL) {
		while (fscanf(f, "%u", &lo) == 1) {
			hi = lo;
			if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
				if (fscanf(f, "%u", &hi) != 1)
					break;
				if (fscanf(f, "%c", &sep) != 1)
					sep = '\n';
			}
			if (hi >= lo && hi - lo < 65536)
				n += hi - lo + 1;
			if (sep != ',')
				break;
		}
		fclose(f);
	}
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_CONF);
		n = c > 0 ? (unsigned)c : 1;
	}
	return n;
}

/* One line for the whole session: why io_uring is not used. */
__attribute__((format(printf, 2, 3)))
static void report(struct sgf_uring *u, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (atomic_exchange(&u->reported, true))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "sgfuse: io_uring not used: %s; serving through /dev/fuse\n", msg);
}

static void report_not_offered(struct sgf_uring *u)
{
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "re");
	int c = f ? fgetc(f) : EOF;

	if (f)
		fclose(f);
	if (f == NULL)
		report(u, "this kernel has no FUSE over io_uring (it needs Linux 6.14 or "
			  "later built with CONFIG_FUSE_IO_URING)");
	else if (c == 'N' || c == '0')
		report(u, "the kernel has it switched off; switch it on before mounting "
			  "with: echo 1 > /sys/module/fuse/parameters/enable_uring");
	else
		report(u, "the kernel did not offer it at INIT");
}

/* ---- the entry's reply ---------------------------------------------------- */

static void put_reply_header(struct uring_ent *e, int error, uint32_t payload_len)
{
	struct fuse_out_header oh = { .len = (uint32_t)sizeof(oh) + payload_len,
				      .error = error,
				      .unique = e->commit_id };

	memcpy(e->hdr->in_out, &oh, sizeof(oh));
	e->hdr->ring_ent_in_out.payload_sz = payload_len;
	e->replied = true;
}

/* Does a piece of the reply come from inside the payload, but not from
 * where it goes? Copying the pieces in order could then overwrite one
 * still to be copied (sgf_reply_iov over parts of a READ's own buffer). */
static bool needs_bounce(const struct uring_ent *e, const struct iovec *iov, int iovcnt)
{
	uintptr_t lo = (uintptr_t)e->payload, hi = lo + e->payload_size;
	size_t off = 0;

	for (int i = 1; i < iovcnt; i++) {
		uintptr_t p = (uintptr_t)iov[i].iov_base;
		if (p + iov[i].iov_len > lo && p < hi && p != lo + off)
			return true;
		off += iov[i].iov_len;
	}
	return false;
}

/* The reply to the request in entry slot: out header into the header
 * buffer, everything after it into the payload (data already there, a
 * READ the filesystem read into the payload, is not copied). */
static int uring_send(struct sgf_chan *ch, void *slot, const struct iovec *iov, int iovcnt)
{
	struct uring_ent *e = slot;
	const struct fuse_out_header *oh = iov[0].iov_base;
	size_t off = 0, total = 0;
	char *bounce = NULL, *dst;

	(void)ch;
	if (e == NULL || iov[0].iov_len != sizeof(*oh))
		return -EINVAL; /* a ring carries replies only */
	for (int i = 1; i < iovcnt; i++) {
		if (iov[i].iov_len > e->payload_size - total) {
			put_reply_header(e, -EIO, 0);
			return -EMSGSIZE;
		}
		total += iov[i].iov_len;
	}
	if (needs_bounce(e, iov, iovcnt) && (bounce = malloc(total)) == NULL) {
		put_reply_header(e, -EIO, 0);
		return -ENOMEM;
	}
	dst = bounce ? bounce : e->payload;
	for (int i = 1; i < iovcnt; i++) {
		if (iov[i].iov_base != dst + off)
			memmove(dst + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	if (bounce) {
		memcpy(e->payload, bounce, total);
		free(bounce);
	}
	put_reply_header(e, oh->error, oh->error ? 0 : (uint32_t)total);
	return 0;
}

static const struct sgf_chan_ops uring_chan_ops = {
	.send = uring_send,
};

/* The request's last reference is gone (pool_lock held): commit. A request
 * that got no reply (a message without a usable header, or one of a kind
 * that is never answered) is answered EIO, or the entry would be lost. */
static void ent_give_back(struct sgf_request *q)
{
	struct uring_ent *e = q->slot;
	struct uring_queue *uq = e->uq;
	uint64_t one = 1;
	bool kick;

	if (!e->replied)
		put_reply_header(e, -EIO, 0);
	pthread_mutex_lock(&uq->lock);
	e->next_commit = uq->commits;
	uq->commits = e;
	kick = !pthread_equal(pthread_self(), uq->self);
	pthread_mutex_unlock(&uq->lock);
	/* Only EAGAIN (counter full) can fail: readable then anyway. */
	if (kick && write(uq->kick_fd, &one, sizeof(one)) < 0) {
	}
}

/* ---- commands ------------------------------------------------------------- */

static struct io_uring_sqe *get_sqe(struct uring_queue *uq)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&uq->ring);

	if (sqe == NULL) { /* full: hand what is there to the kernel first */
		io_uring_submit(&uq->ring);
		sqe = io_uring_get_sqe(&uq->ring);
	}
	return sqe;
}

static int prep_cmd(struct uring_queue *uq, struct uring_ent *e, uint32_t op)
{
	struct io_uring_sqe *sqe = get_sqe(uq);
	struct sgf_fuse_uring_cmd_req *cmd;

	if (sqe == NULL)
		return -EBUSY;
	memset(sqe, 0, 2 * sizeof(*sqe)); /* SQE128: the command area too */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->fd = 0; /* the registered /dev/fuse fd */
	sqe->cmd_op = op;
	if (op == SGF_FUSE_IO_URING_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)e->reg;
		sqe->len = 2;
	}
	cmd = (struct sgf_fuse_uring_cmd_req *)(void *)sqe->cmd;
	cmd->qid = (uint16_t)uq->qid;
	cmd->commit_id = op == SGF_FUSE_IO_URING_CMD_COMMIT_AND_FETCH ? e->commit_id : 0;
	io_uring_sqe_set_data(sqe, e);
	return 0;
}

static int prep_kick(struct uring_queue *uq)
{
	struct io_uring_sqe *sqe = get_sqe(uq);

	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_read(sqe, uq->kick_fd, &uq->kick_buf, sizeof(uq->kick_buf), 0);
	io_uring_sqe_set_data64(sqe, TAG_KICK);
	return 0;
}

/* Commit every entry handed back since the last round. */
static void prep_commits(struct uring_queue *uq)
{
	struct uring_ent *e;

	pthread_mutex_lock(&uq->lock);
	e = uq->commits;
	uq->commits = NULL;
	pthread_mutex_unlock(&uq->lock);
	while (e != NULL) {
		struct uring_ent *next = e->next_commit;
		if (prep_cmd(uq, e, SGF_FUSE_IO_URING_CMD_COMMIT_AND_FETCH) != 0)
			report(uq->u, "the ring of queue %u is full", uq->qid);
		e = next;
	}
}

/* ---- requests ------------------------------------------------------------- */

/* A request arrived in e: put its header and fixed argument right before
 * the payload, so it is one message as /dev/fuse would have delivered it
 * (and a WRITE's data stays page-aligned where the kernel put it), then
 * handle it like any other. */
static void take_request(struct uring_queue *uq, struct uring_ent *e)
{
	struct sgf_session *se = uq->u->se;
	struct sgf_request *q = e->q;
	const struct sgf_fuse_uring_ent_in_out *io = &e->hdr->ring_ent_in_out;
	struct fuse_in_header h;
	uint32_t payload = io->payload_sz;
	size_t op_len = 0, len = sizeof(h);
	int ret;

	memcpy(&h, e->hdr->in_out, sizeof(h));
	e->commit_id = io->commit_id;
	e->replied = false;
	sgf_pool_take_slot(q);
	sgf_stat_inc(&se->stats.uring, 1);
	pthread_mutex_lock(&uq->dispatch_lock);
	if (atomic_load(&uq->u->draining)) {
		/* The session is ending: nobody may keep it now. Unanswered,
		 * it is committed EIO. */
		pthread_mutex_unlock(&uq->dispatch_lock);
		sgf_pool_put(q);
		return;
	}
	/* The kernel reports only the payload's size; the header's len
	 * covers header, fixed argument and payload, so the fixed argument
	 * is what is left. Sizes that do not add up leave the header alone,
	 * which fails validation and is answered with an error. */
	if (payload <= e->payload_size && h.len >= sizeof(h) + payload &&
	    h.len - sizeof(h) - payload <= SGF_FUSE_URING_OP_IN_OUT_SZ) {
		op_len = h.len - sizeof(h) - payload;
		len = h.len;
	}
	q->recv_buf = e->payload - op_len - sizeof(h);
	memcpy(q->recv_buf, &h, sizeof(h));
	memcpy(q->recv_buf + sizeof(h), e->hdr->op_in, op_len);
	ret = sgf_session_handle(se, &uq->ch, q, len, NULL);
	pthread_mutex_unlock(&uq->dispatch_lock);
	if (ret != SGF_KEPT)
		sgf_pool_put(q); /* the worker's reference: commits */
	if (ret < 0 && ret != SGF_KEPT && se->opts.debug)
		fprintf(stderr, "sgfuse: reply not sent: %s\n", strerror(-ret));
}

static void entry_done(struct uring_queue *uq, struct uring_ent *e, int res)
{
	if (res == 0) {
		e->register_tries = 0;
		take_request(uq, e);
		return;
	}
	if (res == -EAGAIN && e->register_tries > 0 && e->register_tries < REGISTER_TRIES) {
		/* INIT not processed yet: register again shortly. */
		e->register_tries++;
		usleep(1000);
		prep_cmd(uq, e, SGF_FUSE_IO_URING_CMD_REGISTER);
		return;
	}
	/* ENOTCONN / ECONNABORTED: the connection ended (unmount); the entry
	 * is done with. */
	if (res == -ENOTCONN || res == -ECONNABORTED)
		return;
	/* Any other error while registering means the kernel will not use
	 * the ring (it then keeps serving /dev/fuse). */
	if (e->register_tries > 0) {
		report(uq->u, "registering ring entries of queue %u failed: %s", uq->qid,
		       strerror(-res));
		return;
	}
	/* A commit the kernel refused on a live connection leaves the entry
	 * with the kernel for good: register its buffers afresh, or the
	 * queue would run out of entries and its CPU's callers wait. */
	fprintf(stderr, "sgfuse: io_uring queue %u: commit refused (%s); registering the entry again\n",
		uq->qid, strerror(-res));
	e->register_tries = 1;
	prep_cmd(uq, e, SGF_FUSE_IO_URING_CMD_REGISTER);
}

/* ---- the queue thread ----------------------------------------------------- */

static int queue_setup(struct uring_queue *uq)
{
	struct sgf_uring *u = uq->u;
	unsigned entries = u->depth + 2; /* an entry's command each, wake, kick */
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE,
				     .cq_entries = 2 * entries };
	int fd = sgf_chan_fd(u->dev);
	int err;

	err = io_uring_queue_init_params(entries, &uq->ring, &p);
	if (err)
		return err;
	uq->ring_ok = true;
	/* A registered file spares the lookup of the fd per command. */
	err = io_uring_register_files(&uq->ring, &fd, 1);
	if (err)
		return err;
	for (unsigned i = 0; i < u->depth; i++) {
		struct uring_ent *e = &uq->ents[i];
		e->register_tries = 1;
		err = prep_cmd(uq, e, SGF_FUSE_IO_URING_CMD_REGISTER);
		if (err)
			return err;
	}
	return prep_kick(uq);
}

static void pin_to_cpu(unsigned cpu)
{
	cpu_set_t set;

	/* The kernel queues a request on the queue of its caller's CPU: the
	 * thread serving that queue there takes it without a migration (on
	 * two cores, unpinned queue threads ran 2.1-2.4x slower single-
	 * threaded and 1.6-1.8x with 4 callers: docs/performance.md). Not
	 * fatal when refused (a restricted cpuset). */
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
	}
}

static void queue_run(struct uring_queue *uq)
{
	while (!atomic_load(&uq->u->stop)) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int ret = io_uring_submit_and_wait(&uq->ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			report(uq->u, "waiting on the ring of queue %u failed: %s", uq->qid,
			       strerror(-ret));
			return;
		}
		io_uring_for_each_cqe(&uq->ring, head, cqe) {
			uint64_t tag = io_uring_cqe_get_data64(cqe);
			n++;
			if (tag == TAG_KICK)
				prep_kick(uq);
			else
				entry_done(uq, (struct uring_ent *)(uintptr_t)tag, cqe->res);
		}
		io_uring_cq_advance(&uq->ring, n);
		prep_commits(uq);
	}
	/* The last replies (the EIO answers of the session's end among them)
	 * still go to the kernel; nothing waits for their completions. */
	prep_commits(uq);
	io_uring_submit(&uq->ring);
}

static void *queue_main(void *arg)
{
	struct uring_queue *uq = arg;
	struct sgf_uring *u = uq->u;
	int err;

	uq->self = pthread_self();
	pin_to_cpu(uq->qid);
	if (!sgf_session_wait_init(u->se) || atomic_load(&u->stop))
		return NULL;
	if (!(u->se->conn.flags & FUSE_OVER_IO_URING)) {
		if (!(u->se->conn.requester_flags & FUSE_OVER_IO_URING))
			report_not_offered(u);
		return NULL;
	}
	err = queue_setup(uq);
	if (err) {
		report(u, "setting up the ring of queue %u failed: %s", uq->qid, strerror(-err));
		return NULL;
	}
	queue_run(uq);
	return NULL;
}

/* ---- life ----------------------------------------------------------------- */

static int queue_init(struct sgf_uring *u, struct uring_queue *uq, unsigned qid)
{
	int err;

	pthread_mutex_init(&uq->lock, NULL);
	pthread_mutex_init(&uq->dispatch_lock, NULL);
	uq->u = u;
	uq->qid = qid;
	err = sgf_chan_init(&uq->ch, &uring_chan_ops, -1, u->dev);
	if (err)
		return err;
	uq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uq->ents = calloc(u->depth, sizeof(*uq->ents));
	if (uq->kick_fd < 0 || uq->ents == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < u->depth; i++) {
		struct uring_ent *e = &uq->ents[i];
		struct sgf_request *q = sgf_pool_slot(u->se, qid * u->depth + i);
		if (q == NULL)
			return -EINVAL;
		e->uq = uq;
		e->q = q;
		/* The slot request's first page holds the header buffer at
		 * its start, and the staging of header + fixed argument at
		 * its end, right before the payload. */
		e->hdr = q->recv_mem;
		e->payload = q->read_buf;
		e->payload_size = q->recv_size;
		e->reg[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		e->reg[1] = (struct iovec){ e->payload, e->payload_size };
		q->slot = e;
		q->give_back = ent_give_back;
	}
	return 0;
}

struct sgf_uring *sgf_uring_start(struct sgf_session *se, struct sgf_chan *dev)
{
	struct sgf_uring *u = calloc(1, sizeof(*u));
	int err = 0;

	if (u == NULL)
		return NULL;
	u->se = se;
	u->dev = dev;
	u->depth = se->opts.io_uring_depth;
	u->nqueues = u->depth ? se->nslots / u->depth : 0;
	if (u->nqueues == 0) {
		free(u);
		errno = EINVAL; /* the session has no ring entries */
		return NULL;
	}
	u->queues = calloc(u->nqueues, sizeof(*u->queues));
	if (u->queues == NULL) {
		free(u);
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < u->nqueues; i++)
		u->queues[i].kick_fd = -1;
	for (unsigned i = 0; i < u->nqueues && err == 0; i++)
		err = queue_init(u, &u->queues[i], i);
	/* Signals stay with the application's threads (as for workers). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < u->nqueues && err == 0; i++) {
		struct uring_queue *uq = &u->queues[i];
		err = -pthread_create(&uq->thread, NULL, queue_main, uq);
		uq->started = err == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		sgf_session_init_wait_over(se);
		sgf_uring_join(u);
		sgf_uring_free(u);
		errno = -err;
		return NULL;
	}
	return u;
}

void sgf_uring_drain(struct sgf_uring *u)
{
	if (u == NULL)
		return;
	atomic_store(&u->draining, true);
	/* A dispatch that began before the flag ends before this returns. */
	for (unsigned i = 0; i < u->nqueues; i++) {
		pthread_mutex_lock(&u->queues[i].dispatch_lock);
		pthread_mutex_unlock(&u->queues[i].dispatch_lock);
	}
}

void sgf_uring_join(struct sgf_uring *u)
{
	uint64_t one = 1;

	if (u == NULL)
		return;
	atomic_store(&u->stop, true);
	sgf_session_init_wait_over(u->se);
	for (unsigned i = 0; i < u->nqueues; i++)
		if (u->queues[i].kick_fd >= 0 && write(u->queues[i].kick_fd, &one, sizeof(one)) < 0) {
			/* EAGAIN only: readable already */
		}
	for (unsigned i = 0; i < u->nqueues; i++) {
		struct uring_queue *uq = &u->queues[i];
		if (uq->started)
			pthread_join(uq->thread, NULL);
		uq->started = false;
	}
}

void sgf_uring_free(struct sgf_uring *u)
{
	if (u == NULL)
		return;
	for (unsigned i = 0; i < u->nqueues; i++) {
		struct uring_queue *uq = &u->queues[i];
		/* Exiting the ring cancels the commands still in the kernel. */
		if (uq->ring_ok)
			io_uring_queue_exit(&uq->ring);
		if (uq->kick_fd >= 0)
			close(uq->kick_fd);
		for (unsigned j = 0; uq->ents && j < u->depth; j++) {
			if (uq->ents[j].q) {
				uq->ents[j].q->slot = NULL;
				uq->ents[j].q->give_back = NULL;
			}
		}
		if (uq->u) {
			pthread_mutex_destroy(&uq->lock);
			pthread_mutex_destroy(&uq->dispatch_lock);
		}
		free(uq->ents);
	}
	free(u->queues);
	free(u);
}
