/* tests/server/srv_helper.h - what the server-library tests share: checks,
 * a temp dir with a mountpoint in a private mount namespace, cleanup that
 * runs however the test ends (exit, abort, sanitizer death, timeout,
 * SIGTERM from meson), a tiny in-memory filesystem the tests customise, and
 * a server run on its own thread, mounted through the kernel or attached to
 * a socketpair. Tests link only the public libraries. */
#ifndef SGF_SRV_HELPER_H
#define SGF_SRV_HELPER_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sgfuse/server.h>

#define SH_SKIP 77

/* ---- checks ---------------------------------------------------------------- */

void sh_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int sh_failures(void);
/* Print the verdict, clean up, return the exit status (0 pass, 1 fail). */
int sh_finish(void);

#define CHECK(cond) do { \
	if (!(cond)) sh_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
} while (0)
#define CHECK_EQ(a, b) do { \
	long long sh_a_ = (long long)(a), sh_b_ = (long long)(b); \
	if (sh_a_ != sh_b_) \
		sh_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, sh_a_, sh_b_); \
} while (0)
/* A -errno result: compares and names both. */
#define CHECK_RET(expr, want) do { \
	long sh_r_ = (long)(expr), sh_w_ = (long)(want); \
	if (sh_r_ != sh_w_) \
		sh_fail(__FILE__, __LINE__, "%s: want %ld (%s), got %ld (%s)", #expr, sh_w_, \
			sh_w_ < 0 ? strerrorname_np((int)-sh_w_) : "", sh_r_, \
			sh_r_ < 0 && sh_r_ > -4096 ? strerrorname_np((int)-sh_r_) : ""); \
} while (0)
/* A system call that must not return -1. */
#define CHECK_OK(expr) do { \
	errno = 0; \
	if ((long)(expr) == -1) \
		sh_fail(__FILE__, __LINE__, "%s: %s", #expr, strerrorname_np(errno)); \
} while (0)
/* A system call that must fail with err. */
#define CHECK_ERR(expr, err) do { \
	errno = 0; \
	long sh_r_ = (long)(expr); \
	if (sh_r_ != -1 || errno != (err)) \
		sh_fail(__FILE__, __LINE__, "%s: want -1/%s, got %ld/%s", #expr, \
			strerrorname_np(err), sh_r_, errno ? strerrorname_np(errno) : "0"); \
} while (0)
/* Stop the test now: the rest would be meaningless. */
#define REQUIRE(cond) do { \
	if (!(cond)) { \
		sh_fail(__FILE__, __LINE__, "required: %s", #cond); \
		exit(sh_finish()); \
	} \
} while (0)

/* ---- setup and cleanup ----------------------------------------------------- */

/* sh_init flags */
#define SH_KEEP_TERM 1u  /* leave SIGTERM/SIGINT/SIGHUP alone (a test sends them) */

/* Exit 77 unless root with /dev/fuse; enter a private mount namespace (so
 * nothing stays mounted even if we are killed; fusectl is mounted in it);
 * make a fresh mkdtemp dir with mnt/ in it; register cleanup (atexit,
 * SIGABRT, sanitizer death: abort the FUSE connection of whatever is
 * mounted on mnt - a thread of ours waiting on a request our own server
 * read cannot be killed otherwise, not even by exit - detach it, rmdir
 * both); start a watchdog thread that takes SIGALRM (alarm set to
 * timeout_s) and, without SH_KEEP_TERM, SIGTERM/SIGINT/SIGHUP: it cleans
 * up and exits 1. Every thread started afterwards blocks those signals, so
 * they cannot land on a thread stuck in a FUSE request. Call first. */
void sh_init(const char *name, unsigned timeout_s, unsigned flags);
const char *sh_root(void);
const char *sh_mnt(void);
/* mnt + "/" + name into buf. */
char *sh_path(char *buf, size_t size, const char *name);
#define SH_PATH(buf, name) sh_path((buf), sizeof(buf), (name))

/* Is something mounted on path (per /proc/self/mountinfo)? */
bool sh_is_mounted(const char *path);
/* Abort the FUSE connection of anything still mounted on the mountpoint
 * (so no thread of ours waits on it forever), and detach it. */
void sh_umount_all(void);

double sh_now(void);            /* CLOCK_MONOTONIC, seconds */
void sh_msleep(unsigned ms);
/* Poll cond every millisecond for up to ms; true once it holds. */
#define SH_WAIT_UNTIL(cond, ms) ({ \
	double sh_end_ = sh_now() + (ms) / 1000.0; \
	bool sh_ok_; \
	while (!(sh_ok_ = (cond)) && sh_now() < sh_end_) \
		sh_msleep(1); \
	sh_ok_; \
})

/* ---- a tiny in-memory filesystem ------------------------------------------- */

#define SH_MAX_NODES 4096

struct sh_node {
	uint64_t ino;
	uint32_t mode;          /* S_IF* | permissions; 0: unused slot */
	uint64_t parent;        /* directory it is linked in; 0: not linked */
	char name[256];
	char *data;             /* file contents, symlink target */
	size_t size, cap;
	bool refuse_read;       /* READ answers EIO (counted in refused_reads) */
};

struct sh_fs {
	pthread_mutex_t lock;   /* everything below but the counters */
	struct sh_node *nodes;  /* index ino - 1, SH_MAX_NODES of them */
	uint64_t next_ino;
	uint64_t entry_valid, attr_valid; /* seconds in entry / attr replies */
	uint32_t open_flags;    /* FOPEN_* in open and create replies */
	atomic_int init_calls, destroy_calls;
	atomic_long calls[SGF_OPCODE_LIMIT]; /* base operations run, by opcode */
	atomic_int refused_reads;
	void *user;             /* the test's */
};

