/* tests/unit/test_loop_stream.c - the server object serving a connected
 * stream socket (sgf_server_attach) with several workers: pipelined requests
 * answered once each, an oversized message answered with an error, and the
 * ways serving ends (peer hang-up, DESTROY, broken framing, exit), destroy
 * called once in each. Public API only. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/server.h>
#include "check.h"

#define HDR sizeof(struct fuse_in_header)
#define OHDR sizeof(struct fuse_out_header)
#define MAX_WRITE (64u * 1024u)
#define NREQ 600

struct fake {
	atomic_int destroys;
	atomic_int writes;
};

static int fake_getattr(const struct sgf_req *r, uint64_t ino,
			const struct fuse_getattr_in *in, struct fuse_attr_out *out)
{
	(void)r; (void)in;
	out->attr.ino = ino;
	out->attr.mode = 0100644;
	return 0;
}

static unsigned char pattern(uint64_t off)
{
	return (unsigned char)(off * 31 + off / 251);
}

static ssize_t fake_read(const struct sgf_req *r, uint64_t ino,
			 const struct fuse_read_in *in, const struct iovec *iov, int iovcnt)
{
	(void)r; (void)ino;
	uint64_t off = in->offset;
	size_t done = 0;
	for (int i = 0; i < iovcnt; i++) {
		unsigned char *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j++)
			p[j] = pattern(off + done + j);
		done += iov[i].iov_len;
	}
	return (ssize_t)done;
}

static ssize_t fake_write(const struct sgf_req *r, uint64_t ino,
			  const struct fuse_write_in *in, const struct iovec *iov, int iovcnt)
{
	struct fake *f = r->fs;
	(void)ino;
	size_t done = 0;
	for (int i = 0; i < iovcnt; i++) {
		const unsigned char *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j++)
			if (p[j] != pattern(in->offset + done + j))
				return -EILSEQ;
		done += iov[i].iov_len;
	}
	atomic_fetch_add(&f->writes, 1);
	return (ssize_t)done;
}

static void fake_destroy(void *fs)
{
	atomic_fetch_add(&((struct fake *)fs)->destroys, 1);
}

static const struct sgf_ops fake_ops = {
	.getattr = fake_getattr,
	.read = fake_read,
	.write = fake_write,
	.destroy = fake_destroy,
};

/* A server attached to one end of a socketpair, run on its own thread; the
 * test is the requester on the other end. */
struct rig {
	struct fake fake;
	struct sgf_server *srv;
	pthread_t runner;
	int run_ret;
	int peer;
};

static void *run_server(void *arg)
{
	struct rig *g = arg;
	g->run_ret = sgf_server_run(g->srv);
	return NULL;
}

static void rig_start(struct rig *g, unsigned threads)
{
	int sv[2], err;
	memset(g, 0, sizeof(*g));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("socketpair");
		exit(1);
	}
	struct timeval tv = { 20, 0 };
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sgf_server_opts o = { .max_write = MAX_WRITE, .threads = threads };
	err = sgf_server_new(&g->srv, &fake_ops, sizeof(fake_ops), &g->fake, &o);
	if (err == 0)
		err = sgf_server_attach(g->srv, sv[0]);
	if (err) {
		fprintf(stderr, "server: %s\n", strerror(-err));
		exit(1);
	}
	g->peer = sv[1];
	g->run_ret = 1;
	err = pthread_create(&g->runner, NULL, run_server, g);
	if (err) {
		fprintf(stderr, "pthread_create: %s\n", strerror(err));
		exit(1);
	}
}

/* Wait (bounded) for sgf_server_run to return by itself (ask it to exit
 * if it does not), destroy the server; returns what run returned. destroy
 * ran exactly once by then. */
static int rig_end(struct rig *g)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	if (pthread_timedjoin_np(g->runner, NULL, &until) != 0) {
		fprintf(stderr, "FAIL: the server did not end\n");
		check_failures++;
		sgf_server_exit(g->srv);
		pthread_join(g->runner, NULL);
	}
	CHECK_EQ(atomic_load(&g->fake.destroys), 1);
	sgf_server_destroy(g->srv);
	CHECK_EQ(atomic_load(&g->fake.destroys), 1);
	if (g->peer >= 0)
		close(g->peer);
	return g->run_ret;
}

