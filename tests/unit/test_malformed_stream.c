/* tests/unit/test_malformed_stream.c - sgf_session_process fed crafted bytes,
 * replies read from a socketpair: before/bad/good INIT, truncated, oversized
 * and unterminated messages, no-reply ops, and thousands of fuzzed messages. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"
#include "chan.h"
#include "session.h"

#define HDR sizeof(struct fuse_in_header)
#define OHDR sizeof(struct fuse_out_header)
#define MAX_WRITE (64u * 1024u)
#define FILE_INO 2

/* The fake filesystem: records what reached it. */
struct fake {
	int inits;
	int forgets;
	uint64_t forgot_ino, forgot_nlookup;
	size_t written;
	unsigned char last_byte;
	char last_lookup[300];
};

static int fake_init(void *fs, struct sgf_conn_info *ci)
{
	(void)ci;
	((struct fake *)fs)->inits++;
	return 0;
}

static void fill_attr(struct fuse_attr *a, uint64_t ino)
{
	a->ino = ino;
	a->mode = ino == 1 ? 040755 : 0100644;
	a->nlink = 1;
	a->size = 4096;
}

static int fake_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
		       struct fuse_entry_out *out)
{
	struct fake *f = r->fs;
	snprintf(f->last_lookup, sizeof(f->last_lookup), "%s", name);
	if (parent != 1 || strcmp(name, "file") != 0)
		return -ENOENT;
	out->nodeid = FILE_INO;
	out->generation = 1;
	fill_attr(&out->attr, FILE_INO);
	return 0;
}

static void fake_forget(const struct sgf_req *r, uint64_t ino, uint64_t nlookup)
{
	struct fake *f = r->fs;
	f->forgets++;
	f->forgot_ino = ino;
	f->forgot_nlookup = nlookup;
}

static int fake_getattr(const struct sgf_req *r, uint64_t ino,
			const struct fuse_getattr_in *in, struct fuse_attr_out *out)
{
	(void)r; (void)in;
	fill_attr(&out->attr, ino);
	return 0;
}

/* Serve at most 512 bytes of a pattern: replies stay small for the socket. */
static ssize_t fake_read(const struct sgf_req *r, uint64_t ino,
			 const struct fuse_read_in *in, const struct iovec *iov, int iovcnt)
{
	(void)r; (void)ino;
	size_t want = in->size < 512 ? in->size : 512, done = 0;
	for (int i = 0; i < iovcnt && done < want; i++) {
		unsigned char *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len && done < want; j++, done++)
			p[j] = (unsigned char)(in->offset + done);
	}
	return (ssize_t)done;
}

static ssize_t fake_write(const struct sgf_req *r, uint64_t ino,
			  const struct fuse_write_in *in, const struct iovec *iov, int iovcnt)
{
	struct fake *f = r->fs;
	size_t n = 0;
	(void)ino;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			f->last_byte = ((unsigned char *)iov[i].iov_base)[iov[i].iov_len - 1];
		n += iov[i].iov_len;
	}
	f->written = n;
	return n == in->size ? (ssize_t)n : -EIO;
}

static int fake_readdir(const struct sgf_req *r, uint64_t ino,
			const struct fuse_read_in *in, bool plus, struct sgf_dirbuf *db)
{
	static const char *names[] = { ".", "..", "file" };
	(void)r; (void)ino;
	for (uint64_t i = in->offset; i < 3; i++) {
		struct fuse_entry_out e;
		memset(&e, 0, sizeof(e));
		fill_attr(&e.attr, i + 1);
		int err = plus ? sgf_dirbuf_add_plus(db, names[i], strlen(names[i]), &e, i + 1)
			       : sgf_dirbuf_add(db, names[i], strlen(names[i]), i + 1,
						i < 2 ? 4 : 8, i + 1);
		if (err)
			break;
	}
	return 0;
}

static const struct sgf_ops fake_ops = {
	.init = fake_init,
	.lookup = fake_lookup,
	.forget = fake_forget,
	.getattr = fake_getattr,
	.read = fake_read,
	.write = fake_write,
	.readdir = fake_readdir,
};

struct rig {
	struct sgf_session *se;
	struct sgf_chan *ch;
	int peer;
	unsigned char *msg;
	size_t msg_size;
	struct fake fake;
};

