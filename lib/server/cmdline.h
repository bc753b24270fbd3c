/* lib/server/cmdline.h - the standard command line of sgf_main(), parsed
 * into one struct so the parser is unit-tested apart from serving.
 * Internal. */
#ifndef SGFUSE_SERVER_CMDLINE_H
#define SGFUSE_SERVER_CMDLINE_H

#include <stdio.h>
#include <sgfuse/server.h>

struct sgf_cmdline {
	struct sgf_server_opts opts; /* strings point into argv */
	bool foreground;             /* -f */
	bool help, version;
	const char *listen;          /* "unix:PATH", "vhost-user:PATH" or NULL */
	const char *mountpoint;      /* NULL with --listen, --vhost-user */
	char listen_buf[128];        /* --vhost-user PATH as an address */
	uint64_t mount_flags;        /* MS_* after the generic options, MS_NOSUID
				      * and MS_NODEV included (opts has them split) */
};

/* Parse argv (its -o lists are split in place, so it must be writable).
 * The filesystem's positional arguments and options go to ext's callbacks
 * with fs. Returns 0, or 2 for a usage error with a one-line message (no
 * trailing newline) in err. */
int sgf_cmdline_parse(int argc, char **argv, const struct sgf_main_ext *ext, void *fs,
		      struct sgf_cmdline *cl, char *err, size_t errlen);

/* The --help text. */
void sgf_cmdline_usage(FILE *f, const char *prog, const struct sgf_main_ext *ext);

#endif
