/* fs/passthrough/pt_creds.c - acting as the requester: a root daemon takes
 * the requester's uid/gid as this thread's fsuid/fsgid, and its
 * supplementary groups as this thread's, around each op that checks
 * permissions or makes objects, so the backing fs enforces modes (group
 * bits and ACL group entries included) and new objects belong to their
 * creator. Linux keeps credentials per thread; the raw syscalls change only
 * the calling worker (glibc's setgroups() would change every thread of the
 * daemon: it broadcasts like setuid() does).
 *
 * Where the groups come from. The kernel sends the requester's fsuid,
 * fsgid and thread id, not its supplementary groups; /proc/TID/status has
 * them (the Groups: line), read once per op, never cached (a thread may
 * call setgroups() between two requests). Why that is safe:
 *  - The thread is blocked in the request while we serve it, so the
 *    status is its current credentials. The Uid:/Gid: lines of the same
 *    read (one snapshot of one cred) must show the request's fsuid and
 *    fsgid, or the groups are not taken.
 *  - The requester may have been killed meanwhile and its tid reused. A
 *    new thread with other ids fails the check above. One with the same
 *    fsuid and fsgid lends its groups to the dead requester's op: groups
 *    that user's own process holds, so nothing the user could not do.
 *  - pid 0 (the requester is outside the mount's pid namespace, or the
 *    kernel itself), an unreadable status or a mismatch: no supplementary
 *    groups, as before this was read. That can only refuse access, or
 *    grant what a mode gives "other" but denies the group (0705).
 *  - The list is bounded by the kernel's own NGROUPS_MAX, read whole or
 *    not at all (a cut list would be the 0705 case again).
 * Reading the status costs an open and a read per op (about 12 us on a
 * slow VM, where a LOOKUP's round trip is 40 us); setgroups() is skipped
 * when the worker holds the list already. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "pt.h"

/* The kernel's NGROUPS_MAX (<linux/limits.h>): setgroups() takes no more. */
#define PT_NGROUPS_MAX 65536
/* A status with NGROUPS_MAX groups of 10 digits fits. */
#define PT_STATUS_MAX (1u << 20)

#ifdef SYS_setgroups32
#define PT_SYS_SETGROUPS SYS_setgroups32 /* 32-bit gid_t on 16-bit-id ABIs */
#else
#define PT_SYS_SETGROUPS SYS_setgroups
#endif

/* The supplementary groups this worker holds: tl_ngroups -1 unknown (at
 * first, the daemon's own), else the last requester's, kept after its op
 * so a run of one user's ops sets them once; tl_groups has the list when
 * it fits. */
static _Thread_local int tl_ngroups = -1;
static _Thread_local gid_t tl_groups[PT_GROUPS_INLINE];
/* The op this worker serves as a requester, between enter and leave. */
static _Thread_local struct pt_creds *tl_current;

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

static int set_groups(int n, const gid_t *list)
{
	/* The kernel keeps the list sorted, and so does /proc. */
	if (n == tl_ngroups && n <= PT_GROUPS_INLINE &&
	    (n == 0 || memcmp(list, tl_groups, (size_t)n * sizeof(gid_t)) == 0))
		return 0;
	if (syscall(PT_SYS_SETGROUPS, (size_t)n, list) != 0) {
		tl_ngroups = -1;
		return -errno;
	}
	tl_ngroups = n <= PT_GROUPS_INLINE ? n : -1;
	if (n > 0 && n <= PT_GROUPS_INLINE)
		memcpy(tl_groups, list, (size_t)n * sizeof(gid_t));
	return 0;
}

/* The value after "\nKEY:" in s, or NULL. */
static const char *field(const char *s, const char *key)
{
	size_t len = strlen(key);

	for (const char *p = s; (p = strchr(p, '\n')) != NULL;) {
		p++;
		if (strncmp(p, key, len) == 0)
			return p + len;
	}
	return NULL;
}

/* The fourth number (the fs id) of a Uid:/Gid: line. */
static bool fs_id(const char *s, const char *key, unsigned long *id)
{
	const char *p = field(s, key);
	char *end;

	if (!p)
		return false;
	for (int i = 0; i < 4; i++) {
		errno = 0;
		*id = strtoul(p, &end, 10);
		if (end == p || errno)
			return false;
		p = end;
	}
	return true;
}

/* Parse the Groups: line of status s into g (list already sized by the
 * caller for count). false if malformed. */
static bool parse_groups(const char *p, struct pt_groups *g, size_t count)
{
	size_t n = 0;

	for (;;) {
		char *end;
		unsigned long v;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n' || *p == '\0')
			break;
		errno = 0;
		v = strtoul(p, &end, 10);
		if (end == p || errno || v > UINT32_MAX || n == count)
			return false;
		g->list[n++] = (gid_t)v;
		p = end;
	}
	g->n = (int)n;
	return true;
}

static bool take_groups(const char *status, const struct sgf_req *r, struct pt_groups *g)
{
	unsigned long uid, gid;
	const char *p, *eol;
	size_t count = 0;

	if (!fs_id(status, "Uid:", &uid) || !fs_id(status, "Gid:", &gid) || uid != r->uid ||
	    gid != r->gid)
		return false;
	p = field(status, "Groups:");
	if (!p || !(eol = strchr(p, '\n')))
		return false;
	/* Numbers are separated by blanks: at most one per two bytes. */
	count = (size_t)(eol - p + 1) / 2;
	if (count > PT_NGROUPS_MAX)
		count = PT_NGROUPS_MAX;
	if (count > PT_GROUPS_INLINE) {
		g->list = malloc(count * sizeof(gid_t));
		if (!g->list) {
			g->list = g->inline_;
			return false;
		}
	}
	if (parse_groups(p, g, count))
		return true;
	pt_groups_free(g);
	return false;
}

