/* lib/client/vhost_layout.c - where everything lives in the one memory
 * region a vhost-user client shares with its backend: the rings of both
 * queues, the hiprio messages, each slot's control page and bounce space,
 * and the arena of sgf_client_buf_alloc(). Pure arithmetic. */
#include <errno.h>
#include <string.h>
#include "vhost.h"

/* *off rounded up to a multiple of a (a power of two), then n added: false
 * when that overflows. */
static bool take(size_t *off, size_t a, size_t n, size_t *at)
{
	if (*off > SIZE_MAX - (a - 1))
		return false;
	size_t start = (*off + (a - 1)) & ~(a - 1);
	if (n > SIZE_MAX - start)
		return false;
	*at = start;
	*off = start + n;
	return true;
}

int sgf_vh_layout(struct sgf_vh_layout *l, unsigned nslots, uint32_t max_pages,
		  size_t arena_size)
{
	size_t off = 0, n;

	memset(l, 0, sizeof(*l));
	l->qnum[SGF_VH_HIPRIO] = SGF_VH_HIPRIO_NUM;
	l->qnum[SGF_VH_REQ] = SGF_VH_QUEUE_NUM;
	/* Each queue's rings on pages of their own; inside, the spec's
	 * alignment is 16 / 2 / 4, 64 keeps them off each other's lines. */
	for (unsigned q = 0; q < SGF_VH_NQUEUES; q++) {
		if (!take(&off, SGF_PAGE_SIZE, sgf_vq_desc_size(l->qnum[q]), &l->desc[q]) ||
		    !take(&off, 64, sgf_vq_avail_size(l->qnum[q]), &l->avail[q]) ||
		    !take(&off, 64, sgf_vq_used_size(l->qnum[q]), &l->used[q]))
			return -EINVAL;
	}
	if (!take(&off, SGF_PAGE_SIZE, (size_t)SGF_VH_HIPRIO_NUM * SGF_VH_HIPRIO_MSG, &l->hiprio))
		return -EINVAL;
	if (max_pages == 0 || (uint64_t)max_pages * SGF_PAGE_SIZE > SIZE_MAX - SGF_VH_CTL_SIZE)
		return -EINVAL;
	l->bounce_size = (size_t)max_pages * SGF_PAGE_SIZE;
	l->slot_size = SGF_VH_CTL_SIZE + l->bounce_size;
	if (nslots > SIZE_MAX / l->slot_size)
		return -EINVAL;
	n = (size_t)nslots * l->slot_size;
	if (!take(&off, SGF_PAGE_SIZE, n, &l->slots))
		return -EINVAL;
	if (arena_size > SIZE_MAX - (SGF_PAGE_SIZE - 1))
		return -EINVAL;
	l->arena_size = (arena_size + SGF_PAGE_SIZE - 1) / SGF_PAGE_SIZE * SGF_PAGE_SIZE;
	if (!take(&off, SGF_PAGE_SIZE, l->arena_size, &l->arena))
		return -EINVAL;
	l->total = off;
	return 0;
}
