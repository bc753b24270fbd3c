/* fs/passthrough/pt_inode.c - the node table: nodeids the requester holds,
 * mapped to O_PATH fds of backing objects and keyed also by (st_dev, st_ino)
 * so one object always has one nodeid. Nodeids are never reused, so a
 * forgotten one is simply not found. */
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
	err = pt_idmap_init(&pt->inodes_by_id);
	if (err)
		goto out_root;
	err = pt_idmap_init(&pt->inodes_by_key);
	if (err)
		goto out_ids;
	err = -pthread_mutex_init(&pt->inode_lock, NULL);
	if (err)
		goto out_keys;
	root->by_id.id = FUSE_ROOT_ID;
	root->by_key.id = key_of(st->st_dev, st->st_ino);
	root->dev = st->st_dev;
	root->ino = st->st_ino;
	root->type = st->st_mode & S_IFMT;
	root->fd = root_fd;
	root->backing_fd = -1;
	/* The table's ref is never dropped: the root outlives every forget. */
	root->refs = 1;
	pt_idmap_insert(&pt->inodes_by_id, &root->by_id);
	pt_idmap_insert(&pt->inodes_by_key, &root->by_key);
	pt->root = root;
	pt->next_nodeid = FUSE_ROOT_ID + 1;
	return 0;

out_keys:
	pt_idmap_destroy(&pt->inodes_by_key);
out_ids:
	pt_idmap_destroy(&pt->inodes_by_id);
out_root:
	free(root);
	return err;
}

static void drain_one(struct pt_idlink *l, void *arg)
{
	(void)arg;
	free_inode(INODE_OF_ID(l));
}

/* Teardown: no op runs any more, so every node goes whatever its counts. */
void pt_inodes_destroy(struct sgf_passthrough *pt)
{
	pt_idmap_drain(&pt->inodes_by_id, drain_one, NULL);
	pt_idmap_destroy(&pt->inodes_by_id);
	pt_idmap_destroy(&pt->inodes_by_key);
	pthread_mutex_destroy(&pt->inode_lock);
	pt->root = NULL;
}

struct pt_inode *pt_inode_get(struct sgf_passthrough *pt, uint64_t nodeid)
{
	struct pt_idlink *l;
	struct pt_inode *in = NULL;

	pthread_mutex_lock(&pt->inode_lock);
	l = pt_idmap_find(&pt->inodes_by_id, nodeid);
	if (l) {
		in = INODE_OF_ID(l);
		in->refs++;
	}
	pthread_mutex_unlock(&pt->inode_lock);
	return in;
}

void pt_inode_ref(struct sgf_passthrough *pt, struct pt_inode *in)
{
	pthread_mutex_lock(&pt->inode_lock);
	in->refs++;
	pthread_mutex_unlock(&pt->inode_lock);
}

void pt_inode_put(struct sgf_passthrough *pt, struct pt_inode *in)
{
	bool last;

	pthread_mutex_lock(&pt->inode_lock);
	last = --in->refs == 0;
	pthread_mutex_unlock(&pt->inode_lock);
	/* refs reached zero only after the table let go, so nothing can find
	 * the node any more: closing outside the lock is safe. */
	if (last)
		free_inode(in);
}

static struct pt_inode *find_key(struct sgf_passthrough *pt, dev_t dev, ino_t ino)
{
	uint64_t key = key_of(dev, ino);

	for (struct pt_idlink *l = pt_idmap_chain(&pt->inodes_by_key, key); l; l = l->next) {
		struct pt_inode *in = INODE_OF_KEY(l);

		if (l->id == key && in->dev == dev && in->ino == ino)
			return in;
	}
	return NULL;
}

uint64_t pt_inode_learn(struct sgf_passthrough *pt, int fd, const struct stat *st)
{
	/* Allocated before locking so the lock never waits on malloc; freed
	 * unused when the object is already known. */
	struct pt_inode *fresh = calloc(1, sizeof(*fresh));
	struct pt_inode *in;
	uint64_t nodeid;

	pthread_mutex_lock(&pt->inode_lock);
	in = find_key(pt, st->st_dev, st->st_ino);
	if (in) {
		in->nlookup++;
		nodeid = in->by_id.id;
	} else if (fresh) {
		fresh->by_id.id = pt->next_nodeid++;
		fresh->by_key.id = key_of(st->st_dev, st->st_ino);
		fresh->dev = st->st_dev;
		fresh->ino = st->st_ino;
		fresh->type = st->st_mode & S_IFMT;
		fresh->fd = fd;
		fresh->backing_fd = -1;
		fresh->nlookup = 1;
		fresh->refs = 1;
		pt_idmap_insert(&pt->inodes_by_id, &fresh->by_id);
		pt_idmap_insert(&pt->inodes_by_key, &fresh->by_key);
		nodeid = fresh->by_id.id;
		fresh = NULL;
		fd = -1;
	} else {
		nodeid = 0;
	}
	pthread_mutex_unlock(&pt->inode_lock);
	free(fresh);
	if (fd >= 0)
		close(fd);
	return nodeid;
}

void pt_inode_forget(struct sgf_passthrough *pt, uint64_t nodeid, uint64_t n)
{
	struct pt_idlink *l;
	struct pt_inode *in;
	bool last = false;

	pthread_mutex_lock(&pt->inode_lock);
	l = pt_idmap_find(&pt->inodes_by_id, nodeid);
	if (!l) {
		/* A forget for a node already gone: nothing is owed. */
		pthread_mutex_unlock(&pt->inode_lock);
		return;
	}
	in = INODE_OF_ID(l);
	in->nlookup = n >= in->nlookup ? 0 : in->nlookup - n;
	if (in->nlookup == 0 && in != pt->root) {
		pt_idmap_remove(&pt->inodes_by_id, &in->by_id);
		pt_idmap_remove(&pt->inodes_by_key, &in->by_key);
		last = --in->refs == 0;
	}
	pthread_mutex_unlock(&pt->inode_lock);
	if (last)
		free_inode(in);
}
