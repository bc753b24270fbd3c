/* lib/client/vhost_setup.c - the frontend's part of vhost-user, in the
 * order QEMU sends it: features, protocol features (REPLY_ACK, MQ), owner,
 * one memfd region holding rings, slots and arena, then per queue its
 * size, base, ring addresses, call and kick eventfds, and enable. Every
 * reply is checked, every step bounded by the connect deadline; at the end
 * GET_VRING_BASE stops the rings. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include "vhost.h"
#include "../common/vhost_user.h"

#define BIT(n) ((uint64_t)1 << (n))

/* The reply to request req, by deadline. A reply never carries fds. */
static int recv_reply(struct sgf_vhost *vh, const struct timespec *deadline, uint32_t req,
		      struct sgf_vu_msg *m)
{
	struct pollfd p = { .fd = vh->sock, .events = POLLIN };
	int fds[SGF_VU_MAX_FDS];
	unsigned nfds = 0;
	int n;

	do
		n = poll(&p, 1, sgf_vh_ms_left(deadline));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	/* The socket's receive timeout bounds a reply that stops halfway. */
	int r = sgf_vu_recv(vh->sock, m, true, fds, &nfds);
	if (r == -EAGAIN || r == -EWOULDBLOCK)
		return -ETIMEDOUT;
	if (r < 0)
		return r;
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	if (nfds != 0 || m->hdr.request != req)
		return -EPROTO;
	return 0;
}

static bool has_reply(uint32_t req)
{
	return req == SGF_VU_GET_FEATURES || req == SGF_VU_GET_PROTOCOL_FEATURES ||
	       req == SGF_VU_GET_QUEUE_NUM || req == SGF_VU_GET_VRING_BASE;
}

/* One request. Requests with a reply of their own store it in *reply (the
 * u64, or GET_VRING_BASE's num); the others ask for REPLY_ACK's answer once
 * it is negotiated, and a nonzero one (a refusal) is -EPROTO. */
static int vu_call(struct sgf_vhost *vh, const struct timespec *deadline, uint32_t req,
		   const void *payload, uint32_t size, const int *fds, unsigned nfds,
		   uint64_t *reply)
{
	struct sgf_vu_msg m;
	bool ack = !has_reply(req) && (vh->protocol_features & BIT(SGF_VU_PROTOCOL_F_REPLY_ACK));

	sgf_vu_msg_init(&m, req, ack ? SGF_VU_FLAG_NEED_REPLY : 0, size);
	if (size)
		memcpy(&m.p, payload, size);
	int r = sgf_vu_send(vh->sock, &m, fds, nfds);
	if (r == -EAGAIN || r == -EWOULDBLOCK)
		return -ETIMEDOUT;
	if (r < 0 || (!ack && !has_reply(req)))
		return r;
	r = recv_reply(vh, deadline, req, &m);
	if (r < 0)
		return r;
	if (req == SGF_VU_GET_VRING_BASE) {
		if (m.hdr.size != sizeof(m.p.state))
			return -EPROTO;
		if (reply)
			*reply = m.p.state.num;
		return 0;
	}
	if (m.hdr.size != sizeof(uint64_t))
		return -EPROTO;
	if (ack)
		return m.p.u64 == 0 ? 0 : -EPROTO;
	*reply = m.p.u64;
	return 0;
}

static int vu_u64(struct sgf_vhost *vh, const struct timespec *dl, uint32_t req, uint64_t v)
{
	return vu_call(vh, dl, req, &v, sizeof(v), NULL, 0, NULL);
}

static int vu_state(struct sgf_vhost *vh, const struct timespec *dl, uint32_t req,
		    unsigned q, unsigned num)
{
	struct sgf_vu_vring_state st = { .index = q, .num = num };
	return vu_call(vh, dl, req, &st, sizeof(st), NULL, 0, NULL);
}

static int vu_fd(struct sgf_vhost *vh, const struct timespec *dl, uint32_t req, unsigned q,
		 int fd)
{
	uint64_t v = q;
	return vu_call(vh, dl, req, &v, sizeof(v), &fd, 1, NULL);
}

/* Features: virtio 1 (our rings are its little-endian layout) is a must;
 * protocol features and event idx when offered; nothing else (no
 * indirect descriptors, no device features: virtio-fs notifications need
 * a queue we do not drive). */
