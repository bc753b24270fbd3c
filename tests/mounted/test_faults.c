/* tests/mounted/test_faults.c - how the daemon ends: SIGKILL (harness cleans
 * up), SIGTERM/INT/HUP and foreign unmount (exit 0, unmounted), background
 * mode, options, and bad command lines (exit 1 or 2, nothing mounted). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"

static bool in_proc_mounts(const char *path)
{
	char buf[1 << 16];
	if (h_read_file("/proc/self/mounts", buf, sizeof(buf)) < 0)
		return false;
	char needle[4200];
	snprintf(needle, sizeof(needle), " %s ", path);
	return strstr(buf, needle) != NULL;
}

static void test_sigkill(void)
{
	struct stat st;
	pid_t pid = h_start("");
	CHECK_OK(stat(h_mnt(), &st));
	kill(pid, SIGKILL);
	CHECK_EQ(h_exit_code(h_wait(pid, 20)), 128 + SIGKILL);
	/* The kernel keeps a mount whose daemon is gone; whatever needs a
	 * request (a name never looked up) gets ENOTCONN. With io_uring the
	 * daemon's ring lets go of /dev/fuse a moment after the process is
	 * reaped (io_uring tears a ring down in a kernel worker): a request
	 * made in between waits for a ring entry and ends ECONNABORTED when
	 * the connection is aborted. */
	char path[4096];
	CHECK(h_fuse_mounted(h_mnt(), NULL, 0));
	errno = 0;
	CHECK_EQ(stat(H_PATH(path, h_mnt(), "never-looked-up"), &st), -1);
	if (!(errno == ENOTCONN || (errno == ECONNABORTED && h_uring())))
		h_fail(__FILE__, __LINE__, "stat after SIGKILL: want ENOTCONN, got %s",
		       strerror(errno));
	h_umount_lazy(h_mnt());
	CHECK(!h_mounted(h_mnt()));
	CHECK(!in_proc_mounts(h_mnt()));
	CHECK_OK(stat(h_mnt(), &st));
	CHECK(S_ISDIR(st.st_mode));
}

static void test_signal(int sig)
{
	printf("-- signal %d\n", sig);
	h_start("");
	CHECK(h_fuse_mounted(h_mnt(), NULL, 0));
	CHECK_EQ(h_stop_sig(sig), 0);
	CHECK(!h_mounted(h_mnt()));
	CHECK(!in_proc_mounts(h_mnt()));
}

