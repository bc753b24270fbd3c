/* tests/interop/test_vhost_tools.c - sgfuse-client and sgfuse-bench over
 * vhost-user, against the peer of tests/vhost_peer.h (virtiofsd serves one
 * frontend, so it is started again for each run): put, ls, stat, get, df,
 * stats and rm checked against the source directory; a bench run with
 * --arena, one request per call; and failures named by their step (a
 * missing socket: connect; a peer speaking garbage: vhost-user setup).
 * argv[1] the sgfuse daemon, argv[2] sgfuse-client, argv[3] sgfuse-bench. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "vhost_peer.h"

static const char *daemon_path, *tool, *bench;
static char dir[] = "/tmp/sgf-vhost-tools-XXXXXX";
static char src[128], sock[128], out_path[160], err_path[160];
static char out[1 << 16], err[1 << 16];
static struct vhost_peer peer;

#define CONTAINS(buf, s) do { \
	if (!strstr((buf), (s))) { \
		fprintf(stderr, "FAIL %s:%d: \"%s\" not in output:\n%s\n", __FILE__, __LINE__, \
			(s), (buf)); \
		check_failures++; \
	} \
} while (0)

static void slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* A peer ready for the next frontend. */
static void peer_ready(void)
{
	if (peer.pid > 0 && !peer.one_session)
		return;
	if (peer.pid > 0)
		vp_wait(&peer, 5000);  /* it leaves after its frontend */
	vp_start(&peer, src, sock, daemon_path);
}

static int run(const char *a0, ...)
{
	const char *argv[24];
	va_list ap;
	int n = 0;

	va_start(ap, a0);
	for (const char *a = a0; a && n < 23; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	slurp(out_path, out, sizeof(out));
	slurp(err_path, err, sizeof(err));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static bool same_file(const char *a, const char *b)
{
	static char x[1 << 20], y[1 << 20];
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	ssize_t na = fa >= 0 ? read(fa, x, sizeof(x)) : -1;
	ssize_t nb = fb >= 0 ? read(fb, y, sizeof(y)) : -2;
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return na == nb && na > 0 && memcmp(x, y, (size_t)na) == 0;
}

static void *garbage_peer(void *arg)
{
	int fd = accept(*(int *)arg, NULL, NULL);
	char buf[64];
	if (fd >= 0) {
		(void)!write(fd, "SSH-2.0-OpenSSH_9.2\r\n", 21);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	return NULL;
}

static void failures(void)
{
	char addr[160];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	pthread_t t;

	CHECK_EQ(run(tool, "vhost-user:/nonexistent/vfs.sock", "ls", (char *)NULL), 1);
	CONTAINS(err, "connect vhost-user:/nonexistent/vfs.sock: No such file or directory\n");
	CHECK_EQ(run(tool, "vhost-user:", "ls", (char *)NULL), 2);
	CONTAINS(err, "not an address");

	snprintf(a.sun_path, sizeof(a.sun_path), "%s/garbage.sock", dir);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 1) == 0);
	CHECK_EQ(pthread_create(&t, NULL, garbage_peer, &lfd), 0);
	snprintf(addr, sizeof(addr), "vhost-user:%s", a.sun_path);
	CHECK_EQ(run(tool, addr, "ls", (char *)NULL), 1);
	CONTAINS(err, "vhost-user setup ");
	CONTAINS(err, "protocol mismatch");
	pthread_join(t, NULL);
	close(lfd);
	unlink(a.sun_path);
}

int main(int argc, char **argv)
{
	char local[160], back[160], path[200];

	alarm(150);
	if (argc < 4) {
		fprintf(stderr, "usage: %s DAEMON SGFUSE-CLIENT SGFUSE-BENCH\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	tool = argv[2];
	bench = argv[3];
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(sock, sizeof(sock), "%s/vfs.sock", dir);
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	snprintf(err_path, sizeof(err_path), "%s/err", dir);
	snprintf(local, sizeof(local), "%s/local", dir);
	snprintf(back, sizeof(back), "%s/back", dir);
	CHECK_EQ(mkdir(src, 0755), 0);

	/* A local file of 1 MiB + 123 bytes: several requests, a short tail. */
	int fd = open(local, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	for (int i = 0; i < 1024 * 1024 + 123; i++) {
		char ch = (char)(i * 7 + i / 4096);
		(void)!write(fd, &ch, 1);
	}
	close(fd);

	peer_ready();
	CHECK_EQ(run(tool, peer.address, "put", local, "f", (char *)NULL), 0);
	snprintf(path, sizeof(path), "%s/f", src);
	CHECK(same_file(local, path));
	peer_ready();
	CHECK_EQ(run(tool, peer.address, "ls", (char *)NULL), 0);
	CHECK_STR(out, "f\n");
	peer_ready();
	CHECK_EQ(run(tool, peer.address, "stat", "/f", (char *)NULL), 0);
	CONTAINS(out, "size: 1048699\n");
	peer_ready();
	CHECK_EQ(run(tool, "--stats", peer.address, "get", "f", back, (char *)NULL), 0);
	CHECK(same_file(local, back));
	/* One 4 MiB call: four READs of 1 MiB at once, the second short. */
	CONTAINS(err, "op READ count 4 ");
	peer_ready();
	CHECK_EQ(run(tool, peer.address, "df", (char *)NULL), 0);
	CONTAINS(out, "bsize: ");
	peer_ready();
	CHECK_EQ(run(tool, peer.address, "stats", (char *)NULL), 0);
	CONTAINS(out, "max_pages ");
	CONTAINS(out, "op INIT count 1 ");
	peer_ready();
	CHECK_EQ(run(tool, peer.address, "rm", "f", (char *)NULL), 0);
	CHECK(access(path, F_OK) != 0);

	/* The benchmark from arena buffers: 32 x 4 KiB, one request a call. */
	peer_ready();
	CHECK_EQ(run(bench, "--connect", peer.address, "--file", "/b", "--arena", "--segments",
		     "32", "--seg-size", "4096", "--total", "2M", "--runs", "1", "--json",
		     (char *)NULL), 0);
	CONTAINS(out, "\"op\":\"writev\"");
	CONTAINS(out, "\"op\":\"readv\"");
	CONTAINS(out, "\"arena\":true");
	CONTAINS(out, "\"requests_per_call\":1.000");
	if (check_failures)
		fprintf(stderr, "stderr of the last run:\n%s\n", err);

	failures();
	if (peer.one_session)
		vp_wait(&peer, 5000);
	else
		vp_stop(&peer);
	if (check_failures)
		vp_dump_log(&peer);
	snprintf(path, sizeof(path), "%s/b", src);
	unlink(path);
	unlink(local);
	unlink(back);
	unlink(out_path);
	unlink(err_path);
	unlink(peer.log);
	unlink(sock);
	rmdir(src);
	rmdir(dir);
	return check_exit();
}
