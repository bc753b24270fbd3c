/* lib/client/send.c - the stream transport's sending: puts one request on
 * the socket, header plus the caller's iovecs in as few sendmsg calls as
 * IOV_MAX allows, so WRITE payload travels from the caller's buffers without
 * an intermediate copy. It never blocks in sendmsg: a full socket is waited
 * out in sgf_send_wait, which keeps replies draining so the server can go
 * on reading. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include "conn.h"

/* Write all of vec[0..cnt) (entries are consumed in place). */
static int send_all(struct sgf_client *c, struct iovec *vec, int cnt)
{
	int i = 0;

	while (i < cnt) {
		if (vec[i].iov_len == 0) {
			i++;
			continue;
		}
		struct msghdr mh = {
			.msg_iov = vec + i,
			.msg_iovlen = (size_t)(cnt - i > IOV_MAX ? IOV_MAX : cnt - i),
		};
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int r = sgf_send_wait(c, 0);
				if (r < 0)
					return r;
				continue;
			}
			return -errno;
		}
		i = sgf_iov_advance(vec, cnt, i, (size_t)n);
	}
	return 0;
}

int sgf_stream_send(struct sgf_client *c, uint64_t unique, uint32_t opcode,
		    uint64_t nodeid, struct iovec *vec, int cnt)
{
	struct fuse_in_header ih;
	uint64_t len = sizeof(ih);

	for (int i = 1; i < cnt; i++)
		len += vec[i].iov_len;
	if (len > UINT32_MAX)
		return -E2BIG;  /* nothing sent */
	sgf_in_header(c, &ih, (uint32_t)len, opcode, unique, nodeid);
	vec[0].iov_base = &ih;
	vec[0].iov_len = sizeof(ih);

	pthread_mutex_lock(&c->send_lock);
	int r = send_all(c, vec, cnt);
	pthread_mutex_unlock(&c->send_lock);
	if (r < 0) {
		/* Part of a message may be on the wire: the stream is unusable.
		 * Shutting it down makes the next reader fail everything. */
		shutdown(c->fd, SHUT_RDWR);
		return r == -EPIPE || r == -ECONNRESET ? -ENOTCONN : r;
	}
	return 0;
}
