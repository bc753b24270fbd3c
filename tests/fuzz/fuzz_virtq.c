/* tests/fuzz/fuzz_virtq.c - libFuzzer harness: the split virtqueue
 * (lib/common/virtq_*.c) facing a hostile other end. The input is guest
 * memory: rings, descriptor tables and data, all as the fuzzer likes.
 * Device mode pops chains until the ring is empty or broken, reads every
 * readable and writes every writable byte it was given and pushes used
 * elements; driver mode adds chains and reaps a used ring the fuzzer
 * wrote. Guest memory lives in exactly sized allocations, so ASan reports
 * any access outside it; the harness also checks every iovec lies inside
 * a region and the totals add up, and that chain errors leave the queue
 * usable while ring errors stop it.
 *
 * Input: a 14-byte header, then the guest memory (gpa 0 up):
 *   u8 log2 queue size (mod 16), u8 flags (1 event idx, 2 memory in two
 *   regions split at `split`, 4 push a short len, 8 driver mode),
 *   u8 readable iovec slots (mod 17), u8 writable slots (mod 17),
 *   u16 last_avail, u16 split, u16 desc, u16 avail, u16 used
 *   (little-endian gpas). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_check.h"
#include "virtq.h"

#define HDR 14

struct ram {
	struct sgf_vq_mem mem;
	unsigned char *part[2];
	size_t size[2];
};

static uint16_t u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static bool inside(const struct ram *ram, const struct iovec *v)
{
	for (unsigned i = 0; i < 2; i++) {
		const unsigned char *b = ram->part[i], *p = v->iov_base;
		if (b != NULL && p >= b && v->iov_len <= ram->size[i] &&
		    (size_t)(p - b) <= ram->size[i] - v->iov_len)
			return true;
	}
	return false;
}

/* Every byte of the iovecs, read (readable) or written (writable). */
static uint64_t touch(const struct ram *ram, struct iovec *v, unsigned n, bool wr)
{
	uint64_t total = 0;
	unsigned sum = 0;
	for (unsigned i = 0; i < n; i++) {
		FUZZ_ASSERT(v[i].iov_len > 0 && inside(ram, &v[i]), "iovec %u outside memory", i);
		if (wr)
			memset(v[i].iov_base, 0xa5, v[i].iov_len);
		else
			for (size_t j = 0; j < v[i].iov_len; j++)
				sum += ((unsigned char *)v[i].iov_base)[j];
		total += v[i].iov_len;
	}
	(void)sum;
	return total;
}

static void device(struct ram *ram, const uint8_t *h)
{
	struct sgf_vq_dev vq;
	struct sgf_vq_addr a = {
		.num = 1u << (h[0] % 16), .event_idx = h[1] & 1, .last_avail = u16(h + 4),
		.desc = u16(h + 8), .avail = u16(h + 10), .used = u16(h + 12),
	};
	struct iovec rd[16], wr[16];
	struct sgf_vq_elem e = { .rd = rd, .rd_max = h[2] % 17, .wr = wr, .wr_max = h[3] % 17 };

	if (sgf_vq_dev_init(&vq, &ram->mem, &a) < 0)
		return;
	/* Each pop consumes an entry or stops; the bound only caps time. */
	for (unsigned i = 0; i < 2 * a.num + 2; i++) {
		int r = sgf_vq_pop(&vq, &e);
		if (r == 0)
			break;
		if (r < 0 && vq.broken) {
			FUZZ_ASSERT(sgf_vq_pop(&vq, &e) == -EIO, "broken queue popped");
			break;
		}
		FUZZ_ASSERT(e.head < a.num, "head %u of %u", e.head, a.num);
		uint32_t len = 0;
		if (r == 1) {
			FUZZ_ASSERT(e.rd_n <= e.rd_max && e.wr_n <= e.wr_max, "iovec count");
			FUZZ_ASSERT(touch(ram, rd, e.rd_n, false) == e.rd_bytes, "readable total");
			FUZZ_ASSERT(touch(ram, wr, e.wr_n, true) == e.wr_bytes, "writable total");
			len = (h[1] & 4) ? e.wr_bytes / 2 : e.wr_bytes;
		} else {
			FUZZ_ASSERT(r == -ERANGE || r == -ELOOP || r == -EINVAL || r == -EFAULT ||
					    r == -EOVERFLOW || r == -EBADMSG || r == -ENOBUFS ||
					    r == -E2BIG,
				    "chain error %d", r);
		}
		FUZZ_ASSERT(sgf_vq_push(&vq, e.head, len) == 0, "push of a popped head");
		if (i % 3 == 0)
			sgf_vq_dev_should_notify(&vq);
		if (i % 5 == 0)
			sgf_vq_dev_set_notify(&vq, i % 2);
	}
}

