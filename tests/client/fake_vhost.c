/* tests/client/fake_vhost.c - the scripted vhost-user-fs device of
 * fake_vhost.h: the control protocol with lib/common/vhost_user.c, the
 * memory table through guestmem.h, the queues through virtq_dev.c, and a
 * tiny FUSE server (INIT, GETATTR, one file for READ/WRITE, FORGET,
 * DESTROY) behind the test's hook. */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "fake_vhost.h"
#include "vhost_user.h"

#define BIT(n) ((uint64_t)1 << (n))

void fv_init(struct fake_vhost *d, fv_hook hook, void *ctx)
{
	static atomic_uint seq;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "@sgf-fake-vhost-%d-%u", (int)getpid(),
		 atomic_fetch_add(&seq, 1));
	d->lfd = d->fd = -1;
	for (int i = 0; i < 2; i++)
		d->kick[i] = d->call[i] = -1;
	d->features = BIT(SGF_VIRTIO_F_VERSION_1) | BIT(SGF_VHOST_USER_F_PROTOCOL_FEATURES) |
		      BIT(SGF_VIRTIO_F_RING_EVENT_IDX) | BIT(SGF_VIRTIO_F_RING_INDIRECT_DESC);
	d->protocol_features = BIT(SGF_VU_PROTOCOL_F_REPLY_ACK) | BIT(SGF_VU_PROTOCOL_F_MQ);
	d->queue_num = 2;
	d->hook = hook;
	d->ctx = ctx;
	pthread_mutex_init(&d->lock, NULL);
	sgf_vq_mem_init(&d->mem);
}

void fv_lock(struct fake_vhost *d)
{
	pthread_mutex_lock(&d->lock);
}

void fv_unlock(struct fake_vhost *d)
{
	pthread_mutex_unlock(&d->lock);
}

static void complain(struct fake_vhost *d, const char *what)
{
	if (d->err[0] == '\0')
		snprintf(d->err, sizeof(d->err), "%s", what);
}

/* ---- FUSE ---- */

void fv_write(struct fv_call *c, size_t off, const void *p, size_t len)
{
	const unsigned char *src = p;
	for (unsigned i = 0; i < c->elem.wr_n && len > 0; i++) {
		if (off >= c->wr[i].iov_len) {
			off -= c->wr[i].iov_len;
			continue;
		}
		size_t n = c->wr[i].iov_len - off < len ? c->wr[i].iov_len - off : len;
		memcpy((char *)c->wr[i].iov_base + off, src, n);
		src += n;
		len -= n;
		off = 0;
	}
}

static void notify(struct fake_vhost *d, unsigned q)
{
	uint64_t one = 1;
	if (sgf_vq_dev_should_notify(&d->q[q]) && write(d->call[q], &one, sizeof(one)) < 0)
		complain(d, "call eventfd");
}

void fv_push_raw(struct fake_vhost *d, struct fv_call *c, uint32_t id, uint32_t len)
{
	struct sgf_vq_dev *q = &d->q[c->queue];
	struct vring_used_elem *u = &q->used->ring[q->used_idx & (q->num - 1)];

	/* By hand: sgf_vq_fill refuses ids out of range, and we want those. */
	__atomic_store_n(&u->id, htole32(id), __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, htole32(len), __ATOMIC_RELAXED);
	q->used_idx++;
	if (q->inflight)
		q->inflight--;
	sgf_vq_flush(q);
	notify(d, c->queue);
	c->answered = true;
}

void fv_reply(struct fake_vhost *d, struct fv_call *c, int32_t error, const void *payload,
	      size_t len)
{
	struct fuse_out_header oh = { .len = (uint32_t)(sizeof(oh) + len), .error = error,
				      .unique = c->in.unique };
	size_t room = c->elem.wr_bytes;

	if (room < sizeof(oh) + len) {
		complain(d, "reply does not fit the chain");
		oh.len = sizeof(oh);
		oh.error = -EIO;
		len = 0;
	}
	fv_write(c, 0, &oh, sizeof(oh));
	fv_write(c, sizeof(oh), payload, len);
	fv_push_raw(d, c, c->elem.head, oh.len);
}

