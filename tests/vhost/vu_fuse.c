/* tests/vhost/vu_fuse.c - FUSE requests as chains on the test frontend's
 * queues (vu_fuse.h): guest buffers laid out with gaps between segments
 * (so a backend that took adjacent segments for one buffer reads wrong
 * bytes), the reply gathered back across the writable segments. */
#include "vu_fuse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_SEGS 64u

void vf_in_header(struct vf *f, struct fuse_in_header *h, uint32_t opcode, uint64_t nodeid,
		  uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->len = len;
	h->opcode = opcode;
	h->unique = f->unique;
	f->unique += 2;
	h->nodeid = nodeid;
}

/* Split len bytes into n segments of guest memory, each in its own
 * allocation with a gap after it; page aligned when a page or more. */
static unsigned segments(struct vf *f, uint32_t len, unsigned n, struct sgf_vq_buf *b)
{
	if (n == 0)
		n = 1;
	if (n > len)
		n = len;
	uint32_t each = len / n;
	for (unsigned i = 0; i < n; i++) {
		uint32_t k = i + 1 < n ? each : len - each * (n - 1);
		b[i].len = k;
		b[i].gpa = vf_alloc(f, (size_t)k + 64, k >= 4096 ? 4096 : 64);
	}
	return n;
}

int vf_call(struct vf *f, unsigned qi, const struct vf_req *rq, struct vf_rep *rp)
{
	struct sgf_vq_buf rd[1 + MAX_SEGS], wr[MAX_SEGS];
	unsigned nrd = 1, nwr = 0;
	uint64_t mark = f->brk;
	struct fuse_in_header h;

	/* Hiprio requests in memory of their own: the guest orders the reuse
	 * of a buffer between queues, in a way ThreadSanitizer cannot see
	 * (another process, through the rings), so one buffer answered on
	 * one queue and reused on the other is a race to it. */
	if (qi == VF_HIPRIO)
		f->brk = VF_GPA + f->size - VF_ARENA0;
	uint32_t hlen = (uint32_t)sizeof(h) + rq->arg_len;
	int r;

	if (rq->data_segs > MAX_SEGS || rq->reply_segs > MAX_SEGS)
		return -EINVAL;
	vf_in_header(f, &h, rq->opcode, rq->nodeid,
		     (uint32_t)((int64_t)hlen + rq->data_len + rq->len_delta));
	/* Header and arguments in one buffer, as Linux's virtio-fs does. */
	rd[0].gpa = vf_alloc(f, hlen, 64);
	rd[0].len = hlen;
	memcpy(vf_host(f, rd[0].gpa), &h, sizeof(h));
	if (rq->arg_len)
		memcpy((char *)vf_host(f, rd[0].gpa) + sizeof(h), rq->arg, rq->arg_len);
	if (rq->data_len) {
		unsigned n = segments(f, rq->data_len, rq->data_segs, rd + 1);
		const char *p = rq->data;
		for (unsigned i = 1; i <= n; i++) {
			memcpy(vf_host(f, rd[i].gpa), p, rd[i].len);
			p += rd[i].len;
		}
		nrd += n;
	}
	if (rq->reply_len && rq->reply_segs > 1 && rq->reply_len > sizeof(struct fuse_out_header)) {
		wr[0].gpa = vf_alloc(f, sizeof(struct fuse_out_header), 64);
		wr[0].len = sizeof(struct fuse_out_header);
		nwr = 1 + segments(f, rq->reply_len - wr[0].len, rq->reply_segs - 1, wr + 1);
	} else if (rq->reply_len) {
		nwr = segments(f, rq->reply_len, 1, wr);
	}

	uint16_t head, got;
	uint32_t len;
	if (rp->body)
		memset(rp->body, 0, rp->body_cap);
	rp->used_len = rp->body_len = 0;
	memset(&rp->oh, 0, sizeof(rp->oh));
	r = vf_add(f, qi, rd, nrd, wr, nwr, &head);
	if (r == 0) {
		r = vf_wait_used(f, qi, &got, &len, VF_TIMEOUT_MS);
		r = r == 1 ? 0 : r == 0 ? -ETIMEDOUT : r;
	}
	if (r == 0) {
		rp->head = got;
		rp->used_len = len;
		/* Gather the reply back out of the writable segments. */
		unsigned char tmp[sizeof(struct fuse_out_header)];
		uint32_t done = 0;
		for (unsigned i = 0; i < nwr && done < len; i++) {
			uint32_t k = wr[i].len < len - done ? wr[i].len : len - done;
			const unsigned char *src = vf_host(f, wr[i].gpa);
			for (uint32_t j = 0; j < k; j++, done++) {
				if (done < sizeof(tmp))
					tmp[done] = src[j];
				else if (rp->body && done - sizeof(tmp) < rp->body_cap)
					((unsigned char *)rp->body)[done - sizeof(tmp)] = src[j];
			}
		}
		if (len >= sizeof(tmp)) {
			memcpy(&rp->oh, tmp, sizeof(tmp));
			rp->body_len = len - (uint32_t)sizeof(tmp);
		}
		if (got != head || (len > 0 && len < sizeof(tmp)) ||
		    (len >= sizeof(tmp) && (rp->oh.len != len || rp->oh.unique != h.unique))) {
			fprintf(stderr, "vf: %s: bad reply: head %u (sent %u), used len %u, out len %u, "
				"unique %llu (sent %llu)\n", sgf_opname(rq->opcode), got, head, len,
				rp->oh.len, (unsigned long long)rp->oh.unique,
				(unsigned long long)h.unique);
			r = -EBADMSG;
		}
	}
	vf_mem_reset(f, mark);
	return r;
}

