/* tests/unit/test_init_math.c - INIT arithmetic without a kernel: max_pages
 * derived from max_write and options, and sgf_negotiate_init's reply for
 * requesters of various minors and flags (as Linux process_init_reply reads it). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "check.h"
#include "session.h"

static void check_derive(void)
{
	/* From max_write, rounded up to pages. */
	CHECK_EQ(sgf_derive_max_pages(1u << 20, 0, 256), 256);
	CHECK_EQ(sgf_derive_max_pages(128u << 10, 0, 256), 32);
	CHECK_EQ(sgf_derive_max_pages(4097, 0, 256), 2);
	CHECK_EQ(sgf_derive_max_pages(4096, 0, 256), 1);
	CHECK_EQ(sgf_derive_max_pages(1, 0, 256), 1);
	CHECK_EQ(sgf_derive_max_pages(8191, 0, 256), 2);
	/* Clamped at the kernel's limit. */
	CHECK_EQ(sgf_derive_max_pages(2u << 20, 0, 256), 256);
	CHECK_EQ(sgf_derive_max_pages(UINT32_MAX, 0, 256), 256);
	CHECK_EQ(sgf_derive_max_pages(1u << 20, 0, 64), 64);
	CHECK_EQ(sgf_derive_max_pages(1u << 20, 0, 1), 1);
	/* An explicit max_pages wins over max_write... */
	CHECK_EQ(sgf_derive_max_pages(1u << 20, 1, 256), 1);
	CHECK_EQ(sgf_derive_max_pages(1u << 20, 16, 256), 16);
	CHECK_EQ(sgf_derive_max_pages(4096, 128, 256), 128);
	/* ...but not over the limit. */
	CHECK_EQ(sgf_derive_max_pages(1u << 20, 1000, 256), 256);
	CHECK_EQ(sgf_derive_max_pages(1u << 20, 300, 256), 256);
	/* A kernel limit above the protocol's 16-bit field is cut to it. */
	CHECK_EQ(sgf_derive_max_pages(UINT32_MAX, 0, 100000), SGF_MAX_PAGES_CEILING);
	CHECK_EQ(sgf_derive_max_pages(1u << 20, 70000, 100000), SGF_MAX_PAGES_CEILING);
	CHECK_EQ(sgf_derive_max_pages(1u << 20, UINT32_MAX, UINT32_MAX), SGF_MAX_PAGES_CEILING);
	/* Never more pages than asked when the limit is generous. */
	CHECK_EQ(sgf_derive_max_pages(1u << 20, 0, 100000), 256);
}

/* A requester's INIT: major.minor and flags; flags2 carries bits 32..63. */
static struct fuse_init_in init_in(uint32_t major, uint32_t minor, uint64_t flags)
{
	struct fuse_init_in in;
	memset(&in, 0, sizeof(in));
	in.major = major;
	in.minor = minor;
	in.max_readahead = 128u << 10;
	in.flags = (uint32_t)flags;
	in.flags2 = (uint32_t)(flags >> 32);
	return in;
}

/* What a Linux 6.18 kernel offers (the bits it knows at 7.38 and above). */
static const uint64_t linux_flags =
	FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT |
	FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE |
	FUSE_SPLICE_READ | FUSE_FLOCK_LOCKS | FUSE_HAS_IOCTL_DIR | FUSE_AUTO_INVAL_DATA |
	FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_WRITEBACK_CACHE |
	FUSE_NO_OPEN_SUPPORT | FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL |
	FUSE_ABORT_ERROR | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS | FUSE_NO_OPENDIR_SUPPORT |
	FUSE_EXPLICIT_INVAL_DATA | FUSE_MAP_ALIGNMENT | FUSE_SUBMOUNTS |
	FUSE_HANDLE_KILLPRIV_V2 | FUSE_SETXATTR_EXT | FUSE_INIT_EXT | FUSE_INIT_RESERVED |
	FUSE_SECURITY_CTX | FUSE_HAS_INODE_DAX | (1ULL << 34) /* CREATE_SUPP_GROUP */ |
	FUSE_HAS_EXPIRE_ONLY | FUSE_DIRECT_IO_ALLOW_MMAP | FUSE_PASSTHROUGH |
	FUSE_NO_EXPORT_SUPPORT | FUSE_HAS_RESEND | FUSE_ALLOW_IDMAP;

