/* lib/client/conn.c - a client connection's life: options and the request
 * table, a transport (a connected stream socket here; vhost-user in
 * vhost_conn.c), INIT, and at the end DESTROY and tearing everything down.
 * There is no receiver thread: waiting callers receive replies themselves
 * (lead.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "conn.h"
#include "dio.h"

/* How long disconnect waits for the DESTROY reply before hanging up. */
#define SGF_DESTROY_TIMEOUT_MS 1000u

void sgf_client_free(struct sgf_client *c)
{
	if (c->slots) {
		for (unsigned i = 0; i < c->nslots; i++)
			free(c->slots[i].iovbuf);
	}
	free(c->slots);
	free(c->free_stack);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->send_lock);
	pthread_cond_destroy(&c->slot_cond);
	if (c->tp)
		c->tp->close(c);
	else if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static int check_stream_socket(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (fd < 0)
		return -EBADF;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	return type == SOCK_STREAM ? 0 : -EPROTOTYPE;
}

static int apply_opts(struct sgf_client *c, const struct sgf_client_opts *o)
{
	static const struct sgf_client_opts defaults;

	if (o == NULL)
		o = &defaults;
	if (o->policy != SGF_DIO_PACKED && o->policy != SGF_DIO_PER_SEGMENT)
		return -EINVAL;
	if (o->max_pages > SGF_MAX_PAGES_CEILING || o->max_inflight > SGF_CLIENT_MAX_INFLIGHT ||
	    o->window > SGF_DIO_WINDOW_MAX || o->spin_us > SGF_CLIENT_MAX_SPIN_US ||
	    o->arena_size > SGF_CLIENT_MAX_ARENA ||
	    o->connect_timeout_ms > SGF_CLIENT_MAX_CONNECT_TIMEOUT_MS)
		return -EINVAL;
	c->want_max_pages = o->max_pages ? o->max_pages : SGF_CLIENT_DEFAULT_MAX_PAGES;
	c->want_max_read = o->max_read;
	c->nslots = o->max_inflight ? o->max_inflight : SGF_CLIENT_DEFAULT_INFLIGHT;
	c->window = o->window ? o->window : SGF_CLIENT_DEFAULT_WINDOW;
	c->arena_size = o->arena_size ? o->arena_size : SGF_CLIENT_DEFAULT_ARENA;
	c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms
						      : SGF_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
	c->spin_ns = 1000L * (o->spin_us == 0 ? SGF_CLIENT_DEFAULT_SPIN_US
			      : o->spin_us < 0 ? 0 : o->spin_us);
	atomic_store(&c->policy, (int)o->policy);
	if (o->use_ids) {
		c->uid = o->uid;
		c->gid = o->gid;
		c->pid = o->pid;
	} else {
		c->uid = (uint32_t)getuid();
		c->gid = (uint32_t)getgid();
		c->pid = (uint32_t)getpid();
	}
	return 0;
}

static int alloc_table(struct sgf_client *c)
{
	c->slots = calloc(c->nslots, sizeof(*c->slots));
	c->free_stack = calloc(c->nslots, sizeof(*c->free_stack));
	if (!c->slots || !c->free_stack)
		return -ENOMEM;
	/* Pop order does not matter; push high indices first so slot 0 is
	 * used first, which keeps traces readable. */
	for (unsigned i = 0; i < c->nslots; i++)
		c->free_stack[i] = c->nslots - 1 - i;
	c->nfree = c->nslots;
	return 0;
}

/* Every slot gets room for a whole dio request: header, fixed argument and
 * one entry per page descriptor (a slice never has more entries than
 * descriptors). Sized after INIT, when max_pages is known. */
static int alloc_iovbufs(struct sgf_client *c)
{
	unsigned cap = c->conn.max_pages + 2;

	for (unsigned i = 0; i < c->nslots; i++) {
		c->slots[i].iovbuf = calloc(cap, sizeof(struct iovec));
		if (!c->slots[i].iovbuf)
			return -ENOMEM;
		c->slots[i].iovcap = cap;
	}
	return 0;
}

int sgf_client_new(const struct sgf_client_opts *opts, struct sgf_client **out)
{
	struct sgf_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->send_lock, NULL);
	pthread_cond_init(&c->slot_cond, NULL);

	int r = apply_opts(c, opts);
	if (r == 0)
		r = alloc_table(c);
	if (r < 0) {
		sgf_client_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int sgf_client_start(struct sgf_client *c)
{
	int r = sgf_client_init(c);

	return r < 0 ? r : alloc_iovbufs(c);
}

int sgf_client_attach(int fd, const struct sgf_client_opts *opts, struct sgf_client **out)
{
	struct sgf_client *c;
	int r = check_stream_socket(fd);

	if (r == 0)
		r = sgf_client_new(opts, &c);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	c->fd = fd;
	c->tp = &sgf_stream_transport;
	r = sgf_client_start(c);
	if (r < 0) {
		sgf_client_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int sgf_client_disconnect(struct sgf_client *c)
{
	struct sgf_waiter w;
	struct sgf_slot *s;
	struct sgf_expect ex;
	struct iovec vec[1];
	int r;

	if (c == NULL)
		return 0;
	r = sgf_waiter_init(c, &w);
	if (r == 0) {
		r = sgf_slot_acquire(c, true, &s);
		if (r == 0) {
			sgf_expect_none(&ex);
			sgf_slot_arm(c, s, FUSE_DESTROY, &ex, &w, 0);
			sgf_stats_add(&c->stats, FUSE_DESTROY, 0);
			(void)sgf_send_request(c, s, FUSE_DESTROY, 0, vec, 1);
			/* A server that never answers must not keep us here. */
			r = (int)sgf_slot_wait_timeout(c, s, SGF_DESTROY_TIMEOUT_MS);
			sgf_slot_release(c, s);
		}
		sgf_waiter_destroy(c, &w);
	}
	sgf_client_free(c);
	return r;
}

void sgf_client_shutdown(struct sgf_client *c)
{
	c->tp->hangup(c);
}

const struct sgf_client_conn *sgf_client_conn(const struct sgf_client *c)
{
	return &c->conn;
}

struct sgf_stats *sgf_client_stats(struct sgf_client *c)
{
	return &c->stats;
}

void sgf_client_set_policy(struct sgf_client *c, enum sgf_dio_policy policy)
{
	if (policy == SGF_DIO_PACKED || policy == SGF_DIO_PER_SEGMENT)
		atomic_store(&c->policy, (int)policy);
}

enum sgf_dio_policy sgf_client_policy(const struct sgf_client *c)
{
	return (enum sgf_dio_policy)atomic_load(&((struct sgf_client *)c)->policy);
}
