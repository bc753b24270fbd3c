/* fs/passthrough/pt_fhandle.c - file handles: how a node whose O_PATH fd the
 * fd cache let go is opened again. open_by_handle_at() needs an fd on the
 * handle's mount that is not O_PATH, and CAP_DAC_READ_SEARCH; so we keep one
 * directory fd per mount nodes live on, tried once when the mount is first
 * seen. A mount whose handles do not open (no capability, no export support)
 * is remembered as such, and its nodes keep their fds for life. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pt.h"

struct pt_mount {
	int id;            /* mount id name_to_handle_at() reports */
	int fd;            /* O_RDONLY directory on it; -1: handles do not open */
	struct pt_mount *next;
};

/* Room for any handle the kernel makes. */
union pt_handle_buf {
	struct file_handle fh;
	char bytes[sizeof(struct file_handle) + MAX_HANDLE_SZ];
};

static int handle_of(int fd, union pt_handle_buf *buf, int *mount_id)
{
	buf->fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", &buf->fh, mount_id, AT_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/* A directory fd of the mount dir_fd (O_PATH) is on, if handles open there:
 * the capability is checked by opening the directory's own handle. As the
 * daemon, since an op's requester ids drop the capability. -1 otherwise. */
static int open_mount_fd(const struct sgf_passthrough *pt, int dir_fd)
{
	char path[PT_PROC_PATH_MAX];
	union pt_handle_buf buf;
	struct pt_creds_saved saved;
	int mount_id, fd, probe = -1;

	pt_proc_path(path, dir_fd);
	pt_creds_suspend(pt, &saved);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && handle_of(fd, &buf, &mount_id) == 0)
		probe = open_by_handle_at(fd, &buf.fh, O_PATH | O_CLOEXEC);
	pt_creds_resume(pt, &saved);
	if (probe >= 0) {
		close(probe);
		return fd;
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The mount fd for mount id, learning the mount through fd (the object's
 * O_PATH fd) when it is new and a directory; -1 when there is none. */
static int mount_fd_for(struct sgf_passthrough *pt, int id, int fd, mode_t type)
{
	struct pt_mount *m;
	int mfd = -1;

	pthread_mutex_lock(&pt->mount_lock);
	for (m = pt->mounts; m; m = m->next)
		if (m->id == id)
			break;
	/* Only a directory gives a mount fd; a file first seen on a mount
	 * keeps its fd, and a later directory may still settle the mount. */
	if (!m && type == S_IFDIR) {
		m = malloc(sizeof(*m));
		if (m) {
			m->id = id;
			m->fd = open_mount_fd(pt, fd);
			m->next = pt->mounts;
			pt->mounts = m;
		}
	}
	if (m)
		mfd = m->fd;
	pthread_mutex_unlock(&pt->mount_lock);
	return mfd;
}

int pt_mounts_init(struct sgf_passthrough *pt, int root_fd)
{
	union pt_handle_buf buf;
	int mount_id;
	int err = -pthread_mutex_init(&pt->mount_lock, NULL);

	if (err)
		return err;
	pt->mounts = NULL;
	/* Learn the backing directory's mount now: most nodes live on it, and
	 * its first node may well be a file. */
	if (handle_of(root_fd, &buf, &mount_id) == 0)
		mount_fd_for(pt, mount_id, root_fd, S_IFDIR);
	return 0;
}

void pt_mounts_destroy(struct sgf_passthrough *pt)
{
	while (pt->mounts) {
		struct pt_mount *m = pt->mounts;

		pt->mounts = m->next;
		if (m->fd >= 0)
			close(m->fd);
		free(m);
	}
	pthread_mutex_destroy(&pt->mount_lock);
}

struct file_handle *pt_fhandle_make(struct sgf_passthrough *pt, int fd, mode_t type,
				    int *mount_fd)
{
	union pt_handle_buf buf;
	struct file_handle *fh;
	int mount_id;

	/* EOPNOTSUPP (no export support) or EOVERFLOW: keep the fd. */
	if (handle_of(fd, &buf, &mount_id) < 0)
		return NULL;
	*mount_fd = mount_fd_for(pt, mount_id, fd, type);
	if (*mount_fd < 0)
		return NULL;
	fh = malloc(sizeof(*fh) + buf.fh.handle_bytes);
	if (fh)
		memcpy(fh, &buf.fh, sizeof(*fh) + buf.fh.handle_bytes);
	return fh;
}

bool pt_fhandle_equal(const struct file_handle *a, const struct file_handle *b)
{
	return a->handle_type == b->handle_type && a->handle_bytes == b->handle_bytes &&
	       memcmp(a->f_handle, b->f_handle, a->handle_bytes) == 0;
}

int pt_fhandle_open(const struct sgf_passthrough *pt, const struct pt_inode *in)
{
	struct pt_creds_saved saved;
	int fd, err;

	pt_creds_suspend(pt, &saved);
	fd = open_by_handle_at(in->mount_fd, in->handle, O_PATH | O_CLOEXEC);
	err = errno;
	pt_creds_resume(pt, &saved);
	if (fd >= 0)
		return fd;
	/* The object was deleted since we saw it: a path op on it is stale. */
	return err == ENOENT ? -ESTALE : -err;
}
