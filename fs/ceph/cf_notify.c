/* fs/ceph/cf_notify.c - what other Ceph clients change, told to the
 * kernel. libcephfs calls back when the MDS takes away this client's right
 * to cache a file's data (another node writes it, truncates it) or a
 * dentry lease (another node renames or unlinks a name); each session that
 * knows the inode or its directory gets the same invalidation, so its page
 * cache and dcache follow. Attribute changes come with no callback: the
 * attr_timeout bounds how long they may be cached. Callbacks run on
 * libcephfs's own finisher threads, never under its client lock, which is
 * what the kernel's inode locks taken by a notification need. */
#include <errno.h>
#include <string.h>
#include <sgfuse/notify.h>
#include "cf.h"

static struct sgf_session *session_of(struct cf_session *s)
{
	return __atomic_load_n(&s->se, __ATOMIC_ACQUIRE);
}

static void inode_changed(void *handle, vinodeno_t vino, int64_t off, int64_t len)
{
	struct sgf_ceph *c = handle;

	/* The sessions lock keeps each session's struct and requester
	 * connection alive while we notify (destroy unlinks first). */
	pthread_mutex_lock(&c->sessions_lock);
	for (struct cf_session *s = c->sessions; s; s = s->next) {
		uint64_t nodeid = cf_node_by_ino(s, vino.ino.val);

		if (nodeid && session_of(s) &&
		    sgf_notify_inval_inode(session_of(s), nodeid, off, len) == 0)
			atomic_fetch_add(&c->notify_inode, 1);
	}
	pthread_mutex_unlock(&c->sessions_lock);
}

static void dentry_changed(void *handle, vinodeno_t dirino, vinodeno_t ino, const char *name,
			   size_t len)
{
	struct sgf_ceph *c = handle;
	char buf[SGF_NAME_MAX + 1];

	if (len == 0 || len > SGF_NAME_MAX)
		return;
	memcpy(buf, name, len); /* not NUL-terminated */
	buf[len] = '\0';
	pthread_mutex_lock(&c->sessions_lock);
	for (struct cf_session *s = c->sessions; s; s = s->next) {
		uint64_t parent = cf_node_by_ino(s, dirino.ino.val);
		uint64_t child = ino.ino.val ? cf_node_by_ino(s, ino.ino.val) : 0;
		int err;

		if (!parent || !session_of(s))
			continue;
		/* With the child known, the kernel also drops a directory's
		 * dentry that is in use (a cwd), as for a local rmdir. */
		err = child ? sgf_notify_delete(session_of(s), parent, child, buf)
			    : sgf_notify_inval_entry(session_of(s), parent, buf);
		if (err == 0)
			atomic_fetch_add(&c->notify_entry, 1);
	}
	pthread_mutex_unlock(&c->sessions_lock);
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