/* The root (ino 1, a 0755 directory) and nothing else. Timeouts 0, no
 * open flags. */
struct sh_fs *sh_fs_new(void);
void sh_fs_free(struct sh_fs *fs);
/* Add a node (mode includes S_IFREG, S_IFDIR or S_IFLNK) named name in
 * directory parent with contents data (len bytes; a symlink's target).
 * Returns its ino; the test fails when that is impossible. */
uint64_t sh_fs_add(struct sh_fs *fs, uint64_t parent, const char *name, uint32_t mode,
		   const void *data, size_t len);
/* Find name in parent: ino or 0. */
uint64_t sh_fs_find(struct sh_fs *fs, uint64_t parent, const char *name);
/* Behind the kernel's back (they take fs->lock): */
void sh_fs_set_data(struct sh_fs *fs, uint64_t ino, const void *data, size_t len);
void sh_fs_set_mode(struct sh_fs *fs, uint64_t ino, uint32_t perms);
void sh_fs_set_refuse_read(struct sh_fs *fs, uint64_t ino, bool refuse);
int sh_fs_move(struct sh_fs *fs, uint64_t ino, uint64_t newparent, const char *newname);
int sh_fs_remove(struct sh_fs *fs, uint64_t ino);
long sh_fs_calls(struct sh_fs *fs, uint32_t opcode);

/* Fill every operation below into ops (the rest zero). */
void sh_ops_fill(struct sgf_ops *ops);

/* The base operations, synchronous; tests call them from their own
 * operations or from backend threads answering kept requests (they only
 * use r->fs). The statfs reply: SH_STATFS_* below. xattrs: "user.ino" is
 * the decimal inode number, "user.name" the node's name; others ENODATA. */
int sh_init_op(void *fs, struct sgf_conn_info *ci);
void sh_destroy_op(void *fs);
int sh_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
	      struct fuse_entry_out *out);
void sh_forget(const struct sgf_req *r, uint64_t ino, uint64_t nlookup);
int sh_getattr(const struct sgf_req *r, uint64_t ino, const struct fuse_getattr_in *in,
	       struct fuse_attr_out *out);
int sh_setattr(const struct sgf_req *r, uint64_t ino, const struct fuse_setattr_in *in,
	       struct fuse_attr_out *out);
ssize_t sh_readlink(const struct sgf_req *r, uint64_t ino, char *buf, size_t size);
int sh_symlink(const struct sgf_req *r, uint64_t parent, const char *name, const char *target,
	       struct fuse_entry_out *out);
int sh_mkdir(const struct sgf_req *r, uint64_t parent, const char *name,
	     const struct fuse_mkdir_in *in, struct fuse_entry_out *out);
int sh_unlink(const struct sgf_req *r, uint64_t parent, const char *name);
int sh_rmdir(const struct sgf_req *r, uint64_t parent, const char *name);
int sh_rename(const struct sgf_req *r, uint64_t parent, const char *name, uint64_t newparent,
	      const char *newname, uint32_t flags);
int sh_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	    struct fuse_open_out *out);
int sh_create(const struct sgf_req *r, uint64_t parent, const char *name,
	      const struct fuse_create_in *in, struct fuse_entry_out *entry,
	      struct fuse_open_out *open);
ssize_t sh_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		const struct iovec *iov, int iovcnt);
ssize_t sh_write(const struct sgf_req *r, uint64_t ino, const struct fuse_write_in *in,
		 const struct iovec *iov, int iovcnt);
int sh_flush(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in);
int sh_release(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in);
int sh_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in);
int sh_opendir(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	       struct fuse_open_out *out);
int sh_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in, bool plus,
	       struct sgf_dirbuf *db);
int sh_releasedir(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in);
int sh_statfs(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out);
ssize_t sh_getxattr(const struct sgf_req *r, uint64_t ino, const char *name, void *buf,
		    size_t size);
ssize_t sh_listxattr(const struct sgf_req *r, uint64_t ino, char *buf, size_t size);

#define SH_STATFS_BLOCKS 1000000u
#define SH_STATFS_BFREE 500000u
#define SH_STATFS_BAVAIL 400000u
#define SH_STATFS_FILES 10000u
#define SH_STATFS_FFREE 9000u
#define SH_STATFS_BSIZE 4096u

/* ---- a server on its own thread -------------------------------------------- */

struct sh_srv {
	struct sgf_server *srv;
	pthread_t thread;
	bool started, joined;
	atomic_bool returned;
	int ret;                /* what sgf_server_run returned */
};

/* sgf_server_new; the test stops when it fails. */
void sh_srv_new(struct sh_srv *s, const struct sgf_ops *ops, size_t ops_size, void *fs,
		const struct sgf_server_opts *opts);
/* sgf_server_mount on sh_mnt(), run on a thread, wait until the mount
 * answers (stat of the mountpoint shows our root on a new device). */
void sh_srv_mount(struct sh_srv *s);
/* Wait until the mount on sh_mnt() answers (our root on a new device). */
void sh_srv_wait_live(void);
/* socketpair: attach one end to the server, run it on a thread; returns
 * the other end. */
int sh_srv_attach(struct sh_srv *s);
/* Run sgf_server_run on a thread (after an endpoint was chosen). */
void sh_srv_start(struct sh_srv *s);
/* Wait up to timeout_ms for sgf_server_run to return; its result, or the
 * test stops. */
int sh_srv_join(struct sh_srv *s, unsigned timeout_ms);
/* Exit, join and destroy (whatever is still to do). */
void sh_srv_destroy(struct sh_srv *s);
/* sgf_server_stats into *st. */
void sh_srv_stats(struct sh_srv *s, struct sgf_stats *st);

#endif