/* Our driver adds chains, then meets a used ring the fuzzer wrote:
 * the input's bytes at the used ring's gpa replace what the driver
 * zeroed. */
static void driver(struct ram *ram, const uint8_t *h, const uint8_t *guest)
{
	struct sgf_vq_drv vq;
	unsigned num = 1u << (h[0] % 9);
	void *d, *av, *u;
	uint16_t head;
	uint32_t len;

	if (sgf_vq_mem_translate(&ram->mem, u16(h + 8), sgf_vq_desc_size(num), &d) < 0 ||
	    sgf_vq_mem_translate(&ram->mem, u16(h + 10), sgf_vq_avail_size(num), &av) < 0 ||
	    sgf_vq_mem_translate(&ram->mem, u16(h + 12), sgf_vq_used_size(num), &u) < 0 ||
	    sgf_vq_drv_init(&vq, num, d, av, u, h[1] & 1) < 0)
		return;
	unsigned chains = h[2] % (num + 1);
	for (unsigned i = 0; i < chains; i++) {
		struct sgf_vq_buf rd = { 0, 1 + i }, wr = { 0, 1 + (i ^ h[3]) % 64 };
		unsigned need = 1 + i % 2, free_before = vq.num_free;
		int r = sgf_vq_drv_add(&vq, &rd, 1, &wr, i % 2, &head);
		FUZZ_ASSERT(r == 0 || (r == -ENOSPC && free_before < need), "add %u: %d", i, r);
	}
	/* Inside one region (translated above), so inside the input. */
	memcpy(u, guest + u16(h + 12), sgf_vq_used_size(num));
	for (unsigned i = 0; i < num + 2; i++) {
		int r = sgf_vq_drv_get_used(&vq, &head, &len);
		if (r <= 0) {
			FUZZ_ASSERT(r == 0 || r == -EPROTO, "get_used %d", r);
			break;
		}
		FUZZ_ASSERT(head < num, "reaped head %u", head);
	}
	FUZZ_ASSERT(vq.num_free <= num, "free count %u", vq.num_free);
	sgf_vq_drv_should_kick(&vq);
	sgf_vq_drv_fini(&vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ram ram;

	if (size <= HDR)
		return 0;
	const uint8_t *h = data;
	size_t total = size - HDR;
	size_t split = (h[1] & 2) ? u16(h + 6) % total : 0;

	memset(&ram, 0, sizeof(ram));
	sgf_vq_mem_init(&ram.mem);
	/* Two allocations when split, adjacent in guest addresses only: a
	 * translation that ran across the seam in host memory would land in
	 * a redzone. */
	ram.size[0] = split ? split : total;
	ram.size[1] = split ? total - split : 0;
	for (unsigned i = 0; i < 2; i++) {
		if (ram.size[i] == 0)
			continue;
		/* Exactly sized, so the redzone starts at the last byte
		 * (malloc's 16-byte alignment serves the rings). */
		ram.part[i] = malloc(ram.size[i]);
		FUZZ_ASSERT(ram.part[i] != NULL, "alloc");
		memcpy(ram.part[i], data + HDR + (i ? split : 0), ram.size[i]);
		FUZZ_ASSERT(sgf_vq_mem_add(&ram.mem, i ? split : 0, ram.size[i], ram.part[i]) == 0,
			    "region %u", i);
	}
	if (h[1] & 8)
		driver(&ram, h, data + HDR);
	else
		device(&ram, h);
	free(ram.part[0]);
	free(ram.part[1]);
	return 0;
}
