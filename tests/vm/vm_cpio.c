/* tests/vm/vm_cpio.c - a one-file newc cpio archive, the per-test part of
 * the guest's initramfs (the kernel unpacks archives appended to the
 * cached one in turn, so /test.sh joins its tree without a rebuild). */
#include "vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int put(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Zeros up to the next multiple of 4 of total (newc pads names and data). */
static int pad4(int fd, size_t total)
{
	static const char zeros[4];
	return put(fd, zeros, (4 - total % 4) % 4);
}

/* One newc entry: header, name (NUL included), padding, data, padding. */
static int entry(int fd, unsigned ino, const char *name, unsigned mode, unsigned nlink,
		 const void *data, size_t len)
{
	char hdr[111];
	size_t namesize = strlen(name) + 1;
	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 ino, mode, 0u, 0u, nlink, 0u, (unsigned)len, 0u, 0u, 0u, 0u,
		 (unsigned)namesize, 0u);
	int err = put(fd, hdr, 110);
	if (!err)
		err = put(fd, name, namesize);
	if (!err)
		err = pad4(fd, 110 + namesize);
	if (!err && len)
		err = put(fd, data, len);
	if (!err)
		err = pad4(fd, len);
	return err;
}

int vm_cpio_one(int fd, const char *name, unsigned mode, const void *data, size_t len)
{
	int err = entry(fd, 1, name, mode, 1, data, len);
	return err ? err : entry(fd, 0, "TRAILER!!!", 0, 1, NULL, 0);
}
