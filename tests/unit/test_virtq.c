/* tests/unit/test_virtq.c - the split virtqueue (lib/common/virtq_*.c):
 * our driver and our device run against each other in one process over
 * one buffer of "guest memory" (gpa = offset): round trips, long chains,
 * readable + writable mixes, 16-bit index wrap, a full queue, notification
 * decisions with and without event idx; then descriptors crafted by hand
 * for every error the device must catch, and a lying device for the
 * driver. */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "virtq.h"

#define RAM_SIZE (1u << 20)
#define DATA 0x80000u   /* data area gpa; rings below */

struct pair {
	unsigned char *ram;
	struct sgf_vq_mem mem;
	struct sgf_vq_dev dev;
	struct sgf_vq_drv drv;
	struct iovec rd[8], wr[8];
	struct sgf_vq_elem e;
};

static void setup(struct pair *p, unsigned num, bool event_idx)
{
	memset(p, 0, sizeof(*p));
	p->ram = aligned_alloc(4096, RAM_SIZE);
	memset(p->ram, 0, RAM_SIZE);
	sgf_vq_mem_init(&p->mem);
	CHECK_EQ(sgf_vq_mem_add(&p->mem, 0, RAM_SIZE, p->ram), 0);
	uint64_t desc = 0, avail = sgf_vq_desc_size(num);
	uint64_t used = (avail + sgf_vq_avail_size(num) + 3) & ~3ull;
	CHECK_EQ(sgf_vq_drv_init(&p->drv, num, p->ram + desc, p->ram + avail, p->ram + used,
				 event_idx), 0);
	struct sgf_vq_addr a = { .num = num, .desc = desc, .avail = avail, .used = used,
				 .event_idx = event_idx };
	CHECK_EQ(sgf_vq_dev_init(&p->dev, &p->mem, &a), 0);
	p->e = (struct sgf_vq_elem){ .rd = p->rd, .rd_max = 8, .wr = p->wr, .wr_max = 8 };
}

static void teardown(struct pair *p)
{
	sgf_vq_drv_fini(&p->drv);
	free(p->ram);
}

/* Hand-made descriptor i, and publishing head as the next avail entry,
 * for the malformed cases our driver would never produce. */
static void desc(struct pair *p, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	struct vring_desc *d = &p->drv.desc[i];
	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

static void post(struct pair *p, uint16_t head)
{
	struct vring_avail *av = p->drv.avail;
	uint16_t idx = le16toh(av->idx);
	av->ring[idx & (p->drv.num - 1)] = htole16(head);
	av->idx = htole16(idx + 1);
}

static void check_single(void)
{
	struct pair p;
	uint16_t head, h;
	uint32_t len;
	setup(&p, 16, false);
	memcpy(p.ram + DATA, "hello", 5);
	struct sgf_vq_buf b = { DATA, 5 };
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &b, 1, NULL, 0, &head), 0);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(p.e.head, head);
	CHECK_EQ(p.e.rd_n, 1);
	CHECK_EQ(p.e.wr_n, 0);
	CHECK_EQ(p.e.rd_bytes, 5);
	CHECK(p.e.rd[0].iov_base == p.ram + DATA && p.e.rd[0].iov_len == 5);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 0);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 0);
	CHECK_EQ(sgf_vq_push(&p.dev, p.e.head, 0), 0);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 1);
	CHECK_EQ(h, head);
	CHECK_EQ(len, 0);
	CHECK_EQ(p.drv.num_free, 16);
	/* Nothing more in flight: a push now is a bug of the caller. */
	CHECK_EQ(sgf_vq_push(&p.dev, 0, 0), -EINVAL);
	teardown(&p);
}

/* A chain given back unused comes out of the next pop again, and the
 * queue's accounting (in flight, avail_event) is as if never popped. */
