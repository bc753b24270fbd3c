/* tests/unit/test_chan_stream.c - the stream channel's framing over a
 * socketpair: split and back-to-back messages, oversized and broken ones,
 * hang-up, shutdown, concurrent senders and receivers, and spliced READ
 * replies (sgf_chan_send_spliced) on their own. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"
#include "chan.h"

#define HDR sizeof(struct fuse_in_header)

static void pair(struct sgf_chan **ch, int *peer)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("socketpair");
		exit(1);
	}
	*ch = sgf_chan_stream_new(sv[0]);
	*peer = sv[1];
	if (!*ch) {
		perror("sgf_chan_stream_new");
		exit(1);
	}
}

/* A message of len bytes: header (len, unique) then bytes derived from unique. */
static size_t make_msg(unsigned char *buf, size_t len, uint64_t unique)
{
	struct fuse_in_header h = { .len = (uint32_t)len, .opcode = FUSE_GETATTR,
				    .unique = unique };
	memcpy(buf, &h, HDR);
	for (size_t i = HDR; i < len; i++)
		buf[i] = (unsigned char)(unique * 7 + i);
	return len;
}

static bool msg_ok(const unsigned char *buf, size_t len, uint64_t *unique)
{
	struct fuse_in_header h;
	memcpy(&h, buf, HDR);
	if (h.len != len)
		return false;
	for (size_t i = HDR; i < len; i++)
		if (buf[i] != (unsigned char)(h.unique * 7 + i))
			return false;
	*unique = h.unique;
	return true;
}

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w <= 0) {
			perror("write");
			exit(1);
		}
		c += w;
		n -= (size_t)w;
	}
}

static void check_basics(void)
{
	struct sgf_chan *ch;
	int peer;
	unsigned char m[4096], buf[8192];
	uint64_t u;
	pair(&ch, &peer);
	CHECK(sgf_chan_can_splice(ch)); /* a stream, not /dev/fuse */
	CHECK(sgf_chan_fd(ch) >= 0);
	errno = 0;
	CHECK(sgf_chan_clone(ch) == NULL);
	CHECK_EQ(errno, EOPNOTSUPP);

	/* Two messages in one write, a third in dribbles. */
	size_t a = make_msg(m, 100, 1);
	size_t b = make_msg(m + a, 333, 2);
	write_all(peer, m, a + b);
	CHECK_EQ(sgf_chan_recv(ch, buf, sizeof(buf)), 100);
	CHECK(msg_ok(buf, 100, &u) && u == 1);
	CHECK_EQ(sgf_chan_recv(ch, buf, sizeof(buf)), 333);
	CHECK(msg_ok(buf, 333, &u) && u == 2);

	/* Header split and body split over several writes. */
	size_t c = make_msg(m, 1000, 3);
	write_all(peer, m, 10);
	write_all(peer, m + 10, 50);
	write_all(peer, m + 60, c - 60);
	CHECK_EQ(sgf_chan_recv(ch, buf, sizeof(buf)), 1000);
	CHECK(msg_ok(buf, 1000, &u) && u == 3);

	/* Exactly the buffer size fits; one more is skipped with EMSGSIZE
	 * and the next message still arrives whole. */
	static unsigned char big[9000];
	make_msg(big, sizeof(buf), 4);
	write_all(peer, big, sizeof(buf));
	CHECK_EQ(sgf_chan_recv(ch, buf, sizeof(buf)), sizeof(buf));
	make_msg(big, sizeof(buf) + 1, 5);
	write_all(peer, big, sizeof(buf) + 1);
	make_msg(m, 64, 6);
	write_all(peer, m, 64);
	CHECK_EQ(sgf_chan_recv(ch, buf, sizeof(buf)), -EMSGSIZE);
	CHECK_EQ(sgf_chan_recv(ch, buf, sizeof(buf)), 64);
	CHECK(msg_ok(buf, 64, &u) && u == 6);

	/* A buffer smaller than a header is a caller error. */
	CHECK(sgf_chan_recv(ch, buf, HDR - 1) < 0);

	/* Sending: the bytes of all iovecs, in order. */
	struct iovec iov[3] = { { (void *)"hello ", 6 }, { (void *)"", 0 }, { (void *)"world", 5 } };
	CHECK_EQ(sgf_chan_send(ch, iov, 3), 0);
	char got[16] = "";
	CHECK_EQ(recv(peer, got, 11, MSG_WAITALL), 11);
	CHECK(memcmp(got, "hello world", 11) == 0);
	struct iovec many[17];
	for (int i = 0; i < 17; i++)
		many[i] = (struct iovec){ (void *)"x", 1 };
	CHECK(sgf_chan_send(ch, many, 17) < 0 || recv(peer, got, 16, MSG_WAITALL) == 16);
	CHECK(sgf_chan_send(ch, many, 0) < 0);

	/* Broken framing: a len shorter than a header. */
	struct fuse_in_header h = { .len = 10, .unique = 7 };
	write_all(peer, &h, HDR);
	CHECK_EQ(sgf_chan_recv(ch, buf, sizeof(buf)), -EPROTO);
	close(peer);
	sgf_chan_free(ch);

	/* Peer gone: at a boundary -ENODEV, mid-message an error too. */
	pair(&ch, &peer);
	close(peer);
	CHECK_EQ(sgf_chan_recv(ch, buf, sizeof(buf)), -ENODEV);
	struct iovec one = { (void *)"x", 1 };
	CHECK(sgf_chan_send(ch, &one, 1) < 0);
	sgf_chan_free(ch);
	pair(&ch, &peer);
	make_msg(m, 500, 8);
	write_all(peer, m, 200);
	close(peer);
	CHECK(sgf_chan_recv(ch, buf, sizeof(buf)) < 0);
	sgf_chan_free(ch);
}

