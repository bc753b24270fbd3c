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

/* Detach from the terminal once mounted; the parent exits 0. */
static int daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -errno;
	if (chdir("/") != 0)
		return -errno;
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

/* Wait for a signal or the end of the session. Returns true when the daemon
 * must unmount (a signal or a failed worker), false when the kernel already
 * ended the session. */
static bool wait_for_end(const struct sgf_daemon_args *a, int sigfd, struct sgf_loop *loop,
			 struct sgf_session *se)
{
	struct pollfd pfd[2] = { { sigfd, POLLIN, 0 }, { sgf_loop_done_fd(loop), POLLIN, 0 } };

	for (;;) {
		struct signalfd_siginfo si;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return true;
		}
		if (pfd[1].revents)
			return false;
		if (read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGUSR1) {
			sgf_daemon_report(a, sgf_session_stats(se), a->stats);
			continue;
		}
		return true;
	}
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
	int fd, sigfd = -1, ret = 1, err;
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
	fd = sgf_mount(a->mountpoint, &mo);
	if (fd < 0) {
		fprintf(stderr, PROG ": cannot mount on %s: %s\n", a->mountpoint, strerror(-fd));
		goto out;
	}
	ch = sgf_chan_dev_new(fd);
	if (ch == NULL || (!a->foreground && (err = daemonize()) != 0) ||
	    (sigfd = sgf_daemon_signalfd()) < 0 ||
	    (se = sgf_session_new(sgf_passthrough_ops(), pt, &so)) == NULL ||
	    (loop = sgf_loop_start(se, ch, a->threads)) == NULL) {
		fprintf(stderr, PROG ": cannot start: %s\n", strerror(errno));
		sgf_unmount(a->mountpoint);
		goto out;
	}
	if (wait_for_end(a, sigfd, loop, se)) {
		err = sgf_unmount(a->mountpoint);
		if (err && err != -EINVAL)
			fprintf(stderr, PROG ": unmount %s: %s\n", a->mountpoint, strerror(-err));
	}
	/* The kernel aborts the connection on unmount; workers see ENODEV. A
	 * lazily detached mount still in use keeps them serving: then exit
	 * without them (closing the fds aborts the connection). */
	struct pollfd done = { sgf_loop_done_fd(loop), POLLIN, 0 };
	if (poll(&done, 1, STOP_WAIT_MS) == 1) {
		err = sgf_loop_join(loop);
		if (err)
			fprintf(stderr, PROG ": worker stopped: %s\n", strerror(-err));
		loop = NULL;
	}
	sgf_daemon_report(a, sgf_session_stats(se), a->stats);
	ret = 0;
	if (loop != NULL) {
		fflush(NULL);
		_exit(0);
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
