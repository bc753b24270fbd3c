/* fs/passthrough/pt.h - private to the passthrough filesystem: the node and
 * open-handle tables every op goes through, the helpers the op files share,
 * and the op prototypes gathered into the table by pt_ops.c. */
#ifndef SGF_FS_PT_H
#define SGF_FS_PT_H

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sgfuse/passthrough.h>
#include "idmap.h"

struct file_handle;
struct pt_mount;

/* ---- nodes ---- */

/* A node's place in the cache of open fds (pt_fdcache.c); both NULL when
 * it is not there. */
struct pt_lru {
	struct pt_lru *prev, *next;
};

/* One backing object the requester may hold references to. Lives while the
 * table or an op or an open handle holds it (refs); stays in the table while
 * the requester holds lookups (nlookup). Its identity is (dev, ino); the file
 * handle is only how its fd is opened again once the fd cache let it go. */
struct pt_inode {
	struct fs_idlink by_id;   /* id = nodeid handed to the requester */
	struct fs_idlink by_key;  /* id = hash of (dev, ino) */
	dev_t dev;
	ino_t ino;
	/* In inodes_by_key; false once (dev, ino) was found reused by a new
	 * object, while this stale node waits for its forget. */
	bool keyed;
	mode_t type;              /* S_IFMT bits; fixed for the object's life */
	/* O_PATH | O_NOFOLLOW; -1 while the fd cache has let it go. Set and
	 * cleared under inode_lock; an op reads it unlocked while it holds the
	 * node pinned (pt_inode_get / pt_inode_pin), which keeps it open. */
	int fd;
	struct file_handle *handle; /* NULL: not reopenable, fd held for life */
	int mount_fd;             /* opens handle; borrowed from pt->mounts */
	unsigned fd_pins;         /* ops using fd now; under inode_lock */
	struct pt_lru lru;        /* under inode_lock */
	uint64_t nlookup;         /* under sgf_passthrough.inode_lock */
	uint64_t refs;            /* under inode_lock; every pin is also a ref */
	/* FUSE passthrough, under sgf_passthrough.backing_lock. The kernel
	 * takes one backing file per inode, so every passed-through open of
	 * the node shares backing_id, registered at the first and closed at
	 * the last; and it cannot mix them with opens served by requests. */
	int backing_id;           /* 0: none registered */
	int backing_fd;           /* the file registered (-1: none) */
	unsigned backing_users;   /* open handles answered with backing_id */
	unsigned request_opens;   /* open handles served by requests */
};

/* ---- open files and directories ---- */

/* How the requester does I/O on an open file (pt_backing.c). */
enum pt_io {
	PT_IO_UNSET,      /* no passthrough on the session, or released */
	PT_IO_BACKING,    /* the kernel on the node's backing file */
	PT_IO_REQUESTS,   /* READ and WRITE to us, on a passthrough session */
};

struct pt_handle {
	struct fs_idlink link;    /* id = fh handed to the requester */
	_Atomic uint64_t refs;    /* taken under handle_lock, dropped anywhere */
	struct pt_inode *inode;   /* holds one inode ref */
	bool is_dir;
	int fd;                   /* backing file, or the directory stream's fd */
	/* A buffered twin of an O_DIRECT fd for I/O the backing fs refuses as
	 * misaligned (backing_direct AUTO); opened on first need. */
	_Atomic int buffered_fd;
	bool may_fallback;
	_Atomic int io;           /* enum pt_io */
	pthread_mutex_t dir_lock; /* serializes the directory stream */
	DIR *dir;
	uint64_t dir_pos;         /* cookie the stream stands at */
};

struct sgf_passthrough {
	enum sgf_backing_direct backing_direct;
	bool no_xattr;            /* xattr ops answer ENOSYS */
	bool act_as_requester;    /* root daemon: ops run with the requester's ids */
	int proc_fd;              /* /proc (O_PATH), or -1 */
	bool killpriv;            /* FUSE_HANDLE_KILLPRIV_V2 agreed (pt_init) */
	uid_t daemon_uid;
	gid_t daemon_gid;
	uint64_t entry_sec, attr_sec;
	uint32_t entry_nsec, attr_nsec;

