/* tests/fuzz/fuzz_dispatch.c - libFuzzer harness: whole request messages
 * through the session's validator and dispatcher (sgf_session_process, as
 * a worker would), served by the fake filesystem of fuzz_fs.c, replies
 * caught by a fake channel that checks each one: len matches the bytes,
 * unique names a request still waiting for its reply, error in range and
 * alone, the payload the size its opcode allows - and that every request
 * gets exactly one reply (none for FORGET-like ones) by the session's end.
 *
 * Input: one flags byte, then records: u16 little-endian length (bit 15:
 * overwrite the header's len with the record's length), that many bytes.
 * Flags: bit 0 send a valid INIT first, bit 1 offer passthrough, bit 2
 * let the filesystem return nonsense, bit 3 end the session with kept
 * requests left for the library to answer (EIO). */
#include <errno.h>
#include <string.h>
#include "chan.h"
#include "fuzz_check.h"
#include "fuzz_fs.h"
#include "session.h"

#define MAX_MSGS 64
#define MAX_WRITE (16u * 1024u)
#define INFLIGHT 8u
#define HDR sizeof(struct fuse_in_header)
#define OHDR sizeof(struct fuse_out_header)

enum expect { EXPECT_NONE, EXPECT_ONE, EXPECT_AT_MOST_ONE };

/* What a request allows its reply to be. */
struct sent {
	uint64_t unique;
	uint32_t opcode;
	uint32_t size;      /* READ/READDIR/WRITE size, GETXATTR/LISTXATTR size */
	bool size_known;    /* the message held the fixed argument */
	enum expect expect;
	unsigned replies;
};

struct tracker {
	struct sent msgs[MAX_MSGS + 1];
	unsigned n;
};

struct fuzz_chan {
	struct sgf_chan base;  /* first: the library casts */
	struct tracker *t;
};

static unsigned char reply_buf[1u << 20];

static struct sent *find_waiting(struct tracker *t, uint64_t unique)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->msgs[i].unique == unique && t->msgs[i].expect != EXPECT_NONE &&
		    t->msgs[i].replies == 0)
			return &t->msgs[i];
	return NULL;
}

/* The payload length a successful reply to s must have (range lo..hi). */
static void success_len(const struct sent *s, size_t *lo, size_t *hi)
{
	size_t asked = s->size_known ? s->size : 0;

	*lo = *hi = 0;
	switch (s->opcode) {
	case FUSE_LOOKUP: case FUSE_MKNOD: case FUSE_MKDIR: case FUSE_SYMLINK: case FUSE_LINK:
		*lo = *hi = sizeof(struct fuse_entry_out);
		break;
	case FUSE_CREATE:
		*lo = *hi = sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out);
		break;
	case FUSE_GETATTR: case FUSE_SETATTR:
		*lo = *hi = sizeof(struct fuse_attr_out);
		break;
	case FUSE_OPEN: case FUSE_OPENDIR:
		*lo = *hi = sizeof(struct fuse_open_out);
		break;
	case FUSE_STATFS:
		*lo = *hi = sizeof(struct fuse_statfs_out);
		break;
	case FUSE_LSEEK:
		*lo = *hi = sizeof(struct fuse_lseek_out);
		break;
	case FUSE_WRITE:
		*lo = *hi = sizeof(struct fuse_write_out);
		break;
	case FUSE_READ: case FUSE_READDIR: case FUSE_READDIRPLUS:
		*hi = asked;
		break;
	case FUSE_READLINK:
		*hi = SGF_PATH_MAX;
		break;
	case FUSE_GETXATTR: case FUSE_LISTXATTR:
		if (asked == 0)
			*lo = *hi = sizeof(struct fuse_getxattr_out);
		else
			*hi = asked;
		break;
	case FUSE_INIT:
		*lo = FUSE_COMPAT_INIT_OUT_SIZE;
		*hi = sizeof(struct fuse_init_out);
		break;
	default:
		break;
	}
}

