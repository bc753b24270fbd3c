/* lib/server/vhost_dev.c - the vhost-user-fs device behind one frontend
 * connection: the control messages (features, memory table, vring setup,
 * start and stop), the guest memory mappings, and the FUSE session that
 * lives while the queues run. A session ends, and the next INIT starts a
 * fresh one, when the guest's filesystem sends DESTROY (unmount), when
 * the frontend stops every queue (device reset, reboot) or disconnects.
 * Frontends are served one after another on the listening socket. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "server.h"
#include "vhost.h"

/* What we offer. Indirect descriptors: only as whole chains (Linux
 * drivers' way, see virtq_dev.c); event idx saves most interrupts. */
#define OFFERED_FEATURES                                                            \
	((1ull << SGF_VIRTIO_F_VERSION_1) | (1ull << SGF_VHOST_USER_F_PROTOCOL_FEATURES) | \
	 (1ull << SGF_VIRTIO_F_RING_EVENT_IDX) | (1ull << SGF_VIRTIO_F_RING_INDIRECT_DESC))
#define OFFERED_PROTOCOL ((1ull << SGF_VU_PROTOCOL_F_MQ) | (1ull << SGF_VU_PROTOCOL_F_REPLY_ACK))

/* How long a stopping queue waits for answers to kept requests. */
#define STOP_WAIT_MS 2000u
/* Mappings kept for late answers across memory table changes. */
#define MAX_MAPPINGS 64u

struct mapping {
	void *addr;
	size_t len;
};

struct vhost_dev {
	struct sgf_server *srv;
	int sock;
	uint64_t features;           /* acked by SET_FEATURES */
	uint64_t protocol;           /* acked by SET_PROTOCOL_FEATURES */
	bool mem_set;
	struct sgf_vq_mem mem;
	struct sgf_vu_mem_region regions[SGF_VU_MAX_FDS]; /* for ring addresses */
	struct mapping maps[MAX_MAPPINGS];
	unsigned nmaps;
	unsigned nqueues;            /* queues initialised */
	struct vhost_queue q[SGF_VHOST_MAX_QUEUES];
	struct sgf_conn *conn;       /* the FUSE session while queues run */
	int ended_fd;                /* a worker saw the session end */
	bool said_unsealed;
};

void sgf_vhost_dev_session_ended(struct vhost_dev *dev)
{
	if (eventfd_write(dev->ended_fd, 1) != 0) {
	}
}

/* ---- the FUSE session ------------------------------------------------- */

