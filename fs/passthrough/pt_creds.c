/* fs/passthrough/pt_creds.c - acting as the requester: a root daemon takes
 * the requester's uid/gid as this thread's fsuid/fsgid around each op that
 * checks permissions or makes objects, so the backing fs enforces modes and
 * new objects belong to their creator. Linux keeps fs credentials per
 * thread; the raw syscalls change only the calling worker. */
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "pt.h"

static uid_t fsuid_now(void)
{
	/* An invalid id changes nothing and returns the current one. */
	return (uid_t)syscall(SYS_setfsuid, (uid_t)-1);
}

static gid_t fsgid_now(void)
{
	return (gid_t)syscall(SYS_setfsgid, (gid_t)-1);
}

static void restore(const struct sgf_passthrough *pt)
{
	syscall(SYS_setfsuid, pt->daemon_uid);
	syscall(SYS_setfsgid, pt->daemon_gid);
}

int pt_creds_enter(const struct sgf_passthrough *pt, const struct sgf_req *r, bool *switched)
{
	*switched = false;
	if (!pt->act_as_requester || (r->uid == pt->daemon_uid && r->gid == pt->daemon_gid))
		return 0;
	/* The daemon's supplementary groups must not lend the requester
	 * access (we do not know the requester's). Dropped for this thread
	 * for good: with fsuid 0 the daemon's capabilities make them moot. */
	if (getgroups(0, NULL) != 0 && syscall(SYS_setgroups, 0, NULL) != 0)
		return -EPERM;
	syscall(SYS_setfsgid, (gid_t)r->gid);
	syscall(SYS_setfsuid, (uid_t)r->uid);
	*switched = true;
	if (fsuid_now() != r->uid || fsgid_now() != r->gid) {
		/* Never go on with more rights than the requester has. */
		restore(pt);
		*switched = false;
		return -EPERM;
	}
	return 0;
}

void pt_creds_leave(const struct sgf_passthrough *pt, bool switched)
{
	if (switched)
		restore(pt);
}

void pt_creds_suspend(const struct sgf_passthrough *pt, struct pt_creds_saved *saved)
{
	saved->uid = fsuid_now();
	saved->gid = fsgid_now();
	saved->changed = saved->uid != pt->daemon_uid || saved->gid != pt->daemon_gid;
	if (saved->changed)
		restore(pt);
}

void pt_creds_resume(const struct sgf_passthrough *pt, const struct pt_creds_saved *saved)
{
	(void)pt;
	if (saved->changed) {
		syscall(SYS_setfsgid, saved->gid);
		syscall(SYS_setfsuid, saved->uid);
	}
}
