/* tests/unit/test_proto_table.c - the opcode table against the kernel's
 * struct sizes, and sgf_parse_request on exact, short, long, misframed and
 * unterminated messages that end right before a PROT_NONE page. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sgfuse/proto.h>
#include "check.h"
#include "wire.h"

#define HDR ((uint32_t)sizeof(struct fuse_in_header))
#define ARENA_PAGES 8u
#define MAX_MSG (ARENA_PAGES * 4096u - 64u)

/* What we know of each opcode from <linux/fuse.h>; required rows are the
 * ones a filesystem server cannot do without. */
struct expect {
	uint32_t op;
	const char *name;
	uint32_t in_size;
	uint32_t alt_in_size;   /* a second acceptable size, or 0 */
	enum sgf_tail tail;
	bool no_reply;
	bool required;
	bool reply_optional;    /* either no_reply value is acceptable */
};

#define E(op, name, sz, tail, nr, req) { op, name, sz, 0, tail, nr, req, false }
static const struct expect expected[] = {
	E(FUSE_LOOKUP, "LOOKUP", 0, SGF_TAIL_NAME, false, true),
	E(FUSE_FORGET, "FORGET", sizeof(struct fuse_forget_in), SGF_TAIL_NONE, true, true),
	E(FUSE_GETATTR, "GETATTR", sizeof(struct fuse_getattr_in), SGF_TAIL_NONE, false, true),
	E(FUSE_SETATTR, "SETATTR", sizeof(struct fuse_setattr_in), SGF_TAIL_NONE, false, true),
	E(FUSE_READLINK, "READLINK", 0, SGF_TAIL_NONE, false, true),
	E(FUSE_SYMLINK, "SYMLINK", 0, SGF_TAIL_NAME2, false, true),
	E(FUSE_MKNOD, "MKNOD", sizeof(struct fuse_mknod_in), SGF_TAIL_NAME, false, true),
	E(FUSE_MKDIR, "MKDIR", sizeof(struct fuse_mkdir_in), SGF_TAIL_NAME, false, true),
	E(FUSE_UNLINK, "UNLINK", 0, SGF_TAIL_NAME, false, true),
	E(FUSE_RMDIR, "RMDIR", 0, SGF_TAIL_NAME, false, true),
	E(FUSE_RENAME, "RENAME", sizeof(struct fuse_rename_in), SGF_TAIL_NAME2, false, true),
	E(FUSE_LINK, "LINK", sizeof(struct fuse_link_in), SGF_TAIL_NAME, false, true),
	E(FUSE_OPEN, "OPEN", sizeof(struct fuse_open_in), SGF_TAIL_NONE, false, true),
	E(FUSE_READ, "READ", sizeof(struct fuse_read_in), SGF_TAIL_NONE, false, true),
	E(FUSE_WRITE, "WRITE", sizeof(struct fuse_write_in), SGF_TAIL_DATA, false, true),
	E(FUSE_STATFS, "STATFS", 0, SGF_TAIL_NONE, false, true),
	E(FUSE_RELEASE, "RELEASE", sizeof(struct fuse_release_in), SGF_TAIL_NONE, false, true),
	E(FUSE_FSYNC, "FSYNC", sizeof(struct fuse_fsync_in), SGF_TAIL_NONE, false, true),
	{ FUSE_SETXATTR, "SETXATTR", FUSE_COMPAT_SETXATTR_IN_SIZE,
	  sizeof(struct fuse_setxattr_in), SGF_TAIL_XATTR, false, true, false },
	E(FUSE_GETXATTR, "GETXATTR", sizeof(struct fuse_getxattr_in), SGF_TAIL_NAME, false, true),
	E(FUSE_LISTXATTR, "LISTXATTR", sizeof(struct fuse_getxattr_in), SGF_TAIL_NONE, false, true),
	E(FUSE_REMOVEXATTR, "REMOVEXATTR", 0, SGF_TAIL_NAME, false, true),
	E(FUSE_FLUSH, "FLUSH", sizeof(struct fuse_flush_in), SGF_TAIL_NONE, false, true),
	E(FUSE_INIT, "INIT", 0, SGF_TAIL_INIT, false, true),
	E(FUSE_OPENDIR, "OPENDIR", sizeof(struct fuse_open_in), SGF_TAIL_NONE, false, true),
	E(FUSE_READDIR, "READDIR", sizeof(struct fuse_read_in), SGF_TAIL_NONE, false, true),
	E(FUSE_RELEASEDIR, "RELEASEDIR", sizeof(struct fuse_release_in), SGF_TAIL_NONE, false, true),
	E(FUSE_FSYNCDIR, "FSYNCDIR", sizeof(struct fuse_fsync_in), SGF_TAIL_NONE, false, true),
	E(FUSE_GETLK, "GETLK", sizeof(struct fuse_lk_in), SGF_TAIL_NONE, false, false),
	E(FUSE_SETLK, "SETLK", sizeof(struct fuse_lk_in), SGF_TAIL_NONE, false, false),
	E(FUSE_SETLKW, "SETLKW", sizeof(struct fuse_lk_in), SGF_TAIL_NONE, false, false),
	E(FUSE_ACCESS, "ACCESS", sizeof(struct fuse_access_in), SGF_TAIL_NONE, false, true),
	E(FUSE_CREATE, "CREATE", sizeof(struct fuse_create_in), SGF_TAIL_NAME, false, true),
	/* The kernel takes a reply to INTERRUPT (EAGAIN, ENOSYS) but needs none. */
	{ FUSE_INTERRUPT, "INTERRUPT", sizeof(struct fuse_interrupt_in), 0, SGF_TAIL_NONE,
	  false, true, true },
	E(FUSE_BMAP, "BMAP", sizeof(struct fuse_bmap_in), SGF_TAIL_NONE, false, false),
	E(FUSE_DESTROY, "DESTROY", 0, SGF_TAIL_NONE, false, true),
	E(FUSE_IOCTL, "IOCTL", sizeof(struct fuse_ioctl_in), SGF_TAIL_ANY, false, false),
	E(FUSE_POLL, "POLL", sizeof(struct fuse_poll_in), SGF_TAIL_NONE, false, false),
	/* NOTIFY_REPLY answers our RETRIEVE notification: never replied to. */
	E(FUSE_NOTIFY_REPLY, "NOTIFY_REPLY", sizeof(struct fuse_notify_retrieve_in),
	  SGF_TAIL_ANY, true, false),
	E(FUSE_BATCH_FORGET, "BATCH_FORGET", sizeof(struct fuse_batch_forget_in),
	  SGF_TAIL_FORGETS, true, true),
	E(FUSE_FALLOCATE, "FALLOCATE", sizeof(struct fuse_fallocate_in), SGF_TAIL_NONE, false, true),
	E(FUSE_READDIRPLUS, "READDIRPLUS", sizeof(struct fuse_read_in), SGF_TAIL_NONE, false, true),
	E(FUSE_RENAME2, "RENAME2", sizeof(struct fuse_rename2_in), SGF_TAIL_NAME2, false, true),
	E(FUSE_LSEEK, "LSEEK", sizeof(struct fuse_lseek_in), SGF_TAIL_NONE, false, true),
	E(FUSE_COPY_FILE_RANGE, "COPY_FILE_RANGE", sizeof(struct fuse_copy_file_range_in),
	  SGF_TAIL_NONE, false, false),
	E(FUSE_SYNCFS, "SYNCFS", sizeof(struct fuse_syncfs_in), SGF_TAIL_NONE, false, false),
	E(FUSE_TMPFILE, "TMPFILE", sizeof(struct fuse_create_in), SGF_TAIL_NAME, false, false),
	E(SGF_OP_STATX, "STATX", sizeof(struct sgf_fuse_statx_in), SGF_TAIL_NONE, false, false),
	E(SGF_OP_COPY_FILE_RANGE_64, NULL, sizeof(struct fuse_copy_file_range_in),
	  SGF_TAIL_NONE, false, false),
};

