/* tests/vhost/test_vhost_chains.c - the vhost-user backend facing rings no
 * driver would build, written descriptor by descriptor into the request
 * queue of sgfuse-passthrough --vhost-user: addresses outside guest
 * memory or across its ends, overlaps, loops, zero lengths, readable after
 * writable, chains too short for a header or for their reply, indirect
 * tables in bad places, WRITEs whose lengths lie; then ring-level errors
 * (avail index far ahead, head out of range) that must stop only that
 * queue. After each per-chain error the chain comes back (len 0, or an
 * error reply) and the same queue serves a good request; memory outside
 * the region keeps its canary bytes; the daemon lives (in the ASan build a
 * stray access kills it). */
#include <endian.h>
#include <fcntl.h>
#include <unistd.h>
#include "vt.h"
#include "vu_fuse.h"

#define NEXT VRING_DESC_F_NEXT
#define WR VRING_DESC_F_WRITE
#define IND VRING_DESC_F_INDIRECT
#define GETATTR_IN ((uint32_t)(sizeof(struct fuse_in_header) + sizeof(struct fuse_getattr_in)))
#define GETATTR_OUT ((uint32_t)(sizeof(struct fuse_out_header) + sizeof(struct fuse_attr_out)))

static struct vf F;
static unsigned malformed_sent; /* chains the backend should count as malformed */

static void D(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	vf_raw_desc(&F, VF_REQ, i, addr, len, flags, next);
}

/* Descriptor i of an indirect table at gpa. */
static void T(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
	      uint16_t next)
{
	struct vring_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	memcpy((char *)vf_host(&F, table) + 16u * i, &d, sizeof(d));
}

/* A valid GETATTR of the root in guest memory (room bytes, at least the
 * request); its unique into *unique. */
static uint64_t getattr_req(size_t room, uint64_t *unique)
{
	struct fuse_in_header h;
	uint64_t gpa = vf_alloc(&F, room > GETATTR_IN ? room : GETATTR_IN, 64);

	vf_in_header(&F, &h, FUSE_GETATTR, FUSE_ROOT_ID, GETATTR_IN);
	memcpy(vf_host(&F, gpa), &h, sizeof(h));
	if (unique)
		*unique = h.unique;
	return gpa;
}

/* The same queue still serves, nothing outside the region was touched,
 * the daemon lives. */
static void after(const char *what)
{
	struct fuse_attr_out a;
	int r = vf_getattr(&F, FUSE_ROOT_ID, &a);

	if (r != 0)
		vt_fail(__FILE__, __LINE__, "%s: a good GETATTR afterwards: %d (%s)", what, r,
			strerror(-r));
	if (r == -ETIMEDOUT)
		exit(vt_finish()); /* the queue is dead: every later case would wait */
	if (!vf_canaries_ok(&F))
		vt_fail(__FILE__, __LINE__, "%s: memory outside the region written", what);
	if (!vt_daemon_alive()) {
		vt_fail(__FILE__, __LINE__, "%s: the daemon died", what);
		exit(vt_finish());
	}
}

/* Publish head; its used len, or -1 (none came, or another id). */
static long run(const char *what, uint16_t head)
{
	uint32_t id, len;

	vf_raw_publish(&F, VF_REQ, head);
	if (vf_raw_used(&F, VF_REQ, &id, &len, VF_TIMEOUT_MS) != 1) {
		vt_fail(__FILE__, __LINE__, "%s: the chain did not come back", what);
		return -1;
	}
	if (id != head) {
		vt_fail(__FILE__, __LINE__, "%s: used id %u, want %u", what, id, head);
		return -1;
	}
	return len;
}

/* A malformed chain at head 0: back with len 0, then business as usual. */
static void empty(const char *what)
{
	long len = run(what, 0);

	if (len != 0)
		vt_fail(__FILE__, __LINE__, "%s: used len %ld, want 0", what, len);
	malformed_sent++;
	after(what);
}

/* ---- addresses ---- */