static void check_unpop(void)
{
	struct pair p;
	uint16_t a, b, h;
	uint32_t len;
	setup(&p, 16, true);
	struct sgf_vq_buf x = { DATA, 5 }, y = { DATA + 64, 7 };
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &x, 1, NULL, 0, &a), 0);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &y, 1, NULL, 0, &b), 0);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(p.e.head, a);
	sgf_vq_unpop(&p.dev);
	CHECK_EQ(p.dev.inflight, 0);
	CHECK_EQ(p.dev.last_avail, 0);
	uint16_t ev;
	memcpy(&ev, &p.drv.used->ring[16], sizeof(ev)); /* avail_event */
	CHECK_EQ(le16toh(ev), 0);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(p.e.head, a);
	CHECK_EQ(p.e.rd_bytes, 5);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(p.e.head, b);
	CHECK_EQ(sgf_vq_push(&p.dev, b, 0), 0);
	CHECK_EQ(sgf_vq_push(&p.dev, a, 0), 0);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 1);
	CHECK_EQ(h, b);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 1);
	CHECK_EQ(h, a);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 0);
	teardown(&p);
}

static void check_mixed(void)
{
	struct pair p;
	uint16_t head, h;
	uint32_t len;
	setup(&p, 16, false);
	struct sgf_vq_buf rd[2] = { { DATA, 40 }, { DATA + 100, 8 } };
	struct sgf_vq_buf wr[3] = { { DATA + 200, 16 }, { DATA + 300, 4096 }, { DATA + 9000, 1 } };
	CHECK_EQ(sgf_vq_drv_add(&p.drv, rd, 2, wr, 3, &head), 0);
	CHECK_EQ(p.drv.num_free, 11);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(p.e.rd_n, 2);
	CHECK_EQ(p.e.wr_n, 3);
	CHECK_EQ(p.e.rd_bytes, 48);
	CHECK_EQ(p.e.wr_bytes, 16 + 4096 + 1);
	CHECK(p.e.wr[1].iov_base == p.ram + DATA + 300 && p.e.wr[1].iov_len == 4096);
	memset(p.e.wr[0].iov_base, 'r', 16);
	memset(p.e.wr[1].iov_base, 's', 10);
	CHECK_EQ(sgf_vq_push(&p.dev, p.e.head, 26), 0);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 1);
	CHECK_EQ(h, head);
	CHECK_EQ(len, 26);
	CHECK(p.ram[DATA + 215] == 'r' && p.ram[DATA + 309] == 's');
	CHECK_EQ(p.drv.num_free, 16);
	teardown(&p);
}

/* A chain of every descriptor, then a full queue, then space again. */
static void check_long_and_full(void)
{
	struct pair p;
	struct sgf_vq_buf b[256];
	struct iovec wr[256];
	uint16_t head, h;
	uint32_t len;
	setup(&p, 256, false);
	for (unsigned i = 0; i < 256; i++)
		b[i] = (struct sgf_vq_buf){ DATA + i * 16, 16 };
	CHECK_EQ(sgf_vq_drv_add(&p.drv, NULL, 0, b, 256, &head), 0);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, b, 1, NULL, 0, &h), -ENOSPC);
	p.e.wr = wr;
	p.e.wr_max = 256;
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(p.e.wr_n, 256);
	CHECK_EQ(p.e.wr_bytes, 4096);
	CHECK(wr[255].iov_base == p.ram + DATA + 255 * 16);
	CHECK_EQ(sgf_vq_push(&p.dev, p.e.head, 4096), 0);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 1);
	CHECK_EQ(len, 4096);

	/* Full with one-descriptor chains: every head in flight at once. */
	for (unsigned i = 0; i < 256; i++)
		CHECK_EQ(sgf_vq_drv_add(&p.drv, &b[i], 1, NULL, 0, &h), 0);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, b, 1, NULL, 0, &h), -ENOSPC);
	for (unsigned i = 0; i < 256; i++) {
		CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
		CHECK_EQ(sgf_vq_fill(&p.dev, p.e.head, 0), 0);
	}
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 0);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 0); /* not flushed yet */
	sgf_vq_flush(&p.dev);
	for (unsigned i = 0; i < 256; i++)
		CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 1);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 0);
	CHECK_EQ(p.drv.num_free, 256);
	teardown(&p);
}

/* Many more rounds than 2^16, chains of 1..3 and up to 3 in flight, so
 * every index wraps several times; the data checks each round. */
