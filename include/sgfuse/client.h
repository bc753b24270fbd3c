/* sgfuse/client.h - the requester side: talk FUSE to a server over a stream
 * socket, or to a virtio-fs backend over vhost-user shared memory, without a
 * mount and without root. Metadata calls map one to one onto FUSE requests;
 * sgf_preadv/sgf_pwritev pack an iovec array into as few READ/WRITE requests
 * as the negotiated limits allow, the way the kernel's direct I/O path does,
 * and keep several of them in flight at once. */
#ifndef SGFUSE_CLIENT_H
#define SGFUSE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sgfuse/proto.h>
#include <sgfuse/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sgf_client;

/* How sgf_preadv/sgf_pwritev turn an iovec array into requests. */
enum sgf_dio_policy {
	/* Pack consecutive segments into one request until max_pages page
	 * descriptors or the byte limit is reached (the patched kernel). */
	SGF_DIO_PACKED = 0,
	/* One request per segment, split only where a segment alone exceeds
	 * the limits (the kernel before the patch set). */
	SGF_DIO_PER_SEGMENT = 1,
};

/* Connection options; a zeroed struct (or NULL) means every default. Values
 * out of range make connect/attach fail with -EINVAL. */
struct sgf_client_opts {
	/* Most page descriptors per request we accept; the server's INIT reply
	 * can only lower it. Default 256 (Linux's fs.fuse.max_pages_limit);
	 * over vhost-user at most 1022 (a request's chain must fit the queue
	 * of 1024 descriptors), larger values are lowered to it. */
	uint32_t max_pages;
	/* Largest READ we send. Default: max_pages pages. */
	uint32_t max_read;
	/* Requests in flight on the connection at once (the request table);
	 * callers beyond it wait for a free slot. Default 64, at most 4096. */
	unsigned max_inflight;
	/* Requests one sgf_preadv/sgf_pwritev keeps in flight. Default 16, at
	 * most 256. */
	unsigned window;
	enum sgf_dio_policy policy;
	/* How long a caller waiting for a reply polls the socket before it
	 * goes to sleep, in microseconds: 0 means the default (50), a
	 * negative value never, at most 10000. Polling spares the wake-up of
	 * a sleeping caller (and the server the cost of waking it), at the
	 * price of CPU time; while replies keep taking longer than this, it
	 * stops polling, and tries again now and then. */
	int spin_us;
	/* Credentials put in every request header; default our own ids
	 * (set use_ids to send the three values below instead). */
	bool use_ids;
	uint32_t uid, gid, pid;
	/* vhost-user connections only (others ignore them). arena_size:
	 * bytes of shared memory sgf_client_buf_alloc() hands out, rounded up
	 * to whole pages; default 64 MiB, at most 64 GiB. connect_timeout_ms:
	 * how long the vhost-user handshake and INIT may take before connect
	 * fails with -ETIMEDOUT; default 5000, at most 3600000. */
	size_t arena_size;
	unsigned connect_timeout_ms;
};

/* What INIT settled. */
struct sgf_client_conn {
	uint32_t proto_major, proto_minor;  /* the server's reply */
	uint32_t max_write;   /* bytes per WRITE (server's value, at least 4096) */
	uint32_t max_read;    /* bytes per READ we send */
	uint32_t max_pages;   /* page descriptors per READ/WRITE */
	uint32_t max_readahead;
	uint64_t flags;       /* capability bits the server replied (flags|flags2<<32) */
};

/* An open file or directory: what OPEN/CREATE/OPENDIR returned. Plain data
 * owned by the caller; sgf_release()/sgf_releasedir() end it. While it is
 * open, someone must hold a lookup reference to nodeid (the kernel keeps the
 * inode of an open file, and servers may drop a node whose count reaches
 * zero): the caller's own, or the one the handle owns (nlookup). */
struct sgf_file {
	uint64_t nodeid;
	uint64_t fh;
	uint32_t flags;       /* O_* flags it was opened with */
	uint32_t open_flags;  /* FOPEN_* bits from the server */
	uint64_t nlookup;     /* references the handle owns; release forgets them */
};

/* One directory entry, decoded by sgf_dirent_next(). name points into the
 * reply buffer and is NOT NUL-terminated; use namelen. */
struct sgf_dirent {
	uint64_t ino;
	uint64_t off;         /* cookie that resumes after this entry */
	uint32_t type;        /* DT_* */
	uint32_t namelen;
	const char *name;
};

/* ---- connection ---------------------------------------------------------- */