static void addresses(void)
{
	uint64_t mark = F.brk, req = getattr_req(0, NULL);
	uint64_t end = VF_GPA + F.size;
	const struct { const char *what; uint64_t addr; uint32_t len; } bad[] = {
		{ "reply past the region", end + 4096, GETATTR_OUT },
		{ "reply below the region", VF_GPA - 65536, GETATTR_OUT },
		{ "reply at the region's user address", (uint64_t)(uintptr_t)F.mem, GETATTR_OUT },
		{ "reply at gpa 0", 0, GETATTR_OUT },
		{ "reply wrapping 2^64", UINT64_MAX - 63, GETATTR_OUT },
		{ "reply across the region's end", end - 8, GETATTR_OUT },
		{ "reply across the region's start", VF_GPA - 8, GETATTR_OUT },
		{ "reply longer than the region", VF_GPA, (uint32_t)F.size + 1 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		D(0, req, GETATTR_IN, NEXT, 1);
		D(1, bad[i].addr, bad[i].len, WR, 0);
		empty(bad[i].what);
	}
	/* The request itself where it cannot be read. */
	D(0, end - 20, GETATTR_IN, NEXT, 1);
	D(1, req, GETATTR_OUT, WR, 0);
	empty("request across the region's end");
	D(0, (uint64_t)(uintptr_t)vf_host(&F, req), GETATTR_IN, NEXT, 1);
	D(1, req, GETATTR_OUT, WR, 0);
	empty("request at its user address");
	/* A good chain whose reply ends exactly at the region's last byte. */
	uint64_t u;
	req = getattr_req(0, &u);
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, end - GETATTR_OUT, GETATTR_OUT, WR, 0);
	CHECK_EQ(run("reply in the region's last bytes", 0), GETATTR_OUT);
	struct fuse_out_header oh;
	memcpy(&oh, vf_host(&F, end - GETATTR_OUT), sizeof(oh));
	CHECK_EQ(oh.unique, u);
	CHECK_EQ(oh.error, 0);
	after("reply in the region's last bytes");
	vf_mem_reset(&F, mark);
}

/* ---- shapes ---- */

static void shapes(void)
{
	uint64_t mark = F.brk, u;
	uint64_t req = getattr_req(0, NULL), rep = vf_alloc(&F, 256, 64);
	struct fuse_out_header oh;

	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, rep, GETATTR_OUT, WR | NEXT, 0);
	empty("loop of two");
	D(0, req, GETATTR_IN, NEXT, 0);
	empty("descriptor pointing at itself");
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, rep, 64, WR | NEXT, 2);
	D(2, rep + 64, 64, WR | NEXT, 1);
	empty("loop in the writable part");
	D(0, req, GETATTR_IN, NEXT, F.num);
	empty("next out of range");
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, rep, 0, WR, 0);
	empty("zero-length writable");
	D(0, req, 16, NEXT, 1);
	D(1, req + 16, 0, NEXT, 2);
	D(2, req + 16, GETATTR_IN - 16, NEXT, 3);
	D(3, rep, GETATTR_OUT, WR, 0);
	empty("zero-length readable");
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, rep, GETATTR_OUT, WR | NEXT, 2);
	D(2, req, 8, 0, 0);
	empty("readable after writable");

	/* Too short for the header: nobody to answer. */
	D(0, req, 20, NEXT, 1);
	D(1, rep, GETATTR_OUT, WR, 0);
	empty("half a header");
	/* The header in pieces is still a header. */
	req = getattr_req(0, &u);
	D(0, req, 10, NEXT, 1);
	D(1, req + 10, 10, NEXT, 2);
	D(2, req + 20, GETATTR_IN - 20, NEXT, 3);
	D(3, rep, 16, WR | NEXT, 4);
	D(4, rep + 100, GETATTR_OUT - 16, WR, 0);
	CHECK_EQ(run("header in three pieces", 0), GETATTR_OUT);
	memcpy(&oh, vf_host(&F, rep), sizeof(oh));
	CHECK_EQ(oh.unique, u);
	CHECK_EQ(oh.error, 0);
	after("header in three pieces");

	/* Too short for the reply: an EIO header when one fits, else an
	 * empty chain. */
	req = getattr_req(0, &u);
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, rep, 16, WR, 0);
	CHECK_EQ(run("reply room 16", 0), 16);
	memcpy(&oh, vf_host(&F, rep), sizeof(oh));
	CHECK_EQ(oh.unique, u);
	CHECK_EQ(oh.error, -EIO);
	CHECK_EQ(oh.len, 16);
	after("reply room 16");
	req = getattr_req(0, NULL);
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, rep, 15, WR, 0);
	CHECK_EQ(run("reply room 15", 0), 0);
	after("reply room 15");
	req = getattr_req(0, NULL);
	D(0, req, GETATTR_IN, 0, 0);
	CHECK_EQ(run("no reply room", 0), 0);
	after("no reply room");
	vf_mem_reset(&F, mark);
}

