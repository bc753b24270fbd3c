/* tools/daemon_args.c - parse sgfuse-passthrough's command line: -f, -o
 * comma-separated options, --listen, --help, --version, SOURCE, MOUNTPOINT. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon_args.h"

const char sgf_daemon_usage[] =
	"Usage: sgfuse-passthrough [-f] [-o OPT[,OPT...]] SOURCE MOUNTPOINT\n"
	"       sgfuse-passthrough --listen unix:PATH [-o OPT[,OPT...]] SOURCE\n"
	"\n"
	"Serve the directory SOURCE through FUSE: mounted by the kernel on\n"
	"MOUNTPOINT, or to FUSE requesters (e.g. sgfuse-client) on a Unix socket.\n"
	"\n"
	"  -f                     stay in the foreground (mount mode)\n"
	"  --listen unix:PATH     serve a Unix stream socket instead of mounting;\n"
	"                         the socket is mode 0600 and only the daemon's\n"
	"                         user (or root) may connect\n"
	"  -h, --help             show this text\n"
	"  -V, --version          show the version\n"
	"\n"
	"Options (-o):\n"
	"  max_write=BYTES        largest WRITE request (default 1048576)\n"
	"  max_pages=N            pages per request (default max_write/4096,\n"
	"                         clamped to fs.fuse.max_pages_limit); 1 makes the\n"
	"                         kernel send one request per page, as before the\n"
	"                         scatter-gather patch\n"
	"  max_read=BYTES         passed to the mount as max_read\n"
	"  threads=N              worker threads (default: one per CPU)\n"
	"  allow_other            let other users access the mount\n"
	"  default_permissions    let the kernel check permissions\n"
	"  backing_direct=MODE    O_DIRECT on the backing file: auto (keep it where\n"
	"                         the backing fs accepts it), on, off (default auto)\n"
	"  stats                  print request statistics to stderr at exit (and\n"
	"                         on SIGUSR1); with -f only, stderr is closed in\n"
	"                         the background: use stats_file there\n"
	"  stats_file=PATH        write statistics to PATH on SIGUSR1 and at exit\n"
	"  subtype=NAME           mount type shows as fuse.NAME\n"
	"  debug                  log one line per request and reply to stderr\n"
	"\n"
	"SIGINT, SIGTERM and SIGHUP unmount and exit; SIGUSR1 reports statistics.\n"
	"Exit status: 0 success, 1 runtime error, 2 usage error.\n";

__attribute__((format(printf, 3, 4)))
static int usage_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return 2;
}

/* A whole decimal number in [min, max], nothing trailing. */
static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_one(char *opt, struct sgf_daemon_args *a, char *err, size_t errlen)
{
	char *val = strchr(opt, '=');
	uint32_t v;

	if (val)
		*val++ = '\0';
#define FLAG(nm, field) if (strcmp(opt, nm) == 0 && !val) { a->field = true; return 0; }
	FLAG("allow_other", allow_other);
	FLAG("default_permissions", default_permissions);
	FLAG("stats", stats);
	FLAG("debug", debug);
#undef FLAG
	if (val == NULL || *val == '\0') {
		if (!strcmp(opt, "max_write") || !strcmp(opt, "max_pages") ||
		    !strcmp(opt, "max_read") || !strcmp(opt, "threads") ||
		    !strcmp(opt, "backing_direct") || !strcmp(opt, "stats_file") ||
		    !strcmp(opt, "subtype"))
			return usage_error(err, errlen, "option '%s' needs a value", opt);
		return usage_error(err, errlen, "unknown option '%s'", opt);
	}
	if (!strcmp(opt, "max_write")) {
		if (parse_u32(val, 4096, 16u << 20, &v))
			return usage_error(err, errlen,
					   "max_write must be 4096..16777216, got '%s'", val);
		a->max_write = v;
	} else if (!strcmp(opt, "max_pages")) {
		if (parse_u32(val, 1, 65535, &v))
			return usage_error(err, errlen, "max_pages must be 1..65535, got '%s'",
					   val);
		a->max_pages = v;
	} else if (!strcmp(opt, "max_read")) {
		if (parse_u32(val, 4096, UINT32_MAX, &v))
			return usage_error(err, errlen, "max_read must be at least 4096, got '%s'",
					   val);
		a->max_read = v;
	} else if (!strcmp(opt, "threads")) {
		if (parse_u32(val, 1, 256, &v))
			return usage_error(err, errlen, "threads must be 1..256, got '%s'", val);
		a->threads = v;
	} else if (!strcmp(opt, "backing_direct")) {
		if (!strcmp(val, "auto"))
			a->backing_direct = SGF_BACKING_DIRECT_AUTO;
		else if (!strcmp(val, "on"))
			a->backing_direct = SGF_BACKING_DIRECT_ON;
		else if (!strcmp(val, "off"))
			a->backing_direct = SGF_BACKING_DIRECT_OFF;
		else
			return usage_error(err, errlen,
					   "backing_direct must be auto, on or off, got '%s'", val);
	} else if (!strcmp(opt, "stats_file")) {
		a->stats_file = val;
	} else if (!strcmp(opt, "subtype")) {
		a->subtype = val;
	} else {
		return usage_error(err, errlen, "unknown option '%s'", opt);
	}
	return 0;
}

static int parse_opts(char *list, struct sgf_daemon_args *a, char *err, size_t errlen)
{
	char *save = NULL;

	for (char *o = strtok_r(list, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		int r = parse_one(o, a, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

int sgf_daemon_parse_args(int argc, char **argv, struct sgf_daemon_args *a, char *err,
			  size_t errlen)
{
	const char *pos[2];
	int npos = 0, r;

	memset(a, 0, sizeof(*a));
	err[0] = '\0';
	for (int i = 1; i < argc; i++) {
		char *s = argv[i];
		if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			a->help = true;
			return 0;
		} else if (!strcmp(s, "-V") || !strcmp(s, "--version")) {
			a->version = true;
			return 0;
		} else if (!strcmp(s, "-f")) {
			a->foreground = true;
		} else if (!strncmp(s, "-o", 2)) {
			char *list = s[2] ? s + 2 : (i + 1 < argc ? argv[++i] : NULL);
			if (list == NULL)
				return usage_error(err, errlen, "-o needs an option list");
			if ((r = parse_opts(list, a, err, errlen)))
				return r;
		} else if (!strcmp(s, "--listen")) {
			if (i + 1 >= argc)
				return usage_error(err, errlen, "--listen needs unix:PATH");
			a->listen = argv[++i];
			if (strncmp(a->listen, "unix:", 5) != 0 || a->listen[5] == '\0')
				return usage_error(err, errlen,
						   "--listen takes unix:PATH, got '%s'", a->listen);
		} else if (s[0] == '-' && s[1] != '\0') {
			return usage_error(err, errlen, "unknown argument '%s'", s);
		} else {
			if (npos == 2)
				return usage_error(err, errlen, "unexpected argument '%s'", s);
			pos[npos++] = s;
		}
	}
	if (npos == 0)
		return usage_error(err, errlen, "missing SOURCE");
	a->source = pos[0];
	if (a->listen) {
		if (npos > 1)
			return usage_error(err, errlen, "--listen takes SOURCE only, not '%s'",
					   pos[1]);
		return 0;
	}
	if (npos < 2)
		return usage_error(err, errlen, "missing MOUNTPOINT");
	a->mountpoint = pos[1];
	return 0;
}