static void check_wrap(void)
{
	struct pair p;
	setup(&p, 4, true);
	uint32_t seq = 0, got = 0;
	for (unsigned round = 0; round < 70000 && check_failures == 0; round++) {
		unsigned n = 1 + round % 3;
		struct sgf_vq_buf rd = { DATA, 4 };
		struct sgf_vq_buf wr[2] = { { DATA + 64, 4 }, { DATA + 128, 4 } };
		uint16_t head, h;
		uint32_t len;
		memcpy(p.ram + DATA, &seq, 4);
		int r = sgf_vq_drv_add(&p.drv, &rd, 1, wr, n - 1, &head);
		CHECK_EQ_CTX(r, 0, "add");
		CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
		CHECK_EQ(p.e.wr_n, n - 1);
		uint32_t v;
		memcpy(&v, p.e.rd[0].iov_base, 4);
		CHECK_EQ(v, seq);
		CHECK_EQ(sgf_vq_push(&p.dev, p.e.head, p.e.wr_bytes), 0);
		CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 1);
		CHECK_EQ(h, head);
		CHECK_EQ(len, 4 * (n - 1));
		seq++;
		got++;
	}
	CHECK_EQ(got, 70000);
	CHECK_EQ(p.dev.last_avail, (uint16_t)70000);
	CHECK_EQ(p.drv.last_used, (uint16_t)70000);
	CHECK_EQ(p.drv.num_free, 4);
	teardown(&p);
}

static void check_event_idx(void)
{
	struct pair p;
	struct sgf_vq_buf b = { DATA, 4 };
	uint16_t h;
	uint32_t len;
	setup(&p, 8, true);
	/* Driver: kick for the first add; not again until the device has
	 * caught up (avail_event is written by pop). */
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &b, 1, NULL, 0, &h), 0);
	CHECK(sgf_vq_drv_should_kick(&p.drv));
	CHECK(!sgf_vq_drv_should_kick(&p.drv)); /* nothing new */
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &b, 1, NULL, 0, &h), 0);
	CHECK(!sgf_vq_drv_should_kick(&p.drv)); /* device has not seen 1 yet */
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &b, 1, NULL, 0, &h), 0);
	CHECK(sgf_vq_drv_should_kick(&p.drv));
	/* Device: the first completion interrupts; a second before the
	 * driver reaped does not; after the driver reaped, the next does. */
	CHECK_EQ(sgf_vq_push(&p.dev, 0, 0), 0);
	CHECK(sgf_vq_dev_should_notify(&p.dev));
	CHECK(!sgf_vq_dev_should_notify(&p.dev));
	CHECK_EQ(sgf_vq_push(&p.dev, 1, 0), 0);
	CHECK(!sgf_vq_dev_should_notify(&p.dev));
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 1);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 1);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(sgf_vq_push(&p.dev, p.e.head, 0), 0);
	CHECK(sgf_vq_dev_should_notify(&p.dev));
	/* set_notify reports buffers that are already there. */
	CHECK(!sgf_vq_dev_set_notify(&p.dev, true));
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &b, 1, NULL, 0, &h), 0);
	CHECK(sgf_vq_dev_set_notify(&p.dev, true));
	teardown(&p);
}

static void check_flags(void)
{
	struct pair p;
	struct sgf_vq_buf b = { DATA, 4 };
	uint16_t h;
	setup(&p, 8, false);
	CHECK(!sgf_vq_dev_set_notify(&p.dev, false));
	CHECK_EQ(le16toh(p.drv.used->flags), VRING_USED_F_NO_NOTIFY);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &b, 1, NULL, 0, &h), 0);
	CHECK(!sgf_vq_drv_should_kick(&p.drv));
	CHECK(sgf_vq_dev_set_notify(&p.dev, true));
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &b, 1, NULL, 0, &h), 0);
	CHECK(sgf_vq_drv_should_kick(&p.drv));
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(sgf_vq_push(&p.dev, p.e.head, 0), 0);
	CHECK(sgf_vq_dev_should_notify(&p.dev));
	CHECK(!sgf_vq_dev_should_notify(&p.dev)); /* nothing new used */
	p.drv.avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(sgf_vq_push(&p.dev, p.e.head, 0), 0);
	CHECK(!sgf_vq_dev_should_notify(&p.dev));
	teardown(&p);
}

