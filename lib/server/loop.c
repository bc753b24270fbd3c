/* lib/server/loop.c - worker threads: each takes a request buffer from the
 * session's pool, receives a message into it, has the session handle it and
 * goes round again. A request the filesystem keeps stays with it, and the
 * worker takes another buffer, waiting while the pool is empty: that wait is
 * the backpressure that bounds memory. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "loop.h"

struct worker {
	pthread_t thread;
	struct sgf_loop *loop;
	struct sgf_chan *ch;
	bool owns_ch;          /* a clone, freed with the loop */
	struct sgf_splice_pipe pipe; /* READ replies spliced through it */
	bool has_pipe;
	int err;
};

struct sgf_loop {
	struct sgf_session *se;
	struct sgf_chan *ch;
	unsigned nworkers;
	atomic_uint running;
	struct worker *workers;
	int done_fd;
};

/* A worker's splice pipe, big enough for the largest READ (one page more
 * for a range that starts mid-page) or as big as the system allows; a READ
 * it cannot hold is copied instead. No pipe is no harm: every READ is then
 * copied. */
static void worker_pipe(struct worker *w, struct sgf_session *se)
{
	size_t want = sgf_session_reply_size(se) + 2 * SGF_PAGE_SIZE;
	unsigned max = sgf_read_sysctl("/proc/sys/fs/pipe-max-size");
	int size;

	if (pipe2(w->pipe.fd, O_CLOEXEC) != 0)
		return;
	if (max > 0 && want > max)
		want = max;
	size = fcntl(w->pipe.fd[1], F_SETPIPE_SZ, (int)want);
	if (size < 0) /* keep the default size */
		size = fcntl(w->pipe.fd[1], F_GETPIPE_SZ);
	if (size < (int)SGF_PAGE_SIZE) {
		close(w->pipe.fd[0]);
		close(w->pipe.fd[1]);
		return;
	}
	w->pipe.slots = (unsigned)size / SGF_PAGE_SIZE;
	w->has_pipe = true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sgf_session *se = w->loop->se;
	struct sgf_request *q = sgf_pool_get(se);
	uint64_t one = 1;
	bool peer_closed = false;

	while (q != NULL && !sgf_session_exited(se)) {
		ssize_t n = sgf_chan_recv(w->ch, q->recv_buf, q->recv_size);
		int ret;

		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n == -ENODEV) {
			/* Unmounted, peer gone, or shut down: the others see
			 * the same; a shutdown(2) now would cut replies that
			 * other workers are still sending. */
			peer_closed = true;
			break;
		}
		if (n == -EMSGSIZE) {
			/* Too big to hold: the header alone fails validation,
			 * so the requester gets an error for that unique. */
			n = sizeof(struct fuse_in_header);
		} else if (n < 0) {
			w->err = (int)n;
			break;
		}
		ret = sgf_session_handle(se, w->ch, q, (size_t)n,
					 w->has_pipe ? &w->pipe : NULL);
		if (ret == SGF_KEPT) {
			q = sgf_pool_get(se);
			continue;
		}
		if (ret == -ENODEV || ret == -EPIPE || ret == -EBADF)
			break;
		if (ret < 0 && se->opts.debug)
			fprintf(stderr, "sgfuse: reply not sent: %s\n", strerror(-ret));
	}
	if (q != NULL)
		sgf_pool_put(q);
	/* The first worker to stop ends the session for all: wake the others
	 * (a peer that closed has already woken its receivers), also those
	 * waiting for a buffer that a kept request may never give back. */
	if (!peer_closed)
		sgf_chan_shutdown(w->ch);
	sgf_pool_close(se);
	atomic_fetch_sub(&w->loop->running, 1);
	if (write(w->loop->done_fd, &one, sizeof(one)) < 0)
		w->err = w->err ? w->err : -errno;
	return NULL;
}

static void free_worker(struct worker *w)
{
	if (w->owns_ch)
		sgf_chan_free(w->ch);
	if (w->has_pipe) {
		close(w->pipe.fd[0]);
		close(w->pipe.fd[1]);
	}
}

unsigned sgf_default_threads(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus > 0 ? (unsigned)cpus : 1;
}

struct sgf_loop *sgf_loop_start(struct sgf_session *se, struct sgf_chan *ch, unsigned nthreads)
{
	struct sgf_loop *loop = calloc(1, sizeof(*loop));
	unsigned started = 0;
	int err = 0;

	if (loop == NULL)
		return NULL;
	if (nthreads == 0)
		nthreads = sgf_default_threads();
	loop->se = se;
	loop->ch = ch;
	loop->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	loop->workers = calloc(nthreads, sizeof(*loop->workers));
	if (loop->done_fd < 0 || loop->workers == NULL) {
		err = -errno;
		goto fail;
	}
	/* Workers take no signals: those are the application's (and a
	 * handled SIGTERM must reach the server's signalfd, not a worker). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < nthreads; i++) {
		struct worker *w = &loop->workers[i];
		w->loop = loop;
		w->ch = ch;
		if (i > 0) {
			struct sgf_chan *c = sgf_chan_clone(ch);
			if (c != NULL) /* without clone support, share the channel */
				w->ch = c, w->owns_ch = true;
		}
		if (sgf_chan_can_splice(w->ch))
			worker_pipe(w, se);
		atomic_fetch_add(&loop->running, 1);
		err = -pthread_create(&w->thread, NULL, worker_main, w);
		if (err) {
			atomic_fetch_sub(&loop->running, 1);
			free_worker(w);
			break;
		}
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	loop->nworkers = started;
	if (started == 0)
		goto fail;
	return loop;
fail:
	if (loop->done_fd >= 0)
		close(loop->done_fd);
	free(loop->workers);
	free(loop);
	errno = err ? -err : ENOMEM;
	return NULL;
}

void sgf_loop_stop(struct sgf_loop *loop)
{
	sgf_chan_shutdown(loop->ch);
	sgf_pool_close(loop->se);
}

int sgf_loop_done_fd(const struct sgf_loop *loop)
{
	return loop->done_fd;
}

unsigned sgf_loop_running(const struct sgf_loop *loop)
{
	return atomic_load(&loop->running);
}

int sgf_loop_join(struct sgf_loop *loop)
{
	int first = 0;

	for (unsigned i = 0; i < loop->nworkers; i++) {
		struct worker *w = &loop->workers[i];
		pthread_join(w->thread, NULL);
		if (w->err && first == 0)
			first = w->err;
	}
	return first;
}

void sgf_loop_free(struct sgf_loop *loop)
{
	if (loop == NULL)
		return;
	for (unsigned i = 0; i < loop->nworkers; i++)
		free_worker(&loop->workers[i]);
	close(loop->done_fd);
	free(loop->workers);
	free(loop);
}