static int chan_send(struct sgf_chan *base, void *slot, const struct iovec *iov, int iovcnt)
{
	struct tracker *t = ((struct fuzz_chan *)base)->t;
	struct fuse_out_header oh;
	size_t total = 0;

	(void)slot;
	for (int i = 0; i < iovcnt; i++) {
		FUZZ_ASSERT(total + iov[i].iov_len <= sizeof(reply_buf), "reply over 1 MiB");
		memcpy(reply_buf + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	FUZZ_ASSERT(total >= OHDR, "%zu bytes", total);
	memcpy(&oh, reply_buf, sizeof(oh));
	FUZZ_ASSERT(oh.len == total, "header len %u, %zu bytes sent", oh.len, total);
	FUZZ_ASSERT(oh.error <= 0 && oh.error > -4096, "error %d", oh.error);
	FUZZ_ASSERT(oh.error == 0 || total == OHDR, "error %d with %zu bytes", oh.error, total);

	struct sent *s = find_waiting(t, oh.unique);
	FUZZ_ASSERT(s != NULL, "reply to unique %llu: no request waits for one",
		    (unsigned long long)oh.unique);
	s->replies++;
	size_t payload = total - OHDR, lo, hi;
	if (s->opcode == FUSE_INTERRUPT) {
		FUZZ_ASSERT(oh.error == -EAGAIN, "INTERRUPT answered %d", oh.error);
	} else if (oh.error == 0) {
		FUZZ_ASSERT(sgf_opdesc(s->opcode) != NULL, "opcode %u answered ok", s->opcode);
		success_len(s, &lo, &hi);
		FUZZ_ASSERT(payload >= lo && payload <= hi, "%s ok with %zu bytes, not %zu..%zu",
			    sgf_opname(s->opcode), payload, lo, hi);
		if (s->opcode == FUSE_WRITE) {
			struct fuse_write_out wo;
			memcpy(&wo, reply_buf + OHDR, sizeof(wo));
			FUZZ_ASSERT(wo.size <= s->size, "WRITE of %u says %u", s->size, wo.size);
		}
	}
	return 0;
}

static int chan_backing_open(struct sgf_chan *ch, int fd)
{
	(void)ch; (void)fd;
	return 1;
}

static int chan_backing_close(struct sgf_chan *ch, int id)
{
	(void)ch; (void)id;
	return 0;
}

static const struct sgf_chan_ops chan_ops = {
	.send = chan_send,
	.backing_open = chan_backing_open,
	.backing_close = chan_backing_close,
};

/* Record what message msg (len bytes) allows as its reply. */
static void track(struct tracker *t, const unsigned char *msg, size_t len)
{
	struct fuse_in_header h;
	struct sent *s = &t->msgs[t->n++];

	memset(s, 0, sizeof(*s));
	if (len < HDR)
		return; /* nobody to answer */
	memcpy(&h, msg, sizeof(h));
	s->unique = h.unique;
	s->opcode = h.opcode;
	switch (h.opcode) {
	case FUSE_FORGET: case FUSE_BATCH_FORGET: case FUSE_NOTIFY_REPLY:
		s->expect = EXPECT_NONE;
		break;
	case FUSE_INTERRUPT:
		s->expect = EXPECT_AT_MOST_ONE;
		break;
	default:
		s->expect = EXPECT_ONE;
	}
	uint32_t v;
	size_t off = HDR;
	if (h.opcode == FUSE_READ || h.opcode == FUSE_READDIR || h.opcode == FUSE_READDIRPLUS)
		off += offsetof(struct fuse_read_in, size);
	else if (h.opcode == FUSE_WRITE)
		off += offsetof(struct fuse_write_in, size);
	else if (h.opcode == FUSE_GETXATTR || h.opcode == FUSE_LISTXATTR)
		off += offsetof(struct fuse_getxattr_in, size);
	else
		return;
	if (len >= off + sizeof(v)) {
		memcpy(&v, msg + off, sizeof(v));
		s->size = v;
		s->size_known = true;
	}
}

static bool kept_by_fs(const struct fuzz_fs *fs, uint64_t unique)
{
	for (unsigned i = 0; i < fs->nkept; i++)
		if (fs->kept[i].h->unique == unique)
			return true;
	return false;
}

static void process(struct sgf_session *se, struct fuzz_chan *ch, struct fuzz_fs *fs,
		    const unsigned char *msg, size_t len)
{
	struct tracker *t = ch->t;
	struct fuse_in_header h;

	/* A requester never has two requests with one unique in flight. */
	if (len >= HDR) {
		memcpy(&h, msg, sizeof(h));
		if (find_waiting(t, h.unique))
			return;
	}
	fuzz_fs_answer_kept(fs, false);
	track(t, msg, len);
	struct sent *s = &t->msgs[t->n - 1];
	int ret = sgf_session_process(se, &ch->base, msg, len);
	FUZZ_ASSERT(ret == 0, "sgf_session_process: %d", ret);
	if (s->expect == EXPECT_ONE && s->replies == 0)
		FUZZ_ASSERT(kept_by_fs(fs, s->unique), "%s unique %llu: no reply, not kept",
			    sgf_opname(s->opcode), (unsigned long long)s->unique);
}

static void valid_init(unsigned char *m, size_t *len)
{
	struct fuse_in_header h = { .len = HDR + sizeof(struct fuse_init_in),
				    .opcode = FUSE_INIT, .unique = 2 };
	struct fuse_init_in in = { .major = 7, .minor = 38, .max_readahead = 65536,
				   .flags = FUSE_INIT_EXT | FUSE_MAX_PAGES | FUSE_ASYNC_READ,
				   .flags2 = (uint32_t)(FUSE_PASSTHROUGH >> 32) };
	memcpy(m, &h, sizeof(h));
	memcpy(m + HDR, &in, sizeof(in));
	*len = h.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char msg[1u << 15];
	struct tracker t = { .n = 0 };
	struct fuzz_chan ch = { .t = &t };
	struct fuzz_fs fs = { .max_kept = INFLIGHT - 2 };

	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	struct sgf_session_opts opts = { .max_write = MAX_WRITE, .max_pages_limit = 256,
					 .max_inflight = INFLIGHT, .passthrough = flags & 2 };
	fs.nonsense = flags & 4;
	ch.base.ops = &chan_ops;
	ch.base.fd = ch.base.wake_fd = -1;
	ch.base.shut = &ch.base.shut_own;
	struct sgf_session *se = sgf_session_new(&fuzz_fs_ops, &fs, &opts);
	FUZZ_ASSERT(se != NULL, "sgf_session_new");
	se->ch = &ch.base; /* as the endpoint sets it: backing files, passthrough */

	if (flags & 1) {
		size_t len;
		valid_init(msg, &len);
		process(se, &ch, &fs, msg, len);
	}
	for (size_t pos = 1; pos + 2 <= size && t.n < MAX_MSGS;) {
		uint16_t rec = (uint16_t)(data[pos] | data[pos + 1] << 8);
		size_t len = rec & 0x7fffu;
		pos += 2;
		if (len > size - pos)
			len = size - pos;
		memcpy(msg, data + pos, len);
		pos += len;
		if ((rec & 0x8000u) && len >= sizeof(uint32_t)) {
			uint32_t l = (uint32_t)len;
			memcpy(msg, &l, sizeof(l));
		}
		process(se, &ch, &fs, msg, len);
	}

	if (flags & 8) {
		fuzz_fs_answer_kept(&fs, false);
	} else {
		fuzz_fs_answer_kept(&fs, true);
	}
	sgf_session_abandon_kept(se); /* answers EIO to what is left */
	fuzz_fs_drop_kept(&fs);
	for (unsigned i = 0; i < t.n; i++) {
		const struct sent *s = &t.msgs[i];
		if (s->expect == EXPECT_ONE)
			FUZZ_ASSERT(s->replies == 1, "%s unique %llu: %u replies",
				    sgf_opname(s->opcode), (unsigned long long)s->unique,
				    s->replies);
	}
	sgf_session_destroy(se);
	return 0;
}