static void check_init(void)
{
	struct pair p;
	struct sgf_vq_dev dev;
	setup(&p, 8, false);
	struct sgf_vq_addr a = { .num = 8, .desc = 0, .avail = 128, .used = 256 };
	CHECK_EQ(sgf_vq_dev_init(&dev, &p.mem, &a), 0);
	unsigned bad_num[] = { 0, 3, 12, 65536 };
	for (unsigned i = 0; i < 4; i++) {
		a.num = bad_num[i];
		CHECK_EQ(sgf_vq_dev_init(&dev, &p.mem, &a), -EINVAL);
	}
	a.num = 32768;
	CHECK_EQ(sgf_vq_dev_init(&dev, &p.mem, &a), 0);
	a.num = 8;
	a.desc = 8;       /* not 16-aligned */
	CHECK_EQ(sgf_vq_dev_init(&dev, &p.mem, &a), -EINVAL);
	a.desc = 0;
	a.used = 258;     /* not 4-aligned */
	CHECK_EQ(sgf_vq_dev_init(&dev, &p.mem, &a), -EINVAL);
	a.used = RAM_SIZE - 8; /* runs past the region */
	CHECK_EQ(sgf_vq_dev_init(&dev, &p.mem, &a), -EFAULT);
	a.used = 256;
	a.avail = UINT64_MAX - 4;
	CHECK_EQ(sgf_vq_dev_init(&dev, &p.mem, &a), -EOVERFLOW);
	a.avail = 128;
	a.last_avail = 9; /* more in flight than the queue holds */
	CHECK_EQ(sgf_vq_dev_init(&dev, &p.mem, &a), -EINVAL);
	struct sgf_vq_drv drv;
	CHECK_EQ(sgf_vq_drv_init(&drv, 6, p.ram, p.ram + 128, p.ram + 256, false), -EINVAL);
	CHECK_EQ(sgf_vq_drv_init(&drv, 8, p.ram + 8, p.ram + 128, p.ram + 256, false), -EINVAL);
	teardown(&p);
}

/* A ring-level error: nothing consumed, the queue broken for good. */
static void expect_broken(struct pair *p, int err, const char *what)
{
	uint16_t before = p->dev.last_avail;
	CHECK_EQ_CTX(sgf_vq_pop(&p->dev, &p->e), err, what);
	CHECK_EQ_CTX(p->dev.broken, true, what);
	CHECK_EQ_CTX(p->dev.last_avail, before, what);
	CHECK_EQ_CTX(sgf_vq_pop(&p->dev, &p->e), -EIO, what);
	CHECK_EQ_CTX(sgf_vq_push(&p->dev, 0, 0), -EIO, what);
}

static void check_ring_errors(void)
{
	struct pair p;
	setup(&p, 8, false);
	post(&p, 8);
	expect_broken(&p, -ERANGE, "head out of range");
	teardown(&p);

	setup(&p, 8, false);
	p.drv.avail->idx = htole16(9);
	expect_broken(&p, -EPROTO, "too many available");
	teardown(&p);

	/* Wrapped: avail idx 3 with last_avail 0xfffe is 5 pending, fine;
	 * idx 0xfff0 with last_avail 0 is 65520: too many. */
	setup(&p, 8, false);
	p.drv.avail->idx = htole16(0xfff0);
	expect_broken(&p, -EPROTO, "too many available, wrapped");
	teardown(&p);

	/* The guest re-posts heads the device still holds. */
	setup(&p, 2, false);
	desc(&p, 0, DATA, 4, 0, 0);
	post(&p, 0);
	post(&p, 0);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	post(&p, 0);
	expect_broken(&p, -EPROTO, "more in flight than num");
	teardown(&p);
}

/* A chain-level error: the chain consumed, its head reported, the queue
 * usable: pushing the head with len 0 fails that request only. */
