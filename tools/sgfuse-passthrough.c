/* tools/sgfuse-passthrough.c - the daemon: serve a backing directory through
 * the kernel's FUSE mount (or a socket with --listen). The library's
 * sgf_main_ext() gives it the standard command line, signals and teardown;
 * this file adds SOURCE, backing_direct and xattr, and one passthrough instance
 * (own node table) per session. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sgfuse/passthrough.h>
#include <sgfuse/server.h>

#define PROG "sgfuse-passthrough"

struct config {
	const char *arg;  /* SOURCE as given */
	char *source;     /* absolute: the daemon leaves its working directory */
	struct sgf_passthrough_opts pt;
};

static int take_arg(void *fs, unsigned index, const char *arg, char *err, size_t errlen)
{
	struct config *cf = fs;

	(void)index, (void)err, (void)errlen;
	cf->arg = arg;
	return 0;
}

static int take_opt(void *fs, const char *key, const char *val, char *err, size_t errlen)
{
	struct config *cf = fs;

	if (strcmp(key, "xattr") == 0) {
		if (val && !strcmp(val, "on"))
			cf->pt.no_xattr = false;
		else if (val && !strcmp(val, "off"))
			cf->pt.no_xattr = true;
		else {
			snprintf(err, errlen, "xattr must be on or off, got '%s'", val ? val : "");
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(key, "backing_direct") != 0)
		return -ENOENT;
	if (val == NULL || *val == '\0') {
		snprintf(err, errlen, "option 'backing_direct' needs a value");
		return -EINVAL;
	}
	if (!strcmp(val, "auto"))
		cf->pt.backing_direct = SGF_BACKING_DIRECT_AUTO;
	else if (!strcmp(val, "on"))
		cf->pt.backing_direct = SGF_BACKING_DIRECT_ON;
	else if (!strcmp(val, "off"))
		cf->pt.backing_direct = SGF_BACKING_DIRECT_OFF;
	else {
		snprintf(err, errlen, "backing_direct must be auto, on or off, got '%s'", val);
		return -EINVAL;
	}
	return 0;
}

/* Try SOURCE once before mounting, so a bad one fails at start. */
static int check(void *fs, char *err, size_t errlen)
{
	struct config *cf = fs;
	struct sgf_passthrough *probe;
	int e;

	cf->source = realpath(cf->arg, NULL);
	e = cf->source ? sgf_passthrough_new(&probe, cf->source, &cf->pt) : -errno;
	if (e) {
		snprintf(err, errlen, "cannot serve SOURCE %s: %s", cf->arg, strerror(-e));
		return e;
	}
	sgf_passthrough_free(probe);
	return 0;
}

static void *session_fs_new(void *fs)
{
	struct config *cf = fs;
	struct sgf_passthrough *pt;
	int e = sgf_passthrough_new(&pt, cf->source, &cf->pt);

	if (e)
		errno = -e; /* fs_new's convention: NULL + errno */
	return e ? NULL : pt;
}

static void session_fs_free(void *fs, void *session_fs)
{
	(void)fs;
	sgf_passthrough_free(session_fs);
}

static const struct sgf_main_ext ext = {
	.name = PROG,
	.args = "SOURCE",
	.nargs = 1,
	.help = "  backing_direct=MODE    O_DIRECT on the backing file: auto (keep it where\n"
		"                         the backing fs accepts it), on, off (default auto)\n"
		"  xattr=on|off           serve extended attributes (default on; off:\n"
		"                         every xattr call fails with EOPNOTSUPP)\n",
	.arg = take_arg,
	.opt = take_opt,
	.check = check,
	.fs_new = session_fs_new,
	.fs_free = session_fs_free,
};

/* Take every fd we are allowed: each open file costs one or more, and the
 * passthrough fs sizes its cache of nodes' fds from the soft limit (half of
 * it), which is often 1024 under a hard limit far above. Here rather than in
 * the fs's new(): a process-wide limit is the program's to set, not that of
 * a library a program embeds. Before sgf_main_ext(), so the check's probe
 * and every session see the raised limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		/* Failing leaves the soft limit: a smaller cache, no error. */
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct config cf = { .pt = { .entry_timeout = 1.0, .attr_timeout = 1.0 } };
	const struct sgf_ops *ops = sgf_passthrough_ops();
	int ret;

	raise_fd_limit();
	ret = sgf_main_ext(argc, argv, ops, sizeof(*ops), &cf, &ext);

	free(cf.source);
	return ret;
}
