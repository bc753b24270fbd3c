/* sgfuse/ops.h - what a filesystem implements: the operations table, the
 * request each operation receives, and the contract between them (lookup
 * counts, valid results, who owns which buffer). Reply later from any thread
 * with <sgfuse/reply.h>; serve the table with <sgfuse/server.h>. */
#ifndef SGFUSE_OPS_H
#define SGFUSE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sgfuse/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sgf_session;
struct sgf_server;

/* Who asked, from fuse_in_header, handed to every operation. Valid until the
 * request is answered (see sgf_req_keep() to answer after returning). */
struct sgf_req {
	uint64_t unique;
	uint64_t nodeid;
	uint32_t opcode;
	uint32_t uid, gid, pid;
	void *fs;                   /* the session's filesystem pointer */
	struct sgf_session *session; /* for notifications and sgf_session_conn() */
	struct sgf_server *server;   /* for sgf_server_exit() */
};

/* An operation returns this after sgf_req_keep(): the request is answered
 * later with one of the sgf_reply*() calls. Outside the errno range and
 * negative, so no byte count or -errno is mistaken for it. */
#define SGF_DEFER (-65536)

/* What INIT settled, visible to the filesystem's init callback and after. */
struct sgf_conn_info {
	uint32_t proto_major, proto_minor;
	uint32_t max_write;         /* what we told the requester */
	uint32_t max_read;          /* largest READ we serve */
	uint32_t max_pages;         /* 0 when the requester lacks FUSE_MAX_PAGES */
	uint32_t max_readahead;
	uint32_t max_background;    /* background requests the kernel may queue */
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
/* Append one entry; type is a DT_* value (st_mode >> 12), off the cookie
 * that resumes after it. -ENOSPC when it does not fit, -EINVAL for an
 * empty name or one over 255 bytes (nothing appended either way). */
int sgf_dirbuf_add(struct sgf_dirbuf *db, const char *name, size_t namelen,
		   uint64_t ino, uint32_t type, uint64_t off);
/* The same with the entry's attributes (READDIRPLUS; inode number and type
 * come from entry->attr). A nonzero entry->nodeid hands the requester one
 * lookup reference, as LOOKUP does. */
int sgf_dirbuf_add_plus(struct sgf_dirbuf *db, const char *name, size_t namelen,
			const struct fuse_entry_out *entry, uint64_t off);

/* Reply fillers: the attributes of a GETATTR/LOOKUP reply from a stat, and
 * a STATFS reply from a statvfs. */
void sgf_fill_attr(struct fuse_attr *a, const struct stat *st);
void sgf_fill_kstatfs(struct fuse_kstatfs *k, const struct statvfs *sv);

/*
 * The filesystem. Every operation is optional: a missing one answers ENOSYS,
 * except OPEN and OPENDIR (success with fh 0) and RELEASE and RELEASEDIR
 * (success). The table is copied when the server is made
 * and passed with its size, so a program built against an older, shorter
 * table keeps working: operations past its end count as missing.
 *
 * Results. An operation returns 0 (or, where said, a byte count) for success
 * and a negative errno for failure; any other value (below -4095, or a count
 * larger than asked) is answered EIO and counted in stats.refused. Output
 * structs arrive zeroed; fill them and return, and the library sends the
 * reply. Or keep the request (sgf_req_keep), return SGF_DEFER, fill the same
 * output structs, buffers and iovecs later from any thread and answer with
 * sgf_reply(): they stay valid, and the request's buffers stay reserved,
 * until that reply.
 *
 * Lookup counts. Every successful LOOKUP, MKNOD, MKDIR, SYMLINK, LINK,
 * CREATE and TMPFILE reply, and every READDIRPLUS entry with a nonzero nodeid, gives the
 * requester one reference to the entry's nodeid. FORGET(nodeid, n) returns n
 * of them; a node may be freed when its count reaches zero, never before: the
 * requester may use a nodeid in any request until then. The root
 * (FUSE_ROOT_ID) is never looked up and never forgotten. When a session ends,
 * every reference it held is gone without FORGETs: drop them in destroy (or
 * free the per-session filesystem, see sgf_server_opts.fs_new).
 *
 * The filesystem pointer. Operations get it as r->fs, init and destroy as
 * fs: the server's, or the session's own when sgf_server_opts.fs_new made
 * one.
 *
 * Keeping. An operation that called sgf_req_keep() should return
 * SGF_DEFER; if it returns a result instead, that result is the reply and
 * the kept handle is void. A reply sent through the handle before the
 * operation returns is fine (then return SGF_DEFER). SGF_DEFER without
 * sgf_req_keep() is answered EIO and counted in stats.refused.
 *
 * Threads. Operations run on the server's worker threads, several at once,
 * in any order (only a request's own reply orders it); they may block, but a
 * blocked worker receives nothing: use deferred replies for slow backends.
 * On a stream socket one worker at a time receives for the connection, and
 * it hands that on only when the next message is already waiting: a
 * synchronous operation that blocks can delay requests that arrive after
 * it on the same connection (a kept request never does).
 */
struct sgf_ops {
	/* Called once INIT is settled, before any other op. It may lower
	 * ci->max_write (not below 4096) and clear these bits of ci->flags:
	 * FUSE_DO_READDIRPLUS and FUSE_READDIRPLUS_AUTO (READDIR only, then),
	 * FUSE_EXPORT_SUPPORT, FUSE_ASYNC_READ, FUSE_PARALLEL_DIROPS,
	 * FUSE_CACHE_SYMLINKS, FUSE_ASYNC_DIO. It may set
	 * FUSE_HANDLE_KILLPRIV_V2 when ci->requester_flags has it: the kernel
	 * then leaves clearing suid/sgid to the filesystem, which must do it
	 * on WRITE with FUSE_WRITE_KILL_SUIDGID, SETATTR with
	 * FATTR_KILL_SUIDGID and OPEN/CREATE with FUSE_OPEN_KILL_SUIDGID.
	 * Other changes to ci are ignored. A nonzero return fails INIT. Start
	 * backend threads here (not before sgf_main: its move to the
	 * background is a fork). */
	int (*init)(void *fs, struct sgf_conn_info *ci);
	/* Called exactly once per session that sgf_server_run() served, after
	 * its last request: every worker has stopped and every kept request
	 * was answered (or answered EIO by the library). Stop backend threads
	 * that could still call sgf_reply() here. Also called for a session
	 * whose INIT never came or failed (a peer that hung up at once): cope
	 * with an init that did not run. */
	void (*destroy)(void *fs);