static void session_end(struct vhost_dev *dev)
{
	struct sgf_server *srv = dev->srv;
	struct sgf_conn *c = dev->conn, **pp;

	if (c == NULL)
		return;
	for (unsigned i = 0; i < dev->nqueues; i++)
		sgf_vhost_queue_stop(&dev->q[i], STOP_WAIT_MS);
	pthread_mutex_lock(&srv->lock);
	for (pp = &srv->conns; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	pthread_mutex_unlock(&srv->lock);
	/* Kept requests are answered EIO (dropped: the queues stopped),
	 * destroy runs; after that nothing can answer into the slots. */
	sgf_conn_end(c);
	dev->conn = NULL;
	for (unsigned i = 0; i < dev->nqueues; i++)
		sgf_vhost_queue_release(&dev->q[i]);
}

static int session_begin(struct vhost_dev *dev)
{
	struct sgf_server *srv = dev->srv;
	struct sgf_conn *c;
	int err = sgf_conn_new(srv, false, &c);

	if (err)
		return err;
	/* Notifications have no queue here: the request queue's channel
	 * refuses them (-EOPNOTSUPP). */
	c->se->ch = &dev->q[1].ch;
	c->served = true;
	pthread_mutex_lock(&srv->lock);
	c->next = srv->conns;
	srv->conns = c;
	pthread_mutex_unlock(&srv->lock);
	dev->conn = c;
	return 0;
}

/* ---- queues ----------------------------------------------------------- */

/* A ring address in the frontend's address space, as a guest address. */
static int uaddr_to_gpa(const struct vhost_dev *dev, uint64_t ua, uint64_t *gpa)
{
	for (unsigned i = 0; i < dev->mem.nregions; i++) {
		const struct sgf_vu_mem_region *r = &dev->regions[i];
		if (ua >= r->userspace_addr && ua - r->userspace_addr < r->memory_size) {
			*gpa = r->guest_phys_addr + (ua - r->userspace_addr);
			return 0;
		}
	}
	return -EFAULT;
}

static bool enabled(const struct vhost_dev *dev, const struct vhost_queue *vq)
{
	/* Without protocol features a ring runs once it has a kick fd. */
	return vq->enabled || !(dev->features & (1ull << SGF_VHOST_USER_F_PROTOCOL_FEATURES));
}

/* Start vq if it has all it needs. */
static int maybe_start(struct vhost_dev *dev, struct vhost_queue *vq)
{
	struct sgf_vq_addr a = { .num = vq->num, .last_avail = vq->base,
				 .event_idx = !!(dev->features & (1ull << SGF_VIRTIO_F_RING_EVENT_IDX)) };
	unsigned threads = vq->index == 0 ? 1 : dev->srv->opts.threads;
	int err;

	if (vq->started || !dev->mem_set || vq->num == 0 || !vq->addr_set || vq->kick_fd < 0 ||
	    !enabled(dev, vq))
		return 0;
	err = uaddr_to_gpa(dev, vq->addr.desc_user_addr, &a.desc);
	if (!err)
		err = uaddr_to_gpa(dev, vq->addr.avail_user_addr, &a.avail);
	if (!err)
		err = uaddr_to_gpa(dev, vq->addr.used_user_addr, &a.used);
	if (!err && dev->conn == NULL)
		err = session_begin(dev);
	if (!err)
		err = sgf_vhost_queue_start(vq, &dev->mem, &a, dev->conn->se, threads ? threads : 1);
	if (err)
		fprintf(stderr, "sgfuse: vhost-user: queue %u cannot start: %s\n", vq->index,
			strerror(-err));
	return err;
}

/* Stop the running queues and start them again, with a new session. */
static void restart_all(struct vhost_dev *dev, bool new_session)
{
	bool was[SGF_VHOST_MAX_QUEUES];

	for (unsigned i = 0; i < dev->nqueues; i++) {
		was[i] = dev->q[i].started;
		sgf_vhost_queue_stop(&dev->q[i], STOP_WAIT_MS);
	}
	if (new_session)
		session_end(dev);
	for (unsigned i = 0; i < dev->nqueues; i++)
		if (was[i])
			maybe_start(dev, &dev->q[i]);
}

/* ---- memory ----------------------------------------------------------- */

static void unmap_all(struct vhost_dev *dev)
{
	for (unsigned i = 0; i < dev->nmaps; i++)
		munmap(dev->maps[i].addr, dev->maps[i].len);
	dev->nmaps = 0;
}

/* Map the regions of SET_MEM_TABLE (fds[i] for region i) into a new table.
 * Each region is mapped once, whole, from offset 0 of its fd, like QEMU's
 * own backends do, so mmap_offset need not be page aligned. */
static int set_mem_table(struct vhost_dev *dev, const struct sgf_vu_mem_table *t, int *fds)
{
	struct sgf_vq_mem mem;
	struct mapping made[SGF_VU_MAX_FDS];
	unsigned n = t->nregions, i;
	int err = 0;

	if (dev->nmaps + n > MAX_MAPPINGS)
		return -ENOSPC;
	sgf_vq_mem_init(&mem);
	for (i = 0; i < n; i++) {
		const struct sgf_vu_mem_region *r = &t->regions[i];
		uint64_t len = r->memory_size + r->mmap_offset;
		struct stat st;
		if (r->memory_size == 0 || len < r->mmap_offset || len > SIZE_MAX ||
		    r->userspace_addr + r->memory_size < r->userspace_addr) {
			err = -EINVAL;
			break;
		}
		/* Touching a mapping past the end of its file is SIGBUS: the
		 * file must cover the region (QEMU seals its memfds, so it
		 * cannot shrink later). */
		if (fstat(fds[i], &st) != 0 || (S_ISREG(st.st_mode) && (uint64_t)st.st_size < len)) {
			err = -EINVAL;
			break;
		}
		/* A frontend that shrinks the file later would still crash
		 * us; QEMU's memory-backend-memfd seals against that (seal=on,
		 * its default). Say so once for memory that is not sealed. */
		int seals = fcntl(fds[i], F_GET_SEALS);
		if (!(seals >= 0 && (seals & F_SEAL_SHRINK)) && !dev->said_unsealed) {
			dev->said_unsealed = true;
			fprintf(stderr, "sgfuse: vhost-user: guest memory not sealed against "
					"shrinking; the frontend must not shrink it\n");
		}
		void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			       fds[i], 0);
		if (p == MAP_FAILED) {
			err = -errno;
			break;
		}
		made[i] = (struct mapping){ p, (size_t)len };
		err = sgf_vq_mem_add(&mem, r->guest_phys_addr, r->memory_size,
				     (char *)p + r->mmap_offset);
		if (err) {
			i++;
			break;
		}
	}
	if (err) {
		while (i-- > 0)
			munmap(made[i].addr, made[i].len);
		return err;
	}
	/* Old mappings stay while a late answer could still write into
	 * them: as long as a stopped queue still has chains in flight. */
	bool busy = false;
	for (unsigned q = 0; q < dev->nqueues; q++) {
		sgf_vhost_queue_stop(&dev->q[q], STOP_WAIT_MS);
		busy = busy || dev->q[q].slots_busy > 0;
	}
	if (!busy)
		unmap_all(dev);
	for (i = 0; i < n; i++)
		dev->maps[dev->nmaps++] = made[i];
	dev->mem = mem;
	memcpy(dev->regions, t->regions, n * sizeof(t->regions[0]));
	dev->mem_set = true;
	return 0;
}