void pt_groups_free(struct pt_groups *g)
{
	if (g->list != g->inline_)
		free(g->list);
	g->list = g->inline_;
	g->n = 0;
}

int pt_groups_read(const struct sgf_passthrough *pt, const struct sgf_req *r,
		   struct pt_groups *g)
{
	char small[4096], path[64], *buf = small;
	size_t cap = sizeof(small);
	bool ok = false;
	int fd;

	g->n = 0;
	g->list = g->inline_;
	if (r->pid == 0)
		return 0;
	if (pt->proc_fd >= 0) {
		snprintf(path, sizeof(path), "%u/status", r->pid);
		fd = openat(pt->proc_fd, path, O_RDONLY | O_CLOEXEC);
	} else {
		snprintf(path, sizeof(path), "/proc/%u/status", r->pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return 0;
	for (;;) {
		/* One read from offset 0 is one snapshot of the task. */
		ssize_t n = pread(fd, buf, cap - 1, 0);

		if (n < 0)
			break;
		buf[n] = '\0';
		const char *groups = field(buf, "Groups:");
		if (groups && strchr(groups, '\n')) {
			ok = take_groups(buf, r, g);
			break;
		}
		if ((size_t)n < cap - 1 || cap >= PT_STATUS_MAX)
			break; /* no Groups: line at all */
		/* A long Groups: line: read again into a larger buffer. */
		char *bigger = malloc(cap * 4);
		if (!bigger)
			break;
		if (buf != small)
			free(buf);
		buf = bigger;
		cap *= 4;
	}
	if (buf != small)
		free(buf);
	close(fd);
	return ok ? g->n : 0;
}

bool pt_requester_in_group(const struct sgf_passthrough *pt, const struct sgf_req *r, gid_t gid)
{
	struct pt_groups own;
	const struct pt_groups *g;
	bool in = false;

	if (gid == r->gid)
		return true;
	/* Inside enter/leave for r the groups were read already. */
	if (tl_current && tl_current->r == r) {
		g = &tl_current->groups;
	} else {
		pt_groups_read(pt, r, &own);
		g = &own;
	}
	for (int i = 0; i < g->n && !in; i++)
		in = g->list[i] == gid;
	if (g == &own)
		pt_groups_free(&own);
	return in;
}

int pt_creds_enter(const struct sgf_passthrough *pt, const struct sgf_req *r, struct pt_creds *c)
{
	int err;

	c->r = r;
	c->switched = false;
	c->groups.n = 0;
	c->groups.list = c->groups.inline_;
	if (!pt->act_as_requester || (r->uid == pt->daemon_uid && r->gid == pt->daemon_gid))
		return 0;
	/* Read as the daemon, before the fs ids change (a hidepid /proc lets
	 * root in, the requester's ids maybe not). */
	pt_groups_read(pt, r, &c->groups);
	/* The requester's groups replace the daemon's own (which must not
	 * lend it access) or the previous requester's. Never go on without
	 * them: fewer groups can grant more (mode 0705 denies the group). */
	err = set_groups(c->groups.n, c->groups.list);
	if (err) {
		pt_groups_free(&c->groups);
		return -EPERM;
	}
	syscall(SYS_setfsgid, (gid_t)r->gid);
	syscall(SYS_setfsuid, (uid_t)r->uid);
	c->switched = true;
	if (fsuid_now() != r->uid || fsgid_now() != r->gid) {
		/* Never go on with more rights than the requester has. */
		pt_creds_leave(pt, c);
		return -EPERM;
	}
	tl_current = c;
	return 0;
}

void pt_creds_leave(const struct sgf_passthrough *pt, struct pt_creds *c)
{
	if (tl_current == c)
		tl_current = NULL;
	if (c->switched) {
		restore(pt);
		/* And no one's groups on the thread while it acts as the
		 * daemon: root's capabilities make them moot on a local
		 * backing fs, but not where root is squashed (NFS), where
		 * they would lend this requester's group access to the next
		 * op run as the daemon. A failure leaves them to the next
		 * requester's enter, which replaces them or fails. */
		if (set_groups(0, NULL) != 0) {
		}
		c->switched = false;
	}
	pt_groups_free(&c->groups);
}

void pt_creds_suspend(const struct sgf_passthrough *pt, struct pt_creds_saved *saved)
{
	saved->uid = fsuid_now();
	saved->gid = fsgid_now();
	saved->changed = saved->uid != pt->daemon_uid || saved->gid != pt->daemon_gid;
	saved->groups = NULL;
	if (saved->changed)
		restore(pt);
	/* A backing file registered now keeps these credentials for every
	 * later user: no one's supplementary groups in them, neither this
	 * requester's nor those an earlier op left on the thread. */
	if (tl_ngroups != 0 && set_groups(0, NULL) == 0 && tl_current && tl_current->switched)
		saved->groups = &tl_current->groups;
}

void pt_creds_resume(const struct sgf_passthrough *pt, const struct pt_creds_saved *saved)
{
	(void)pt;
	if (saved->groups)
		set_groups(saved->groups->n, saved->groups->list);
	if (saved->changed) {
		syscall(SYS_setfsgid, saved->gid);
		syscall(SYS_setfsuid, saved->uid);
	}
}