static uint64_t reply_flags(const struct fuse_init_out *out, bool ext)
{
	return out->flags | (ext ? (uint64_t)out->flags2 << 32 : 0);
}

static int negotiate(const struct sgf_session_opts *o, const struct fuse_init_in *in,
		     size_t arg_len, struct fuse_init_out *out, size_t *out_len,
		     struct sgf_conn_info *ci)
{
	memset(out, 0x5A, sizeof(*out));
	memset(ci, 0x5A, sizeof(*ci));
	*out_len = 12345;
	return sgf_negotiate_init(o, in, arg_len, out, out_len, ci);
}

static void check_versions(void)
{
	struct sgf_session_opts o = { .max_pages_limit = 256 };
	struct fuse_init_out out;
	struct sgf_conn_info ci;
	size_t out_len;
	struct fuse_init_in in;

	/* A newer requester: we answer with our minor. */
	in = init_in(7, 45, linux_flags);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK_EQ(out.major, 7);
	CHECK_EQ(out.minor, SGF_PROTO_MINOR);
	CHECK_EQ(ci.proto_major, 7);
	CHECK_EQ(ci.proto_minor, SGF_PROTO_MINOR);
	CHECK_EQ(out_len, sizeof(struct fuse_init_out));

	/* An older one within range: its minor. */
	in = init_in(7, 31, linux_flags & 0xffffffffu);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK_EQ(out.minor, 31);
	CHECK_EQ(ci.proto_minor, 31);
	CHECK_EQ(out_len, sizeof(struct fuse_init_out));

	/* The oldest we accept, with the 16-byte init_in of that era. */
	in = init_in(7, SGF_PROTO_MINOR_MIN, FUSE_MAX_PAGES | FUSE_BIG_WRITES);
	CHECK_EQ(negotiate(&o, &in, 16, &out, &out_len, &ci), 0);
	CHECK_EQ(out.minor, SGF_PROTO_MINOR_MIN);
	/* From 7.23 on init_out has its full size. */
	CHECK_EQ(out_len, sizeof(struct fuse_init_out));

	/* Too old, wrong major. */
	in = init_in(7, SGF_PROTO_MINOR_MIN - 1, FUSE_BIG_WRITES);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), -EPROTO);
	in = init_in(7, 5, 0);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), -EPROTO);
	in = init_in(6, 38, 0);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), -EPROTO);
	in = init_in(0, 0, 0);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), -EPROTO);
	/* A newer major: refused, or answered with our version in the 8-byte
	 * compat reply so the requester can retry (libfuse does the latter). */
	static const uint32_t newer[] = { 8, UINT32_MAX };
	for (size_t i = 0; i < 2; i++) {
		in = init_in(newer[i], 0, 0);
		int r = negotiate(&o, &in, sizeof(in), &out, &out_len, &ci);
		if (r == 0) {
			CHECK_EQ(out_len, FUSE_COMPAT_INIT_OUT_SIZE);
			CHECK_EQ(out.major, SGF_PROTO_MAJOR);
			CHECK_EQ(out.minor, SGF_PROTO_MINOR);
		} else {
			CHECK_EQ(r, -EPROTO);
		}
	}
}

static void check_flags(void)
{
	struct sgf_session_opts o = { .max_pages_limit = 256 };
	struct fuse_init_out out;
	struct sgf_conn_info ci;
	size_t out_len;
	struct fuse_init_in in;

	/* Extended flags are taken from flags2 when FUSE_INIT_EXT is set. */
	in = init_in(7, 38, linux_flags);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK(ci.requester_flags == linux_flags);
	CHECK(ci.flags == (ci.want & ci.requester_flags));
	CHECK(reply_flags(&out, true) == ci.flags);
	/* We never claim what the requester did not offer. */
	CHECK((reply_flags(&out, true) & ~linux_flags) == 0);
	CHECK(ci.flags & FUSE_MAX_PAGES);
	CHECK(out.flags & FUSE_MAX_PAGES);

	/* Without FUSE_INIT_EXT flags2 means nothing. */
	in = init_in(7, 38, (linux_flags & ~FUSE_INIT_EXT) | FUSE_PASSTHROUGH);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK((ci.requester_flags >> 32) == 0);
	CHECK((ci.flags >> 32) == 0);
	CHECK(out.flags2 == 0);
	CHECK((out.flags & ~(uint32_t)linux_flags) == 0);

	/* A 16-byte init_in has no flags2 field: bytes there are not read as flags. */
	in = init_in(7, 38, linux_flags);
	in.flags2 = 0xffffffffu;
	CHECK_EQ(negotiate(&o, &in, 16, &out, &out_len, &ci), 0);
	CHECK((ci.requester_flags >> 32) == 0);
	CHECK(out.flags2 == 0);

	/* Nothing offered: nothing claimed. */
	in = init_in(7, 38, 0);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK_EQ(out.flags, 0);
	CHECK_EQ(out.flags2, 0);
	CHECK(ci.flags == 0);
	CHECK(ci.requester_flags == 0);

	/* max_readahead: never more than the requester's. */
	in = init_in(7, 38, linux_flags);
	in.max_readahead = 4096;
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK(out.max_readahead <= 4096);
	CHECK_EQ(ci.max_readahead, out.max_readahead);
	/* Unused reply fields are zero (the kernel may give them meaning). */
	for (size_t i = 0; i < sizeof(out.unused) / sizeof(out.unused[0]); i++)
		CHECK_EQ(out.unused[i], 0);
}

