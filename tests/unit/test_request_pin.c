/* tests/unit/test_request_pin.c - request ownership against INTERRUPT pins:
 * a READ answered by splicing (read_source) while an INTERRUPT holds a pin
 * on it must not come back to its worker as free; the buffer returns to the
 * pool only when the pin is dropped. Drives the session's handler directly
 * on a socketpair, with the pin's holder on a second thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"
#include "chan.h"
#include "session.h"

#define FILE_SIZE (64 * 1024)

static struct sgf_session *se;
static int data_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool in_callback, release_callback;
static const uint64_t read_unique = 77; /* the READ below */

static void *interrupter(void *arg)
{
	(void)arg;
	CHECK(sgf_request_interrupt(se, read_unique));
	return NULL;
}

/* The INTERRUPT's callback: says it holds the pin, then waits. */
static void on_interrupt(const struct sgf_req *r)
{
	CHECK_EQ(r->unique, read_unique);
	pthread_mutex_lock(&lock);
	in_callback = true;
	pthread_cond_broadcast(&cond);
	while (!release_callback)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static pthread_t intr_thread;

/* Starts the INTERRUPT on another thread and returns once it holds its pin
 * (is in its callback), so the splice below runs pinned. */
static int pinned_read_source(const struct sgf_req *r, uint64_t ino,
			      const struct fuse_read_in *in, int *fd, uint64_t *off, void **token)
{
	(void)r, (void)ino, (void)in, (void)token;
	CHECK(pthread_create(&intr_thread, NULL, interrupter, NULL) == 0);
	pthread_mutex_lock(&lock);
	while (!in_callback)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	*fd = data_fd;
	*off = 0;
	return 0;
}

static void read_source_done(const struct sgf_req *r, void *token)
{
	(void)r, (void)token;
}

static const struct sgf_ops ops = {
	.read_source = pinned_read_source,
	.read_source_done = read_source_done,
	.interrupt = on_interrupt,
};

/* Read one whole reply from the peer end; its error field. */
static int read_reply(int fd)
{
	static char buf[FILE_SIZE + 4096];
	struct fuse_out_header oh;
	size_t got = 0;

	CHECK(recv(fd, &oh, sizeof(oh), MSG_WAITALL) == (ssize_t)sizeof(oh));
	CHECK(oh.len >= sizeof(oh) && oh.len - sizeof(oh) <= sizeof(buf));
	while (got < oh.len - sizeof(oh)) {
		ssize_t n = recv(fd, buf + got, oh.len - sizeof(oh) - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	CHECK_EQ(got, oh.len - sizeof(oh));
	return oh.error;
}

int main(void)
{
	struct sgf_session_opts so = { .max_inflight = 2 };
	struct {
		struct fuse_in_header h;
		struct fuse_init_in in;
	} init = { { .len = sizeof(init), .opcode = FUSE_INIT, .unique = 1 },
		   { .major = 7, .minor = 38, .flags = FUSE_INIT_EXT | FUSE_MAX_PAGES } };
	struct {
		struct fuse_in_header h;
		struct fuse_read_in in;
	} rd = { { .len = sizeof(rd), .opcode = FUSE_READ, .unique = 77, .nodeid = 2 },
		 { .fh = 1, .offset = 0, .size = FILE_SIZE } };
	struct sgf_splice_pipe p;
	char tmpl[] = "/tmp/sgf-pin-XXXXXX", *data = calloc(1, FILE_SIZE);
	int sv[2];

	CHECK(data != NULL);
	data_fd = mkstemp(tmpl);
	CHECK(data_fd >= 0);
	unlink(tmpl);
	CHECK(write(data_fd, data, FILE_SIZE) == FILE_SIZE);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(pipe2(p.fd, O_CLOEXEC) == 0);
	p.slots = (unsigned)fcntl(p.fd[1], F_SETPIPE_SZ, 2 * FILE_SIZE) / 4096;
	CHECK(p.slots >= FILE_SIZE / 4096 + 1);

	se = sgf_session_new(&ops, NULL, &so);
	CHECK(se != NULL);
	struct sgf_chan *ch = sgf_chan_stream_new(sv[0]);
	CHECK(ch != NULL);
	se->ch = ch;
	CHECK_EQ(sgf_session_process(se, ch, &init, sizeof(init)), 0);
	CHECK_EQ(read_reply(sv[1]), 0);

	/* The READ, spliced while the INTERRUPT holds a pin on it. */
	struct sgf_request *q = sgf_pool_get(se);
	CHECK(q != NULL);
	memcpy(q->recv_buf, &rd, sizeof(rd));
	int ret = sgf_session_handle(se, ch, q, sizeof(rd), &p);
	CHECK_EQ(read_reply(sv[1]), 0);
	/* Not the worker's any more: the pin's holder gives it back. */
	CHECK_EQ(ret, SGF_KEPT);
	CHECK_EQ(se->in_use, 1);

	pthread_mutex_lock(&lock);
	release_callback = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(intr_thread, NULL);
	CHECK_EQ(se->in_use, 0);
	CHECK_EQ(atomic_load(&q->state), SGF_REQ_FREE);
	CHECK_EQ(se->stats.interrupts, 1);

	sgf_chan_free(ch);
	sgf_session_destroy(se);
	close(sv[1]);
	close(p.fd[0]);
	close(p.fd[1]);
	close(data_fd);
	free(data);
	return check_exit();
}