struct reply {
	struct fuse_out_header h;
	unsigned char data[256 * 1024];
	size_t data_len;
};

/* The message buffer: at least what the session receives at most (and
 * BUF_MIN, as the size may only be final after INIT); called again after
 * INIT. sgf_session_process copies it into one of the session's own request
 * buffers, as a worker's receive would fill one. */
#define BUF_MIN (2u << 20)
static void rig_buffers(struct rig *g)
{
	size_t msize = sgf_session_recv_size(g->se);
	msize = msize > BUF_MIN ? msize : BUF_MIN;
	free(g->msg);
	g->msg = NULL;
	if (posix_memalign((void **)&g->msg, 4096, msize) != 0) {
		perror("posix_memalign");
		exit(1);
	}
	g->msg_size = msize;
}

static void rig_open(struct rig *g)
{
	int sv[2];
	memset(g, 0, sizeof(*g));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("socketpair");
		exit(1);
	}
	int big = 4 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	struct sgf_session_opts o = { .max_write = MAX_WRITE, .max_pages_limit = 256 };
	g->se = sgf_session_new(&fake_ops, &g->fake, &o);
	g->ch = sgf_chan_stream_new(sv[0]);
	g->peer = sv[1];
	if (!g->se || !g->ch) {
		perror("session/channel");
		exit(1);
	}
	rig_buffers(g);
}

static void rig_close(struct rig *g)
{
	sgf_chan_free(g->ch);
	sgf_session_destroy(g->se);
	close(g->peer);
	free(g->msg);
}

