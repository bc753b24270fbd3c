/* tests/client/test_client_faults.c - the client against a misbehaving
 * server: every reply validation rule (bad length, unknown unique, error out
 * of range, READ longer than asked, WRITE claiming more than sent) fails just
 * that request with EIO and counts as malformed; guard bytes prove nothing is
 * written outside the caller's iovecs; a server that hangs up or is killed
 * fails every pending call with ENOTCONN. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include "check.h"
#include "fake_server.h"

#define PAGE 4096u
#define GUARD 0xA5

enum mode {
	M_GOOD,
	M_ATTR_SHORT, M_ATTR_LONG, M_ERR_POSITIVE, M_ERR_TOO_NEGATIVE, M_ERR_WITH_PAYLOAD,
	M_UNKNOWN_UNIQUE_FIRST, M_ODD_UNIQUE_FIRST, M_NOTIFY_FIRST, M_ENOENT, M_LEN_TINY,
	M_READ_LONG, M_READ_SHORT, M_WRITE_OVERCLAIM,
	M_READ_REVERSED, M_READ_ERR_REVERSED, M_HANG_UP_AFTER, M_STALL_AFTER,
};

struct stashed {
	uint64_t unique, offset;
	uint32_t size;
};

struct tctx {
	enum mode mode;
	unsigned ngetattr, nread, nwrite;
	struct stashed stash[64];
	unsigned nstash, stash_target, err_index, after;
	unsigned bad_payload;   /* WRITE payload bytes that were not pat(offset) */
};

static uint8_t pat(uint64_t off)
{
	return (uint8_t)(off * 31 + (off >> 9) * 7 + 1);
}