/* Header-less chains, more than the session has request buffers: each
 * must give its buffer back, or the queue stops serving (and the session
 * cannot end: it waits for buffers in use). */
static void pool(void)
{
	uint64_t mark = F.brk, req = getattr_req(0, NULL), rep = vf_alloc(&F, GETATTR_OUT, 64);

	for (unsigned i = 0; i < 200; i++) {
		D(0, req, 20, NEXT, 1);
		D(1, rep, GETATTR_OUT, WR, 0);
		if (run("half a header, again", 0) != 0)
			break;
		malformed_sent++;
	}
	after("200 header-less chains");
	vf_mem_reset(&F, mark);
}

/* ---- overlaps ---- */

static void overlaps(void)
{
	uint64_t mark = F.brk, u;
	uint64_t req = getattr_req(256, &u);
	struct fuse_out_header oh;

	/* The reply over the request: it was copied before. */
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, req, GETATTR_OUT, WR, 0);
	CHECK_EQ(run("reply over its request", 0), GETATTR_OUT);
	memcpy(&oh, vf_host(&F, req), sizeof(oh));
	CHECK_EQ(oh.unique, u);
	CHECK_EQ(oh.error, 0);
	after("reply over its request");
	/* Two writable buffers over each other: garbled, but inside. */
	req = getattr_req(256, NULL);
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, req + 64, 64, WR | NEXT, 2);
	D(2, req + 96, 64, WR, 0);
	CHECK_EQ(run("writable buffers overlapping", 0), GETATTR_OUT);
	after("writable buffers overlapping");
	/* The reply over the descriptor table and over the avail ring:
	 * what the guest gets for it is its business, but the backend
	 * copied the chain before and reads the ring with checks. */
	req = getattr_req(0, NULL);
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, F.q[VF_REQ].desc, GETATTR_OUT, WR, 0);
	CHECK_EQ(run("reply over the descriptor table", 0), GETATTR_OUT);
	after("reply over the descriptor table");
	/* The same header twice: a request longer than its header says. */
	req = getattr_req(0, &u);
	uint64_t rep = vf_alloc(&F, GETATTR_OUT, 64);
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, req, GETATTR_IN, NEXT, 2);
	D(2, rep, GETATTR_OUT, WR, 0);
	CHECK_EQ(run("the request twice", 0), 16);
	memcpy(&oh, vf_host(&F, rep), sizeof(oh));
	CHECK_EQ(oh.unique, u);
	CHECK_EQ(oh.error, -EIO);
	after("the request twice");
	vf_mem_reset(&F, mark);
}

/* ---- indirect tables ---- */

static void indirect(void)
{
	uint64_t mark = F.brk, u, end = VF_GPA + F.size;
	uint64_t req = getattr_req(0, &u), rep = vf_alloc(&F, GETATTR_OUT, 64);
	uint64_t t = vf_alloc(&F, 16u * (F.num + 2), 16);
	struct fuse_out_header oh;

	/* A good one first. */
	T(t, 0, req, GETATTR_IN, NEXT, 1);
	T(t, 1, rep, GETATTR_OUT, WR, 0);
	D(0, t, 32, IND, 0);
	CHECK_EQ(run("indirect", 0), GETATTR_OUT);
	memcpy(&oh, vf_host(&F, rep), sizeof(oh));
	CHECK_EQ(oh.unique, u);
	CHECK_EQ(oh.error, 0);
	after("indirect");

	req = getattr_req(0, NULL);
	T(t, 0, req, GETATTR_IN, NEXT, 1);
	T(t, 1, rep, GETATTR_OUT, WR, 0);
	D(0, end + 4096, 32, IND, 0);
	empty("indirect table outside the region");
	D(0, end - 16, 32, IND, 0);
	empty("indirect table across the region's end");
	D(0, (uint64_t)(uintptr_t)vf_host(&F, t), 32, IND, 0);
	empty("indirect table at its user address");
	D(0, t, 32, IND | NEXT, 1);
	D(1, rep, GETATTR_OUT, WR, 0);
	empty("indirect with NEXT");
	D(0, t, 24, IND, 0);
	empty("indirect length not whole descriptors");
	D(0, t, 0, IND, 0);
	empty("indirect of length 0");
	D(0, t, 16u * (F.num + 1), IND, 0);
	empty("indirect table longer than the queue");
	D(0, req, GETATTR_IN, NEXT, 1);
	D(1, t, 32, IND, 0);
	empty("indirect after a descriptor");
	T(t, 0, t, 32, IND, 0);
	D(0, t, 32, IND, 0);
	empty("indirect inside indirect");
	T(t, 0, req, GETATTR_IN, NEXT, 5);
	D(0, t, 32, IND, 0);
	empty("indirect next out of its table");
	T(t, 0, req, GETATTR_IN, NEXT, 1);
	T(t, 1, rep, GETATTR_OUT, WR | NEXT, 0);
	D(0, t, 32, IND, 0);
	empty("indirect loop");
	/* The ring's own descriptor table as the indirect table: its entry
	 * 0 is this very indirect descriptor. */
	D(0, F.q[VF_REQ].desc, 32, IND, 0);
	empty("indirect table is the descriptor table");
	vf_mem_reset(&F, mark);
}

