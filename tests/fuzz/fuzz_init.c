/* tests/fuzz/fuzz_init.c - libFuzzer harness: INIT negotiation both ways,
 * as pure functions. The input as the requester's fuse_init_in (any
 * length) through sgf_negotiate_init and a session's sgf_session_do_init,
 * whose reply must be sane and acceptable to our own client
 * (sgf_client_settle_init); and the same bytes as a server's
 * fuse_init_out, which the client must settle into usable limits or
 * refuse with -EPROTO.
 *
 * Input: options byte (bit 0 no_export, 1 io_uring, 2 passthrough), a
 * max_write in pages (u8 + 2 bits), max_pages (u8), the client's max_pages (u8) and
 * max_read in pages (u8), then the INIT argument bytes. */
#include <errno.h>
#include <string.h>
#include "conn.h"
#include "fuzz_check.h"
#include "session.h"

#define PREFIX 6

/* A settled client connection is one the dio engine can pack against. */
static void check_settled(const struct sgf_client_conn *c, uint32_t want_pages,
			  uint32_t want_read)
{
	uint32_t cap = want_pages ? want_pages : SGF_CLIENT_DEFAULT_MAX_PAGES;

	FUZZ_ASSERT(c->proto_major == SGF_PROTO_MAJOR, "major %u", c->proto_major);
	FUZZ_ASSERT(c->max_pages >= 1 && c->max_pages <= cap, "max_pages %u", c->max_pages);
	FUZZ_ASSERT(c->max_write >= SGF_PAGE_SIZE, "max_write %u", c->max_write);
	FUZZ_ASSERT(c->max_read >= 1 && (uint64_t)c->max_read <= (uint64_t)c->max_pages * SGF_PAGE_SIZE,
		    "max_read %u with %u pages", c->max_read, c->max_pages);
	FUZZ_ASSERT(want_read == 0 || c->max_read <= want_read, "max_read %u over %u",
		    c->max_read, want_read);
}

