/* lib/client/meta.c - name and attribute operations: each fills one
 * struct sgf_call (opcode, fixed argument, names, expected reply) and lets
 * call.c do the rest. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "conn.h"

static int entry_call(struct sgf_client *c, uint32_t opcode, uint64_t parent, const void *arg,
		      uint32_t arg_size, const char *name, struct fuse_entry_out *out)
{
	struct iovec iov;
	struct sgf_call call = { .opcode = opcode, .nodeid = parent, .arg = arg,
				 .arg_size = arg_size, .name = name };
	int r = sgf_check_name(name);

	if (r < 0)
		return r;
	memset(out, 0, sizeof(*out));
	sgf_expect_fixed(&call.ex, &iov, out, sizeof(*out));
	ssize_t res = sgf_call_sync(c, &call);
	if (res < 0)
		return (int)res;
	/* nodeid 0 is a cacheable "no such entry", and holds no reference. */
	if (out->nodeid == 0)
		return opcode == FUSE_LOOKUP ? -ENOENT : -EIO;
	return 0;
}

int sgf_lookup(struct sgf_client *c, uint64_t parent, const char *name,
	       struct fuse_entry_out *out)
{
	return entry_call(c, FUSE_LOOKUP, parent, NULL, 0, name, out);
}

void sgf_forget(struct sgf_client *c, uint64_t nodeid, uint64_t nlookup)
{
	struct fuse_forget_in in = { .nlookup = nlookup };

	if (nodeid == 0 || nodeid == FUSE_ROOT_ID || nlookup == 0)
		return;
	(void)sgf_send_noreply(c, FUSE_FORGET, nodeid, &in, sizeof(in));
}

int sgf_getattr(struct sgf_client *c, uint64_t nodeid, struct fuse_attr_out *out)
{
	struct fuse_getattr_in in;
	struct iovec iov;
	struct sgf_call call = { .opcode = FUSE_GETATTR, .nodeid = nodeid, .arg = &in,
				 .arg_size = sizeof(in) };

	memset(&in, 0, sizeof(in));
	memset(out, 0, sizeof(*out));
	sgf_expect_fixed(&call.ex, &iov, out, sizeof(*out));
	return (int)sgf_call_sync(c, &call);
}

int sgf_setattr(struct sgf_client *c, uint64_t nodeid, const struct fuse_setattr_in *in,
		struct fuse_attr_out *out)
{
	struct fuse_attr_out scratch;
	struct iovec iov;
	struct sgf_call call = { .opcode = FUSE_SETATTR, .nodeid = nodeid, .arg = in,
				 .arg_size = sizeof(*in) };

	if (in == NULL)
		return -EINVAL;
	if (out == NULL)
		out = &scratch;
	memset(out, 0, sizeof(*out));
	sgf_expect_fixed(&call.ex, &iov, out, sizeof(*out));
	return (int)sgf_call_sync(c, &call);
}

int sgf_truncate(struct sgf_client *c, uint64_t nodeid, uint64_t size)
{
	struct fuse_setattr_in in;

	if (size > (uint64_t)INT64_MAX)
		return -EINVAL;
	memset(&in, 0, sizeof(in));
	in.valid = FATTR_SIZE;
	in.size = size;
	return sgf_setattr(c, nodeid, &in, NULL);
}

int sgf_chmod(struct sgf_client *c, uint64_t nodeid, uint32_t mode)
{
	struct fuse_setattr_in in;

	memset(&in, 0, sizeof(in));
	in.valid = FATTR_MODE;
	in.mode = mode & 07777;
	return sgf_setattr(c, nodeid, &in, NULL);
}

int sgf_mkdir(struct sgf_client *c, uint64_t parent, const char *name, uint32_t mode,
	      struct fuse_entry_out *out)
{
	struct fuse_mkdir_in in = { .mode = mode & 07777, .umask = 0 };

	return entry_call(c, FUSE_MKDIR, parent, &in, sizeof(in), name, out);
}

static int name_call(struct sgf_client *c, uint32_t opcode, uint64_t parent, const char *name)
{
	struct sgf_call call = { .opcode = opcode, .nodeid = parent, .name = name };
	int r = sgf_check_name(name);

	if (r < 0)
		return r;
	sgf_expect_none(&call.ex);
	return (int)sgf_call_sync(c, &call);
}

int sgf_unlink(struct sgf_client *c, uint64_t parent, const char *name)
{
	return name_call(c, FUSE_UNLINK, parent, name);
}

int sgf_rmdir(struct sgf_client *c, uint64_t parent, const char *name)
{
	return name_call(c, FUSE_RMDIR, parent, name);
}

int sgf_rename(struct sgf_client *c, uint64_t parent, const char *name,
	       uint64_t newparent, const char *newname, uint32_t flags)
{
	struct fuse_rename_in in1 = { .newdir = newparent };
	struct fuse_rename2_in in2 = { .newdir = newparent, .flags = flags };
	struct sgf_call call = { .opcode = FUSE_RENAME, .nodeid = parent, .arg = &in1,
				 .arg_size = sizeof(in1), .name = name, .name2 = newname };
	int r = sgf_check_name(name);

	if (r == 0)
		r = sgf_check_name(newname);
	if (r < 0)
		return r;
	if (flags != 0) {
		call.opcode = FUSE_RENAME2;
		call.arg = &in2;
		call.arg_size = sizeof(in2);
	}
	sgf_expect_none(&call.ex);
	return (int)sgf_call_sync(c, &call);
}

int sgf_statfs(struct sgf_client *c, uint64_t nodeid, struct fuse_kstatfs *out)
{
	struct fuse_statfs_out so;
	struct iovec iov;
	struct sgf_call call = { .opcode = FUSE_STATFS, .nodeid = nodeid };

	memset(&so, 0, sizeof(so));
	sgf_expect_fixed(&call.ex, &iov, &so, sizeof(so));
	int r = (int)sgf_call_sync(c, &call);
	if (r == 0)
		*out = so.st;
	return r;
}
