/* lib/client/address.c - turns a server address into a connection:
 * "unix:PATH", "unix:@NAME" for the abstract namespace, or a bare path with
 * a '/', become a connected stream socket for sgf_client_attach();
 * "vhost-user:PATH" (or @NAME) goes to the vhost-user transport. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "conn.h"

#define VHOST_PREFIX "vhost-user:"

int sgf_unix_address(const char *path, struct sockaddr_un *addr)
{
	size_t n = strlen(path);

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	memcpy(addr->sun_path, path, n);
	if (path[0] == '@') {
		/* Abstract names are not NUL-terminated; the length says it. */
		addr->sun_path[0] = '\0';
		return (int)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	return (int)sizeof(*addr);
}

int sgf_unix_connect(const struct sockaddr_un *addr, int len, bool nonblock)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		return -errno;
	while (connect(fd, (const struct sockaddr *)addr, (socklen_t)len) < 0) {
		if (errno == EINTR)
			continue;
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int sgf_client_connect(const char *address, const struct sgf_client_opts *opts,
		       struct sgf_client **out)
{
	struct sockaddr_un addr;
	const char *path;

	if (address == NULL)
		return -EINVAL;
	if (strncmp(address, VHOST_PREFIX, strlen(VHOST_PREFIX)) == 0) {
		path = address + strlen(VHOST_PREFIX);
		return *path ? sgf_vhost_connect(path, opts, out) : -EINVAL;
	}
	if (strncmp(address, "unix:", 5) == 0)
		path = address + 5;
	else if (strchr(address, '/') != NULL)
		path = address;
	else
		return -EINVAL;

	int len = sgf_unix_address(path, &addr);
	if (len < 0)
		return len;
	int fd = sgf_unix_connect(&addr, len, false);
	if (fd < 0)
		return fd;
	return sgf_client_attach(fd, opts, out);
}