/* ---- messages --------------------------------------------------------- */

static struct vhost_queue *queue_of(struct vhost_dev *dev, uint32_t index)
{
	return index < dev->nqueues ? &dev->q[index] : NULL;
}

static int reply_u64(struct vhost_dev *dev, const struct sgf_vu_msg *m, uint64_t v)
{
	struct sgf_vu_msg r;

	sgf_vu_msg_init(&r, m->hdr.request, SGF_VU_FLAG_REPLY, sizeof(uint64_t));
	r.p.u64 = v;
	return sgf_vu_send(dev->sock, &r, NULL, 0);
}

static void replace_fd(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

/* SET_VRING_KICK / CALL / ERR: take the fd (or none). */
static int set_vring_fd(struct vhost_dev *dev, const struct sgf_vu_msg *m, int fd)
{
	struct vhost_queue *vq = queue_of(dev, (uint32_t)(m->p.u64 & SGF_VU_VRING_IDX_MASK));

	if (vq == NULL) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	switch (m->hdr.request) {
	case SGF_VU_SET_VRING_KICK:
		/* We wait on kicks: a queue to be polled is not served. */
		if (fd < 0)
			return -EOPNOTSUPP;
		sgf_vhost_queue_stop(vq, STOP_WAIT_MS);
		replace_fd(&vq->kick_fd, fd);
		return maybe_start(dev, vq);
	case SGF_VU_SET_VRING_CALL:
		/* Written under the queue lock: it must never block there
		 * (a pipe nobody reads instead of an eventfd). */
		if (fd >= 0)
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		sgf_vhost_queue_set_call(vq, fd);
		return 0;
	default:
		if (fd >= 0)
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		pthread_mutex_lock(&vq->lock);
		replace_fd(&vq->err_fd, fd);
		pthread_mutex_unlock(&vq->lock);
		return 0;
	}
}

/* Handle one message; returns what REPLY_ACK reports (0 or -errno) for
 * requests without a reply of their own, or 1 when the reply was sent. A
 * failed send is -ENOTCONN through *fatal. */
static int handle(struct vhost_dev *dev, const struct sgf_vu_msg *m, int *fds, unsigned nfds,
		  int *fatal)
{
	struct vhost_queue *vq;
	uint32_t idx = m->p.state.index;

	switch (m->hdr.request) {
	case SGF_VU_GET_FEATURES:
		*fatal = reply_u64(dev, m, OFFERED_FEATURES);
		return 1;
	case SGF_VU_SET_FEATURES:
		if (m->p.u64 & ~OFFERED_FEATURES)
			return -EINVAL;
		dev->features = m->p.u64;
		return 0;
	case SGF_VU_GET_PROTOCOL_FEATURES:
		*fatal = reply_u64(dev, m, OFFERED_PROTOCOL);
		return 1;
	case SGF_VU_SET_PROTOCOL_FEATURES:
		dev->protocol = m->p.u64 & OFFERED_PROTOCOL;
		return 0;
	case SGF_VU_GET_QUEUE_NUM:
		*fatal = reply_u64(dev, m, SGF_VHOST_MAX_QUEUES);
		return 1;
	case SGF_VU_SET_OWNER:
		return 0;
	case SGF_VU_RESET_OWNER:
	case SGF_VU_RESET_DEVICE:
		session_end(dev);
		for (unsigned i = 0; i < dev->nqueues; i++) {
			dev->q[i].enabled = false;
			dev->q[i].base = 0;
		}
		dev->features = 0;
		return 0;
	case SGF_VU_SET_MEM_TABLE: {
		int err = set_mem_table(dev, &m->p.mem, fds);
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (err == 0)
			for (unsigned i = 0; i < dev->nqueues; i++)
				maybe_start(dev, &dev->q[i]);
		return err;
	}
	case SGF_VU_SET_VRING_NUM:
		vq = queue_of(dev, idx);
		if (vq == NULL || vq->started || m->p.state.num == 0 ||
		    m->p.state.num > SGF_VQ_MAX_NUM || (m->p.state.num & (m->p.state.num - 1)))
			return -EINVAL;
		vq->num = m->p.state.num;
		return 0;
	case SGF_VU_SET_VRING_ADDR:
		vq = queue_of(dev, m->p.addr.index);
		if (vq == NULL || vq->started)
			return -EINVAL;
		vq->addr = m->p.addr;
		vq->addr_set = true;
		return maybe_start(dev, vq);
	case SGF_VU_SET_VRING_BASE:
		vq = queue_of(dev, idx);
		if (vq == NULL || vq->started || m->p.state.num > UINT16_MAX)
			return -EINVAL;
		vq->base = (uint16_t)m->p.state.num;
		return 0;
	case SGF_VU_GET_VRING_BASE: {
		struct sgf_vu_msg r;
		vq = queue_of(dev, idx);
		sgf_vu_msg_init(&r, m->hdr.request, SGF_VU_FLAG_REPLY, sizeof(r.p.state));
		r.p.state.index = idx;
		r.p.state.num = 0;
		if (vq) {
			sgf_vhost_queue_stop(vq, STOP_WAIT_MS);
			replace_fd(&vq->kick_fd, -1); /* a new start brings a new one */
			r.p.state.num = vq->base;
			/* The session stays: a stop of every queue is also a
			 * paused VM, whose mount goes on after the restart. A
			 * reset shows up as the next INIT (vhost_queue.c). */
		}
		*fatal = sgf_vu_send(dev->sock, &r, NULL, 0);
		return 1;
	}
	case SGF_VU_SET_VRING_KICK:
	case SGF_VU_SET_VRING_CALL:
	case SGF_VU_SET_VRING_ERR:
		return set_vring_fd(dev, m, nfds ? fds[0] : -1);
	case SGF_VU_SET_VRING_ENABLE:
		vq = queue_of(dev, idx);
		if (vq == NULL || m->p.state.num > 1)
			return -EINVAL;
		vq->enabled = m->p.state.num == 1;
		if (!vq->enabled) {
			sgf_vhost_queue_stop(vq, STOP_WAIT_MS);
			return 0;
		}
		return maybe_start(dev, vq);
	default: {
		char buf[24];
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		fprintf(stderr, "sgfuse: vhost-user: %s not supported\n",
			sgf_vu_request_name(m->hdr.request, buf, sizeof(buf)));
		return -EOPNOTSUPP;
	}
	}
}

/* One message from the frontend. 0, or -errno when the connection must
 * end (peer gone, stream malformed). */
static int serve_message(struct vhost_dev *dev)
{
	struct sgf_vu_msg m;
	int fds[SGF_VU_MAX_FDS];
	unsigned nfds;
	int fatal = 0;
	int err = sgf_vu_recv(dev->sock, &m, false, fds, &nfds);

	if (err == -EINTR || err == -EAGAIN)
		return 0;
	if (err)
		return err;
	if (dev->srv->opts.debug) {
		char buf[24];
		fprintf(stderr, "sgfuse: vhost-user: %s\n",
			sgf_vu_request_name(m.hdr.request, buf, sizeof(buf)));
	}
	int r = handle(dev, &m, fds, nfds, &fatal);
	if (fatal)
		return fatal;
	if (r != 1 && (dev->protocol & (1ull << SGF_VU_PROTOCOL_F_REPLY_ACK)) &&
	    (m.hdr.flags & SGF_VU_FLAG_NEED_REPLY))
		return reply_u64(dev, &m, r == 0 ? 0 : 1);
	return 0;
}

/* A frontend that stops in the middle of a message, or stops reading our
 * replies, is dropped after this long instead of holding the device (and
 * the server's exit) for ever. */
#define IO_TIMEOUT_S 10

static int dev_init(struct vhost_dev *dev, struct sgf_server *srv, int sock)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(dev, 0, sizeof(*dev));
	dev->srv = srv;
	dev->sock = sock;
	dev->ended_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->ended_fd < 0)
		return -errno;
	for (; dev->nqueues < SGF_VHOST_MAX_QUEUES; dev->nqueues++) {
		int err = sgf_vhost_queue_init(&dev->q[dev->nqueues], dev, dev->nqueues);
		if (err)
			return err;
	}
	return 0;
}

