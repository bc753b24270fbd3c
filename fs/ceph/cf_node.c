/* fs/ceph/cf_node.c - a session's nodes: nodeids handed to the requester
 * for Ceph Inodes, with the requester's lookup count kept exactly. A node
 * owns one Ceph reference whatever that count, so each further reference a
 * Ceph call returns for a known Inode goes straight back (ceph_ll_put),
 * and the node's own goes back once the last FORGET came and no op or
 * open handle uses it. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include "cf.h"

#define NODE_OF(l, field) ((struct cf_node *)((char *)(l) - offsetof(struct cf_node, field)))

static uint64_t ptr_key(const Inode *in)
{
	return (uint64_t)(uintptr_t)in;
}

struct cf_node *cf_node_get(struct cf_session *s, uint64_t nodeid)
{
	struct fs_idlink *l;
	struct cf_node *n = NULL;

	pthread_mutex_lock(&s->lock);
	l = fs_idmap_find(&s->nodes, nodeid);
	if (l) {
		n = NODE_OF(l, by_id);
		n->refs++;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Out of every table; the caller frees it once unlocked. */
static void unlink_node(struct cf_session *s, struct cf_node *n)
{
	fs_idmap_remove(&s->nodes, &n->by_id);
	fs_idmap_remove(&s->by_ptr, &n->by_ptr);
	if (fs_idmap_find(&s->by_ino, n->ino) == &n->by_ino)
		fs_idmap_remove(&s->by_ino, &n->by_ino);
}

static void free_node(struct cf_session *s, struct cf_node *n)
{
	ceph_ll_put(s->c->cmount, n->in);
	free(n);
}

void cf_node_put(struct cf_session *s, struct cf_node *n)
{
	bool gone;

	if (!n)
		return;
	pthread_mutex_lock(&s->lock);
	gone = --n->refs == 0 && n->nlookup == 0;
	if (gone)
		unlink_node(s, n);
	pthread_mutex_unlock(&s->lock);
	if (gone)
		free_node(s, n);
}

static struct cf_node *find_ptr(struct cf_session *s, Inode *in)
{
	uint64_t key = ptr_key(in);

	for (struct fs_idlink *l = fs_idmap_chain(&s->by_ptr, key); l; l = l->next)
		if (l->id == key)
			return NODE_OF(l, by_ptr);
	return NULL;
}

uint64_t cf_node_learn(struct cf_session *s, const struct sgf_req *r, Inode *in,
		       uint64_t ino)
{
	struct cf_node *n, *fresh = NULL;
	uint64_t nodeid;

	/* The session to notify is the one asking; it never changes. */
	if (r && !__atomic_load_n(&s->se, __ATOMIC_ACQUIRE))
		__atomic_store_n(&s->se, r->session, __ATOMIC_RELEASE);
	pthread_mutex_lock(&s->lock);
	n = find_ptr(s, in);
	if (!n) {
		pthread_mutex_unlock(&s->lock);
		fresh = calloc(1, sizeof(*fresh));
		if (!fresh) {
			ceph_ll_put(s->c->cmount, in);
			return 0;
		}
		pthread_mutex_lock(&s->lock);
		n = find_ptr(s, in); /* another op may have learned it meanwhile */
	}
	if (n) {
		n->nlookup++;
		nodeid = n->by_id.id;
		pthread_mutex_unlock(&s->lock);
		free(fresh);
		ceph_ll_put(s->c->cmount, in); /* the node holds one already */
		return nodeid;
	}
	n = fresh;
	n->in = in;
	n->ino = ino;
	n->nlookup = 1;
	n->by_id.id = nodeid = s->next_nodeid++;
	n->by_ptr.id = ptr_key(in);
	n->by_ino.id = ino;
	fs_idmap_insert(&s->nodes, &n->by_id);
	fs_idmap_insert(&s->by_ptr, &n->by_ptr);
	/* A snapshot's inode shares its number with the live one: the first
	 * node of a number is the one invalidations go to (snapshots never
	 * change, so a live inode's invalidation reaching one does no harm). */
	if (!fs_idmap_find(&s->by_ino, ino))
		fs_idmap_insert(&s->by_ino, &n->by_ino);
	pthread_mutex_unlock(&s->lock);
	return nodeid;
}

void cf_node_forget(struct cf_session *s, uint64_t nodeid, uint64_t nlookup)
{
	struct fs_idlink *l;
	struct cf_node *n;
	bool gone = false;

	if (nodeid == FUSE_ROOT_ID)
		return; /* never looked up, never forgotten */
	pthread_mutex_lock(&s->lock);
	l = fs_idmap_find(&s->nodes, nodeid);
	if (l) {
		n = NODE_OF(l, by_id);
		/* A requester that forgets more than it got ends at zero. */
		n->nlookup = nlookup >= n->nlookup ? 0 : n->nlookup - nlookup;
		gone = n->nlookup == 0 && n->refs == 0;
		if (gone)
			unlink_node(s, n);
	}
	pthread_mutex_unlock(&s->lock);
	if (gone)
		free_node(s, n);
}

uint64_t cf_node_by_ino(struct cf_session *s, uint64_t ino)
{
	struct fs_idlink *l;
	uint64_t nodeid = 0;

	pthread_mutex_lock(&s->lock);
	l = fs_idmap_find(&s->by_ino, ino);
	if (l)
		nodeid = NODE_OF(l, by_ino)->by_id.id;
	pthread_mutex_unlock(&s->lock);
	return nodeid;
}

int cf_nodes_init(struct cf_session *s, Inode *root, uint64_t root_ino)
{
	struct cf_node *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	if (fs_idmap_init(&s->nodes) || fs_idmap_init(&s->by_ino) || fs_idmap_init(&s->by_ptr)) {
		fs_idmap_destroy(&s->nodes), fs_idmap_destroy(&s->by_ino);
		free(n);
		return -ENOMEM;
	}
	n->in = root;
	n->ino = root_ino;
	n->nlookup = 1; /* the requester's implicit, never-forgotten one */
	n->by_id.id = FUSE_ROOT_ID;
	n->by_ptr.id = ptr_key(root);
	n->by_ino.id = root_ino;
	fs_idmap_insert(&s->nodes, &n->by_id);
	fs_idmap_insert(&s->by_ptr, &n->by_ptr);
	fs_idmap_insert(&s->by_ino, &n->by_ino);
	s->root = n;
	s->next_nodeid = FUSE_ROOT_ID + 1;
	return 0;
}

static void drop_node(struct fs_idlink *l, void *arg)
{
	free_node(arg, NODE_OF(l, by_id));
}

void cf_nodes_drain(struct cf_session *s)
{
	/* Only the nodeid map owns; empty the others first. */
	fs_idmap_drain(&s->by_ino, NULL, NULL);
	fs_idmap_drain(&s->by_ptr, NULL, NULL);
	fs_idmap_drain(&s->nodes, drop_node, s);
	fs_idmap_destroy(&s->nodes);
	fs_idmap_destroy(&s->by_ino);
	fs_idmap_destroy(&s->by_ptr);
}
