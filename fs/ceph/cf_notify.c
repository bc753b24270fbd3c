/* fs/ceph/cf_notify.c - what other Ceph clients change, told to the
 * kernel. libcephfs calls back when the MDS takes away this client's right
 * to cache a file's data (another node writes it, truncates it) or a
 * dentry lease (another node renames or unlinks a name); each session that
 * knows the inode or its directory gets the same invalidation, so its page
 * cache and dcache follow. Attribute changes come with no callback: the
 * attr_timeout bounds how long they may be cached. Callbacks run on
 * libcephfs's own finisher threads, never under its client lock, which is
 * what the kernel's inode locks taken by a notification need; and nothing
 * of ours is locked while one is sent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sgfuse/notify.h>
#include "cf.h"

static struct sgf_session *session_of(struct cf_session *s)
{
	return __atomic_load_n(&s->se, __ATOMIC_ACQUIRE);
}

/* One notification due: to whom, about which of its nodes. */
struct due {
	struct cf_session *s;
	uint64_t nodeid, child;
};

/* The sessions that know ino (and child, when nonzero) as nodes, each
 * held (notifying) so destroy waits for us; *n of them, in a malloc'd
 * array. Sending happens unlocked: a socket peer that stops reading must
 * hold up only its own notifications, not other sessions' or teardown. */
static struct due *collect(struct sgf_ceph *c, uint64_t ino, uint64_t child_ino, size_t *n)
{
	struct due *d = NULL;
	size_t cap = 0;

	*n = 0;
	pthread_mutex_lock(&c->sessions_lock);
	for (struct cf_session *s = c->sessions; s; s = s->next) {
		uint64_t nodeid = cf_node_by_ino(s, ino);

		if (!nodeid || !session_of(s))
			continue;
		if (*n == cap) {
			struct due *more = realloc(d, (cap = cap ? 2 * cap : 4) * sizeof(*d));

			if (!more)
				break; /* the ones we have still go */
			d = more;
		}
		s->notifying++;
		d[(*n)++] = (struct due){ s, nodeid, child_ino ? cf_node_by_ino(s, child_ino) : 0 };
	}
	pthread_mutex_unlock(&c->sessions_lock);
	return d;
}

static void release(struct sgf_ceph *c, struct due *d, size_t n)
{
	pthread_mutex_lock(&c->sessions_lock);
	for (size_t i = 0; i < n; i++)
		if (--d[i].s->notifying == 0)
			pthread_cond_broadcast(&c->notified);
	pthread_mutex_unlock(&c->sessions_lock);
	free(d);
}

static void inode_changed(void *handle, vinodeno_t vino, int64_t off, int64_t len)
{
	struct sgf_ceph *c = handle;
	size_t n;
	struct due *d = collect(c, vino.ino.val, 0, &n);

	for (size_t i = 0; i < n; i++)
		if (sgf_notify_inval_inode(session_of(d[i].s), d[i].nodeid, off, len) == 0)
			atomic_fetch_add(&c->notify_inode, 1);
	release(c, d, n);
}

static void dentry_changed(void *handle, vinodeno_t dirino, vinodeno_t ino, const char *name,
			   size_t len)
{
	struct sgf_ceph *c = handle;
	char buf[SGF_NAME_MAX + 1];
	size_t n;
	struct due *d;

	(void)ino;
	if (len == 0 || len > SGF_NAME_MAX)
		return;
	memcpy(buf, name, len); /* not NUL-terminated */
	buf[len] = '\0';
	/* Only the name is dropped, never the inode marked deleted (the
	 * kernel's notify_delete clears its link count): libcephfs also
	 * reports names it merely stopped caching, which still exist. */
	d = collect(c, dirino.ino.val, 0, &n);
	for (size_t i = 0; i < n; i++)
		if (sgf_notify_inval_entry(session_of(d[i].s), d[i].nodeid, buf) == 0)
			atomic_fetch_add(&c->notify_entry, 1);
	release(c, d, n);
}

static mode_t no_umask(void *handle)
{
	(void)handle;
	return 0; /* modes arrive masked by the requester's umask */
}

void cf_notify_register(struct sgf_ceph *c)
{
	struct ceph_client_callback_args args = {
		.handle = c,
		.ino_cb = inode_changed,
		.dentry_cb = dentry_changed,
		.umask_cb = no_umask,
	};

	ceph_ll_register_callbacks(c->cmount, &args);
}
