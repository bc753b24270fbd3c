/* fs/ceph/cf_mount.c - the Ceph client: options copied at sgf_ceph_new,
 * the one connection and mount made at the first session's init, the
 * backend pool started with it, and teardown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cf.h"

#define DEFAULT_BACKEND_THREADS 16
#define MAX_BACKEND_THREADS 1024

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int sgf_ceph_new(struct sgf_ceph **out, const struct sgf_ceph_opts *o)
{
	struct sgf_ceph_opts none = { 0 };
	struct sgf_ceph *c;
	int err;

	*out = NULL;
	if (!o)
		o = &none;
	if (o->backend_threads > MAX_BACKEND_THREADS || o->entry_timeout > 1e9 ||
	    o->attr_timeout > 1e9 || o->attr_timeout < 0 || (o->n_conf_set && !o->conf_set))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->connect_lock, NULL);
	pthread_mutex_init(&c->perm_lock, NULL);
	pthread_mutex_init(&c->sessions_lock, NULL);
	err = dup_str(&c->conf, o->conf) ?: dup_str(&c->id, o->id ? o->id : "admin") ?:
	      dup_str(&c->fs_name, o->fs_name) ?: dup_str(&c->root, o->root ? o->root : "/");
	if (!err && o->n_conf_set) {
		c->conf_set = calloc(2 * (size_t)o->n_conf_set, sizeof(char *));
		err = c->conf_set ? 0 : -ENOMEM;
		for (unsigned i = 0; !err && i < 2 * o->n_conf_set; i++) {
			if (!o->conf_set[i])
				err = -EINVAL;
			else
				err = dup_str(&c->conf_set[i], o->conf_set[i]);
		}
		c->n_conf_set = o->n_conf_set;
	}
	if (err) {
		sgf_ceph_free(c);
		return err;
	}
	c->backend_threads = o->backend_threads ? o->backend_threads : DEFAULT_BACKEND_THREADS;
	c->entry_timeout = o->entry_timeout < 0 ? 0 : o->entry_timeout;
	c->attr_timeout = o->attr_timeout ? o->attr_timeout : 1.0;
	*out = c;
	return 0;
}

/* Every step of connecting, each failure named. */
static int connect_once(struct sgf_ceph *c, char *msg, size_t msglen)
{
	struct ceph_mount_info *cm;
	int err = ceph_create(&cm, c->id);

	if (err) {
		snprintf(msg, msglen, "cannot make Ceph client '%s': %s", c->id, strerror(-err));
		return err;
	}
	err = ceph_conf_read_file(cm, c->conf);
	if (err) {
		snprintf(msg, msglen, "cannot read Ceph config %s: %s",
			 c->conf ? c->conf : "(default search path)", strerror(-err));
		goto fail;
	}
	for (unsigned i = 0; !err && i < c->n_conf_set; i++) {
		err = ceph_conf_set(cm, c->conf_set[2 * i], c->conf_set[2 * i + 1]);
		if (err)
			snprintf(msg, msglen, "bad Ceph setting %s=%s: %s", c->conf_set[2 * i],
				 c->conf_set[2 * i + 1], strerror(-err));
	}
	if (err)
		goto fail;
	if (c->fs_name) {
		err = ceph_select_filesystem(cm, c->fs_name);
		if (err) {
			snprintf(msg, msglen, "cannot select file system %s: %s", c->fs_name,
				 strerror(-err));
			goto fail;
		}
	}
	err = ceph_mount(cm, c->root);
	if (err) {
		snprintf(msg, msglen, "cannot mount Ceph file system%s%s at %s as client.%s: %s",
			 c->fs_name ? " " : "", c->fs_name ? c->fs_name : "", c->root, c->id,
			 strerror(-err));
		goto fail;
	}
	err = cf_pool_start(&c->pool, c->backend_threads);
	if (err) {
		snprintf(msg, msglen, "cannot start %u backend threads: %s", c->backend_threads,
			 strerror(-err));
		ceph_unmount(cm);
		goto fail;
	}
	c->cmount = cm;
	cf_notify_register(c);
	return 0;
fail:
	ceph_release(cm);
	return err;
}

int sgf_ceph_connect(struct sgf_ceph *c, char *err, size_t errlen)
{
	int ret;

	pthread_mutex_lock(&c->connect_lock);
	if (!c->connect_tried) {
		c->connect_tried = true;
		c->connect_err = connect_once(c, c->connect_msg, sizeof(c->connect_msg));
	}
	ret = c->connect_err;
	if (ret && err && errlen)
		snprintf(err, errlen, "%s", c->connect_msg);
	pthread_mutex_unlock(&c->connect_lock);
	return ret;
}

void sgf_ceph_free(struct sgf_ceph *c)
{
	if (!c)
		return;
	if (c->cmount) {
		cf_pool_stop(&c->pool);
		cf_perm_free_all(c);
		ceph_unmount(c->cmount);
		ceph_release(c->cmount);
	}
	pthread_mutex_destroy(&c->connect_lock);
	pthread_mutex_destroy(&c->perm_lock);
	pthread_mutex_destroy(&c->sessions_lock);
	free(c->conf), free(c->id), free(c->fs_name), free(c->root);
	for (unsigned i = 0; c->conf_set && i < 2 * c->n_conf_set; i++)
		free(c->conf_set[i]);
	free(c->conf_set);
	free(c);
}

void sgf_ceph_stats_print(struct sgf_ceph *c, FILE *f)
{
	const struct { const char *name; atomic_uint_least64_t *v; } lines[] = {
		{ "ceph_ll_readv", &c->readv_calls },   { "ceph_ll_writev", &c->writev_calls },
		{ "ceph_read_bytes", &c->read_bytes },  { "ceph_write_bytes", &c->write_bytes },
		{ "ceph_notify_inode", &c->notify_inode },
		{ "ceph_notify_entry", &c->notify_entry },
		{ "backend_queue_max", &c->queue_max },
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		uint64_t v = atomic_load(lines[i].v);

		if (v) /* zero lines are omitted, as the library's are */
			fprintf(f, "%s %llu\n", lines[i].name, (unsigned long long)v);
	}
}
