/* tests/vhost/vu_front.c - the test frontend (vu_front.h): the socket and
 * its messages, the memfd of guest memory with canary bytes around the
 * region, the rings of each queue and their eventfds, driver-side and raw
 * access to them. */
#include "vu_front.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Each queue's rings get this much at the start of the region; the data
 * area follows. */
#define RING_SPAN (64u << 10)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait for fd to be readable until deadline (ms): 1, 0 on timeout. */
static int wait_in(int fd, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return 0;
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, (int)(deadline - now));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int vf_open(struct vf *f, const char *path, unsigned flags)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = now_ms() + VF_TIMEOUT_MS;

	memset(f, 0, sizeof(*f));
	f->sock = f->memfd = -1;
	for (unsigned i = 0; i < VF_NQ; i++)
		f->q[i].kick = f->q[i].call = f->q[i].err = -1;
	f->flags = flags;
	f->num = VF_NUM;
	f->size = VF_MEM_SIZE;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	for (;;) {
		f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (f->sock < 0)
			return -errno;
		if (connect(f->sock, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		int err = -errno;
		close_fd(&f->sock);
		if ((err != -ENOENT && err != -ECONNREFUSED) || now_ms() >= deadline)
			return err;
		usleep(5000);
	}
	/* The region, then a page past its last one: all canary but the
	 * region itself. */
	f->map_len = VF_GUARD + ((f->size + 4095) & ~(size_t)4095) + 4096;
	f->memfd = memfd_create("vf-guest", MFD_CLOEXEC);
	if (f->memfd < 0 || ftruncate(f->memfd, (off_t)f->map_len) != 0)
		return -errno;
	f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	if (f->map == MAP_FAILED) {
		f->map = NULL;
		return -errno;
	}
	memset(f->map, VF_CANARY, f->map_len);
	f->mem = f->map + VF_GUARD;
	memset(f->mem, 0, f->size);
	f->brk = f->brk0 = VF_GPA + VF_NQ * RING_SPAN;
	f->unique = 2;
	return 0;
}

void vf_close(struct vf *f)
{
	close_fd(&f->sock);
	for (unsigned i = 0; i < VF_NQ; i++) {
		close_fd(&f->q[i].kick);
		close_fd(&f->q[i].call);
		close_fd(&f->q[i].err);
		if (f->q[i].up)
			sgf_vq_drv_fini(&f->q[i].drv);
		f->q[i].up = false;
	}
	if (f->map)
		munmap(f->map, f->map_len);
	f->map = f->mem = NULL;
	close_fd(&f->memfd);
}

/* ---- control messages ---- */

int vf_send(struct vf *f, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds)
{
	struct sgf_vu_msg m;

	if (size > sizeof(m.p)) {
		/* Bigger than any message: header and bytes by hand. */
		struct sgf_vu_hdr h = { request, flags, size };
		if (send(f->sock, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h))
			return -errno;
		if (payload && send(f->sock, payload, size, MSG_NOSIGNAL) != (ssize_t)size)
			return -errno;
		return 0;
	}
	memset(&m, 0, sizeof(m));
	m.hdr = (struct sgf_vu_hdr){ request, flags, size };
	if (size)
		memcpy(&m.p, payload, size);
	return sgf_vu_send(f->sock, &m, fds, nfds);
}

int vf_recv(struct vf *f, struct sgf_vu_msg *m, unsigned timeout_ms)
{
	int fds[SGF_VU_MAX_FDS];
	unsigned nfds;
	int r = wait_in(f->sock, now_ms() + timeout_ms);

	if (r <= 0)
		return r == 0 ? -ETIMEDOUT : r;
	r = sgf_vu_recv(f->sock, m, true, fds, &nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	return r;
}

/* The reply to request: 0, or -EPROTO when another one came. */
static int recv_reply(struct vf *f, uint32_t request, struct sgf_vu_msg *m)
{
	int r = vf_recv(f, m, VF_TIMEOUT_MS);

	if (r == 0 && m->hdr.request != request) {
		fprintf(stderr, "vf: reply to request %u, waiting for %u\n", m->hdr.request, request);
		return -EPROTO;
	}
	return r;
}

int vf_ack(struct vf *f, uint32_t request, const void *payload, uint32_t size, const int *fds,
	   unsigned nfds)
{
	bool ack = f->protocol & (1ull << SGF_VU_PROTOCOL_F_REPLY_ACK);
	struct sgf_vu_msg m;
	int r = vf_send(f, request, SGF_VU_VERSION | (ack ? SGF_VU_FLAG_NEED_REPLY : 0), payload,
			size, fds, nfds);

	if (r || !ack)
		return r;
	r = recv_reply(f, request, &m);
	if (r)
		return r;
	if (m.hdr.size != sizeof(uint64_t))
		return -EPROTO;
	return m.p.u64 == 0 ? 0 : 1;
}

int vf_get_u64(struct vf *f, uint32_t request, uint64_t *v)
{
	struct sgf_vu_msg m;
	int r = vf_send(f, request, SGF_VU_VERSION, NULL, 0, NULL, 0);

	if (r == 0)
		r = recv_reply(f, request, &m);
	if (r == 0 && m.hdr.size != sizeof(uint64_t))
		r = -EPROTO;
	if (r == 0)
		*v = m.p.u64;
	return r;
}

int vf_get_vring_base(struct vf *f, unsigned qi, uint32_t *base)
{
	struct sgf_vu_vring_state s = { qi, 0 };
	struct sgf_vu_msg m;
	int r = vf_send(f, SGF_VU_GET_VRING_BASE, SGF_VU_VERSION, &s, sizeof(s), NULL, 0);

	if (r == 0)
		r = recv_reply(f, SGF_VU_GET_VRING_BASE, &m);
	if (r == 0 && (m.hdr.size != sizeof(s) || m.p.state.index != qi))
		r = -EPROTO;
	if (r == 0)
		*base = m.p.state.num;
	return r;
}

int vf_wait_closed(struct vf *f, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	char buf[4096];

	for (;;) {
		int r = wait_in(f->sock, deadline);
		if (r <= 0)
			return -ETIMEDOUT;
		ssize_t n = recv(f->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
	}
}

/* Say which step of a setup failed. */
static int step(const char *what, int r)
{
	if (r)
		fprintf(stderr, "vf: %s: %s\n", what, r > 0 ? "refused" : strerror(-r));
	return r;
}

int vf_negotiate(struct vf *f)
{
	uint64_t offered, proto = 0;
	int r;

	if ((r = step("GET_FEATURES", vf_get_u64(f, SGF_VU_GET_FEATURES, &offered))))
		return r;
	uint64_t want = (1ull << SGF_VIRTIO_F_VERSION_1) | (1ull << SGF_VIRTIO_F_RING_INDIRECT_DESC) |
			(1ull << SGF_VHOST_USER_F_PROTOCOL_FEATURES);
	if (!(f->flags & VF_NO_EVENT_IDX))
		want |= 1ull << SGF_VIRTIO_F_RING_EVENT_IDX;
	f->features = want & offered;
	if (f->features & (1ull << SGF_VHOST_USER_F_PROTOCOL_FEATURES)) {
		if ((r = step("GET_PROTOCOL_FEATURES",
			      vf_get_u64(f, SGF_VU_GET_PROTOCOL_FEATURES, &proto))))
			return r;
		uint64_t pw = (1ull << SGF_VU_PROTOCOL_F_MQ);
		if (!(f->flags & VF_NO_REPLY_ACK))
			pw |= 1ull << SGF_VU_PROTOCOL_F_REPLY_ACK;
		pw &= proto;
		if ((r = step("SET_PROTOCOL_FEATURES",
			      vf_send(f, SGF_VU_SET_PROTOCOL_FEATURES, SGF_VU_VERSION, &pw,
				      sizeof(pw), NULL, 0))))
			return r;
		f->protocol = pw;
		if ((pw & (1ull << SGF_VU_PROTOCOL_F_MQ)) &&
		    (r = step("GET_QUEUE_NUM", vf_get_u64(f, SGF_VU_GET_QUEUE_NUM, &f->nqueues))))
			return r;
	}
	if ((r = step("SET_OWNER", vf_ack(f, SGF_VU_SET_OWNER, NULL, 0, NULL, 0))))
		return r;
	return step("SET_FEATURES",
		    vf_ack(f, SGF_VU_SET_FEATURES, &f->features, sizeof(f->features), NULL, 0));
}

int vf_set_mem(struct vf *f)
{
	struct sgf_vu_mem_table t;

	memset(&t, 0, sizeof(t));
	t.nregions = 1;
	t.regions[0] = (struct sgf_vu_mem_region){ .guest_phys_addr = VF_GPA,
						   .memory_size = f->size,
						   .userspace_addr = (uint64_t)(uintptr_t)f->mem,
						   .mmap_offset = VF_GUARD };
	/* The whole 8-region array, as QEMU sends it. */
	return step("SET_MEM_TABLE", vf_ack(f, SGF_VU_SET_MEM_TABLE, &t, sizeof(t), &f->memfd, 1));
}

static int new_eventfd(int *fd)
{
	close_fd(fd);
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return *fd < 0 ? -errno : 0;
}

/* NUM, BASE, ADDR, KICK (a new eventfd): what a (re)start sends. */
static int send_ring(struct vf *f, unsigned qi, uint16_t base)
{
	struct vf_queue *q = &f->q[qi];
	struct sgf_vu_vring_state num = { qi, f->num }, b = { qi, base };
	struct sgf_vu_vring_addr a = {
		.index = qi,
		.desc_user_addr = (uint64_t)(uintptr_t)vf_host(f, q->desc),
		.used_user_addr = (uint64_t)(uintptr_t)vf_host(f, q->used),
		.avail_user_addr = (uint64_t)(uintptr_t)vf_host(f, q->avail),
	};
	uint64_t idx = qi;
	int r;

	if ((r = step("SET_VRING_NUM", vf_ack(f, SGF_VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0))) ||
	    (r = step("SET_VRING_BASE", vf_ack(f, SGF_VU_SET_VRING_BASE, &b, sizeof(b), NULL, 0))) ||
	    (r = step("SET_VRING_ADDR", vf_ack(f, SGF_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0))) ||
	    (r = new_eventfd(&q->kick)))
		return r;
	return step("SET_VRING_KICK", vf_ack(f, SGF_VU_SET_VRING_KICK, &idx, sizeof(idx), &q->kick, 1));
}

static int enable(struct vf *f, unsigned qi)
{
	struct sgf_vu_vring_state on = { qi, 1 };

	return step("SET_VRING_ENABLE", vf_ack(f, SGF_VU_SET_VRING_ENABLE, &on, sizeof(on), NULL, 0));
}

int vf_queue_up(struct vf *f, unsigned qi, uint16_t base)
{
	struct vf_queue *q = &f->q[qi];
	uint64_t at = VF_GPA + qi * RING_SPAN, idx = qi;
	int r;

	if (q->up)
		sgf_vq_drv_fini(&q->drv);
	q->up = false;
	q->desc = at;
	q->avail = at + sgf_vq_desc_size(f->num);
	q->used = (q->avail + sgf_vq_avail_size(f->num) + 3) & ~3ull;
	r = sgf_vq_drv_init(&q->drv, f->num, vf_host(f, q->desc), vf_host(f, q->avail),
			    vf_host(f, q->used), f->features & (1ull << SGF_VIRTIO_F_RING_EVENT_IDX));
	if (r)
		return step("sgf_vq_drv_init", r);
	q->up = true;
	/* A queue taken over at base: both indices there, nothing in
	 * flight. */
	q->drv.avail_idx = q->drv.kicked_avail = q->drv.last_used = base;
	q->drv.avail->idx = htole16(base);
	q->drv.used->idx = htole16(base);
	q->drv.avail->ring[f->num] = htole16(base); /* used_event */
	if ((r = new_eventfd(&q->call)) || (r = new_eventfd(&q->err)))
		return r;
	if ((r = step("SET_VRING_CALL",
		      vf_ack(f, SGF_VU_SET_VRING_CALL, &idx, sizeof(idx), &q->call, 1))) ||
	    (r = step("SET_VRING_ERR", vf_ack(f, SGF_VU_SET_VRING_ERR, &idx, sizeof(idx), &q->err, 1))) ||
	    (r = send_ring(f, qi, base)))
		return r;
	return enable(f, qi);
}

int vf_queue_restart(struct vf *f, unsigned qi, uint16_t base)
{
	int r = send_ring(f, qi, base);

	return r ? r : enable(f, qi);
}

int vf_start(struct vf *f, const char *path, unsigned flags)
{
	int r = step("connect", vf_open(f, path, flags));

	if (r == 0)
		r = vf_negotiate(f);
	if (r == 0)
		r = vf_set_mem(f);
	for (unsigned i = 0; r == 0 && i < VF_NQ; i++)
		r = vf_queue_up(f, i, 0);
	return r;
}

/* ---- guest memory ---- */

uint64_t vf_alloc(struct vf *f, size_t len, size_t align)
{
	uint64_t at = (f->brk + align - 1) & ~(uint64_t)(align - 1);
	uint64_t arena = VF_GPA + f->size - VF_ARENA0;
	uint64_t end = f->brk < arena ? arena : VF_GPA + f->size;

	if (at + len > end) {
		fprintf(stderr, "vf: guest memory exhausted\n");
		abort();
	}
	f->brk = at + len;
	memset(vf_host(f, at), 0, len);
	return at;
}

void *vf_host(struct vf *f, uint64_t gpa)
{
	if (gpa < VF_GPA || gpa - VF_GPA > f->size) {
		fprintf(stderr, "vf: gpa 0x%llx outside guest memory\n", (unsigned long long)gpa);
		abort();
	}
	return f->mem + (gpa - VF_GPA);
}

bool vf_canaries_ok(const struct vf *f)
{
	size_t end = VF_GUARD + f->size;

	for (size_t i = 0; i < f->map_len; i++) {
		if (i == VF_GUARD)
			i = end;
		if (i < f->map_len && f->map[i] != VF_CANARY) {
			fprintf(stderr, "vf: memfd byte %zu outside guest memory was written (0x%02x)\n",
				i, f->map[i]);
			return false;
		}
	}
	return true;
}

/* ---- chains ---- */

void vf_kick(struct vf *f, unsigned qi)
{
	if (eventfd_write(f->q[qi].kick, 1) != 0)
		perror("vf: kick");
}

int vf_add(struct vf *f, unsigned qi, const struct sgf_vq_buf *rd, unsigned nrd,
	   const struct sgf_vq_buf *wr, unsigned nwr, uint16_t *head)
{
	struct vf_queue *q = &f->q[qi];
	int r = sgf_vq_drv_add(&q->drv, rd, nrd, wr, nwr, head);

	if (r == 0 && sgf_vq_drv_should_kick(&q->drv))
		vf_kick(f, qi);
	return r;
}

int vf_wait_used(struct vf *f, unsigned qi, uint16_t *head, uint32_t *len, unsigned timeout_ms)
{
	struct vf_queue *q = &f->q[qi];
	uint64_t deadline = now_ms() + timeout_ms;
	eventfd_t v;

	for (;;) {
		int r = sgf_vq_drv_get_used(&q->drv, head, len);
		if (r != 0)
			return r;
		/* Interrupts are what we wait for: a backend that forgets
		 * one makes this time out. */
		if (wait_in(q->call, deadline) <= 0) {
			if (sgf_vq_drv_get_used(&q->drv, head, len) != 1)
				return 0;
			fprintf(stderr, "vf: queue %u: a used element came without an interrupt\n", qi);
			return -ETIME;
		}
		(void)eventfd_read(q->call, &v);
	}
}

void vf_raw_desc(struct vf *f, unsigned qi, uint16_t i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	struct vring_desc *d = &f->q[qi].drv.desc[i];

	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

void vf_raw_publish(struct vf *f, unsigned qi, uint16_t head)
{
	struct sgf_vq_drv *d = &f->q[qi].drv;

	__atomic_store_n(&d->avail->ring[d->avail_idx & (d->num - 1)], htole16(head),
			 __ATOMIC_RELAXED);
	d->avail_idx++;
	__atomic_store_n(&d->avail->idx, htole16(d->avail_idx), __ATOMIC_RELEASE);
	d->kicked_avail = d->avail_idx;
	vf_kick(f, qi);
}

void vf_raw_avail_idx(struct vf *f, unsigned qi, uint16_t idx)
{
	struct sgf_vq_drv *d = &f->q[qi].drv;

	d->avail_idx = d->kicked_avail = idx;
	__atomic_store_n(&d->avail->idx, htole16(idx), __ATOMIC_RELEASE);
	vf_kick(f, qi);
}

int vf_raw_used(struct vf *f, unsigned qi, uint32_t *id, uint32_t *len, unsigned timeout_ms)
{
	struct vf_queue *q = &f->q[qi];
	struct sgf_vq_drv *d = &q->drv;
	uint64_t deadline = now_ms() + timeout_ms;
	eventfd_t v;

	for (;;) {
		uint16_t idx = le16toh(__atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE));
		if (idx != d->last_used) {
			struct vring_used_elem *u = &d->used->ring[d->last_used & (d->num - 1)];
			*id = le32toh(__atomic_load_n(&u->id, __ATOMIC_RELAXED));
			*len = le32toh(__atomic_load_n(&u->len, __ATOMIC_RELAXED));
			d->last_used++;
			if (d->event_idx)
				__atomic_store_n(&d->avail->ring[d->num], htole16(d->last_used),
						 __ATOMIC_RELAXED);
			return 1;
		}
		if (wait_in(q->call, deadline) <= 0)
			return 0;
		(void)eventfd_read(q->call, &v);
	}
}

bool vf_wait_err(struct vf *f, unsigned qi, unsigned timeout_ms)
{
	eventfd_t v;

	if (wait_in(f->q[qi].err, now_ms() + timeout_ms) <= 0)
		return false;
	(void)eventfd_read(f->q[qi].err, &v);
	return true;
}
