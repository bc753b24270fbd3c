/* lib/client/file.c - open file handles: OPEN, CREATE, FLUSH, FSYNC,
 * RELEASE and their directory twins, with the flag filtering the kernel does
 * before it asks a server to open something. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include "conn.h"

/* Flags the kernel consumes itself and never forwards on OPEN. */
#define SGF_OPEN_LOCAL_FLAGS (O_CREAT | O_EXCL | O_NOCTTY)

static int open_call(struct sgf_client *c, uint32_t opcode, uint64_t nodeid, uint32_t flags,
		     struct sgf_file *f)
{
	struct fuse_open_in in = { .flags = flags };
	struct fuse_open_out out;
	struct iovec iov;
	struct sgf_call call = { .opcode = opcode, .nodeid = nodeid, .arg = &in,
				 .arg_size = sizeof(in) };

	memset(&out, 0, sizeof(out));
	sgf_expect_fixed(&call.ex, &iov, &out, sizeof(out));
	int r = (int)sgf_call_sync(c, &call);
	if (r < 0)
		return r;
	*f = (struct sgf_file){ .nodeid = nodeid, .fh = out.fh, .flags = flags,
				.open_flags = out.open_flags };
	return 0;
}

int sgf_open(struct sgf_client *c, uint64_t nodeid, uint32_t flags, struct sgf_file *f)
{
	flags &= ~(uint32_t)SGF_OPEN_LOCAL_FLAGS;
	/* A server that cannot truncate atomically on open gets the kernel's
	 * fallback: SETATTR size 0 first. */
	if ((flags & O_TRUNC) && !(c->conn.flags & FUSE_ATOMIC_O_TRUNC)) {
		if ((flags & O_ACCMODE) != O_RDONLY) {
			int r = sgf_truncate(c, nodeid, 0);
			if (r < 0)
				return r;
		}
		flags &= ~(uint32_t)O_TRUNC;
	}
	return open_call(c, FUSE_OPEN, nodeid, flags, f);
}

int sgf_opendir(struct sgf_client *c, uint64_t nodeid, struct sgf_file *d)
{
	return open_call(c, FUSE_OPENDIR, nodeid, O_RDONLY | O_DIRECTORY, d);
}

int sgf_create(struct sgf_client *c, uint64_t parent, const char *name, uint32_t flags,
	       uint32_t mode, struct fuse_entry_out *entry, struct sgf_file *f)
{
	struct fuse_create_in in;
	struct {
		struct fuse_entry_out entry;
		struct fuse_open_out open;
	} out;
	struct iovec iov;
	struct sgf_call call = { .opcode = FUSE_CREATE, .nodeid = parent, .arg = &in,
				 .arg_size = sizeof(in), .name = name };
	int r = sgf_check_name(name);

	_Static_assert(sizeof(out) == sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out),
		       "CREATE reply is two packed structs");
	if (r < 0)
		return r;
	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	memset(&in, 0, sizeof(in));
	in.flags = (flags | O_CREAT) & ~(uint32_t)O_NOCTTY;
	in.mode = mode;
	memset(&out, 0, sizeof(out));
	sgf_expect_fixed(&call.ex, &iov, &out, sizeof(out));
	r = (int)sgf_call_sync(c, &call);
	if (r < 0)
		return r;
	if (out.entry.nodeid == 0) {
		/* Opened something it will not name: give the handle back. */
		sgf_stat_inc(&c->stats.malformed, 1);
		struct sgf_file bogus = { .nodeid = 0, .fh = out.open.fh, .flags = in.flags };
		(void)sgf_release(c, &bogus);
		return -EIO;
	}
	*f = (struct sgf_file){ .nodeid = out.entry.nodeid, .fh = out.open.fh,
				.flags = in.flags & ~(uint32_t)SGF_OPEN_LOCAL_FLAGS,
				.open_flags = out.open.open_flags, .nlookup = entry ? 0 : 1 };
	if (entry)
		*entry = out.entry;
	return 0;
}

int sgf_flush(struct sgf_client *c, const struct sgf_file *f)
{
	struct fuse_flush_in in = { .fh = f->fh };
	struct sgf_call call = { .opcode = FUSE_FLUSH, .nodeid = f->nodeid, .arg = &in,
				 .arg_size = sizeof(in) };

	sgf_expect_none(&call.ex);
	return (int)sgf_call_sync(c, &call);
}

int sgf_fsync(struct sgf_client *c, const struct sgf_file *f, bool datasync)
{
	struct fuse_fsync_in in = { .fh = f->fh, .fsync_flags = datasync ? 1 : 0 };
	struct sgf_call call = { .opcode = FUSE_FSYNC, .nodeid = f->nodeid, .arg = &in,
				 .arg_size = sizeof(in) };

	sgf_expect_none(&call.ex);
	return (int)sgf_call_sync(c, &call);
}

static int release_call(struct sgf_client *c, uint32_t opcode, const struct sgf_file *f)
{
	struct fuse_release_in in = { .fh = f->fh, .flags = f->flags };
	struct sgf_call call = { .opcode = opcode, .nodeid = f->nodeid, .arg = &in,
				 .arg_size = sizeof(in) };

	sgf_expect_none(&call.ex);
	return (int)sgf_call_sync(c, &call);
}

int sgf_release(struct sgf_client *c, const struct sgf_file *f)
{
	int r = release_call(c, FUSE_RELEASE, f);
	sgf_forget(c, f->nodeid, f->nlookup);
	return r;
}

int sgf_releasedir(struct sgf_client *c, const struct sgf_file *d)
{
	int r = release_call(c, FUSE_RELEASEDIR, d);
	sgf_forget(c, d->nodeid, d->nlookup);
	return r;
}
