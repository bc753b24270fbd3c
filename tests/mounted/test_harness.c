/* tests/mounted/test_harness.c - the harness's promise: however a mounted
 * test dies (abort, SIGSEGV, alarm, SIGTERM, plain exit, stopped daemon), the
 * temp tree is removed and the daemon does not outlive it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"

enum death { DIE_ABORT, DIE_SEGV, DIE_ALARM, DIE_SIGTERM, DIE_EXIT, DIE_STOPPED_DAEMON };
static const char *const death_names[] = { "abort", "SIGSEGV", "alarm", "SIGTERM",
					   "exit without h_finish", "daemon stopped + abort" };

static void child(int argc, char **argv, enum death d, int out)
{
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	h_init(argc, argv, d == DIE_ALARM ? 2 : 60);
	pid_t pid = h_start("");
	char path[4096];
	/* Keep the mount busy, as a failing test would. */
	int fd = open(H_PATH(path, h_mnt(), "busy"), O_CREAT | O_RDWR, 0644);
	(void)fd;
	dprintf(out, "%s %d\n", h_root(), (int)pid);
	close(out);
	switch (d) {
	case DIE_ABORT:
		abort();
	case DIE_SEGV:
		raise(SIGSEGV);
		break;
	case DIE_ALARM:
	case DIE_SIGTERM:
		for (;;)
			pause();
	case DIE_EXIT:
		exit(3);
	case DIE_STOPPED_DAEMON:
		kill(pid, SIGSTOP);
		abort();
	}
	_exit(99);
}

/* A process that is gone or a zombie no longer holds anything. */
static bool alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (h_read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void run(int argc, char **argv, enum death d)
{
	int pfd[2];
	REQUIRE(pipe(pfd) == 0);
	printf("-- %s\n", death_names[d]);
	fflush(NULL);
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		close(pfd[0]);
		child(argc, argv, d, pfd[1]);
	}
	close(pfd[1]);
	char info[4200] = "", root[4096] = "";
	int daemon = 0;
	FILE *f = fdopen(pfd[0], "r");
	if (!f || !fgets(info, sizeof(info), f) || sscanf(info, "%4095s %d", root, &daemon) != 2)
		h_fail(__FILE__, __LINE__, "%s: child did not report its mount", death_names[d]);
	if (f)
		fclose(f);
	if (d == DIE_SIGTERM)
		kill(c, SIGTERM);
	int status = h_wait(c, 30);
	if (status == -1)
		h_fail(__FILE__, __LINE__, "%s: child did not die", death_names[d]);
	if (!root[0])
		return;
	struct stat st;
	if (stat(root, &st) == 0)
		h_fail(__FILE__, __LINE__, "%s: %s left behind", death_names[d], root);
	for (int i = 0; i < 200 && alive(daemon); i++)
		usleep(10000);
	if (alive(daemon)) {
		h_fail(__FILE__, __LINE__, "%s: daemon %d outlived the test", death_names[d], daemon);
		kill(daemon, SIGKILL);
	}
}

int main(int argc, char **argv)
{
	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
		printf("SKIP: needs root and /dev/fuse\n");
		return H_EXIT_SKIP;
	}
	for (int d = DIE_ABORT; d <= DIE_STOPPED_DAEMON; d++)
		run(argc, argv, (enum death)d);
	return h_finish();
}