/* Read exactly n bytes already queued (the session replied synchronously). */
static bool read_queued(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* Next reply, if one is queued. Framing errors fail the test. */
static bool get_reply(struct rig *g, struct reply *r)
{
	struct pollfd p = { .fd = g->peer, .events = POLLIN };
	if (poll(&p, 1, 0) != 1)
		return false;
	if (!read_queued(g->peer, &r->h, OHDR)) {
		fprintf(stderr, "FAIL: partial reply header\n");
		check_failures++;
		return false;
	}
	if (r->h.len < OHDR || r->h.len - OHDR > sizeof(r->data)) {
		fprintf(stderr, "FAIL: reply len %u\n", r->h.len);
		check_failures++;
		return false;
	}
	r->data_len = r->h.len - OHDR;
	if (!read_queued(g->peer, r->data, r->data_len)) {
		fprintf(stderr, "FAIL: reply shorter than its header len %u\n", r->h.len);
		check_failures++;
		return false;
	}
	return true;
}

static int process(struct rig *g, size_t len)
{
	return sgf_session_process(g->se, g->ch, g->msg, len);
}

/* Message builder over g->msg. */
static struct fuse_in_header *start(struct rig *g, uint32_t op, uint64_t unique, uint64_t node)
{
	memset(g->msg, 0, HDR + 512);
	struct fuse_in_header *h = (struct fuse_in_header *)g->msg;
	h->opcode = op;
	h->unique = unique;
	h->nodeid = node;
	h->len = HDR;
	return h;
}

static void *add(struct rig *g, const void *data, size_t n)
{
	struct fuse_in_header *h = (struct fuse_in_header *)g->msg;
	void *at = g->msg + h->len;
	if (data)
		memcpy(at, data, n);
	else
		memset(at, 0, n);
	h->len += (uint32_t)n;
	return at;
}

static size_t len_of(struct rig *g)
{
	return ((struct fuse_in_header *)g->msg)->len;
}

/* Send the built message; expect one reply with unique and error. */
static void expect_error(struct rig *g, int err, const char *what)
{
	struct reply *r = malloc(sizeof(*r));
	uint64_t unique = ((struct fuse_in_header *)g->msg)->unique;
	int pr = process(g, len_of(g));
	CHECK_EQ_CTX(pr, 0, what);
	if (!get_reply(g, r)) {
		fprintf(stderr, "FAIL [%s]: no reply\n", what);
		check_failures++;
	} else {
		CHECK_EQ_CTX(r->h.unique, unique, what);
		CHECK_EQ_CTX(r->h.error, err, what);
		if (err)
			CHECK_EQ_CTX(r->h.len, OHDR, what);
	}
	CHECK_EQ_CTX(get_reply(g, r), false, what); /* exactly one */
	free(r);
}

static void expect_no_reply(struct rig *g, size_t len, const char *what)
{
	struct reply *r = malloc(sizeof(*r));
	process(g, len);
	if (get_reply(g, r)) {
		fprintf(stderr, "FAIL [%s]: unexpected reply error %d unique %llu\n", what,
			r->h.error, (unsigned long long)r->h.unique);
		check_failures++;
	}
	free(r);
}

static void build_init(struct rig *g, uint64_t unique, uint32_t major, uint32_t minor)
{
	start(g, FUSE_INIT, unique, 0);
	struct fuse_init_in *in = add(g, NULL, sizeof(*in));
	in->major = major;
	in->minor = minor;
	in->max_readahead = 128 * 1024;
	in->flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_INIT_EXT |
		    FUSE_DO_READDIRPLUS | FUSE_ASYNC_DIO;
}

static void build_lookup(struct rig *g, uint64_t unique, const char *name, bool nul)
{
	start(g, FUSE_LOOKUP, unique, 1);
	add(g, name, strlen(name) + (nul ? 1 : 0));
}

static void before_init(struct rig *g)
{
	start(g, FUSE_GETATTR, 11, 1);
	add(g, NULL, sizeof(struct fuse_getattr_in));
	expect_error(g, -EIO, "GETATTR before INIT");
	build_lookup(g, 12, "file", true);
	expect_error(g, -EIO, "LOOKUP before INIT");
	start(g, FUSE_INTERRUPT, 13, 0);
	add(g, NULL, sizeof(struct fuse_interrupt_in));
	expect_no_reply(g, len_of(g), "INTERRUPT before INIT");
	CHECK(!sgf_session_initialized(g->se));
	CHECK_EQ(g->fake.inits, 0);
}

static void bad_init(struct rig *g)
{
	build_init(g, 20, 7, SGF_PROTO_MINOR_MIN - 1);
	expect_error(g, -EPROTO, "INIT minor too old");
	build_init(g, 21, 6, 38);
	expect_error(g, -EPROTO, "INIT major 6");
	/* A newer major: refused, or told our version to retry with; either
	 * way the session is not initialized by it. */
	{
		struct reply *r = malloc(sizeof(*r));
		build_init(g, 23, 8, 0);
		CHECK_EQ(process(g, len_of(g)), 0);
		CHECK(get_reply(g, r));
		CHECK_EQ(r->h.unique, 23);
		if (r->h.error == 0) {
			CHECK_EQ(r->data_len, FUSE_COMPAT_INIT_OUT_SIZE);
			struct fuse_init_out out;
			memcpy(&out, r->data, FUSE_COMPAT_INIT_OUT_SIZE);
			CHECK_EQ(out.major, 7);
		} else {
			CHECK_EQ(r->h.error, -EPROTO);
		}
		free(r);
	}
	/* An INIT too short to hold major/minor/flags. */
	start(g, FUSE_INIT, 22, 0);
	struct fuse_init_in *in = add(g, NULL, 8);
	in->major = 7;
	in->minor = 38;
	expect_error(g, -EINVAL, "INIT 8 bytes");
	start(g, FUSE_INTERRUPT, 13, 0);
	add(g, NULL, sizeof(struct fuse_interrupt_in));
	expect_no_reply(g, len_of(g), "INTERRUPT before INIT");
	CHECK(!sgf_session_initialized(g->se));
	CHECK_EQ(g->fake.inits, 0);
}

static void good_init(struct rig *g)
{
	struct reply *r = malloc(sizeof(*r));
	build_init(g, 30, 7, 38);
	CHECK_EQ(process(g, len_of(g)), 0);
	CHECK(get_reply(g, r));
	CHECK_EQ(r->h.unique, 30);
	CHECK_EQ(r->h.error, 0);
	CHECK_EQ(r->data_len, sizeof(struct fuse_init_out));
	if (r->data_len >= sizeof(struct fuse_init_out)) {
		struct fuse_init_out out;
		memcpy(&out, r->data, sizeof(out));
		CHECK_EQ(out.major, 7);
		CHECK_EQ(out.minor, 38);
		CHECK_EQ(out.max_write, MAX_WRITE);
		CHECK_EQ(out.max_pages, MAX_WRITE / 4096);
		CHECK(out.flags & FUSE_MAX_PAGES);
	}
	CHECK(sgf_session_initialized(g->se));
	CHECK_EQ(g->fake.inits, 1);
	rig_buffers(g);
	const struct sgf_conn_info *ci = sgf_session_conn(g->se);
	CHECK(ci && ci->max_write == MAX_WRITE);
	CHECK(sgf_session_recv_size(g->se) >= HDR + sizeof(struct fuse_write_in) + MAX_WRITE);
	CHECK(sgf_session_reply_size(g->se) >= ci->max_read);
	/* A second INIT is refused and changes nothing. */
	build_init(g, 31, 7, 38);
	CHECK_EQ(process(g, len_of(g)), 0);
	CHECK(get_reply(g, r));
	CHECK_EQ(r->h.unique, 31);
	CHECK(r->h.error < 0);
	CHECK_EQ(g->fake.inits, 1);
	free(r);
}

static void good_requests(struct rig *g)
{
	struct reply *r = malloc(sizeof(*r));

	start(g, FUSE_GETATTR, 40, 1);
	add(g, NULL, sizeof(struct fuse_getattr_in));
	CHECK_EQ(process(g, len_of(g)), 0);
	CHECK(get_reply(g, r));
	CHECK_EQ(r->h.error, 0);
	CHECK_EQ(r->h.unique, 40);
	CHECK_EQ(r->data_len, sizeof(struct fuse_attr_out));
	struct fuse_attr_out ao;
	memcpy(&ao, r->data, sizeof(ao));
	CHECK_EQ(ao.attr.ino, 1);

	build_lookup(g, 41, "file", true);
	CHECK_EQ(process(g, len_of(g)), 0);
	CHECK(get_reply(g, r));
	CHECK_EQ(r->h.error, 0);
	CHECK_EQ(r->data_len, sizeof(struct fuse_entry_out));
	struct fuse_entry_out eo;
	memcpy(&eo, r->data, sizeof(eo));
	CHECK_EQ(eo.nodeid, FILE_INO);
	CHECK_STR(g->fake.last_lookup, "file");

	build_lookup(g, 42, "nope", true);
	expect_error(g, -ENOENT, "LOOKUP nope");

	/* READ: exactly the bytes the op returned. */
	start(g, FUSE_READ, 43, FILE_INO);
	struct fuse_read_in *rd = add(g, NULL, sizeof(*rd));
	rd->offset = 7;
	rd->size = 300;
	CHECK_EQ(process(g, len_of(g)), 0);
	CHECK(get_reply(g, r));
	CHECK_EQ(r->h.error, 0);
	CHECK_EQ(r->data_len, 300);
	CHECK(r->data[0] == 7 && r->data[299] == (unsigned char)(7 + 299));

	/* WRITE: payload reaches the op, reply says how much. */
	start(g, FUSE_WRITE, 44, FILE_INO);
	struct fuse_write_in *wr = add(g, NULL, sizeof(*wr));
	wr->size = 5000;
	unsigned char *payload = add(g, NULL, 5000);
	payload[4999] = 0xEE;
	CHECK_EQ(process(g, len_of(g)), 0);
	CHECK(get_reply(g, r));
	CHECK_EQ(r->h.error, 0);
	CHECK_EQ(r->data_len, sizeof(struct fuse_write_out));
	struct fuse_write_out wo;
	memcpy(&wo, r->data, sizeof(wo));
	CHECK_EQ(wo.size, 5000);
	CHECK_EQ(g->fake.written, 5000);
	CHECK_EQ(g->fake.last_byte, 0xEE);

	/* WRITE of exactly max_write. */
	start(g, FUSE_WRITE, 45, FILE_INO);
	wr = add(g, NULL, sizeof(*wr));
	wr->size = MAX_WRITE;
	add(g, NULL, MAX_WRITE);
	CHECK_EQ(process(g, len_of(g)), 0);
	CHECK(get_reply(g, r));
	CHECK_EQ(r->h.error, 0);
	CHECK_EQ(g->fake.written, MAX_WRITE);

	/* READDIR: entries as the op added them. */
	start(g, FUSE_READDIR, 46, 1);
	rd = add(g, NULL, sizeof(*rd));
	rd->size = 4096;
	CHECK_EQ(process(g, len_of(g)), 0);
	CHECK(get_reply(g, r));
	CHECK_EQ(r->h.error, 0);
	size_t expect = 0;
	static const size_t namelens[] = { 1, 2, 4 };
	for (int i = 0; i < 3; i++)
		expect += FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelens[i]);
	CHECK_EQ(r->data_len, expect);

	/* An op the filesystem lacks. */
	start(g, FUSE_MKNOD, 47, 1);
	add(g, NULL, sizeof(struct fuse_mknod_in));
	add(g, "node", 5);
	expect_error(g, -ENOSYS, "MKNOD without op");
	free(r);
}