	/* Entry replies (lookup, mknod, mkdir, symlink, link, create): fill
	 * out->nodeid, generation, attr and the timeouts; each success is one
	 * lookup reference. lookup may answer a negative entry: nodeid 0 with
	 * an entry_valid timeout (no reference), or -ENOENT. */
	int (*lookup)(const struct sgf_req *r, uint64_t parent, const char *name,
		      struct fuse_entry_out *out);
	/* Never answered, cannot fail, cannot be kept. */
	void (*forget)(const struct sgf_req *r, uint64_t ino, uint64_t nlookup);
	int (*getattr)(const struct sgf_req *r, uint64_t ino,
		       const struct fuse_getattr_in *in, struct fuse_attr_out *out);
	int (*setattr)(const struct sgf_req *r, uint64_t ino,
		       const struct fuse_setattr_in *in, struct fuse_attr_out *out);
	/* Write the target to buf (size bytes, no NUL needed); return its
	 * length. */
	ssize_t (*readlink)(const struct sgf_req *r, uint64_t ino, char *buf, size_t size);
	int (*symlink)(const struct sgf_req *r, uint64_t parent, const char *name,
		       const char *target, struct fuse_entry_out *out);
	int (*mknod)(const struct sgf_req *r, uint64_t parent, const char *name,
		     const struct fuse_mknod_in *in, struct fuse_entry_out *out);
	int (*mkdir)(const struct sgf_req *r, uint64_t parent, const char *name,
		     const struct fuse_mkdir_in *in, struct fuse_entry_out *out);
	int (*unlink)(const struct sgf_req *r, uint64_t parent, const char *name);
	int (*rmdir)(const struct sgf_req *r, uint64_t parent, const char *name);
	/* flags: 0, or RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT
	 * (RENAME2; RENAME is flags 0), as renameat2(2) takes them. */
	int (*rename)(const struct sgf_req *r, uint64_t parent, const char *name,
		      uint64_t newparent, const char *newname, uint32_t flags);
	int (*link)(const struct sgf_req *r, uint64_t ino, uint64_t newparent,
		    const char *newname, struct fuse_entry_out *out);
	/* Fill out->fh (handed back in every request on this open) and
	 * out->open_flags (FOPEN_DIRECT_IO, FOPEN_KEEP_CACHE, ...). */
	int (*open)(const struct sgf_req *r, uint64_t ino,
		    const struct fuse_open_in *in, struct fuse_open_out *out);
	int (*create)(const struct sgf_req *r, uint64_t parent, const char *name,
		      const struct fuse_create_in *in, struct fuse_entry_out *entry,
		      struct fuse_open_out *open);
	/* Fill iov (in->size bytes in all, owned by the library; over
	 * vhost-user it is the guest's own memory, the reply's payload
	 * buffers); return the bytes filled: fewer than asked only at end of
	 * file, or the requester sees a short read (direct I/O) or zeroes
	 * (page cache). */
	ssize_t (*read)(const struct sgf_req *r, uint64_t ino,
			const struct fuse_read_in *in, const struct iovec *iov, int iovcnt);
	/* Optional, lets READ skip user memory on stream sockets: name the
	 * file and offset READ in would copy from (in->size bytes from there,
	 * fewer only at end of file), and the library splices them to the
	 * socket. On 0, *fd stays valid until read_source_done(r, *token) is
	 * called, which the library always does exactly once (the operation
	 * keeps whatever reference it needs in *token). The file must hold
	 * what read would have returned. Spliced page-cache pages travel by
	 * reference: a write that lands after the reply was sent but before
	 * the peer took the bytes may show in them, as with any splice. Any
	 * -errno (-EOPNOTSUPP: not this file) makes the library call read
	 * instead. Both or neither are set. Cannot be kept. */
	int (*read_source)(const struct sgf_req *r, uint64_t ino,
			   const struct fuse_read_in *in, int *fd, uint64_t *off,
			   void **token);
	void (*read_source_done)(const struct sgf_req *r, void *token);
	/* The payload is in iov (in->size bytes, owned by the library; page
	 * aligned where the transport allows, so O_DIRECT takes it in place);
	 * return the bytes written. Over vhost-user iov is guest memory,
	 * which the guest can change while the operation runs: read it once
	 * (do not check it and then use it again). */
	ssize_t (*write)(const struct sgf_req *r, uint64_t ino,
			 const struct fuse_write_in *in, const struct iovec *iov, int iovcnt);
	int (*flush)(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in);
	/* The last request on in->fh; errors are not seen by anyone. */
	int (*release)(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in);
	int (*fsync)(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in);
	int (*opendir)(const struct sgf_req *r, uint64_t ino,
		       const struct fuse_open_in *in, struct fuse_open_out *out);
	/* Fill db (size = in->size) from cookie in->offset; plus = READDIRPLUS.
	 * Return 0 (the library sends db->used bytes) or -errno. */
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
	/* As getxattr, for the NUL-separated list of names. */
	ssize_t (*listxattr)(const struct sgf_req *r, uint64_t ino, char *buf, size_t size);
	int (*removexattr)(const struct sgf_req *r, uint64_t ino, const char *name);
	int (*access)(const struct sgf_req *r, uint64_t ino, uint32_t mask);
	int (*fallocate)(const struct sgf_req *r, uint64_t ino,
			 const struct fuse_fallocate_in *in);
	int (*lseek)(const struct sgf_req *r, uint64_t ino,
		     const struct fuse_lseek_in *in, struct fuse_lseek_out *out);

