/* lib/server/chan_stream.h - the stream socket channel's state, shared by
 * chan_stream.c (framing, receive role, sends) and chan_splice.c (spliced
 * READ replies). Internal. */
#ifndef SGFUSE_SERVER_CHAN_STREAM_H
#define SGFUSE_SERVER_CHAN_STREAM_H

#include <pthread.h>
#include "chan.h"

struct sgf_stream {
	struct sgf_chan base;
	/* One thread at a time holds the receive role. It keeps the role
	 * while processing what it read unless more bytes are already
	 * waiting and another thread wants the role, so a lone request stream
	 * costs no hand-off between threads, and a pipelined one is spread. */
	pthread_mutex_t recv_lock;
	pthread_cond_t role_free;
	bool role_held;
	pthread_t role_owner;
	unsigned role_waiters;
	pthread_mutex_t send_lock; /* one message written at a time */
};

/* Send one message; the caller holds send_lock. */
int sgf_stream_send_locked(struct sgf_stream *ch, const struct iovec *iov, int iovcnt);
/* Shut the stream down both ways: after part of a message went out, the
 * peer cannot find the next one, so nothing more may be sent. */
void sgf_stream_break(struct sgf_stream *ch);
/* The stream's send_spliced op (chan_splice.c). */
ssize_t sgf_stream_send_spliced(struct sgf_chan *ch, void *hdr, size_t hdr_len, int fd,
				uint64_t off, size_t len, const struct sgf_splice_pipe *p);

#endif
