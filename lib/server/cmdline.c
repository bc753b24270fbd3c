/* lib/server/cmdline.c - parse the command line every sgfuse filesystem
 * shares: -f, -o comma-separated options (the library's, then the
 * filesystem's), --listen, --help, --version, ARGS..., MOUNTPOINT. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include "cmdline.h"
#include "mountopt.h"

void sgf_cmdline_usage(FILE *f, const char *prog, const struct sgf_main_ext *ext)
{
	const char *args = ext && ext->args ? ext->args : NULL;

	fprintf(f,
		"Usage: %s [-f] [-o OPT[,OPT...]] %s%sMOUNTPOINT\n"
		"       %s --listen unix:PATH [-o OPT[,OPT...]]%s%s\n"
		"       %s --vhost-user PATH [-o OPT[,OPT...]]%s%s\n"
		"\n"
		"Serve the filesystem through FUSE: mounted by the kernel on MOUNTPOINT,\n"
		"to FUSE requesters (e.g. sgfuse-client) on a Unix socket, or as a\n"
		"vhost-user-fs device (virtio-fs) that a VM mounts.\n"
		"\n"
		"  -f                     stay in the foreground (mount mode)\n"
		"  --listen unix:PATH     serve a Unix stream socket instead of mounting;\n"
		"                         the socket is mode 0600 and only the daemon's\n"
		"                         user (or root) may connect\n"
		"  --vhost-user PATH      be a vhost-user-fs backend on the Unix socket\n"
		"                         PATH (mode 0600): QEMU's vhost-user-fs-pci\n"
		"                         device, or sgfuse-client vhost-user:PATH,\n"
		"                         connects; frontends are served one at a time\n"
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
		"  max_inflight=N         request buffers per session, kept requests\n"
		"                         included (default 64 + threads)\n"
		"  allow_other            let other users access the mount\n"
		"  default_permissions    let the kernel check permissions\n"
		"  fsname=NAME            source shown in /proc/mounts\n"
		"  subtype=NAME           mount type shows as fuse.NAME\n"
		"  stats                  print request statistics to stderr at exit (and\n"
		"                         on SIGUSR1); with -f only, stderr is closed in\n"
		"                         the background: use stats_file there\n"
		"  stats_file=PATH        write statistics to PATH on SIGUSR1 and at exit\n"
		"  debug                  log one line per request and reply to stderr\n"
		"  io_uring               take requests through io_uring ring entries when\n"
		"                         the kernel offers FUSE over io_uring (Linux 6.14+,\n"
		"                         /sys/module/fuse/parameters/enable_uring = Y);\n"
		"                         otherwise say why and use /dev/fuse\n"
		"  io_uring_depth=N       ring entries per CPU queue (default 8)\n"
		"  passthrough            let the kernel read and write backing files\n"
		"                         itself (FUSE passthrough, Linux 6.9+, needs\n"
		"                         CAP_SYS_ADMIN); files it cannot take are served\n"
		"                         by requests as usual\n"
		"%s"
		"\n"
		"The generic mount options mount(8) and /etc/fstab pass are taken too:\n"
		"ro, rw, nosuid, suid, nodev, dev, noexec, exec, sync, async, dirsync,\n"
		"noatime, atime, relatime, strictatime, nodiratime, lazytime, nosymfollow\n"
		"(and their opposites) set the mount's flags; defaults, auto, noauto,\n"
		"user, users, nouser, owner, group, nofail, _netdev, x-*, comment= are\n"
		"ignored. Mounts are nosuid,nodev unless suid / dev is given (root only).\n"
		"\n"
		"SIGINT, SIGTERM and SIGHUP unmount and exit; SIGUSR1 reports statistics.\n"
		"Exit status: 0 success, 1 runtime error, 2 usage error.\n",
		prog, args ? args : "", args ? " " : "", prog, args ? " " : "", args ? args : "",
		prog, args ? " " : "", args ? args : "",
		ext && ext->help ? ext->help : "");
}

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

/* The library's numeric options: name, range, where it goes. */
struct num_opt {
	const char *name;
	uint32_t min, max;
	size_t off;     /* in struct sgf_server_opts */
	bool is_uint;   /* unsigned, not uint32_t */
};

#define NUM(nm, lo, hi, field, u) { nm, lo, hi, offsetof(struct sgf_server_opts, field), u }
static const struct num_opt num_opts[] = {
	NUM("max_write", 4096, 16u << 20, max_write, false),
	NUM("max_pages", 1, 65535, max_pages, false),
	NUM("max_read", 4096, UINT32_MAX, max_read, false),
	NUM("threads", 1, 256, threads, true),
	NUM("max_inflight", 1, 65536, max_inflight, true),
	NUM("io_uring_depth", 1, 1024, io_uring_depth, true),
};
#undef NUM