static void dev_fini(struct vhost_dev *dev)
{
	session_end(dev);
	for (unsigned i = 0; i < dev->nqueues; i++)
		sgf_vhost_queue_fini(&dev->q[i]);
	unmap_all(dev);
	if (dev->ended_fd >= 0)
		close(dev->ended_fd);
	close(dev->sock);
}

/* Serve one frontend until it goes, or the server is to exit (true). */
static bool serve_frontend(struct sgf_server *srv, int sock)
{
	struct vhost_dev *dev = malloc(sizeof(*dev));
	bool exit_now = false;
	int err;

	if (dev == NULL) {
		close(sock);
		return false;
	}
	err = dev_init(dev, srv, sock);
	while (err == 0 && !atomic_load(&srv->exit_requested)) {
		struct pollfd p[4] = { { srv->exit_fd, POLLIN, 0 }, { srv->sig_fd, POLLIN, 0 },
				       { sock, POLLIN, 0 }, { dev->ended_fd, POLLIN, 0 } };
		struct signalfd_siginfo si;
		eventfd_t v;

		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (p[0].revents) {
			exit_now = true;
			break;
		}
		if (p[1].revents && read(srv->sig_fd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGUSR1) {
				exit_now = true;
				break;
			}
			sgf_server_report(srv);
		}
		/* DESTROY, or a new INIT: the next INIT is a new session. A
		 * signal left over from the session before is ignored. */
		if (p[3].revents && eventfd_read(dev->ended_fd, &v) == 0 && dev->conn &&
		    sgf_session_exited(dev->conn->se))
			restart_all(dev, true);
		if (p[2].revents)
			err = serve_message(dev);
	}
	if (err == -ENOTCONN)
		fprintf(stderr, "sgfuse: vhost-user: frontend disconnected\n");
	else if (err)
		fprintf(stderr, "sgfuse: vhost-user: closing the connection: %s\n",
			err == -EPROTO ? "malformed message" : strerror(-err));
	dev_fini(dev);
	free(dev);
	return exit_now;
}

bool sgf_vhost_serve_fd(struct sgf_server *srv, int fd)
{
	return serve_frontend(srv, fd);
}

int sgf_vhost_run(struct sgf_server *srv)
{
	int ret = 0;

	while (!atomic_load(&srv->exit_requested)) {
		struct pollfd p[3] = { { srv->exit_fd, POLLIN, 0 }, { srv->listen_fd, POLLIN, 0 },
				       { srv->sig_fd, POLLIN, 0 } };
		struct signalfd_siginfo si;

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents & (POLLERR | POLLNVAL)) {
			ret = -EIO;
			break;
		}
		if (p[2].revents && read(srv->sig_fd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGUSR1)
				break;
			sgf_server_report(srv);
		}
		if (p[1].revents) {
			int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			int err = sgf_peer_allowed(fd);
			if (err) {
				fprintf(stderr, "sgfuse: vhost-user: connection refused: %s\n",
					strerror(-err));
				close(fd);
				continue;
			}
			if (serve_frontend(srv, fd))
				break;
		}
	}
	close(srv->listen_fd);
	srv->listen_fd = -1;
	unlink(srv->listen_path);
	return ret;
}
