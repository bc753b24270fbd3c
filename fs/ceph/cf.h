/* fs/ceph/cf.h - private to the Ceph filesystem: the client shared by every
 * session (mount, credentials, backend threads, counters), each session's
 * node and handle tables, and the op prototypes cf_ops.c gathers. */
#ifndef SGF_FS_CEPH_H
#define SGF_FS_CEPH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <cephfs/libcephfs.h>
#include <sgfuse/ceph.h>
#include "idmap.h"

struct cf_session;

/* ---- credentials: one UserPerm per (uid, gid), kept for the run ---- */

struct cf_perm {
	uid_t uid;
	gid_t gid;
	UserPerm *perm;
	struct cf_perm *next;
};

/* ---- the backend pool: data ops run here, answered from here ---- */

struct cf_job {
	void (*run)(struct cf_job *job);
	struct cf_session *s;  /* counted in s->jobs until run returns */
	struct cf_job *next;
};

struct cf_pool {
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct cf_job *head, **tail;
	unsigned queued;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
};

/* ---- the client ---- */

struct sgf_ceph {
	/* The options, copied; conf_set as one array of key, value, ... */
	char *conf, *id, *fs_name, *root;
	char **conf_set;
	unsigned n_conf_set, backend_threads;
	double entry_timeout, attr_timeout;

	pthread_mutex_t connect_lock;
	int connect_err;
	char connect_msg[256];
	struct ceph_mount_info *cmount; /* set once connected */
	struct cf_pool pool;

	pthread_mutex_t perm_lock;
	struct cf_perm *perms;

	/* Sessions, for the invalidation callbacks to find the nodes; a
	 * callback sending to a session holds it (notifying), and destroy
	 * waits on notified for that to end. */
	pthread_mutex_t sessions_lock;
	pthread_cond_t notified;
	struct cf_session *sessions;
	const UserPerm *nobody;   /* when no UserPerm can be made: least rights */

	/* Counters (sgf_ceph_stats_print). */
	atomic_uint_least64_t readv_calls, writev_calls, read_bytes, write_bytes;
	atomic_uint_least64_t notify_inode, notify_entry, queue_max;
};

/* ---- one session's view: nodes and open handles ---- */

/* A Ceph inode the requester may hold references to. The node holds one
 * reference of Ceph's (ceph_ll_put when freed) whatever the requester's
 * count; it stays in the tables while the requester holds lookups and
 * lives while an op or a handle holds it. */
struct cf_node {
	struct fs_idlink by_id;   /* id = nodeid handed to the requester */
	struct fs_idlink by_ino;  /* id = Ceph's inode number */
	struct fs_idlink by_ptr;  /* id = the Inode's address */
	Inode *in;
	uint64_t ino;             /* Ceph's inode number (st_ino) */
	uint64_t nlookup;         /* under cf_session.lock */
	uint64_t refs;            /* under cf_session.lock */
};

struct cf_handle {
	struct fs_idlink link;    /* id = fh handed to the requester */
	struct cf_node *node;
	Fh *fh;                   /* files */
	struct ceph_dir_result *dir; /* directories */
	pthread_mutex_t dir_lock; /* one listing at a time per handle */
	uint64_t refs;            /* under cf_session.lock */
	bool released;
};

struct cf_session {
	struct sgf_ceph *c;
	struct sgf_session *se;   /* learned from requests, for notifications */
	pthread_mutex_t lock;
	struct fs_idmap nodes, by_ino, by_ptr, handles;
	uint64_t next_nodeid, next_fh;
	struct cf_node *root;
	/* Data ops queued or running for this session; destroy waits for 0. */
	unsigned jobs;
	pthread_cond_t jobs_done;
	struct cf_session *next;  /* in sgf_ceph.sessions */
	unsigned notifying;       /* under sgf_ceph.sessions_lock */
};

/* cf_mount.c / cf_pool.c */
int cf_pool_start(struct cf_pool *p, unsigned nthreads);
void cf_pool_stop(struct cf_pool *p);
/* Queue job (job->s set by the caller); the pool runs job->run once. */
void cf_pool_submit(struct sgf_ceph *c, struct cf_job *job);
/* Wait until every job of s has run. */
void cf_pool_wait_session(struct cf_session *s);

/* cf_perm.c */
const UserPerm *cf_perm_of(struct sgf_ceph *c, uid_t uid, gid_t gid);
#define CF_PERM(r) cf_perm_of(((struct cf_session *)(r)->fs)->c, (r)->uid, (r)->gid)
/* The fallback credentials (nobody); -ENOMEM. */
int cf_perm_init(struct sgf_ceph *c);
void cf_perm_free_all(struct sgf_ceph *c);

/* cf_node.c. get/put: hold a node of this session for an op (NULL: no such
 * nodeid). learn: one more requester reference to Inode in, whose Ceph
 * reference the caller hands over; returns the nodeid (0: out of memory,
 * the reference returned to Ceph). */
struct cf_node *cf_node_get(struct cf_session *s, uint64_t nodeid);
void cf_node_put(struct cf_session *s, struct cf_node *n);
uint64_t cf_node_learn(struct cf_session *s, const struct sgf_req *r, Inode *in,
		       uint64_t ino);
