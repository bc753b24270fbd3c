/* fs/ceph/cf_handle.c - open files and directories as fh numbers: a number
 * from the requester is looked up, never cast, and must belong to the node
 * the request names; a handle released while a data op still uses it is
 * closed in Ceph when that op is done. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include "cf.h"

#define HANDLE_OF(l) ((struct cf_handle *)((char *)(l) - offsetof(struct cf_handle, link)))

uint64_t cf_handle_publish(struct cf_session *s, struct cf_node *node, Fh *fh,
			   struct ceph_dir_result *dir)
{
	struct cf_handle *h = calloc(1, sizeof(*h));
	uint64_t id;

	if (!h || (dir && pthread_mutex_init(&h->dir_lock, NULL) != 0)) {
		free(h);
		return 0;
	}
	h->fh = fh;
	h->dir = dir;
	h->refs = 1; /* the requester's, until RELEASE */
	pthread_mutex_lock(&s->lock);
	node->refs++;
	h->node = node;
	h->link.id = id = s->next_fh++;
	fs_idmap_insert(&s->handles, &h->link);
	pthread_mutex_unlock(&s->lock);
	return id;
}

struct cf_handle *cf_handle_get(struct cf_session *s, uint64_t fh, uint64_t nodeid, bool dir)
{
	struct fs_idlink *l;
	struct cf_handle *h = NULL;

	pthread_mutex_lock(&s->lock);
	l = fs_idmap_find(&s->handles, fh);
	if (l) {
		h = HANDLE_OF(l);
		/* Of another node, or the wrong kind: no handle here. */
		if (h->node->by_id.id != nodeid || (h->dir != NULL) != dir)
			h = NULL;
		else
			h->refs++;
	}
	pthread_mutex_unlock(&s->lock);
	return h;
}

static void close_handle(struct cf_session *s, struct cf_handle *h)
{
	struct ceph_mount_info *cm = s->c->cmount;

	if (h->dir) {
		ceph_ll_releasedir(cm, h->dir);
		pthread_mutex_destroy(&h->dir_lock);
	} else {
		ceph_ll_close(cm, h->fh);
	}
	cf_node_put(s, h->node);
	free(h);
}

void cf_handle_put(struct cf_session *s, struct cf_handle *h)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last)
		close_handle(s, h);
}

int cf_handle_release(struct cf_session *s, uint64_t fh, uint64_t nodeid, bool dir)
{
	struct cf_handle *h = cf_handle_get(s, fh, nodeid, dir);

	if (!h)
		return -EBADF;
	pthread_mutex_lock(&s->lock);
	if (h->released) { /* a second RELEASE of one fh */
		pthread_mutex_unlock(&s->lock);
		cf_handle_put(s, h);
		return -EBADF;
	}
	h->released = true;
	fs_idmap_remove(&s->handles, &h->link);
	h->refs--; /* the requester's; ours below may be the last */
	pthread_mutex_unlock(&s->lock);
	cf_handle_put(s, h);
	return 0;
}

static void drop_handle(struct fs_idlink *l, void *arg)
{
	close_handle(arg, HANDLE_OF(l));
}

void cf_handles_drain(struct cf_session *s)
{
	fs_idmap_drain(&s->handles, drop_handle, s);
	fs_idmap_destroy(&s->handles);
}