static void expect_chain(struct pair *p, int err, uint16_t head, const char *what)
{
	uint16_t before = p->dev.last_avail;
	CHECK_EQ_CTX(sgf_vq_pop(&p->dev, &p->e), err, what);
	CHECK_EQ_CTX(p->dev.broken, false, what);
	CHECK_EQ_CTX(p->e.head, head, what);
	CHECK_EQ_CTX((uint16_t)(p->dev.last_avail - before), 1, what);
	CHECK_EQ_CTX(sgf_vq_push(&p->dev, p->e.head, 0), 0, what);
}

/* One chain error on a fresh queue of num 8. */
#define CHAIN_CASE(err, head, what, ...) do { \
	struct pair p_; \
	setup(&p_, 8, false); \
	struct pair *p = &p_; \
	__VA_ARGS__; \
	post(p, head); \
	expect_chain(p, err, head, what); \
	/* And the queue still works afterwards. */ \
	desc(p, 7, DATA, 4, 0, 0); \
	post(p, 7); \
	CHECK_EQ_CTX(sgf_vq_pop(&p->dev, &p->e), 1, what); \
	teardown(p); \
} while (0)

static void check_chain_errors(void)
{
	const uint16_t N = VRING_DESC_F_NEXT, W = VRING_DESC_F_WRITE, I = VRING_DESC_F_INDIRECT;

	CHAIN_CASE(-ERANGE, 0, "next out of range", desc(p, 0, DATA, 4, N, 8));
	CHAIN_CASE(-ELOOP, 1, "loop a->b->a",
		   desc(p, 1, DATA, 4, N, 2); desc(p, 2, DATA, 4, N, 1));
	CHAIN_CASE(-ELOOP, 3, "self loop", desc(p, 3, DATA, 4, N, 3));
	/* All 8 descriptors chained and the last back to the first: 9 visits. */
	CHAIN_CASE(-ELOOP, 0, "chain longer than num",
		   for (unsigned i = 0; i < 8; i++) desc(p, i, DATA, 4, N, (i + 1) % 8));
	CHAIN_CASE(-EINVAL, 0, "zero length", desc(p, 0, DATA, 0, 0, 0));
	CHAIN_CASE(-EINVAL, 0, "zero length after a good one",
		   desc(p, 0, DATA, 4, N, 1); desc(p, 1, DATA, 0, W, 0));
	CHAIN_CASE(-EFAULT, 0, "address out of region", desc(p, 0, RAM_SIZE, 1, 0, 0));
	CHAIN_CASE(-EFAULT, 0, "range runs out of region", desc(p, 0, RAM_SIZE - 4, 5, W, 0));
	CHAIN_CASE(-EOVERFLOW, 0, "address + len wraps", desc(p, 0, UINT64_MAX - 2, 16, 0, 0));
	CHAIN_CASE(-EBADMSG, 0, "readable after writable",
		   desc(p, 0, DATA, 4, N | W, 1); desc(p, 1, DATA, 4, 0, 0));
	CHAIN_CASE(-ENOBUFS, 0, "readable iovecs overflow",
		   for (unsigned i = 0; i < 7; i++) desc(p, i, DATA, 4, N, i + 1);
		   p->e.rd_max = 6);
	CHAIN_CASE(-ENOBUFS, 0, "no writable iovecs", desc(p, 0, DATA, 4, W, 0); p->e.wr_max = 0);

	/* Indirect: a table at DATA + 0x1000. */
	struct vring_desc t[4];
	memset(t, 0, sizeof(t));
	CHAIN_CASE(-EINVAL, 0, "indirect len not a multiple of 16", desc(p, 0, DATA, 17, I, 0));
	CHAIN_CASE(-EINVAL, 0, "indirect len 0", desc(p, 0, DATA, 0, I, 0));
	/* Nine good entries: only the length bound can refuse it. */
	CHAIN_CASE(-EINVAL, 0, "indirect longer than num",
		   desc(p, 0, DATA + 0x1000, 16 * 9, I, 0);
		   t[0] = (struct vring_desc){ htole64(DATA), htole32(4), 0, 0 };
		   for (unsigned i = 0; i < 9; i++) memcpy(p->ram + DATA + 0x1000 + 16 * i, t, 16));
	CHAIN_CASE(-EINVAL, 0, "indirect with next",
		   desc(p, 0, DATA, 16, I | N, 1); desc(p, 1, DATA, 4, 0, 0));
	CHAIN_CASE(-EINVAL, 0, "indirect after a direct one",
		   desc(p, 0, DATA, 4, N, 1); desc(p, 1, DATA, 16, I, 0));
	CHAIN_CASE(-EFAULT, 0, "indirect table out of region", desc(p, 0, RAM_SIZE - 16, 32, I, 0));
	CHAIN_CASE(-EINVAL, 0, "nested indirect",
		   desc(p, 0, DATA + 0x1000, 32, I, 0);
		   t[0] = (struct vring_desc){ htole64(DATA), htole32(4), htole16(N), htole16(1) };
		   t[1] = (struct vring_desc){ htole64(DATA + 0x2000), htole32(16), htole16(I), 0 };
		   memcpy(p->ram + DATA + 0x1000, t, 32));
	CHAIN_CASE(-ERANGE, 0, "indirect next out of table",
		   desc(p, 0, DATA + 0x1000, 32, I, 0);
		   t[0] = (struct vring_desc){ htole64(DATA), htole32(4), htole16(N), htole16(2) };
		   memcpy(p->ram + DATA + 0x1000, t, 32));
	CHAIN_CASE(-ELOOP, 0, "indirect loop",
		   desc(p, 0, DATA + 0x1000, 32, I, 0);
		   t[0] = (struct vring_desc){ htole64(DATA), htole32(4), htole16(N), htole16(1) };
		   t[1] = (struct vring_desc){ htole64(DATA), htole32(4), htole16(N), htole16(0) };
		   memcpy(p->ram + DATA + 0x1000, t, 32));
	CHAIN_CASE(-EFAULT, 0, "indirect entry out of region",
		   desc(p, 0, DATA + 0x1000, 16, I, 0);
		   t[0] = (struct vring_desc){ htole64(RAM_SIZE), htole32(4), 0, 0 };
		   memcpy(p->ram + DATA + 0x1000, t, 16));
}

