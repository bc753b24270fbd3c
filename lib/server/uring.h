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
 * commands go to its fd; its shutdown stops them). Each waits for the INIT
 * reply, then registers its entries if INIT agreed to io_uring, or (queue
 * 0) says on stderr why not and ends. NULL + errno. */
struct sgf_uring *sgf_uring_start(struct sgf_session *se, struct sgf_chan *dev);

/* Wait for the queue threads to end; dev must be shut down (or be ending:
 * this also releases threads still waiting for INIT). */
void sgf_uring_join(struct sgf_uring *u);

/* Free the rings; after the session's kept requests were answered. */
void sgf_uring_free(struct sgf_uring *u);

#endif
