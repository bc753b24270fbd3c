/* sgfuse/server.h - serve a filesystem: the server object owns one endpoint
 * (a kernel mount, a listening Unix socket or a connected fd), the worker
 * threads, signals and teardown, and calls ops->destroy exactly once per
 * session. sgf_main() wraps it in the standard command line.
 *
 *   struct sgf_server *srv;
 *   int err = sgf_server_new(&srv, &my_ops, sizeof(my_ops), my_fs, &opts);
 *   if (err == 0) err = sgf_server_mount(srv, "/mnt/x");
 *   if (err == 0) err = sgf_server_run(srv);   // until unmount, signal, exit
 *   sgf_server_destroy(srv);
 */
#ifndef SGFUSE_SERVER_H
#define SGFUSE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sgfuse/backing.h>
#include <sgfuse/notify.h>
#include <sgfuse/ops.h>
#include <sgfuse/reply.h>
#include <sgfuse/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sgf_server;
struct sgf_session;

/* Server options; a zeroed struct (or NULL) means every default. */
struct sgf_server_opts {
	/* Protocol limits offered at INIT. */
	uint32_t max_write;     /* largest WRITE; default 1 MiB, at least 4096 */
	uint32_t max_pages;     /* pages per request; default max_write / 4096,
				 * clamped to fs.fuse.max_pages_limit */
	unsigned threads;       /* worker threads; default one per CPU */
	/* Requests that may hold a buffer at once, per session: the ones
	 * workers are receiving or running plus the kept ones. Each buffer is
	 * about 2 * max_write (virtual memory, touched as used). Default:
	 * the max_background we announce (64) plus threads; at least 1.
	 * Workers stop receiving while every buffer is in use. */
	unsigned max_inflight;
	bool debug;             /* one line per request and reply on stderr */
	bool no_export;         /* do not offer export (NFS) support */

	/* Kernel mounts: FUSE over io_uring. When the kernel offers it at
	 * INIT, requests arrive through ring entries (io_uring_depth per CPU
	 * queue, default 8) instead of read(2) on /dev/fuse; otherwise, or if
	 * setting the rings up fails, one line on stderr says why and
	 * /dev/fuse serves as without it. */
	bool io_uring;
	unsigned io_uring_depth;
	/* Kernel mounts: FUSE passthrough. A filesystem that names a backing
	 * file at OPEN (sgf_backing_open) has the kernel do READ and WRITE on
	 * it directly; needs CAP_SYS_ADMIN. Files that cannot be passed
	 * through are served by requests as usual. */
	bool passthrough;

	/* Kernel mounts (sgf_server_mount). */
	const char *fsname;     /* source shown in /proc/mounts; default "sgfuse" */
	const char *subtype;    /* mount type fuse.SUBTYPE */
	bool allow_other;
	bool default_permissions;
	uint32_t max_read;      /* mount option max_read; 0: not passed */
	bool force_fusermount;  /* mount through fusermount3 even as root */

	/* SIGINT, SIGTERM, SIGHUP end sgf_server_run(); SIGUSR1 writes the
	 * statistics (stats, stats_file); SIGPIPE is ignored. The server blocks
	 * these signals in the thread calling sgf_server_new() and restores
	 * the mask in sgf_server_destroy(); block them in the program's other
	 * threads too, or the kernel may deliver them there. (The server's
	 * worker threads take no signals at all.) */
	bool handle_signals;
	bool stats;             /* print statistics to stderr at the end and on SIGUSR1 */
	const char *stats_file; /* ... and/or write them to this file */

	/* A filesystem instance per session (each socket connection, or the
	 * one kernel mount): fs_new(fs) makes it before the session starts
	 * (NULL + errno refuses the session; for a mount it runs in
	 * sgf_server_mount, before sgf_main moves to the background: start
	 * threads in init, not here), the session's operations get it as
	 * r->fs, and fs_free(fs, session_fs) runs after the session's
	 * destroy. Without them every session shares fs. */
	void *(*fs_new)(void *fs);
	void (*fs_free)(void *fs, void *session_fs);

