/* sgfuse/loop.h - worker threads that receive, process and reply until the
 * session ends. Each worker owns page-aligned receive and reply buffers
 * sized at INIT, so nothing on the request path allocates. */
#ifndef SGFUSE_LOOP_H
#define SGFUSE_LOOP_H

#include <sgfuse/channel.h>
#include <sgfuse/server.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sgf_loop;

/* Start nthreads workers (0: one per CPU) serving se on ch. For /dev/fuse
 * every worker after the first gets its own cloned fd. The channel stays
 * owned by the caller. NULL + errno on failure. */
struct sgf_loop *sgf_loop_start(struct sgf_session *se, struct sgf_chan *ch,
				unsigned nthreads);

/* Block until every worker has stopped (DESTROY, -ENODEV, fatal error).
 * Returns 0 for a clean end, else the first worker's -errno. Frees loop. */
int sgf_loop_join(struct sgf_loop *loop);

/* File descriptor that becomes readable when a worker stops (the first one
 * ends the session), for a main thread that also waits for signals. Reading
 * it resets it. */
int sgf_loop_done_fd(const struct sgf_loop *loop);

/* Workers still running. */
unsigned sgf_loop_running(const struct sgf_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