/* The arena: a message is copied so it ends at most 7 bytes before a
 * PROT_NONE page (its start stays 8-aligned); the gap holds no NUL, so a
 * parser that scans past len for a terminator runs into the guard. */
static unsigned char *arena_end;

static void arena_init(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (ARENA_PAGES + 1) * page;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	arena_end = p + ARENA_PAGES * page;
	if (mprotect(arena_end, page, PROT_NONE) != 0) {
		perror("mprotect");
		exit(1);
	}
}

static const void *place(const void *msg, size_t len)
{
	size_t span = (len + 7) & ~(size_t)7;
	unsigned char *dst = arena_end - span;
	memset(dst + len, 'Z', span - len);
	if (len)
		memcpy(dst, msg, len);
	return dst;
}

static const struct sgf_limits limits = { .max_write = 4096, .max_read = 1u << 20 };

/* Parse msg (len bytes) after placing it at the guard; returns the result.
 * *placed receives the placed copy so pointers in *out can be checked. */
static int parse_at_guard(const void *msg, size_t len, struct sgf_parsed *out,
			  const unsigned char **placed)
{
	const void *p = place(msg, len);
	if (placed)
		*placed = p;
	memset(out, 0xA5, sizeof(*out));
	return sgf_parse_request(p, len, &limits, out);
}

