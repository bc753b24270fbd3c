/* fs/passthrough/pt_inode.c - the node table: nodeids the requester holds,
 * mapped to backing objects and keyed also by (st_dev, st_ino) so one object
 * always has one nodeid. Nodeids are never reused, so a forgotten one is
 * simply not found. An op pins the node it works on, which keeps its O_PATH
 * fd open (reopened by file handle if the fd cache had let it go). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include "pt.h"

#define INODE_OF_ID(l) ((struct pt_inode *)((char *)(l) - offsetof(struct pt_inode, by_id)))
#define INODE_OF_KEY(l) ((struct pt_inode *)((char *)(l) - offsetof(struct pt_inode, by_key)))

static uint64_t key_of(dev_t dev, ino_t ino)
{
	return ((uint64_t)dev * 0xC2B2AE3D27D4EB4Full) ^ (uint64_t)ino;
}

static void free_inode(struct pt_inode *in)
{
	if (in->fd >= 0)
		close(in->fd);
	free(in->handle);
	/* Only at teardown: a release closes it otherwise. */
	if (in->backing_fd >= 0)
		close(in->backing_fd);
	free(in);
}

int pt_inodes_init(struct sgf_passthrough *pt, int root_fd, const struct stat *st)
{
	struct pt_inode *root = calloc(1, sizeof(*root));
	int err;

	if (!root)
		return -ENOMEM;
	err = fs_idmap_init(&pt->inodes_by_id);
	if (err)
		goto out_root;
	err = fs_idmap_init(&pt->inodes_by_key);
	if (err)
		goto out_ids;
	err = -pthread_mutex_init(&pt->inode_lock, NULL);
	if (err)
		goto out_keys;
	err = pt_mounts_init(pt, root_fd);
	if (err)
		goto out_lock;
	pt_fdcache_init(pt);
	root->by_id.id = FUSE_ROOT_ID;
	root->by_key.id = key_of(st->st_dev, st->st_ino);
	root->dev = st->st_dev;
	root->ino = st->st_ino;
	root->keyed = true;
	root->type = st->st_mode & S_IFMT;
	/* No handle: the root's fd is held for life. */
	root->fd = root_fd;
	root->backing_fd = -1;
	/* The table's ref is never dropped: the root outlives every forget. */
	root->refs = 1;
	fs_idmap_insert(&pt->inodes_by_id, &root->by_id);
	fs_idmap_insert(&pt->inodes_by_key, &root->by_key);
	pt->root = root;
	pt->next_nodeid = FUSE_ROOT_ID + 1;
	return 0;

out_lock:
	pthread_mutex_destroy(&pt->inode_lock);
out_keys:
	fs_idmap_destroy(&pt->inodes_by_key);
out_ids:
	fs_idmap_destroy(&pt->inodes_by_id);
out_root:
	free(root);
	return err;
}

static void drain_one(struct fs_idlink *l, void *arg)
{
	(void)arg;
	free_inode(INODE_OF_ID(l));
}

/* Teardown: no op runs any more, so every node goes whatever its counts. */
void pt_inodes_destroy(struct sgf_passthrough *pt)
{
	fs_idmap_drain(&pt->inodes_by_id, drain_one, NULL);
	fs_idmap_destroy(&pt->inodes_by_id);
	fs_idmap_destroy(&pt->inodes_by_key);
	/* After the nodes: they borrow the mount fds. */
	pt_mounts_destroy(pt);
	pthread_mutex_destroy(&pt->inode_lock);
	pt->root = NULL;
}

