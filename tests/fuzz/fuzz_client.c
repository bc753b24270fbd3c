/* tests/fuzz/fuzz_client.c - libFuzzer harness: the client's reply path -
 * the INIT reply (sgf_client_attach), then replies to a series of calls of
 * different kinds (fixed structs, READ and READDIR data, WRITE counts),
 * each checked by the receive role against the request it answers, and the
 * dirents of READDIR data. The replies are written to the socket before
 * the calls run, so a single thread does it all; a reply's unique can be
 * patched to the one the call will have (slot 0, seq k: k << 13).
 *
 * Input: records of call u8, ctl u8, length u16 little-endian, that many
 * reply bytes (a header and payload, or anything). The first record
 * answers INIT (its call byte is unused). ctl bit 0: set the unique to the
 * call's, bit 1: set the header's len to the record's length.
 * Invariants: every call returns a count within what it asked for or a
 * negative errno, never a value a reply smuggled in. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include "fuzz_check.h"

#define MAX_CALLS 32
#define OHDR sizeof(struct fuse_out_header)

static void check_err(long r, const char *what)
{
	FUZZ_ASSERT(r <= 0 && r > -4096, "%s returned %ld", what, r);
}

static void check_count(long r, size_t asked, const char *what)
{
	FUZZ_ASSERT((r >= 0 && (size_t)r <= asked) || (r < 0 && r > -4096),
		    "%s of %zu returned %ld", what, asked, r);
}

static void walk_dirents(const void *buf, size_t len)
{
	struct sgf_dirent e;
	size_t pos = 0, prev = 0;
	int r;

	while ((r = sgf_dirent_next(buf, len, &pos, &e)) > 0) {
		FUZZ_ASSERT(pos > prev && pos <= len, "dirent position %zu after %zu of %zu",
			    pos, prev, len);
		FUZZ_ASSERT(e.namelen > 0 && e.name >= (const char *)buf &&
				    e.name + e.namelen <= (const char *)buf + len,
			    "name outside the buffer");
		prev = pos;
	}
	FUZZ_ASSERT(r <= 0 && r > -4096, "sgf_dirent_next %d", r);
}

static void one_call(struct sgf_client *c, unsigned which)
{
	static char buf[4096];
	struct sgf_file f = { .nodeid = 2, .fh = 1, .flags = O_RDWR };
	struct fuse_entry_out e;
	struct fuse_attr_out a;
	struct fuse_kstatfs st;
	long r;

	switch (which % 14) {
	case 0: check_err(sgf_getattr(c, 2, &a), "getattr"); break;
	case 1: check_err(sgf_lookup(c, 1, "name", &e), "lookup"); break;
	case 2: check_err(sgf_statfs(c, 1, &st), "statfs"); break;
	case 3: check_err(sgf_open(c, 2, O_RDWR, &f), "open"); break;
	case 4: check_count(sgf_pread(c, &f, buf, sizeof(buf), 0), sizeof(buf), "pread"); break;
	case 5: check_count(sgf_pwrite(c, &f, buf, 1000, 0), 1000, "pwrite"); break;
	case 6:
		r = sgf_readdir(c, &f, 0, buf, sizeof(buf));
		check_count(r, sizeof(buf), "readdir");
		if (r > 0)
			walk_dirents(buf, (size_t)r);
		break;
	case 7: check_err(sgf_mkdir(c, 1, "d", 0755, &e), "mkdir"); break;
	case 8: check_err(sgf_unlink(c, 1, "u"), "unlink"); break;
	case 9: check_err(sgf_rename(c, 1, "a", 1, "b", 0), "rename"); break;
	case 10: check_err(sgf_create(c, 1, "n", O_RDWR, 0644, &e, &f), "create"); break;
	case 11: check_err(sgf_truncate(c, 2, 10), "truncate"); break;
	case 12: check_err(sgf_flush(c, &f), "flush"); break;
	default: check_err(sgf_opendir(c, 1, &f), "opendir"); break;
	}
}

/* Throw away the requests the client sent: nobody serves them. */
static void drain(int fd)
{
	char sink[8192];
	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t stream[1u << 16];
	uint8_t calls[MAX_CALLS];
	size_t len = 0;
	unsigned n = 0;
	int sv[2];

	/* Lay the records out as one byte stream of replies. */
	for (size_t pos = 0; pos + 4 <= size && n <= MAX_CALLS;) {
		uint8_t call = data[pos], ctl = data[pos + 1];
		size_t rl = (size_t)(data[pos + 2] | data[pos + 3] << 8);
		pos += 4;
		if (rl > size - pos)
			rl = size - pos;
		if (rl > sizeof(stream) - len)
			break;
		uint8_t *m = stream + len;
		memcpy(m, data + pos, rl);
		pos += rl;
		len += rl;
		if ((ctl & 2) && rl >= 4) {
			uint32_t l = (uint32_t)rl;
			memcpy(m, &l, sizeof(l));
		}
		if ((ctl & 1) && rl >= OHDR) {
			uint64_t unique = (uint64_t)(n + 1) << 13; /* slot 0, seq n + 1 */
			memcpy(m + 8, &unique, sizeof(unique));
		}
		if (n > 0)
			calls[n - 1] = call;
		n++;
	}
	if (n == 0)
		return 0;
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	ssize_t w = send(sv[1], stream, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)w; /* a full socket cuts the stream short: fine */
	shutdown(sv[1], SHUT_WR); /* then end of file: no call waits for ever */

	struct sgf_client_opts opts = { .max_inflight = 4, .spin_us = -1 };
	struct sgf_client *c = NULL;
	int r = sgf_client_attach(sv[0], &opts, &c);
	check_err(r, "attach");
	if (r == 0) {
		const struct sgf_client_conn *cc = sgf_client_conn(c);
		FUZZ_ASSERT(cc->max_pages >= 1 && cc->max_write >= 4096 && cc->max_read >= 1,
			    "settled max_pages %u max_write %u max_read %u", cc->max_pages,
			    cc->max_write, cc->max_read);
		for (unsigned i = 0; i + 1 < n; i++) {
			one_call(c, calls[i]);
			drain(sv[1]);
		}
		sgf_client_disconnect(c);
	}
	close(sv[1]);
	return 0;
}
