/* lib/server/notify.c - notifications: messages the server sends unasked
 * (unique 0, the notification code in the error field) so the kernel drops
 * or fills what it cached. One send each, on the session's own channel. */
#include <errno.h>
#include <string.h>
#include "session.h"

static int notify(struct sgf_session *se, int code, const struct iovec *args, int nargs)
{
	struct fuse_out_header oh = { .error = code, .unique = 0 };
	struct iovec iov[SGF_SEND_IOV_MAX];
	int err;

	if (se == NULL)
		return -EINVAL;
	if (!atomic_load(&se->initialized) || atomic_load(&se->ended) || se->ch == NULL)
		return -ENOTCONN;
	if (nargs + 1 > SGF_SEND_IOV_MAX)
		return -EINVAL;
	iov[0] = (struct iovec){ &oh, sizeof(oh) };
	oh.len = sizeof(oh);
	for (int i = 0; i < nargs; i++) {
		if (args[i].iov_len > UINT32_MAX - oh.len)
			return -EINVAL;
		iov[i + 1] = args[i];
		oh.len += (uint32_t)args[i].iov_len;
	}
	err = sgf_chan_send(se->ch, iov, nargs + 1);
	return err == -ENODEV || err == -EPIPE || err == -EBADF ? -ENOTCONN : err;
}

static int check_name(const char *name, size_t *len)
{
	if (name == NULL)
		return -EINVAL;
	*len = strlen(name);
	if (*len == 0 || memchr(name, '/', *len))
		return -EINVAL;
	return *len > SGF_NAME_MAX ? -ENAMETOOLONG : 0;
}

int sgf_notify_inval_inode(struct sgf_session *se, uint64_t ino, int64_t off, int64_t len)
{
	struct fuse_notify_inval_inode_out o = { .ino = ino, .off = off, .len = len };
	struct iovec iov = { &o, sizeof(o) };

	if (ino == 0)
		return -EINVAL;
	return notify(se, FUSE_NOTIFY_INVAL_INODE, &iov, 1);
}

int sgf_notify_inval_entry(struct sgf_session *se, uint64_t parent, const char *name)
{
	struct fuse_notify_inval_entry_out o = { .parent = parent };
	size_t len;
	int err = check_name(name, &len);

	if (err || parent == 0)
		return err ? err : -EINVAL;
	o.namelen = (uint32_t)len;
	/* The kernel wants the name's NUL too. */
	struct iovec iov[2] = { { &o, sizeof(o) }, { (void *)name, len + 1 } };
	return notify(se, FUSE_NOTIFY_INVAL_ENTRY, iov, 2);
}

int sgf_notify_delete(struct sgf_session *se, uint64_t parent, uint64_t child,
		      const char *name)
{
	struct fuse_notify_delete_out o = { .parent = parent, .child = child };
	size_t len;
	int err = check_name(name, &len);

	if (err || parent == 0 || child == 0)
		return err ? err : -EINVAL;
	o.namelen = (uint32_t)len;
	struct iovec iov[2] = { { &o, sizeof(o) }, { (void *)name, len + 1 } };
	return notify(se, FUSE_NOTIFY_DELETE, iov, 2);
}

int sgf_notify_store(struct sgf_session *se, uint64_t ino, uint64_t off,
		     const struct iovec *iov, int iovcnt)
{
	struct fuse_notify_store_out o = { .nodeid = ino, .offset = off };
	struct iovec args[SGF_NOTIFY_IOV_MAX + 1];
	uint64_t size = 0;

	if (ino == 0 || iovcnt < 0 || iovcnt > SGF_NOTIFY_IOV_MAX || (iovcnt && iov == NULL))
		return -EINVAL;
	args[0] = (struct iovec){ &o, sizeof(o) };
	for (int i = 0; i < iovcnt; i++) {
		size += iov[i].iov_len;
		args[i + 1] = iov[i];
	}
	if (size > UINT32_MAX / 2 || off > INT64_MAX - size)
		return -EINVAL;
	o.size = (uint32_t)size;
	return notify(se, FUSE_NOTIFY_STORE, args, iovcnt + 1);
}