/* Unlock, then close the fds the cache let go (fds[n]). */
static void unlock_closing(struct sgf_passthrough *pt, const int *fds, size_t n)
{
	pthread_mutex_unlock(&pt->inode_lock);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* in is pinned and was found without an fd: open it again by handle. */
static int reopen(struct sgf_passthrough *pt, struct pt_inode *in)
{
	int fd = in->handle ? pt_fhandle_open(pt, in) : -ESTALE;
	int fds[PT_FDCACHE_BATCH + 1];
	size_t n = 0;
	int err = 0;

	pthread_mutex_lock(&pt->inode_lock);
	if (in->fd >= 0) {
		/* Another op reopened it meanwhile. */
		if (fd >= 0)
			fds[n++] = fd;
	} else if (fd >= 0) {
		in->fd = fd;
		pt_fdcache_opened(pt, in);
		n = pt_fdcache_trim(pt, fds, PT_FDCACHE_BATCH);
	} else {
		err = fd;
	}
	unlock_closing(pt, fds, n);
	return err;
}

/* Take a pin under the lock; true when the fd is open already. */
static bool pin_locked(struct sgf_passthrough *pt, struct pt_inode *in)
{
	in->refs++;
	pt_fdcache_pin(pt, in);
	return in->fd >= 0;
}

struct pt_inode *pt_inode_get(struct sgf_passthrough *pt, uint64_t nodeid)
{
	struct fs_idlink *l;
	struct pt_inode *in = NULL;
	bool open = false;

	pthread_mutex_lock(&pt->inode_lock);
	l = fs_idmap_find(&pt->inodes_by_id, nodeid);
	if (l) {
		in = INODE_OF_ID(l);
		open = pin_locked(pt, in);
	}
	pthread_mutex_unlock(&pt->inode_lock);
	if (!in || open || reopen(pt, in) == 0)
		return in;
	pt_inode_put(pt, in);
	return NULL;
}

int pt_inode_pin(struct sgf_passthrough *pt, struct pt_inode *in)
{
	bool open;
	int err;

	pthread_mutex_lock(&pt->inode_lock);
	open = pin_locked(pt, in);
	pthread_mutex_unlock(&pt->inode_lock);
	if (open)
		return 0;
	err = reopen(pt, in);
	if (err) {
		pt_inode_unpin(pt, in);
		return -ESTALE;
	}
	return 0;
}

void pt_inode_hold(struct sgf_passthrough *pt, struct pt_inode *in)
{
	pthread_mutex_lock(&pt->inode_lock);
	in->refs++;
	pthread_mutex_unlock(&pt->inode_lock);
}

/* Drop one ref (and the pin it came with, if pinned); frees the node if it
 * was the last. */
static void drop(struct sgf_passthrough *pt, struct pt_inode *in, bool pinned)
{
	int fds[PT_FDCACHE_BATCH];
	size_t n;
	bool last;

	pthread_mutex_lock(&pt->inode_lock);
	if (pinned)
		pt_fdcache_unpin(pt, in);
	last = --in->refs == 0;
	/* refs reached zero only after the table let go, so nothing can find
	 * the node any more: freeing it outside the lock is safe. */
	if (last)
		pt_fdcache_leave(pt, in);
	n = pt_fdcache_trim(pt, fds, PT_FDCACHE_BATCH);
	unlock_closing(pt, fds, n);
	if (last)
		free_inode(in);
}

void pt_inode_put(struct sgf_passthrough *pt, struct pt_inode *in)
{
	drop(pt, in, true);
}

void pt_inode_unpin(struct sgf_passthrough *pt, struct pt_inode *in)
{
	drop(pt, in, true);
}

void pt_inode_release(struct sgf_passthrough *pt, struct pt_inode *in)
{
	drop(pt, in, false);
}

static struct pt_inode *find_key(struct sgf_passthrough *pt, dev_t dev, ino_t ino)
{
	uint64_t key = key_of(dev, ino);

	for (struct fs_idlink *l = fs_idmap_chain(&pt->inodes_by_key, key); l; l = l->next) {
		struct pt_inode *in = INODE_OF_KEY(l);

		if (l->id == key && in->dev == dev && in->ino == ino)
			return in;
	}
	return NULL;
}

/* One more lookup of a known node; true if it took fd (it had none). */
static bool relearn_locked(struct sgf_passthrough *pt, struct pt_inode *in, int fd)
{
	in->nlookup++;
	if (in->fd >= 0 || !in->handle)
		return false;
	/* Its fd was let go: the fresh one saves a reopen. */
	in->fd = fd;
	pt_fdcache_opened(pt, in);
	return true;
}

/* Is the node known by (dev, ino) the object whose handle is fh? While its
 * fd is open it is: the fd keeps the inode, and so its number. Once the fd
 * was let go, the object may have been deleted and its number given to a
 * new one, told apart by the handle (which carries the generation). */
static bool same_object(const struct pt_inode *in, const struct file_handle *fh)
{
	if (in->fd >= 0)
		return true;
	return fh && pt_fhandle_equal(fh, in->handle);
}

uint64_t pt_inode_learn(struct sgf_passthrough *pt, int fd, const struct stat *st)
{
	struct pt_inode *in, *fresh;
	int fds[PT_FDCACHE_BATCH];
	size_t n;
	uint64_t nodeid = 0;

	pthread_mutex_lock(&pt->inode_lock);
	in = find_key(pt, st->st_dev, st->st_ino);
	if (in && in->fd >= 0) {
		in->nlookup++;
		nodeid = in->by_id.id;
	}
	pthread_mutex_unlock(&pt->inode_lock);
	if (nodeid) {
		close(fd);
		return nodeid;
	}

	/* New to us, or known without an fd: made outside the lock, so it
	 * never waits on malloc or on the handle syscalls. */
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh) {
		close(fd);
		return 0;
	}
	/* An inode without a name (an O_TMPFILE not linked yet, a file
	 * unlinked meanwhile) cannot be opened by handle again: its fd is
	 * held for life, so a later LINK still finds it. */
	if (st->st_nlink > 0)
		fresh->handle = pt_fhandle_make(pt, fd, st->st_mode & S_IFMT, &fresh->mount_fd);
	fresh->dev = st->st_dev;
	fresh->ino = st->st_ino;
	fresh->type = st->st_mode & S_IFMT;
	fresh->backing_fd = -1;

	pthread_mutex_lock(&pt->inode_lock);
	in = find_key(pt, st->st_dev, st->st_ino);
	if (in && same_object(in, fresh->handle)) {
		if (relearn_locked(pt, in, fd))
			fd = -1;
		nodeid = in->by_id.id;
	} else {
		if (in) {
			/* Its number was reused: the old node keeps its nodeid
			 * (stale from now on) until the requester forgets it,
			 * and no longer answers for the key. */
			fs_idmap_remove(&pt->inodes_by_key, &in->by_key);
			in->keyed = false;
		}
		fresh->by_id.id = pt->next_nodeid++;
		fresh->by_key.id = key_of(st->st_dev, st->st_ino);
		fresh->keyed = true;
		fresh->fd = fd;
		fresh->nlookup = 1;
		fresh->refs = 1;
		fs_idmap_insert(&pt->inodes_by_id, &fresh->by_id);
		fs_idmap_insert(&pt->inodes_by_key, &fresh->by_key);
		if (fresh->handle)
			pt_fdcache_opened(pt, fresh);
		nodeid = fresh->by_id.id;
		fresh = NULL;
		fd = -1;
	}
	n = pt_fdcache_trim(pt, fds, PT_FDCACHE_BATCH);
	unlock_closing(pt, fds, n);
	if (fresh) {
		fresh->fd = -1;
		free_inode(fresh);
	}
	if (fd >= 0)
		close(fd);
	return nodeid;
}

void pt_inode_forget(struct sgf_passthrough *pt, uint64_t nodeid, uint64_t n)
{
	struct fs_idlink *l;
	struct pt_inode *in;
	bool last = false;

	pthread_mutex_lock(&pt->inode_lock);
	l = fs_idmap_find(&pt->inodes_by_id, nodeid);
	if (!l) {
		/* A forget for a node already gone: nothing is owed. */
		pthread_mutex_unlock(&pt->inode_lock);
		return;
	}
	in = INODE_OF_ID(l);
	in->nlookup = n >= in->nlookup ? 0 : in->nlookup - n;
	if (in->nlookup == 0 && in != pt->root) {
		fs_idmap_remove(&pt->inodes_by_id, &in->by_id);
		if (in->keyed)
			fs_idmap_remove(&pt->inodes_by_key, &in->by_key);
		last = --in->refs == 0;
		if (last)
			pt_fdcache_leave(pt, in);
	}
	pthread_mutex_unlock(&pt->inode_lock);
	if (last)
		free_inode(in);
}