/* Call, then the reply's error or its body's bytes (into body, cap
 * bytes); -EBADMSG when a success has not exactly cap bytes and exact
 * says it must; -ENODATA when the chain came back empty. */
static int typed(struct vf *f, unsigned qi, struct vf_req *rq, void *body, uint32_t cap,
		 bool exact)
{
	struct vf_rep rp = { .body = body, .body_cap = cap };
	int r = vf_call(f, qi, rq, &rp);

	if (r)
		return r;
	if (rp.used_len == 0)
		return -ENODATA;
	if (rp.oh.error)
		return rp.oh.error;
	uint32_t want = cap;
	if ((exact && rp.body_len != want) || rp.body_len > cap) {
		fprintf(stderr, "vf: %s: reply of %u bytes, want %u\n", sgf_opname(rq->opcode),
			rp.body_len, want);
		return -EBADMSG;
	}
	return (int)rp.body_len;
}

#define OUT(type) ((uint32_t)(sizeof(struct fuse_out_header) + sizeof(type)))

int vf_init(struct vf *f, struct fuse_init_out *out)
{
	struct fuse_init_in in = { .major = FUSE_KERNEL_VERSION, .minor = FUSE_KERNEL_MINOR_VERSION,
				   .max_readahead = 128u << 10,
				   .flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES |
					    FUSE_INIT_EXT };
	struct fuse_init_out o;
	struct vf_req rq = { .opcode = FUSE_INIT, .arg = &in, .arg_len = sizeof(in),
			     .reply_len = OUT(o) };
	int r = typed(f, VF_REQ, &rq, &o, sizeof(o), true);

	if (r >= 0 && out)
		*out = o;
	return r < 0 ? r : 0;
}

int vf_lookup(struct vf *f, uint64_t parent, const char *name, struct fuse_entry_out *e)
{
	struct vf_req rq = { .opcode = FUSE_LOOKUP, .nodeid = parent, .arg = name,
			     .arg_len = (uint32_t)strlen(name) + 1, .reply_len = OUT(*e) };
	int r = typed(f, VF_REQ, &rq, e, sizeof(*e), true);

	return r < 0 ? r : 0;
}

int vf_getattr(struct vf *f, uint64_t nodeid, struct fuse_attr_out *a)
{
	struct fuse_getattr_in in = { 0 };
	struct vf_req rq = { .opcode = FUSE_GETATTR, .nodeid = nodeid, .arg = &in,
			     .arg_len = sizeof(in), .reply_len = OUT(*a) };
	int r = typed(f, VF_REQ, &rq, a, sizeof(*a), true);

	return r < 0 ? r : 0;
}

int vf_create(struct vf *f, uint64_t parent, const char *name, uint32_t mode,
	      struct fuse_entry_out *e, struct fuse_open_out *o)
{
	struct {
		struct fuse_create_in in;
		char name[256];
	} a = { .in = { .flags = 02 /* O_RDWR */, .mode = mode } };
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	size_t n = strlen(name) + 1;

	if (n > sizeof(a.name))
		return -ENAMETOOLONG;
	memcpy(a.name, name, n);
	struct vf_req rq = { .opcode = FUSE_CREATE, .nodeid = parent, .arg = &a,
			     .arg_len = (uint32_t)(sizeof(a.in) + n), .reply_len = OUT(out) };
	int r = typed(f, VF_REQ, &rq, &out, sizeof(out), true);
	if (r >= 0) {
		*e = out.e;
		*o = out.o;
	}
	return r < 0 ? r : 0;
}

int vf_write(struct vf *f, uint64_t nodeid, uint64_t fh, uint64_t off, const void *data,
	     uint32_t len, unsigned segs)
{
	struct fuse_write_in in = { .fh = fh, .offset = off, .size = len };
	struct fuse_write_out o;
	struct vf_req rq = { .opcode = FUSE_WRITE, .nodeid = nodeid, .arg = &in,
			     .arg_len = sizeof(in), .data = data, .data_len = len,
			     .data_segs = segs, .reply_len = OUT(o) };
	int r = typed(f, VF_REQ, &rq, &o, sizeof(o), true);

	return r < 0 ? r : (int)o.size;
}

int vf_read(struct vf *f, uint64_t nodeid, uint64_t fh, uint64_t off, void *buf, uint32_t len,
	    unsigned segs)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = len };
	struct vf_req rq = { .opcode = FUSE_READ, .nodeid = nodeid, .arg = &in,
			     .arg_len = sizeof(in),
			     .reply_len = (uint32_t)sizeof(struct fuse_out_header) + len,
			     .reply_segs = segs + 1 };

	return typed(f, VF_REQ, &rq, buf, len, false);
}

int vf_release(struct vf *f, uint64_t nodeid, uint64_t fh)
{
	struct fuse_release_in in = { .fh = fh };
	struct vf_req rq = { .opcode = FUSE_RELEASE, .nodeid = nodeid, .arg = &in,
			     .arg_len = sizeof(in), .reply_len = sizeof(struct fuse_out_header) };

	return typed(f, VF_REQ, &rq, NULL, 0, true);
}

int vf_destroy(struct vf *f)
{
	struct vf_req rq = { .opcode = FUSE_DESTROY, .reply_len = sizeof(struct fuse_out_header) };

	return typed(f, VF_REQ, &rq, NULL, 0, true);
}

int vf_forget(struct vf *f, uint64_t nodeid, uint64_t nlookup)
{
	struct fuse_forget_in in = { .nlookup = nlookup };
	struct vf_req rq = { .opcode = FUSE_FORGET, .nodeid = nodeid, .arg = &in,
			     .arg_len = sizeof(in) };
	struct vf_rep rp = { 0 };
	int r = vf_call(f, VF_HIPRIO, &rq, &rp);

	return r ? r : rp.used_len == 0 ? 0 : -EBADMSG;
}