static int reply_data(int fd, uint64_t unique, uint64_t off, size_t n)
{
	static uint8_t buf[1 << 20];
	if (n > sizeof(buf))
		n = sizeof(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = pat(off + i);
	return fake_reply(fd, unique, 0, buf, n);
}

static int on_getattr(struct fake_srv *s, struct tctx *t, const struct fuse_in_header *h)
{
	struct fuse_attr_out ao;
	char junk[256];
	bool first = t->ngetattr++ == 0;

	memset(&ao, 0, sizeof(ao));
	ao.attr.ino = h->nodeid;
	ao.attr.mode = 0100644;
	ao.attr.size = 12345;
	memset(junk, 0x77, sizeof(junk));
	if (!first || t->mode == M_GOOD)
		return fake_reply(s->fd, h->unique, 0, &ao, sizeof(ao));
	switch (t->mode) {
	case M_ATTR_SHORT:
		return fake_reply(s->fd, h->unique, 0, &ao, 50);
	case M_ATTR_LONG:
		return fake_reply(s->fd, h->unique, 0, junk, 200);
	case M_ERR_POSITIVE:
		return fake_reply(s->fd, h->unique, 5, NULL, 0);
	case M_ERR_TOO_NEGATIVE:
		return fake_reply(s->fd, h->unique, -5000, NULL, 0);
	case M_ERR_WITH_PAYLOAD:
		return fake_reply(s->fd, h->unique, -ENOENT, junk, 10);
	case M_UNKNOWN_UNIQUE_FIRST:
		fake_reply(s->fd, h->unique + 2, 0, &ao, sizeof(ao));
		return fake_reply(s->fd, h->unique, 0, &ao, sizeof(ao));
	case M_ODD_UNIQUE_FIRST:
		fake_reply(s->fd, h->unique | 1, 0, &ao, sizeof(ao));
		return fake_reply(s->fd, h->unique, 0, &ao, sizeof(ao));
	case M_NOTIFY_FIRST:
		/* unique 0 is a notification (error = its code), not a reply */
		fake_reply(s->fd, 0, FUSE_NOTIFY_INVAL_INODE, junk, 24);
		return fake_reply(s->fd, h->unique, 0, &ao, sizeof(ao));
	case M_ENOENT:
		return fake_reply(s->fd, h->unique, -ENOENT, NULL, 0);
	case M_LEN_TINY:
		return fake_reply_raw(s->fd, h->unique, 0, NULL, 0, 8);
	default:
		return fake_reply(s->fd, h->unique, 0, &ao, sizeof(ao));
	}
}

static int flush_stash_reversed(struct fake_srv *s, struct tctx *t)
{
	for (unsigned i = t->nstash; i-- > 0;) {
		struct stashed *st = &t->stash[i];
		int r = (t->mode == M_READ_ERR_REVERSED && i == t->err_index)
				? fake_reply(s->fd, st->unique, -EIO, NULL, 0)
				: reply_data(s->fd, st->unique, st->offset, st->size);
		if (r < 0)
			return r;
	}
	t->nstash = 0;
	return 0;
}

static int on_read(struct fake_srv *s, struct tctx *t, const struct fuse_in_header *h,
		   const struct fuse_read_in *in)
{
	t->nread++;
	switch (t->mode) {
	case M_READ_LONG:
		return reply_data(s->fd, h->unique, in->offset, (size_t)in->size + 1000);
	case M_READ_SHORT:
		return reply_data(s->fd, h->unique, in->offset, in->size / 2);
	case M_READ_REVERSED:
	case M_READ_ERR_REVERSED:
		t->stash[t->nstash++] = (struct stashed){ h->unique, in->offset, in->size };
		return t->nstash == t->stash_target ? flush_stash_reversed(s, t) : 0;
	case M_HANG_UP_AFTER:
		return t->nread >= t->after ? 1 : 0;  /* never reply; then hang up */
	case M_STALL_AFTER:
		if (t->nread > t->after)
			return 0;  /* swallow it: the caller waits until we die */
		return reply_data(s->fd, h->unique, in->offset, in->size);
	default:
		return reply_data(s->fd, h->unique, in->offset, in->size);
	}
}

static int handler(struct fake_srv *s, const struct fuse_in_header *h, const void *body,
		   size_t len)
{
	struct tctx *t = s->ctx;

	switch (h->opcode) {
	case FUSE_GETATTR:
		return on_getattr(s, t, h) < 0;
	case FUSE_READ: {
		struct fuse_read_in in;
		if (len < sizeof(in))
			return 1;
		memcpy(&in, body, sizeof(in));
		return on_read(s, t, h, &in) != 0;
	}
	case FUSE_WRITE: {
		struct fuse_write_in in;
		if (len < sizeof(in) || len - sizeof(in) != ((const struct fuse_write_in *)body)->size)
			return 1;
		memcpy(&in, body, sizeof(in));
		t->nwrite++;
		const uint8_t *data = (const uint8_t *)body + sizeof(in);
		for (size_t i = 0; i < in.size; i++)
			if (data[i] != pat(in.offset + i))
				t->bad_payload++;
		struct fuse_write_out out = { .size = in.size };
		if (t->mode == M_WRITE_OVERCLAIM)
			out.size = in.size + 1;
		return fake_reply(s->fd, h->unique, 0, &out, sizeof(out)) < 0;
	}
	case FUSE_CREATE: {
		struct {
			struct fuse_entry_out e;
			struct fuse_open_out o;
		} out;
		memset(&out, 0, sizeof(out));
		out.e.nodeid = 9;
		out.e.attr.ino = 9;
		out.e.attr.mode = 0100644;
		out.o.fh = 42;
		return fake_reply(s->fd, h->unique, 0, &out, sizeof(out)) < 0;
	}
	case FUSE_RELEASE:
		return fake_reply(s->fd, h->unique, 0, NULL, 0) < 0;
	default:
		return fake_reply(s->fd, h->unique, -ENOSYS, NULL, 0) < 0;
	}
}

static uint64_t malformed(struct sgf_client *c)
{
	return __atomic_load_n(&sgf_client_stats(c)->malformed, __ATOMIC_RELAXED);
}

/* A connection to a fresh fake server in mode m. */
static struct sgf_client *open_fake(struct fake_srv *s, struct tctx *t, enum mode m,
				    const struct sgf_client_opts *o)
{
	memset(t, 0, sizeof(*t));
	t->mode = m;
	fake_srv_defaults(s, handler, t);
	struct sgf_client *c = fake_srv_attach(s, o);
	CHECK(c != NULL);
	return c;
}

static void close_fake(struct fake_srv *s, struct sgf_client *c)
{
	sgf_client_disconnect(c);
	fake_srv_stop(s);
}

struct attr_case {
	const char *name;
	enum mode mode;
	int want;             /* first GETATTR's result */
	unsigned malformed;
	bool survives;        /* the next GETATTR works */
};

static const struct attr_case attr_cases[] = {
	{ "good", M_GOOD, 0, 0, true },
	{ "payload shorter than fuse_attr_out", M_ATTR_SHORT, -EIO, 1, true },
	{ "payload longer than fuse_attr_out", M_ATTR_LONG, -EIO, 1, true },
	{ "positive error", M_ERR_POSITIVE, -EIO, 1, true },
	{ "error below -4095", M_ERR_TOO_NEGATIVE, -EIO, 1, true },
	{ "error reply with payload", M_ERR_WITH_PAYLOAD, -EIO, 1, true },
	{ "reply for an unknown unique first", M_UNKNOWN_UNIQUE_FIRST, 0, 1, true },
	{ "reply for an odd unique first", M_ODD_UNIQUE_FIRST, 0, 1, true },
	{ "a notification first", M_NOTIFY_FIRST, 0, 0, true },
	{ "plain ENOENT", M_ENOENT, -ENOENT, 0, true },
	{ "len below the header size", M_LEN_TINY, -EIO, 1, false },
};

static void attr_validation(void)
{
	for (size_t i = 0; i < sizeof(attr_cases) / sizeof(attr_cases[0]); i++) {
		const struct attr_case *ac = &attr_cases[i];
		struct fake_srv s;
		struct tctx t;
		struct fuse_attr_out ao;
		struct sgf_client *c = open_fake(&s, &t, ac->mode, NULL);
		if (!c)
			continue;
		CHECK_EQ_CTX(sgf_getattr(c, 5, &ao), ac->want, ac->name);
		if (ac->want == 0)
			CHECK_EQ_CTX(ao.attr.size, 12345, ac->name);
		if (ac->survives) {
			CHECK_EQ_CTX(sgf_getattr(c, 5, &ao), 0, ac->name);
			CHECK_EQ_CTX(ao.attr.ino, 5, ac->name);
		} else {
			CHECK_EQ_CTX(sgf_getattr(c, 5, &ao), -ENOTCONN, ac->name);
		}
		CHECK_EQ_CTX(malformed(c), ac->malformed, ac->name);
		close_fake(&s, c);
	}
}

/* A buffer with guard bytes on both sides. */
struct guarded {
	uint8_t *mem;
	uint8_t *buf;
	size_t size;
};

static struct guarded guarded_new(size_t size, uint8_t fill)
{
	struct guarded g = { .size = size };
	size_t span = (size + PAGE - 1) / PAGE * PAGE + 2 * PAGE;
	g.mem = aligned_alloc(PAGE, span);
	memset(g.mem, GUARD, span);
	g.buf = g.mem + PAGE;
	memset(g.buf, fill, size);
	return g;
}

static bool guards_intact(const struct guarded *g)
{
	for (size_t i = 0; i < PAGE; i++)
		if (g->mem[i] != GUARD || g->buf[g->size + i] != GUARD)
			return false;
	return true;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static bool pattern_ok(const uint8_t *p, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(off + i))
			return false;
	return true;
}

static void data_validation(void)
{
	struct fake_srv s;
	struct tctx t;
	struct sgf_file f = { .nodeid = 7, .fh = 1 };
	struct sgf_client *c;

	/* READ reply longer than asked: EIO and not a byte written. */
	c = open_fake(&s, &t, M_READ_LONG, NULL);
	if (c) {
		struct guarded g = guarded_new(1000, 0x11);
		CHECK_EQ(sgf_pread(c, &f, g.buf, 1000, 0), -EIO);
		CHECK(guards_intact(&g));
		CHECK(all_bytes(g.buf, 1000, 0x11));
		CHECK_EQ(malformed(c), 1);
		free(g.mem);
		close_fake(&s, c);
	}
	/* Short READ: the bytes that came, nothing after them touched. */
	c = open_fake(&s, &t, M_READ_SHORT, NULL);
	if (c) {
		struct guarded g = guarded_new(1000, 0x11);
		CHECK_EQ(sgf_pread(c, &f, g.buf, 1000, 4096), 500);
		CHECK(pattern_ok(g.buf, 500, 4096));
		CHECK(all_bytes(g.buf + 500, 500, 0x11));
		CHECK(guards_intact(&g));
		CHECK_EQ(malformed(c), 0);
		free(g.mem);
		close_fake(&s, c);
	}
	/* WRITE reply claiming more than was sent. */
	c = open_fake(&s, &t, M_WRITE_OVERCLAIM, NULL);
	if (c) {
		char data[3000];
		memset(data, 1, sizeof(data));
		CHECK_EQ(sgf_pwrite(c, &f, data, sizeof(data), 0), -EIO);
		CHECK_EQ(malformed(c), 1);
		close_fake(&s, c);
	}
	/* Many small segments, each fenced by guards, read in one call. */
	c = open_fake(&s, &t, M_GOOD, NULL);
	if (c) {
		struct guarded g = guarded_new(64 * 256, 0x22);
		struct iovec iov[64];
		for (int i = 0; i < 64; i++)
			iov[i] = (struct iovec){ g.buf + i * 256 + 64, 100 + i };
		CHECK_EQ(sgf_preadv(c, &f, iov, 64, 1000), 64 * 100 + 63 * 64 / 2);
		uint64_t off = 1000;
		for (int i = 0; i < 64; i++) {
			CHECK(pattern_ok(iov[i].iov_base, iov[i].iov_len, off));
			off += iov[i].iov_len;
			CHECK(all_bytes(g.buf + i * 256, 64, 0x22));
			CHECK(all_bytes(g.buf + i * 256 + 64 + 100 + i, 256 - 64 - 100 - i, 0x22));
		}
		CHECK(guards_intact(&g));
		free(g.mem);
		close_fake(&s, c);
	}
}

/* A handle that owns the lookup reference of CREATE forgets it at release,
 * not before. */
static void create_reference(void)
{
	struct fake_srv s;
	struct tctx t;
	struct fuse_attr_out ao;
	struct sgf_file f;
	struct sgf_client *c = open_fake(&s, &t, M_GOOD, NULL);

	if (!c)
		return;
	CHECK_EQ(sgf_create(c, FUSE_ROOT_ID, "x", O_RDWR, 0644, NULL, &f), 0);
	CHECK_EQ(f.nodeid, 9);
	CHECK_EQ(f.fh, 42);
	CHECK_EQ(f.nlookup, 1);
	/* A reply to a later request means every earlier message was read. */
	CHECK_EQ(sgf_getattr(c, 9, &ao), 0);
	CHECK_EQ(s.nforget, 0);
	CHECK_EQ(sgf_release(c, &f), 0);
	CHECK_EQ(sgf_getattr(c, 9, &ao), 0);
	CHECK_EQ(s.nforget, 1);
	close_fake(&s, c);
}

/* max_pages above IOV_MAX: one request carries more iovecs than one
 * sendmsg/readv takes, so sending and receiving go in chunks. */
static void many_segments(void)
{
	struct fake_srv s;
	struct tctx t;
	struct sgf_client_opts o = { .max_pages = 2048 };
	struct sgf_file f = { .nodeid = 7, .fh = 1 };
	static struct iovec iov[1500];
	struct sgf_client *c;

	memset(&t, 0, sizeof(t));
	fake_srv_defaults(&s, handler, &t);
	s.max_pages = 2048;
	s.max_write = 8 * 1024 * 1024;
	int fd = fake_srv_start(&s);
	CHECK_EQ(sgf_client_attach(fd, &o, &c), 0);
	if (!c)
		return;
	CHECK_EQ(sgf_client_conn(c)->max_pages, 2048);
	struct guarded g = guarded_new(1500 * PAGE, 0x44);
	uint64_t off = 777;
	for (int i = 0; i < 1500; i++) {
		iov[i] = (struct iovec){ g.buf + (size_t)i * PAGE + 1000, 10 + i % 7 };
		for (size_t j = 0; j < iov[i].iov_len; j++)
			((uint8_t *)iov[i].iov_base)[j] = pat(off++);
	}
	ssize_t total = (ssize_t)(off - 777);
	CHECK_EQ(sgf_pwritev(c, &f, iov, 1500, 777), total);
	CHECK_EQ(t.nwrite, 1);
	CHECK_EQ(t.bad_payload, 0);
	for (int i = 0; i < 1500; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
	CHECK_EQ(sgf_preadv(c, &f, iov, 1500, 777), total);
	CHECK_EQ(t.nread, 1);
	off = 777;
	for (int i = 0; i < 1500; i++) {
		CHECK(pattern_ok(iov[i].iov_base, iov[i].iov_len, off));
		off += iov[i].iov_len;
		CHECK(all_bytes(g.buf + (size_t)i * PAGE, 1000, 0x44));
	}
	CHECK(guards_intact(&g));
	free(g.mem);
	close_fake(&s, c);
}

/* Replies arrive in reverse order; one of them may be an error. */
static void out_of_order(void)
{
	struct sgf_client_opts o = { .max_pages = 1, .window = 16 };
	struct sgf_file f = { .nodeid = 7, .fh = 1 };
	static const unsigned errs[] = { 0, 3, 7 };

	for (int e = -1; e < 3; e++) {
		struct fake_srv s;
		struct tctx t;
		struct sgf_client *c = open_fake(&s, &t, e < 0 ? M_READ_REVERSED
							      : M_READ_ERR_REVERSED, &o);
		if (!c)
			continue;
		t.stash_target = 8;
		t.err_index = e < 0 ? 0 : errs[e];
		struct guarded g = guarded_new(8 * PAGE, 0x33);
		ssize_t want = e < 0 ? (ssize_t)(8 * PAGE)
				   : (errs[e] == 0 ? -EIO : (ssize_t)(errs[e] * PAGE));
		CHECK_EQ(sgf_pread(c, &f, g.buf, 8 * PAGE, 0), want);
		if (want > 0)
			CHECK(pattern_ok(g.buf, (size_t)want, 0));
		CHECK(guards_intact(&g));
		CHECK_EQ(t.nread, 8);
		free(g.mem);
		close_fake(&s, c);
	}
}

struct reader {
	struct sgf_client *c;
	size_t size;
	ssize_t result;
	bool pattern_ok;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct sgf_file f = { .nodeid = 7, .fh = 1 };
	uint8_t *buf = malloc(rd->size);
	struct iovec iov[2] = { { buf, rd->size / 2 }, { buf + rd->size / 2, rd->size / 2 } };

	rd->result = sgf_preadv(rd->c, &f, iov, 2, 0);
	rd->pattern_ok = rd->result <= 0 || pattern_ok(buf, (size_t)rd->result, 0);
	free(buf);
	return NULL;
}

/* Four threads with requests in flight; the server hangs up (thread) or is
 * killed (process). Every call returns: -ENOTCONN, or the prefix that made
 * it. */
static void hang_up(bool kill_process)
{
	struct fake_srv s;
	struct tctx t;
	struct sgf_client_opts o = { .max_pages = 4, .window = 8 };
	struct sgf_client *c = NULL;
	pthread_t th[4];
	struct reader rd[4];

	memset(&t, 0, sizeof(t));
	t.mode = kill_process ? M_STALL_AFTER : M_HANG_UP_AFTER;
	t.after = kill_process ? 6 : 12;
	fake_srv_defaults(&s, handler, &t);
	int fd = kill_process ? fake_srv_start_process(&s) : fake_srv_start(&s);
	CHECK(fd >= 0);
	CHECK_EQ(sgf_client_attach(fd, &o, &c), 0);
	if (!c)
		return;
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct reader){ .c = c, .size = 32 * PAGE };
		pthread_create(&th[i], NULL, reader_main, &rd[i]);
	}
	if (kill_process) {
		/* Kill it once every reader has requests out (the stall keeps
		 * them there); polling our own counters, no timing involved. */
		const uint64_t *reads = &sgf_client_stats(c)->count[FUSE_READ];
		while (__atomic_load_n(reads, __ATOMIC_RELAXED) < 4 * 8)
			usleep(1000);
		kill(s.child, SIGKILL);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(rd[i].result == -ENOTCONN ||
		      (rd[i].result >= 0 && rd[i].result < (ssize_t)rd[i].size));
		CHECK(rd[i].pattern_ok);
	}
	struct fuse_attr_out ao;
	CHECK_EQ(sgf_getattr(c, 1, &ao), -ENOTCONN);
	CHECK_EQ(sgf_client_disconnect(c), -ENOTCONN);
	fake_srv_stop(&s);
}