/* Busy: a file is open on the mount when SIGTERM arrives. */
static void test_sigterm_busy(void)
{
	char path[4096];
	h_start("");
	int fd = open(H_PATH(path, h_mnt(), "busy"), O_CREAT | O_RDWR, 0644);
	CHECK(fd >= 0);
	int dfd = open(h_mnt(), O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	CHECK_EQ(h_stop(), 0);
	CHECK(!h_mounted(h_mnt()));
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
}

static void test_external_umount(void)
{
	pid_t pid = h_start("");
	CHECK_OK(umount2(h_mnt(), 0));
	CHECK_EQ(h_exit_code(h_wait(pid, 20)), 0);
	CHECK(!h_mounted(h_mnt()));
}

/* Without -f the daemon returns once mounted and serves from the
 * background (from "/", so the relative paths it was given must have been
 * made absolute); an unmount ends it. */
static void test_background(void)
{
	char path[4096], opt[256], stats_path[4096];
	struct stat st;
	pid_t pids[4];
	/* A stats file name unique to this run finds the daemon in /proc. */
	const char *unique = strrchr(h_root(), '/') + 1;
	snprintf(opt, sizeof(opt), "stats_file=bg-%s.txt", unique);
	H_PATH(stats_path, h_root(), opt + strlen("stats_file="));
	char *args[] = { "-o", opt, "backing", "mnt", NULL };
	REQUIRE(chdir(h_root()) == 0);
	pid_t pid = h_spawn(args, NULL, NULL);
	CHECK_EQ(h_exit_code(h_wait(pid, 20)), 0);
	REQUIRE(chdir("/") == 0);
	CHECK(h_fuse_mounted(h_mnt(), NULL, 0));
	REQUIRE(h_write_file(H_PATH(path, h_backing(), "bg"), "bg", 2) == 0);
	CHECK_OK(stat(H_PATH(path, h_mnt(), "bg"), &st));
	CHECK_EQ(st.st_size, 2);
	/* (the parser splits -o strings in place: search the file name alone) */
	const char *needle = opt + strlen("stats_file=");
	CHECK_EQ(h_find_pids(needle, pids, 4), 1);
	CHECK_OK(umount2(h_mnt(), 0));
	int left = 1;
	for (int i = 0; i < 2000 && (left = h_find_pids(needle, pids, 4)) > 0; i++)
		usleep(10000);
	CHECK_EQ(left, 0);
	CHECK(!h_mounted(h_mnt()));
	/* It wrote its statistics at exit, with the absolute path it was given. */
	char stats[65536];
	CHECK(h_read_file(stats_path, stats, sizeof(stats)) > 0);
	CHECK(h_stat_op(stats, "LOOKUP", "count") >= 1);
}

/* Subtype, stats_file at exit, stats on SIGUSR1. */
static void test_options(void)
{
	char type[256] = "", stats[65536], path[4096];
	struct stat st;
	h_start("subtype=sgtest,stats");
	CHECK(h_fuse_mounted(h_mnt(), type, sizeof(type)));
	CHECK(strcmp(type, "fuse.sgtest") == 0);
	stat(H_PATH(path, h_mnt(), "no-such-name"), &st);
	CHECK_EQ(h_stats(stats, sizeof(stats)), 0);
	CHECK(h_stat_op(stats, "LOOKUP", "count") >= 1);
	unlink(h_stats_path());
	CHECK_EQ(h_stop(), 0);
	CHECK(h_read_file(h_stats_path(), stats, sizeof(stats)) > 0);
	CHECK(h_stat_op(stats, "LOOKUP", "count") >= 1);
}

/* Run the daemon with args; check its exit code, that it said something on
 * stderr, and that nothing got mounted. */
static void bad_cli(int want, const char *what, char *const args[])
{
	char out[4096], err[4096], outp[4096], errp[4096];
	H_PATH(outp, h_root(), "cli.out");
	H_PATH(errp, h_root(), "cli.err");
	pid_t pid = h_spawn(args, outp, errp);
	int code = h_exit_code(h_wait(pid, 20));
	h_read_file(errp, err, sizeof(err));
	h_read_file(outp, out, sizeof(out));
	if (code != want)
		h_fail(__FILE__, __LINE__, "%s: exit %d, want %d (stderr: %s)", what, code, want, err);
	if (want != 0 && err[0] == '\0')
		h_fail(__FILE__, __LINE__, "%s: no message on stderr", what);
	if (want == 0 && out[0] == '\0')
		h_fail(__FILE__, __LINE__, "%s: nothing on stdout", what);
	if (h_mounted(h_mnt())) {
		h_fail(__FILE__, __LINE__, "%s: left a mount behind", what);
		h_umount_lazy(h_mnt());
	}
}

static void test_cli(void)
{
	char nope[4096], file[4096];
	char *mnt = (char *)h_mnt(), *src = (char *)h_backing();
	H_PATH(nope, h_root(), "no-such-dir");
	H_PATH(file, h_root(), "a-file");
	REQUIRE(h_write_file(file, "f", 1) == 0);

	bad_cli(1, "missing source", (char *[]){ "-f", nope, mnt, NULL });
	bad_cli(1, "source is a file", (char *[]){ "-f", file, mnt, NULL });
	bad_cli(1, "mountpoint is a file", (char *[]){ "-f", src, file, NULL });
	bad_cli(1, "missing mountpoint", (char *[]){ "-f", src, nope, NULL });
	bad_cli(2, "unknown option", (char *[]){ "-f", "-o", "frobnicate", src, mnt, NULL });
	bad_cli(2, "number with junk", (char *[]){ "-f", "-o", "max_write=12x", src, mnt, NULL });
	bad_cli(2, "unknown flag", (char *[]){ "--no-such-flag", src, mnt, NULL });
	bad_cli(2, "no operands", (char *[]){ NULL });
	bad_cli(2, "one operand", (char *[]){ "-f", src, NULL });
	bad_cli(0, "--help", (char *[]){ "--help", NULL });
	bad_cli(0, "--version", (char *[]){ "--version", NULL });
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 115);
	test_sigkill();
	test_signal(SIGTERM);
	test_signal(SIGINT);
	test_signal(SIGHUP);
	test_sigterm_busy();
	test_external_umount();
	test_background();
	test_options();
	test_cli();
	return h_finish();
}
