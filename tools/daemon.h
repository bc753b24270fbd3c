/* tools/daemon.h - the pieces of sgfuse-passthrough shared by its mount mode
 * and its socket (--listen) mode. */
#ifndef SGFUSE_TOOLS_DAEMON_H
#define SGFUSE_TOOLS_DAEMON_H

#include <sgfuse/server.h>
#include "daemon_args.h"

/* Session options from the command line. */
struct sgf_session_opts sgf_daemon_session_opts(const struct sgf_daemon_args *a);
/* Passthrough options from the command line. */
struct sgf_passthrough_opts sgf_daemon_pt_opts(const struct sgf_daemon_args *a);

/* Block the signals the daemon handles and return a signalfd for them. */
int sgf_daemon_signalfd(void);

/* Report statistics as asked: to stats_file and/or stderr. */
void sgf_daemon_report(const struct sgf_daemon_args *a, const struct sgf_stats *st,
		       bool to_stderr);

/* Serve SOURCE on a Unix socket until a signal (daemon_listen.c). */
int sgf_daemon_listen(const struct sgf_daemon_args *a);

#endif
