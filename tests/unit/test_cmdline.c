/* tests/unit/test_cmdline.c - sgf_cmdline_parse, the standard command line of
 * sgf_main(): good options land in struct sgf_cmdline; unknown options,
 * numbers out of range or with junk, missing or extra positionals are usage
 * errors (2, one line); a filesystem's own positional arguments and -o
 * options reach the callbacks of its struct sgf_main_ext (here the
 * passthrough daemon's SOURCE and backing_direct); callable many times in
 * one process. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include "check.h"
#include "cmdline.h"

#define MAX_ARGS 32

/* ---- a filesystem's own part, as tools/sgfuse-passthrough.c has it ------- */

enum direct { DIRECT_AUTO, DIRECT_ON, DIRECT_OFF };

struct fs {
	const char *source;
	unsigned nargs_seen;   /* arg callback calls */
	unsigned last_index;
	enum direct direct;
	unsigned nopts_seen;   /* opt callback calls */
	int arg_ret;           /* what the arg callback returns */
	bool arg_message;      /* ... with a message */
};

static int take_arg(void *fsp, unsigned index, const char *arg, char *err, size_t errlen)
{
	struct fs *fs = fsp;

	fs->nargs_seen++;
	fs->last_index = index;
	if (fs->arg_ret) {
		if (fs->arg_message)
			snprintf(err, errlen, "cannot use SOURCE '%s'", arg);
		return fs->arg_ret;
	}
	fs->source = arg;
	return 0;
}

static int take_opt(void *fsp, const char *key, const char *val, char *err, size_t errlen)
{
	struct fs *fs = fsp;

	fs->nopts_seen++;
	if (strcmp(key, "backing_direct") != 0)
		return -ENOENT;
	if (val && !strcmp(val, "auto"))
		fs->direct = DIRECT_AUTO;
	else if (val && !strcmp(val, "on"))
		fs->direct = DIRECT_ON;
	else if (val && !strcmp(val, "off"))
		fs->direct = DIRECT_OFF;
	else {
		snprintf(err, errlen, "backing_direct must be auto, on or off, got '%s'",
			 val ? val : "");
		return -EINVAL;
	}
	return 0;
}

static const struct sgf_main_ext pt_ext = {
	.name = "sgfuse-passthrough",
	.args = "SOURCE",
	.nargs = 1,
	.help = "  backing_direct=MODE    O_DIRECT on the backing file\n",
	.arg = take_arg,
	.opt = take_opt,
};

/* ---- running the parser ------------------------------------------------- */

/* argv must be writable: -o strings are split in place. */
struct argv_copy {
	int argc;
	char *argv[MAX_ARGS + 1];
};

static void free_args(struct argv_copy *c)
{
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
}

/* Parse "prog" + the NULL-terminated strings with ext and fs. */
static int vrun(const struct sgf_main_ext *ext, struct fs *fs, struct sgf_cmdline *cl,
		char *err, size_t errlen, struct argv_copy *c, va_list ap)
{
	const char *s;

	c->argc = 0;
	c->argv[c->argc++] = strdup("prog");
	while ((s = va_arg(ap, const char *)) != NULL && c->argc < MAX_ARGS)
		c->argv[c->argc++] = strdup(s);
	c->argv[c->argc] = NULL;
	memset(cl, 0x5A, sizeof(*cl));
	return sgf_cmdline_parse(c->argc, c->argv, ext, fs, cl, err, errlen);
}

/* With the passthrough's ext and a fresh fs. */
static int run(struct fs *fs, struct sgf_cmdline *cl, char *err, size_t errlen,
	       struct argv_copy *c, ...)
{
	va_list ap;
	int r;

	memset(fs, 0, sizeof(*fs));
	va_start(ap, c);
	r = vrun(&pt_ext, fs, cl, err, errlen, c, ap);
	va_end(ap);
	return r;
}

/* With another ext (or none: a filesystem on plain sgf_main). */
static int run_ext(const struct sgf_main_ext *ext, struct fs *fs, struct sgf_cmdline *cl,
		   char *err, size_t errlen, struct argv_copy *c, ...)
{
	va_list ap;
	int r;

	memset(fs, 0, sizeof(*fs));
	va_start(ap, c);
	r = vrun(ext, fs, cl, err, errlen, c, ap);
	va_end(ap);
	return r;
}