struct blocked {
	struct sgf_chan *ch;
	ssize_t r;
};

static void *blocked_recv(void *arg)
{
	struct blocked *b = arg;
	unsigned char buf[4096];
	b->r = sgf_chan_recv(b->ch, buf, sizeof(buf));
	return NULL;
}

static void check_shutdown(void)
{
	struct sgf_chan *ch;
	int peer;
	pair(&ch, &peer);
	struct blocked b = { ch, 1 };
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, blocked_recv, &b), 0);
	usleep(50000); /* let it block; the result does not depend on it */
	sgf_chan_shutdown(ch);
	pthread_join(t, NULL);
	CHECK_EQ(b.r, -ENODEV);
	unsigned char buf[4096];
	CHECK_EQ(sgf_chan_recv(ch, buf, sizeof(buf)), -ENODEV);
	CHECK(sgf_chan_is_shut(ch));
	close(peer);
	sgf_chan_free(ch);

	/* Shut down with a whole message waiting: still -ENODEV, nothing
	 * more is received. */
	pair(&ch, &peer);
	unsigned char m[64];
	make_msg(m, sizeof(m), 1);
	write_all(peer, m, sizeof(m));
	sgf_chan_shutdown(ch);
	CHECK_EQ(sgf_chan_recv(ch, buf, sizeof(buf)), -ENODEV);
	close(peer);
	sgf_chan_free(ch);
}

/* Concurrent senders: every message arrives whole. */
#define SENDERS 4
#define PER_SENDER 300

struct sender {
	struct sgf_chan *ch;
	int id;
	int err;
};

static void *send_many(void *arg)
{
	struct sender *s = arg;
	static const size_t sizes[] = { 40, 41, 4096, 70000, 123457 };
	unsigned char *m = malloc(200000);
	for (int i = 0; i < PER_SENDER && !s->err; i++) {
		uint64_t unique = (uint64_t)s->id << 32 | (uint64_t)i;
		size_t len = make_msg(m, sizes[i % 5], unique);
		/* header | middle | rest as separate iovecs */
		size_t cut1 = len / 3, cut2 = 2 * len / 3;
		struct iovec iov[3] = { { m, cut1 }, { m + cut1, cut2 - cut1 },
					{ m + cut2, len - cut2 } };
		s->err = sgf_chan_send(s->ch, iov, 3);
	}
	free(m);
	return NULL;
}

