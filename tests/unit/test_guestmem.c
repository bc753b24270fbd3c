/* tests/unit/test_guestmem.c - the guest memory table (lib/common/
 * guestmem.c): region table limits, single-region translation with its
 * edges (exact end, one past, wrap of gpa + len, zero length) and the
 * iovec variant across adjacent regions, gaps and a full array. */
#include <stdint.h>
#include <sys/uio.h>
#include "check.h"
#include "guestmem.h"

static char ram_a[4096], ram_b[4096];

static void check_add(void)
{
	struct sgf_vq_mem m;
	sgf_vq_mem_init(&m);
	CHECK_EQ(sgf_vq_mem_add(&m, 0x1000, 0, ram_a), -EINVAL);
	CHECK_EQ(sgf_vq_mem_add(&m, UINT64_MAX - 10, 12, ram_a), -EINVAL);
	CHECK_EQ(sgf_vq_mem_add(&m, UINT64_MAX - 10, 11, ram_a), 0); /* ends at 2^64 */
	CHECK_EQ(sgf_vq_mem_add(&m, 0x1000, 0x1000, NULL), -EINVAL);
	CHECK_EQ(sgf_vq_mem_add(&m, 0x1000, 0x1000, ram_a), 0);
	CHECK_EQ(sgf_vq_mem_add(&m, 0x1fff, 0x10, ram_b), -EINVAL);  /* overlaps the end */
	CHECK_EQ(sgf_vq_mem_add(&m, 0x800, 0x801, ram_b), -EINVAL);  /* overlaps the start */
	CHECK_EQ(sgf_vq_mem_add(&m, 0x800, 0x800, ram_b), 0);        /* adjacent below */
	for (unsigned i = 3; i < SGF_VQ_MEM_MAX_REGIONS; i++)
		CHECK_EQ(sgf_vq_mem_add(&m, 0x100000 * i, 0x1000, ram_b), 0);
	CHECK_EQ(sgf_vq_mem_add(&m, 0x10000000, 0x1000, ram_b), -ENOSPC);
}

static void check_translate(void)
{
	struct sgf_vq_mem m;
	void *p = NULL;
	sgf_vq_mem_init(&m);
	CHECK_EQ(sgf_vq_mem_add(&m, 0x10000, sizeof(ram_a), ram_a), 0);
	CHECK_EQ(sgf_vq_mem_add(&m, 0x10000 + sizeof(ram_a), sizeof(ram_b), ram_b), 0);

	CHECK_EQ(sgf_vq_mem_translate(&m, 0x10000, 4096, &p), 0);
	CHECK(p == ram_a);
	CHECK_EQ(sgf_vq_mem_translate(&m, 0x10ff0, 16, &p), 0);      /* ends exactly at the end */
	CHECK(p == ram_a + 0xff0);
	CHECK_EQ(sgf_vq_mem_translate(&m, 0x10ff0, 17, &p), -EFAULT); /* crosses into b */
	CHECK_EQ(sgf_vq_mem_translate(&m, 0x11000, 1, &p), 0);
	CHECK(p == ram_b);
	CHECK_EQ(sgf_vq_mem_translate(&m, 0x12000, 1, &p), -EFAULT);  /* one past b */
	CHECK_EQ(sgf_vq_mem_translate(&m, 0xffff, 2, &p), -EFAULT);   /* starts before */
	CHECK_EQ(sgf_vq_mem_translate(&m, 0x10000, 0, &p), -EINVAL);  /* zero length */
	CHECK_EQ(sgf_vq_mem_translate(&m, UINT64_MAX, 2, &p), -EOVERFLOW);
	CHECK_EQ(sgf_vq_mem_translate(&m, 0x10000, UINT64_MAX, &p), -EOVERFLOW);
	CHECK_EQ(sgf_vq_mem_translate(&m, UINT64_MAX, 1, &p), -EFAULT); /* fits, unmapped */
}

static void check_translate_iov(void)
{
	struct sgf_vq_mem m;
	struct iovec iov[4];
	unsigned n;
	sgf_vq_mem_init(&m);
	CHECK_EQ(sgf_vq_mem_add(&m, 0x10000, sizeof(ram_a), ram_a), 0);
	CHECK_EQ(sgf_vq_mem_add(&m, 0x11000, sizeof(ram_b), ram_b), 0);

	n = 0;
	CHECK_EQ(sgf_vq_mem_translate_iov(&m, 0x10f00, 0x200, iov, 4, &n), 0);
	CHECK_EQ(n, 2);
	CHECK(iov[0].iov_base == ram_a + 0xf00 && iov[0].iov_len == 0x100);
	CHECK(iov[1].iov_base == ram_b && iov[1].iov_len == 0x100);
	/* Appends after what is there. */
	CHECK_EQ(sgf_vq_mem_translate_iov(&m, 0x10000, 8, iov, 4, &n), 0);
	CHECK_EQ(n, 3);
	CHECK(iov[2].iov_base == ram_a);
	/* Bounded count. */
	n = 3;
	CHECK_EQ(sgf_vq_mem_translate_iov(&m, 0x10f00, 0x200, iov, 4, &n), -ENOBUFS);
	n = 0;
	CHECK_EQ(sgf_vq_mem_translate_iov(&m, 0x10f00, 0x200, iov, 1, &n), -ENOBUFS);
	/* Past the last region, a gap, zero length, wrap. */
	n = 0;
	CHECK_EQ(sgf_vq_mem_translate_iov(&m, 0x11f00, 0x200, iov, 4, &n), -EFAULT);
	n = 0;
	CHECK_EQ(sgf_vq_mem_translate_iov(&m, 0x10000, 0, iov, 4, &n), -EINVAL);
	CHECK_EQ(n, 0);
	CHECK_EQ(sgf_vq_mem_translate_iov(&m, UINT64_MAX - 1, 3, iov, 4, &n), -EOVERFLOW);

	struct sgf_vq_mem gap;
	sgf_vq_mem_init(&gap);
	CHECK_EQ(sgf_vq_mem_add(&gap, 0x10000, sizeof(ram_a), ram_a), 0);
	CHECK_EQ(sgf_vq_mem_add(&gap, 0x11001, sizeof(ram_b), ram_b), 0);
	n = 0;
	CHECK_EQ(sgf_vq_mem_translate_iov(&gap, 0x10f00, 0x200, iov, 4, &n), -EFAULT);
}

int main(void)
{
	check_add();
	check_translate();
	check_translate_iov();
	return check_exit();
}
