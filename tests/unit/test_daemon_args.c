/* tests/unit/test_daemon_args.c - the daemon's command line parser: good
 * options land in the struct; unknown options, numbers with junk, missing or
 * extra operands are usage errors (2); callable many times in one process. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon_args.h"
#include "check.h"

#define MAX_ARGS 32

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

/* Parse "sgfuse-passthrough" + the NULL-terminated strings. */
static int run(struct sgf_daemon_args *a, char *err, size_t errlen,
	       struct argv_copy *c, ...)
{
	va_list ap;
	const char *s;
	c->argc = 0;
	c->argv[c->argc++] = strdup("sgfuse-passthrough");
	va_start(ap, c);
	while ((s = va_arg(ap, const char *)) != NULL && c->argc < MAX_ARGS)
		c->argv[c->argc++] = strdup(s);
	va_end(ap);
	c->argv[c->argc] = NULL;
	memset(a, 0x5A, sizeof(*a));
	return sgf_daemon_parse_args(c->argc, c->argv, a, err, errlen);
}

/* A usage error: status 2, a one-line message. */
#define CHECK_USAGE(...) do { \
	struct sgf_daemon_args a_; \
	struct argv_copy c_; \
	char e_[256] = ""; \
	int r_ = run(&a_, e_, sizeof(e_), &c_, __VA_ARGS__, (const char *)NULL); \
	if (r_ != 2 || e_[0] == '\0' || strchr(e_, '\n')) { \
		fprintf(stderr, "FAIL %s:%d: %s: status %d, message \"%s\"\n", \
			__FILE__, __LINE__, #__VA_ARGS__, r_, e_); \
		check_failures++; \
	} \
	free_args(&c_); \
} while (0)

static void check_minimal(void)
{
	struct sgf_daemon_args a;
	struct argv_copy c;
	char err[256];
	CHECK_EQ(run(&a, err, sizeof(err), &c, "/src", "/mnt", (const char *)NULL), 0);
	CHECK_STR(a.source, "/src");
	CHECK_STR(a.mountpoint, "/mnt");
	CHECK(a.listen == NULL);
	CHECK(!a.foreground);
	CHECK(!a.help && !a.version);
	CHECK_EQ(a.max_write, 0);
	CHECK_EQ(a.max_pages, 0);
	CHECK_EQ(a.max_read, 0);
	CHECK_EQ(a.threads, 0);
	CHECK(!a.allow_other && !a.default_permissions);
	CHECK_EQ(a.backing_direct, SGF_BACKING_DIRECT_AUTO);
	CHECK(!a.stats);
	CHECK(a.stats_file == NULL);
	CHECK(!a.debug);
	CHECK(a.subtype == NULL);
	free_args(&c);
}