static void malformed_requests(struct rig *g)
{
	uint64_t malformed0 = sgf_session_stats(g->se)->malformed;
	uint64_t unknown0 = sgf_session_stats(g->se)->unknown;

	start(g, FUSE_GETATTR, 50, 1);
	add(g, NULL, sizeof(struct fuse_getattr_in) - 1);
	expect_error(g, -EINVAL, "GETATTR short");

	start(g, FUSE_GETATTR, 51, 1);
	add(g, NULL, sizeof(struct fuse_getattr_in) + 1);
	expect_error(g, -EINVAL, "GETATTR long");

	/* The header claims more than arrived. */
	start(g, FUSE_GETATTR, 52, 1);
	add(g, NULL, sizeof(struct fuse_getattr_in));
	((struct fuse_in_header *)g->msg)->len += 8;
	CHECK_EQ(process(g, len_of(g) - 8), 0);
	{
		struct reply *r = malloc(sizeof(*r));
		CHECK(get_reply(g, r));
		CHECK_EQ(r->h.unique, 52);
		CHECK_EQ(r->h.error, -EIO);
		free(r);
	}

	build_lookup(g, 53, "unterminated", false);
	expect_error(g, -EINVAL, "LOOKUP without NUL");
	build_lookup(g, 54, "", true);
	expect_error(g, -EINVAL, "LOOKUP empty name");
	char longname[SGF_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	build_lookup(g, 55, longname, true);
	{
		struct reply *r = malloc(sizeof(*r));
		CHECK_EQ(process(g, len_of(g)), 0);
		CHECK(get_reply(g, r));
		CHECK_EQ(r->h.unique, 55);
		CHECK(r->h.error == -EINVAL || r->h.error == -ENAMETOOLONG);
		free(r);
	}

	start(g, FUSE_WRITE, 56, FILE_INO);
	struct fuse_write_in *wr = add(g, NULL, sizeof(*wr));
	wr->size = MAX_WRITE + 1;
	add(g, NULL, MAX_WRITE + 1);
	expect_error(g, -EINVAL, "WRITE above max_write");

	start(g, FUSE_WRITE, 57, FILE_INO);
	wr = add(g, NULL, sizeof(*wr));
	wr->size = 100;
	add(g, NULL, 99);
	expect_error(g, -EINVAL, "WRITE size != payload");

	start(g, 7, 58, 1);
	expect_error(g, -ENOSYS, "opcode 7");
	start(g, 100000, 59, 1);
	add(g, NULL, 24);
	expect_error(g, -ENOSYS, "opcode 100000");

	/* Too short for a header: nobody to answer. */
	start(g, FUSE_GETATTR, 60, 1);
	expect_no_reply(g, 10, "10-byte message");
	expect_no_reply(g, 0, "empty message");

	CHECK(sgf_session_stats(g->se)->malformed > malformed0);
	CHECK(sgf_session_stats(g->se)->unknown >= unknown0 + 2);
}

static void no_reply_ops(struct rig *g)
{
	start(g, FUSE_FORGET, 70, FILE_INO);
	struct fuse_forget_in *fi = add(g, NULL, sizeof(*fi));
	fi->nlookup = 3;
	expect_no_reply(g, len_of(g), "FORGET");
	CHECK_EQ(g->fake.forgets, 1);
	CHECK_EQ(g->fake.forgot_ino, FILE_INO);
	CHECK_EQ(g->fake.forgot_nlookup, 3);

	start(g, FUSE_BATCH_FORGET, 71, 0);
	struct fuse_batch_forget_in *bf = add(g, NULL, sizeof(*bf));
	bf->count = 2;
	struct fuse_forget_one one[2] = { { FILE_INO, 1 }, { 9, 4 } };
	add(g, one, sizeof(one));
	expect_no_reply(g, len_of(g), "BATCH_FORGET");
	CHECK_EQ(g->fake.forgets, 3);
	CHECK_EQ(g->fake.forgot_ino, 9);
	CHECK_EQ(g->fake.forgot_nlookup, 4);

	/* Malformed no-reply ops still get no reply and reach nobody. */
	start(g, FUSE_FORGET, 72, FILE_INO);
	add(g, NULL, 4);
	expect_no_reply(g, len_of(g), "short FORGET");
	start(g, FUSE_BATCH_FORGET, 73, 0);
	bf = add(g, NULL, sizeof(*bf));
	bf->count = 0x10000000u;
	expect_no_reply(g, len_of(g), "BATCH_FORGET count overflow");
	CHECK_EQ(g->fake.forgets, 3);

	/* A header whose len disagrees with what arrived (an oversized
	 * message the channel skipped) is still known as a FORGET. */
	start(g, FUSE_BATCH_FORGET, 74, 0);
	add(g, NULL, sizeof(*bf));
	((struct fuse_in_header *)g->msg)->len = 160 * 1024;
	expect_no_reply(g, sizeof(struct fuse_in_header), "oversized BATCH_FORGET");

	/* An INTERRUPT for a request not in flight (none is here: each one
	 * is answered before process returns) is answered EAGAIN, as the
	 * kernel's contract asks (it resends or drops it), under the
	 * INTERRUPT's own unique; a malformed one and NOTIFY_REPLY are never
	 * answered. */
	start(g, FUSE_INTERRUPT, 75, 0);
	struct fuse_interrupt_in *ii = add(g, NULL, sizeof(*ii));
	ii->unique = 74;
	expect_error(g, -EAGAIN, "INTERRUPT of a request not in flight");
	start(g, FUSE_INTERRUPT, 78, 0);
	add(g, NULL, sizeof(struct fuse_interrupt_in));
	expect_error(g, -EAGAIN, "INTERRUPT of unique 0");
	start(g, FUSE_INTERRUPT, 76, 0);
	add(g, NULL, 3);
	expect_no_reply(g, len_of(g), "short INTERRUPT");
	start(g, FUSE_NOTIFY_REPLY, 77, 0);
	add(g, NULL, sizeof(struct fuse_notify_retrieve_in) + 10);
	expect_no_reply(g, len_of(g), "NOTIFY_REPLY");
	CHECK_EQ(g->fake.forgets, 3);
}

/* Templates the fuzzer mutates: one valid message per common shape. */
static size_t build_template(struct rig *g, unsigned k, uint64_t unique)
{
	switch (k % 10) {
	case 0:
		start(g, FUSE_GETATTR, unique, 1);
		add(g, NULL, sizeof(struct fuse_getattr_in));
		break;
	case 1:
		build_lookup(g, unique, "file", true);
		break;
	case 2: {
		start(g, FUSE_READ, unique, FILE_INO);
		struct fuse_read_in *rd = add(g, NULL, sizeof(*rd));
		rd->size = 4096;
		break;
	}
	case 3: {
		start(g, FUSE_WRITE, unique, FILE_INO);
		struct fuse_write_in *wr = add(g, NULL, sizeof(*wr));
		wr->size = 64;
		add(g, NULL, 64);
		break;
	}
	case 4: {
		start(g, FUSE_READDIRPLUS, unique, 1);
		struct fuse_read_in *rd = add(g, NULL, sizeof(*rd));
		rd->size = 4096;
		break;
	}
	case 5:
		start(g, FUSE_RENAME2, unique, 1);
		add(g, NULL, sizeof(struct fuse_rename2_in));
		add(g, "a\0b", 4);
		break;
	case 6: {
		start(g, FUSE_SETXATTR, unique, 1);
		const struct sgf_opdesc *d = sgf_opdesc(FUSE_SETXATTR);
		struct fuse_setxattr_in *x = add(g, NULL, d ? d->in_size : 8);
		x->size = 3;
		add(g, "user.a\0abc", 10);
		break;
	}
	case 7: {
		start(g, FUSE_BATCH_FORGET, unique, 0);
		struct fuse_batch_forget_in *bf = add(g, NULL, sizeof(*bf));
		bf->count = 1;
		add(g, NULL, sizeof(struct fuse_forget_one));
		break;
	}
	case 8:
		start(g, FUSE_SYMLINK, unique, 1);
		add(g, "l\0target", 9);
		break;
	default: {
		start(g, FUSE_READDIR, unique, 1);
		struct fuse_read_in *rd = add(g, NULL, sizeof(*rd));
		rd->size = 300;
		break;
	}
	}
	return len_of(g);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fuzz(struct rig *g, unsigned iterations)
{
	struct reply *r = malloc(sizeof(*r));
	unsigned replies = 0;
	for (unsigned it = 0; it < iterations; it++) {
		uint64_t unique = 1000 + it;
		size_t len = build_template(g, (unsigned)rnd(), unique);
		switch (rnd() % 4) {
		case 0: /* flip a few bytes anywhere */
			for (unsigned n = 1 + rnd() % 6; n; n--)
				g->msg[rnd() % len] ^= (unsigned char)(1u << (rnd() % 8));
			break;
		case 1: { /* cut or extend, header kept consistent */
			size_t nl = rnd() % (len + 64);
			for (size_t i = len; i < nl; i++)
				g->msg[i] = (unsigned char)rnd();
			len = nl;
			if (len >= HDR)
				((struct fuse_in_header *)g->msg)->len = (uint32_t)len;
			break;
		}
		case 2: /* random argument bytes after a sane header */
			for (size_t i = HDR; i < len; i++)
				g->msg[i] = (unsigned char)rnd();
			break;
		default: /* pure noise */
			len = rnd() % 300;
			for (size_t i = 0; i < len; i++)
				g->msg[i] = (unsigned char)rnd();
			if (len >= HDR && rnd() % 2)
				((struct fuse_in_header *)g->msg)->len = (uint32_t)len;
			break;
		}
		/* Keep the session alive and initialized: no DESTROY or INIT. */
		if (len >= HDR) {
			struct fuse_in_header *h = (struct fuse_in_header *)g->msg;
			if (h->opcode == FUSE_DESTROY || h->opcode == FUSE_INIT)
				h->opcode = FUSE_GETATTR;
			unique = h->unique;
		}
		int pr = process(g, len);
		if (pr != 0) {
			fprintf(stderr, "FAIL: fuzz iteration %u: process returned %d\n", it, pr);
			check_failures++;
			break;
		}
		unsigned n = 0;
		while (get_reply(g, r)) {
			n++;
			replies++;
			if (len < HDR || r->h.unique != unique || r->h.error > 0 ||
			    r->h.error < -4095 || (r->h.error != 0 && r->data_len != 0)) {
				fprintf(stderr, "FAIL: fuzz iteration %u: reply unique %llu error %d "
					"len %u to a %zu-byte request\n", it,
					(unsigned long long)r->h.unique, r->h.error, r->h.len, len);
				check_failures++;
			}
		}
		if (n > 1) {
			fprintf(stderr, "FAIL: fuzz iteration %u: %u replies\n", it, n);
			check_failures++;
		}
	}
	printf("fuzz: %u iterations, %u replies\n", iterations, replies);
	free(r);
}

static void destroy(struct rig *g)
{
	struct reply *r = malloc(sizeof(*r));
	start(g, FUSE_DESTROY, 90, 0);
	process(g, len_of(g));
	CHECK(sgf_session_exited(g->se));
	while (get_reply(g, r))
		CHECK_EQ(r->h.unique, 90);
	free(r);
}

int main(void)
{
	struct rig g;
	rig_open(&g);
	before_init(&g);
	bad_init(&g);
	good_init(&g);
	good_requests(&g);
	malformed_requests(&g);
	no_reply_ops(&g);
	fuzz(&g, 5000);
	/* The session still answers properly after the noise. */
	build_lookup(&g, 80, "nope", true);
	expect_error(&g, -ENOENT, "LOOKUP after fuzz");
	destroy(&g);
	rig_close(&g);

	/* Pure noise into a fresh, uninitialized session as well. */
	rig_open(&g);
	fuzz(&g, 2000);
	rig_close(&g);
	return check_exit();
}
