/* lib/common/wire.h - the per-opcode table and the request validator both
 * ends run before any operation or caller sees a message; internal. */
#ifndef SGFUSE_COMMON_WIRE_H
#define SGFUSE_COMMON_WIRE_H

#include <sgfuse/proto.h>

/* What follows an opcode's fixed argument. */
enum sgf_tail {
	SGF_TAIL_NONE,     /* nothing: len == header + fixed */
	SGF_TAIL_NAME,     /* one NUL-terminated name */
	SGF_TAIL_NAME2,    /* two NUL-terminated names */
	SGF_TAIL_DATA,     /* WRITE payload: exactly fuse_write_in.size bytes */
	SGF_TAIL_XATTR,    /* SETXATTR: name, NUL, then fuse_setxattr_in.size bytes */
	SGF_TAIL_FORGETS,  /* BATCH_FORGET: count * struct fuse_forget_one */
	SGF_TAIL_ANY,      /* opaque bytes we never interpret (IOCTL, NOTIFY_REPLY) */
	SGF_TAIL_INIT,     /* INIT: fixed part grew over minors; 16..64 bytes */
};

/* One row of the opcode table. */
struct sgf_opdesc {
	const char *name;    /* "LOOKUP"; NULL for numbers that are no opcode */
	uint32_t in_size;    /* fixed argument size after fuse_in_header */
	enum sgf_tail tail;
	bool no_reply;       /* FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY:
			      * never answered with an error of ours (a
			      * malformed one is dropped; INTERRUPT gets the
			      * protocol's EAGAIN for an unknown request) */
};

/* The table row for opcode, or NULL when the number is not an opcode. */
const struct sgf_opdesc *sgf_opdesc(uint32_t opcode);

/* Limits a request is checked against, from INIT. */
struct sgf_limits {
	uint32_t max_write;   /* largest WRITE payload accepted */
	uint32_t max_read;    /* largest READ/READDIR/GETXATTR size served */
};

/* A request split into its parts after validation; pointers into the
 * caller's message buffer. */
struct sgf_parsed {
	const struct fuse_in_header *hdr;
	const struct sgf_opdesc *desc;
	const void *arg;        /* fixed argument (in_size bytes) */
	const char *name;       /* first name, or NULL */
	const char *name2;      /* second name, or NULL */
	const void *data;       /* WRITE / SETXATTR / IOCTL payload, or NULL */
	size_t data_len;
	size_t arg_len;         /* bytes actually present for the fixed arg (INIT) */
};

/* Validate one whole request message of len bytes (as read from the
 * channel) against the table and limits. On success fills *out and returns
 * 0. On failure returns a negative errno to put in the error reply:
 * -ENOSYS for an opcode we do not know, -EIO when the header's len disagrees
 * with len, -EINVAL for a malformed argument (short/long fixed part, a
 * name without its NUL, an empty name, a size above the limit),
 * -ENAMETOOLONG for a name longer than SGF_NAME_MAX (a symlink target longer
 * than SGF_PATH_MAX).
 * Never reads outside msg[0..len). When len is shorter than a header the
 * message cannot be answered and -EPROTO is returned. */
int sgf_parse_request(const void *msg, size_t len, const struct sgf_limits *lim,
		      struct sgf_parsed *out);

/* The same for a message of which only the first len bytes are in msg and
 * ext_len more, a WRITE's whole payload, lie elsewhere (virtio-fs: in guest
 * memory, where the operation reads it). Any other opcode, or a payload
 * split between msg and elsewhere, is -EINVAL; the header's len must be
 * len + ext_len (-EIO). out->data is NULL for such a payload; data_len
 * counts it. */
int sgf_parse_request_ext(const void *msg, size_t len, size_t ext_len,
			  const struct sgf_limits *lim, struct sgf_parsed *out);

#endif
