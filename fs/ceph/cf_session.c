/* fs/ceph/cf_session.c - one session on the shared client: made before the
 * session starts (fs_new), given its root node at INIT (connecting the
 * client if it is the first), emptied at destroy (every reference the
 * requester held goes back to Ceph), freed after. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cf.h"

void *sgf_ceph_session_new(struct sgf_ceph *c)
{
	struct cf_session *s = calloc(1, sizeof(*s));

	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->c = c;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->jobs_done, NULL);
	return s;
}

int cf_init(void *fs, struct sgf_conn_info *ci)
{
	struct cf_session *s = fs;
	struct sgf_ceph *c = s->c;
	struct ceph_statx stx;
	char msg[256];
	Inode *root = NULL;
	int err = sgf_ceph_connect(c, msg, sizeof(msg));

	if (err) {
		fprintf(stderr, "sgfuse-ceph: %s\n", msg);
		return err;
	}
	/* Nodeids mean nothing outside this run; and a root= mount must not
	 * be left through ".." lookups the export support would send. */
	ci->flags &= ~(uint64_t)FUSE_EXPORT_SUPPORT;
	err = ceph_ll_lookup_root(c->cmount, &root);
	if (err == 0)
		err = ceph_ll_getattr(c->cmount, root, &stx, CEPH_STATX_INO, 0,
				      cf_perm_of(c, 0, 0));
	if (err == 0 && fs_idmap_init(&s->handles))
		err = -ENOMEM;
	if (err == 0) {
		err = cf_nodes_init(s, root, stx.stx_ino);
		if (err)
			fs_idmap_destroy(&s->handles);
	}
	if (err) {
		fprintf(stderr, "sgfuse-ceph: cannot look up the root: %s\n", strerror(-err));
		if (root)
			ceph_ll_put(c->cmount, root);
		return err;
	}
	s->next_fh = 1;
	pthread_mutex_lock(&c->sessions_lock);
	s->next = c->sessions;
	c->sessions = s;
	pthread_mutex_unlock(&c->sessions_lock);
	return 0;
}

void cf_destroy(void *fs)
{
	struct cf_session *s = fs;
	struct sgf_ceph *c = s->c;

	if (!s->root)
		return; /* init never ran, or failed */
	/* Backend threads may still be filling buffers of requests the
	 * library answered EIO when the session ended. */
	cf_pool_wait_session(s);
	pthread_mutex_lock(&c->sessions_lock);
	for (struct cf_session **pp = &c->sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	while (s->notifying)
		pthread_cond_wait(&c->notified, &c->sessions_lock);
	pthread_mutex_unlock(&c->sessions_lock);
	cf_handles_drain(s);
	cf_nodes_drain(s);
	s->root = NULL;
}

void sgf_ceph_session_free(void *session_fs)
{
	struct cf_session *s = session_fs;

	if (!s)
		return;
	cf_destroy(s); /* in case destroy was never called */
	pthread_cond_destroy(&s->jobs_done);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