static bool one_line(const char *e)
{
	return e[0] != '\0' && strchr(e, '\n') == NULL;
}

/* A usage error: status 2, a one-line message (containing want, if not
 * NULL). */
static void check_usage(int line, const char *what, const struct sgf_main_ext *ext,
			const char *want, ...)
{
	struct fs fs;
	struct sgf_cmdline cl;
	struct argv_copy c;
	char e[256] = "";
	va_list ap;
	int r;

	memset(&fs, 0, sizeof(fs));
	va_start(ap, want);
	r = vrun(ext, &fs, &cl, e, sizeof(e), &c, ap);
	va_end(ap);
	if (r != 2 || !one_line(e) || (want && !strstr(e, want))) {
		fprintf(stderr, "FAIL %s:%d: %s: status %d, message \"%s\"%s%s\n", __FILE__, line,
			what, r, e, want ? ", want " : "", want ? want : "");
		check_failures++;
	}
	free_args(&c);
}

#define CHECK_USAGE(...) check_usage(__LINE__, #__VA_ARGS__, &pt_ext, NULL, __VA_ARGS__, \
				     (const char *)NULL)
#define CHECK_USAGE_MSG(want, ...) check_usage(__LINE__, #__VA_ARGS__, &pt_ext, want, \
					       __VA_ARGS__, (const char *)NULL)

/* ---- the cases ---------------------------------------------------------- */

static void check_minimal(void)
{
	struct fs fs;
	struct sgf_cmdline cl;
	struct argv_copy c;
	char err[256];

	CHECK_EQ(run(&fs, &cl, err, sizeof(err), &c, "/src", "/mnt", (const char *)NULL), 0);
	CHECK_STR(fs.source, "/src");
	CHECK_EQ(fs.nargs_seen, 1);
	CHECK_EQ(fs.last_index, 0);
	CHECK_EQ(fs.nopts_seen, 0);
	CHECK_EQ(fs.direct, DIRECT_AUTO);
	CHECK_STR(cl.mountpoint, "/mnt");
	CHECK(cl.listen == NULL);
	CHECK(!cl.foreground);
	CHECK(!cl.help && !cl.version);
	CHECK_EQ(cl.opts.max_write, 0);
	CHECK_EQ(cl.opts.max_pages, 0);
	CHECK_EQ(cl.opts.max_read, 0);
	CHECK_EQ(cl.opts.threads, 0);
	CHECK_EQ(cl.opts.max_inflight, 0);
	CHECK(!cl.opts.allow_other && !cl.opts.default_permissions);
	CHECK(!cl.opts.stats);
	CHECK(cl.opts.stats_file == NULL);
	CHECK(!cl.opts.debug);
	CHECK(cl.opts.subtype == NULL);
	CHECK(cl.opts.fsname == NULL);
	CHECK(!cl.opts.handle_signals);
	CHECK(cl.opts.fs_new == NULL && cl.opts.fs_free == NULL);
	free_args(&c);
}

