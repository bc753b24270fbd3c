/* lib/server/main.c - sgf_main(): everything a filesystem's main() would
 * otherwise assemble by hand: parse the standard command line, make the
 * server with signals handled, mount or listen, go to the background (the
 * parent exits with the child's verdict), run, tear down, exit status. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cmdline.h"

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
	if (pid < 0) {
		int err = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return err;
	}
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

/* A path the server uses after it may have left the working directory. */
static char *absolute(const char *path)
{
	char *cwd, *abs;

	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (cwd == NULL || asprintf(&abs, "%s/%s", cwd, path) < 0)
		abs = NULL;
	free(cwd);
	return abs;
}

static const char *prog_name(const char *argv0, const struct sgf_main_ext *ext)
{
	const char *slash;

	if (ext && ext->name)
		return ext->name;
	if (argv0 == NULL)
		return "sgfuse";
	slash = strrchr(argv0, '/');
	return slash ? slash + 1 : argv0;
}

static int serve(const char *prog, struct sgf_cmdline *cl, const struct sgf_ops *ops,
		 size_t ops_size, void *fs)
{
	struct sgf_server *srv;
	int err, ready_fd = -1;
	const char *what = cl->listen ? cl->listen : cl->mountpoint;

	cl->opts.handle_signals = true;
	err = sgf_server_new(&srv, ops, ops_size, fs, &cl->opts);
	if (err) {
		fprintf(stderr, "%s: cannot start: %s\n", prog, strerror(-err));
		return 1;
	}
	err = cl->listen ? sgf_server_listen(srv, cl->listen)
			 : sgf_server_mount(srv, cl->mountpoint);
	if (err) {
		fprintf(stderr, "%s: cannot %s %s: %s\n", prog, cl->listen ? "listen on" : "mount on",
			what, err == -ENODEV && !cl->listen ? "no /dev/fuse (is FUSE available?)"
							     : strerror(-err));
		sgf_server_destroy(srv);
		return 1;
	}
	if (!cl->listen && !cl->foreground && (err = daemonize(&ready_fd)) != 0) {
		fprintf(stderr, "%s: cannot go to the background: %s\n", prog, strerror(-err));
		report_ready(&ready_fd, false);
		sgf_server_destroy(srv);
		return 1;
	}
	report_ready(&ready_fd, true);
	err = sgf_server_run(srv);
	if (err)
		fprintf(stderr, "%s: %s\n", prog, strerror(-err));
	sgf_server_destroy(srv);
	return err ? 1 : 0;
}

int sgf_main_ext(int argc, char **argv, const struct sgf_ops *ops, size_t ops_size,
		 void *fs, const struct sgf_main_ext *ext)
{
	const char *prog = prog_name(argc > 0 ? argv[0] : NULL, ext);
	struct sgf_cmdline cl;
	char err[256], *stats_file = NULL;
	int ret;

	if (sgf_cmdline_parse(argc, argv, ext, fs, &cl, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s (see %s --help)\n", prog, err, prog);
		return 2;
	}
	if (cl.help) {
		sgf_cmdline_usage(stdout, prog, ext);
		return 0;
	}
	if (cl.version) {
		printf("%s %s\n", prog, ext && ext->version ? ext->version : SGF_VERSION);
		return 0;
	}
	if (ext && ext->check && (ret = ext->check(fs, err, sizeof(err))) != 0) {
		fprintf(stderr, "%s: %s\n", prog, err[0] ? err : strerror(ret < 0 ? -ret : EINVAL));
		return 1;
	}
	if (ext) {
		cl.opts.fs_new = ext->fs_new;
		cl.opts.fs_free = ext->fs_free;
	}
	/* The daemon leaves its working directory. */
	if (cl.opts.stats_file) {
		stats_file = absolute(cl.opts.stats_file);
		if (stats_file == NULL) {
			fprintf(stderr, "%s: stats_file %s: %s\n", prog, cl.opts.stats_file,
				strerror(errno));
			return 1;
		}
		cl.opts.stats_file = stats_file;
	}
	/* Modes arrive already masked by the requester's umask. */
	umask(0);
	ret = serve(prog, &cl, ops, ops_size, fs);
	free(stats_file);
	return ret;
}

int sgf_main(int argc, char **argv, const struct sgf_ops *ops, size_t ops_size, void *fs)
{
	return sgf_main_ext(argc, argv, ops, ops_size, fs, NULL);
}
