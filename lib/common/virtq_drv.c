/* lib/common/virtq_drv.c - the driver side of the split virtqueue
 * (virtq.h), for our client playing the guest: add chains of guest
 * buffers, kick decisions, reap used elements. Chain links and lengths are
 * kept privately, so a device that rewrites the descriptor table or
 * returns a bogus id cannot corrupt the free list. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "virtq.h"

static bool aligned(const void *p, uintptr_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

int sgf_vq_drv_init(struct sgf_vq_drv *vq, unsigned num, void *desc, void *avail,
		    void *used, bool event_idx)
{
	memset(vq, 0, sizeof(*vq));
	if (num == 0 || num > SGF_VQ_MAX_NUM || (num & (num - 1)) != 0)
		return -EINVAL;
	if (!aligned(desc, 16) || !aligned(avail, 2) || !aligned(used, 4))
		return -EINVAL;
	vq->next = calloc(num, sizeof(*vq->next));
	vq->chain_len = calloc(num, sizeof(*vq->chain_len));
	vq->wr_bytes = calloc(num, sizeof(*vq->wr_bytes));
	if (vq->next == NULL || vq->chain_len == NULL || vq->wr_bytes == NULL) {
		sgf_vq_drv_fini(vq);
		return -ENOMEM;
	}
	memset(desc, 0, sgf_vq_desc_size(num));
	memset(avail, 0, sgf_vq_avail_size(num));
	memset(used, 0, sgf_vq_used_size(num));
	vq->num = num;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->event_idx = event_idx;
	/* The last link, num, is never followed: num_free counts. */
	for (unsigned i = 0; i < num; i++)
		vq->next[i] = (uint16_t)(i + 1);
	vq->num_free = num;
	return 0;
}

void sgf_vq_drv_fini(struct sgf_vq_drv *vq)
{
	free(vq->next);
	free(vq->chain_len);
	free(vq->wr_bytes);
	vq->next = vq->chain_len = NULL;
	vq->wr_bytes = NULL;
}

/* The sum of n lengths, or -EINVAL for a zero one or over 4 GiB. */
static int64_t total(const struct sgf_vq_buf *b, unsigned n)
{
	uint64_t t = 0;
	for (unsigned i = 0; i < n; i++) {
		if (b[i].len == 0)
			return -EINVAL;
		t += b[i].len;
		if (t > UINT32_MAX)
			return -EINVAL;
	}
	return (int64_t)t;
}

int sgf_vq_drv_add(struct sgf_vq_drv *vq, const struct sgf_vq_buf *rd, unsigned nrd,
		   const struct sgf_vq_buf *wr, unsigned nwr, uint16_t *head)
{
	if (vq->broken)
		return -EIO;
	if (nrd + (uint64_t)nwr == 0 || nrd > vq->num || nwr > vq->num)
		return -EINVAL;
	int64_t rbytes = total(rd, nrd), wbytes = total(wr, nwr);
	if (rbytes < 0 || wbytes < 0)
		return -EINVAL;
	unsigned n = nrd + nwr;
	if (n > vq->num_free)
		return -ENOSPC;

	uint16_t first = vq->free_head, idx = first;
	for (unsigned i = 0; i < n; i++) {
		const struct sgf_vq_buf *b = i < nrd ? &rd[i] : &wr[i - nrd];
		struct vring_desc *d = &vq->desc[idx];
		uint16_t flags = (i >= nrd ? VRING_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		d->addr = htole64(b->gpa);
		d->len = htole32(b->len);
		d->flags = htole16(flags);
		d->next = htole16(i + 1 < n ? vq->next[idx] : 0);
		idx = vq->next[idx];
	}
	/* The chain keeps the free list's links, so next[] walks it. */
	vq->free_head = idx;
	vq->num_free -= n;
	vq->chain_len[first] = (uint16_t)n;
	vq->wr_bytes[first] = (uint32_t)wbytes;
	vq->outstanding++;
	__atomic_store_n(&vq->avail->ring[vq->avail_idx & (vq->num - 1)], htole16(first),
			 __ATOMIC_RELAXED);
	vq->avail_idx++;
	/* Release: descriptors and ring entry before the index. */
	__atomic_store_n(&vq->avail->idx, htole16(vq->avail_idx), __ATOMIC_RELEASE);
	*head = first;
	return 0;
}

bool sgf_vq_drv_should_kick(struct sgf_vq_drv *vq)
{
	/* Full barrier: our avail->idx store before the device's flags or
	 * avail_event load. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = vq->kicked_avail, new = vq->avail_idx;
	vq->kicked_avail = new;
	if (new == old)
		return false;
	if (!vq->event_idx)
		return !(le16toh(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED)) &
			 VRING_USED_F_NO_NOTIFY);
	uint16_t event = le16toh(__atomic_load_n((uint16_t *)&vq->used->ring[vq->num],
						 __ATOMIC_RELAXED));
	return vring_need_event(event, new, old);
}

static int broke(struct sgf_vq_drv *vq)
{
	vq->broken = true;
	return -EPROTO;
}

int sgf_vq_drv_get_used(struct sgf_vq_drv *vq, uint16_t *head, uint32_t *len)
{
	if (vq->broken)
		return -EIO;
	/* Acquire: the element and the data the device wrote are visible. */
	uint16_t uidx = le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
	uint16_t pending = (uint16_t)(uidx - vq->last_used);
	if (pending == 0)
		return 0;
	if (pending > vq->outstanding)
		return broke(vq);
	struct vring_used_elem *u = &vq->used->ring[vq->last_used & (vq->num - 1)];
	uint32_t id = le32toh(__atomic_load_n(&u->id, __ATOMIC_RELAXED));
	uint32_t n = le32toh(__atomic_load_n(&u->len, __ATOMIC_RELAXED));
	if (id >= vq->num || vq->chain_len[id] == 0 || n > vq->wr_bytes[id])
		return broke(vq);

	uint16_t tail = (uint16_t)id;
	for (unsigned i = 1; i < vq->chain_len[id]; i++)
		tail = vq->next[tail];
	vq->next[tail] = vq->free_head;
	vq->free_head = (uint16_t)id;
	vq->num_free += vq->chain_len[id];
	vq->chain_len[id] = 0;
	vq->outstanding--;
	vq->last_used++;
	/* Interrupt us for the next one (event idx). */
	if (vq->event_idx)
		__atomic_store_n(&vq->avail->ring[vq->num], htole16(vq->last_used),
				 __ATOMIC_RELAXED);
	*head = (uint16_t)id;
	*len = n;
	return 1;
}