	pthread_mutex_t inode_lock;
	struct fs_idmap inodes_by_id;
	struct fs_idmap inodes_by_key;
	uint64_t next_nodeid;
	struct pt_inode *root;
	/* Open fds of reopenable nodes (pt_fdcache.c), under inode_lock:
	 * fd_lru holds the unpinned ones, most recently used first. */
	struct pt_lru fd_lru;
	size_t fds_open;
	size_t fds_max;

	/* Mounts nodes live on, with an fd to open handles on each
	 * (pt_fhandle.c). */
	pthread_mutex_t mount_lock;
	struct pt_mount *mounts;

	pthread_mutex_t handle_lock;
	struct fs_idmap handles;
	uint64_t next_fh;

	bool passthrough;         /* FUSE_PASSTHROUGH negotiated (pt_init) */
	bool backing_denied;      /* the kernel said EPERM: no CAP_SYS_ADMIN */
	pthread_mutex_t backing_lock; /* every node's backing state */
};

/* Inode table (pt_inode.c). */
int pt_inodes_init(struct sgf_passthrough *pt, int root_fd, const struct stat *st);
void pt_inodes_destroy(struct sgf_passthrough *pt);
/* The node for a requester's nodeid, held and pinned (its fd open, and kept
 * open until pt_inode_put), or NULL if unknown or its object is gone. */
struct pt_inode *pt_inode_get(struct sgf_passthrough *pt, uint64_t nodeid);
void pt_inode_put(struct sgf_passthrough *pt, struct pt_inode *in);
/* Keep the node alive without its fd (an open handle: it has its own fd). */
void pt_inode_hold(struct sgf_passthrough *pt, struct pt_inode *in);
void pt_inode_release(struct sgf_passthrough *pt, struct pt_inode *in);
/* Pin a node already held: its fd open until pt_inode_unpin. 0 or -ESTALE. */
int pt_inode_pin(struct sgf_passthrough *pt, struct pt_inode *in);
void pt_inode_unpin(struct sgf_passthrough *pt, struct pt_inode *in);
/* Take one lookup for the object behind fd (an O_PATH fd, consumed) whose
 * stat is st: the known node, or a new one. Returns its nodeid, 0 on -ENOMEM. */
uint64_t pt_inode_learn(struct sgf_passthrough *pt, int fd, const struct stat *st);
void pt_inode_forget(struct sgf_passthrough *pt, uint64_t nodeid, uint64_t n);

/* Cache of nodes' open fds (pt_fdcache.c); all under inode_lock. */
void pt_fdcache_init(struct sgf_passthrough *pt);
void pt_fdcache_pin(struct sgf_passthrough *pt, struct pt_inode *in);
void pt_fdcache_unpin(struct sgf_passthrough *pt, struct pt_inode *in);
/* in->fd was just opened (in has a handle). */
void pt_fdcache_opened(struct sgf_passthrough *pt, struct pt_inode *in);
/* in is being freed: it leaves the cache (its fd is closed with it). */
void pt_fdcache_leave(struct sgf_passthrough *pt, struct pt_inode *in);
/* Let go of least recently used fds while over the bound: up to max of
 * them into fds, for the caller to close once it has unlocked. */
#define PT_FDCACHE_BATCH 4
size_t pt_fdcache_trim(struct sgf_passthrough *pt, int *fds, size_t max);

/* File handles (pt_fhandle.c). */
int pt_mounts_init(struct sgf_passthrough *pt, int root_fd);
void pt_mounts_destroy(struct sgf_passthrough *pt);
/* A handle to reopen the object behind the O_PATH fd by, and the mount fd to
 * open it on; NULL when it cannot be reopened so (its fd is then kept). */
struct file_handle *pt_fhandle_make(struct sgf_passthrough *pt, int fd, mode_t type,
				    int *mount_fd);
bool pt_fhandle_equal(const struct file_handle *a, const struct file_handle *b);
/* The node's object opened again as O_PATH: fd, or -errno (-ESTALE: gone). */
int pt_fhandle_open(const struct sgf_passthrough *pt, const struct pt_inode *in);

/* Handle table (pt_handle.c). */
int pt_handles_init(struct sgf_passthrough *pt);
struct pt_handle *pt_handle_new(struct sgf_passthrough *pt, struct pt_inode *in, bool is_dir);
/* Make h reachable by the requester; returns its fh. */
uint64_t pt_handle_publish(struct sgf_passthrough *pt, struct pt_handle *h);
/* h with one ref held if fh is a live handle of that kind on node ino. */
struct pt_handle *pt_handle_get(struct sgf_passthrough *pt, uint64_t fh, uint64_t ino,
				bool is_dir);
