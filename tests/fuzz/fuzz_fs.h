/* tests/fuzz/fuzz_fs.h - the dispatch harness's fake filesystem: every
 * operation, plausible results, and requests kept to be answered at once,
 * before the next message, at the session's end, or by INTERRUPT. */
#ifndef SGF_FUZZ_FS_H
#define SGF_FUZZ_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <sgfuse/ops.h>
#include <sgfuse/reply.h>

#define FUZZ_FS_MAX_KEPT 8

/* A kept request and what it will be answered with. */
struct fuzz_kept {
	struct sgf_req *h;
	long result;
	bool until_end;     /* else: answered before the next message */
};

struct fuzz_fs {
	struct fuzz_kept kept[FUZZ_FS_MAX_KEPT];
	unsigned nkept;
	unsigned max_kept;  /* below the session's request buffers, so the
			     * pool never runs dry (sgf_pool_get would block) */
	bool nonsense;      /* mode 7 may return results no filesystem should */
};

extern const struct sgf_ops fuzz_fs_ops;

/* Answer the requests kept to be answered before the next message (all of
 * them when everything is true). */
void fuzz_fs_answer_kept(struct fuzz_fs *fs, bool everything);
/* Forget the handles (the session answered them itself). */
void fuzz_fs_drop_kept(struct fuzz_fs *fs);

#endif
