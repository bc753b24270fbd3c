/* sgfuse/ceph.h - a filesystem that serves a Ceph file system (CephFS)
 * through sgf_ops, on libcephfs's low-level API. One sgf_ceph is one Ceph
 * client (one mount of the cluster); each session served gets its own node
 * and handle tables on it (sgf_ceph_session_new), so lookup counts stay
 * exact per requester. Data operations are handed to a bounded pool of
 * backend threads and answered from there (libcephfs has no non-blocking
 * vectored I/O), so the server's workers keep receiving meanwhile; a packed
 * READ or WRITE is one ceph_ll_readv / ceph_ll_writev on the request's own
 * buffers. Each request runs with the requester's uid and gid (no
 * supplementary groups), so Ceph's permission checks hold. Changes other
 * Ceph clients make reach the kernel as notifications: libcephfs reports
 * dropped data caches and dentry leases, and we invalidate the same pages
 * and names. */
#ifndef SGFUSE_CEPH_H
#define SGFUSE_CEPH_H

#include <stdio.h>
#include <sgfuse/server.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sgf_ceph_opts {
	const char *conf;        /* ceph.conf to read; NULL: libcephfs's search */
	const char *id;          /* client id (client.ID); NULL: "admin" */
	const char *fs_name;     /* file system to mount; NULL: the default one */
	const char *root;        /* directory of it to serve; NULL: "/" */
	unsigned backend_threads; /* data-op threads; 0: 16 */
	double entry_timeout;    /* seconds the kernel may cache names; 0 means
	                          * the default 1.0, <0 no caching */
	double attr_timeout;     /* ... and attributes; 0 means the default 1.0 */
	/* Ceph settings applied after conf (e.g. "rados_osd_op_timeout",
	 * "5"): pairs, key then value, n_conf_set pairs. */
	const char *const *conf_set;
	unsigned n_conf_set;
};

struct sgf_ceph;

/* Make a client for the cluster opts names (opts and its strings are
 * copied). Nothing is contacted yet: the first session's init connects
 * (sgf_ceph_connect), so a program that forks into the background (as
 * sgf_main does once mounted) keeps libcephfs's threads. 0 and *out,
 * -EINVAL (bad option), -ENOMEM. */
int sgf_ceph_new(struct sgf_ceph **out, const struct sgf_ceph_opts *opts);
/* Connect and mount the file system: once connected, later calls return
 * 0 at once; after a failure the next call tries again. 0, or -errno with
 * a one-line reason in err (what failed and Ceph's word for it): -ENOENT (no conf file, no such root), -ETIMEDOUT
 * or -ENOTCONN (no monitor answered within client_mount_timeout), -EACCES
 * or -EPERM (cephx refused), -EINVAL (a bad setting). */
int sgf_ceph_connect(struct sgf_ceph *c, char *err, size_t errlen);
/* Unmount (if connected) and free; 0. Every session must be freed first.
 * With the cluster's OSDs or MDSs gone the unmount may never end: it is
 * waited for client_shutdown_timeout + 5 s, then the client is left as it
 * is, a line on stderr says so and -ETIMEDOUT is returned: libcephfs's
 * threads still run, so end the process with _exit(2) (exit(3) would run
 * its static destructors under them). */
int sgf_ceph_free(struct sgf_ceph *c);

/* A session's filesystem pointer (sgf_server_opts.fs_new): NULL and errno
 * on failure. Free it (sgf_server_opts.fs_free) after the session's
 * destroy: the references its requester held are returned to Ceph. */
void *sgf_ceph_session_new(struct sgf_ceph *c);
void sgf_ceph_session_free(void *session_fs);

/* The operations table; each session's fs pointer is what
 * sgf_ceph_session_new made. Its stats op is NULL: that one gets the
 * server's fs pointer, so a program that wants the Ceph counters in the
 * statistics sets it to a function calling sgf_ceph_stats_print. */
const struct sgf_ops *sgf_ceph_ops(void);

/* Counters of the Ceph client, one "NAME N" line each (the
 * sgf_stats_print(3) format): ceph_ll_readv, ceph_ll_writev (calls),
 * ceph_read_bytes, ceph_write_bytes, ceph_notify_inode, ceph_notify_entry
 * (notifications sent), backend_queue_max (most data ops waiting). */
void sgf_ceph_stats_print(struct sgf_ceph *c, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
