/* lib/chan_priv.h - the channel's state, shared by chan.c (constructors,
 * /dev/fuse), chan_stream.c (socket framing) and chan_splice.c (spliced
 * replies); not public. */
#ifndef SGFUSE_CHAN_PRIV_H
#define SGFUSE_CHAN_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The most iovecs one message is sent from (header, args, payload). */
#define SEND_IOV_MAX 16

struct sgf_chan {
	int fd;
	bool is_dev;
	atomic_bool shut;
	/* Stream: one thread at a time holds the receive role. It keeps the
	 * role while processing what it read unless more bytes are already
	 * waiting and another thread wants the role, so a lone request stream
	 * costs no hand-off between threads, and a pipelined one is spread. */
	pthread_mutex_t recv_lock;
	pthread_cond_t role_free;
	bool role_held;
	pthread_t role_owner;
	unsigned role_waiters;
	pthread_mutex_t send_lock; /* stream: one message written at a time */
};

/* Stream receive of one whole message, taking and handing on the receive
 * role (chan_stream.c). */
ssize_t sgf_stream_recv(struct sgf_chan *ch, void *buf, size_t size);
/* Send one message on a stream; the caller holds send_lock. */
int sgf_stream_send_locked(struct sgf_chan *ch, const struct iovec *iov, int iovcnt);

#endif
