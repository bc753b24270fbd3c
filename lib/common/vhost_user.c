/* lib/common/vhost_user.c - one vhost-user message in or out of a Unix
 * stream socket, fds included, with the checks that let a receiver use the
 * payload as the struct its request names. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "vhost_user.h"

static const char *const names[] = {
	[SGF_VU_GET_FEATURES] = "GET_FEATURES",
	[SGF_VU_SET_FEATURES] = "SET_FEATURES",
	[SGF_VU_SET_OWNER] = "SET_OWNER",
	[SGF_VU_RESET_OWNER] = "RESET_OWNER",
	[SGF_VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[SGF_VU_SET_LOG_BASE] = "SET_LOG_BASE",
	[SGF_VU_SET_LOG_FD] = "SET_LOG_FD",
	[SGF_VU_SET_VRING_NUM] = "SET_VRING_NUM",
	[SGF_VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[SGF_VU_SET_VRING_BASE] = "SET_VRING_BASE",
	[SGF_VU_GET_VRING_BASE] = "GET_VRING_BASE",
	[SGF_VU_SET_VRING_KICK] = "SET_VRING_KICK",
	[SGF_VU_SET_VRING_CALL] = "SET_VRING_CALL",
	[SGF_VU_SET_VRING_ERR] = "SET_VRING_ERR",
	[SGF_VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[SGF_VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[SGF_VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[SGF_VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[SGF_VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[SGF_VU_GET_CONFIG] = "GET_CONFIG",
	[SGF_VU_SET_CONFIG] = "SET_CONFIG",
	[SGF_VU_RESET_DEVICE] = "RESET_DEVICE",
	[SGF_VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[SGF_VU_ADD_MEM_REG] = "ADD_MEM_REG",
	[SGF_VU_REM_MEM_REG] = "REM_MEM_REG",
	[SGF_VU_SET_STATUS] = "SET_STATUS",
	[SGF_VU_GET_STATUS] = "GET_STATUS",
};

const char *sgf_vu_request_name(uint32_t request, char *buf, unsigned size)
{
	if (request < sizeof(names) / sizeof(names[0]) && names[request])
		return names[request];
	snprintf(buf, size, "request %u", request);
	return buf;
}

static void close_fds(int *fds, unsigned *nfds)
{
	for (unsigned i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
}

/* Read exactly len bytes (the rest of a message whose first bytes came). */
static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return got ? -EPROTO : -ENOTCONN;
		if (errno == EINTR)
			continue;
		/* A receive timeout (SO_RCVTIMEO) in the middle of a
		 * message: the peer stalled; the stream is lost either way. */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ETIMEDOUT;
		return errno == ECONNRESET ? -ENOTCONN : -errno;
	}
	return 0;
}

