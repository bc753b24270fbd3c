/* fs/passthrough/pt_killpriv.c - clearing suid and sgid where the kernel
 * would, under FUSE_HANDLE_KILLPRIV_V2. Without it the kernel clears them
 * itself with a SETATTR of the mode sent as the writer, which the backing
 * fs refuses to a non-owner (the write then fails with EPERM); with it the
 * kernel flags the ops instead and we clear the bits as the daemon:
 *  - WRITE with FUSE_WRITE_KILL_SUIDGID (the writer lacks CAP_FSETID; also
 *    sent on FOPEN_DIRECT_IO files whatever was agreed),
 *  - SETATTR with FATTR_KILL_SUIDGID: a truncate by a writer without
 *    CAP_FSETID, or any chown of a non-directory,
 *  - OPEN/CREATE with FUSE_OPEN_KILL_SUIDGID (O_TRUNC of an existing file),
 *  - FALLOCATE, which carries no flag: the kernel's file_modified() before
 *    it becomes an empty SETATTR under killpriv_v2, and nothing says the
 *    caller lacks CAP_FSETID, so fsuid 0 stands for it (pt_fileops.c),
 *  - the empty SETATTR itself (no attribute to change): the kernel's
 *    file_remove_privs() of a caller it judged without CAP_FSETID, the only
 *    trace left by a write to a file under FUSE passthrough, which never
 *    reaches us (pt_attr.c).
 * Which bits follow setattr_should_drop_suidgid() and
 * setattr_should_drop_sgid() (fs/attr.c, Linux 6.x): suid always; sgid
 * when group-exec is set (a real setgid program), or when the caller is
 * neither in the file's group nor has CAP_FSETID; regular files only.
 * The mode is read and written back without the kernel's inode lock: a
 * chmod racing a write may be undone by it, as between two chmods. */
#include <errno.h>
#include <sys/stat.h>
#include "pt.h"

static mode_t to_drop(const struct sgf_passthrough *pt, const struct sgf_req *r,
		      const struct stat *st, bool capable)
{
	mode_t mode = st->st_mode, drop = 0;

	if (!S_ISREG(mode))
		return 0;
	if (mode & S_ISUID)
		drop |= S_ISUID;
	if ((mode & S_ISGID) &&
	    ((mode & S_IXGRP) || (!capable && !pt_requester_in_group(pt, r, st->st_gid))))
		drop |= S_ISGID;
	return drop;
}

int pt_kill_suidgid(const struct sgf_req *r, int fd, bool o_path, bool capable)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_creds_saved saved;
	char path[PT_PROC_PATH_MAX];
	struct stat st;
	mode_t drop;
	int err;

	if (fstat(fd, &st) < 0)
		return -errno;
	drop = to_drop(pt, r, &st, capable);
	if (!drop)
		return 0;
	/* As the daemon: the writer need not own the file. */
	pt_creds_suspend(pt, &saved);
	if (o_path) {
		pt_proc_path(path, fd);
		err = chmod(path, st.st_mode & 07777 & ~drop) < 0 ? -errno : 0;
	} else {
		err = fchmod(fd, st.st_mode & 07777 & ~drop) < 0 ? -errno : 0;
	}
	pt_creds_resume(pt, &saved);
	return err;
}
