/* tests/unit/test_passthrough_socket.c - passthrough on a channel that
 * cannot register backing files (a stream socket): INIT does not agree to
 * FUSE_PASSTHROUGH even when the peer offers it, sgf_backing_open answers
 * -EOPNOTSUPP, an OPEN reply naming a backing file anyway is answered EIO
 * and counted refused, and plain opens are no fallbacks there. Drives the
 * session's handler directly on a socketpair. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"
#include "chan.h"
#include "session.h"

static int backing_result;
static bool init_saw_passthrough;

static int fs_init(void *fs, struct sgf_conn_info *ci)
{
	(void)fs;
	init_saw_passthrough = (ci->flags & FUSE_PASSTHROUGH) != 0;
	return 0;
}

/* nodeid 2: answer with a (bogus) backing id; others: a plain open. */
static int fs_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
		   struct fuse_open_out *out)
{
	(void)in;
	backing_result = sgf_backing_open(r, 0);
	if (ino == 2)
		sgf_open_set_backing(out, 1);
	return 0;
}

static const struct sgf_ops ops = { .init = fs_init, .open = fs_open };

/* One reply from the peer's end: its header, and the argument into arg. */
static struct fuse_out_header reply(int fd, void *arg, size_t size)
{
	char buf[4096];
	struct fuse_out_header h = { 0 };
	ssize_t n = read(fd, buf, sizeof(buf));
	CHECK(n >= (ssize_t)sizeof(h));
	if (n >= (ssize_t)sizeof(h)) {
		memcpy(&h, buf, sizeof(h));
		size_t len = (size_t)n - sizeof(h);
		memcpy(arg, buf + sizeof(h), len < size ? len : size);
	}
	return h;
}

static void open_req(struct sgf_session *se, struct sgf_chan *ch, uint64_t unique,
		     uint64_t nodeid)
{
	struct {
		struct fuse_in_header h;
		struct fuse_open_in in;
	} op = { { .len = sizeof(op), .opcode = FUSE_OPEN, .unique = unique, .nodeid = nodeid },
		 { .flags = 0 } };
	CHECK_EQ(sgf_session_process(se, ch, &op, sizeof(op)), 0);
}

int main(void)
{
	struct sgf_session_opts so = { .max_pages_limit = 256, .passthrough = true };
	struct {
		struct fuse_in_header h;
		struct fuse_init_in in;
	} init = { { .len = sizeof(init), .opcode = FUSE_INIT, .unique = 1 },
		   { .major = 7, .minor = 45, .flags = FUSE_INIT_EXT | FUSE_MAX_PAGES,
		     .flags2 = (uint32_t)(FUSE_PASSTHROUGH >> 32) } };
	struct fuse_init_out io;
	struct fuse_open_out oo;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	struct sgf_session *se = sgf_session_new(&ops, NULL, &so);
	CHECK(se != NULL);
	struct sgf_chan *ch = sgf_chan_stream_new(sv[0]);
	CHECK(ch != NULL);
	se->ch = ch;
	CHECK(!sgf_chan_has_backing(ch));

	CHECK_EQ(sgf_session_process(se, ch, &init, sizeof(init)), 0);
	memset(&io, 0, sizeof(io));
	CHECK_EQ(reply(sv[1], &io, sizeof(io)).error, 0);
	CHECK((io.flags2 & (uint32_t)(FUSE_PASSTHROUGH >> 32)) == 0);
	CHECK(!init_saw_passthrough);

	open_req(se, ch, 2, 3);
	memset(&oo, 0, sizeof(oo));
	CHECK_EQ(reply(sv[1], &oo, sizeof(oo)).error, 0);
	CHECK_EQ(backing_result, -EOPNOTSUPP);
	CHECK_EQ(se->stats.passthrough_fallback, 0);

	open_req(se, ch, 3, 2);
	CHECK_EQ(reply(sv[1], &oo, sizeof(oo)).error, -EIO);
	CHECK_EQ(se->stats.refused, 1);
	CHECK_EQ(se->stats.passthrough, 0);

	sgf_chan_free(ch);
	sgf_session_destroy(se);
	close(sv[1]);
	return check_exit();
}