static int parse(const void *msg, size_t len)
{
	struct sgf_parsed out;
	return parse_at_guard(msg, len, &out, NULL);
}

/* Message builder: header, then bytes appended; len fixed up on finish. */
struct msg {
	unsigned char b[MAX_MSG];
	size_t len;
};

static struct fuse_in_header *msg_start(struct msg *m, uint32_t op)
{
	memset(m, 0, sizeof(*m));
	struct fuse_in_header *h = (struct fuse_in_header *)m->b;
	h->opcode = op;
	h->unique = 0x1234;
	h->nodeid = 1;
	m->len = HDR;
	return h;
}

static void *msg_add(struct msg *m, const void *data, size_t n)
{
	if (m->len + n > sizeof(m->b)) {
		fprintf(stderr, "test bug: message too long\n");
		exit(1);
	}
	void *at = m->b + m->len;
	if (data)
		memcpy(at, data, n);
	else
		memset(at, 0, n);
	m->len += n;
	return at;
}

static void msg_add_str(struct msg *m, const char *s, bool nul)
{
	msg_add(m, s, strlen(s) + (nul ? 1 : 0));
}

static size_t msg_finish(struct msg *m)
{
	((struct fuse_in_header *)m->b)->len = (uint32_t)m->len;
	return m->len;
}

/* Trim n bytes from the end and fix the header len to match. */
static size_t msg_trim(struct msg *m, size_t n)
{
	m->len -= n;
	return msg_finish(m);
}

static const char *opname(uint32_t op)
{
	static char buf[32];
	const struct sgf_opdesc *d = sgf_opdesc(op);
	snprintf(buf, sizeof(buf), "%s(%u)", d && d->name ? d->name : "?", op);
	return buf;
}

/* A valid message for desc: fixed part zeroed (sizes set where the tail
 * depends on them), then the tail. */
static size_t build_valid(struct msg *m, uint32_t op, const struct sgf_opdesc *d)
{
	msg_start(m, op);
	size_t fixed = d->in_size;
	switch (d->tail) {
	case SGF_TAIL_NONE:
	case SGF_TAIL_ANY:
		msg_add(m, NULL, fixed);
		break;
	case SGF_TAIL_NAME:
		msg_add(m, NULL, fixed);
		msg_add_str(m, "name", true);
		break;
	case SGF_TAIL_NAME2:
		msg_add(m, NULL, fixed);
		msg_add_str(m, "old", true);
		msg_add_str(m, "newname", true);
		break;
	case SGF_TAIL_DATA: {
		struct fuse_write_in *w = msg_add(m, NULL, fixed);
		w->size = 100;
		msg_add(m, "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789", 100);
		break;
	}
	case SGF_TAIL_XATTR: {
		struct fuse_setxattr_in *x = msg_add(m, NULL, fixed);
		x->size = 5;
		msg_add_str(m, "user.x", true);
		msg_add(m, "value", 5);
		break;
	}
	case SGF_TAIL_FORGETS: {
		struct fuse_batch_forget_in *bf = msg_add(m, NULL, fixed);
		bf->count = 2;
		struct fuse_forget_one one[2] = { { 5, 1 }, { 6, 2 } };
		msg_add(m, one, sizeof(one));
		break;
	}
	case SGF_TAIL_INIT: {
		struct fuse_init_in *in = msg_add(m, NULL, sizeof(*in));
		in->major = 7;
		in->minor = 38;
		break;
	}
	}
	return msg_finish(m);
}