static void check_all_options(void)
{
	struct fs fs;
	struct sgf_cmdline cl;
	struct argv_copy c;
	char err[256];
	int r = run(&fs, &cl, err, sizeof(err), &c, "-f", "-o",
		    "max_write=131072,max_pages=32,max_read=65536,threads=4,max_inflight=9,"
		    "allow_other,default_permissions,backing_direct=off,stats,"
		    "stats_file=/tmp/st,debug,subtype=sgtest,fsname=myfs",
		    "src", "mnt", (const char *)NULL);
	CHECK_EQ(r, 0);
	if (r != 0)
		fprintf(stderr, "  message: %s\n", err);
	CHECK(cl.foreground);
	CHECK_STR(fs.source, "src");
	CHECK_STR(cl.mountpoint, "mnt");
	CHECK_EQ(cl.opts.max_write, 131072);
	CHECK_EQ(cl.opts.max_pages, 32);
	CHECK_EQ(cl.opts.max_read, 65536);
	CHECK_EQ(cl.opts.threads, 4);
	CHECK_EQ(cl.opts.max_inflight, 9);
	CHECK(cl.opts.allow_other);
	CHECK(cl.opts.default_permissions);
	CHECK_EQ(fs.direct, DIRECT_OFF);
	CHECK(cl.opts.stats);
	CHECK_STR(cl.opts.stats_file, "/tmp/st");
	CHECK(cl.opts.debug);
	CHECK_STR(cl.opts.subtype, "sgtest");
	CHECK_STR(cl.opts.fsname, "myfs");
	/* Only what the library does not know reaches the filesystem. */
	CHECK_EQ(fs.nopts_seen, 1);
	free_args(&c);

	/* Several -o accumulate; -oLIST in one word; options may come after
	 * the positionals. */
	r = run(&fs, &cl, err, sizeof(err), &c, "-o", "max_pages=1", "src", "-o",
		"backing_direct=on", "mnt", "-f", "-othreads=2", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(cl.opts.max_pages, 1);
	CHECK_EQ(fs.direct, DIRECT_ON);
	CHECK_EQ(cl.opts.threads, 2);
	CHECK(cl.foreground);
	CHECK_STR(fs.source, "src");
	CHECK_STR(cl.mountpoint, "mnt");
	free_args(&c);

	r = run(&fs, &cl, err, sizeof(err), &c, "-o", "backing_direct=auto", "s", "m",
		(const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(fs.direct, DIRECT_AUTO);
	free_args(&c);

	/* Each range's ends are accepted; the largest 32-bit value is a
	 * number, not an overflow. */
	r = run(&fs, &cl, err, sizeof(err), &c, "-o",
		"max_write=4096,max_pages=65535,max_read=4294967295,threads=256,"
		"max_inflight=65536", "s", "m", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(cl.opts.max_write, 4096);
	CHECK_EQ(cl.opts.max_pages, 65535);
	CHECK_EQ(cl.opts.max_read, 4294967295u);
	CHECK_EQ(cl.opts.threads, 256);
	CHECK_EQ(cl.opts.max_inflight, 65536);
	free_args(&c);
	r = run(&fs, &cl, err, sizeof(err), &c, "-o",
		"max_write=16777216,max_pages=1,max_read=4096,threads=1,max_inflight=1",
		"s", "m", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(cl.opts.max_write, 16777216);
	CHECK_EQ(cl.opts.max_pages, 1);
	CHECK_EQ(cl.opts.max_read, 4096);
	CHECK_EQ(cl.opts.threads, 1);
	CHECK_EQ(cl.opts.max_inflight, 1);
	free_args(&c);
}

/* The generic options mount(8) passes: kernel ones become the mount's
 * flags (later ones win), userspace ones are dropped, neither reaches the
 * filesystem. */
static void check_mount_options(void)
{
	struct fs fs;
	struct sgf_cmdline cl;
	struct argv_copy c;
	char err[256];
	int r = run(&fs, &cl, err, sizeof(err), &c, "src", "mnt", (const char *)NULL);

	CHECK_EQ(r, 0);
	CHECK_EQ(cl.opts.mount_flags, 0);
	CHECK(!cl.opts.suid);
	CHECK(!cl.opts.dev);
	free_args(&c);
	/* The line mount.fuse3 runs for an fstab entry with defaults. */
	r = run(&fs, &cl, err, sizeof(err), &c, "src", "mnt", "-o",
		"rw,noatime,dev,suid,defaults,auto,noauto,user,users,nouser,owner,group,"
		"nofail,_netdev,x-systemd.automount,x-foo=bar,comment=x,user=bob",
		(const char *)NULL);
	CHECK_EQ(r, 0);
	if (r != 0)
		fprintf(stderr, "  message: %s\n", err);
	CHECK_EQ(cl.opts.mount_flags, MS_NOATIME);
	CHECK(cl.opts.suid);
	CHECK(cl.opts.dev);
	CHECK_EQ(fs.nopts_seen, 0);
	free_args(&c);
	r = run(&fs, &cl, err, sizeof(err), &c, "-o",
		"ro,nosuid,nodev,noexec,sync,dirsync,relatime,nodiratime,lazytime,nosymfollow",
		"src", "mnt", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(cl.opts.mount_flags, MS_RDONLY | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC |
		 MS_RELATIME | MS_NODIRATIME | MS_LAZYTIME | MS_NOSYMFOLLOW);
	CHECK(!cl.opts.suid);
	CHECK(!cl.opts.dev);
	free_args(&c);
	/* Opposites undo; the atime modes replace each other. */
	r = run(&fs, &cl, err, sizeof(err), &c, "-o",
		"ro,noexec,sync,noatime,nodiratime,lazytime,nosymfollow,suid,nosuid,"
		"rw,exec,async,strictatime,diratime,nolazytime,symfollow",
		"src", "mnt", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(cl.opts.mount_flags, MS_STRICTATIME);
	CHECK(!cl.opts.suid);
	free_args(&c);
	r = run(&fs, &cl, err, sizeof(err), &c, "-o", "noatime,atime,relatime,norelatime",
		"src", "mnt", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(cl.opts.mount_flags, 0);
	free_args(&c);
	/* A value where none belongs is still an unknown option. */
	CHECK_USAGE_MSG("unknown option 'ro'", "-o", "ro=1", "s", "m");
	CHECK_USAGE_MSG("unknown option 'nofail'", "-o", "nofail=yes", "s", "m");
	CHECK_USAGE_MSG("unknown option 'rww'", "-o", "rw,rww", "s", "m");
}

static void check_listen(void)
{
	struct fs fs;
	struct sgf_cmdline cl;
	struct argv_copy c;
	char err[256];
	int r = run(&fs, &cl, err, sizeof(err), &c, "--listen", "unix:/tmp/sock", "-o",
		    "threads=1", "src", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_STR(cl.listen, "unix:/tmp/sock");
	CHECK_STR(fs.source, "src");
	CHECK(cl.mountpoint == NULL);
	CHECK_EQ(cl.opts.threads, 1);
	free_args(&c);

	/* The positional argument first, --listen last. */
	r = run(&fs, &cl, err, sizeof(err), &c, "src", "--listen", "unix:rel/sock",
		(const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_STR(cl.listen, "unix:rel/sock");
	CHECK_STR(fs.source, "src");
	CHECK(cl.mountpoint == NULL);
	free_args(&c);

	CHECK_USAGE_MSG("--listen", "--listen");                 /* no address */
	CHECK_USAGE_MSG("SOURCE", "--listen", "unix:/tmp/sock"); /* no source */
	CHECK_USAGE("--listen", "unix:/tmp/sock", "src", "mnt"); /* both */
	CHECK_USAGE("--listen", "/tmp/sock", "src");             /* no unix: */
	CHECK_USAGE("--listen", "tcp:host:1", "src");
	CHECK_USAGE("--listen", "unix:", "src");                 /* empty path */
}

/* --vhost-user PATH is the address vhost-user:PATH. */
static void check_vhost_user(void)
{
	struct fs fs;
	struct sgf_cmdline cl;
	struct argv_copy c;
	char err[256], longpath[200];
	int r = run(&fs, &cl, err, sizeof(err), &c, "--vhost-user", "/tmp/vfs.sock", "src",
		    (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_STR(cl.listen, "vhost-user:/tmp/vfs.sock");
	CHECK_STR(fs.source, "src");
	CHECK(cl.mountpoint == NULL);
	free_args(&c);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	CHECK_USAGE_MSG("--vhost-user needs", "--vhost-user");          /* no path */
	CHECK_USAGE_MSG("--vhost-user needs", "--vhost-user", "");      /* empty path */
	CHECK_USAGE_MSG("too long", "--vhost-user", longpath, "src");
	CHECK_USAGE_MSG("SOURCE", "--vhost-user", "/tmp/vfs.sock");      /* no source */
	CHECK_USAGE_MSG("--vhost-user takes no MOUNTPOINT", "--vhost-user", "/tmp/s", "src",
			"mnt");
}

static void check_help_version(void)
{
	struct fs fs;
	struct sgf_cmdline cl;
	struct argv_copy c;
	char err[256];

	CHECK_EQ(run(&fs, &cl, err, sizeof(err), &c, "--help", (const char *)NULL), 0);
	CHECK(cl.help && !cl.version);
	free_args(&c);
	CHECK_EQ(run(&fs, &cl, err, sizeof(err), &c, "-h", (const char *)NULL), 0);
	CHECK(cl.help);
	free_args(&c);
	CHECK_EQ(run(&fs, &cl, err, sizeof(err), &c, "--version", (const char *)NULL), 0);
	CHECK(cl.version && !cl.help);
	free_args(&c);
	CHECK_EQ(run(&fs, &cl, err, sizeof(err), &c, "-V", (const char *)NULL), 0);
	CHECK(cl.version);
	free_args(&c);
	/* Help wins over what follows, even a bad option. */
	CHECK_EQ(run(&fs, &cl, err, sizeof(err), &c, "--help", "-o", "frobnicate",
		     (const char *)NULL), 0);
	CHECK(cl.help);
	free_args(&c);

	/* The usage text: the library's options, --listen, the filesystem's
	 * positional arguments and its help. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CHECK(f != NULL);
	if (f) {
		sgf_cmdline_usage(f, "sgfuse-passthrough", &pt_ext);
		fclose(f);
		CHECK(strstr(text, "Usage: sgfuse-passthrough") != NULL);
		CHECK(strstr(text, "SOURCE MOUNTPOINT") != NULL);
		CHECK(strstr(text, "max_pages") != NULL);
		CHECK(strstr(text, "max_inflight") != NULL);
		CHECK(strstr(text, "--listen") != NULL);
		CHECK(strstr(text, "--vhost-user PATH") != NULL);
		CHECK(strstr(text, "backing_direct=MODE") != NULL);
		free(text);
	}
	text = NULL;
	f = open_memstream(&text, &len);
	if (f) {
		sgf_cmdline_usage(f, "plainfs", NULL);
		fclose(f);
		CHECK(strstr(text, "Usage: plainfs") != NULL);
		CHECK(strstr(text, "] MOUNTPOINT") != NULL);
		CHECK(strstr(text, "backing_direct") == NULL);
		free(text);
	}
}

static void check_bad(void)
{
	/* Missing and extra positionals. */
	CHECK_USAGE_MSG("SOURCE", "-f");
	CHECK_USAGE_MSG("MOUNTPOINT", "src");
	CHECK_USAGE_MSG("MOUNTPOINT", "-o", "debug", "src");
	CHECK_USAGE_MSG("extra", "src", "mnt", "extra");
	/* Unknown options. */
	CHECK_USAGE_MSG("-x", "-x", "src", "mnt");
	CHECK_USAGE_MSG("--bogus", "--bogus", "src", "mnt");
	CHECK_USAGE_MSG("frobnicate", "-o", "frobnicate", "src", "mnt");
	CHECK_USAGE_MSG("frobnicate", "-o", "debug,frobnicate", "src", "mnt");
	CHECK_USAGE_MSG("max_writes", "-o", "max_writes=4096", "src", "mnt");
	/* -o without its argument. */
	CHECK_USAGE_MSG("-o", "src", "mnt", "-o");
	/* Numbers with junk, signs, overflow, empty. */
	CHECK_USAGE("-o", "max_write=abc", "src", "mnt");
	CHECK_USAGE("-o", "max_write=12x", "src", "mnt");
	CHECK_USAGE("-o", "max_write=4096 ", "src", "mnt");
	CHECK_USAGE("-o", "max_write= 4096", "src", "mnt");
	CHECK_USAGE("-o", "max_write=+4096", "src", "mnt");
	CHECK_USAGE_MSG("needs a value", "-o", "max_write=", "src", "mnt");
	CHECK_USAGE_MSG("needs a value", "-o", "max_write", "src", "mnt");
	CHECK_USAGE("-o", "max_write=-1", "src", "mnt");
	CHECK_USAGE("-o", "max_write=4294967296", "src", "mnt");
	CHECK_USAGE("-o", "max_write=99999999999999999999999", "src", "mnt");
	CHECK_USAGE("-o", "max_pages=1.5", "src", "mnt");
	CHECK_USAGE("-o", "threads=two", "src", "mnt");
	CHECK_USAGE("-o", "threads=-3", "src", "mnt");
	CHECK_USAGE("-o", "max_read=1k", "src", "mnt");
	CHECK_USAGE("-o", "max_inflight=0x10", "src", "mnt");
	/* Each option's range, just outside both ends. */
	CHECK_USAGE_MSG("max_write must be 4096..16777216", "-o", "max_write=4095", "s", "m");
	CHECK_USAGE_MSG("max_write must be 4096..16777216", "-o", "max_write=16777217", "s",
			"m");
	CHECK_USAGE_MSG("max_pages must be 1..65535", "-o", "max_pages=0", "s", "m");
	CHECK_USAGE_MSG("max_pages must be 1..65535", "-o", "max_pages=65536", "s", "m");
	CHECK_USAGE_MSG("max_read", "-o", "max_read=4095", "s", "m");
	CHECK_USAGE_MSG("max_read", "-o", "max_read=0", "s", "m");
	CHECK_USAGE_MSG("threads must be 1..256", "-o", "threads=0", "s", "m");
	CHECK_USAGE_MSG("threads must be 1..256", "-o", "threads=257", "s", "m");
	CHECK_USAGE_MSG("max_inflight must be 1..65536", "-o", "max_inflight=0", "s", "m");
	CHECK_USAGE_MSG("max_inflight must be 1..65536", "-o", "max_inflight=65537", "s", "m");
	/* Flags take no value. */
	CHECK_USAGE("-o", "debug=1", "src", "mnt");
	/* Strings. */
	CHECK_USAGE_MSG("needs a value", "-o", "stats_file=", "src", "mnt");
	CHECK_USAGE_MSG("needs a value", "-o", "stats_file", "src", "mnt");
	CHECK_USAGE_MSG("needs a value", "-o", "subtype=", "src", "mnt");
	CHECK_USAGE_MSG("needs a value", "-o", "fsname", "src", "mnt");
	CHECK_USAGE_MSG("subtype", "-o", "subtype=a/b", "src", "mnt");
	CHECK_USAGE_MSG("subtype", "-o", "subtype=a b", "src", "mnt");
	/* The filesystem's own option: its message, one line. */
	CHECK_USAGE_MSG("backing_direct must be auto, on or off, got 'maybe'", "-o",
			"backing_direct=maybe", "src", "mnt");
	CHECK_USAGE_MSG("backing_direct", "-o", "backing_direct=", "src", "mnt");
	CHECK_USAGE_MSG("backing_direct", "-o", "backing_direct", "src", "mnt");
}

/* The filesystem's callbacks: positional arguments in order after the
 * whole line was accepted, their errors, and no ext at all. */
static void check_ext(void)
{
	struct fs fs;
	struct sgf_cmdline cl;
	struct argv_copy c;
	char err[256];
	int r;

	/* A usage error elsewhere: the positional callback is not called. */
	r = run(&fs, &cl, err, sizeof(err), &c, "-o", "frobnicate", "src", "mnt",
		(const char *)NULL);
	CHECK_EQ(r, 2);
	CHECK_EQ(fs.nargs_seen, 0);
	free_args(&c);
	r = run(&fs, &cl, err, sizeof(err), &c, "src", "mnt", "extra", (const char *)NULL);
	CHECK_EQ(r, 2);
	CHECK_EQ(fs.nargs_seen, 0);
	free_args(&c);

	/* The callback refuses, with its own message... */
	memset(&fs, 0, sizeof(fs));
	fs.arg_ret = -EINVAL;
	fs.arg_message = true;
	{
		char *argv[] = { strdup("prog"), strdup("bad"), strdup("mnt"), NULL };
		r = sgf_cmdline_parse(3, argv, &pt_ext, &fs, &cl, err, sizeof(err));
		CHECK_EQ(r, 2);
		CHECK_STR(err, "cannot use SOURCE 'bad'");
		CHECK_EQ(fs.nargs_seen, 1);
		for (int i = 0; i < 3; i++)
			free(argv[i]);
	}
	/* ... or with none: the library says which argument and why. */
	memset(&fs, 0, sizeof(fs));
	fs.arg_ret = -ENOTDIR;
	{
		char *argv[] = { strdup("prog"), strdup("bad"), strdup("mnt"), NULL };
		r = sgf_cmdline_parse(3, argv, &pt_ext, &fs, &cl, err, sizeof(err));
		CHECK_EQ(r, 2);
		CHECK(one_line(err));
		CHECK(strstr(err, "bad") != NULL);
		CHECK(strstr(err, strerror(ENOTDIR)) != NULL);
		for (int i = 0; i < 3; i++)
			free(argv[i]);
	}

	/* Two positionals, in order, before MOUNTPOINT. */
	static const struct sgf_main_ext two = {
		.args = "SOURCE SOURCE2", .nargs = 2, .arg = take_arg, .opt = take_opt,
	};
	r = run_ext(&two, &fs, &cl, err, sizeof(err), &c, "a", "b", "mnt", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(fs.nargs_seen, 2);
	CHECK_EQ(fs.last_index, 1);
	CHECK_STR(fs.source, "b");
	CHECK_STR(cl.mountpoint, "mnt");
	free_args(&c);
	check_usage(__LINE__, "two: a", &two, "missing SOURCE SOURCE2", "a", (const char *)NULL);
	check_usage(__LINE__, "two: a b", &two, "MOUNTPOINT", "a", "b", (const char *)NULL);

	/* No callbacks at all: positionals are counted but go nowhere, and
	 * every unknown option is an error. */
	static const struct sgf_main_ext bare = { .args = "SOURCE", .nargs = 1 };
	r = run_ext(&bare, &fs, &cl, err, sizeof(err), &c, "src", "mnt", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_STR(cl.mountpoint, "mnt");
	free_args(&c);
	check_usage(__LINE__, "bare: -o backing_direct=on", &bare, "backing_direct", "-o",
		    "backing_direct=on", "src", "mnt", (const char *)NULL);

	/* No ext (plain sgf_main): MOUNTPOINT only. */
	r = run_ext(NULL, &fs, &cl, err, sizeof(err), &c, "-o", "threads=3", "mnt",
		    (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_STR(cl.mountpoint, "mnt");
	CHECK_EQ(cl.opts.threads, 3);
	free_args(&c);
	r = run_ext(NULL, &fs, &cl, err, sizeof(err), &c, "--listen", "unix:/tmp/s",
		    (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_STR(cl.listen, "unix:/tmp/s");
	CHECK(cl.mountpoint == NULL);
	free_args(&c);
	check_usage(__LINE__, "NULL ext: src mnt", NULL, "'mnt'", "src", "mnt",
		    (const char *)NULL);
	check_usage(__LINE__, "NULL ext: nothing", NULL, "MOUNTPOINT", "-f", (const char *)NULL);
	check_usage(__LINE__, "NULL ext: --listen with a mountpoint", NULL, "mnt", "--listen",
		    "unix:/tmp/s", "mnt", (const char *)NULL);
	check_usage(__LINE__, "NULL ext: backing_direct", NULL, "backing_direct", "-o",
		    "backing_direct=on", "mnt", (const char *)NULL);
}

/* A short err buffer is filled, truncated and terminated. */
static void check_small_err(void)
{
	struct fs fs;
	struct sgf_cmdline cl;
	struct argv_copy c;
	char err[8];

	memset(err, 'X', sizeof(err));
	CHECK_EQ(run(&fs, &cl, err, sizeof(err), &c, "-o", "frobnicate", "s", "m",
		     (const char *)NULL), 2);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	free_args(&c);
	/* The filesystem's message too. */
	memset(err, 'X', sizeof(err));
	CHECK_EQ(run(&fs, &cl, err, sizeof(err), &c, "-o", "backing_direct=maybe", "s", "m",
		     (const char *)NULL), 2);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	free_args(&c);
}

int main(void)
{
	check_minimal();
	check_all_options();
	check_mount_options();
	check_listen();
	check_vhost_user();
	check_help_version();
	check_bad();
	check_ext();
	check_small_err();
	/* The good case again after many errors: no state left behind. */
	check_minimal();
	return check_exit();
}
