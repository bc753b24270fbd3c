/* tools/sgfuse-passthrough.c - the daemon: serve a backing directory
 * through the kernel's FUSE mount (or a socket with --listen), unmount on
 * SIGINT/SIGTERM/SIGHUP, report statistics on SIGUSR1 and at exit. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sgfuse/loop.h>
#include <sgfuse/mount.h>
#include <sgfuse/passthrough.h>
#include "daemon.h"

#define PROG "sgfuse-passthrough"
/* How long exit waits for workers after unmounting. */
#define STOP_WAIT_MS 3000

struct sgf_session_opts sgf_daemon_session_opts(const struct sgf_daemon_args *a)
{
	return (struct sgf_session_opts){ .max_write = a->max_write,
					  .max_pages = a->max_pages,
					  .debug = a->debug };
}

struct sgf_passthrough_opts sgf_daemon_pt_opts(const struct sgf_daemon_args *a)
{
	return (struct sgf_passthrough_opts){ .backing_direct = a->backing_direct,
					      .entry_timeout = 1.0,
					      .attr_timeout = 1.0 };
}

int sgf_daemon_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	sigdelset(&set, SIGPIPE);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

void sgf_daemon_report(const struct sgf_daemon_args *a, const struct sgf_stats *st,
		       bool to_stderr)
{
	if (a->stats_file) {
		int err = sgf_stats_write_file(st, a->stats_file);
		if (err)
			fprintf(stderr, PROG ": cannot write %s: %s\n", a->stats_file,
				strerror(-err));
	}
	if (to_stderr) {
		fprintf(stderr, "--- sgfuse statistics ---\n");
		sgf_stats_print(st, stderr);
	}
}

/* Go to the background once mounted. The parent waits until the child
 * reports (through *ready_fd, see report_ready) that it serves, and exits
 * with the child's verdict, so a failure in the child is never hidden. */
static int daemonize(int *ready_fd)
{
	int pfd[2], fd;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		char verdict = 1;
		close(pfd[1]);
		if (read(pfd[0], &verdict, 1) != 1)
			verdict = 1;
		_exit(verdict);
	}
	close(pfd[0]);
	*ready_fd = pfd[1];
	if (setsid() < 0 || chdir("/") != 0)
		return -errno;
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0), dup2(fd, 1);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

/* Tell a waiting parent (if any) how the start went, then drop stderr in
 * the background. */
static void report_ready(int *ready_fd, bool ok)
{
	char verdict = ok ? 0 : 1;
	int fd;

	if (*ready_fd < 0)
		return;
	if (write(*ready_fd, &verdict, 1) != 1)
		verdict = 1;
	close(*ready_fd);
	*ready_fd = -1;
	fd = open("/dev/null", O_WRONLY);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
}

/* Wait for a signal or the end of the session (a worker stopped: the
 * kernel ended the connection, or a worker failed). */
static void wait_for_end(const struct sgf_daemon_args *a, int sigfd, struct sgf_loop *loop,
			 struct sgf_session *se)
{
	struct pollfd pfd[2] = { { sigfd, POLLIN, 0 }, { sgf_loop_done_fd(loop), POLLIN, 0 } };

	for (;;) {
		struct signalfd_siginfo si;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[1].revents)
			return;
		if (read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGUSR1)
			return;
		sgf_daemon_report(a, sgf_session_stats(se), a->stats);
	}
}

/* Wait up to STOP_WAIT_MS for every worker to stop. */
static bool workers_stopped(struct sgf_loop *loop)
{
	struct pollfd done = { sgf_loop_done_fd(loop), POLLIN, 0 };
	uint64_t n;

	for (int waited = 0; sgf_loop_running(loop) > 0 && waited < STOP_WAIT_MS; waited += 50)
		if (poll(&done, 1, 50) == 1 && read(done.fd, &n, sizeof(n)) < 0)
			break;
	return sgf_loop_running(loop) == 0;
}

/* Paths the daemon uses after it has left the working directory. */
static char *absolute(const char *path, bool must_exist)
{
	char *cwd, *abs;

	if (must_exist)
		return realpath(path, NULL);
	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (cwd == NULL || asprintf(&abs, "%s/%s", cwd, path) < 0)
		abs = NULL;
	free(cwd);
	return abs;
}