static void check_concurrent_send(void)
{
	struct sgf_chan *ch;
	int peer;
	pair(&ch, &peer);
	struct sgf_chan *reader = sgf_chan_stream_new(peer);
	struct sender s[SENDERS];
	pthread_t t[SENDERS];
	for (int i = 0; i < SENDERS; i++) {
		s[i] = (struct sender){ ch, i, 0 };
		CHECK_EQ(pthread_create(&t[i], NULL, send_many, &s[i]), 0);
	}
	unsigned char *buf = malloc(200000);
	int next[SENDERS] = { 0 };
	for (int n = 0; n < SENDERS * PER_SENDER; n++) {
		ssize_t r = sgf_chan_recv(reader, buf, 200000);
		uint64_t u;
		if (r < 0 || !msg_ok(buf, (size_t)r, &u)) {
			fprintf(stderr, "FAIL: message %d garbled (recv %zd)\n", n, r);
			check_failures++;
			break;
		}
		int id = (int)(u >> 32);
		/* Each sender's messages arrive in its order. */
		CHECK(id >= 0 && id < SENDERS && (int)(uint32_t)u == next[id]);
		if (id >= 0 && id < SENDERS)
			next[id]++;
	}
	for (int i = 0; i < SENDERS; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(s[i].err, 0);
	}
	free(buf);
	sgf_chan_free(reader);
	sgf_chan_free(ch);
}

/* Concurrent receivers: each gets whole messages, together all of them. */
struct receiver {
	struct sgf_chan *ch;
	int count;
	int bad;
};

static void *recv_many(void *arg)
{
	struct receiver *r = arg;
	unsigned char *buf = malloc(200000);
	for (;;) {
		ssize_t n = sgf_chan_recv(r->ch, buf, 200000);
		uint64_t u;
		if (n == -ENODEV)
			break;
		if (n < 0 || !msg_ok(buf, (size_t)n, &u))
			r->bad++;
		else
			r->count++;
	}
	free(buf);
	return NULL;
}

static void check_concurrent_recv(void)
{
	struct sgf_chan *ch;
	int peer;
	pair(&ch, &peer);
	struct receiver r[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct receiver){ ch, 0, 0 };
		CHECK_EQ(pthread_create(&t[i], NULL, recv_many, &r[i]), 0);
	}
	unsigned char *m = malloc(100000);
	for (int i = 0; i < 1000; i++) {
		size_t len = make_msg(m, 40 + (size_t)(i * 97) % 90000, (uint64_t)i);
		write_all(peer, m, len);
	}
	free(m);
	close(peer);
	int total = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(r[i].bad, 0);
		total += r[i].count;
	}
	CHECK_EQ(total, 1000);
	sgf_chan_free(ch);
}

/* The byte the splice test file holds at offset i: varies within a page
 * and across. */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + i / 4096 * 13 + 1);
}

static size_t pipe_pending(const struct sgf_splice_pipe *p)
{
	int n = -1;
	return ioctl(p->fd[0], FIONREAD, &n) == 0 ? (size_t)n : (size_t)-1;
}