static void check_indirect_ok(void)
{
	struct pair p;
	struct vring_desc t[3] = {
		{ htole64(DATA), htole32(10), htole16(VRING_DESC_F_NEXT), htole16(2) },
		{ htole64(DATA + 64), htole32(20), htole16(VRING_DESC_F_WRITE), 0 },
		{ htole64(DATA + 32), htole32(5), htole16(VRING_DESC_F_NEXT), htole16(1) },
	};
	setup(&p, 8, false);
	/* Unaligned on purpose: the spec does not require alignment here. */
	memcpy(p.ram + DATA + 0x1001, t, sizeof(t));
	desc(&p, 5, DATA + 0x1001, sizeof(t), VRING_DESC_F_INDIRECT, 0);
	post(&p, 5);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(p.e.head, 5);
	CHECK_EQ(p.e.rd_n, 2);
	CHECK_EQ(p.e.rd_bytes, 15);
	CHECK_EQ(p.e.wr_n, 1);
	CHECK_EQ(p.e.wr_bytes, 20);
	CHECK(p.e.rd[1].iov_base == p.ram + DATA + 32);
	teardown(&p);
}

/* Guest RAM in two adjacent regions: a buffer across the seam is two
 * iovecs; with a gap between them it is an error. */
static void check_split_regions(void)
{
	struct pair p;
	setup(&p, 8, false);
	unsigned char *hi = malloc(4096);
	CHECK_EQ(sgf_vq_mem_add(&p.mem, RAM_SIZE, 4096, hi), 0);
	desc(&p, 0, RAM_SIZE - 100, 200, VRING_DESC_F_WRITE, 0);
	post(&p, 0);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(p.e.wr_n, 2);
	CHECK(p.e.wr[0].iov_base == p.ram + RAM_SIZE - 100 && p.e.wr[0].iov_len == 100);
	CHECK(p.e.wr[1].iov_base == hi && p.e.wr[1].iov_len == 100);
	CHECK_EQ(p.e.wr_bytes, 200);
	CHECK_EQ(sgf_vq_push(&p.dev, 0, 200), 0);
	/* One iovec left for two pieces. */
	p.e.wr_max = 1;
	post(&p, 0);
	expect_chain(&p, -ENOBUFS, 0, "split range, one iovec");
	free(hi);
	teardown(&p);
}

