/* tools/sgfuse-ceph.c - the Ceph daemon: serve a CephFS (or a directory of
 * one) through the kernel's FUSE mount (or a socket with --listen), on one
 * libcephfs client shared by every session. The library's sgf_main_ext()
 * gives it the standard command line, signals and teardown; this file adds
 * the Ceph options, a connection tried once before mounting (so a cluster
 * that cannot be reached fails at start, with nothing mounted), and the
 * Ceph counters in the statistics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sgfuse/ceph.h>
#include <sgfuse/server.h>

#define PROG "sgfuse-ceph"
#define MAX_CONF_SET 64

struct config {
	struct sgf_ceph_opts opts;
	const char *conf_set[2 * MAX_CONF_SET];
	struct sgf_ceph *ceph;
	struct sgf_ops ops;
	const char *conf_arg; /* conf= as given */
	char *conf_abs;       /* ... made absolute: the daemon leaves its cwd */
};

static int parse_seconds(const char *key, const char *val, double *out, char *err,
			 size_t errlen)
{
	char *end;
	double v;

	errno = 0;
	v = val ? strtod(val, &end) : 0;
	if (!val || !*val || *end || errno || !(v >= 0) || v > 1e6) {
		snprintf(err, errlen, "%s must be a number of seconds (0 to 1000000), got '%s'", key,
			 val ? val : "");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* key=value as a Ceph setting (ceph_conf_set, checked when connecting). */
static int add_conf(struct config *cf, const char *key, const char *val, char *err,
		    size_t errlen)
{
	unsigned n = cf->opts.n_conf_set;

	if (n == MAX_CONF_SET) {
		snprintf(err, errlen, "at most %d Ceph settings", MAX_CONF_SET);
		return -EINVAL;
	}
	cf->conf_set[2 * n] = key;
	cf->conf_set[2 * n + 1] = val;
	cf->opts.n_conf_set = n + 1;
	return 0;
}

static int take_opt(void *fs, const char *key, const char *val, char *err, size_t errlen)
{
	struct config *cf = fs;
	const char **str = NULL;
	/* Timeouts that are Ceph settings under another name. */
	static const struct { const char *opt, *ceph; } timeouts[] = {
		{ "mount_timeout", "client_mount_timeout" },
		{ "osd_timeout", "rados_osd_op_timeout" },
		{ "mon_timeout", "rados_mon_op_timeout" },
		{ "shutdown_timeout", "client_shutdown_timeout" },
	};

	if (!strcmp(key, "conf"))
		str = &cf->conf_arg;
	else if (!strcmp(key, "id"))
		str = &cf->opts.id;
	else if (!strcmp(key, "fs"))
		str = &cf->opts.fs_name;
	else if (!strcmp(key, "root"))
		str = &cf->opts.root;
	if (str) {
		if (!val || !*val) {
			snprintf(err, errlen, "option '%s' needs a value", key);
			return -EINVAL;
		}
		if (str == &cf->opts.root && val[0] != '/') {
			snprintf(err, errlen, "root must be an absolute path in the file system, got '%s'",
				 val);
			return -EINVAL;
		}
		*str = val;
		return 0;
	}
	if (!strcmp(key, "backend_threads")) {
		char *end;
		unsigned long n = val ? strtoul(val, &end, 10) : 0;

		if (!val || !*val || *end || n < 1 || n > 1024) {
			snprintf(err, errlen, "backend_threads must be 1 to 1024, got '%s'",
				 val ? val : "");
			return -EINVAL;
		}
		cf->opts.backend_threads = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "entry_timeout") || !strcmp(key, "attr_timeout")) {
		double v;
		int e = parse_seconds(key, val, &v, err, errlen);

		if (e)
			return e;
		if (key[0] == 'e')
			cf->opts.entry_timeout = v > 0 ? v : -1; /* -1: zero, not default */
		else
			cf->opts.attr_timeout = v > 0 ? v : 1e-9;
		return 0;
	}
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		if (!strcmp(key, timeouts[i].opt)) {
			/* libcephfs takes whole seconds only. */
			char *end;
			unsigned long v = val && *val ? strtoul(val, &end, 10) : 0;

			if (!val || !*val || *end || v > 1000000) {
				snprintf(err, errlen, "%s must be whole seconds (0 to 1000000), got '%s'",
					 key, val ? val : "");
				return -EINVAL;
			}
			return add_conf(cf, timeouts[i].ceph, val, err, errlen);
		}
	}
	if (!strncmp(key, "ceph.", 5) && key[5]) {
		if (!val) {
			snprintf(err, errlen, "option '%s' needs a value", key);
			return -EINVAL;
		}
		return add_conf(cf, key + 5, val, err, errlen);
	}
	return -ENOENT;
}

