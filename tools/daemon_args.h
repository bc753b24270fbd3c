/* tools/daemon_args.h - command line of sgfuse-passthrough, parsed into one
 * struct so the parser is unit-tested apart from the daemon. */
#ifndef SGFUSE_TOOLS_DAEMON_ARGS_H
#define SGFUSE_TOOLS_DAEMON_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sgfuse/passthrough.h>

struct sgf_daemon_args {
	const char *source;         /* backing directory */
	const char *mountpoint;     /* NULL with --listen */
	const char *listen;         /* "unix:PATH" or NULL */
	bool foreground;            /* -f */
	bool help, version;
	uint32_t max_write;         /* 0: default */
	uint32_t max_pages;         /* 0: derived */
	uint32_t max_read;          /* 0: not passed to mount */
	unsigned threads;           /* 0: one per CPU */
	bool allow_other, default_permissions;
	enum sgf_backing_direct backing_direct;
	bool stats;                 /* print statistics on exit */
	const char *stats_file;     /* written on SIGUSR1 and at exit */
	bool debug;
	const char *subtype;
};

/* Parse argv into *a (pointers point into argv). Returns 0, or 2 for a usage
 * error with a one-line message (no trailing newline) in err. Strings given
 * to -o are split in place, so argv must be writable. */
int sgf_daemon_parse_args(int argc, char **argv, struct sgf_daemon_args *a,
			  char *err, size_t errlen);

/* The --help text. */
extern const char sgf_daemon_usage[];

#endif
