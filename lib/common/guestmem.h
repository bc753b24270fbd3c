/* lib/common/guestmem.h - the guest memory table of virtio-fs: the
 * regions a vhost-user frontend shared (guest physical address, size, our
 * mapping of its memfd) and the translation of guest addresses to host
 * pointers, refusing any range not wholly inside mapped memory. Internal. */
#ifndef SGFUSE_COMMON_GUESTMEM_H
#define SGFUSE_COMMON_GUESTMEM_H

#include <stdint.h>
#include <sys/uio.h>

/* vhost-user's SET_MEM_TABLE carries at most 8 regions. */
#define SGF_VQ_MEM_MAX_REGIONS 8

struct sgf_vq_mem_region {
	uint64_t gpa;   /* first guest physical address */
	uint64_t size;  /* bytes; never 0 */
	void *host;     /* where those bytes are mapped here */
};

struct sgf_vq_mem {
	unsigned nregions;
	struct sgf_vq_mem_region r[SGF_VQ_MEM_MAX_REGIONS];
};

void sgf_vq_mem_init(struct sgf_vq_mem *m);

/* Add a region. -EINVAL: size 0, gpa + size past 2^64, or overlapping a
 * region already there; -ENOSPC: the table is full. */
int sgf_vq_mem_add(struct sgf_vq_mem *m, uint64_t gpa, uint64_t size, void *host);

/* The host pointer of [gpa, gpa + len) if it lies inside one region.
 * -EINVAL: len 0 (an empty range names no memory, and the rings never ask
 * for one); -EOVERFLOW: gpa + len past 2^64; -EFAULT: not (wholly) inside
 * one region. */
int sgf_vq_mem_translate(const struct sgf_vq_mem *m, uint64_t gpa, uint64_t len,
			 void **host);

/* [gpa, gpa + len) as up to max iovecs, one per region it crosses (guest
 * RAM may come in several adjacent regions). Appends after *n iovecs and
 * advances *n. Errors as sgf_vq_mem_translate, plus -ENOBUFS: more than
 * max iovecs needed. On error *n and iov[*n..] are unspecified beyond
 * *n <= max. */
int sgf_vq_mem_translate_iov(const struct sgf_vq_mem *m, uint64_t gpa, uint64_t len,
			     struct iovec *iov, unsigned max, unsigned *n);

#endif
