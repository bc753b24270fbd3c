/* lib/server/mountopt.h - the generic mount(8) options every filesystem
 * type gets (rw, ro, nosuid, noatime, _netdev, x-*, ...): mount.fuse3 and
 * fstab hand them to the daemon with its own. Internal. */
#ifndef SGFUSE_SERVER_MOUNTOPT_H
#define SGFUSE_SERVER_MOUNTOPT_H

#include <stdbool.h>
#include <stdint.h>

/* The MS_* flags a mount starts with before any option: MS_NOSUID | MS_NODEV,
 * as fusermount3 and libfuse have it. */
uint64_t sgf_mountopt_default(void);

/* If opt (value val, NULL for a bare flag) is a generic mount option,
 * apply it to *flags (a kernel one: ro, nosuid, noatime, ...) or ignore it
 * (one only mount(8) uses: defaults, _netdev, nofail, user, x-*, ...) and
 * return true; false for any other option. */
bool sgf_mountopt_apply(const char *opt, const char *val, uint64_t *flags);

#endif