struct init_case {
	const char *name;
	uint32_t major, minor, init_len;
	int32_t init_error;
	int want;
	bool wrong_unique;
};

static const struct init_case init_cases[] = {
	{ "7.38", 7, 38, 0, 0, 0, false },
	{ "7.28 is the oldest we take", 7, 28, 0, 0, 0, false },
	{ "7.27 is too old", 7, 27, 0, 0, -EPROTO, false },
	{ "major 8", 8, 38, 0, 0, -EPROTO, false },
	{ "major 6", 6, 38, 0, 0, -EPROTO, false },
	{ "INIT refused with EPROTO", 7, 38, 0, -EPROTO, -EPROTO, false },
	{ "INIT unknown (ENOSYS)", 7, 38, 0, -ENOSYS, -EPROTO, false },
	{ "init_out of 10 bytes", 7, 38, 10, 0, -EPROTO, false },
	{ "init_out of 24 bytes (7.22 layout)", 7, 38, 24, 0, 0, false },
	{ "INIT answered under another unique", 7, 38, 0, 0, -EPROTO, true },
};

static int no_handler(struct fake_srv *s, const struct fuse_in_header *h, const void *b,
		      size_t l)
{
	(void)b, (void)l;
	return fake_reply(s->fd, h->unique, -ENOSYS, NULL, 0) < 0;
}

