/* lib/server/mountopt.c - the generic mount(8) options, as mount.fuse3 and
 * fstab pass them: the kernel's become MS_* flags (later options win, as in
 * mount(8)), the ones only mount(8) and its fstab use are ignored, as
 * libfuse ignores them. */
#include <string.h>
#include <sys/mount.h>
#include "mountopt.h"

#define ATIME (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)

static const struct {
	const char *name;
	uint64_t set, clear;
} kernel_opts[] = {
	{ "ro", MS_RDONLY, 0 },
	{ "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },
	{ "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },
	{ "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 },
	{ "exec", 0, MS_NOEXEC },
	{ "sync", MS_SYNCHRONOUS, 0 },
	{ "async", 0, MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC, 0 },
	/* The atime modes exclude each other: each names the whole mode. */
	{ "noatime", MS_NOATIME, ATIME },
	{ "relatime", MS_RELATIME, ATIME },
	{ "strictatime", MS_STRICTATIME, ATIME },
	{ "atime", 0, MS_NOATIME },
	{ "norelatime", 0, MS_RELATIME },
	{ "nostrictatime", 0, MS_STRICTATIME },
	{ "nodiratime", MS_NODIRATIME, 0 },
	{ "diratime", 0, MS_NODIRATIME },
	{ "lazytime", MS_LAZYTIME, 0 },
	{ "nolazytime", 0, MS_LAZYTIME },
	{ "nosymfollow", MS_NOSYMFOLLOW, 0 },
	{ "symfollow", 0, MS_NOSYMFOLLOW },
};

/* Read by mount(8) itself (fstab, utab, the order of boot); meaningless
 * to the kernel and to us. */
static const char *const userspace_opts[] = {
	"defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group",
	"nofail", "_netdev",
};

uint64_t sgf_mountopt_default(void)
{
	return MS_NOSUID | MS_NODEV;
}

bool sgf_mountopt_apply(const char *opt, const char *val, uint64_t *flags)
{
	/* x-*: any userspace application's; comment=: old fstab annotations;
	 * user=NAME: libmount names the mounting user to its helpers. */
	if (!strncmp(opt, "x-", 2) || (val && (!strcmp(opt, "comment") || !strcmp(opt, "user"))))
		return true;
	if (val)
		return false;
	for (size_t i = 0; i < sizeof(userspace_opts) / sizeof(userspace_opts[0]); i++)
		if (!strcmp(opt, userspace_opts[i]))
			return true;
	for (size_t i = 0; i < sizeof(kernel_opts) / sizeof(kernel_opts[0]); i++) {
		if (strcmp(opt, kernel_opts[i].name) != 0)
			continue;
		*flags = (*flags & ~kernel_opts[i].clear) | kernel_opts[i].set;
		return true;
	}
	return false;
}