	/* Kernel mounts: MS_* flags of <sys/mount.h> for the mount: any of
	 * MS_RDONLY, MS_NOEXEC, MS_SYNCHRONOUS, MS_DIRSYNC, MS_NOATIME,
	 * MS_RELATIME, MS_STRICTATIME, MS_NODIRATIME, MS_LAZYTIME,
	 * MS_NOSYMFOLLOW (others: -EINVAL). Through fusermount3 only the first
	 * five and MS_RELATIME (the kernel's default) can be had; the others
	 * fail the mount with -EOPNOTSUPP. Every mount is MS_NOSUID | MS_NODEV
	 * unless suid / dev says otherwise (root only: fusermount3 ignores them
	 * for other users). */
	uint64_t mount_flags;
	bool suid;              /* honour set-user-ID and set-group-ID bits */
	bool dev;               /* let device files be opened */

	/* Room for options of later versions: zero (nonzero: -EINVAL). */
	uint64_t reserved[6];
};

/* Make a server for ops (ops_size = sizeof of the caller's table) with
 * filesystem pointer fs. 0 and *out, or -EINVAL (NULL ops, a table larger
 * than this library knows with operations it cannot call, bad opts),
 * -ENOMEM. */
int sgf_server_new(struct sgf_server **out, const struct sgf_ops *ops, size_t ops_size,
		   void *fs, const struct sgf_server_opts *opts);

/* Choose the endpoint (one per server), before sgf_server_run().
 * mount: mount(2) as root, fusermount3 otherwise; nothing stays mounted on
 *   failure (-ENOENT, -ENOTDIR, -EPERM, -ENODEV without /dev/fuse, ...); the
 *   server unmounts it on every path out of run, and in destroy.
 * listen: "unix:PATH": a stream socket, mode 0600, one session per
 *   connection (at most 128 at once), peers other than our user and root
 *   refused; PATH is removed at the end. A socket file already at PATH
 *   is replaced; -EEXIST when PATH is another kind of file, -EINVAL for
 *   an address not of that form, -ENAMETOOLONG for a long PATH.
 *   "vhost-user:PATH": the same socket, served as a vhost-user-fs device
 *   (virtio-fs): one frontend at a time, requests in its shared memory; a
 *   session lasts across queue stops (a paused VM) until DESTROY, a new
 *   INIT (a rebooted guest), a device reset or a disconnect; the next
 *   INIT starts another.
 * attach: a connected stream socket, or a /dev/fuse fd mounted elsewhere;
 *   the server owns fd from here on, even on failure (-ENOTSOCK for any
 *   other kind of fd).
 * All three: -EBUSY when the server has an endpoint already. */
int sgf_server_mount(struct sgf_server *srv, const char *mountpoint);
int sgf_server_listen(struct sgf_server *srv, const char *address);
int sgf_server_attach(struct sgf_server *srv, int fd);

/* Serve until the session ends (the kernel unmounted it, the peer hung up
 * or sent DESTROY), sgf_server_exit() is called, or a handled signal
 * arrives; then unmount, stop and join the workers, answer EIO to kept
 * requests, call ops->destroy and return. A listening server accepts
 * connections (each a session with its own `threads` workers, ended the
 * same way) until sgf_server_exit() or a signal, then ends them all.
 * 0 for any of those ends, -errno when serving failed (the endpoint broke,
 * a worker could not start); -ENOTCONN without an endpoint, -EALREADY
 * when called a second time. */
int sgf_server_run(struct sgf_server *srv);

/* Make sgf_server_run() return promptly. Safe from any thread, from inside
 * an operation, and from a signal handler (async-signal-safe: it stores a
 * flag and writes an eventfd). */
void sgf_server_exit(struct sgf_server *srv);

