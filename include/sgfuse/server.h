/* sgfuse/server.h - the responder side: a session negotiates INIT with one
 * requester (the kernel through /dev/fuse, or a peer on a socket), validates
 * each request against the opcode table, calls the filesystem's operation and
 * sends exactly one reply. Operations never touch a channel: they fill
 * output structs or the iovecs they are handed and return a value. */
#ifndef SGFUSE_SERVER_H
#define SGFUSE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sgfuse/proto.h>
#include <sgfuse/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sgf_session;
struct sgf_chan;
struct sgf_splice_pipe;

/* Who asked, from fuse_in_header, handed to every operation. */
struct sgf_req {
	uint64_t unique;
	uint64_t nodeid;
	uint32_t opcode;
	uint32_t uid, gid, pid;
	void *fs;                   /* the pointer given to sgf_session_new */
	struct sgf_session *session;
};

/* What INIT settled, visible to the filesystem's init callback and after. */
struct sgf_conn_info {
	uint32_t proto_major, proto_minor;
	uint32_t max_write;         /* what we told the requester */
	uint32_t max_read;          /* largest READ we serve */
	uint32_t max_pages;         /* 0 when the requester lacks FUSE_MAX_PAGES */
	uint32_t max_readahead;
	uint64_t want;              /* capability bits offered by us */
	uint64_t requester_flags;   /* capability bits the requester offered */
	uint64_t flags;             /* want & requester_flags, as replied */
};

/* A readdir reply buffer. Fill it with sgf_dirbuf_add*(). */
struct sgf_dirbuf {
	char *buf;
	size_t size;
	size_t used;
};

/* Room for one more entry named with namelen bytes? (plus: readdirplus). Call
 * before taking a lookup reference for a readdirplus entry. */
bool sgf_dirbuf_fits(const struct sgf_dirbuf *db, size_t namelen, bool plus);
/* Append one entry; off is the cookie that resumes after it. -ENOSPC when
 * it does not fit (nothing appended). */
int sgf_dirbuf_add(struct sgf_dirbuf *db, const char *name, size_t namelen,
		   uint64_t ino, uint32_t type, uint64_t off);
int sgf_dirbuf_add_plus(struct sgf_dirbuf *db, const char *name, size_t namelen,
			const struct fuse_entry_out *entry, uint64_t off);

/* Reply fillers: the attributes of a GETATTR/LOOKUP reply from a stat, and
 * a STATFS reply from a statvfs. */
void sgf_fill_attr(struct fuse_attr *a, const struct stat *st);
void sgf_fill_kstatfs(struct fuse_kstatfs *k, const struct statvfs *sv);

/* The filesystem. Every operation is optional (a missing one answers ENOSYS)
 * and returns 0 or a byte count on success, a negative errno on failure.
 * Output structs arrive zeroed. The dispatcher sends the reply. */
struct sgf_ops {
	/* Called once INIT is settled, before any other op. It may lower
	 * ci->max_write (not below 4096); other changes to ci are ignored. */
	int (*init)(void *fs, struct sgf_conn_info *ci);
	void (*destroy)(void *fs);

	int (*lookup)(const struct sgf_req *r, uint64_t parent, const char *name,
		      struct fuse_entry_out *out);
	void (*forget)(const struct sgf_req *r, uint64_t ino, uint64_t nlookup);
	int (*getattr)(const struct sgf_req *r, uint64_t ino,
		       const struct fuse_getattr_in *in, struct fuse_attr_out *out);
	int (*setattr)(const struct sgf_req *r, uint64_t ino,
		       const struct fuse_setattr_in *in, struct fuse_attr_out *out);
	/* Returns the target length written to buf (no NUL needed). */
	ssize_t (*readlink)(const struct sgf_req *r, uint64_t ino, char *buf, size_t size);
	int (*symlink)(const struct sgf_req *r, uint64_t parent, const char *name,
		       const char *target, struct fuse_entry_out *out);
	int (*mknod)(const struct sgf_req *r, uint64_t parent, const char *name,
		     const struct fuse_mknod_in *in, struct fuse_entry_out *out);
	int (*mkdir)(const struct sgf_req *r, uint64_t parent, const char *name,
		     const struct fuse_mkdir_in *in, struct fuse_entry_out *out);
	int (*unlink)(const struct sgf_req *r, uint64_t parent, const char *name);
	int (*rmdir)(const struct sgf_req *r, uint64_t parent, const char *name);
	/* flags: 0, RENAME_NOREPLACE, RENAME_EXCHANGE (RENAME and RENAME2). */
	int (*rename)(const struct sgf_req *r, uint64_t parent, const char *name,
		      uint64_t newparent, const char *newname, uint32_t flags);
	int (*link)(const struct sgf_req *r, uint64_t ino, uint64_t newparent,
		    const char *newname, struct fuse_entry_out *out);
	int (*open)(const struct sgf_req *r, uint64_t ino,
		    const struct fuse_open_in *in, struct fuse_open_out *out);
	int (*create)(const struct sgf_req *r, uint64_t parent, const char *name,
		      const struct fuse_create_in *in, struct fuse_entry_out *entry,
		      struct fuse_open_out *open);
	/* Fill iov (owned by the channel, in->size bytes in all); return bytes. */
	ssize_t (*read)(const struct sgf_req *r, uint64_t ino,
			const struct fuse_read_in *in, const struct iovec *iov, int iovcnt);
	/* Optional, lets READ skip user memory on stream sockets: name the
	 * file and offset READ in would copy from (in->size bytes from there,
	 * fewer only at end of file), and the dispatcher splices them to the
	 * socket. On 0, *fd stays valid until read_source_done(r, *token) is
	 * called, which the dispatcher always does exactly once (the operation
	 * keeps whatever reference it needs in *token). The file must hold
	 * what read would have returned. Spliced page-cache pages travel by
	 * reference: a write that lands after the reply was sent but before
	 * the peer took the bytes may show in them, as with any splice. Any
	 * -errno (-EOPNOTSUPP: not this file) makes the dispatcher call read
	 * instead. Both or neither are set. */
	int (*read_source)(const struct sgf_req *r, uint64_t ino,
			   const struct fuse_read_in *in, int *fd, uint64_t *off,
			   void **token);
	void (*read_source_done)(const struct sgf_req *r, void *token);
	/* Payload in iov (owned by the channel, in->size bytes); return bytes. */
	ssize_t (*write)(const struct sgf_req *r, uint64_t ino,
			 const struct fuse_write_in *in, const struct iovec *iov, int iovcnt);
	int (*flush)(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in);
	int (*release)(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in);
	int (*fsync)(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in);
	int (*opendir)(const struct sgf_req *r, uint64_t ino,
		       const struct fuse_open_in *in, struct fuse_open_out *out);
	/* Fill db (size = in->size) from cookie in->offset; plus = READDIRPLUS.
	 * Return 0 (the dispatcher sends db->used bytes) or -errno. */
	int (*readdir)(const struct sgf_req *r, uint64_t ino,
		       const struct fuse_read_in *in, bool plus, struct sgf_dirbuf *db);
	int (*releasedir)(const struct sgf_req *r, uint64_t ino,
			  const struct fuse_release_in *in);
	int (*fsyncdir)(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in);
	int (*statfs)(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out);
	int (*setxattr)(const struct sgf_req *r, uint64_t ino, const char *name,
			const void *value, size_t size, uint32_t flags);
	/* size 0: return the value's length. Otherwise fill buf, return length
	 * (-ERANGE when it does not fit). */
	ssize_t (*getxattr)(const struct sgf_req *r, uint64_t ino, const char *name,
			    void *buf, size_t size);
	ssize_t (*listxattr)(const struct sgf_req *r, uint64_t ino, char *buf, size_t size);
	int (*removexattr)(const struct sgf_req *r, uint64_t ino, const char *name);
	int (*access)(const struct sgf_req *r, uint64_t ino, uint32_t mask);
	int (*fallocate)(const struct sgf_req *r, uint64_t ino,
			 const struct fuse_fallocate_in *in);
	int (*lseek)(const struct sgf_req *r, uint64_t ino,
		     const struct fuse_lseek_in *in, struct fuse_lseek_out *out);
};

