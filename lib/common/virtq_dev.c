/* lib/common/virtq_dev.c - the device side of the split virtqueue
 * (virtq.h): pop chains out of rings in guest memory, push used elements,
 * decide notifications. The guest is not trusted: every index it wrote is
 * range checked, every descriptor is copied once before use (so it cannot
 * change between check and use), and every address goes through the
 * memory table, so nothing outside mapped regions is read or written. */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include "virtq.h"

/* The event-idx words after the rings (virtio 1.x 2.7.10). */
static uint16_t *used_event(struct sgf_vq_dev *vq)
{
	return &vq->avail->ring[vq->num];
}

static uint16_t *avail_event(struct sgf_vq_dev *vq)
{
	return (uint16_t *)&vq->used->ring[vq->num];
}

static bool aligned(const void *p, uintptr_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

int sgf_vq_dev_init(struct sgf_vq_dev *vq, const struct sgf_vq_mem *mem,
		    const struct sgf_vq_addr *a)
{
	void *d, *av, *u;
	int r;

	memset(vq, 0, sizeof(*vq));
	if (a->num == 0 || a->num > SGF_VQ_MAX_NUM || (a->num & (a->num - 1)) != 0)
		return -EINVAL;
	if ((r = sgf_vq_mem_translate(mem, a->desc, sgf_vq_desc_size(a->num), &d)) < 0 ||
	    (r = sgf_vq_mem_translate(mem, a->avail, sgf_vq_avail_size(a->num), &av)) < 0 ||
	    (r = sgf_vq_mem_translate(mem, a->used, sgf_vq_used_size(a->num), &u)) < 0)
		return r;
	/* The spec's alignment, checked on the host pointers: the index
	 * words are accessed atomically. */
	if (!aligned(d, 16) || !aligned(av, 2) || !aligned(u, 4))
		return -EINVAL;
	vq->mem = mem;
	vq->num = a->num;
	vq->desc = d;
	vq->avail = av;
	vq->used = u;
	vq->event_idx = a->event_idx;
	vq->last_avail = a->last_avail;
	vq->used_idx = le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
	/* A queue taken over mid-flight: chains popped before and not yet
	 * used count as in flight. */
	uint16_t inflight = (uint16_t)(vq->last_avail - vq->used_idx);
	if (inflight > vq->num)
		return -EINVAL;
	vq->inflight = inflight;
	return 0;
}

/* One descriptor's buffer into the readable or writable iovecs. */
static int add_buf(struct sgf_vq_dev *vq, struct sgf_vq_elem *e, bool wr, uint64_t addr,
		   uint32_t len)
{
	uint32_t *total = wr ? &e->wr_bytes : &e->rd_bytes;

	/* A used len is 32 bits, and the spec caps a chain at 4 GiB. */
	if (len > UINT32_MAX - *total)
		return -E2BIG;
	int r = wr ? sgf_vq_mem_translate_iov(vq->mem, addr, len, e->wr, e->wr_max, &e->wr_n)
		   : sgf_vq_mem_translate_iov(vq->mem, addr, len, e->rd, e->rd_max, &e->rd_n);
	if (r < 0)
		return r;
	*total += len;
	return 0;
}

/* Walk the chain at head; 1 or a chain error. */
static int walk(struct sgf_vq_dev *vq, struct sgf_vq_elem *e, uint16_t head)
{
	/* Bytes, not descriptors: an indirect table may be unaligned. */
	const unsigned char *table = (const unsigned char *)vq->desc;
	unsigned tsize = vq->num, idx = head, visited = 0;
	bool indirect = false, seen_wr = false;

	for (;;) {
		struct vring_desc d;

		/* Each descriptor at most once per table: a longer walk is
		 * a loop (or a chain longer than the queue, which the spec
		 * forbids). */
		if (++visited > tsize)
			return -ELOOP;
		memcpy(&d, table + (size_t)idx * sizeof(d), sizeof(d));
		uint16_t flags = le16toh(d.flags);
		uint64_t addr = le64toh(d.addr);
		uint32_t len = le32toh(d.len);

		if (flags & VRING_DESC_F_INDIRECT) {
			/* Only as the whole chain, as Linux drivers use it:
			 * one level, no NEXT (the spec forbids both), a
			 * table of whole descriptors no longer than the
			 * queue. */
			if (indirect || visited != 1 || (flags & VRING_DESC_F_NEXT))
				return -EINVAL;
			if (len == 0 || len % sizeof(struct vring_desc) != 0 ||
			    len / sizeof(struct vring_desc) > vq->num)
				return -EINVAL;
			void *p;
			int r = sgf_vq_mem_translate(vq->mem, addr, len, &p);
			if (r < 0)
				return r;
			table = p;
			tsize = len / sizeof(struct vring_desc);
			idx = 0;
			visited = 0;
			indirect = true;
			continue;
		}
		/* Zero-length buffers are refused (as QEMU does): they
		 * carry nothing and a chain of them only burns time. */
		if (len == 0)
			return -EINVAL;
		bool wr = (flags & VRING_DESC_F_WRITE) != 0;
		/* The device reads the request, then writes the reply:
		 * readable after writable has no meaning. */
		if (!wr && seen_wr)
			return -EBADMSG;
		seen_wr |= wr;
		int r = add_buf(vq, e, wr, addr, len);
		if (r < 0)
			return r;
		if (!(flags & VRING_DESC_F_NEXT))
			return 1;
		idx = le16toh(d.next);
		if (idx >= tsize)
			return -ERANGE;
	}
}

int sgf_vq_pop(struct sgf_vq_dev *vq, struct sgf_vq_elem *e)
{
	e->rd_n = e->wr_n = 0;
	e->rd_bytes = e->wr_bytes = 0;
	if (vq->broken)
		return -EIO;
	/* Acquire: the ring entry and descriptors the guest wrote before
	 * the index are visible once we see it. */
	uint16_t avail = le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
	uint16_t pending = (uint16_t)(avail - vq->last_avail);
	if (pending > vq->num) {
		vq->broken = true;
		return -EPROTO;
	}
	if (pending == 0)
		return 0;
	/* Every chain holds a descriptor: more in flight than the queue has
	 * means the guest reused heads we still own. */
	if (vq->inflight >= vq->num) {
		vq->broken = true;
		return -EPROTO;
	}
	uint16_t head = le16toh(__atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->num - 1)],
						__ATOMIC_RELAXED));
	if (head >= vq->num) {
		vq->broken = true;
		return -ERANGE;
	}
	vq->last_avail++;
	vq->inflight++;
	e->head = head;
	if (vq->event_idx)
		__atomic_store_n(avail_event(vq), htole16(vq->last_avail), __ATOMIC_RELAXED);
	return walk(vq, e, head);
}

