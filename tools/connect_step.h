/* tools/connect_step.h - the step of sgf_client_connect() an error comes
 * from, so the tools name it in their one-line messages: connect(2) of the
 * socket, or the INIT exchange after it (the server's reply was of another
 * protocol, malformed, or it hung up). Header-only, shared by the tools. */
#ifndef SGFUSE_TOOLS_CONNECT_STEP_H
#define SGFUSE_TOOLS_CONNECT_STEP_H

#include <errno.h>

static inline const char *connect_step(int err)
{
	/* connect(2) never fails with these; the INIT exchange does. */
	return err == -EPROTO || err == -ENOTCONN || err == -EIO ? "INIT" : "connect";
}

#endif