/* Session options; zero means default. */
struct sgf_session_opts {
	uint32_t max_write;        /* default SGF_DEFAULT_MAX_WRITE */
	uint32_t max_pages;        /* default max_write / page; clamped */
	uint32_t max_pages_limit;  /* the kernel's ceiling; default read from
				    * /proc/sys/fs/fuse/max_pages_limit, 256 */
	bool debug;                /* one line per request and reply on stderr */
	bool no_export;            /* do not offer export (NFS) support */
};

/* Derive the max_pages we announce: from max_write (rounded up to pages)
 * unless opts->max_pages asks for another value; never above the kernel's
 * limit nor the protocol's. Exposed for tests. */
uint32_t sgf_derive_max_pages(uint32_t max_write, uint32_t max_pages_opt,
			      uint32_t limit);

/* Compute the INIT reply for a request init_in (arg_len bytes present).
 * Returns 0 or -errno: -EPROTO for a major below 7 or a minor below
 * SGF_PROTO_MINOR_MIN. A major above 7 gets 0 and an 8-byte reply holding
 * only our major and minor, which tells the requester to retry INIT with
 * them. out_len receives the size of init_out to send. */
int sgf_negotiate_init(const struct sgf_session_opts *opts,
		       const struct fuse_init_in *in, size_t arg_len,
		       struct fuse_init_out *out, size_t *out_len,
		       struct sgf_conn_info *ci);

/* Create a session serving ops with private pointer fs. NULL + errno. */
struct sgf_session *sgf_session_new(const struct sgf_ops *ops, void *fs,
				    const struct sgf_session_opts *opts);
void sgf_session_destroy(struct sgf_session *se);

/* Negotiated parameters (valid once initialized). */
const struct sgf_conn_info *sgf_session_conn(const struct sgf_session *se);
bool sgf_session_initialized(const struct sgf_session *se);
/* True once DESTROY arrived or sgf_session_exit() was called. */
bool sgf_session_exited(const struct sgf_session *se);
void sgf_session_exit(struct sgf_session *se);
struct sgf_stats *sgf_session_stats(struct sgf_session *se);

/* Bytes a receive buffer must hold for one request of this session, and a
 * reply buffer for one reply's payload. */
size_t sgf_session_recv_size(const struct sgf_session *se);
size_t sgf_session_reply_size(const struct sgf_session *se);

/* Process one received message (msg, len): validate, dispatch, reply on ch
 * (no reply for FORGET-like ops or an unanswerable message). reply_buf is
 * scratch of sgf_session_reply_size() bytes. Returns 0, or a negative errno
 * when the reply could not be sent (the channel is gone). */
int sgf_session_process(struct sgf_session *se, struct sgf_chan *ch,
			const void *msg, size_t len, void *reply_buf);
/* The same, for a worker that owns an empty pipe (see sgf_chan_send_spliced):
 * a large READ on a stream channel is then spliced from the file named by
 * ops->read_source. pipe NULL: as sgf_session_process. */
int sgf_session_process_spliced(struct sgf_session *se, struct sgf_chan *ch,
				const void *msg, size_t len, void *reply_buf,
				const struct sgf_splice_pipe *pipe);

#ifdef __cplusplus
}
#endif
#endif
