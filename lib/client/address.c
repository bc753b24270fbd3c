/* lib/client/address.c - turns a server address ("unix:PATH", "unix:@NAME"
 * for the abstract namespace, or a bare path with a '/') into a connected
 * stream socket and hands it to sgf_client_attach(). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "conn.h"

/* Fill addr from address; returns the sockaddr length or -errno. */
static int parse_unix_address(const char *address, struct sockaddr_un *addr)
{
	const char *path;

	if (address == NULL)
		return -EINVAL;
	if (strncmp(address, "unix:", 5) == 0)
		path = address + 5;
	else if (strchr(address, '/') != NULL)
		path = address;
	else
		return -EINVAL;

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

int sgf_client_connect(const char *address, const struct sgf_client_opts *opts,
		       struct sgf_client **out)
{
	struct sockaddr_un addr;
	int len = parse_unix_address(address, &addr);

	if (len < 0)
		return len;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&addr, (socklen_t)len) < 0) {
		if (errno == EINTR)
			continue;
		int err = -errno;
		close(fd);
		return err;
	}
	return sgf_client_attach(fd, opts, out);
}
