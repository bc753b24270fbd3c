/* lib/server/mount.c - attach a /dev/fuse fd to a directory: mount(2) directly as
 * root, or through fusermount3, which mounts for us and hands the fd back
 * over a socket (SCM_RIGHTS) named by _FUSE_COMMFD. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mount.h"

#define FUSERMOUNT "fusermount3"

__attribute__((format(printf, 3, 4)))
static void appendf(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	if (n < size)
		vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

/* Options both mount paths share. */
static void common_opts(char *buf, size_t size, const struct sgf_mount_opts *mo)
{
	if (mo->allow_other)
		appendf(buf, size, ",allow_other");
	if (mo->default_permissions)
		appendf(buf, size, ",default_permissions");
	if (mo->max_read)
		appendf(buf, size, ",max_read=%u", mo->max_read);
}

static unsigned long kernel_flags(const struct sgf_mount_opts *mo)
{
	return (mo->flags & SGF_MOUNT_FLAGS) | (mo->suid ? 0 : MS_NOSUID) | (mo->dev ? 0 : MS_NODEV);
}

/* The flags as fusermount3 (3.14) spells them; it knows no others and would
 * hand an unknown name to the kernel, which refuses it. */
static int fusermount_flags(char *buf, size_t size, const struct sgf_mount_opts *mo)
{
	static const struct { unsigned long flag; const char *name; } names[] = {
		{ MS_RDONLY, "ro" }, { MS_NOEXEC, "noexec" }, { MS_SYNCHRONOUS, "sync" },
		{ MS_DIRSYNC, "dirsync" }, { MS_NOATIME, "noatime" },
	};
	/* relatime is what the kernel does when told nothing. */
	unsigned long rest = mo->flags & SGF_MOUNT_FLAGS & ~MS_RELATIME;

	appendf(buf, size, "%s,%s", mo->suid ? "suid" : "nosuid", mo->dev ? "dev" : "nodev");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(rest & names[i].flag))
			continue;
		appendf(buf, size, ",%s", names[i].name);
		rest &= ~names[i].flag;
	}
	return rest ? -EOPNOTSUPP : 0;
}

static int check_mountpoint(const char *mountpoint, struct stat *st)
{
	if (stat(mountpoint, st) != 0)
		return -errno;
	return S_ISDIR(st->st_mode) ? 0 : -ENOTDIR;
}

static int mount_direct(const char *mountpoint, const struct sgf_mount_opts *mo,
			const struct stat *st)
{
	char opts[512], type[128];
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=%o,user_id=%u,group_id=%u", fd,
		 st->st_mode & S_IFMT, (unsigned)getuid(), (unsigned)getgid());
	common_opts(opts, sizeof(opts), mo);
	if ((size_t)snprintf(type, sizeof(type), "fuse%s%s", mo->subtype ? "." : "",
			     mo->subtype ? mo->subtype : "") >= sizeof(type) ||
	    (mo->subtype && strpbrk(mo->subtype, ",/"))) {
		close(fd);
		return -EINVAL;
	}
	if (mount(mo->source ? mo->source : "sgfuse", mountpoint, type, kernel_flags(mo),
		  opts) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Receive the fd fusermount3 sends back over sock. */
static int receive_fd(int sock)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 ? -EIO : -errno;
	c = CMSG_FIRSTHDR(&mh);
	if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EIO;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

static int run_fusermount(char *const argv[], int comm_fd)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (comm_fd >= 0) {
			char env[16];
			snprintf(env, sizeof(env), "%d", comm_fd);
			setenv("_FUSE_COMMFD", env, 1);
		}
		execvp(FUSERMOUNT, argv);
		fprintf(stderr, "sgfuse: cannot run %s: %s\n", FUSERMOUNT, strerror(errno));
		_exit(127);
	}
	if (comm_fd >= 0)
		close(comm_fd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return -ENOENT;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

/* Copy s into an option string, escaping ',' and '\\' as fusermount3
 * expects, so a name cannot end the option or add others. */
static void append_escaped(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);

	for (; *s && n + 2 < size; s++) {
		if (*s == ',' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n] = '\0';
}

static int mount_fusermount(const char *mountpoint, const struct sgf_mount_opts *mo)
{
	char opts[4096] = "";
	int sv[2], fd, err;

	err = fusermount_flags(opts, sizeof(opts), mo);
	if (err)
		return err;
	appendf(opts, sizeof(opts), ",fsname=");
	append_escaped(opts, sizeof(opts), mo->source ? mo->source : "sgfuse");
	if (mo->subtype) {
		appendf(opts, sizeof(opts), ",subtype=");
		append_escaped(opts, sizeof(opts), mo->subtype);
	}
	common_opts(opts, sizeof(opts), mo);
	if (strlen(opts) + 2 >= sizeof(opts))
		return -ENAMETOOLONG; /* truncated: options would be lost */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -errno;
	/* sv[0] stays ours (close-on-exec); sv[1] goes to fusermount3. */
	if (fcntl(sv[0], F_SETFD, FD_CLOEXEC) != 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	char *argv[] = { FUSERMOUNT, "-o", opts, "--", (char *)mountpoint, NULL };
	err = run_fusermount(argv, sv[1]);
	fd = err ? err : receive_fd(sv[0]);
	close(sv[0]);
	/* Mounted, but the fd never came: nothing may stay mounted. */
	if (err == 0 && fd < 0)
		sgf_unmount(mountpoint);
	return fd;
}

int sgf_mount(const char *mountpoint, const struct sgf_mount_opts *mo)
{
	static const struct sgf_mount_opts none;
	struct stat st;
	int err;

	if (mo == NULL)
		mo = &none;
	err = check_mountpoint(mountpoint, &st);
	if (err)
		return err;
	if (access("/dev/fuse", F_OK) != 0)
		return -errno;
	if (geteuid() == 0 && !mo->force_fusermount) {
		int fd = mount_direct(mountpoint, mo, &st);
		if (fd != -EPERM)
			return fd;
	}
	return mount_fusermount(mountpoint, mo);
}

int sgf_unmount(const char *mountpoint)
{
	if (geteuid() == 0) {
		if (umount2(mountpoint, UMOUNT_NOFOLLOW) == 0)
			return 0;
		if (errno != EBUSY)
			return -errno;
		return umount2(mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW) == 0 ? 0 : -errno;
	}
	char *argv[] = { FUSERMOUNT, "-u", "-z", "--", (char *)mountpoint, NULL };
	return run_fusermount(argv, -1);
}