static int negotiate(struct sgf_vhost *vh, const struct timespec *dl)
{
	uint64_t f = 0, pf = 0, nq = 0;
	int r = vu_call(vh, dl, SGF_VU_GET_FEATURES, NULL, 0, NULL, 0, &f);

	if (r < 0)
		return r;
	if (!(f & BIT(SGF_VIRTIO_F_VERSION_1)))
		return -EPROTO;
	vh->features = BIT(SGF_VIRTIO_F_VERSION_1) |
		       (f & (BIT(SGF_VHOST_USER_F_PROTOCOL_FEATURES) | BIT(SGF_VIRTIO_F_RING_EVENT_IDX)));
	if (f & BIT(SGF_VHOST_USER_F_PROTOCOL_FEATURES)) {
		r = vu_call(vh, dl, SGF_VU_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0, &pf);
		if (r < 0)
			return r;
		pf &= BIT(SGF_VU_PROTOCOL_F_REPLY_ACK) | BIT(SGF_VU_PROTOCOL_F_MQ);
		r = vu_u64(vh, dl, SGF_VU_SET_PROTOCOL_FEATURES, pf);
		if (r < 0)
			return r;
		/* From here on, requests without a reply ask for the ack. */
		vh->protocol_features = pf;
		if (pf & BIT(SGF_VU_PROTOCOL_F_MQ)) {
			r = vu_call(vh, dl, SGF_VU_GET_QUEUE_NUM, NULL, 0, NULL, 0, &nq);
			if (r < 0)
				return r;
			if (nq < SGF_VH_NQUEUES)
				return -EPROTO;  /* virtio-fs has hiprio + one at least */
		}
	}
	r = vu_call(vh, dl, SGF_VU_SET_OWNER, NULL, 0, NULL, 0, NULL);
	if (r == 0)
		r = vu_u64(vh, dl, SGF_VU_SET_FEATURES, vh->features);
	return r;
}

