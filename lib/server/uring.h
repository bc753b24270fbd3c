/* lib/server/uring.h - FUSE over io_uring for a kernel session: one ring and
 * one thread per kernel queue, whose entries are slot requests of the
 * session's pool (uring.c). /dev/fuse stays served beside it: the kernel
 * sends INTERRUPT and FORGET there, and everything until the ring is ready.
 * Internal. */
#ifndef SGFUSE_SERVER_URING_H
#define SGFUSE_SERVER_URING_H

#include "chan.h"
#include "session.h"

struct sgf_uring;

/* Queues the kernel keeps for FUSE over io_uring: one per possible CPU. */
unsigned sgf_uring_nqueues(void);

/* Start the queue threads of se, whose /dev/fuse channel is dev (the ring
 * commands go to its fd). Each waits for the INIT reply, then registers its
 * entries if INIT agreed to io_uring, or says why not (one line on stderr
 * for all queues) and ends. NULL + errno.
 *
 * The end takes three steps, so the EIO answers to kept requests still
 * reach the kernel through the rings: sgf_uring_drain() (no request is
 * dispatched any more: new ones are answered EIO at once; waits for the
 * dispatch under way), then the session answers its kept requests, then
 * sgf_uring_join() (the threads commit what is left and end). A request
 * the kernel hands an entry after that waits until the connection is
 * aborted (the unmount, which comes first on a mount, or closing
 * /dev/fuse). */
struct sgf_uring *sgf_uring_start(struct sgf_session *se, struct sgf_chan *dev);
void sgf_uring_drain(struct sgf_uring *u);
void sgf_uring_join(struct sgf_uring *u);

/* Free the rings; after the session's kept requests were answered. */
void sgf_uring_free(struct sgf_uring *u);

#endif
