/* lib/server/mount.h - attach a /dev/fuse session to a directory and detach
 * it: mount(2) when we are root, fusermount3 (and its comm-fd protocol) when
 * not. Internal; the server object mounts. */
#ifndef SGFUSE_SERVER_MOUNT_H
#define SGFUSE_SERVER_MOUNT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sgf_mount_opts {
	const char *source;        /* shown in /proc/mounts; default "sgfuse" */
	const char *subtype;       /* fuse.SUBTYPE; default none */
	bool allow_other;
	bool default_permissions;
	uint32_t max_read;         /* 0: not passed */
	unsigned long flags;       /* MS_* of SGF_MOUNT_FLAGS */
	bool suid, dev;            /* drop MS_NOSUID, MS_NODEV */
	bool force_fusermount;     /* use fusermount3 even as root (tests) */
};

/* The MS_* flags a mount may be asked for (sgf_server_opts.mount_flags). */
#define SGF_MOUNT_FLAGS (MS_RDONLY | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC | MS_NOATIME | \
			 MS_RELATIME | MS_STRICTATIME | MS_NODIRATIME | MS_LAZYTIME | \
			 MS_NOSYMFOLLOW)

/* Open /dev/fuse and mount it on mountpoint. Returns the /dev/fuse fd or a
 * negative errno (-ENOTDIR, -ENOENT, -EPERM, ...); nothing stays mounted on
 * failure. */
int sgf_mount(const char *mountpoint, const struct sgf_mount_opts *mo);

/* Unmount mountpoint (lazily if it is busy). 0 or -errno. */
int sgf_unmount(const char *mountpoint);

#ifdef __cplusplus
}
#endif
#endif