static int map_region(struct sgf_vhost *vh)
{
	vh->memfd = memfd_create("sgfuse-client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (vh->memfd < 0)
		return -errno;
	if (ftruncate(vh->memfd, (off_t)vh->lay.total) < 0)
		return -errno;
	/* Sealed, so a backend that shrinks the file cannot make our own
	 * accesses to the mapping fault (SIGBUS). */
	if (fcntl(vh->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	void *p = mmap(NULL, vh->lay.total, PROT_READ | PROT_WRITE, MAP_SHARED, vh->memfd, 0);
	if (p == MAP_FAILED)
		return -errno;
	vh->mem = p;
	vh->gpa = SGF_VH_GPA_BASE;
	return 0;
}

static int init_queues(struct sgf_vhost *vh)
{
	bool event_idx = (vh->features & BIT(SGF_VIRTIO_F_RING_EVENT_IDX)) != 0;

	for (unsigned i = 0; i < SGF_VH_NQUEUES; i++) {
		struct sgf_vh_queue *q = &vh->q[i];
		const struct sgf_vh_layout *l = &vh->lay;
		int r = sgf_vq_drv_init(&q->drv, l->qnum[i], vh->mem + l->desc[i],
					vh->mem + l->avail[i], vh->mem + l->used[i], event_idx);
		if (r < 0)
			return r;
		pthread_mutex_init(&q->lock, NULL);
		q->ready = true;
		q->owner = calloc(l->qnum[i], sizeof(*q->owner));
		q->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->owner == NULL)
			return -ENOMEM;
		if (q->kick < 0 || q->call < 0)
			return -errno;
	}
	vh->hp_free = calloc(SGF_VH_HIPRIO_NUM, sizeof(*vh->hp_free));
	if (vh->hp_free == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < SGF_VH_HIPRIO_NUM; i++)
		vh->hp_free[i] = (uint16_t)(SGF_VH_HIPRIO_NUM - 1 - i);
	vh->hp_nfree = SGF_VH_HIPRIO_NUM;
	return 0;
}

/* Each slot's control page and bounce space, and room to build its
 * chain: readable and writable descriptors, one per iovec entry at most,
 * plus the two headers. */
static int init_slots(struct sgf_vhost *vh, unsigned nslots, uint32_t max_pages)
{
	vh->slots = calloc(nslots, sizeof(*vh->slots));
	if (vh->slots == NULL)
		return -ENOMEM;
	vh->nslots = nslots;
	for (unsigned i = 0; i < nslots; i++) {
		struct sgf_vh_slot *vs = &vh->slots[i];
		vs->ctl = vh->mem + vh->lay.slots + (size_t)i * vh->lay.slot_size;
		vs->bounce = vs->ctl + SGF_VH_CTL_SIZE;
		vs->ctl_gpa = sgf_vh_gpa(vh, vs->ctl);
		vs->bounce_gpa = sgf_vh_gpa(vh, vs->bounce);
		vs->bufcap = 2 * (max_pages + 2) + 2;
		vs->piececap = max_pages + 2;
		vs->bufs = calloc(vs->bufcap, sizeof(*vs->bufs));
		vs->pieces = calloc(vs->piececap, sizeof(*vs->pieces));
		if (vs->bufs == NULL || vs->pieces == NULL)
			return -ENOMEM;
	}
	return 0;
}

static int send_mem_table(struct sgf_vhost *vh, const struct timespec *dl)
{
	struct sgf_vu_mem_table t;

	/* The whole 8-region array, as QEMU sends it. */
	memset(&t, 0, sizeof(t));
	t.nregions = 1;
	t.regions[0] = (struct sgf_vu_mem_region){
		.guest_phys_addr = vh->gpa,
		.memory_size = vh->lay.total,
		.userspace_addr = (uint64_t)(uintptr_t)vh->mem,
		.mmap_offset = 0,
	};
	return vu_call(vh, dl, SGF_VU_SET_MEM_TABLE, &t, sizeof(t), &vh->memfd, 1, NULL);
}

/* Ring addresses are in the frontend's address space (ours), descriptor
 * addresses guest physical: the backend translates both through the
 * table above. */
static int start_queue(struct sgf_vhost *vh, const struct timespec *dl, unsigned i)
{
	struct sgf_vh_queue *q = &vh->q[i];
	struct sgf_vu_vring_addr a = {
		.index = i,
		.desc_user_addr = (uint64_t)(uintptr_t)q->drv.desc,
		.used_user_addr = (uint64_t)(uintptr_t)q->drv.used,
		.avail_user_addr = (uint64_t)(uintptr_t)q->drv.avail,
	};
	int r = vu_state(vh, dl, SGF_VU_SET_VRING_NUM, i, q->drv.num);

	if (r == 0)
		r = vu_state(vh, dl, SGF_VU_SET_VRING_BASE, i, 0);
	if (r == 0)
		r = vu_call(vh, dl, SGF_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL);
	/* The call fd first: a backend may start the queue at the kick fd,
	 * and a completion before it has a call fd would go unsignalled. */
	if (r == 0)
		r = vu_fd(vh, dl, SGF_VU_SET_VRING_CALL, i, q->call);
	if (r == 0)
		r = vu_fd(vh, dl, SGF_VU_SET_VRING_KICK, i, q->kick);
	return r;
}

int sgf_vh_setup(struct sgf_client *c, struct sgf_vhost *vh, const struct timespec *deadline)
{
	pthread_condattr_t attr;
	int r = negotiate(vh, deadline);

	if (r == 0)
		r = sgf_vh_layout(&vh->lay, c->nslots, c->want_max_pages, c->arena_size);
	if (r == 0)
		r = map_region(vh);
	if (r == 0)
		r = init_queues(vh);
	if (r == 0)
		r = init_slots(vh, c->nslots, c->want_max_pages);
	if (r == 0) {
		r = sgf_arena_init(&vh->arena, vh->mem + vh->lay.arena, vh->lay.arena_size);
		vh->arena_ready = r == 0;
	}
	if (r < 0)
		return r;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&vh->room, &attr);
	pthread_condattr_destroy(&attr);
	vh->room_ready = true;

	r = send_mem_table(vh, deadline);
	for (unsigned i = 0; i < SGF_VH_NQUEUES && r == 0; i++)
		r = start_queue(vh, deadline, i);
	/* With protocol features, rings start disabled (vhost-user.rst). */
	if (vh->features & BIT(SGF_VHOST_USER_F_PROTOCOL_FEATURES)) {
		for (unsigned i = 0; i < SGF_VH_NQUEUES && r == 0; i++)
			r = vu_state(vh, deadline, SGF_VU_SET_VRING_ENABLE, i, 1);
	}
	/* Without REPLY_ACK nothing said the backend took it all in; a
	 * request with a reply of its own does (as QEMU does it). */
	if (r == 0 && !(vh->protocol_features & BIT(SGF_VU_PROTOCOL_F_REPLY_ACK))) {
		uint64_t f;
		r = vu_call(vh, deadline, SGF_VU_GET_FEATURES, NULL, 0, NULL, 0, &f);
	}
	vh->running = r == 0;
	return r;
}

void sgf_vh_stop(struct sgf_vhost *vh, unsigned timeout_ms)
{
	struct timespec dl;

	/* A setup that failed halfway ends with the socket's close alone. */
	if (!vh->running || atomic_load(&vh->hung_up))
		return;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	/* Stops each ring: the backend touches our memory no more. */
	for (unsigned i = 0; i < SGF_VH_NQUEUES; i++) {
		uint64_t base;
		struct sgf_vu_vring_state st = { .index = i };
		if (vu_call(vh, &dl, SGF_VU_GET_VRING_BASE, &st, sizeof(st), NULL, 0, &base) < 0)
			break;
	}
}

void sgf_vh_free(struct sgf_vhost *vh)
{
	if (vh->slots) {
		for (unsigned i = 0; i < vh->nslots; i++) {
			free(vh->slots[i].bufs);
			free(vh->slots[i].pieces);
		}
		free(vh->slots);
	}
	if (vh->room_ready)
		pthread_cond_destroy(&vh->room);
	for (unsigned i = 0; i < SGF_VH_NQUEUES; i++) {
		struct sgf_vh_queue *q = &vh->q[i];
		if (q->ready) {
			sgf_vq_drv_fini(&q->drv);
			pthread_mutex_destroy(&q->lock);
		}
		free(q->owner);
		if (q->kick >= 0)
			close(q->kick);
		if (q->call >= 0)
			close(q->call);
	}
	free(vh->hp_free);
	if (vh->arena_ready)
		sgf_arena_fini(&vh->arena);
	if (vh->mem)
		munmap(vh->mem, vh->lay.total);
	if (vh->memfd >= 0)
		close(vh->memfd);
	if (vh->sock >= 0)
		close(vh->sock);
	free(vh);
}
