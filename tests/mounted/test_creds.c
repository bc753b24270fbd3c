/* tests/mounted/test_creds.c - a root daemon acting for other users keeps
 * their whole credentials: supplementary groups count (chgrp to one, access
 * through one, and a mode that denies one), and writing, truncating or
 * fallocating a setuid/setgid file as a non-owner succeeds and clears the
 * bits as Linux does. Every expectation is the bare tmpfs's: each case runs
 * once on a file in the backing directory itself and once on its twin
 * through the mount, by the same user, and the results (errno, mode, group)
 * must match. Run with and without default_permissions. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"

#define USER 4242   /* the acting user, primary group UGID */
#define UGID 4242
#define SUPP 4343   /* a supplementary group of the member */
#define OTHER 4444  /* a group the user is not in */

struct who {
	const char *name;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[2];
};

static const struct who member = { "member", USER, UGID, 2, { SUPP, 4545 } };
static const struct who outsider = { "outsider", USER, UGID, 0, { 0 } };
static const struct who rootw = { "root", 0, 0, 0, { 0 } };

enum op {
	OP_READ,
	OP_RDWR,
	OP_STAT,
	OP_CHGRP,      /* chown(path, -1, arg) */
	OP_WRITE,      /* open O_WRONLY, write 3 bytes at 0 */
	OP_WRITE_DIRECT,
	OP_FTRUNCATE,  /* open O_WRONLY, ftruncate to 1 */
	OP_TRUNCATE,   /* truncate(path, 1) */
	OP_OPEN_TRUNC, /* open O_WRONLY | O_TRUNC */
	OP_FALLOCATE,  /* open O_WRONLY, fallocate 0..8192 */
	OP_CREATE,     /* open O_CREAT | O_EXCL in a directory */
};

static const char *const op_names[] = {
	"read", "rdwr", "stat", "chgrp", "write", "write O_DIRECT", "ftruncate",
	"truncate", "open O_TRUNC", "fallocate", "create",
};

static int do_op(enum op op, const char *path, gid_t arg)
{
	struct stat st;
	void *buf;
	int fd = -1, r = 0;

	switch (op) {
	case OP_READ:
		r = fd = open(path, O_RDONLY);
		break;
	case OP_RDWR:
		r = fd = open(path, O_RDWR);
		break;
	case OP_STAT:
		r = stat(path, &st);
		break;
	case OP_CHGRP:
		r = chown(path, (uid_t)-1, arg);
		break;
	case OP_WRITE:
		if ((r = fd = open(path, O_WRONLY)) >= 0)
			r = pwrite(fd, "new", 3, 0) == 3 ? 0 : -1;
		break;
	case OP_WRITE_DIRECT:
		if (posix_memalign(&buf, 4096, 4096) != 0)
			return ENOMEM;
		memset(buf, 'd', 4096);
		if ((r = fd = open(path, O_WRONLY | O_DIRECT)) >= 0)
			r = pwrite(fd, buf, 4096, 0) == 4096 ? 0 : -1;
		break;
	case OP_FTRUNCATE:
		if ((r = fd = open(path, O_WRONLY)) >= 0)
			r = ftruncate(fd, 1);
		break;
	case OP_TRUNCATE:
		r = truncate(path, 1);
		break;
	case OP_OPEN_TRUNC:
		r = fd = open(path, O_WRONLY | O_TRUNC);
		break;
	case OP_FALLOCATE:
		if ((r = fd = open(path, O_WRONLY)) >= 0)
			r = fallocate(fd, 0, 0, 8192);
		break;
	case OP_CREATE:
		r = fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		break;
	}
	return r < 0 ? errno : 0;
}

/* Do op on path as w in a child; 0 or the errno (125: the child failed). */
static int as(const struct who *w, enum op op, const char *path, gid_t arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		/* The child has one thread: glibc's setgroups is fine here. */
		if (setgroups((size_t)w->ngroups, w->groups) || setresgid(w->gid, w->gid, w->gid) ||
		    setresuid(w->uid, w->uid, w->uid))
			_exit(120);
		_exit(do_op(op, path, arg) & 0x7f);
	}
	int status = h_wait(pid, 20);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 125;
}

struct outcome {
	int err;
	mode_t mode;
	gid_t gid;
};

static struct outcome outcome_of(int err, const char *backing_path)
{
	struct outcome o = { err, 0, 0 };
	struct stat st;

	if (lstat(backing_path, &st) == 0) {
		o.mode = st.st_mode & 07777;
		o.gid = st.st_gid;
	}
	return o;
}

static void make_file(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	REQUIRE(h_write_file(path, "abcdefgh", 8) == 0);
	/* chown first: it would clear the bits chmod sets. */
	REQUIRE(chown(path, uid, gid) == 0 && chmod(path, mode) == 0);
}

static int seq;
static const char *run_opts;

/* One case: a file of mode uid:gid made twice, op done by w on the bare
 * tmpfs and through the mount; the outcomes must be the same. */