void pt_handle_put(struct sgf_passthrough *pt, struct pt_handle *h);
/* Unpublish; the handle goes once in-flight ops are done. 0 or -EBADF. */
int pt_handle_release(struct sgf_passthrough *pt, uint64_t fh, uint64_t ino, bool is_dir);
/* fsync or fdatasync (FUSE_FSYNC_FDATASYNC) of an open file or directory. */
int pt_handle_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in,
		    bool is_dir);
void pt_handles_destroy(struct sgf_passthrough *pt);
/* The buffered twin of h->fd, opening it on first use; fd or -errno. */
int pt_handle_buffered_fd(struct pt_handle *h);

/* FUSE passthrough (pt_backing.c). Decide how the freshly published open
 * h of node is served (flags: the requester's open flags; direct: h->fd
 * took O_DIRECT) and set out's open_flags for it: the node's backing file
 * when it can take this open, else requests, with the reason given to the
 * library. Never fails the open. No-op on a session without passthrough. */
void pt_backing_attach(const struct sgf_req *r, struct pt_inode *node, struct pt_handle *h,
		       int flags, bool direct, struct fuse_open_out *out);
/* The open h is released: drop its share (the last one closes the id). */
void pt_backing_detach(const struct sgf_req *r, struct pt_handle *h);

/* Requester credentials (pt_creds.c). A requester's supplementary groups,
 * as /proc/TID/status of the requesting thread shows them. */
#define PT_GROUPS_INLINE 32
struct pt_groups {
	int n;
	gid_t *list;              /* inline_, or allocated for a long list */
	gid_t inline_[PT_GROUPS_INLINE];
};
/* Fill g (free it with pt_groups_free); none when they cannot be known
 * (pid 0, the thread gone or another with other ids). Returns g->n. */
int pt_groups_read(const struct sgf_passthrough *pt, const struct sgf_req *r,
		   struct pt_groups *g);
void pt_groups_free(struct pt_groups *g);
/* Is gid r's fsgid or one of its supplementary groups? */
bool pt_requester_in_group(const struct sgf_passthrough *pt, const struct sgf_req *r, gid_t gid);

/* Enter before touching the backing fs on the requester's behalf (fs ids
 * and groups become the requester's), leave with the same c, on the same
 * thread. */
struct pt_creds {
	const struct sgf_req *r;
	bool switched;
	struct pt_groups groups;
};
int pt_creds_enter(const struct sgf_passthrough *pt, const struct sgf_req *r, struct pt_creds *c);
void pt_creds_leave(const struct sgf_passthrough *pt, struct pt_creds *c);
/* Act as the daemon itself for a moment, whoever this thread acts as now,
 * then go back (a backing file serves every requester, and the kernel
 * uses it with the credentials of the thread that registered it). */
struct pt_creds_saved {
	uid_t uid;
	gid_t gid;
	bool changed;
	const struct pt_groups *groups; /* to put back, or NULL */
};
void pt_creds_suspend(const struct sgf_passthrough *pt, struct pt_creds_saved *saved);
void pt_creds_resume(const struct sgf_passthrough *pt, const struct pt_creds_saved *saved);

/* suid/sgid (pt_killpriv.c). Clear on the regular file behind fd (open,
 * or O_PATH when o_path) what the kernel's setattr_should_drop_suidgid()
 * clears for r: suid; sgid when group-exec is set, or when r is neither in
 * the file's group nor capable (has CAP_FSETID). As the daemon, after the
 * op that asked for it succeeded. 0 or -errno. */
int pt_kill_suidgid(const struct sgf_req *r, int fd, bool o_path, bool capable);
/* The kernel gives no CAP_FSETID flag where it leaves the choice to us:
 * fsuid 0 stands for it. */
static inline bool pt_requester_capable(const struct sgf_req *r)
{
	return r->uid == 0;
}

/* Shared helpers (pt_entry.c). */
#define PT_PROC_PATH_MAX 32
void pt_proc_path(char buf[PT_PROC_PATH_MAX], int fd);
int pt_stat_inode(const struct pt_inode *in, struct stat *st);
void pt_fill_attr_out(const struct sgf_passthrough *pt, struct fuse_attr_out *out,
		      const struct stat *st);
/* Look name up under parent taking one lookup; fills out. */
int pt_lookup_name(struct sgf_passthrough *pt, struct pt_inode *parent, const char *name,
		   struct fuse_entry_out *out);
