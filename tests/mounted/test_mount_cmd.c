/* tests/mounted/test_mount_cmd.c - mounting as users do: mount(8) with
 * -t fuse.sgfuse-passthrough and an fstab line (a private file, -T) run
 * /sbin/mount.fuse3, which starts the daemon without -f and with mount(8)'s
 * generic options. The kernel ones must reach the mount (mountinfo shows
 * them, ro gives EROFS, no nosuid asked for gives a suid mount as mount(8)
 * and libfuse have it), the userspace ones must be ignored, mount(8) must
 * return only once the mount is up, umount must end the daemon, and an
 * unknown option must still fail with nothing left mounted.
 *
 * mount(8) drops PATH before it runs the helper, so the daemon is found in
 * the shell's default PATH: the test binds a directory holding a link to
 * argv[1] on /usr/local/sbin, in the harness's private mount namespace
 * (gone with the test), and a tmpfs on /run/mount so libmount's utab stays
 * private too. Skips (77) without mount(8) or mount.fuse3. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"

#define HELPER_DIR "/usr/local/sbin"
#define UTAB_DIR "/run/mount"

static char err_path[PATH_MAX];

/* Run mount(8) or umount(8) with args; its stderr goes to err_path. */
static int run_cmd(const char *const args[])
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			dup2(fd, 2), dup2(fd, 1);
		execvp(args[0], (char *const *)args);
		_exit(127);
	}
	int code = h_exit_code(h_wait(pid, 60));
	if (code != 0) {
		char msg[2048];
		if (h_read_file(err_path, msg, sizeof(msg)) > 0)
			fprintf(stderr, "%s said: %s", args[0], msg);
	}
	return code;
}

/* The per-mount options (field 6 of mountinfo) of the mount on path. */
static bool mount_opts(const char *path, char *opts, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mp[PATH_MAX], o[1000];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s %999s", mp, o) == 2 &&
		    strcmp(mp, path) == 0) {
			snprintf(opts, size, ",%s,", o);
			found = true;
		}
	if (f)
		fclose(f);
	return found;
}

static bool has_opt(const char *opts, const char *word)
{
	char w[64];
	snprintf(w, sizeof(w), ",%s,", word);
	return strstr(opts, w) != NULL;
}

/* The daemon mount.fuse3 started: in the background, no child of mount(8)
 * any more but ours (we are the subreaper), found by the mountpoint on its
 * command line. */
static pid_t daemon_pid(void)
{
	pid_t pids[4];
	int n = h_find_pids(h_mnt(), pids, 4);
	return n == 1 ? pids[0] : -1;
}

/* What every mounted case checks: the mount is up the moment mount(8)
 * returned, with the flags asked for; data goes through (or EROFS); umount
 * ends the daemon with status 0. */
static void check_mounted(const char *what, bool ro, bool nosuid_nodev)
{
	char opts[1024], path[PATH_MAX], back[PATH_MAX], buf[64];

	fprintf(stderr, "-- %s\n", what);
	if (!h_fuse_mounted(h_mnt(), NULL, 0) || !mount_opts(h_mnt(), opts, sizeof(opts))) {
		h_fail(__FILE__, __LINE__, "%s: not mounted when mount(8) returned", what);
		return;
	}
	pid_t pid = daemon_pid();
	CHECK(pid > 0);
	/* mount(8) semantics, which mount.fuse3 keeps by adding suid,dev
	 * unless told nosuid / nodev, and libfuse honours as root. */
	CHECK(has_opt(opts, "nosuid") == nosuid_nodev);
	CHECK(has_opt(opts, "nodev") == nosuid_nodev);
	CHECK(has_opt(opts, ro ? "ro" : "rw"));
	if (!ro)
		CHECK(has_opt(opts, "noatime"));
	if (h_failed())
		fprintf(stderr, "%s: mount options %s\n", what, opts);
	H_PATH(path, h_mnt(), ro ? "seed" : "new");
	H_PATH(back, h_backing(), ro ? "seed" : "new");
	if (ro) {
		CHECK_ERR(open(path, O_WRONLY | O_TRUNC), EROFS);
		H_PATH(path, h_mnt(), "other");
		CHECK_ERR(open(path, O_WRONLY | O_CREAT, 0644), EROFS);
		H_PATH(path, h_mnt(), "seed");
	} else {
		CHECK_OK(h_write_file(path, "through mount(8)", 16));
	}
	CHECK_EQ(h_read_file(path, buf, sizeof(buf)), 16);
	CHECK_EQ(h_read_file(back, buf, sizeof(buf)), 16);
	CHECK(memcmp(buf, "through mount(8)", 16) == 0);
	unlink(back);

	const char *umount[] = { "umount", h_mnt(), NULL };
	CHECK_EQ(run_cmd(umount), 0);
	CHECK(!h_mounted(h_mnt()));
	if (pid > 0)
		CHECK_EQ(h_exit_code(h_wait(pid, 30)), 0);
}