/* The header, and the fds that came with its first byte. */
static int recv_header(int fd, struct sgf_vu_hdr *h, int *fds, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(SGF_VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { h, sizeof(*h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;

	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -ENOTCONN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
			if (*nfds < SGF_VU_MAX_FDS)
				fds[(*nfds)++] = f;
			else
				close(f);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		return -EPROTO; /* more fds than any request carries */
	if (n == 0)
		return -ENOTCONN;
	if ((size_t)n < sizeof(*h))
		return read_full(fd, (char *)h + n, sizeof(*h) - (size_t)n);
	return 0;
}

int sgf_vu_recv(int fd, struct sgf_vu_msg *m, bool want_reply, int *fds, unsigned *nfds)
{
	int err;

	*nfds = 0;
	err = recv_header(fd, &m->hdr, fds, nfds);
	if (err == 0 && ((m->hdr.flags & SGF_VU_VERSION_MASK) != SGF_VU_VERSION ||
			 !(m->hdr.flags & SGF_VU_FLAG_REPLY) != !want_reply ||
			 m->hdr.size > sizeof(m->p)))
		err = -EPROTO;
	if (err == 0)
		err = read_full(fd, &m->p, m->hdr.size);
	if (err == 0 && !want_reply)
		err = sgf_vu_check(m, *nfds);
	if (err)
		close_fds(fds, nfds);
	return err;
}

/* Payload bytes and fds each request we understand must come with. */
static int expect(uint32_t request, size_t *size, int *nfds_min, int *nfds_max)
{
	*nfds_min = *nfds_max = 0;
	switch (request) {
	case SGF_VU_GET_FEATURES:
	case SGF_VU_SET_OWNER:
	case SGF_VU_RESET_OWNER:
	case SGF_VU_GET_PROTOCOL_FEATURES:
	case SGF_VU_GET_QUEUE_NUM:
	case SGF_VU_RESET_DEVICE:
	case SGF_VU_GET_MAX_MEM_SLOTS:
	case SGF_VU_GET_STATUS:
		*size = 0;
		return 0;
	case SGF_VU_SET_FEATURES:
	case SGF_VU_SET_PROTOCOL_FEATURES:
	case SGF_VU_SET_STATUS:
		*size = sizeof(uint64_t);
		return 0;
	case SGF_VU_SET_VRING_KICK:
	case SGF_VU_SET_VRING_CALL:
	case SGF_VU_SET_VRING_ERR:
		*size = sizeof(uint64_t);
		*nfds_max = 1; /* checked against the NOFD bit below */
		return 0;
	case SGF_VU_SET_VRING_NUM:
	case SGF_VU_SET_VRING_BASE:
	case SGF_VU_GET_VRING_BASE:
	case SGF_VU_SET_VRING_ENABLE:
		*size = sizeof(struct sgf_vu_vring_state);
		return 0;
	case SGF_VU_SET_VRING_ADDR:
		*size = sizeof(struct sgf_vu_vring_addr);
		return 0;
	case SGF_VU_SET_MEM_TABLE:
		*size = 0; /* depends on nregions */
		*nfds_max = SGF_VU_MAX_FDS;
		return 0;
	default:
		return -ENOENT;
	}
}

int sgf_vu_check(const struct sgf_vu_msg *m, unsigned nfds)
{
	size_t size;
	int nmin, nmax;

	if (expect(m->hdr.request, &size, &nmin, &nmax) != 0)
		return 0;
	if ((int)nfds < nmin || (int)nfds > nmax)
		return -EPROTO;
	switch (m->hdr.request) {
	case SGF_VU_SET_MEM_TABLE: {
		/* QEMU sends the whole 8-region array whatever nregions is;
		 * a shorter payload covering the regions used is fine too. */
		size_t head = offsetof(struct sgf_vu_mem_table, regions);
		if (m->hdr.size < head)
			return -EPROTO;
		uint32_t n = m->p.mem.nregions;
		if (n > SGF_VU_MAX_FDS || n != nfds ||
		    m->hdr.size < head + n * sizeof(struct sgf_vu_mem_region) ||
		    m->hdr.size > sizeof(struct sgf_vu_mem_table))
			return -EPROTO;
		return 0;
	}
	case SGF_VU_SET_VRING_KICK:
	case SGF_VU_SET_VRING_CALL:
	case SGF_VU_SET_VRING_ERR:
		if (m->hdr.size != size)
			return -EPROTO;
		/* Exactly one fd unless the NOFD bit says none. */
		if ((m->p.u64 & SGF_VU_VRING_NOFD) ? nfds != 0 : nfds != 1)
			return -EPROTO;
		return 0;
	default:
		return m->hdr.size == size ? 0 : -EPROTO;
	}
}

int sgf_vu_send(int fd, const struct sgf_vu_msg *m, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(SGF_VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	/* Header and payload are adjacent on the wire, not in the struct
	 * (the payload is 8-aligned). */
	struct iovec iov[2] = { { (void *)&m->hdr, sizeof(m->hdr) },
				{ (void *)&m->p, m->hdr.size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	if (m->hdr.size > sizeof(m->p) || nfds > SGF_VU_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	while (mh.msg_iovlen > 0) {
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT; /* SO_SNDTIMEO: the peer stopped reading */
			return errno == EPIPE || errno == ECONNRESET ? -ENOTCONN : -errno;
		}
		/* The fds went with the first byte; the rest goes without. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
			n -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++, mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

void sgf_vu_msg_init(struct sgf_vu_msg *m, uint32_t request, uint32_t flags, uint32_t size)
{
	memset(&m->hdr, 0, sizeof(m->hdr));
	m->hdr.request = request;
	m->hdr.flags = SGF_VU_VERSION | flags;
	m->hdr.size = size;
}