static void check_file(const struct who *w, enum op op, mode_t mode, uid_t uid, gid_t gid,
		       gid_t arg)
{
	char name[64], ref[4096], twin[4096], via[4096];

	snprintf(name, sizeof(name), "ref-%d", ++seq);
	H_PATH(ref, h_backing(), name);
	snprintf(name, sizeof(name), "twin-%d", seq);
	H_PATH(twin, h_backing(), name);
	H_PATH(via, h_mnt(), name);
	make_file(ref, mode, uid, gid);
	make_file(twin, mode, uid, gid);
	struct outcome want = outcome_of(as(w, op, ref, arg), ref);
	struct outcome got = outcome_of(as(w, op, via, arg), twin);
	if (op == OP_WRITE_DIRECT && want.err == EINVAL)
		return; /* the backing tmpfs takes no O_DIRECT: nothing to compare */
	if (got.err != want.err || got.mode != want.mode || got.gid != want.gid)
		h_fail(__FILE__, __LINE__,
		       "[%s] %s by %s on %04o %u:%u (arg %u): through the mount %s, mode %04o, "
		       "group %u; on tmpfs %s, mode %04o, group %u",
		       run_opts, op_names[op], w->name, mode, uid, gid, arg,
		       got.err ? strerrorname_np(got.err) : "ok", got.mode, got.gid,
		       want.err ? strerrorname_np(want.err) : "ok", want.mode, want.gid);
}

/* The same for an op on a name inside a directory of mode root:gid. */
static void check_in_dir(const struct who *w, enum op op, mode_t dmode, gid_t gid)
{
	char name[64], ref[4096], twin[4096], via[4096], p[4096];

	snprintf(name, sizeof(name), "refdir-%d", ++seq);
	H_PATH(ref, h_backing(), name);
	snprintf(name, sizeof(name), "twindir-%d", seq);
	H_PATH(twin, h_backing(), name);
	H_PATH(via, h_mnt(), name);
	const char *dirs[] = { ref, twin };
	for (int i = 0; i < 2; i++) {
		REQUIRE(mkdir(dirs[i], 0700) == 0 && chown(dirs[i], 0, gid) == 0 &&
			chmod(dirs[i], dmode) == 0);
		if (op != OP_CREATE)
			make_file(H_PATH(p, dirs[i], "f"), 0644, 0, 0);
	}
	int want = as(w, op, H_PATH(p, ref, "f"), 0);
	int got = as(w, op, H_PATH(p, via, "f"), 0);
	if (got != want)
		h_fail(__FILE__, __LINE__,
		       "[%s] %s by %s in a %04o root:%u directory: through the mount %s, on tmpfs %s",
		       run_opts, op_names[op], w->name, dmode, gid, got ? strerrorname_np(got) : "ok",
		       want ? strerrorname_np(want) : "ok");
}

static void run(const char *opts)
{
	printf("-- %s\n", opts);
	run_opts = opts;
	h_start(opts);

	/* (a) chgrp of one's own file to a supplementary group, and what
	 * Linux does to suid/sgid with it (sgid without group-exec stays when
	 * the owner was in the old group, or is capable). */
	check_file(&member, OP_CHGRP, 0644, USER, UGID, SUPP);
	check_file(&member, OP_CHGRP, 0644, USER, UGID, OTHER);
	check_file(&outsider, OP_CHGRP, 0644, USER, UGID, SUPP);
	check_file(&member, OP_CHGRP, 06775, USER, UGID, SUPP);
	check_file(&member, OP_CHGRP, 06765, USER, OTHER, SUPP);
	check_file(&member, OP_CHGRP, 06765, USER, SUPP, UGID);
	check_file(&rootw, OP_CHGRP, 06765, USER, UGID, OTHER);
	check_file(&rootw, OP_CHGRP, 06775, USER, UGID, OTHER);

	/* (b) access through a supplementary group, and a mode that denies
	 * the group what it gives everyone else. */
	for (enum op op = OP_READ; op <= OP_RDWR; op++) {
		check_file(&member, op, 0660, 0, SUPP, 0);
		check_file(&outsider, op, 0660, 0, SUPP, 0);
		check_file(&member, op, 0606, 0, SUPP, 0);
		check_file(&outsider, op, 0606, 0, SUPP, 0);
	}
	check_in_dir(&member, OP_STAT, 0750, SUPP);
	check_in_dir(&outsider, OP_STAT, 0750, SUPP);
	check_in_dir(&member, OP_CREATE, 0770, SUPP);
	check_in_dir(&outsider, OP_CREATE, 0770, SUPP);

	/* (c) writing to a setuid/setgid file one may write but not own:
	 * succeeds, and the bits go as on tmpfs (sgid without group-exec
	 * stays for a member of the file's group); root keeps them. */
	static const struct {
		mode_t mode;
		gid_t gid;
	} files[] = {
		{ 04775, SUPP }, { 02775, SUPP }, { 06775, SUPP }, { 02765, SUPP },
		{ 04777, OTHER }, { 02777, OTHER }, { 02767, OTHER }, { 06767, OTHER },
	};
	for (enum op op = OP_WRITE; op <= OP_FALLOCATE; op++) {
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			check_file(&member, op, files[i].mode, 0, files[i].gid, 0);
		check_file(&rootw, op, 06777, USER, OTHER, 0);
		check_file(&rootw, op, 06767, USER, OTHER, 0);
	}
	/* Under FUSE passthrough the writes never reach the daemon: say
	 * whether this kernel passed them through. */
	if (h_opts_have("passthrough")) {
		static char stats[65536];
		if (h_stats(stats, sizeof(stats)) == 0)
			printf("files passed through: %llu\n",
			       (unsigned long long)h_stat_count(stats, "passthrough"));
	}
	CHECK_EQ(h_stop(), 0);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 110);
	run("allow_other");
	run("allow_other,default_permissions");
	return h_finish();
}