/* The server's reply to in (arg_len bytes present). */
static void check_negotiated(const struct fuse_init_in *in, size_t arg_len, int ret,
			     const struct fuse_init_out *out, size_t out_len,
			     const struct sgf_conn_info *ci, uint32_t want_pages,
			     uint32_t want_read)
{
	if (arg_len < 16 || in->major < SGF_PROTO_MAJOR ||
	    (in->major == SGF_PROTO_MAJOR && in->minor < SGF_PROTO_MINOR_MIN)) {
		FUZZ_ASSERT(ret == -EINVAL || ret == -EPROTO, "ret %d", ret);
		return;
	}
	FUZZ_ASSERT(ret == 0, "ret %d for %u.%u", ret, in->major, in->minor);
	FUZZ_ASSERT(out->major == SGF_PROTO_MAJOR, "major %u", out->major);
	if (in->major > SGF_PROTO_MAJOR) {
		FUZZ_ASSERT(out_len == FUSE_COMPAT_INIT_OUT_SIZE, "retry reply of %zu", out_len);
		return;
	}
	FUZZ_ASSERT(out_len == sizeof(*out), "reply of %zu", out_len);
	FUZZ_ASSERT(out->minor == (in->minor < SGF_PROTO_MINOR ? in->minor : SGF_PROTO_MINOR),
		    "minor %u for %u", out->minor, in->minor);
	FUZZ_ASSERT((out->flags & ~in->flags) == 0, "flags %#x not offered in %#x",
		    out->flags, in->flags);
	uint64_t theirs = in->flags;
	if (arg_len >= offsetof(struct fuse_init_in, flags2) + 4 && (in->flags & FUSE_INIT_EXT))
		theirs |= (uint64_t)in->flags2 << 32;
	uint64_t agreed = out->flags | (uint64_t)out->flags2 << 32;
	FUZZ_ASSERT((agreed & ~theirs) == 0, "agreed %#llx, offered %#llx",
		    (unsigned long long)agreed, (unsigned long long)theirs);
	FUZZ_ASSERT(out->flags2 == 0 || (out->flags & FUSE_INIT_EXT), "flags2 without INIT_EXT");
	FUZZ_ASSERT(ci->flags == agreed, "conn flags differ from the reply");
	FUZZ_ASSERT(out->max_write >= SGF_PAGE_SIZE && out->max_write == ci->max_write,
		    "max_write %u", out->max_write);
	FUZZ_ASSERT(ci->max_read >= SGF_PAGE_SIZE, "max_read %u", ci->max_read);
	if (agreed & FUSE_MAX_PAGES)
		FUZZ_ASSERT(out->max_pages >= 1 && out->max_pages == ci->max_pages &&
				    ci->max_read == ci->max_pages * SGF_PAGE_SIZE,
			    "max_pages %u, max_read %u", out->max_pages, ci->max_read);
	/* Our own client must accept what our server says. */
	struct sgf_client_conn cc;
	int r = sgf_client_settle_init(out, want_pages, want_read, &cc);
	FUZZ_ASSERT(r == 0, "the client refused our INIT reply: %d", r);
	check_settled(&cc, want_pages, want_read);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < PREFIX)
		return 0;
	struct sgf_session_opts opts = {
		.no_export = data[0] & 1,
		.io_uring = data[0] & 2,
		.passthrough = data[0] & 4,
		.max_write = (uint32_t)(data[1] | (data[2] & 3) << 8) * SGF_PAGE_SIZE,
		.max_pages = data[3],
		.max_pages_limit = 256,
		.max_inflight = 1,
	};
	uint32_t want_pages = data[4], want_read = (uint32_t)data[5] * 1000u;
	const uint8_t *arg = data + PREFIX;
	size_t arg_len = size - PREFIX;

	/* negotiate_init reads arg_len bytes of a struct fuse_init_in: the
	 * caller (do_init) pads it, so do we. */
	struct fuse_init_in in;
	memset(&in, 0, sizeof(in));
	memcpy(&in, arg, arg_len < sizeof(in) ? arg_len : sizeof(in));
	struct fuse_init_out out;
	struct sgf_conn_info ci;
	size_t out_len;
	int ret = sgf_negotiate_init(&opts, &in, arg_len, &out, &out_len, &ci);
	check_negotiated(&in, arg_len, ret, &out, out_len, &ci, want_pages, want_read);

	/* Through a session, as dispatch calls it (the validator passes 16
	 * to 64 bytes). A settled session refuses a second INIT. */
	if (arg_len <= sizeof(struct fuse_init_in) && !opts.io_uring) {
		struct sgf_session *se = sgf_session_new(&(struct sgf_ops){ 0 }, NULL, &opts);
		FUZZ_ASSERT(se != NULL, "sgf_session_new");
		ret = sgf_session_do_init(se, arg, arg_len, &out, &out_len);
		check_negotiated(&in, arg_len, ret, &out, out_len, &se->conn, want_pages,
				 want_read);
		if (sgf_session_initialized(se)) {
			FUZZ_ASSERT(se->lim.max_write == se->conn.max_write &&
					    se->lim.max_read == se->conn.max_read, "limits");
			FUZZ_ASSERT(se->lim.max_write + SGF_PAGE_SIZE <= sgf_session_recv_size(se),
				    "max_write %u over the receive buffer", se->lim.max_write);
			FUZZ_ASSERT(se->lim.max_read <= sgf_session_reply_size(se),
				    "max_read %u over the reply buffer", se->lim.max_read);
			ret = sgf_session_do_init(se, arg, arg_len, &out, &out_len);
			FUZZ_ASSERT(ret == -EINVAL, "second INIT: %d", ret);
		}
		sgf_session_destroy(se);
	}

	/* The same bytes as a server's reply. */
	struct fuse_init_out reply;
	memset(&reply, 0, sizeof(reply));
	memcpy(&reply, arg, arg_len < sizeof(reply) ? arg_len : sizeof(reply));
	struct sgf_client_conn cc;
	ret = sgf_client_settle_init(&reply, want_pages, want_read, &cc);
	if (reply.major != SGF_PROTO_MAJOR || reply.minor < SGF_PROTO_MINOR_MIN)
		FUZZ_ASSERT(ret == -EPROTO, "settled a %u.%u reply", reply.major, reply.minor);
	else
		FUZZ_ASSERT(ret == 0, "refused a 7.%u reply: %d", reply.minor, ret);
	if (ret == 0)
		check_settled(&cc, want_pages, want_read);
	return 0;
}