/* Connect to address and negotiate INIT: "unix:PATH" (or a plain path
 * containing '/') is a FUSE server's stream socket; "vhost-user:PATH" a
 * virtio-fs backend's vhost-user socket, where this client plays both the
 * hypervisor and the guest driver, and requests travel over virtqueues in
 * memory both share. On success *out is the connection and 0 is returned;
 * otherwise a negative errno: -EINVAL for a bad address, the connect(2)
 * error (-ENOENT, -ECONNREFUSED...), -EPROTO when the server speaks another
 * protocol version or breaks the framing (over vhost-user also: the peer is
 * no vhost-user backend, refused a request, or lacks VIRTIO_F_VERSION_1),
 * -ETIMEDOUT when a vhost-user peer stays silent past connect_timeout_ms,
 * -ENOTCONN when it hangs up. */
int sgf_client_connect(const char *address, const struct sgf_client_opts *opts,
		       struct sgf_client **out);

/* The same over an already connected SOCK_STREAM fd (e.g. one end of a
 * socketpair). The connection owns fd from here on, even on failure. */
int sgf_client_attach(int fd, const struct sgf_client_opts *opts,
		      struct sgf_client **out);

/* Send DESTROY, close the socket and free everything. No other thread may
 * be using c. Returns 0, or the error DESTROY met (the connection is freed
 * either way). */
int sgf_client_disconnect(struct sgf_client *c);

/* Break the connection now without DESTROY: every pending and later call
 * fails with -ENOTCONN. Safe from any thread; c stays valid until
 * sgf_client_disconnect(). */
void sgf_client_shutdown(struct sgf_client *c);

/* Negotiated parameters. */
const struct sgf_client_conn *sgf_client_conn(const struct sgf_client *c);

/* A page-aligned buffer of size bytes for I/O on c. On a vhost-user
 * connection it lies in the memory the backend shares, so sgf_preadv/
 * sgf_pwritev (and every other call) move data in and out of it without a
 * copy, where any other memory is copied once through the connection's
 * bounce space; on a socket connection it is ordinary memory. NULL with
 * errno ENOMEM when there is no room (the arena is full), EINVAL for size
 * 0. Any thread. Free it with sgf_client_buf_free() (NULL does nothing)
 * before sgf_client_disconnect(): a vhost-user arena goes away with the
 * connection. */
void *sgf_client_buf_alloc(struct sgf_client *c, size_t size);
void sgf_client_buf_free(struct sgf_client *c, void *p);

/* Counters of this connection: requests and payload bytes by opcode (READ
 * counts bytes asked, WRITE bytes sent), error replies, READ/WRITE size
 * histograms, seg_hist = page descriptors per READ/WRITE request, and
 * malformed = replies that failed validation. Live: read it with
 * sgf_stats_snapshot() (or print it); reset with
 * sgf_stats_reset(). */
struct sgf_stats *sgf_client_stats(struct sgf_client *c);

/* Direct I/O policy for later calls (any thread, any time). */
void sgf_client_set_policy(struct sgf_client *c, enum sgf_dio_policy policy);
enum sgf_dio_policy sgf_client_policy(const struct sgf_client *c);

/* ---- names and attributes ------------------------------------------------ */

/* Every call below returns 0 (or a byte count) on success and the server's
 * negative errno on failure; -EIO when the server's reply was malformed,
 * -ENOTCONN once the connection is gone, -EINVAL/-ENAMETOOLONG for an
 * argument we refuse to send. */

/* LOOKUP name in directory parent. Each success adds one lookup reference
 * to out->nodeid that the caller drops with sgf_forget(). */
int sgf_lookup(struct sgf_client *c, uint64_t parent, const char *name,
	       struct fuse_entry_out *out);

/* Walk path from the root ("/a/b", "a/b", "/" all work; "." is skipped,
 * ".." goes up lexically, symlinks are not followed). The references taken
 * on the way are forgotten; the result holds one reference (none for the
 * root, nodeid FUSE_ROOT_ID, whose attributes come from GETATTR). */
int sgf_lookup_path(struct sgf_client *c, const char *path, struct fuse_entry_out *out);

/* Drop nlookup references to nodeid (FORGET; no reply, so a server may
 * handle it after requests sent later). Forgetting the root or nodeid 0
 * does nothing. */
void sgf_forget(struct sgf_client *c, uint64_t nodeid, uint64_t nlookup);

int sgf_getattr(struct sgf_client *c, uint64_t nodeid, struct fuse_attr_out *out);

/* SETATTR with in->valid saying which fields apply (FATTR_*). out may be
 * NULL. */
int sgf_setattr(struct sgf_client *c, uint64_t nodeid, const struct fuse_setattr_in *in,
		struct fuse_attr_out *out);
