/* tests/client/fake_server.c - the scripted responder behind fake_server.h:
 * reads whole framed requests, answers INIT/DESTROY itself, passes the rest
 * to the test's handler. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <sgfuse/client.h>
#include "fake_server.h"

#define FAKE_MAX_MSG (17u * 1024u * 1024u)

void fake_srv_defaults(struct fake_srv *s, fake_handler handle, void *ctx)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->major = 7;
	s->minor = 38;
	s->max_write = 1024 * 1024;
	s->max_pages = 256;
	s->handle = handle;
	s->ctx = ctx;
}

int fake_read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int fake_reply_raw(int fd, uint64_t unique, int32_t error, const void *payload, size_t plen,
		   uint32_t len_override)
{
	struct fuse_out_header oh = {
		.len = len_override ? len_override : (uint32_t)(sizeof(oh) + plen),
		.error = error,
		.unique = unique,
	};
	struct iovec v[2] = { { &oh, sizeof(oh) }, { (void *)payload, plen } };
	size_t want = sizeof(oh) + plen;
	struct msghdr mh = { .msg_iov = v, .msg_iovlen = plen ? 2 : 1 };
	ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	/* Test replies are small or the peer drains them; a short send here
	 * would be a broken test, so report it. */
	return n == (ssize_t)want ? 0 : -EIO;
}

int fake_reply(int fd, uint64_t unique, int32_t error, const void *payload, size_t plen)
{
	return fake_reply_raw(fd, unique, error, payload, plen, 0);
}

static void answer_init(struct fake_srv *s, const struct fuse_in_header *h)
{
	struct fuse_init_out out;

	if (s->init_error) {
		fake_reply(s->fd, h->unique, s->init_error, NULL, 0);
		return;
	}
	memset(&out, 0, sizeof(out));
	out.major = s->major;
	out.minor = s->minor;
	out.max_write = s->max_write;
	out.max_pages = (uint16_t)s->max_pages;
	out.flags = FUSE_MAX_PAGES | FUSE_BIG_WRITES | FUSE_INIT_EXT;
	fake_reply(s->fd, s->init_wrong_unique ? h->unique + 2 : h->unique, 0, &out,
		   s->init_len ? s->init_len : sizeof(out));
}

static void *serve(void *arg)
{
	struct fake_srv *s = arg;
	char *body = malloc(FAKE_MAX_MSG);
	struct fuse_in_header h;

	while (body && fake_read_full(s->fd, &h, sizeof(h)) == 0) {
		if (h.len < sizeof(h) || h.len > FAKE_MAX_MSG)
			break;
		size_t len = h.len - sizeof(h);
		if (fake_read_full(s->fd, body, len) < 0)
			break;
		s->nreq++;
		if (h.opcode == FUSE_INIT) {
			answer_init(s, &h);
		} else if (h.opcode == FUSE_DESTROY) {
			if (!s->destroy_silent)
				fake_reply(s->fd, h.unique, 0, NULL, 0);
		} else if (h.opcode == FUSE_FORGET) {
			s->nforget++;
		} else if (s->handle(s, &h, body, len) != 0) {
			break;
		}
	}
	free(body);
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

/* A socketpair, with small buffers when the test wants them full soon. */
static int make_pair(const struct fake_srv *s, int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	for (int i = 0; i < 2 && s->sndbuf > 0; i++)
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &s->sndbuf, sizeof(s->sndbuf));
	return 0;
}

int fake_srv_start(struct fake_srv *s)
{
	int sv[2];

	if (make_pair(s, sv) < 0)
		return -1;
	s->fd = sv[1];
	if (pthread_create(&s->thread, NULL, serve, s) != 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	return sv[0];
}

int fake_srv_start_process(struct fake_srv *s)
{
	int sv[2];

	if (make_pair(s, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		s->fd = sv[1];
		serve(s);
		_exit(0);
	}
	close(sv[1]);
	s->child = pid;
	return sv[0];
}

void fake_srv_stop(struct fake_srv *s)
{
	if (s->child > 0) {
		kill(s->child, SIGKILL);
		waitpid(s->child, NULL, 0);
		s->child = 0;
		return;
	}
	pthread_join(s->thread, NULL);
	close(s->fd);
	s->fd = -1;
}

struct sgf_client *fake_srv_attach(struct fake_srv *s, const struct sgf_client_opts *o)
{
	struct sgf_client *c = NULL;
	int fd = fake_srv_start(s);
	int r;

	if (fd < 0) {
		fprintf(stderr, "fake server: cannot start\n");
		return NULL;
	}
	r = sgf_client_attach(fd, o, &c);
	if (r != 0) {
		fprintf(stderr, "fake server: attach: %s\n", strerror(-r));
		fake_srv_stop(s);
		return NULL;
	}
	return c;
}
