/* fs/ceph/cf_mount.c - the Ceph client: options copied at sgf_ceph_new,
 * the one connection and mount made at the first session's init, the
 * backend pool started with it, and teardown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
	pthread_cond_init(&c->notified, NULL);
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
	c->entry_timeout = o->entry_timeout < 0 ? 0 : o->entry_timeout ? o->entry_timeout : 1.0;
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
	err = cf_perm_init(c);
	if (err) {
		snprintf(msg, msglen, "cannot make Ceph credentials: %s", strerror(-err));
		ceph_unmount(cm);
		goto fail;
	}
	err = cf_pool_start(&c->pool, c->backend_threads);
	if (err) {
		snprintf(msg, msglen, "cannot start %u backend threads: %s", c->backend_threads,
			 strerror(-err));
		cf_perm_free_all(c);
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
	/* Once connected, stay; a failure is tried again by the next session
	 * (a listening daemon outlives a cluster that was down). */
	if (!c->cmount)
		c->connect_err = connect_once(c, c->connect_msg, sizeof(c->connect_msg));
	ret = c->connect_err;
	if (ret && err && errlen)
		snprintf(err, errlen, "%s", c->connect_msg);
	pthread_mutex_unlock(&c->connect_lock);
	return ret;
}

/* ceph_unmount, on its own thread, so that waiting for it is bounded. */
struct unmounting {
	struct ceph_mount_info *cm;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	bool done;
};

static void *unmount_main(void *arg)
{
	struct unmounting *u = arg;

	ceph_unmount(u->cm);
	pthread_mutex_lock(&u->lock);
	u->done = true;
	pthread_cond_signal(&u->done_cond);
	pthread_mutex_unlock(&u->lock);
	return NULL; /* abandoned or not, the waiter frees nothing we use */
}

/* Unmount, waiting at most client_shutdown_timeout and a little more:
 * with OSDs or MDSs gone, libcephfs 16 can wait far longer than that for
 * the session to close (seen: forever). Past it the client is left as it
 * is (its threads end with the process) rather than hold the exit. true
 * when it unmounted. */
static bool unmount_bounded(struct ceph_mount_info *cm)
{
	struct unmounting *u = calloc(1, sizeof(*u));
	char val[32] = "30";
	struct timespec until;
	pthread_t t;
	bool done;

	if (!u) {
		ceph_unmount(cm);
		return true;
	}
	/* Read before the unmount starts taking the client apart. */
	ceph_conf_get(cm, "client_shutdown_timeout", val, sizeof(val));
	u->cm = cm;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->done_cond, NULL);
	if (pthread_create(&t, NULL, unmount_main, u) != 0) {
		ceph_unmount(cm);
		free(u);
		return true;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += atol(val) + 5;
	pthread_mutex_lock(&u->lock);
	while (!u->done && pthread_cond_timedwait(&u->done_cond, &u->lock, &until) == 0)
		;
	done = u->done;
	pthread_mutex_unlock(&u->lock);
	if (!done) {
		fprintf(stderr, "sgfuse-ceph: the cluster did not close the session within "
				"%s s (client_shutdown_timeout); leaving it\n", val);
		pthread_detach(t);
		return false; /* u and cm stay: the unmounting thread uses them */
	}
	pthread_join(t, NULL);
	pthread_cond_destroy(&u->done_cond);
	pthread_mutex_destroy(&u->lock);
	free(u);
	return true;
}

int sgf_ceph_free(struct sgf_ceph *c)
{
	if (!c)
		return 0;
	if (c->cmount) {
		cf_pool_stop(&c->pool);
		/* Left running, libcephfs's threads may still call back with c
		 * or use the credentials: keep all of it. */
		if (!unmount_bounded(c->cmount))
			return -ETIMEDOUT;
		ceph_release(c->cmount);
		cf_perm_free_all(c);
	}
	pthread_cond_destroy(&c->notified);
	pthread_mutex_destroy(&c->connect_lock);
	pthread_mutex_destroy(&c->perm_lock);
	pthread_mutex_destroy(&c->sessions_lock);
	free(c->conf), free(c->id), free(c->fs_name), free(c->root);
	for (unsigned i = 0; c->conf_set && i < 2 * c->n_conf_set; i++)
		free(c->conf_set[i]);
	free(c->conf_set);
	free(c);
	return 0;
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