	/* The requester gave up on request r (its caller got a signal): r is
	 * in flight, kept or still in its operation; it is the same pointer
	 * sgf_req_keep() returned. Called on a worker
	 * thread; it must not block. It may answer r itself (typically
	 * -EINTR) if r is kept, or tell whoever owns r, which then answers
	 * (or answers normally: the protocol allows it); not both: see
	 * sgf_reply(). sgf_req_interrupted(r) tells the same. */
	void (*interrupt)(const struct sgf_req *r);

	/* Make and open an unnamed regular file in parent (open(2) with
	 * O_TMPFILE; in->flags and in->mode as for create, and no name):
	 * fill entry (one lookup reference, attr.nlink 0 until linked) and
	 * open as create does. The requester names it later, if at all, with
	 * a LINK of entry->nodeid; unless in->flags has O_EXCL, which says it
	 * must never get a name. Missing: the opener gets EOPNOTSUPP. */
	int (*tmpfile)(const struct sgf_req *r, uint64_t parent,
		       const struct fuse_create_in *in, struct fuse_entry_out *entry,
		       struct fuse_open_out *open);

	/* The filesystem's own counters, written after the library's
	 * wherever statistics go (sgf_server_opts.stats, stats_file,
	 * SIGUSR1): one "NAME N" line each, names the library does not use.
	 * fs is the server's filesystem pointer (the one given to
	 * sgf_server_new, never a session's), so counters outlive sessions.
	 * Called from the thread running sgf_server_run(), while operations
	 * run: read the counters atomically. */
	void (*stats)(void *fs, FILE *f);
};

#ifdef __cplusplus
}
#endif
#endif
