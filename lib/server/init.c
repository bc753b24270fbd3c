/* lib/server/init.c - INIT negotiation arithmetic: which protocol minor, which
 * capability bits (FUSE passthrough's stack depth with them), and the
 * request-size limits (max_write, max_pages). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "session.h"

/* Capabilities a passthrough wants. Not offered on purpose: writeback
 * cache and splice (they change the data path the seed measures), locks
 * (the kernel handles them locally), SETXATTR_EXT and security contexts
 * (they change message layouts we validate). */
#define SGF_WANT_BASE                                                        \
	((uint64_t)(FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES |     \
		    FUSE_PARALLEL_DIROPS | FUSE_DO_READDIRPLUS |              \
		    FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_INIT_EXT |  \
		    FUSE_CACHE_SYMLINKS))

/* Passthrough and writeback cache exclude each other (the kernel drops
 * passthrough when both are agreed): writeback must never be wanted. */
_Static_assert(!(SGF_WANT_BASE & FUSE_WRITEBACK_CACHE), "writeback cache with passthrough");

/* The minor that brought FUSE_PASSTHROUGH and max_stack_depth. */
#define SGF_PASSTHROUGH_MINOR 40

/* How deep the backing files' filesystems may stack, as we announce it.
 * 1: backing files live on a filesystem that stacks on nothing (tmpfs,
 * ext4, xfs...), and a stacked one (overlayfs, another FUSE mount with
 * passthrough) is refused by the kernel at BACKING_OPEN (ELOOP), so such
 * files are served by requests. Anything deeper would also make our mount
 * count as that deep, and an overlayfs could no longer use it as a lower
 * layer. */
#define SGF_PASSTHROUGH_STACK_DEPTH 1u

/* Capabilities offered only to a filesystem whose init asks for them by
 * setting them in ci->flags: they hand the filesystem work the kernel
 * would otherwise do. FUSE_HANDLE_KILLPRIV_V2 (7.33): the kernel stops
 * clearing suid/sgid itself (a SETATTR of the mode, sent as the writer,
 * which a non-owner may not do) and flags WRITE, SETATTR (truncate,
 * chown) and OPEN/CREATE (O_TRUNC) for the filesystem to clear them. */
#define SGF_OPT_IN ((uint64_t)FUSE_HANDLE_KILLPRIV_V2)

uint64_t sgf_init_opt_in(struct sgf_conn_info *ci, struct fuse_init_out *out, uint64_t asked)
{
	uint64_t added = asked & SGF_OPT_IN & ci->requester_flags & ~ci->flags;

	if (!(ci->flags & FUSE_INIT_EXT))
		added &= UINT32_MAX;
	ci->want |= added;
	ci->flags |= added;
	out->flags |= (uint32_t)added;
	out->flags2 |= (uint32_t)(added >> 32);
	return added;
}

/* Pages the kernel uses per request when FUSE_MAX_PAGES is not agreed. */
#define SGF_LEGACY_MAX_PAGES 32u