int sgf_truncate(struct sgf_client *c, uint64_t nodeid, uint64_t size);
int sgf_chmod(struct sgf_client *c, uint64_t nodeid, uint32_t mode);

/* MKDIR; out gets the new directory with one lookup reference. */
int sgf_mkdir(struct sgf_client *c, uint64_t parent, const char *name, uint32_t mode,
	      struct fuse_entry_out *out);
int sgf_unlink(struct sgf_client *c, uint64_t parent, const char *name);
int sgf_rmdir(struct sgf_client *c, uint64_t parent, const char *name);
/* flags 0 sends RENAME, RENAME_NOREPLACE / RENAME_EXCHANGE send RENAME2. */
int sgf_rename(struct sgf_client *c, uint64_t parent, const char *name,
	       uint64_t newparent, const char *newname, uint32_t flags);

/* STATFS of the filesystem holding nodeid. */
int sgf_statfs(struct sgf_client *c, uint64_t nodeid, struct fuse_kstatfs *out);

/* ---- open files ---------------------------------------------------------- */

/* OPEN nodeid with O_* flags (O_CREAT/O_EXCL/O_NOCTTY are not sent). The
 * caller keeps its lookup reference to nodeid until sgf_release(). O_TRUNC
 * on a server without FUSE_ATOMIC_O_TRUNC becomes SETATTR size 0 first. */
int sgf_open(struct sgf_client *c, uint64_t nodeid, uint32_t flags, struct sgf_file *f);

/* CREATE name in parent and open it; entry gets the new file with one lookup
 * reference for the caller. With entry NULL the handle owns that reference
 * (f->nlookup = 1) and sgf_release() forgets it. */
int sgf_create(struct sgf_client *c, uint64_t parent, const char *name, uint32_t flags,
	       uint32_t mode, struct fuse_entry_out *entry, struct sgf_file *f);

/* FLUSH (as close(2) would), FSYNC, RELEASE. sgf_release() also forgets the
 * references the handle owns, whatever the server answered. */
int sgf_flush(struct sgf_client *c, const struct sgf_file *f);
int sgf_fsync(struct sgf_client *c, const struct sgf_file *f, bool datasync);
int sgf_release(struct sgf_client *c, const struct sgf_file *f);

/* Vectored direct I/O at file offset off: the iovecs are packed into READ or
 * WRITE requests per the connection's policy and up to `window` of them are
 * in flight at once. Data moves straight between the socket and the
 * caller's buffers; over vhost-user, buffers from sgf_client_buf_alloc
 * travel by address and others are copied once through the shared
 * region. Returns the bytes moved - the longest prefix of the
 * range that completed in order; a short reply ends the call - or a negative
 * errno when nothing moved. -EINVAL for iovcnt < 0, a total above SSIZE_MAX
 * or a range beyond the largest file offset. */
ssize_t sgf_preadv(struct sgf_client *c, const struct sgf_file *f, const struct iovec *iov,
		   int iovcnt, uint64_t off);
ssize_t sgf_pwritev(struct sgf_client *c, const struct sgf_file *f, const struct iovec *iov,
		    int iovcnt, uint64_t off);
ssize_t sgf_pread(struct sgf_client *c, const struct sgf_file *f, void *buf, size_t size,
		  uint64_t off);
ssize_t sgf_pwrite(struct sgf_client *c, const struct sgf_file *f, const void *buf,
		   size_t size, uint64_t off);

/* ---- directories --------------------------------------------------------- */

int sgf_opendir(struct sgf_client *c, uint64_t nodeid, struct sgf_file *d);
int sgf_releasedir(struct sgf_client *c, const struct sgf_file *d);

/* READDIR from cookie off into buf (size bytes, at most max_read). Returns
 * the bytes of fuse_dirent records received (0 at the end) or -errno. */
ssize_t sgf_readdir(struct sgf_client *c, const struct sgf_file *d, uint64_t off,
		    void *buf, size_t size);

/* Decode the entry at *pos of a READDIR buffer of len bytes and advance
 * *pos. Returns 1 for an entry, 0 at the end, -EIO for a malformed record
 * (the rest of the buffer is then unusable). */
int sgf_dirent_next(const void *buf, size_t len, size_t *pos, struct sgf_dirent *out);

/* Open directory nodeid, call fn for every entry ("." and ".." included, as
 * the server sends them), release it. A nonzero return of fn stops the walk
 * and is returned. */
int sgf_list_dir(struct sgf_client *c, uint64_t nodeid,
		 int (*fn)(void *ctx, const struct sgf_dirent *e), void *ctx);

#ifdef __cplusplus
}
#endif
#endif
