/* sgfuse/passthrough.h - a filesystem that serves a backing directory
 * through sgf_ops ("fusexmp over tmpfs" of the seed). Inodes are held as
 * O_PATH fds keyed by (st_dev, st_ino); nothing resolves outside the
 * backing directory. */
#ifndef SGFUSE_PASSTHROUGH_H
#define SGFUSE_PASSTHROUGH_H

#include <sgfuse/server.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sgf_backing_direct {
	SGF_BACKING_DIRECT_AUTO, /* keep O_DIRECT where the backing fs takes it */
	SGF_BACKING_DIRECT_ON,   /* keep it; fail opens where it is refused */
	SGF_BACKING_DIRECT_OFF,  /* always drop it on the backing file */
};

struct sgf_passthrough_opts {
	enum sgf_backing_direct backing_direct;
	double entry_timeout;   /* seconds; default 1.0 */
	double attr_timeout;    /* seconds; default 1.0 */
};

struct sgf_passthrough;

/* Serve the directory source. NULL + errno (ENOTDIR, ENOENT, EACCES...). */
struct sgf_passthrough *sgf_passthrough_new(const char *source,
					    const struct sgf_passthrough_opts *opts);
void sgf_passthrough_free(struct sgf_passthrough *pt);

/* The operations table; pass pt as the session's fs pointer. */
const struct sgf_ops *sgf_passthrough_ops(void);

#ifdef __cplusplus
}
#endif
#endif
