/* tests/mounted/test_perms.c - other users on a root daemon's mount: kept out
 * without allow_other; with it, modes hold (kernel- or daemon-checked) and
 * what they create is theirs in the backing directory. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"

#define NOBODY 65534

enum act { STAT_ROOT, READ_FILE, WRITE_FILE, CREATE_FILE, MKDIR_DIR, SYMLINK_LINK, TOUCH_NOW,
	   SET_TIMES };

/* Do act on path as NOBODY; returns 0 or the errno. */
static int as_nobody(enum act a, const char *path)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
			_exit(120);
		int r = 0;
		struct stat st;
		switch (a) {
		case STAT_ROOT:
			r = stat(path, &st);
			break;
		case READ_FILE:
			r = open(path, O_RDONLY);
			break;
		case WRITE_FILE:
			r = open(path, O_WRONLY);
			break;
		case CREATE_FILE:
			r = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
			break;
		case MKDIR_DIR:
			r = mkdir(path, 0755);
			break;
		case SYMLINK_LINK:
			r = symlink("target", path);
			break;
		case TOUCH_NOW: /* touch(1): any writer may */
			r = utimensat(AT_FDCWD, path, NULL, 0);
			break;
		case SET_TIMES: { /* other times: only the owner */
			struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
			r = utimensat(AT_FDCWD, path, ts, 0);
			break;
		}
		}
		_exit(r < 0 ? (errno & 0x7f) : 0);
	}
	int status = h_wait(pid, 20);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 125;
}

#define CHECK_AS_NOBODY(act, path, want) do { \
	int r_ = as_nobody((act), (path)); \
	if (r_ != (want)) \
		h_fail(__FILE__, __LINE__, "%s as uid %d on %s: %s, want %s", #act, NOBODY, \
		       (path), r_ ? strerrorname_np(r_) : "ok", \
		       (want) ? strerrorname_np(want) : "ok"); \
} while (0)

static char secret[4096], shared[4096], open_dir[4096], writable[4096];

static void setup_tree(void)
{
	H_PATH(secret, h_backing(), "secret");
	H_PATH(shared, h_backing(), "shared");
	H_PATH(open_dir, h_backing(), "open");
	REQUIRE(h_write_file(secret, "s", 1) == 0 && chmod(secret, 0600) == 0);
	REQUIRE(h_write_file(shared, "r", 1) == 0 && chmod(shared, 0644) == 0);
	REQUIRE(mkdir(open_dir, 0777) == 0 && chmod(open_dir, 0777) == 0);
	H_PATH(writable, h_backing(), "writable");
	REQUIRE(h_write_file(writable, "w", 1) == 0 && chmod(writable, 0666) == 0);
}

static void check_owner(const char *name, bool dir)
{
	char path[4096];
	struct stat st;
	if (lstat(H_PATH(path, h_backing(), name), &st) != 0) {
		h_fail(__FILE__, __LINE__, "%s missing in the backing dir", name);
		return;
	}
	if (st.st_uid != NOBODY || st.st_gid != NOBODY)
		h_fail(__FILE__, __LINE__, "%s%s created by %d is owned by %u:%u in the backing dir",
		       name, dir ? "/" : "", NOBODY, st.st_uid, st.st_gid);
}

/* The same checks through the mount with a given option set. */
static void run(const char *opts, bool fs_checks)
{
	char m_secret[4096], m_shared[4096], path[4096];
	printf("-- %s\n", opts);
	h_start(opts);
	H_PATH(m_secret, h_mnt(), "secret");
	H_PATH(m_shared, h_mnt(), "shared");
	CHECK_AS_NOBODY(STAT_ROOT, h_mnt(), 0);
	CHECK_AS_NOBODY(READ_FILE, m_shared, 0);
	CHECK_AS_NOBODY(WRITE_FILE, m_shared, EACCES);
	if (fs_checks)
		CHECK_AS_NOBODY(READ_FILE, m_secret, EACCES);
	CHECK_AS_NOBODY(CREATE_FILE, H_PATH(path, h_mnt(), "not-mine"), EACCES);
	/* Times of a file one may write but does not own. */
	CHECK_AS_NOBODY(TOUCH_NOW, H_PATH(path, h_mnt(), "writable"), 0);
	CHECK_AS_NOBODY(SET_TIMES, path, EPERM);
	CHECK_AS_NOBODY(TOUCH_NOW, m_shared, EACCES);

	char name[64];
	snprintf(name, sizeof(name), "open/file-%s", opts);
	CHECK_AS_NOBODY(CREATE_FILE, H_PATH(path, h_mnt(), name), 0);
	check_owner(name, false);
	/* The creator can open its own file again. */
	CHECK_AS_NOBODY(WRITE_FILE, path, 0);
	snprintf(name, sizeof(name), "open/dir-%s", opts);
	CHECK_AS_NOBODY(MKDIR_DIR, H_PATH(path, h_mnt(), name), 0);
	check_owner(name, true);
	snprintf(name, sizeof(name), "open/link-%s", opts);
	CHECK_AS_NOBODY(SYMLINK_LINK, H_PATH(path, h_mnt(), name), 0);
	check_owner(name, false);
	CHECK_EQ(h_stop(), 0);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 110);
	setup_tree();

	/* Without allow_other the kernel keeps everyone but the mounter out. */
	h_start("");
	CHECK_AS_NOBODY(STAT_ROOT, h_mnt(), EACCES);
	CHECK_EQ(h_stop(), 0);

	/* The kernel checks modes... */
	run("allow_other,default_permissions", true);
	/* ...or, without default_permissions, the filesystem must. */
	run("allow_other", true);
	return h_finish();
}
