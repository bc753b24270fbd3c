/* fs/ceph/cf_perm.c - the requester's credentials as Ceph takes them: one
 * UserPerm per (uid, gid) seen, made on first use and kept until unmount,
 * so an op costs a short list walk, not an allocation. The list is short
 * in practice (the users of one mount); the kernel's checks do not stand
 * in for Ceph's, which are made against these. */
#include <errno.h>
#include <stdlib.h>
#include "cf.h"

const UserPerm *cf_perm_of(struct sgf_ceph *c, uid_t uid, gid_t gid)
{
	struct cf_perm *p;

	pthread_mutex_lock(&c->perm_lock);
	for (p = c->perms; p; p = p->next)
		if (p->uid == uid && p->gid == gid)
			break;
	if (!p && (p = calloc(1, sizeof(*p)))) {
		p->uid = uid;
		p->gid = gid;
		p->perm = ceph_userperm_new(uid, gid, 0, NULL);
		if (p->perm) {
			p->next = c->perms;
			c->perms = p;
		} else {
			free(p);
			p = NULL;
		}
	}
	pthread_mutex_unlock(&c->perm_lock);
	/* Out of memory: the request runs as nobody (libcephfs takes no NULL
	 * credentials), which can only ever lower what it may do. */
	return p ? p->perm : c->nobody;
}

int cf_perm_init(struct sgf_ceph *c)
{
	c->nobody = ceph_userperm_new(65534, 65534, 0, NULL);
	return c->nobody ? 0 : -ENOMEM;
}

void cf_perm_free_all(struct sgf_ceph *c)
{
	while (c->perms) {
		struct cf_perm *p = c->perms;

		c->perms = p->next;
		ceph_userperm_destroy(p->perm);
		free(p);
	}
	if (c->nobody)
		ceph_userperm_destroy((UserPerm *)c->nobody);
	c->nobody = NULL;
}