void sgf_vq_unpop(struct sgf_vq_dev *vq)
{
	vq->last_avail--;
	vq->inflight--;
	if (vq->event_idx)
		__atomic_store_n(avail_event(vq), htole16(vq->last_avail), __ATOMIC_RELAXED);
}

int sgf_vq_fill(struct sgf_vq_dev *vq, uint16_t id, uint32_t len)
{
	if (vq->broken)
		return -EIO;
	if (id >= vq->num || vq->inflight == 0)
		return -EINVAL;
	struct vring_used_elem *u = &vq->used->ring[vq->used_idx & (vq->num - 1)];
	__atomic_store_n(&u->id, htole32(id), __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, htole32(len), __ATOMIC_RELAXED);
	vq->used_idx++;
	vq->inflight--;
	return 0;
}

void sgf_vq_flush(struct sgf_vq_dev *vq)
{
	/* Release: elements and the data written into the buffers first. */
	__atomic_store_n(&vq->used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
}

int sgf_vq_push(struct sgf_vq_dev *vq, uint16_t id, uint32_t len)
{
	int r = sgf_vq_fill(vq, id, len);
	if (r == 0)
		sgf_vq_flush(vq);
	return r;
}

bool sgf_vq_dev_should_notify(struct sgf_vq_dev *vq)
{
	/* Full barrier: our used->idx store before the guest's flags or
	 * used_event load, or both sides may decide not to act. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = vq->signalled_used, new = vq->used_idx;
	bool valid = vq->signalled_valid;
	vq->signalled_used = new;
	vq->signalled_valid = true;
	if (valid && new == old)
		return false;
	if (!vq->event_idx)
		return !(le16toh(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED)) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	uint16_t event = le16toh(__atomic_load_n(used_event(vq), __ATOMIC_RELAXED));
	return !valid || vring_need_event(event, new, old);
}

bool sgf_vq_dev_set_notify(struct sgf_vq_dev *vq, bool on)
{
	if (!vq->event_idx)
		__atomic_store_n(&vq->used->flags, htole16(on ? 0 : VRING_USED_F_NO_NOTIFY),
				 __ATOMIC_RELAXED);
	else if (on)
		__atomic_store_n(avail_event(vq), htole16(vq->last_avail), __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE)) != vq->last_avail;
}

bool sgf_vq_dev_has_avail(struct sgf_vq_dev *vq)
{
	return !vq->broken &&
	       le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE)) != vq->last_avail;
}