static void answer_init(struct fake_vhost *d, struct fv_call *c)
{
	struct fuse_init_out o = { .major = 7, .minor = 38, .max_readahead = 1 << 20,
				   .flags = FUSE_MAX_PAGES | FUSE_BIG_WRITES | FUSE_INIT_EXT,
				   .max_write = 1 << 20, .max_pages = 256 };
	if (d->silent_init) {
		c->answered = true;  /* and never pushed */
		return;
	}
	fv_reply(d, c, 0, &o, sizeof(o));
}

static void answer_read(struct fake_vhost *d, struct fv_call *c)
{
	struct fuse_read_in in;
	memcpy(&in, c->body, sizeof(in));
	uint64_t n = in.offset >= d->file_size ? 0 : d->file_size - in.offset;
	if (n > in.size)
		n = in.size;
	d->last_wr_n = c->elem.wr_n;
	fv_reply(d, c, 0, d->file + in.offset, (size_t)n);
}

static void answer_write(struct fake_vhost *d, struct fv_call *c)
{
	struct fuse_write_in in;
	memcpy(&in, c->body, sizeof(in));
	d->last_rd_n = c->elem.rd_n;
	if (in.offset + in.size > FV_FILE_SIZE ||
	    c->body_len != sizeof(in) + in.size) {
		fv_reply(d, c, -EFBIG, NULL, 0);
		return;
	}
	memcpy(d->file + in.offset, c->body + sizeof(in), in.size);
	if (in.offset + in.size > d->file_size)
		d->file_size = in.offset + in.size;
	struct fuse_write_out o = { .size = in.size };
	fv_reply(d, c, 0, &o, sizeof(o));
}

static void answer(struct fake_vhost *d, struct fv_call *c)
{
	struct fuse_attr_out a = { .attr = { .ino = c->in.nodeid, .mode = 040755, .nlink = 2 } };
	struct fuse_open_out op = { .fh = 7 };

	switch (c->in.opcode) {
	case FUSE_INIT: answer_init(d, c); break;
	case FUSE_GETATTR:
		if (c->in.nodeid == 2) {
			a.attr.mode = 0100644;
			a.attr.size = d->file_size;
		}
		fv_reply(d, c, 0, &a, sizeof(a));
		break;
	case FUSE_OPEN: fv_reply(d, c, 0, &op, sizeof(op)); break;
	case FUSE_READ: answer_read(d, c); break;
	case FUSE_WRITE: answer_write(d, c); break;
	case FUSE_FORGET:
		d->nforget++;
		fv_push_raw(d, c, c->elem.head, 0);
		break;
	case FUSE_RELEASE:
	case FUSE_DESTROY: fv_reply(d, c, 0, NULL, 0); break;
	default: fv_reply(d, c, -ENOSYS, NULL, 0); break;
	}
}

/* Copy the readable part: header, then the body. */
static bool take_request(struct fv_call *c)
{
	size_t got = 0, total = c->elem.rd_bytes;
	unsigned char *dst;

	if (total < sizeof(c->in) || total - sizeof(c->in) > sizeof(c->body))
		return false;
	for (unsigned i = 0; i < c->elem.rd_n; i++) {
		for (size_t j = 0; j < c->rd[i].iov_len; j++, got++) {
			dst = got < sizeof(c->in) ? (unsigned char *)&c->in + got
						  : c->body + (got - sizeof(c->in));
			*dst = ((unsigned char *)c->rd[i].iov_base)[j];
		}
	}
	c->body_len = total - sizeof(c->in);
	return c->in.len == total;
}

/* Serve everything available on queue q; false to hang up. */
static bool serve_queue(struct fake_vhost *d, unsigned q)
{
	struct fv_call *c = d->cur;

	if (!d->started[q])
		return true;
	for (;;) {
		memset(&c->elem, 0, sizeof(c->elem));
		c->elem.rd = c->rd;
		c->elem.rd_max = FV_MAX_IOV;
		c->elem.wr = c->wr;
		c->elem.wr_max = FV_MAX_IOV;
		c->queue = q;
		c->answered = false;
		int r = sgf_vq_pop(&d->q[q], &c->elem);
		if (r == 0)
			break;
		if (r < 0) {
			d->saw_bad_chain = true;
			if (d->q[q].broken)
				return false;
			sgf_vq_push(&d->q[q], c->elem.head, 0);
			continue;
		}
		pthread_mutex_lock(&d->lock);
		if (c->elem.rd_n > d->max_rd_n)
			d->max_rd_n = c->elem.rd_n;
		bool whole = take_request(c);
		if (whole)
			d->nreq[q]++;
		else
			d->saw_bad_chain = true;
		pthread_mutex_unlock(&d->lock);
		if (!whole) {
			fv_push_raw(d, c, c->elem.head, 0);
			continue;
		}
		if (d->hook && d->hook(d, c) != 0)
			return false;
		if (!c->answered) {
			/* The file and counters change under the lock, and
			 * the reply leaves after: a test that saw it and takes
			 * the lock sees them. */
			pthread_mutex_lock(&d->lock);
			answer(d, c);
			pthread_mutex_unlock(&d->lock);
		}
	}
	return true;
}

