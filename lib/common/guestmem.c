/* lib/common/guestmem.c - guest address translation (guestmem.h). Every
 * bound is checked with subtraction rather than gpa + len so that no sum
 * can wrap: the addresses come from the guest. */
#include <errno.h>
#include <stddef.h>
#include "guestmem.h"

void sgf_vq_mem_init(struct sgf_vq_mem *m)
{
	m->nregions = 0;
}

int sgf_vq_mem_add(struct sgf_vq_mem *m, uint64_t gpa, uint64_t size, void *host)
{
	if (size == 0 || size - 1 > UINT64_MAX - gpa || host == NULL)
		return -EINVAL;
	if (m->nregions >= SGF_VQ_MEM_MAX_REGIONS)
		return -ENOSPC;
	uint64_t last = gpa + (size - 1);
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct sgf_vq_mem_region *r = &m->r[i];
		uint64_t rlast = r->gpa + (r->size - 1);
		/* Overlap would make a translation depend on lookup order. */
		if (gpa <= rlast && r->gpa <= last)
			return -EINVAL;
	}
	m->r[m->nregions++] = (struct sgf_vq_mem_region){ .gpa = gpa, .size = size, .host = host };
	return 0;
}

/* The region holding gpa, or NULL. */
static const struct sgf_vq_mem_region *find(const struct sgf_vq_mem *m, uint64_t gpa)
{
	for (unsigned i = 0; i < m->nregions; i++)
		if (gpa >= m->r[i].gpa && gpa - m->r[i].gpa < m->r[i].size)
			return &m->r[i];
	return NULL;
}

int sgf_vq_mem_translate(const struct sgf_vq_mem *m, uint64_t gpa, uint64_t len,
			 void **host)
{
	if (len == 0)
		return -EINVAL;
	if (len - 1 > UINT64_MAX - gpa)
		return -EOVERFLOW;
	const struct sgf_vq_mem_region *r = find(m, gpa);
	if (r == NULL)
		return -EFAULT;
	uint64_t off = gpa - r->gpa;
	if (len > r->size - off)
		return -EFAULT;
	*host = (char *)r->host + off;
	return 0;
}

int sgf_vq_mem_translate_iov(const struct sgf_vq_mem *m, uint64_t gpa, uint64_t len,
			     struct iovec *iov, unsigned max, unsigned *n)
{
	if (len == 0)
		return -EINVAL;
	if (len - 1 > UINT64_MAX - gpa)
		return -EOVERFLOW;
	while (len > 0) {
		const struct sgf_vq_mem_region *r = find(m, gpa);
		if (r == NULL)
			return -EFAULT;
		if (*n >= max)
			return -ENOBUFS;
		uint64_t off = gpa - r->gpa;
		uint64_t chunk = r->size - off < len ? r->size - off : len;
		if (chunk > SIZE_MAX)
			return -EOVERFLOW;
		iov[*n].iov_base = (char *)r->host + off;
		iov[*n].iov_len = (size_t)chunk;
		(*n)++;
		/* No wrap: gpa + len - 1 fits in 64 bits (checked above). */
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}