/* Unmount if still mounted, call destroy if a session ran and it was not
 * called yet, free everything. Until then a late reply to a request of a
 * mount or attach session is refused and counted (a listening server's
 * connection is freed when it ends: no reply after its destroy returned);
 * after this it is a use after free. */
void sgf_server_destroy(struct sgf_server *srv);

/* The session of a mount or attach endpoint (for notifications from outside
 * any operation); NULL before the endpoint is set, and for listen. It stays
 * valid until sgf_server_destroy (notifications return -ENOTCONN once it
 * ended). */
struct sgf_session *sgf_server_session(struct sgf_server *srv);

/* Totals of every session so far into *out. */
void sgf_server_stats(struct sgf_server *srv, struct sgf_stats *out);

/* What INIT settled on this session; NULL before INIT. */
const struct sgf_conn_info *sgf_session_conn(const struct sgf_session *se);

/* ---- the standard command line ------------------------------------------ */

/* A filesystem's own part of the command line, for sgf_main_ext(); every
 * field is optional. */
struct sgf_main_ext {
	const char *name;       /* program name for messages; default argv[0]'s */
	const char *version;    /* printed by --version; default the library's */
	const char *args;       /* positional arguments before MOUNTPOINT, as
				 * shown in the usage line, e.g. "SOURCE" */
	unsigned nargs;         /* how many of them there are */
	const char *help;       /* the filesystem's -o options, for --help */
	/* opt: each -o option sgf_main does not know, in command-line order
	 * (value NULL for a bare flag); then arg: each positional argument
	 * (index from 0). key, value and arg point into argv. Return 0,
	 * -ENOENT (opt) for an option it does not know either, or another
	 * -errno with a one-line reason in err. */
	int (*arg)(void *fs, unsigned index, const char *arg, char *err, size_t errlen);
	int (*opt)(void *fs, const char *key, const char *value, char *err, size_t errlen);
	/* Once the command line is accepted, before anything is mounted or
	 * bound: a nonzero return ends with exit status 1 and err. */
	int (*check)(void *fs, char *err, size_t errlen);
	/* Copied into sgf_server_opts. */
	void *(*fs_new)(void *fs);
	void (*fs_free)(void *fs, void *session_fs);

	/* Room for fields of later versions: zero. */
	uint64_t reserved[8];
};

/* Run a filesystem with the standard command line and return the process
 * exit status (0 ok, 1 runtime error, 2 usage error, with one line on
 * stderr saying why):
 *   PROG [-f] [-o OPT,...] [ARGS...] MOUNTPOINT
 *   PROG --listen unix:PATH [-o OPT,...] [ARGS...]
 *   PROG --vhost-user PATH [-o OPT,...] [ARGS...]
 *   PROG -h | --help | -V | --version
 * Options: max_write=, max_pages=, max_read=, threads=, max_inflight=,
 * allow_other, default_permissions, fsname=, subtype=, stats, stats_file=,
 * debug, the generic mount options mount(8) and fstab pass (ro, rw,
 * nosuid, nodev, noexec, noatime, sync, ... become mount flags; defaults,
 * _netdev, nofail, user, x-*, ... are ignored), plus the filesystem's own. Without -f it goes to the background
 * once mounted (the parent exits with the child's verdict; the child leaves
 * its working directory for / and sends stderr to /dev/null: use absolute
 * paths). It sets umask(0), since modes arrive masked by the requester's
 * umask. Signals as sgf_server_opts.handle_signals. The -o lists are
 * split in place, so argv must be writable (main's is). See sgf_main(3). */
int sgf_main(int argc, char **argv, const struct sgf_ops *ops, size_t ops_size, void *fs);
int sgf_main_ext(int argc, char **argv, const struct sgf_ops *ops, size_t ops_size,
		 void *fs, const struct sgf_main_ext *ext);

#ifdef __cplusplus
}
#endif
#endif
