/* fs/passthrough/pt_handle.c - open files and directories as fh numbers: a
 * number from the requester is looked up, never cast, and a handle released
 * while another op still uses it lives until that op is done. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "pt.h"

#define HANDLE_OF(l) ((struct pt_handle *)((char *)(l) - offsetof(struct pt_handle, link)))

struct pt_handle *pt_handle_new(struct sgf_passthrough *pt, struct pt_inode *in, bool is_dir)
{
	struct pt_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (is_dir && pthread_mutex_init(&h->dir_lock, NULL) != 0) {
		free(h);
		return NULL;
	}
	atomic_init(&h->refs, 1);
	h->is_dir = is_dir;
	h->fd = -1;
	atomic_init(&h->buffered_fd, -1);
	atomic_init(&h->io, PT_IO_UNSET);
	pt_inode_hold(pt, in);
	h->inode = in;
	return h;
}

static void free_handle(struct sgf_passthrough *pt, struct pt_handle *h)
{
	int bfd = atomic_load(&h->buffered_fd);

	if (h->dir)
		closedir(h->dir); /* closes h->fd too */
	else if (h->fd >= 0)
		close(h->fd);
	if (bfd >= 0)
		close(bfd);
	if (h->is_dir)
		pthread_mutex_destroy(&h->dir_lock);
	pt_inode_release(pt, h->inode);
	free(h);
}

uint64_t pt_handle_publish(struct sgf_passthrough *pt, struct pt_handle *h)
{
	uint64_t fh;

	pthread_mutex_lock(&pt->handle_lock);
	fh = pt->next_fh++;
	h->link.id = fh;
	fs_idmap_insert(&pt->handles, &h->link);
	pthread_mutex_unlock(&pt->handle_lock);
	return fh;
}

static struct pt_handle *find(struct sgf_passthrough *pt, uint64_t fh, uint64_t ino, bool is_dir)
{
	struct fs_idlink *l = fs_idmap_find(&pt->handles, fh);
	struct pt_handle *h;

	if (!l)
		return NULL;
	h = HANDLE_OF(l);
	/* A handle of the wrong kind or of another node is no handle here. */
	if (h->is_dir != is_dir || h->inode->by_id.id != ino)
		return NULL;
	return h;
}

struct pt_handle *pt_handle_get(struct sgf_passthrough *pt, uint64_t fh, uint64_t ino,
				bool is_dir)
{
	struct pt_handle *h;

	pthread_mutex_lock(&pt->handle_lock);
	h = find(pt, fh, ino, is_dir);
	if (h)
		atomic_fetch_add(&h->refs, 1);
	pthread_mutex_unlock(&pt->handle_lock);
	return h;
}

/* Lock-free: new refs are only taken under the lock from the table, and
 * the table's own ref goes only after the handle has left it, so the
 * count reaching zero means nobody can find the handle any more. */
void pt_handle_put(struct sgf_passthrough *pt, struct pt_handle *h)
{
	if (atomic_fetch_sub(&h->refs, 1) == 1)
		free_handle(pt, h);
}

int pt_handle_release(struct sgf_passthrough *pt, uint64_t fh, uint64_t ino, bool is_dir)
{
	struct pt_handle *h;

	pthread_mutex_lock(&pt->handle_lock);
	h = find(pt, fh, ino, is_dir);
	if (h)
		fs_idmap_remove(&pt->handles, &h->link);
	pthread_mutex_unlock(&pt->handle_lock);
	if (!h)
		return -EBADF;
	pt_handle_put(pt, h); /* the table's ref */
	return 0;
}

int pt_handles_init(struct sgf_passthrough *pt)
{
	int err = fs_idmap_init(&pt->handles);

	if (err)
		return err;
	err = -pthread_mutex_init(&pt->handle_lock, NULL);
	if (err) {
		fs_idmap_destroy(&pt->handles);
		return err;
	}
	pt->next_fh = 1;
	return 0;
}

static void drain_one(struct fs_idlink *l, void *pt)
{
	free_handle(pt, HANDLE_OF(l));
}

void pt_handles_destroy(struct sgf_passthrough *pt)
{
	fs_idmap_drain(&pt->handles, drain_one, pt);
	fs_idmap_destroy(&pt->handles);
	pthread_mutex_destroy(&pt->handle_lock);
}

int pt_handle_buffered_fd(struct pt_handle *h)
{
	char path[PT_PROC_PATH_MAX];
	int fd = atomic_load(&h->buffered_fd);
	int expected = -1;
	int flags;

	if (fd >= 0)
		return fd;
	flags = fcntl(h->fd, F_GETFL);
	if (flags < 0)
		return -errno;
	/* Same file, same access mode, through the page cache. */
	pt_proc_path(path, h->fd);
	fd = open(path, (flags & (O_ACCMODE | O_DSYNC | O_SYNC | O_NOATIME)) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Two threads may race here; the loser closes its fd and uses the
	 * winner's so the handle keeps exactly one. */
	if (!atomic_compare_exchange_strong(&h->buffered_fd, &expected, fd)) {
		close(fd);
		fd = expected;
	}
	return fd;
}