int main(int argc, char **argv)
{
	char bin[PATH_MAX], link[PATH_MAX], fstab[PATH_MAX], line[3 * PATH_MAX], seed[PATH_MAX];

	h_init(argc, argv, 110);
	if (access("/sbin/mount.fuse3", X_OK) != 0 && access("/usr/sbin/mount.fuse3", X_OK) != 0) {
		printf("SKIP: no mount.fuse3 (Debian's fuse3 package)\n");
		exit(h_finish() ? 1 : H_EXIT_SKIP);
	}
	H_PATH(err_path, h_root(), "mount.err");
	H_PATH(bin, h_root(), "bin");
	H_PATH(link, bin, "sgfuse-passthrough");
	REQUIRE(mkdir(bin, 0755) == 0 && symlink(h_daemon(), link) == 0);
	REQUIRE(mount(bin, HELPER_DIR, NULL, MS_BIND, NULL) == 0);
	REQUIRE(mount("sgfuse-test-utab", UTAB_DIR, "tmpfs", 0, "mode=0755") == 0);
	/* The daemon leaves mount.fuse3 for the background: be its parent
	 * then, to see how it ends. */
	REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	H_PATH(seed, h_backing(), "seed");
	REQUIRE(h_write_file(seed, "through mount(8)", 16) == 0);

	const char *rw[] = { "mount", "-t", "fuse.sgfuse-passthrough", h_backing(), h_mnt(),
			     "-o", "rw,nosuid,nodev,noatime,max_pages=1", NULL };
	if (run_cmd(rw) == 0)
		check_mounted("-o rw,nosuid,nodev,noatime,max_pages=1", false, true);
	else
		h_fail(__FILE__, __LINE__, "mount -o rw,... failed");
	h_write_file(seed, "through mount(8)", 16);

	const char *ro[] = { "mount", "-t", "fuse.sgfuse-passthrough", h_backing(), h_mnt(),
			     "-o", "ro", NULL };
	if (run_cmd(ro) == 0)
		check_mounted("-o ro", true, false);
	else
		h_fail(__FILE__, __LINE__, "mount -o ro failed");
	h_write_file(seed, "through mount(8)", 16);

	/* The options an fstab line carries, userspace ones included. */
	H_PATH(fstab, h_root(), "fstab");
	snprintf(line, sizeof(line),
		 "# a private fstab\n%s %s fuse.sgfuse-passthrough "
		 "rw,nosuid,nodev,noatime,max_pages=1,noauto,nofail,_netdev,x-sgfuse.test=1 0 0\n",
		 h_backing(), h_mnt());
	REQUIRE(h_write_file(fstab, line, strlen(line)) == 0);
	const char *tab[] = { "mount", "-T", fstab, h_mnt(), NULL };
	if (run_cmd(tab) == 0)
		check_mounted("fstab line", false, true);
	else
		h_fail(__FILE__, __LINE__, "mount -T %s failed", fstab);

	/* An option nobody knows: refused, nothing mounted, no daemon. */
	fprintf(stderr, "-- unknown option\n");
	const char *bad[] = { "mount", "-t", "fuse.sgfuse-passthrough", h_backing(), h_mnt(),
			      "-o", "rw,no_such_option", NULL };
	int code = run_cmd(bad);
	char msg[2048] = "";
	h_read_file(err_path, msg, sizeof(msg));
	CHECK(code != 0);
	CHECK(strstr(msg, "unknown option 'no_such_option'") != NULL);
	CHECK(!h_mounted(h_mnt()));
	CHECK(daemon_pid() < 0);
	return h_finish();
}