unsigned sgf_read_sysctl(const char *path)
{
	FILE *f = fopen(path, "re");
	unsigned v = 0;

	if (f != NULL) {
		if (fscanf(f, "%u", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

uint32_t sgf_kernel_max_pages_limit(void)
{
	unsigned v = sgf_read_sysctl("/proc/sys/fs/fuse/max_pages_limit");

	return v ? v : 256;
}

uint32_t sgf_derive_max_pages(uint32_t max_write, uint32_t max_pages_opt, uint32_t limit)
{
	uint64_t pages = max_pages_opt ? max_pages_opt
				       : ((uint64_t)max_write + SGF_PAGE_SIZE - 1) / SGF_PAGE_SIZE;

	if (limit == 0 || limit > SGF_MAX_PAGES_CEILING)
		limit = SGF_MAX_PAGES_CEILING;
	if (pages > limit)
		pages = limit;
	return pages ? (uint32_t)pages : 1;
}

/* <linux/fuse.h> of 7.38 calls the words after flags2 unused[]; since 7.40
 * the first is max_stack_depth (then 7.43's 16-bit request_timeout). */
#define SGF_INIT_OUT_STACK_DEPTH_OFFSET 36
_Static_assert(offsetof(struct fuse_init_out, flags2) + 4 == SGF_INIT_OUT_STACK_DEPTH_OFFSET &&
		       sizeof(struct fuse_init_out) == 64,
	       "fuse_init_out layout");

void sgf_init_out_set_stack_depth(struct fuse_init_out *out, uint32_t depth)
{
	memcpy((char *)out + SGF_INIT_OUT_STACK_DEPTH_OFFSET, &depth, sizeof(depth));
}

int sgf_negotiate_init(const struct sgf_session_opts *opts, const struct fuse_init_in *in,
		       size_t arg_len, struct fuse_init_out *out, size_t *out_len,
		       struct sgf_conn_info *ci)
{
	uint64_t theirs, want, agreed;
	uint32_t max_write = opts->max_write ? opts->max_write : SGF_DEFAULT_MAX_WRITE;
	uint32_t limit = opts->max_pages_limit ? opts->max_pages_limit
					       : sgf_kernel_max_pages_limit();

	memset(out, 0, sizeof(*out));
	memset(ci, 0, sizeof(*ci));
	*out_len = 0;
	if (arg_len < 16)
		return -EINVAL;
	if (in->major > SGF_PROTO_MAJOR) {
		/* The requester retries INIT with our major when told it. */
		out->major = SGF_PROTO_MAJOR;
		out->minor = SGF_PROTO_MINOR;
		*out_len = FUSE_COMPAT_INIT_OUT_SIZE;
		return 0;
	}
	if (in->major < SGF_PROTO_MAJOR || in->minor < SGF_PROTO_MINOR_MIN)
		return -EPROTO;
	if (max_write < SGF_PAGE_SIZE)
		max_write = SGF_PAGE_SIZE;

	theirs = in->flags;
	if ((in->flags & FUSE_INIT_EXT) && arg_len >= offsetof(struct fuse_init_in, flags2) + 4)
		theirs |= (uint64_t)in->flags2 << 32;
	want = SGF_WANT_BASE;
	if (!opts->no_export)
		want |= FUSE_EXPORT_SUPPORT;
	if (opts->io_uring)
		want |= FUSE_OVER_IO_URING;
	/* Only a 7.40 requester knows max_stack_depth; theirs has the flags2
	 * bit only with FUSE_INIT_EXT. */
	if (opts->passthrough && in->minor >= SGF_PASSTHROUGH_MINOR)
		want |= FUSE_PASSTHROUGH;
	/* O_DIRECT opens are answered with FOPEN_DIRECT_IO, and without this
	 * the kernel refuses MAP_SHARED on them (ENODEV). With it the mapping
	 * goes through the page cache, which the kernel keeps coherent with
	 * the direct I/O: a direct write drops the cached pages of its range,
	 * so the mapping sees it; a store into the mapping reaches the file
	 * (and direct reads) at msync or writeback. A flags2 bit: theirs has
	 * it only with FUSE_INIT_EXT. */
	want |= FUSE_DIRECT_IO_ALLOW_MMAP;
	agreed = want & theirs;

	ci->proto_major = SGF_PROTO_MAJOR;
	ci->proto_minor = in->minor < SGF_PROTO_MINOR ? in->minor : SGF_PROTO_MINOR;
	ci->max_write = max_write;
	ci->max_readahead = in->max_readahead;
	ci->max_background = SGF_MAX_BACKGROUND;
	ci->want = want;
	ci->requester_flags = theirs;
	ci->flags = agreed;
	if (agreed & FUSE_MAX_PAGES) {
		ci->max_pages = sgf_derive_max_pages(max_write, opts->max_pages, limit);
		ci->max_read = ci->max_pages * SGF_PAGE_SIZE;
	} else {
		ci->max_pages = 0;
		ci->max_read = SGF_LEGACY_MAX_PAGES * SGF_PAGE_SIZE;
	}

	out->major = ci->proto_major;
	out->minor = ci->proto_minor;
	out->max_readahead = in->max_readahead;
	out->flags = (uint32_t)agreed;
	if (agreed & FUSE_INIT_EXT)
		out->flags2 = (uint32_t)(agreed >> 32);
	out->max_background = SGF_MAX_BACKGROUND;
	out->congestion_threshold = SGF_MAX_BACKGROUND * 3 / 4;
	out->max_write = max_write;
	out->time_gran = 1;
	out->max_pages = (uint16_t)ci->max_pages;
	if (agreed & FUSE_PASSTHROUGH)
		sgf_init_out_set_stack_depth(out, SGF_PASSTHROUGH_STACK_DEPTH);
	*out_len = sizeof(*out);
	return 0;
}
