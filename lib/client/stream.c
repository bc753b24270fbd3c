/* lib/client/stream.c - the stream transport: FUSE messages back to back on
 * a connected SOCK_STREAM socket (send.c writes them, recv.c reads them);
 * here is its ops table and what little else it needs: waiting for room
 * on a full socket, hanging up, and plain page-aligned buffers. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "conn.h"

/* How long a sender blocked on a full socket sleeps before it looks again
 * whether the receive role is free (it cannot be woken when it is). */
#define SGF_SEND_RECHECK_MS 5

static int stream_send(struct sgf_client *c, struct sgf_slot *s, uint32_t opcode,
		       uint64_t nodeid, struct iovec *vec, int cnt)
{
	int r = sgf_stream_send(c, s->unique, opcode, nodeid, vec, cnt);

	/* Any other failure shut the socket: the next reader fails s. */
	if (r == -E2BIG)
		sgf_slot_fail_unsent(c, s, -EINVAL);
	return r;
}

static int stream_send_noreply(struct sgf_client *c, uint64_t unique, uint32_t opcode,
			       uint64_t nodeid, struct iovec *vec, int cnt)
{
	return sgf_stream_send(c, unique, opcode, nodeid, vec, cnt);
}

/* Writable again, or (holding the receive role) replies to drain: the
 * server may be blocked sending them and not reading us. */
static int stream_wait_room(struct sgf_client *c, bool reading, unsigned long since)
{
	struct pollfd p = { .fd = c->fd, .events = POLLOUT | (reading ? POLLIN : 0) };

	(void)since;
	int n = poll(&p, 1, reading ? -1 : SGF_SEND_RECHECK_MS);
	return n < 0 && errno != EINTR ? -ENOTCONN : 0;
}

static void stream_hangup(struct sgf_client *c)
{
	/* Readers then meet end of file; the peer sees it too. */
	shutdown(c->fd, SHUT_RDWR);
}

static void stream_close(struct sgf_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void *stream_buf_alloc(struct sgf_client *c, size_t size)
{
	(void)c;
	if (size == 0 || size > SIZE_MAX - SGF_PAGE_SIZE) {
		errno = size ? ENOMEM : EINVAL;
		return NULL;
	}
	/* aligned_alloc wants a multiple of the alignment. */
	return aligned_alloc(SGF_PAGE_SIZE, (size + SGF_PAGE_SIZE - 1) / SGF_PAGE_SIZE * SGF_PAGE_SIZE);
}

static void stream_buf_free(struct sgf_client *c, void *p)
{
	(void)c;
	free(p);
}

const struct sgf_transport sgf_stream_transport = {
	.name = "stream",
	.send = stream_send,
	.send_noreply = stream_send_noreply,
	.rx_one = sgf_rx_one,
	.wait_room = stream_wait_room,
	.hangup = stream_hangup,
	.close = stream_close,
	.buf_alloc = stream_buf_alloc,
	.buf_free = stream_buf_free,
};