/* Totals over 4 GiB, in a region the test never touches (only pop's
 * arithmetic runs, nothing is dereferenced). */
static void check_e2big(void)
{
	struct pair p;
	setup(&p, 8, false);
	CHECK_EQ(sgf_vq_mem_add(&p.mem, 1ull << 40, 1ull << 33, p.ram), 0);
	desc(&p, 0, 1ull << 40, UINT32_MAX, VRING_DESC_F_NEXT, 1);
	desc(&p, 1, (1ull << 40) + UINT32_MAX, 1, 0, 0);
	post(&p, 0);
	expect_chain(&p, -E2BIG, 0, "over 4 GiB");
	teardown(&p);
}

/* A device that lies to our driver. */
static void check_driver_validation(void)
{
	struct pair p;
	struct sgf_vq_buf rd = { DATA, 4 }, wr = { DATA + 64, 8 };
	uint16_t h;
	uint32_t len;

	setup(&p, 8, false);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, NULL, 0, NULL, 0, &h), -EINVAL);
	struct sgf_vq_buf z = { DATA, 0 };
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &z, 1, NULL, 0, &h), -EINVAL);
	struct sgf_vq_buf big[2] = { { DATA, UINT32_MAX }, { DATA, 1 } };
	CHECK_EQ(sgf_vq_drv_add(&p.drv, big, 2, NULL, 0, &h), -EINVAL);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &rd, 1, &wr, 1, &h), 0);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(sgf_vq_push(&p.dev, p.e.head, 9), 0); /* more than the 8 writable */
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), -EPROTO);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), -EIO);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &rd, 1, NULL, 0, &h), -EIO);
	teardown(&p);

	setup(&p, 8, false);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &rd, 1, NULL, 0, &h), 0);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(sgf_vq_push(&p.dev, 3, 0), 0); /* a head never added */
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), -EPROTO);
	teardown(&p);

	setup(&p, 8, false);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &rd, 1, NULL, 0, &h), 0);
	p.drv.used->ring[0].id = htole32(100);
	p.drv.used->idx = htole16(1);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), -EPROTO); /* id out of range */
	teardown(&p);

	setup(&p, 8, false);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &rd, 1, NULL, 0, &h), 0);
	p.drv.used->idx = htole16(2); /* two used, one outstanding */
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), -EPROTO);
	teardown(&p);

	/* The same head twice: the second is no longer outstanding. */
	setup(&p, 8, false);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &rd, 1, NULL, 0, &h), 0);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &rd, 1, NULL, 0, &h), 0);
	p.drv.used->ring[0].id = htole32(0);
	p.drv.used->ring[1].id = htole32(0);
	p.drv.used->idx = htole16(2);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), 1);
	CHECK_EQ(sgf_vq_drv_get_used(&p.drv, &h, &len), -EPROTO);
	teardown(&p);

	/* Device side: fill of an id out of range. */
	setup(&p, 8, false);
	CHECK_EQ(sgf_vq_drv_add(&p.drv, &rd, 1, NULL, 0, &h), 0);
	CHECK_EQ(sgf_vq_pop(&p.dev, &p.e), 1);
	CHECK_EQ(sgf_vq_fill(&p.dev, 8, 0), -EINVAL);
	teardown(&p);
}

int main(void)
{
	check_single();
	check_unpop();
	check_mixed();
	check_long_and_full();
	check_wrap();
	check_event_idx();
	check_flags();
	check_init();
	check_ring_errors();
	check_chain_errors();
	check_indirect_ok();
	check_split_regions();
	check_e2big();
	check_driver_validation();
	return check_exit();
}