/* One spliced reply read back whole: header, then the payload. */
static void recv_spliced(int fd, uint64_t unique, const uint8_t *want, size_t n)
{
	struct fuse_out_header oh;
	uint8_t *got = malloc(n ? n : 1);
	size_t have = 0;

	CHECK_EQ(recv(fd, &oh, sizeof(oh), MSG_WAITALL), (ssize_t)sizeof(oh));
	CHECK_EQ(oh.len, sizeof(oh) + n);
	CHECK_EQ(oh.unique, unique);
	CHECK_EQ(oh.error, 0);
	while (got && have < n) {
		ssize_t r = recv(fd, got + have, n - have, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	CHECK_EQ(have, n);
	CHECK(got && memcmp(got, want, n) == 0);
	free(got);
}

/* sgf_chan_send_spliced on its own: whole and short payloads, a range the
 * pipe cannot hold, a file splice refuses, /dev/fuse, a departed peer; the
 * pipe is empty after each. */
static void check_splice_send(void)
{
	struct sgf_splice_pipe p = { .slots = 0 };
	const size_t fsize = 200000;
	uint8_t *data = malloc(fsize);
	char dir[] = "/tmp/sgf-chan-splice-XXXXXX", path[64];
	int sv[2] = { -1, -1 }, fd = -1, dirfd;

	CHECK(data != NULL);
	if (!data || !mkdtemp(dir)) {
		CHECK(!"splice test file");
		free(data);
		return;
	}
	for (size_t i = 0; i < fsize; i++)
		data[i] = pattern(i);
	snprintf(path, sizeof(path), "%s/raw", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(fd >= 0 ? pwrite(fd, data, fsize, 0) : -1, (ssize_t)fsize);
	CHECK_EQ(pipe(p.fd), 0);
	CHECK(fcntl(p.fd[1], F_SETPIPE_SZ, 64 * 1024) >= 64 * 1024);
	p.slots = (unsigned)fcntl(p.fd[1], F_GETPIPE_SZ) / 4096;
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct sgf_chan *ch = sgf_chan_stream_new(sv[1]);
	CHECK(ch != NULL && fd >= 0);
	if (!ch || fd < 0)
		goto out;

	struct fuse_out_header oh = { .unique = 7 };
	CHECK_EQ(sgf_chan_send_spliced(ch, &oh, sizeof(oh), fd, 0, 40000, &p), 40000);
	recv_spliced(sv[0], 7, data, 40000);
	oh.unique = 8;
	CHECK_EQ(sgf_chan_send_spliced(ch, &oh, sizeof(oh), fd, 123, 50000, &p), 50000);
	recv_spliced(sv[0], 8, data + 123, 50000);
	oh.unique = 9; /* short at end of file */
	CHECK_EQ(sgf_chan_send_spliced(ch, &oh, sizeof(oh), fd, fsize - 1000, 60000, &p),
		 1000);
	recv_spliced(sv[0], 9, data + fsize - 1000, 1000);
	oh.unique = 10; /* past end of file: header only */
	CHECK_EQ(sgf_chan_send_spliced(ch, &oh, sizeof(oh), fd, fsize + 5, 60000, &p), 0);
	recv_spliced(sv[0], 10, data, 0);
	CHECK_EQ(pipe_pending(&p), 0);

	/* Nothing sent for these: the caller copies instead. */
	CHECK_EQ(sgf_chan_send_spliced(ch, &oh, sizeof(oh), fd, 0, 128 * 1024, &p), -EAGAIN);
	CHECK_EQ(sgf_chan_send_spliced(ch, &oh, sizeof(oh), fd, 100, 64 * 1024, &p), -EAGAIN);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_EQ(sgf_chan_send_spliced(ch, &oh, sizeof(oh), dirfd, 0, 4096, &p), -EAGAIN);
	close(dirfd);
	CHECK_EQ(sgf_chan_send_spliced(ch, &oh, 8, fd, 0, 4096, &p), -EINVAL);
	int nothing = 0;
	CHECK_EQ(ioctl(sv[0], FIONREAD, &nothing), 0);
	CHECK_EQ(nothing, 0);
	CHECK_EQ(pipe_pending(&p), 0);

	/* /dev/fuse offers no spliced send. */
	struct sgf_chan *dev = sgf_chan_dev_new(open("/dev/null", O_RDWR | O_CLOEXEC));
	CHECK(dev != NULL);
	if (dev) {
		CHECK(!sgf_chan_can_splice(dev));
		CHECK_EQ(sgf_chan_send_spliced(dev, &oh, sizeof(oh), fd, 0, 4096, &p),
			 -EOPNOTSUPP);
	}
	sgf_chan_free(dev);

	/* The peer left: the channel is gone, the pipe empty again. */
	close(sv[0]);
	sv[0] = -1;
	CHECK_EQ(sgf_chan_send_spliced(ch, &oh, sizeof(oh), fd, 0, 40000, &p), -ENODEV);
	CHECK_EQ(pipe_pending(&p), 0);
out:
	sgf_chan_free(ch);
	if (sv[0] >= 0)
		close(sv[0]);
	if (fd >= 0)
		close(fd);
	close(p.fd[0]);
	close(p.fd[1]);
	unlink(path);
	rmdir(dir);
	free(data);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	check_basics();
	check_shutdown();
	check_concurrent_send();
	check_concurrent_recv();
	check_splice_send();
	return check_exit();
}