/* ---- vhost-user ---- */

static int reply_u64(struct fake_vhost *d, uint32_t req, uint64_t v)
{
	struct sgf_vu_msg m;
	sgf_vu_msg_init(&m, req, SGF_VU_FLAG_REPLY, sizeof(v));
	m.p.u64 = v;
	return sgf_vu_send(d->fd, &m, NULL, 0);
}

static int map_table(struct fake_vhost *d, const struct sgf_vu_msg *m, int fd)
{
	const struct sgf_vu_mem_region *r = &m->p.mem.regions[0];

	if (m->p.mem.nregions != 1) {
		complain(d, "one region expected");
		return -EINVAL;
	}
	void *p = mmap(NULL, r->memory_size + r->mmap_offset, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	d->map = p;
	d->map_size = r->memory_size + r->mmap_offset;
	d->uaddr = r->userspace_addr;
	d->gpa = r->guest_phys_addr;
	return sgf_vq_mem_add(&d->mem, r->guest_phys_addr, r->memory_size,
			      (char *)p + r->mmap_offset);
}

static uint64_t to_gpa(struct fake_vhost *d, uint64_t uaddr)
{
	return uaddr - d->uaddr + d->gpa;
}

static void maybe_start(struct fake_vhost *d, unsigned q)
{
	bool need_enable = d->acked_features & BIT(SGF_VHOST_USER_F_PROTOCOL_FEATURES);

	if (d->started[q] || d->kick[q] < 0 || (need_enable && !d->enabled[q]))
		return;
	d->qa[q].event_idx = (d->acked_features & BIT(SGF_VIRTIO_F_RING_EVENT_IDX)) != 0;
	if (sgf_vq_dev_init(&d->q[q], &d->mem, &d->qa[q]) < 0) {
		complain(d, "ring addresses");
		return;
	}
	d->started[q] = true;
}

/* One control message; false to hang up. */
static bool control(struct fake_vhost *d)
{
	struct sgf_vu_msg m;
	int fds[SGF_VU_MAX_FDS];
	unsigned nfds = 0, q;
	int r = sgf_vu_recv(d->fd, &m, false, fds, &nfds), status = 0;

	if (r < 0) {
		if (r != -ENOTCONN)
			complain(d, "malformed control message");
		return false;
	}
	q = m.p.state.index & SGF_VU_VRING_IDX_MASK;
	switch (m.hdr.request) {
	case SGF_VU_GET_FEATURES: return reply_u64(d, m.hdr.request, d->features) == 0;
	case SGF_VU_GET_PROTOCOL_FEATURES:
		return reply_u64(d, m.hdr.request, d->protocol_features) == 0;
	case SGF_VU_GET_QUEUE_NUM: return reply_u64(d, m.hdr.request, d->queue_num) == 0;
	case SGF_VU_SET_PROTOCOL_FEATURES: d->acked_protocol = m.p.u64; break;
	case SGF_VU_SET_FEATURES:
		if (m.p.u64 & ~d->features)
			complain(d, "features not offered");
		d->acked_features = m.p.u64;
		break;
	case SGF_VU_SET_OWNER: break;
	case SGF_VU_SET_MEM_TABLE: status = map_table(d, &m, fds[0]); break;
	case SGF_VU_SET_VRING_NUM:
		if (q < 2)
			d->qa[q].num = m.p.state.num;
		break;
	case SGF_VU_SET_VRING_BASE:
		if (q < 2)
			d->qa[q].last_avail = (uint16_t)m.p.state.num;
		break;
	case SGF_VU_SET_VRING_ADDR:
		q = m.p.addr.index;
		if (q < 2) {
			d->qa[q].desc = to_gpa(d, m.p.addr.desc_user_addr);
			d->qa[q].avail = to_gpa(d, m.p.addr.avail_user_addr);
			d->qa[q].used = to_gpa(d, m.p.addr.used_user_addr);
		}
		break;
	case SGF_VU_SET_VRING_KICK:
	case SGF_VU_SET_VRING_CALL:
		q = (unsigned)(m.p.u64 & SGF_VU_VRING_IDX_MASK);
		if (q >= 2 || nfds != 1) {
			status = -EINVAL;
			break;
		}
		if (m.hdr.request == SGF_VU_SET_VRING_KICK)
			d->kick[q] = fds[0];
		else
			d->call[q] = fds[0];
		nfds = 0;  /* kept */
		maybe_start(d, q);
		break;
	case SGF_VU_SET_VRING_ENABLE:
		if (q < 2) {
			d->enabled[q] = m.p.state.num != 0;
			maybe_start(d, q);
		}
		break;
	case SGF_VU_GET_VRING_BASE: {
		struct sgf_vu_msg rep;
		sgf_vu_msg_init(&rep, m.hdr.request, SGF_VU_FLAG_REPLY, sizeof(rep.p.state));
		rep.p.state.index = q;
		rep.p.state.num = q < 2 ? d->q[q].last_avail : 0;
		if (q < 2)
			d->started[q] = false;
		return sgf_vu_send(d->fd, &rep, NULL, 0) == 0;
	}
	default: status = -ENOSYS; break;
	}
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	if (m.hdr.request == d->refuse)
		status = -EPERM;
	if (m.hdr.flags & SGF_VU_FLAG_NEED_REPLY)
		return reply_u64(d, m.hdr.request, status != 0) == 0;
	return true;
}

static void *run(void *arg)
{
	struct fake_vhost *d = arg;

	d->fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (d->fd < 0)
		return NULL;
	for (;;) {
		struct pollfd p[3] = { { .fd = d->fd, .events = POLLIN },
				       { .fd = d->kick[0], .events = POLLIN },
				       { .fd = d->kick[1], .events = POLLIN } };
		if (poll(p, 3, -1) < 0)
			break;
		if (p[0].revents && !control(d))
			break;
		bool ok = true;
		for (unsigned q = 0; q < 2 && ok; q++) {
			uint64_t v;
			if (!(p[q + 1].revents & POLLIN))
				continue;
			if (read(d->kick[q], &v, sizeof(v)) < 0)
				continue;
			ok = serve_queue(d, q);
		}
		/* A kick may be suppressed (event idx): look anyway. */
		for (unsigned q = 0; q < 2 && ok; q++)
			ok = serve_queue(d, q);
		if (!ok)
			break;
	}
	close(d->fd);
	d->fd = -1;
	return NULL;
}

int fv_start(struct fake_vhost *d)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(d->name);

	memcpy(a.sun_path, d->name, n);
	a.sun_path[0] = '\0';
	d->file = calloc(1, FV_FILE_SIZE);
	d->cur = calloc(1, sizeof(*d->cur));
	d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->file == NULL || d->cur == NULL || d->lfd < 0)
		return -ENOMEM;
	if (bind(d->lfd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0 ||
	    listen(d->lfd, 1) < 0)
		return -errno;
	int r = -pthread_create(&d->thread, NULL, run, d);
	d->running = r == 0;
	return r;
}

void fv_stop(struct fake_vhost *d)
{
	if (d->running) {
		/* A thread still in accept: wake it. */
		shutdown(d->lfd, SHUT_RDWR);
		pthread_join(d->thread, NULL);
	}
	d->running = false;
	if (d->lfd >= 0)
		close(d->lfd);
	for (int i = 0; i < 2; i++) {
		if (d->kick[i] >= 0)
			close(d->kick[i]);
		if (d->call[i] >= 0)
			close(d->call[i]);
	}
	if (d->map)
		munmap(d->map, d->map_size);
	free(d->file);
	free(d->cur);
	d->file = NULL;
	d->cur = NULL;
	d->map = NULL;
	pthread_mutex_destroy(&d->lock);
}
