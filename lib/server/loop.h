/* lib/server/loop.h - worker threads that take a request buffer from the
 * session's pool, receive into it, have the session handle it and go round
 * again until the session ends. Internal; the server object runs them. */
#ifndef SGFUSE_SERVER_LOOP_H
#define SGFUSE_SERVER_LOOP_H

#include "chan.h"
#include "session.h"

struct sgf_loop;

/* Start nthreads workers (0: one per CPU) serving se on ch. Workers after
 * the first get their own clone of ch where the channel kind clones. The
 * channel stays owned by the caller. NULL + errno on failure. */
struct sgf_loop *sgf_loop_start(struct sgf_session *se, struct sgf_chan *ch,
				unsigned nthreads);

/* Stop every worker: shut the channel (and clones) down and close the
 * pool, so receivers and workers waiting for a buffer wake. Any thread. */
void sgf_loop_stop(struct sgf_loop *loop);

/* Block until every worker has stopped (DESTROY, -ENODEV, stop, fatal
 * error). Returns 0 for a clean end, else the first worker's -errno. The
 * clones stay open (kept requests may still answer on them) until
 * sgf_loop_free(). */
int sgf_loop_join(struct sgf_loop *loop);
void sgf_loop_free(struct sgf_loop *loop);

/* File descriptor that becomes readable when a worker stops (the first one
 * ends the session), for a thread that also waits for other events. */
int sgf_loop_done_fd(const struct sgf_loop *loop);

/* Workers still running. */
unsigned sgf_loop_running(const struct sgf_loop *loop);

#endif
