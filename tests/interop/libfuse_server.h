/* tests/interop/libfuse_server.h - a peer nobody here wrote: a tiny
 * in-memory filesystem on Debian's libfuse3 low-level API, served over a
 * stream socket through fuse_session_custom_io, recording the size of every
 * READ and WRITE it is asked for. Kept apart from our headers so libfuse's
 * names and ours never meet in one translation unit. */
#ifndef SGF_TEST_LIBFUSE_SERVER_H
#define SGF_TEST_LIBFUSE_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct lfs;

/* Serve fd (a connected SOCK_STREAM socket, taken over) in a thread.
 * max_write 0 keeps libfuse's default. NULL on failure. */
struct lfs *lfs_start(int fd, unsigned max_write);
/* Wait for the session to end (the client hung up) and free it. Returns
 * libfuse's loop result. */
int lfs_stop(struct lfs *s);

/* Copy out and clear the sizes of the READ (write = 0) or WRITE (write = 1)
 * requests seen so far; returns how many there were (may exceed max). */
size_t lfs_take_sizes(struct lfs *s, int write, uint32_t *sizes, size_t max);

/* Copy up to max bytes of file name's contents (from the start) into buf;
 * returns the file's size, or -1 when there is no such file. */
long lfs_file_contents(struct lfs *s, const char *name, uint8_t *buf, size_t max);

#endif