/* ---- lying WRITEs ---- */

static bool source_is(const char *name, unsigned char c, size_t len)
{
	char path[4096];
	unsigned char buf[8192];
	int fd = open(vt_join(path, sizeof(path), vt_src(), name), O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf), 0) : -1;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)len) {
		fprintf(stderr, "%s: %zd bytes, want %zu\n", name, n, len);
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[i] != c)
			return false;
	return true;
}

/* A WRITE of data_len 'B' bytes in segs descriptors claiming size and a
 * header len off by delta: answered with want (an error), nothing
 * written. */
static void lying_write(const char *what, uint64_t ino, uint64_t fh, uint32_t size,
			uint32_t data_len, unsigned segs, int32_t delta, int want)
{
	static unsigned char b[8192];
	struct fuse_write_in in = { .fh = fh, .offset = 0, .size = size };
	struct vf_req rq = { .opcode = FUSE_WRITE, .nodeid = ino, .arg = &in,
			     .arg_len = sizeof(in), .data = b, .data_len = data_len,
			     .data_segs = segs, .len_delta = delta,
			     .reply_len = sizeof(struct fuse_out_header) +
					  sizeof(struct fuse_write_out) };
	struct vf_rep rp = { 0 };

	memset(b, 'B', sizeof(b));
	int r = vf_call(&F, VF_REQ, &rq, &rp);
	if (r != 0 || rp.used_len != 16 || rp.oh.error != want)
		vt_fail(__FILE__, __LINE__, "%s: call %d, used len %u, error %d (want %d)", what,
			r, rp.used_len, rp.oh.error, want);
	if (!source_is("w", 'A', 4096))
		vt_fail(__FILE__, __LINE__, "%s: the file changed", what);
	after(what);
}

