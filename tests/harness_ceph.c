/* tests/harness_ceph.c - the harness's Ceph mode ($SGF_TEST_CEPH names
 * scripts/ceph-cluster): h_init starts a throw-away cluster in ROOT/ceph
 * and mounts its file system with ceph-fuse on ROOT/backing, the view of
 * "another node" the tests check our mount against; h_start then runs the
 * daemon with conf= instead of a SOURCE. Cleanup stops the cluster (and so
 * ceph-fuse) on every path out of the test, from signal handlers too. */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

static struct {
	const char *script;
	char dir[PATH_MAX], conf[PATH_MAX];
	volatile sig_atomic_t up; /* the cluster may be running: stop it */
} C;

bool h_ceph(void) { return C.script != NULL; }
const char *h_ceph_dir(void) { return C.dir; }
const char *h_ceph_conf(void) { return C.conf; }

/* Run the script with args; its exit code, or -1. Async-signal-safe (fork,
 * execv, waitpid), so the fatal-signal cleanup can stop the cluster. */
static int run_script(char *const args[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execv(C.script, args);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void h_ceph_stop_safe(void)
{
	if (!C.up)
		return;
	C.up = 0;
	/* ceph-fuse first, so nothing holds the view; stop kills it too. */
	umount2(h_backing(), MNT_DETACH);
	char *args[] = { (char *)C.script, "stop", C.dir, NULL };
	if (run_script(args) != 0) {
		static const char msg[] = "harness: scripts/ceph-cluster stop failed\n";
		if (write(2, msg, sizeof(msg) - 1) < 0) {
		}
	}
}

void h_ceph_init(void)
{
	C.script = getenv("SGF_TEST_CEPH");
	if (!C.script || !*C.script) {
		C.script = NULL;
		return;
	}
	h_join(C.dir, sizeof(C.dir), h_root(), "ceph");
	h_join(C.conf, sizeof(C.conf), C.dir, "ceph.conf");
	C.up = 1;
	char *start[] = { (char *)C.script, "start", C.dir, NULL };
	int code = run_script(start);
	if (code == H_EXIT_SKIP) {
		C.up = 0;
		printf("SKIP: Ceph is not installed (scripts/deps installs it)\n");
		exit(H_EXIT_SKIP);
	}
	if (code != 0) {
		h_fail(__FILE__, __LINE__, "scripts/ceph-cluster start %s: exit %d", C.dir, code);
		exit(h_finish());
	}
	char *view[] = { (char *)C.script, "fuse-mount", C.dir, (char *)h_backing(), NULL };
	if (run_script(view) != 0) {
		h_fail(__FILE__, __LINE__, "ceph-fuse view on %s failed", h_backing());
		exit(h_finish());
	}
}

int h_ceph_kill(const char *daemon)
{
	char *args[] = { (char *)C.script, "kill", C.dir, (char *)daemon, NULL };

	return run_script(args);
}
