/* lib/loop.c - worker threads: each receives a message, has the session
 * process it, and goes round again, with buffers allocated once at start.
 * /dev/fuse workers each get a cloned fd so they do not share one queue lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <sgfuse/loop.h>
#include "session_priv.h"

struct worker {
	pthread_t thread;
	struct sgf_loop *loop;
	struct sgf_chan *ch;
	bool owns_ch;          /* a clone, freed with the worker */
	void *recv_mem;        /* allocation behind recv_buf */
	char *recv_buf;        /* WRITE payloads land page-aligned */
	size_t recv_size;
	void *reply_buf;       /* page-aligned scratch for reply payloads */
	struct sgf_splice_pipe pipe; /* stream: READ replies spliced through it */
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

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static int worker_buffers(struct worker *w, struct sgf_session *se)
{
	size_t recv = sgf_session_recv_size(se);
	size_t lead = SGF_PAGE_SIZE - SGF_WRITE_PAYLOAD_OFFSET;
	size_t total = round_up(lead + recv, SGF_PAGE_SIZE);

	w->recv_mem = aligned_alloc(SGF_PAGE_SIZE, total);
	w->reply_buf = aligned_alloc(SGF_PAGE_SIZE,
				     round_up(sgf_session_reply_size(se), SGF_PAGE_SIZE));
	if (w->recv_mem == NULL || w->reply_buf == NULL)
		return -ENOMEM;
	w->recv_buf = (char *)w->recv_mem + lead;
	w->recv_size = total - lead;
	return 0;
}

static unsigned pipe_max_size(void)
{
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
	unsigned v = 0;

	if (f != NULL) {
		if (fscanf(f, "%u", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* A stream worker's splice pipe, big enough for the largest READ (one page
 * more for a range that starts mid-page) or as big as the system allows;
 * a READ it cannot hold is copied instead. No pipe is no harm: every READ
 * is then copied. */
static void worker_pipe(struct worker *w, struct sgf_session *se)
{
	size_t want = round_up(sgf_session_reply_size(se), SGF_PAGE_SIZE) + SGF_PAGE_SIZE;
	unsigned max = pipe_max_size();
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
	uint64_t one = 1;
	bool peer_closed = false;

	while (!sgf_session_exited(se)) {
		ssize_t n = sgf_chan_recv(w->ch, w->recv_buf, w->recv_size);
		int err;

		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n == -ENODEV) {
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
		err = sgf_session_process_spliced(se, w->ch, w->recv_buf, (size_t)n,
						  w->reply_buf, w->has_pipe ? &w->pipe : NULL);
		if (err == -ENODEV || err == -EPIPE || err == -EBADF)
			break;
		if (err && se->opts.debug)
			fprintf(stderr, "sgfuse: reply not sent: %s\n", strerror(-err));
	}
	/* Wake the workers sharing a stream channel, unless the peer closed
	 * it: then they finish and send what they hold, and stop on their own
	 * next receive. */
	if (!sgf_chan_is_dev(w->ch) && !peer_closed)
		sgf_chan_shutdown(w->ch);
	atomic_fetch_sub(&w->loop->running, 1);
	if (write(w->loop->done_fd, &one, sizeof(one)) < 0)
		w->err = w->err ? w->err : -errno;
	return NULL;
}

static void free_worker(struct worker *w)
{
	if (w->owns_ch)
		sgf_chan_free(w->ch);
	free(w->recv_mem);
	free(w->reply_buf);
	if (w->has_pipe) {
		close(w->pipe.fd[0]);
		close(w->pipe.fd[1]);
	}
}

struct sgf_loop *sgf_loop_start(struct sgf_session *se, struct sgf_chan *ch, unsigned nthreads)
{
	struct sgf_loop *loop = calloc(1, sizeof(*loop));
	unsigned started = 0;
	int err = 0;

	if (loop == NULL)
		return NULL;
	if (nthreads == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = cpus > 0 ? (unsigned)cpus : 1;
	}
	loop->se = se;
	loop->ch = ch;
	loop->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	loop->workers = calloc(nthreads, sizeof(*loop->workers));
	if (loop->done_fd < 0 || loop->workers == NULL) {
		err = -errno;
		goto fail;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		struct worker *w = &loop->workers[i];
		w->loop = loop;
		w->ch = ch;
		if (i > 0 && sgf_chan_is_dev(ch)) {
			struct sgf_chan *c = sgf_chan_clone(ch);
			if (c != NULL) /* without clone support, share the fd */
				w->ch = c, w->owns_ch = true;
		}
		err = worker_buffers(w, se);
		if (err == 0 && !sgf_chan_is_dev(w->ch))
			worker_pipe(w, se);
		atomic_fetch_add(&loop->running, 1);
		if (err == 0)
			err = -pthread_create(&w->thread, NULL, worker_main, w);
		if (err) {
			atomic_fetch_sub(&loop->running, 1);
			free_worker(w);
			break;
		}
		started++;
	}
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
		free_worker(w);
	}
	close(loop->done_fd);
	free(loop->workers);
	free(loop);
	return first;
}