static void check_table_row(const struct expect *e)
{
	const struct sgf_opdesc *d = sgf_opdesc(e->op);
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "table row %u %s", e->op, e->name ? e->name : "");
	if (!d) {
		if (e->required) {
			fprintf(stderr, "FAIL [%s]: required opcode missing from table\n", ctx);
			check_failures++;
		}
		return;
	}
	CHECK(d->name != NULL);
	if (e->name && d->name)
		CHECK_STR(d->name, e->name);
	if (d->name)
		CHECK_STR(sgf_opname(e->op), d->name);
	CHECK_EQ_CTX(d->tail, e->tail, ctx);
	if (!e->reply_optional)
		CHECK_EQ_CTX(d->no_reply, e->no_reply, ctx);
	if (e->tail != SGF_TAIL_INIT && d->in_size != e->in_size &&
	    !(e->alt_in_size && d->in_size == e->alt_in_size))
		CHECK_EQ_CTX(d->in_size, e->in_size, ctx);
}

static void check_table(void)
{
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		check_table_row(&expected[i]);
	/* Numbers that are no opcode. */
	static const uint32_t holes[] = { 0, 7, 19, SGF_OPCODE_LIMIT, SGF_OPCODE_LIMIT + 1,
					  1000, CUSE_INIT, FUSE_INIT_BSWAP_RESERVED, UINT32_MAX };
	for (size_t i = 0; i < sizeof(holes) / sizeof(holes[0]); i++) {
		CHECK(sgf_opdesc(holes[i]) == NULL);
		const char *n = sgf_opname(holes[i]);
		CHECK(n != NULL && n[0] != '\0');
	}
	/* Every row has a name and only names rows. */
	for (uint32_t op = 0; op < SGF_OPCODE_LIMIT; op++) {
		const struct sgf_opdesc *d = sgf_opdesc(op);
		if (d)
			CHECK(d->name != NULL);
	}
}

/* The exact message parses and the parts point where they should. */
static void check_exact(uint32_t op, const struct sgf_opdesc *d)
{
	struct msg m;
	struct sgf_parsed out;
	const unsigned char *p;
	size_t len = build_valid(&m, op, d);
	const char *ctx = opname(op);
	int r = parse_at_guard(m.b, len, &out, &p);
	CHECK_EQ_CTX(r, 0, ctx);
	if (r != 0)
		return;
	CHECK(out.hdr == (const void *)p);
	CHECK(out.desc == d);
	if (d->in_size && d->tail != SGF_TAIL_INIT)
		CHECK(out.arg == (const void *)(p + HDR));
	const char *names = (const char *)p + HDR + d->in_size;
	switch (d->tail) {
	case SGF_TAIL_NAME:
		CHECK(out.name == names);
		CHECK(out.name && strcmp(out.name, "name") == 0);
		break;
	case SGF_TAIL_NAME2:
		CHECK(out.name == names);
		CHECK(out.name && strcmp(out.name, "old") == 0);
		CHECK(out.name2 && strcmp(out.name2, "newname") == 0);
		break;
	case SGF_TAIL_DATA:
		CHECK(out.data == (const void *)(p + HDR + d->in_size));
		CHECK_EQ_CTX(out.data_len, 100, ctx);
		break;
	case SGF_TAIL_XATTR:
		CHECK(out.name && strcmp(out.name, "user.x") == 0);
		CHECK(out.data && memcmp(out.data, "value", 5) == 0);
		CHECK_EQ_CTX(out.data_len, 5, ctx);
		break;
	case SGF_TAIL_INIT:
		CHECK(out.arg == (const void *)(p + HDR));
		CHECK_EQ_CTX(out.arg_len, sizeof(struct fuse_init_in), ctx);
		break;
	default:
		break;
	}
}

/* One byte short: the last byte of whatever the message ends with is gone
 * (fixed part, NUL, payload, forget entry) and the header says so. */
static void check_short(uint32_t op, const struct sgf_opdesc *d)
{
	struct msg m;
	const char *ctx = opname(op);
	if (d->tail == SGF_TAIL_INIT)
		return; /* INIT's range is checked in check_init_sizes() */
	if (d->tail == SGF_TAIL_ANY || d->tail == SGF_TAIL_NONE) {
		if (d->in_size == 0)
			return; /* nothing to cut */
		msg_start(&m, op);
		msg_add(&m, NULL, d->in_size - 1);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), -EINVAL, ctx);
		return;
	}
	size_t len = build_valid(&m, op, d);
	(void)len;
	CHECK_EQ_CTX(parse(m.b, msg_trim(&m, 1)), -EINVAL, ctx);
	/* Fixed part present but cut, nothing after it. */
	if (d->in_size) {
		msg_start(&m, op);
		msg_add(&m, NULL, d->in_size - 1);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), -EINVAL, ctx);
	}
	/* Fixed part only, no tail at all. */
	msg_start(&m, op);
	msg_add(&m, NULL, d->in_size);
	if (d->tail == SGF_TAIL_FORGETS) {
		/* count says 2, none follow */
		((struct fuse_batch_forget_in *)(m.b + HDR))->count = 2;
	}
	if (d->tail == SGF_TAIL_DATA)
		((struct fuse_write_in *)(m.b + HDR))->size = 1;
	CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), -EINVAL, ctx);
}