/* Take one lookup for the object behind the O_PATH fd (consumed); fills out. */
int pt_entry_from_fd(struct sgf_passthrough *pt, int fd, struct fuse_entry_out *out);
/* Name checks: 0, or -EINVAL ('/'), -ENAMETOOLONG. */
int pt_check_name(const char *name);
bool pt_is_dot_or_dotdot(const char *name);
/* Name check for an op that makes a new name: also -EEXIST for "." / "..". */
int pt_check_new_name(const char *name);
/* A parent node for a name op, held; NULL with *err set. */
struct pt_inode *pt_get_dir(struct sgf_passthrough *pt, uint64_t nodeid, int *err);

/* Operations, by file. */
int pt_init(void *fs, struct sgf_conn_info *ci);
void pt_destroy(void *fs);

int pt_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
	      struct fuse_entry_out *out);
void pt_forget(const struct sgf_req *r, uint64_t ino, uint64_t nlookup);

int pt_mknod(const struct sgf_req *r, uint64_t parent, const char *name,
	     const struct fuse_mknod_in *in, struct fuse_entry_out *out);
int pt_mkdir(const struct sgf_req *r, uint64_t parent, const char *name,
	     const struct fuse_mkdir_in *in, struct fuse_entry_out *out);
int pt_symlink(const struct sgf_req *r, uint64_t parent, const char *name,
	       const char *target, struct fuse_entry_out *out);
int pt_link(const struct sgf_req *r, uint64_t ino, uint64_t newparent,
	    const char *newname, struct fuse_entry_out *out);

int pt_unlink(const struct sgf_req *r, uint64_t parent, const char *name);
int pt_rmdir(const struct sgf_req *r, uint64_t parent, const char *name);
int pt_rename(const struct sgf_req *r, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, uint32_t flags);

int pt_getattr(const struct sgf_req *r, uint64_t ino, const struct fuse_getattr_in *in,
	       struct fuse_attr_out *out);
int pt_setattr(const struct sgf_req *r, uint64_t ino, const struct fuse_setattr_in *in,
	       struct fuse_attr_out *out);

ssize_t pt_readlink(const struct sgf_req *r, uint64_t ino, char *buf, size_t size);
int pt_statfs(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out);
int pt_access(const struct sgf_req *r, uint64_t ino, uint32_t mask);

int pt_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	    struct fuse_open_out *out);
int pt_create(const struct sgf_req *r, uint64_t parent, const char *name,
	      const struct fuse_create_in *in, struct fuse_entry_out *entry,
	      struct fuse_open_out *open);
/* An unnamed file (O_TMPFILE) in parent; its node is kept (an O_PATH fd) so
 * a LINK can name it, which the backing fs refuses when in->flags has O_EXCL. */
int pt_tmpfile(const struct sgf_req *r, uint64_t parent, const struct fuse_create_in *in,
	       struct fuse_entry_out *entry, struct fuse_open_out *open);

ssize_t pt_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		const struct iovec *iov, int iovcnt);
int pt_read_source(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		   int *fd, uint64_t *off, void **token);
void pt_read_source_done(const struct sgf_req *r, void *token);
ssize_t pt_write(const struct sgf_req *r, uint64_t ino, const struct fuse_write_in *in,
		 const struct iovec *iov, int iovcnt);

int pt_flush(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in);
int pt_release(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in);
int pt_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in);
int pt_fallocate(const struct sgf_req *r, uint64_t ino, const struct fuse_fallocate_in *in);
int pt_lseek(const struct sgf_req *r, uint64_t ino, const struct fuse_lseek_in *in,
	     struct fuse_lseek_out *out);

int pt_opendir(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	       struct fuse_open_out *out);
int pt_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
	       bool plus, struct sgf_dirbuf *db);
int pt_releasedir(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in);
int pt_fsyncdir(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in);

int pt_setxattr(const struct sgf_req *r, uint64_t ino, const char *name,
		const void *value, size_t size, uint32_t flags);
ssize_t pt_getxattr(const struct sgf_req *r, uint64_t ino, const char *name,
		    void *buf, size_t size);
ssize_t pt_listxattr(const struct sgf_req *r, uint64_t ino, char *buf, size_t size);
int pt_removexattr(const struct sgf_req *r, uint64_t ino, const char *name);

#endif
