/* lib/client/buf.c - sgf_client_buf_alloc/_free: page-aligned buffers from
 * the connection's transport, which on vhost-user come out of the memory
 * the backend shares (so I/O from them needs no copy), and elsewhere are
 * plain memory, so code written for one works on both. */
#include <errno.h>
#include "conn.h"

void *sgf_client_buf_alloc(struct sgf_client *c, size_t size)
{
	if (c == NULL || size == 0) {
		errno = EINVAL;
		return NULL;
	}
	return c->tp->buf_alloc(c, size);
}

void sgf_client_buf_free(struct sgf_client *c, void *p)
{
	if (c != NULL && p != NULL)
		c->tp->buf_free(c, p);
}