/* One byte long: fixed-size messages and counted payloads reject it. */
static void check_long(uint32_t op, const struct sgf_opdesc *d)
{
	struct msg m;
	const char *ctx = opname(op);
	switch (d->tail) {
	case SGF_TAIL_NONE:
	case SGF_TAIL_DATA:
	case SGF_TAIL_XATTR:
	case SGF_TAIL_FORGETS:
		build_valid(&m, op, d);
		msg_add(&m, "x", 1);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), -EINVAL, ctx);
		break;
	case SGF_TAIL_ANY:
		build_valid(&m, op, d);
		msg_add(&m, "opaque", 6);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), 0, ctx);
		break;
	default:
		break;
	}
}

/* Header len that disagrees with what was read: -EIO, whatever the op. */
static void check_misframed(uint32_t op, const struct sgf_opdesc *d)
{
	struct msg m;
	const char *ctx = opname(op);
	size_t len = build_valid(&m, op, d);
	struct fuse_in_header *h = (struct fuse_in_header *)m.b;
	h->len = (uint32_t)len + 1;
	CHECK_EQ_CTX(parse(m.b, len), -EIO, ctx);
	h->len = (uint32_t)len - 1;
	CHECK_EQ_CTX(parse(m.b, len), -EIO, ctx);
	h->len = 0;
	CHECK_EQ_CTX(parse(m.b, len), -EIO, ctx);
	h->len = UINT32_MAX;
	CHECK_EQ_CTX(parse(m.b, len), -EIO, ctx);
}

/* Over-long names: the contract says -EINVAL; -ENAMETOOLONG is what the
 * user should finally see, so either is accepted here. */
static void check_too_long(int r, const char *ctx)
{
	if (r != -EINVAL && r != -ENAMETOOLONG) {
		fprintf(stderr, "FAIL [%s]: over-long name gave %d\n", ctx, r);
		check_failures++;
	}
}

static size_t build_names(struct msg *m, uint32_t op, const struct sgf_opdesc *d,
			  const char *n1, bool nul1, const char *n2, bool nul2)
{
	msg_start(m, op);
	msg_add(m, NULL, d->in_size);
	msg_add_str(m, n1, nul1);
	if (n2)
		msg_add_str(m, n2, nul2);
	return msg_finish(m);
}

