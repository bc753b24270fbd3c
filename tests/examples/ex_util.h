/* tests/examples/ex_util.h - what the example tests share on top of the
 * mounted tests' harness: start the example (argv[1]) on the harness's
 * mountpoint or on a socket in its temp directory, unmount it from outside
 * and collect its exit status, a page-aligned vector of separate segments,
 * and the server statistics. Header-only: each test is one program. */
#ifndef SGF_EX_UTIL_H
#define SGF_EX_UTIL_H

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"

#define EX_PAGE 4096u

static inline void ex_msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static inline double ex_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The daemon died before it was ready: say why and stop the test. */
static inline void ex_died(pid_t pid, int status, const char *what)
{
	(void)pid;
	h_forget_daemon();
	h_fail(__FILE__, __LINE__, "%s exited (code %d) before %s", h_daemon(),
	       h_exit_code(status), what);
	exit(h_finish());
}

/* "stats_file=STATS[,opts]": every start writes the harness's stats file. */
static inline void ex_opts(char *buf, size_t size, const char *opts)
{
	int n = snprintf(buf, size, "stats_file=%s%s%s", h_stats_path(),
			 opts && *opts ? "," : "", opts ? opts : "");

	if (n < 0 || (size_t)n >= size) {
		h_fail(__FILE__, __LINE__, "daemon options too long");
		exit(h_finish());
	}
}

/* EXAMPLE -f -o stats_file=...[,opts] MNT, until the mount is live. */
static inline pid_t ex_mount(const char *opts)
{
	char o[PATH_MAX + 1024];
	char *args[] = { "-f", "-o", o, (char *)h_mnt(), NULL };
	pid_t pid;

	ex_opts(o, sizeof(o), opts);
	pid = h_spawn(args, NULL, NULL);
	for (unsigned ms = 0; ms < 20000; ms += 10) {
		int status;

		if (h_fuse_mounted(h_mnt(), NULL, 0))
			return pid;
		if (waitpid(pid, &status, WNOHANG) == pid)
			ex_died(pid, status, "mounting");
		ex_msleep(10);
	}
	h_fail(__FILE__, __LINE__, "no mount on %s within 20 s", h_mnt());
	exit(h_finish());
}

/* ROOT/NAME.sock, the socket of ex_listen(). */
static inline const char *ex_sock_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s.sock", h_root(), name);
	return buf;
}

/* EXAMPLE --listen unix:SOCK -o stats_file=...[,opts], until a connect to
 * SOCK succeeds. */
static inline pid_t ex_listen(const char *sock, const char *opts)
{
	char o[PATH_MAX + 1024], addr[PATH_MAX + 8];
	char *args[] = { "--listen", addr, "-o", o, NULL };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t pid;

	ex_opts(o, sizeof(o), opts);
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		h_fail(__FILE__, __LINE__, "socket path too long: %s", sock);
		exit(h_finish());
	}
	strcpy(sa.sun_path, sock);
	pid = h_spawn(args, NULL, NULL);
	for (unsigned ms = 0; ms < 20000; ms += 10) {
		int status, fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			/* A probe connection: it hangs up without INIT. */
			close(fd);
			return pid;
		}
		if (fd >= 0)
			close(fd);
		if (waitpid(pid, &status, WNOHANG) == pid)
			ex_died(pid, status, "listening");
		ex_msleep(10);
	}
	h_fail(__FILE__, __LINE__, "no socket at %s within 20 s", sock);
	exit(h_finish());
}

/* Unmount the mountpoint from outside, as umount(8) does, and wait for the
 * daemon to notice and exit; returns its exit code (-1: it did not exit). */
static inline int ex_umount(pid_t pid)
{
	int err = -1;

	for (unsigned ms = 0; ms < 10000; ms += 20) {
		err = umount2(h_mnt(), 0) == 0 ? 0 : errno;
		if (err != EBUSY)
			break;
		ex_msleep(20); /* a file still being closed */
	}
	if (err != 0) {
		h_fail(__FILE__, __LINE__, "umount %s: %s", h_mnt(), strerror(err));
		return -1;
	}
	return h_exit_code(h_wait(pid, 20));
}

/* n separate page-aligned segments of seg bytes, a gap page between them so
 * no two are adjacent in memory: what the kernel must pack. */
struct ex_vec {
	struct iovec *iov;
	char *mem;
	int n;
};

static inline int ex_vec_new(struct ex_vec *v, int n, size_t seg)
{
	size_t stride = (seg + EX_PAGE - 1) / EX_PAGE * EX_PAGE + EX_PAGE;

	v->mem = aligned_alloc(EX_PAGE, stride * (size_t)n);
	v->iov = calloc((size_t)n, sizeof(*v->iov));
	v->n = n;
	if (v->mem == NULL || v->iov == NULL)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		v->iov[i] = (struct iovec){ v->mem + (size_t)i * stride, seg };
	return 0;
}

static inline void ex_vec_free(struct ex_vec *v)
{
	free(v->mem);
	free(v->iov);
}

/* Segments <- src (len = n * seg bytes), or dst <- segments. */
static inline void ex_vec_load(struct ex_vec *v, const char *src)
{
	for (int i = 0; i < v->n; i++) {
		memcpy(v->iov[i].iov_base, src, v->iov[i].iov_len);
		src += v->iov[i].iov_len;
	}
}

/* Do the first len bytes of the segments hold want? */
static inline bool ex_vec_equals_n(const struct ex_vec *v, const char *want, size_t len)
{
	for (int i = 0; i < v->n && len > 0; i++) {
		size_t k = v->iov[i].iov_len < len ? v->iov[i].iov_len : len;

		if (memcmp(v->iov[i].iov_base, want, k) != 0)
			return false;
		want += k;
		len -= k;
	}
	return true;
}

static inline bool ex_vec_equals(const struct ex_vec *v, const char *want)
{
	size_t len = 0;

	for (int i = 0; i < v->n; i++)
		len += v->iov[i].iov_len;
	return ex_vec_equals_n(v, want, len);
}

/* Fill the segments with a byte no reply is likely to hold. */
static inline void ex_vec_poison(struct ex_vec *v)
{
	for (int i = 0; i < v->n; i++)
		memset(v->iov[i].iov_base, 0xee, v->iov[i].iov_len);
}

/* Fill buf with bytes that depend on seed and position. */
static inline void ex_pattern(char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (char)(x >> 24);
	}
}

/* One server counter from a fresh statistics file ("kept", "refused",
 * "abandoned", "buffers_max"; 0 when absent). */
static inline uint64_t ex_stat_counter(const char *stats, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = stats; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtoull(p + n + 1, NULL, 10);
	return 0;
}

#endif