static void writes(void)
{
	static unsigned char a[4096];
	struct fuse_entry_out e;
	struct fuse_open_out o;

	REQUIRE(vf_create(&F, FUSE_ROOT_ID, "w", 0644, &e, &o) == 0);
	memset(a, 'A', sizeof(a));
	REQUIRE(vf_write(&F, e.nodeid, o.fh, 0, a, sizeof(a), 4) == (int)sizeof(a));
	REQUIRE(source_is("w", 'A', 4096));
	lying_write("WRITE header len 4096 too long", e.nodeid, o.fh, 4096, 4096, 4, 4096, -EIO);
	lying_write("WRITE header len 100 too short", e.nodeid, o.fh, 4096, 4096, 4, -100, -EIO);
	lying_write("WRITE header len 1 too short", e.nodeid, o.fh, 4096, 4096, 1, -1, -EIO);
	lying_write("WRITE size above its payload", e.nodeid, o.fh, 8192, 4096, 2, 0, -EINVAL);
	lying_write("WRITE size below its payload", e.nodeid, o.fh, 100, 4096, 2, 0, -EINVAL);
	lying_write("WRITE size without a payload", e.nodeid, o.fh, 4096, 0, 0, 0, -EINVAL);
	lying_write("WRITE payload without a size", e.nodeid, o.fh, 0, 4096, 3, 0, -EINVAL);

	/* A READ bigger than its writable room is answered EIO (operations
	 * fill all that was asked for: never into a chain that cannot hold
	 * it), and nothing is written past the reply header. */
	static unsigned char back[65536];
	uint64_t mark = F.brk, u;
	struct fuse_read_in in = { .fh = o.fh, .size = 65536 };
	struct fuse_in_header h;
	uint64_t req = vf_alloc(&F, sizeof(h) + sizeof(in), 64), rep = vf_alloc(&F, 8192, 64);
	vf_in_header(&F, &h, FUSE_READ, e.nodeid, sizeof(h) + sizeof(in));
	u = h.unique;
	memcpy(vf_host(&F, req), &h, sizeof(h));
	memcpy((char *)vf_host(&F, req) + sizeof(h), &in, sizeof(in));
	memset(vf_host(&F, rep), 0x77, 8192);
	D(0, req, sizeof(h) + sizeof(in), NEXT, 1);
	D(1, rep, 16 + 1000, WR, 0);
	CHECK_EQ(run("READ into less room than asked", 0), 16);
	memcpy(back, vf_host(&F, rep), 8192);
	struct fuse_out_header oh;
	memcpy(&oh, back, sizeof(oh));
	CHECK_EQ(oh.unique, u);
	CHECK_EQ(oh.error, -EIO);
	CHECK_EQ(oh.len, 16);
	CHECK(back[16] == 0x77 && back[16 + 999] == 0x77 && back[16 + 1000] == 0x77);
	after("READ into less room than asked");
	vf_mem_reset(&F, mark);
	CHECK_EQ(vf_release(&F, e.nodeid, o.fh), 0);
}

/* ---- ring-level errors ---- */

/* The queue is broken: nothing comes back, the err eventfd fires, a line
 * on stderr; the hiprio queue still works. Then the frontend restarts it
 * at the base the backend reports, which must be where it stopped. */
static void broken_then_restart(const char *what, uint16_t base)
{
	uint32_t id, len, got;
	static unsigned lines;

	CHECK(vf_wait_err(&F, VF_REQ, VF_TIMEOUT_MS));
	CHECK_EQ(vf_raw_used(&F, VF_REQ, &id, &len, 300), 0);
	CHECK_EQ(vt_log_count("ring is malformed"), ++lines);
	CHECK_EQ(vf_forget(&F, 12345, 1), 0);
	REQUIRE(vf_get_vring_base(&F, VF_REQ, &got) == 0);
	CHECK_EQ(got, base);
	struct sgf_vq_drv *d = &F.q[VF_REQ].drv;
	d->avail_idx = d->kicked_avail = base;
	__atomic_store_n(&d->avail->idx, htole16(base), __ATOMIC_RELEASE);
	REQUIRE(vf_queue_restart(&F, VF_REQ, base) == 0);
	after(what);
}

static void rings(void)
{
	struct sgf_vq_drv *d = &F.q[VF_REQ].drv;
	uint64_t mark = F.brk;
	uint16_t base = d->avail_idx;

	vf_raw_avail_idx(&F, VF_REQ, (uint16_t)(base + F.num + 5));
	broken_then_restart("avail index far ahead", base);

	base = d->avail_idx;
	vf_raw_publish(&F, VF_REQ, (uint16_t)(F.num + 3));
	broken_then_restart("head out of range", base);
	base = d->avail_idx;
	vf_raw_publish(&F, VF_REQ, 0xffff);
	broken_then_restart("head 0xffff", base);
	vf_mem_reset(&F, mark);
}

int main(int argc, char **argv)
{
	char stats[1 << 14];

	vt_init(argc, argv, 240);
	vt_daemon_start("threads=2");
	REQUIRE(vf_start(&F, vt_sock(), 0) == 0);
	REQUIRE(vf_init(&F, NULL) == 0);
	after("setup");

	addresses();
	shapes();
	pool();
	overlaps();
	indirect();
	writes();
	rings();

	REQUIRE(vt_stats(stats, sizeof(stats)) == 0);
	CHECK(vt_stat_count(stats, "malformed") >= malformed_sent);
	vf_close(&F);
	return vt_finish();
}