static void check_all_options(void)
{
	struct sgf_daemon_args a;
	struct argv_copy c;
	char err[256];
	int r = run(&a, err, sizeof(err), &c, "-f", "-o",
		    "max_write=131072,max_pages=32,max_read=65536,threads=4,allow_other,"
		    "default_permissions,backing_direct=off,stats,stats_file=/tmp/st,debug,"
		    "subtype=sgtest", "src", "mnt", (const char *)NULL);
	CHECK_EQ(r, 0);
	if (r != 0)
		fprintf(stderr, "  message: %s\n", err);
	CHECK(a.foreground);
	CHECK_STR(a.source, "src");
	CHECK_STR(a.mountpoint, "mnt");
	CHECK_EQ(a.max_write, 131072);
	CHECK_EQ(a.max_pages, 32);
	CHECK_EQ(a.max_read, 65536);
	CHECK_EQ(a.threads, 4);
	CHECK(a.allow_other);
	CHECK(a.default_permissions);
	CHECK_EQ(a.backing_direct, SGF_BACKING_DIRECT_OFF);
	CHECK(a.stats);
	CHECK_STR(a.stats_file, "/tmp/st");
	CHECK(a.debug);
	CHECK_STR(a.subtype, "sgtest");
	free_args(&c);

	/* Several -o accumulate; options may come after the operands. */
	r = run(&a, err, sizeof(err), &c, "-o", "max_pages=1", "src", "-o",
		"backing_direct=on", "mnt", "-f", "-o", "threads=2", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(a.max_pages, 1);
	CHECK_EQ(a.backing_direct, SGF_BACKING_DIRECT_ON);
	CHECK_EQ(a.threads, 2);
	CHECK(a.foreground);
	CHECK_STR(a.source, "src");
	CHECK_STR(a.mountpoint, "mnt");
	free_args(&c);

	r = run(&a, err, sizeof(err), &c, "-o", "backing_direct=auto", "s", "m",
		(const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(a.backing_direct, SGF_BACKING_DIRECT_AUTO);
	free_args(&c);

	/* Largest 32-bit value is a number, not an overflow. */
	r = run(&a, err, sizeof(err), &c, "-o", "max_read=4294967295", "s", "m",
		(const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_EQ(a.max_read, 4294967295u);
	free_args(&c);
}

static void check_listen(void)
{
	struct sgf_daemon_args a;
	struct argv_copy c;
	char err[256];
	int r = run(&a, err, sizeof(err), &c, "--listen", "unix:/tmp/sock", "-o", "threads=1",
		    "src", (const char *)NULL);
	CHECK_EQ(r, 0);
	CHECK_STR(a.listen, "unix:/tmp/sock");
	CHECK_STR(a.source, "src");
	CHECK(a.mountpoint == NULL);
	free_args(&c);

	CHECK_USAGE("--listen");                          /* no address */
	CHECK_USAGE("--listen", "unix:/tmp/sock");        /* no source */
	CHECK_USAGE("--listen", "unix:/tmp/sock", "src", "mnt"); /* both */
}

static void check_help_version(void)
{
	struct sgf_daemon_args a;
	struct argv_copy c;
	char err[256];
	CHECK_EQ(run(&a, err, sizeof(err), &c, "--help", (const char *)NULL), 0);
	CHECK(a.help);
	free_args(&c);
	CHECK_EQ(run(&a, err, sizeof(err), &c, "--version", (const char *)NULL), 0);
	CHECK(a.version);
	free_args(&c);
	CHECK(strlen(sgf_daemon_usage) > 0);
	CHECK(strstr(sgf_daemon_usage, "max_pages") != NULL);
	CHECK(strstr(sgf_daemon_usage, "--listen") != NULL);
}

static void check_bad(void)
{
	/* Missing and extra operands. */
	CHECK_USAGE("-f");
	CHECK_USAGE("src");
	CHECK_USAGE("-o", "debug", "src");
	CHECK_USAGE("src", "mnt", "extra");
	/* Unknown options. */
	CHECK_USAGE("-x", "src", "mnt");
	CHECK_USAGE("--bogus", "src", "mnt");
	CHECK_USAGE("-o", "frobnicate", "src", "mnt");
	CHECK_USAGE("-o", "debug,frobnicate", "src", "mnt");
	CHECK_USAGE("-o", "max_writes=4096", "src", "mnt");
	/* -o without its argument. */
	CHECK_USAGE("src", "mnt", "-o");
	/* Numbers with junk, signs, overflow, empty. */
	CHECK_USAGE("-o", "max_write=abc", "src", "mnt");
	CHECK_USAGE("-o", "max_write=12x", "src", "mnt");
	CHECK_USAGE("-o", "max_write=4096 ", "src", "mnt");
	CHECK_USAGE("-o", "max_write=", "src", "mnt");
	CHECK_USAGE("-o", "max_write", "src", "mnt");
	CHECK_USAGE("-o", "max_write=-1", "src", "mnt");
	CHECK_USAGE("-o", "max_write=4294967296", "src", "mnt");
	CHECK_USAGE("-o", "max_write=99999999999999999999999", "src", "mnt");
	CHECK_USAGE("-o", "max_pages=1.5", "src", "mnt");
	CHECK_USAGE("-o", "threads=two", "src", "mnt");
	CHECK_USAGE("-o", "threads=-3", "src", "mnt");
	CHECK_USAGE("-o", "max_read=1k", "src", "mnt");
	/* Enumerations and strings. */
	CHECK_USAGE("-o", "backing_direct=maybe", "src", "mnt");
	CHECK_USAGE("-o", "backing_direct=", "src", "mnt");
	CHECK_USAGE("-o", "backing_direct", "src", "mnt");
	CHECK_USAGE("-o", "stats_file=", "src", "mnt");
	CHECK_USAGE("-o", "stats_file", "src", "mnt");
	CHECK_USAGE("-o", "subtype=", "src", "mnt");
}

/* A short err buffer is filled, truncated and terminated. */
static void check_small_err(void)
{
	struct sgf_daemon_args a;
	struct argv_copy c;
	char err[8];
	memset(err, 'X', sizeof(err));
	CHECK_EQ(run(&a, err, sizeof(err), &c, "-o", "frobnicate", "s", "m",
		     (const char *)NULL), 2);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	free_args(&c);
}

int main(void)
{
	check_minimal();
	check_all_options();
	check_listen();
	check_help_version();
	check_bad();
	check_small_err();
	/* The good case again after many errors: no state left behind. */
	check_minimal();
	return check_exit();
}