static void check_names(uint32_t op, const struct sgf_opdesc *d)
{
	struct msg m;
	const char *ctx = opname(op);
	char longest[SGF_NAME_MAX + 2];
	memset(longest, 'n', sizeof(longest));
	longest[SGF_NAME_MAX + 1] = '\0';   /* 256 chars... */
	longest[SGF_NAME_MAX] = '\0';       /* ...or 255 while this holds */

	if (d->tail == SGF_TAIL_NAME) {
		/* 8-byte name without NUL so the guard page follows it at once. */
		CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, "abcdefgh", false, NULL, false)),
			     -EINVAL, ctx);
		CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, "abcdefg", false, NULL, false)),
			     -EINVAL, ctx);
		CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, "", true, NULL, false)),
			     -EINVAL, ctx);
		CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, longest, true, NULL, false)),
			     0, ctx);
		longest[SGF_NAME_MAX] = 'n';
		check_too_long(parse(m.b, build_names(&m, op, d, longest, true, NULL, false)), ctx);
	}
	if (d->tail == SGF_TAIL_NAME2) {
		bool second_is_path = op == FUSE_SYMLINK;
		CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, "a", true, "abcdefgh", false)),
			     -EINVAL, ctx);
		CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, "abcdefgh", false, NULL, false)),
			     -EINVAL, ctx);
		CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, "abcdefg", true, NULL, false)),
			     -EINVAL, ctx);
		CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, "", true, "b", true)),
			     -EINVAL, ctx);
		CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, "a", true, "", true)),
			     -EINVAL, ctx);
		longest[SGF_NAME_MAX] = '\0';
		CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, longest, true, "b", true)),
			     0, ctx);
		longest[SGF_NAME_MAX] = 'n';
		check_too_long(parse(m.b, build_names(&m, op, d, longest, true, "b", true)), ctx);
		/* A symlink target is a path, not a component. */
		if (second_is_path)
			CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, "b", true, longest, true)),
				     0, ctx);
		else
			check_too_long(parse(m.b, build_names(&m, op, d, "b", true, longest, true)),
				       ctx);
		if (second_is_path) {
			/* The kernel sends targets up to PATH_MAX - 1 bytes. */
			static char path[SGF_PATH_MAX + 100];
			memset(path, 'p', sizeof(path) - 1);
			path[sizeof(path) - 1] = '\0';
			path[SGF_PATH_MAX - 1] = '\0';
			CHECK_EQ_CTX(parse(m.b, build_names(&m, op, d, "b", true, path, true)),
				     0, ctx);
			path[SGF_PATH_MAX - 1] = 'p';
			check_too_long(parse(m.b, build_names(&m, op, d, "b", true, path, true)),
				       ctx);
		}
	}
	if (d->tail == SGF_TAIL_XATTR) {
		msg_start(&m, op);
		((struct fuse_setxattr_in *)msg_add(&m, NULL, d->in_size))->size = 0;
		msg_add_str(&m, "user.abcdefgh", false);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), -EINVAL, ctx);
		msg_start(&m, op);
		((struct fuse_setxattr_in *)msg_add(&m, NULL, d->in_size))->size = 0;
		msg_add_str(&m, "", true);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), -EINVAL, ctx);
		/* Empty value is fine. */
		msg_start(&m, op);
		((struct fuse_setxattr_in *)msg_add(&m, NULL, d->in_size))->size = 0;
		msg_add_str(&m, "user.x", true);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), 0, ctx);
		/* A size that wraps 32-bit arithmetic. */
		msg_start(&m, op);
		((struct fuse_setxattr_in *)msg_add(&m, NULL, d->in_size))->size = UINT32_MAX - 6;
		msg_add_str(&m, "user.x", true);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), -EINVAL, ctx);
	}
}

static void check_write_sizes(void)
{
	const struct sgf_opdesc *d = sgf_opdesc(FUSE_WRITE);
	struct msg m;
	static char payload[8192];
	struct fuse_write_in *w;
	if (!d)
		return;
	/* Exactly max_write: fine; one above: too big. */
	msg_start(&m, FUSE_WRITE);
	w = msg_add(&m, NULL, d->in_size);
	w->size = limits.max_write;
	msg_add(&m, payload, limits.max_write);
	CHECK_EQ(parse(m.b, msg_finish(&m)), 0);
	msg_start(&m, FUSE_WRITE);
	w = msg_add(&m, NULL, d->in_size);
	w->size = limits.max_write + 1;
	msg_add(&m, payload, limits.max_write + 1);
	CHECK_EQ(parse(m.b, msg_finish(&m)), -EINVAL);
	/* size disagrees with the bytes present, both ways. */
	msg_start(&m, FUSE_WRITE);
	w = msg_add(&m, NULL, d->in_size);
	w->size = 100;
	msg_add(&m, payload, 50);
	CHECK_EQ(parse(m.b, msg_finish(&m)), -EINVAL);
	msg_start(&m, FUSE_WRITE);
	w = msg_add(&m, NULL, d->in_size);
	w->size = 50;
	msg_add(&m, payload, 100);
	CHECK_EQ(parse(m.b, msg_finish(&m)), -EINVAL);
	/* Zero-length write: legal on the wire. */
	msg_start(&m, FUSE_WRITE);
	w = msg_add(&m, NULL, d->in_size);
	w->size = 0;
	CHECK_EQ(parse(m.b, msg_finish(&m)), 0);
	/* A size that wraps header + fixed + size in 32 bits to the real len. */
	msg_start(&m, FUSE_WRITE);
	w = msg_add(&m, NULL, d->in_size);
	w->size = (uint32_t)(0u - (HDR + d->in_size));
	CHECK_EQ(parse(m.b, msg_finish(&m)), -EINVAL);
	/* A limit above the payload does not make a mismatch legal. */
	struct sgf_limits big = { .max_write = UINT32_MAX, .max_read = UINT32_MAX };
	struct sgf_parsed out;
	msg_start(&m, FUSE_WRITE);
	w = msg_add(&m, NULL, d->in_size);
	w->size = (uint32_t)(0u - (HDR + d->in_size));
	size_t len = msg_finish(&m);
	CHECK_EQ(sgf_parse_request(place(m.b, len), len, &big, &out), -EINVAL);
}