/* max_stack_depth as Linux reads it: the 32-bit word after flags2 (the
 * first of 7.38's unused[]). */
static uint32_t stack_depth(const struct fuse_init_out *out)
{
	uint32_t d;
	memcpy(&d, (const char *)out + offsetof(struct fuse_init_out, flags2) + 4, sizeof(d));
	return d;
}

static void check_passthrough(void)
{
	struct sgf_session_opts o = { .max_pages_limit = 256, .passthrough = true };
	struct sgf_session_opts plain = { .max_pages_limit = 256 };
	struct fuse_init_out out;
	struct sgf_conn_info ci;
	size_t out_len;
	struct fuse_init_in in;

	/* Offered by a 7.40+ kernel and asked for: in flags2, depth 1, in
	 * the flags init sees; never beside writeback cache. */
	in = init_in(7, 45, linux_flags);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK(ci.flags & FUSE_PASSTHROUGH);
	CHECK(ci.want & FUSE_PASSTHROUGH);
	CHECK(reply_flags(&out, true) & FUSE_PASSTHROUGH);
	CHECK(out.flags & FUSE_INIT_EXT);
	CHECK_EQ(stack_depth(&out), 1);
	CHECK((reply_flags(&out, true) & FUSE_WRITEBACK_CACHE) == 0);
	CHECK_EQ(out_len, sizeof(struct fuse_init_out));
	in = init_in(7, 40, linux_flags);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK(reply_flags(&out, true) & FUSE_PASSTHROUGH);
	CHECK_EQ(stack_depth(&out), 1);

	/* Not asked for: absent, depth 0. */
	in = init_in(7, 45, linux_flags);
	CHECK_EQ(negotiate(&plain, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK((ci.flags & FUSE_PASSTHROUGH) == 0);
	CHECK((reply_flags(&out, true) & FUSE_PASSTHROUGH) == 0);
	CHECK_EQ(stack_depth(&out), 0);

	/* Not offered: absent. */
	in = init_in(7, 45, linux_flags & ~FUSE_PASSTHROUGH);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK((ci.flags & FUSE_PASSTHROUGH) == 0);
	CHECK((reply_flags(&out, true) & FUSE_PASSTHROUGH) == 0);
	CHECK_EQ(stack_depth(&out), 0);

	/* The bit without FUSE_INIT_EXT, or from a requester before 7.40
	 * (which has no max_stack_depth): absent. */
	in = init_in(7, 45, linux_flags & ~FUSE_INIT_EXT);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK((ci.flags & FUSE_PASSTHROUGH) == 0);
	CHECK_EQ(out.flags2, 0);
	CHECK_EQ(stack_depth(&out), 0);
	in = init_in(7, 39, linux_flags);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK((ci.flags & FUSE_PASSTHROUGH) == 0);
	CHECK((reply_flags(&out, true) & FUSE_PASSTHROUGH) == 0);
	CHECK_EQ(stack_depth(&out), 0);
}

static void check_limits(void)
{
	struct fuse_init_out out;
	struct sgf_conn_info ci;
	size_t out_len;
	struct fuse_init_in in = init_in(7, 38, linux_flags);

	/* Defaults: 1 MiB writes in 256 pages. */
	struct sgf_session_opts o = { .max_pages_limit = 256 };
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK_EQ(out.max_write, SGF_DEFAULT_MAX_WRITE);
	CHECK_EQ(out.max_pages, 256);
	CHECK_EQ(ci.max_write, out.max_write);
	CHECK_EQ(ci.max_pages, out.max_pages);
	/* Without a max_read mount option the kernel reads max_pages pages. */
	CHECK(ci.max_read >= out.max_pages * 4096u);

	/* 128 KiB writes: 32 pages. */
	o = (struct sgf_session_opts){ .max_write = 128u << 10, .max_pages_limit = 256 };
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK_EQ(out.max_write, 128u << 10);
	CHECK_EQ(out.max_pages, 32);

	/* max_pages=1 (the "one request per page" setting of the tests). */
	o = (struct sgf_session_opts){ .max_pages = 1, .max_pages_limit = 256 };
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK_EQ(out.max_pages, 1);
	CHECK(out.max_write >= 4096);

	/* A lower kernel limit clamps. */
	o = (struct sgf_session_opts){ .max_pages_limit = 64 };
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK_EQ(out.max_pages, 64);

	/* max_pages above the ceiling. */
	o = (struct sgf_session_opts){ .max_pages = 1000, .max_pages_limit = 256 };
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK_EQ(out.max_pages, 256);

	/* A requester without FUSE_MAX_PAGES carries at most 32 pages
	 * (FUSE_DEFAULT_MAX_PAGES_PER_REQ) whatever we answer; max_pages is
	 * not part of the reply then. */
	in = init_in(7, 38, linux_flags & ~FUSE_MAX_PAGES);
	o = (struct sgf_session_opts){ .max_pages_limit = 256 };
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK_EQ(ci.max_pages, 0);
	/* The kernel still reads up to its default of 32 pages at once. */
	CHECK(ci.max_read >= 32u * 4096u);
	CHECK((out.flags & FUSE_MAX_PAGES) == 0);
	CHECK(out.max_write >= 4096);
	CHECK_EQ(ci.max_write, out.max_write);
}

/* FUSE_HANDLE_KILLPRIV_V2 only where the filesystem's init asks for it
 * and the requester offered it; asking for anything else adds nothing. */
static void check_opt_in(void)
{
	struct sgf_session_opts o = { .max_pages_limit = 256 };
	struct fuse_init_out out;
	struct sgf_conn_info ci;
	size_t out_len;
	struct fuse_init_in in = init_in(7, 38, linux_flags);

	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	/* Not offered to a filesystem that does not ask. */
	CHECK((ci.flags & FUSE_HANDLE_KILLPRIV_V2) == 0);
	CHECK((out.flags & FUSE_HANDLE_KILLPRIV_V2) == 0);
	uint64_t before = ci.flags;
	uint32_t out_before = out.flags, out2_before = out.flags2;
	CHECK_EQ(sgf_init_opt_in(&ci, &out, before | FUSE_HANDLE_KILLPRIV_V2 |
					       FUSE_WRITEBACK_CACHE | FUSE_POSIX_ACL),
		 FUSE_HANDLE_KILLPRIV_V2);
	CHECK_EQ(ci.flags, before | FUSE_HANDLE_KILLPRIV_V2);
	CHECK_EQ(out.flags, out_before | (uint32_t)FUSE_HANDLE_KILLPRIV_V2);
	CHECK_EQ(out.flags2, out2_before);
	CHECK((ci.want & FUSE_HANDLE_KILLPRIV_V2) != 0);
	/* A second ask adds nothing. */
	CHECK_EQ(sgf_init_opt_in(&ci, &out, FUSE_HANDLE_KILLPRIV_V2), 0);

	/* A requester that does not offer it (before 7.33) never gets it. */
	in = init_in(7, 31, linux_flags & 0xffffffffu & ~(uint64_t)FUSE_HANDLE_KILLPRIV_V2);
	CHECK_EQ(negotiate(&o, &in, sizeof(in), &out, &out_len, &ci), 0);
	CHECK_EQ(sgf_init_opt_in(&ci, &out, FUSE_HANDLE_KILLPRIV_V2), 0);
	CHECK((out.flags & FUSE_HANDLE_KILLPRIV_V2) == 0);
}

int main(void)
{
	check_derive();
	check_versions();
	check_flags();
	check_passthrough();
	check_limits();
	check_opt_in();
	return check_exit();
}