static int parse_one(char *opt, struct sgf_cmdline *cl, const struct sgf_main_ext *ext,
		     void *fs, char *err, size_t errlen)
{
	struct sgf_server_opts *o = &cl->opts;
	char *val = strchr(opt, '=');
	uint32_t v;
	int r;

	if (val)
		*val++ = '\0';
#define FLAG(nm, field) if (strcmp(opt, nm) == 0 && !val) { o->field = true; return 0; }
	FLAG("allow_other", allow_other);
	FLAG("default_permissions", default_permissions);
	FLAG("stats", stats);
	FLAG("debug", debug);
	FLAG("io_uring", io_uring);
	FLAG("passthrough", passthrough);
#undef FLAG
	for (size_t i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++) {
		const struct num_opt *n = &num_opts[i];
		if (strcmp(opt, n->name) != 0)
			continue;
		if (val == NULL || *val == '\0')
			return usage_error(err, errlen, "option '%s' needs a value", opt);
		if (parse_u32(val, n->min, n->max, &v))
			return usage_error(err, errlen, "%s must be %u..%u, got '%s'", opt,
					   n->min, n->max, val);
		if (n->is_uint)
			*(unsigned *)((char *)o + n->off) = v;
		else
			*(uint32_t *)((char *)o + n->off) = v;
		return 0;
	}
	if (sgf_mountopt_apply(opt, val, &cl->mount_flags))
		return 0;
	const char **str = !strcmp(opt, "stats_file") ? &o->stats_file
			   : !strcmp(opt, "subtype")  ? &o->subtype
			   : !strcmp(opt, "fsname")   ? &o->fsname
						      : NULL;
	if (str) {
		if (val == NULL || *val == '\0')
			return usage_error(err, errlen, "option '%s' needs a value", opt);
		*str = val;
		return 0;
	}
	r = ext && ext->opt ? ext->opt(fs, opt, val, err, errlen) : -ENOENT;
	if (r == -ENOENT)
		return usage_error(err, errlen, "unknown option '%s'", opt);
	if (r) {
		if (err[0] == '\0')
			usage_error(err, errlen, "option '%s': %s", opt, strerror(-r));
		return 2;
	}
	return 0;
}

static int parse_opts(char *list, struct sgf_cmdline *cl, const struct sgf_main_ext *ext,
		      void *fs, char *err, size_t errlen)
{
	char *save = NULL;

	for (char *o = strtok_r(list, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		int r = parse_one(o, cl, ext, fs, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

static int check_subtype(const char *s)
{
	for (; s && *s; s++)
		if (*s == ',' || *s == '/' || *s == '\\' || *s <= ' ')
			return -EINVAL;
	return 0;
}

int sgf_cmdline_parse(int argc, char **argv, const struct sgf_main_ext *ext, void *fs,
		      struct sgf_cmdline *cl, char *err, size_t errlen)
{
	unsigned nargs = ext ? ext->nargs : 0;
	const char **pos = calloc(nargs + 2, sizeof(*pos));
	unsigned npos = 0;
	int r = 0;

	memset(cl, 0, sizeof(*cl));
	cl->mount_flags = sgf_mountopt_default();
	err[0] = '\0';
	if (pos == NULL)
		return usage_error(err, errlen, "out of memory");
	for (int i = 1; i < argc && r == 0; i++) {
		char *s = argv[i];
		if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			cl->help = true;
			goto out;
		} else if (!strcmp(s, "-V") || !strcmp(s, "--version")) {
			cl->version = true;
			goto out;
		} else if (!strcmp(s, "-f")) {
			cl->foreground = true;
		} else if (!strncmp(s, "-o", 2)) {
			char *list = s[2] ? s + 2 : (i + 1 < argc ? argv[++i] : NULL);
			r = list ? parse_opts(list, cl, ext, fs, err, errlen)
				 : usage_error(err, errlen, "-o needs an option list");
		} else if (!strcmp(s, "--listen")) {
			if (i + 1 >= argc) {
				r = usage_error(err, errlen, "--listen needs unix:PATH");
				break;
			}
			cl->listen = argv[++i];
			if (strncmp(cl->listen, "unix:", 5) != 0 || cl->listen[5] == '\0')
				r = usage_error(err, errlen, "--listen takes unix:PATH, got '%s'",
						cl->listen);
		} else if (!strcmp(s, "--vhost-user")) {
			if (i + 1 >= argc || argv[i + 1][0] == '\0') {
				r = usage_error(err, errlen, "--vhost-user needs a socket PATH");
				break;
			}
			/* A Unix socket path is at most 107 bytes anyway. */
			if ((size_t)snprintf(cl->listen_buf, sizeof(cl->listen_buf), "vhost-user:%s",
					     argv[++i]) >= sizeof(cl->listen_buf)) {
				r = usage_error(err, errlen, "--vhost-user: socket path too long");
				break;
			}
			cl->listen = cl->listen_buf;
		} else if (s[0] == '-' && s[1] != '\0') {
			r = usage_error(err, errlen, "unknown argument '%s'", s);
		} else if (npos == nargs + 1) {
			r = usage_error(err, errlen, "unexpected argument '%s'", s);
		} else {
			pos[npos++] = s;
		}
	}
	if (r)
		goto out;
	if (check_subtype(cl->opts.subtype)) {
		r = usage_error(err, errlen, "subtype must not contain ',', '/', '\\\\' or blanks");
		goto out;
	}
	if (npos < nargs) {
		r = usage_error(err, errlen, "missing %s", ext && ext->args ? ext->args : "argument");
		goto out;
	}
	if (cl->listen && npos > nargs) {
		r = usage_error(err, errlen, "%s takes no MOUNTPOINT, not '%s'",
				cl->listen == cl->listen_buf ? "--vhost-user" : "--listen", pos[nargs]);
		goto out;
	}
	if (!cl->listen && npos < nargs + 1) {
		r = usage_error(err, errlen, "missing MOUNTPOINT");
		goto out;
	}
	cl->mountpoint = cl->listen ? NULL : pos[nargs];
	cl->opts.mount_flags = cl->mount_flags & ~(uint64_t)(MS_NOSUID | MS_NODEV);
	cl->opts.suid = !(cl->mount_flags & MS_NOSUID);
	cl->opts.dev = !(cl->mount_flags & MS_NODEV);
	for (unsigned i = 0; i < nargs && r == 0; i++) {
		int e = ext->arg ? ext->arg(fs, i, pos[i], err, errlen) : 0;
		if (e) {
			if (err[0] == '\0')
				usage_error(err, errlen, "'%s': %s", pos[i], strerror(-e));
			r = 2;
		}
	}
out:
	free(pos);
	return r;
}