/* Connect once with the options as given, so what is wrong is said now,
 * then make the client the sessions will use (it connects at INIT, in the
 * process that serves: sgf_main may fork into the background between). */
static int check(void *fs, char *err, size_t errlen)
{
	struct config *cf = fs;
	struct sgf_ceph *probe;
	int e;

	cf->opts.conf_set = cf->conf_set;
	if (cf->conf_arg) {
		cf->conf_abs = realpath(cf->conf_arg, NULL);
		if (!cf->conf_abs) {
			e = -errno;
			snprintf(err, errlen, "conf %s: %s", cf->conf_arg, strerror(errno));
			return e;
		}
		cf->opts.conf = cf->conf_abs;
	}
	e = sgf_ceph_new(&probe, &cf->opts);
	if (e) {
		snprintf(err, errlen, "bad options: %s", strerror(-e));
		return e;
	}
	e = sgf_ceph_connect(probe, err, errlen);
	(void)sgf_ceph_free(probe); /* a fresh client unmounts at once */
	if (e)
		return e;
	e = sgf_ceph_new(&cf->ceph, &cf->opts);
	if (e)
		snprintf(err, errlen, "cannot make the Ceph client: %s", strerror(-e));
	return e;
}

static void *session_fs_new(void *fs)
{
	struct config *cf = fs;

	return sgf_ceph_session_new(cf->ceph);
}

static void session_fs_free(void *fs, void *session_fs)
{
	(void)fs;
	sgf_ceph_session_free(session_fs);
}

static void print_stats(void *fs, FILE *f)
{
	struct config *cf = fs;

	if (cf->ceph)
		sgf_ceph_stats_print(cf->ceph, f);
}

static const struct sgf_main_ext ext = {
	.name = PROG,
	.help = "  conf=PATH              Ceph config file (default: libcephfs's search,\n"
		"                         $CEPH_CONF, /etc/ceph/ceph.conf, ...)\n"
		"  id=NAME                Ceph client id, as in client.NAME (default admin)\n"
		"  fs=NAME                file system to mount (default: the cluster's default)\n"
		"  root=/DIR              directory of it to serve (default /)\n"
		"  backend_threads=N      threads that run reads, writes, fsyncs and\n"
		"                         fallocates against Ceph (1-1024, default 16)\n"
		"  entry_timeout=SEC      how long the kernel may cache names (default 1)\n"
		"  attr_timeout=SEC       ... and attributes (default 1); data other Ceph\n"
		"                         clients change is invalidated at once\n"
		"  mount_timeout=SEC      give up connecting after SEC (client_mount_timeout)\n"
		"  osd_timeout=SEC        fail an I/O no OSD answered within SEC with\n"
		"                         ETIMEDOUT (rados_osd_op_timeout; 0, the default:\n"
		"                         wait for the cluster to recover)\n"
		"  mon_timeout=SEC        the same for monitor requests (rados_mon_op_timeout)\n"
		"  shutdown_timeout=SEC   at exit, wait at most SEC for the cluster to close\n"
		"                         the session (client_shutdown_timeout, default 30)\n"
		"  ceph.KEY=VALUE         any other Ceph client setting\n",
	.opt = take_opt,
	.check = check,
	.fs_new = session_fs_new,
	.fs_free = session_fs_free,
};

int main(int argc, char **argv)
{
	struct config cf = { .opts = { 0 } };
	int ret;

	cf.ops = *sgf_ceph_ops();
	cf.ops.stats = print_stats;
	ret = sgf_main_ext(argc, argv, &cf.ops, sizeof(cf.ops), &cf, &ext);
	if (sgf_ceph_free(cf.ceph) == -ETIMEDOUT) {
		/* libcephfs's threads are still at it: no exit handlers. */
		fflush(NULL);
		_exit(ret);
	}
	free(cf.conf_abs);
	return ret;
}