void cf_node_forget(struct cf_session *s, uint64_t nodeid, uint64_t nlookup);
/* The nodeid of Ceph inode ino in s, 0 when the requester holds none. */
uint64_t cf_node_by_ino(struct cf_session *s, uint64_t ino);
int cf_nodes_init(struct cf_session *s, Inode *root, uint64_t root_ino);
void cf_nodes_drain(struct cf_session *s);

/* cf_handle.c */
uint64_t cf_handle_publish(struct cf_session *s, struct cf_node *node, Fh *fh,
			   struct ceph_dir_result *dir);
struct cf_handle *cf_handle_get(struct cf_session *s, uint64_t fh, uint64_t nodeid, bool dir);
void cf_handle_put(struct cf_session *s, struct cf_handle *h);
int cf_handle_release(struct cf_session *s, uint64_t fh, uint64_t nodeid, bool dir);
void cf_handles_drain(struct cf_session *s);

/* cf_attr.c */
#define CF_WANT (CEPH_STATX_BASIC_STATS)
void cf_fill_attr(struct fuse_attr *a, const struct ceph_statx *stx);
uint32_t cf_rdev_to_fuse(uint64_t dev);
uint64_t cf_rdev_from_fuse(uint32_t rdev);
void cf_fill_attr_out(struct sgf_ceph *c, struct fuse_attr_out *out,
		      const struct ceph_statx *stx);
/* Entry reply for an Inode a Ceph call just returned with one reference:
 * the reference passes to the requester's lookup count. */
int cf_entry(struct cf_session *s, const struct sgf_req *r, Inode *in,
	     const struct ceph_statx *stx, struct fuse_entry_out *out);
/* -EINVAL for ".", ".." and names with a '/', -ENAMETOOLONG past 255. */
int cf_check_name(const char *name);

/* cf_notify.c */
void cf_notify_register(struct sgf_ceph *c);

/* ops */
int cf_init(void *fs, struct sgf_conn_info *ci);
void cf_destroy(void *fs);
int cf_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
	      struct fuse_entry_out *out);
void cf_forget(const struct sgf_req *r, uint64_t ino, uint64_t nlookup);
int cf_getattr(const struct sgf_req *r, uint64_t ino, const struct fuse_getattr_in *in,
	       struct fuse_attr_out *out);
int cf_setattr(const struct sgf_req *r, uint64_t ino, const struct fuse_setattr_in *in,
	       struct fuse_attr_out *out);
ssize_t cf_readlink(const struct sgf_req *r, uint64_t ino, char *buf, size_t size);
int cf_symlink(const struct sgf_req *r, uint64_t parent, const char *name,
	       const char *target, struct fuse_entry_out *out);
int cf_mknod(const struct sgf_req *r, uint64_t parent, const char *name,
	     const struct fuse_mknod_in *in, struct fuse_entry_out *out);
int cf_mkdir(const struct sgf_req *r, uint64_t parent, const char *name,
	     const struct fuse_mkdir_in *in, struct fuse_entry_out *out);
int cf_unlink(const struct sgf_req *r, uint64_t parent, const char *name);
int cf_rmdir(const struct sgf_req *r, uint64_t parent, const char *name);
int cf_rename(const struct sgf_req *r, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, uint32_t flags);
int cf_link(const struct sgf_req *r, uint64_t ino, uint64_t newparent, const char *newname,
	    struct fuse_entry_out *out);
int cf_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	    struct fuse_open_out *out);
int cf_create(const struct sgf_req *r, uint64_t parent, const char *name,
	      const struct fuse_create_in *in, struct fuse_entry_out *entry,
	      struct fuse_open_out *open);
ssize_t cf_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		const struct iovec *iov, int iovcnt);
ssize_t cf_write(const struct sgf_req *r, uint64_t ino, const struct fuse_write_in *in,
		 const struct iovec *iov, int iovcnt);
int cf_flush(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in);
int cf_release(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in);
int cf_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in);
int cf_fallocate(const struct sgf_req *r, uint64_t ino, const struct fuse_fallocate_in *in);
int cf_opendir(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	       struct fuse_open_out *out);
int cf_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in, bool plus,
	       struct sgf_dirbuf *db);
int cf_releasedir(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in);
int cf_fsyncdir(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in);
int cf_statfs(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out);
int cf_access(const struct sgf_req *r, uint64_t ino, uint32_t mask);
int cf_setxattr(const struct sgf_req *r, uint64_t ino, const char *name, const void *value,
		size_t size, uint32_t flags);
ssize_t cf_getxattr(const struct sgf_req *r, uint64_t ino, const char *name, void *buf,
		    size_t size);
ssize_t cf_listxattr(const struct sgf_req *r, uint64_t ino, char *buf, size_t size);
int cf_removexattr(const struct sgf_req *r, uint64_t ino, const char *name);
int cf_lseek(const struct sgf_req *r, uint64_t ino, const struct fuse_lseek_in *in,
	     struct fuse_lseek_out *out);

#endif
