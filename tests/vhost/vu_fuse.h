/* tests/vhost/vu_fuse.h - FUSE requests over the test frontend's queues,
 * as a virtio-fs guest sends them: one request is one chain (readable:
 * in header + arguments, then any payload in segments; writable: the
 * reply, in segments), its reply copied out and checked; and the requests
 * the tests use, typed. */
#ifndef SGF_VU_FUSE_H
#define SGF_VU_FUSE_H

#include <sgfuse/proto.h>
#include "vu_front.h"

#define VF_HIPRIO 0u
#define VF_REQ 1u

struct vf_req {
	uint32_t opcode;
	uint64_t nodeid;
	const void *arg;         /* after the in header (names included) */
	uint32_t arg_len;
	const void *data;        /* payload (WRITE) after the arguments, */
	uint32_t data_len;
	unsigned data_segs;      /* in this many descriptors (0: one) */
	uint32_t reply_len;      /* writable bytes (0: none at all) in */
	unsigned reply_segs;     /* <= 1: one descriptor; n: the out header
				  * alone, then n - 1 equal ones */
	int32_t len_delta;       /* added to the in header's len: a lie */
};

struct vf_rep {
	uint32_t used_len;
	uint16_t head;
	struct fuse_out_header oh;  /* zero when used_len < its size */
	void *body;                 /* the caller's buffer: the reply after oh */
	uint32_t body_cap;
	uint32_t body_len;
};

/* Send rq as one chain on queue qi and wait for its used element. 0 with
 * rp filled; -ETIMEDOUT no answer; -EPROTO / -ETIME (see vf_wait_used);
 * -EBADMSG a reply that is not well-formed (used len neither 0 nor the
 * out header's len, another unique, another head): said on stderr. */
int vf_call(struct vf *f, unsigned qi, const struct vf_req *rq, struct vf_rep *rp);

/* The typed requests: 0 (or bytes, for read and write) or the reply's
 * error (-errno); vf_call's errors; -EBADMSG for a reply of the wrong
 * size. */
int vf_init(struct vf *f, struct fuse_init_out *out);
int vf_lookup(struct vf *f, uint64_t parent, const char *name, struct fuse_entry_out *e);
int vf_getattr(struct vf *f, uint64_t nodeid, struct fuse_attr_out *a);
int vf_create(struct vf *f, uint64_t parent, const char *name, uint32_t mode,
	      struct fuse_entry_out *e, struct fuse_open_out *o);
/* len bytes in segs descriptors (0: one). */
int vf_write(struct vf *f, uint64_t nodeid, uint64_t fh, uint64_t off, const void *data,
	     uint32_t len, unsigned segs);
/* Into buf, the data in segs writable descriptors after the header's own. */
int vf_read(struct vf *f, uint64_t nodeid, uint64_t fh, uint64_t off, void *buf, uint32_t len,
	    unsigned segs);
int vf_release(struct vf *f, uint64_t nodeid, uint64_t fh);
int vf_destroy(struct vf *f);
/* FORGET on the hiprio queue: no reply; 0 when the chain came back with
 * used len 0. */
int vf_forget(struct vf *f, uint64_t nodeid, uint64_t nlookup);

/* The in header for a request of opcode on nodeid with len bytes in all,
 * and the next unique. */
void vf_in_header(struct vf *f, struct fuse_in_header *h, uint32_t opcode, uint64_t nodeid,
		  uint32_t len);

#endif