static int serve_mount(const struct sgf_daemon_args *a)
{
	struct sgf_mount_opts mo = { .source = a->source, .subtype = a->subtype,
				     .allow_other = a->allow_other,
				     .default_permissions = a->default_permissions,
				     .max_read = a->max_read };
	struct sgf_passthrough_opts pto = sgf_daemon_pt_opts(a);
	struct sgf_session_opts so = sgf_daemon_session_opts(a);
	struct sgf_passthrough *pt;
	struct sgf_session *se = NULL;
	struct sgf_chan *ch = NULL;
	struct sgf_loop *loop = NULL;
	int fd, sigfd = -1, ready_fd = -1, ret = 1, err;
	struct stat st;

	pt = sgf_passthrough_new(a->source, &pto);
	if (pt == NULL) {
		fprintf(stderr, PROG ": cannot serve SOURCE %s: %s\n", a->source, strerror(errno));
		return 1;
	}
	errno = 0;
	if (stat(a->mountpoint, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, PROG ": MOUNTPOINT %s: %s\n", a->mountpoint,
			strerror(errno ? errno : ENOTDIR));
		goto out;
	}
	if (access("/dev/fuse", F_OK) != 0) {
		fprintf(stderr, PROG ": no /dev/fuse (%s): is FUSE available here?\n",
			strerror(errno));
		goto out;
	}
	/* Signals wait in the signalfd from before the mount on, so none
	 * can end us between mounting and serving. */
	sigfd = sgf_daemon_signalfd();
	if (sigfd < 0) {
		fprintf(stderr, PROG ": signalfd: %s\n", strerror(errno));
		goto out;
	}
	fd = sgf_mount(a->mountpoint, &mo);
	if (fd < 0) {
		fprintf(stderr, PROG ": cannot mount on %s: %s\n", a->mountpoint, strerror(-fd));
		goto out;
	}
	ch = sgf_chan_dev_new(fd);
	if (ch == NULL || (!a->foreground && (err = daemonize(&ready_fd)) != 0) ||
	    (se = sgf_session_new(sgf_passthrough_ops(), pt, &so)) == NULL ||
	    (loop = sgf_loop_start(se, ch, a->threads)) == NULL) {
		fprintf(stderr, PROG ": cannot start: %s\n", strerror(errno));
		sgf_unmount(a->mountpoint);
		report_ready(&ready_fd, false);
		goto out;
	}
	report_ready(&ready_fd, true);
	wait_for_end(a, sigfd, loop, se);
	/* Whatever ended it, the mount goes: unmounting aborts the connection,
	 * so every worker sees ENODEV. EINVAL: someone unmounted it already. */
	err = sgf_unmount(a->mountpoint);
	if (err && err != -EINVAL && err != -ENOENT)
		fprintf(stderr, PROG ": unmount %s: %s\n", a->mountpoint, strerror(-err));
	sgf_daemon_report(a, sgf_session_stats(se), a->stats);
	ret = 0;
	/* A lazily detached mount still in use keeps workers serving: exit
	 * without them; closing the fds aborts the connection. */
	if (!workers_stopped(loop)) {
		fflush(NULL);
		_exit(0);
	}
	err = sgf_loop_join(loop);
	if (err) {
		fprintf(stderr, PROG ": worker stopped: %s\n", strerror(-err));
		ret = 1;
	}
out:
	if (sigfd >= 0)
		close(sigfd);
	sgf_session_destroy(se);
	sgf_chan_free(ch);
	sgf_passthrough_free(pt);
	return ret;
}

int main(int argc, char **argv)
{
	struct sgf_daemon_args a;
	char err[256];

	if (sgf_daemon_parse_args(argc, argv, &a, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": %s\nTry '" PROG " --help' for more information.\n", err);
		return 2;
	}
	if (a.help) {
		fputs(sgf_daemon_usage, stdout);
		return 0;
	}
	if (a.version) {
		printf(PROG " " SGF_VERSION "\n");
		return 0;
	}
	/* Modes arrive already masked by the requester's umask. */
	umask(0);
	if (a.listen)
		return sgf_daemon_listen(&a);

	/* The daemon leaves its working directory: keep absolute paths. */
	char *mnt = absolute(a.mountpoint, true);
	char *stats_file = a.stats_file ? absolute(a.stats_file, false) : NULL;
	int ret;

	if (mnt == NULL || (a.stats_file && stats_file == NULL)) {
		fprintf(stderr, PROG ": MOUNTPOINT %s: %s\n", a.mountpoint, strerror(errno));
		free(mnt);
		return 1;
	}
	a.mountpoint = mnt;
	a.stats_file = stats_file;
	ret = serve_mount(&a);
	free(mnt);
	free(stats_file);
	return ret;
}
