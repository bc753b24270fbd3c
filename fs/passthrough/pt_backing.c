/* fs/passthrough/pt_backing.c - FUSE passthrough: each node's one backing
 * file, registered with the kernel at its first passed-through open and
 * closed at the last release, and the choice per open between it and
 * requests. The kernel's rules decide the shape: one backing file per inode
 * at a time, and no mixing of passed-through opens with opens served by
 * requests on one inode. The kernel opens the backing file anew for each
 * open it serves, with that open's flags and the registering daemon's
 * credentials, so the registered file's own mode does not matter: it is
 * opened read-only (no write count on the file, so running it stays
 * possible and watchers see no write), and every later open shares it. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "pt.h"

static int reopen(const struct pt_handle *h, int flags)
{
	char path[PT_PROC_PATH_MAX];
	int fd;

	pt_proc_path(path, h->fd);
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Open the file behind h->fd as the node's backing file and register it,
 * as the daemon (the requester's access was checked when h->fd was
 * opened): read-only, or in this first open's mode where the daemon may not
 * read it. The id (*fd set), or 0 with *why and *err. */
static int register_shared(const struct sgf_req *r, const struct pt_handle *h, int flags,
			   int *fd, const char **why, int *err)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_creds_saved saved;
	int id = 0;

	/* Without CAP_SYS_ADMIN every registration fails alike: ask once. */
	if (pt->backing_denied) {
		*why = "the kernel refuses this daemon backing files (no CAP_SYS_ADMIN)";
		*err = -EPERM;
		return 0;
	}
	pt_creds_suspend(pt, &saved);
	*fd = reopen(h, O_RDONLY);
	if (*fd < 0 && (flags & O_ACCMODE) != O_RDONLY)
		*fd = reopen(h, flags & O_ACCMODE);
	if (*fd < 0) {
		*why = "opening the shared backing file";
		*err = *fd;
	} else {
		id = sgf_backing_open(r, *fd); /* its failure is noted by the library */
		if (id < 0) {
			pt->backing_denied = id == -EPERM;
			close(*fd);
			id = 0;
		}
	}
	pt_creds_resume(pt, &saved);
	return id;
}

/* Under backing_lock: the id this open may use (> 0), or 0 with *why (and
 * *err) saying why it is served by requests. A fresh registration is stored
 * in node. */
static int choose(const struct sgf_req *r, struct sgf_passthrough *pt, struct pt_inode *node,
		  const struct pt_handle *h, int flags, bool direct, const char **why, int *err)
{
	int fd, id;

	*why = NULL;
	*err = 0;
	/* The kernel fails (EIO) an open served by requests of an inode that
	 * has a backing file: every open shares it. */
	if (node->backing_id)
		return node->backing_id;
	if (flags & O_DIRECT) {
		/* The kernel hands the caller's O_DIRECT to the backing file. */
		if (pt->backing_direct == SGF_BACKING_DIRECT_OFF) {
			*why = "backing_direct=off keeps O_DIRECT off the backing file";
			return 0;
		}
		if (!direct) {
			*why = "the backing filesystem refuses O_DIRECT";
			return 0;
		}
	}
	/* ... and refuses a backing file to an inode open that way. */
	if (node->request_opens) {
		*why = "the file is open without passthrough already";
		return 0;
	}
	id = register_shared(r, h, flags, &fd, why, err);
	if (id == 0)
		return 0;
	node->backing_id = id;
	node->backing_fd = fd;
	return id;
}

void pt_backing_attach(const struct sgf_req *r, struct pt_inode *node, struct pt_handle *h,
		       int flags, bool direct, struct fuse_open_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	const char *why;
	int err, id;

	if (!pt->passthrough)
		return;
	pthread_mutex_lock(&pt->backing_lock);
	id = choose(r, pt, node, h, flags, direct, &why, &err);
	if (id > 0)
		node->backing_users++;
	else
		node->request_opens++;
	atomic_store(&h->io, id > 0 ? PT_IO_BACKING : PT_IO_REQUESTS);
	pthread_mutex_unlock(&pt->backing_lock);
	if (id > 0) {
		/* FOPEN_DIRECT_IO would send READ and WRITE to us again; the
		 * caller's O_DIRECT reaches the backing file without it. */
		out->open_flags &= ~(uint32_t)(FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES);
		sgf_open_set_backing(out, id);
	} else if (why) {
		sgf_backing_fallback(r, why, err);
	}
}

void pt_backing_detach(const struct sgf_req *r, struct pt_handle *h)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *node = h->inode;
	/* Once only, whatever a confused requester releases twice. */
	int io = atomic_exchange(&h->io, PT_IO_UNSET);
	int id = 0, fd = -1;

	if (io == PT_IO_UNSET)
		return;
	pthread_mutex_lock(&pt->backing_lock);
	if (io == PT_IO_REQUESTS) {
		node->request_opens--;
	} else if (--node->backing_users == 0) {
		/* The kernel sends RELEASE after the file let go of its
		 * backing file, so no open can still be on its way with id. */
		id = node->backing_id;
		fd = node->backing_fd;
		node->backing_id = 0;
		node->backing_fd = -1;
	}
	pthread_mutex_unlock(&pt->backing_lock);
	if (id > 0) {
		sgf_backing_close(r, id);
		close(fd);
	}
}
