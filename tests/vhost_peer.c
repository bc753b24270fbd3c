/* tests/vhost_peer.c - starting and stopping the vhost-user-fs peer of
 * vhost_peer.h: fork, exec with the parent-death signal set (so the peer
 * dies with the test even when the test is killed), wait until its socket
 * is listening (per /proc/net/unix: a test connection would use up
 * virtiofsd's one session), and an exit handler that kills what is left. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "vhost_peer.h"

#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"
#define MAX_PEERS 16
#define START_TIMEOUT_MS 10000
/* /proc/net/unix's flag of a listening socket (__SO_ACCEPTCON). */
#define UNIX_LISTENING 0x00010000u

static struct vhost_peer *peers[MAX_PEERS];
static bool exit_hook;

static void msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void kill_all(void)
{
	for (int i = 0; i < MAX_PEERS; i++)
		if (peers[i])
			vp_kill(peers[i]);
}

static void remember(struct vhost_peer *p, bool add)
{
	for (int i = 0; i < MAX_PEERS; i++) {
		if (add && peers[i] == NULL) {
			peers[i] = p;
			return;
		}
		if (!add && peers[i] == p)
			peers[i] = NULL;
	}
}

void vp_dump_log(const struct vhost_peer *p)
{
	char buf[4096];
	int fd = open(p->log, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return;
	fprintf(stderr, "---- %s log (%s) ----\n", p->kind, p->log);
	/* The end of it: where a failure shows. */
	off_t size = lseek(fd, 0, SEEK_END);
	lseek(fd, size > (off_t)sizeof(buf) * 4 ? size - (off_t)sizeof(buf) * 4 : 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
	fprintf(stderr, "---- end of %s log ----\n", p->kind);
	close(fd);
}

static void skip(const struct vhost_peer *p, const char *why)
{
	fprintf(stderr, "SKIP: vhost-user peer %s (%s): %s\n", p->kind,
		p->program ? p->program : "-", why);
	exit(VP_SKIP);
}

/* Is sock a listening socket yet? */
static bool listening(const char *sock)
{
	FILE *f = fopen("/proc/net/unix", "r");
	char line[512];
	bool yes = false;

	if (f == NULL)
		return access(sock, F_OK) == 0;
	while (!yes && fgets(line, sizeof(line), f)) {
		unsigned flags;
		char path[256] = "";
		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %255s", &flags, path) == 2 &&
		    strcmp(path, sock) == 0 && (flags & UNIX_LISTENING))
			yes = true;
	}
	fclose(f);
	return yes;
}

static void exec_peer(const struct vhost_peer *p, const char *source)
{
	char sockopt[160], srcopt[4200];
	bool debug = getenv("SGF_VHOST_DEBUG") && strcmp(getenv("SGF_VHOST_DEBUG"), "1") == 0;
	int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	/* Die with the test, even one killed by a timeout. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (strcmp(p->kind, "virtiofsd") == 0) {
		snprintf(sockopt, sizeof(sockopt), "--socket-path=%s", p->sock);
		snprintf(srcopt, sizeof(srcopt), "source=%s", source);
		const char *argv[] = { p->program, sockopt, "-o", srcopt, "-o", "cache=none",
				       "-o", "sandbox=chroot", debug ? "-d" : NULL, NULL };
		execv(p->program, (char *const *)argv);
	} else {
		const char *argv[] = { p->program, "--vhost-user", p->sock, source,
				       debug ? "-o" : NULL, "debug", NULL };
		execv(p->program, (char *const *)argv);
	}
	fprintf(stderr, "exec %s: %s\n", p->program, strerror(errno));
	_exit(127);
}

void vp_start(struct vhost_peer *p, const char *source, const char *sock,
	      const char *sgfuse_daemon)
{
	const char *kind = getenv("SGF_VHOST_PEER");
	const char *program = getenv("SGF_VHOST_DAEMON");

	memset(p, 0, sizeof(*p));
	p->kind = kind && *kind ? kind : "virtiofsd";
	if (strcmp(p->kind, "virtiofsd") == 0) {
		p->program = program && *program ? program : VIRTIOFSD;
		p->one_session = true;
		if (geteuid() != 0)
			skip(p, "virtiofsd needs root (its sandbox chroots)");
	} else if (strcmp(p->kind, "sgfuse") == 0) {
		p->program = program && *program ? program : sgfuse_daemon;
		if (p->program == NULL)
			skip(p, "no daemon: set SGF_VHOST_DAEMON");
	} else {
		skip(p, "SGF_VHOST_PEER is neither virtiofsd nor sgfuse");
	}
	if (access(p->program, X_OK) != 0)
		skip(p, strerror(errno));
	snprintf(p->sock, sizeof(p->sock), "%s", sock);
	snprintf(p->log, sizeof(p->log), "%s.log", sock);
	snprintf(p->address, sizeof(p->address), "vhost-user:%s", sock);
	unlink(p->sock);
	if (!exit_hook) {
		atexit(kill_all);
		exit_hook = true;
	}

	pid_t pid = fork();
	if (pid < 0)
		skip(p, "fork failed");
	if (pid == 0)
		exec_peer(p, source);
	p->pid = pid;
	remember(p, true);
	for (unsigned waited = 0; !listening(p->sock); waited += 10) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			p->pid = 0;
			remember(p, false);
			vp_dump_log(p);
			skip(p, "it ended before listening");
		}
		if (waited >= START_TIMEOUT_MS) {
			vp_dump_log(p);
			vp_kill(p);
			skip(p, "its socket did not appear");
		}
		msleep(10);
	}
}

void vp_kill(struct vhost_peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	p->pid = 0;
	remember(p, false);
}

int vp_wait(struct vhost_peer *p, unsigned ms)
{
	int status;

	if (p->pid <= 0)
		return -1;
	for (unsigned waited = 0;; waited += 10) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == p->pid) {
			p->pid = 0;
			remember(p, false);
			return status;
		}
		if (waited >= ms)
			break;
		msleep(10);
	}
	vp_kill(p);
	return -1;
}

int vp_stop(struct vhost_peer *p)
{
	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	return vp_wait(p, 5000);
}
