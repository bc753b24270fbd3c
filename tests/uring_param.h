/* tests/uring_param.h - switch the kernel's FUSE over io_uring on for a test
 * run (/sys/module/fuse/parameters/enable_uring) and put the setting back
 * afterwards, also from a fatal-signal handler: the restore uses only
 * open/write/close. Shared by the mounted harness and the server suite's
 * helper. */
#ifndef SGF_TEST_URING_PARAM_H
#define SGF_TEST_URING_PARAM_H

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define SGF_URING_PARAM "/sys/module/fuse/parameters/enable_uring"

/* What the setting was before uring_param_on(); 0 when untouched. */
static char uring_param_saved;

/* 0, or -errno when the kernel has no FUSE over io_uring (-ENOENT) or the
 * setting cannot be changed. */
static inline int uring_param_set(char value)
{
	char buf[2] = { value, '\n' };
	int fd = open(SGF_URING_PARAM, O_WRONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, buf, 2) != 2)
		err = -errno;
	close(fd);
	return err;
}

static inline int uring_param_get(char *value)
{
	char c;
	int fd = open(SGF_URING_PARAM, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, &c, 1);
	close(fd);
	if (n != 1)
		return -EIO;
	*value = c;
	return 0;
}

static inline int uring_param_on(void)
{
	char was = 0;
	int err = uring_param_get(&was);

	if (err)
		return err;
	if (uring_param_saved == 0)
		uring_param_saved = was;
	return uring_param_set('Y');
}

/* Async-signal-safe. */
static inline void uring_param_restore(void)
{
	if (uring_param_saved != 0 && uring_param_set(uring_param_saved) == 0)
		uring_param_saved = 0;
}

#endif
