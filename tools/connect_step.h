/* tools/connect_step.h - the step of sgf_client_connect() an error comes
 * from, so the tools name it in their one-line messages: connect(2) of the
 * socket, or the exchange after it (INIT on a socket; on vhost-user the
 * handshake and INIT, "vhost-user setup": the peer is no backend we can
 * use, refused a request, stayed silent or hung up). Header-only, shared
 * by the tools. */
#ifndef SGFUSE_TOOLS_CONNECT_STEP_H
#define SGFUSE_TOOLS_CONNECT_STEP_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static inline bool connect_is_vhost(const char *address)
{
	return address != NULL && strncmp(address, "vhost-user:", 11) == 0;
}

static inline const char *connect_step(const char *address, int err)
{
	/* connect(2) never fails with these; the exchange after it does. */
	bool exchange = err == -EPROTO || err == -ENOTCONN || err == -EIO || err == -ETIMEDOUT;

	if (!exchange)
		return "connect";
	return connect_is_vhost(address) ? "vhost-user setup" : "INIT";
}

#endif