static void send_all(int fd, const void *p, size_t n)
{
	if (send(fd, p, n, MSG_NOSIGNAL) != (ssize_t)n) {
		perror("send");
		exit(1);
	}
}

static void send_req(int fd, uint32_t op, uint64_t unique, const void *arg, size_t alen,
		     const void *payload, size_t plen)
{
	struct fuse_in_header h = { .len = (uint32_t)(HDR + alen + plen), .opcode = op,
				    .unique = unique, .nodeid = 1 };
	send_all(fd, &h, HDR);
	if (alen)
		send_all(fd, arg, alen);
	if (plen)
		send_all(fd, payload, plen);
}

/* One reply: header and payload (malloc'd, caller frees). */
static bool get_reply(int fd, struct fuse_out_header *oh, unsigned char **data)
{
	*data = NULL;
	if (recv(fd, oh, OHDR, MSG_WAITALL) != (ssize_t)OHDR || oh->len < OHDR)
		return false;
	size_t n = oh->len - OHDR;
	*data = malloc(n + 1);
	return n == 0 || recv(fd, *data, n, MSG_WAITALL) == (ssize_t)n;
}

static void do_init(struct rig *g)
{
	struct fuse_init_in in = { .major = 7, .minor = 38, .max_readahead = 65536,
				   .flags = FUSE_MAX_PAGES | FUSE_BIG_WRITES };
	struct fuse_out_header oh;
	unsigned char *d;
	send_req(g->peer, FUSE_INIT, 1, &in, sizeof(in), NULL, 0);
	CHECK(get_reply(g->peer, &oh, &d));
	CHECK_EQ(oh.unique, 1);
	CHECK_EQ(oh.error, 0);
	free(d);
}

/* Request i of the pipelined batch. */
static void send_nth(int fd, unsigned i)
{
	uint64_t unique = 1000 + i;
	switch (i % 3) {
	case 0: {
		struct fuse_getattr_in gi = { 0 };
		send_req(fd, FUSE_GETATTR, unique, &gi, sizeof(gi), NULL, 0);
		break;
	}
	case 1: {
		struct fuse_read_in ri = { .offset = (uint64_t)i * 4093, .size = 1 + (i * 977) % MAX_WRITE };
		send_req(fd, FUSE_READ, unique, &ri, sizeof(ri), NULL, 0);
		break;
	}
	default: {
		static unsigned char buf[MAX_WRITE];
		struct fuse_write_in wi = { .offset = (uint64_t)i * 7, .size = 1 + (i * 1231) % MAX_WRITE };
		for (size_t j = 0; j < wi.size; j++)
			buf[j] = pattern(wi.offset + j);
		send_req(fd, FUSE_WRITE, unique, &wi, sizeof(wi), buf, wi.size);
		break;
	}
	}
}

static void *sender(void *arg)
{
	int fd = *(int *)arg;
	for (unsigned i = 0; i < NREQ; i++)
		send_nth(fd, i);
	return NULL;
}

static void check_reply(unsigned i, const struct fuse_out_header *oh, const unsigned char *d)
{
	size_t n = oh->len - OHDR;
	char ctx[32];
	snprintf(ctx, sizeof(ctx), "request %u", i);
	CHECK_EQ_CTX(oh->error, 0, ctx);
	switch (i % 3) {
	case 0:
		CHECK_EQ_CTX(n, sizeof(struct fuse_attr_out), ctx);
		break;
	case 1: {
		uint64_t off = (uint64_t)i * 4093;
		CHECK_EQ_CTX(n, 1 + (i * 977) % MAX_WRITE, ctx);
		for (size_t j = 0; j < n; j++)
			if (d[j] != pattern(off + j)) {
				CHECK_EQ_CTX(j, n, ctx); /* first bad byte */
				break;
			}
		break;
	}
	default: {
		struct fuse_write_out wo;
		CHECK_EQ_CTX(n, sizeof(wo), ctx);
		if (n == sizeof(wo)) {
			memcpy(&wo, d, sizeof(wo));
			CHECK_EQ_CTX(wo.size, 1 + (i * 1231) % MAX_WRITE, ctx);
		}
		break;
	}
	}
}