static void init_validation(void)
{
	for (size_t i = 0; i < sizeof(init_cases) / sizeof(init_cases[0]); i++) {
		const struct init_case *ic = &init_cases[i];
		struct fake_srv s;
		struct sgf_client *c = NULL;
		fake_srv_defaults(&s, no_handler, NULL);
		s.major = ic->major;
		s.minor = ic->minor;
		s.init_len = ic->init_len;
		s.init_error = ic->init_error;
		s.init_wrong_unique = ic->wrong_unique;
		s.max_write = 64 * 1024;
		s.max_pages = 16;
		int fd = fake_srv_start(&s);
		int r = sgf_client_attach(fd, NULL, &c);
		CHECK_EQ_CTX(r, ic->want, ic->name);
		if (r == 0) {
			const struct sgf_client_conn *cc = sgf_client_conn(c);
			CHECK_EQ_CTX(cc->max_write, 64 * 1024, ic->name);
			CHECK_EQ_CTX(cc->proto_minor, ic->minor, ic->name);
			if (ic->init_len == 0) {
				CHECK_EQ_CTX(cc->max_pages, 16, ic->name);
				CHECK_EQ_CTX(cc->max_read, 16 * PAGE, ic->name);
			}
			sgf_client_disconnect(c);
		}
		fake_srv_stop(&s);
	}
	/* Nobody there at all. */
	struct sgf_client *c = NULL;
	CHECK_EQ(sgf_client_connect("unix:/nonexistent/sgfuse.sock", NULL, &c), -ENOENT);
	CHECK_EQ(sgf_client_connect("tcp:localhost", NULL, &c), -EINVAL);
	CHECK_EQ(sgf_client_attach(-1, NULL, &c), -EBADF);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	attr_validation();
	data_validation();
	out_of_order();
	many_segments();
	create_reference();
	hang_up(false);
	hang_up(true);
	init_validation();
	return check_exit();
}