static void check_forget_counts(void)
{
	const struct sgf_opdesc *d = sgf_opdesc(FUSE_BATCH_FORGET);
	struct msg m;
	if (!d)
		return;
	/* count * 16 wraps to 0 in 32 bits. */
	msg_start(&m, FUSE_BATCH_FORGET);
	((struct fuse_batch_forget_in *)msg_add(&m, NULL, d->in_size))->count = 0x10000000u;
	CHECK_EQ(parse(m.b, msg_finish(&m)), -EINVAL);
	msg_start(&m, FUSE_BATCH_FORGET);
	((struct fuse_batch_forget_in *)msg_add(&m, NULL, d->in_size))->count = 0;
	CHECK_EQ(parse(m.b, msg_finish(&m)), 0);
	/* Half an entry. */
	msg_start(&m, FUSE_BATCH_FORGET);
	((struct fuse_batch_forget_in *)msg_add(&m, NULL, d->in_size))->count = 1;
	msg_add(&m, NULL, 8);
	CHECK_EQ(parse(m.b, msg_finish(&m)), -EINVAL);
}

/* INIT's argument grew over the minors: 16 bytes (7.x with flags) up to 64. */
static void check_init_sizes(void)
{
	struct msg m;
	struct sgf_parsed out;
	for (size_t arg = 0; arg <= 72; arg += 1) {
		msg_start(&m, FUSE_INIT);
		struct fuse_init_in *in = msg_add(&m, NULL, arg);
		if (arg >= 8) {
			in->major = 7;
			in->minor = 38;
		}
		size_t len = msg_finish(&m);
		int r = parse_at_guard(m.b, len, &out, NULL);
		char ctx[32];
		snprintf(ctx, sizeof(ctx), "INIT arg %zu", arg);
		if (arg < 16 || arg > 64) {
			CHECK_EQ_CTX(r, -EINVAL, ctx);
		} else if (arg == 16 || arg == 64) {
			CHECK_EQ_CTX(r, 0, ctx);
			if (r == 0)
				CHECK_EQ_CTX(out.arg_len, arg, ctx);
		}
		/* Sizes between are not a size any minor sent; either answer. */
	}
}

static void check_header_short(void)
{
	unsigned char buf[64];
	memset(buf, 0, sizeof(buf));
	struct fuse_in_header *h = (struct fuse_in_header *)buf;
	h->opcode = FUSE_GETATTR;
	for (size_t len = 0; len < HDR; len++) {
		h->len = (uint32_t)len;
		CHECK_EQ_CTX(parse(buf, len), -EPROTO, "short header");
	}
}

static void check_unknown(void)
{
	static const uint32_t ops[] = { 0, 7, 19, SGF_OPCODE_LIMIT, 999, CUSE_INIT,
					FUSE_INIT_BSWAP_RESERVED, UINT32_MAX };
	struct msg m;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		msg_start(&m, ops[i]);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), -ENOSYS, "unknown opcode");
		msg_start(&m, ops[i]);
		msg_add(&m, "some bytes", 10);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), -ENOSYS, "unknown opcode + bytes");
	}
	/* Table holes below the limit as well. */
	for (uint32_t op = 0; op < SGF_OPCODE_LIMIT + 4; op++) {
		if (sgf_opdesc(op))
			continue;
		msg_start(&m, op);
		msg_add(&m, NULL, 16);
		CHECK_EQ_CTX(parse(m.b, msg_finish(&m)), -ENOSYS, opname(op));
	}
}

int main(void)
{
	arena_init();
	check_table();
	for (uint32_t op = 0; op < SGF_OPCODE_LIMIT; op++) {
		const struct sgf_opdesc *d = sgf_opdesc(op);
		if (!d)
			continue;
		check_exact(op, d);
		check_short(op, d);
		check_long(op, d);
		check_misframed(op, d);
		check_names(op, d);
	}
	check_write_sizes();
	check_forget_counts();
	check_init_sizes();
	check_header_short();
	check_unknown();
	return check_exit();
}