static void check_pipelined(void)
{
	struct rig g;
	rig_start(&g, 4);
	do_init(&g);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, sender, &g.peer), 0);
	static bool seen[NREQ];
	memset(seen, 0, sizeof(seen));
	for (unsigned n = 0; n < NREQ; n++) {
		struct fuse_out_header oh;
		unsigned char *d;
		if (!get_reply(g.peer, &oh, &d)) {
			fprintf(stderr, "FAIL: reply %u missing\n", n);
			check_failures++;
			free(d);
			break;
		}
		uint64_t i = oh.unique - 1000;
		if (oh.unique < 1000 || i >= NREQ || seen[i]) {
			fprintf(stderr, "FAIL: unexpected reply unique %llu\n",
				(unsigned long long)oh.unique);
			check_failures++;
		} else {
			seen[i] = true;
			check_reply((unsigned)i, &oh, d);
		}
		free(d);
	}
	pthread_join(t, NULL);
	CHECK_EQ(atomic_load(&g.fake.writes), NREQ / 3);

	/* Larger than any receive buffer of a server with this max_write (16
	 * times it): an error for its unique, then on. */
	size_t big = 16 * MAX_WRITE + 4096 * 3;
	unsigned char *junk = calloc(1, big);
	struct fuse_write_in wi = { .size = (uint32_t)(big - HDR - sizeof(wi)) };
	send_req(g.peer, FUSE_WRITE, 77, &wi, sizeof(wi), junk, big - HDR - sizeof(wi));
	free(junk);
	struct fuse_out_header oh;
	unsigned char *d;
	CHECK(get_reply(g.peer, &oh, &d));
	CHECK_EQ(oh.unique, 77);
	CHECK(oh.error < 0);
	free(d);
	send_nth(g.peer, 0);
	CHECK(get_reply(g.peer, &oh, &d));
	CHECK_EQ(oh.unique, 1000);
	CHECK_EQ(oh.error, 0);
	free(d);

	/* The peer hangs up: a clean end. */
	close(g.peer);
	g.peer = -1;
	CHECK_EQ(rig_end(&g), 0);
}

static void check_destroy(void)
{
	struct rig g;
	rig_start(&g, 3);
	do_init(&g);
	send_req(g.peer, FUSE_DESTROY, 5, NULL, 0, NULL, 0);
	struct fuse_out_header oh;
	unsigned char *d;
	if (get_reply(g.peer, &oh, &d)) {
		CHECK_EQ(oh.unique, 5);
		CHECK_EQ(oh.error, 0);
	}
	free(d);
	/* DESTROY ends the session: run returns by itself, the peer still
	 * connected. */
	CHECK_EQ(rig_end(&g), 0);
}

/* sgf_server_exit from another thread ends a session whose peer stays
 * connected and silent (workers blocked in receive). */
static void check_exit_call(void)
{
	struct rig g;
	rig_start(&g, 3);
	do_init(&g);
	usleep(50000); /* let the workers block; the result does not depend on it */
	sgf_server_exit(g.srv);
	CHECK_EQ(rig_end(&g), 0);
}

static void check_broken_framing(void)
{
	struct rig g;
	rig_start(&g, 2);
	do_init(&g);
	struct fuse_in_header h = { .len = 12, .opcode = FUSE_GETATTR, .unique = 9 };
	send_all(g.peer, &h, HDR);
	CHECK(rig_end(&g) < 0);
}

int main(void)
{
	check_pipelined();
	check_destroy();
	check_exit_call();
	check_broken_framing();
	return check_exit();
}
