/* tests/client/test_client_tool.c - the sgfuse-client program end to end:
 * usage errors (exit 2), an unreachable server and a peer that speaks another
 * protocol (exit 1, clear message), and every command against the
 * passthrough daemon listening on a Unix socket, checked against the backing
 * directory; remote paths with and without a leading slash, and failures
 * named by their step and errno in one line ("lookup /nope: No such file or
 * directory"). sgfuse-bench's --connect target too, when argv[3] gives it:
 * the same path forms and messages. argv[1] is the daemon, argv[2] the
 * tool. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/fuse.h>
#include "check.h"

static const char *tool, *bench;
static char dir[] = "/tmp/sgf-client-tool-XXXXXX";
static char out_path[128], err_path[128], sock_addr[128], sock_path[96], src[96];
static char out[1 << 16], err[1 << 16];

static void slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* Run argv (argv[0] the program); stdout/stderr into out/err. */
static int run_argv(const char *const argv[])
{
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

/* Run the tool with args (NULL-terminated). */
static int run_tool(const char *a0, ...)
{
	const char *argv[16] = { tool };
	va_list ap;
	int n = 1;

	va_start(ap, a0);
	for (const char *a = a0; a && n < 15; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return run_argv(argv);
}

/* sgfuse-bench's client target on addr and remote path: one small
 * measured write pass (a function check, not a measurement). */
static int run_bench(const char *addr, const char *path)
{
	const char *argv[] = { bench, "--connect", addr, "--file", path, "--op", "writev",
			       "--segments", "4", "--seg-size", "4096", "--total", "64K",
			       "--runs", "1", NULL };
	return run_argv(argv);
}

#define CONTAINS(buf, s) do { \
	if (!strstr((buf), (s))) { \
		fprintf(stderr, "FAIL %s:%d: \"%s\" not in output:\n%s\n", __FILE__, __LINE__, \
			(s), (buf)); \
		check_failures++; \
	} \
} while (0)

static void usage_errors(void)
{
	CHECK_EQ(run_tool("--help", (char *)NULL), 0);
	CONTAINS(out, "usage: sgfuse-client");
	CHECK_EQ(run_tool("--version", (char *)NULL), 0);
	CONTAINS(out, "sgfuse-client ");
	CHECK_EQ(run_tool((char *)NULL), 2);
	CONTAINS(err, "missing ADDRESS");
	CHECK_EQ(run_tool("unix:/x", (char *)NULL), 2);
	CONTAINS(err, "missing COMMAND");
	CHECK_EQ(run_tool("unix:/x", "frob", (char *)NULL), 2);
	CONTAINS(err, "unknown command");
	CHECK_EQ(run_tool("unix:/x", "stat", (char *)NULL), 2);
	CHECK_EQ(run_tool("unix:/x", "get", "a", "b", "c", (char *)NULL), 2);
	CHECK_EQ(run_tool("--max-pages=0", "unix:/x", "ls", (char *)NULL), 2);
	CHECK_EQ(run_tool("--max-pages=12x", "unix:/x", "ls", (char *)NULL), 2);
	CHECK_EQ(run_tool("--bogus", "unix:/x", "ls", (char *)NULL), 2);
	CHECK_EQ(run_tool("tcp:example", "ls", (char *)NULL), 2);
	CONTAINS(err, "not an address");
	CHECK_EQ(run_tool("unix:/nonexistent/sock", "ls", (char *)NULL), 1);
	CONTAINS(err, "connect unix:/nonexistent/sock: No such file or directory\n");
}

/* A peer that answers INIT with major 8. */
static void *wrong_protocol_peer(void *arg)
{
	int lfd = *(int *)arg;
	int fd = accept(lfd, NULL, NULL);
	struct fuse_in_header ih;
	char body[256];

	if (fd < 0)
		return NULL;
	if (read(fd, &ih, sizeof(ih)) == sizeof(ih) && ih.len > sizeof(ih) &&
	    ih.len - sizeof(ih) <= sizeof(body) &&
	    read(fd, body, ih.len - sizeof(ih)) == (ssize_t)(ih.len - sizeof(ih))) {
		struct {
			struct fuse_out_header h;
			struct fuse_init_out o;
		} r;
		memset(&r, 0, sizeof(r));
		r.h.len = sizeof(r);
		r.h.unique = ih.unique;
		r.o.major = 8;
		r.o.minor = 0;
		if (write(fd, &r, sizeof(r)) != sizeof(r))
			perror("wrong_protocol_peer");
	}
	/* Hold the connection until the tool hangs up. */
	while (read(fd, body, sizeof(body)) > 0)
		;
	close(fd);
	return NULL;
}

/* A peer that is no FUSE server at all. */
static void *junk_peer(void *arg)
{
	int lfd = *(int *)arg;
	int fd = accept(lfd, NULL, NULL);
	static const char junk[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	char buf[256];

	if (fd < 0)
		return NULL;
	if (write(fd, junk, sizeof(junk) - 1) < 0)
		perror("junk_peer");
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return NULL;
}

static void protocol_mismatch_peer(void *(*peer)(void *), const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char addr[300];
	pthread_t th;
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", dir, name);
	snprintf(addr, sizeof(addr), "unix:%s", sa.sun_path);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(lfd, 1), 0);
	pthread_create(&th, NULL, peer, &lfd);
	CHECK_EQ(run_tool(addr, "ls", (char *)NULL), 1);
	CONTAINS(err, "INIT ");
	CONTAINS(err, "protocol mismatch");
	pthread_join(th, NULL);
	close(lfd);
	unlink(sa.sun_path);
}

static void protocol_mismatch(void)
{
	protocol_mismatch_peer(wrong_protocol_peer, "wrong");
	protocol_mismatch_peer(junk_peer, "junk");
}

static pid_t start_daemon(const char *daemon)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl(daemon, daemon, "--listen", sock_addr, src, (char *)NULL);
		_exit(127);
	}
	/* Wait for the socket to appear (not a timing check: a bounded wait). */
	for (int i = 0; i < 1000; i++) {
		struct stat st;
		if (stat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static int write_file(const char *path, size_t size, unsigned seed)
{
	char *buf = malloc(size);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)rand_r(&seed);
	int ok = fd >= 0 && write(fd, buf, size) == (ssize_t)size;
	if (fd >= 0)
		close(fd);
	free(buf);
	return ok ? 0 : -1;
}

static bool same_files(const char *a, const char *b)
{
	static char x[1 << 16], y[1 << 16];
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	bool same = fa >= 0 && fb >= 0;

	while (same) {
		ssize_t na = read(fa, x, sizeof(x)), nb = read(fb, y, sizeof(y));
		if (na != nb || na < 0 || memcmp(x, y, (size_t)na) != 0)
			same = false;
		if (na <= 0)
			break;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

static void commands(void)
{
	char local[300], back[300], got[300];
	struct stat st;

	snprintf(local, sizeof(local), "%s/local.bin", dir);
	snprintf(got, sizeof(got), "%s/got.bin", dir);
	CHECK_EQ(write_file(local, 5 * 1024 * 1024 + 123, 5), 0);

	CHECK_EQ(run_tool(sock_addr, "put", local, "/big.bin", (char *)NULL), 0);
	snprintf(back, sizeof(back), "%s/big.bin", src);
	CHECK(same_files(local, back));
	CHECK_EQ(stat(back, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0640);

	CHECK_EQ(run_tool(sock_addr, "ls", (char *)NULL), 0);
	CONTAINS(out, "big.bin\n");
	CHECK_EQ(run_tool(sock_addr, "stat", "big.bin", (char *)NULL), 0);
	CONTAINS(out, "size: 5243003\n");
	CONTAINS(out, "type: -\n");
	CHECK_EQ(run_tool(sock_addr, "get", "/big.bin", got, (char *)NULL), 0);
	CHECK(same_files(local, got));
	CHECK_EQ(run_tool(sock_addr, "cat", "/big.bin", (char *)NULL), 0);
	CHECK(same_files(local, out_path));

	CHECK_EQ(run_tool(sock_addr, "mkdir", "/sub", (char *)NULL), 0);
	snprintf(back, sizeof(back), "%s/sub", src);
	CHECK_EQ(stat(back, &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(run_tool(sock_addr, "mkdir", "/sub", (char *)NULL), 1);
	CONTAINS(err, "mkdir /sub: File exists");
	CHECK_EQ(run_tool("--per-segment", "--stats", sock_addr, "put", local, "sub/x", (char *)NULL), 0);
	CONTAINS(err, "policy per-segment");
	CONTAINS(err, "op WRITE count 6 ");  /* 5 MiB + 123 in 1 MiB requests */
	CHECK_EQ(run_tool(sock_addr, "ls", "/sub", (char *)NULL), 0);
	CHECK_STR(out, "x\n");
	CHECK_EQ(run_tool(sock_addr, "ls", (char *)NULL), 0);
	CONTAINS(out, "sub/\n");

	CHECK_EQ(run_tool(sock_addr, "rm", "/sub/x", (char *)NULL), 0);
	CHECK_EQ(run_tool(sock_addr, "rm", "/sub/x", (char *)NULL), 1);
	CONTAINS(err, "unlink /sub/x: No such file or directory");
	/* A missing file is a failed lookup, named with its errno. */
	CHECK_EQ(run_tool(sock_addr, "get", "/nope", got, (char *)NULL), 1);
	CONTAINS(err, "sgfuse-client: lookup /nope: No such file or directory\n");
	CHECK_EQ(run_tool(sock_addr, "stat", "nope", (char *)NULL), 1);
	CONTAINS(err, "sgfuse-client: lookup nope: No such file or directory\n");
	CHECK_EQ(run_tool(sock_addr, "put", local, "/nodir/x", (char *)NULL), 1);
	CONTAINS(err, "sgfuse-client: lookup /nodir: No such file or directory\n");
	CHECK_EQ(run_tool(sock_addr, "mkdir", "big.bin/d", (char *)NULL), 1);
	CONTAINS(err, "sgfuse-client: lookup big.bin: Not a directory\n");
	CHECK_EQ(run_tool(sock_addr, "cat", "/sub", (char *)NULL), 1);
	CONTAINS(err, "Is a directory");
	CHECK_EQ(run_tool(sock_addr, "put", "/nonexistent/local", "/y", (char *)NULL), 1);
	CONTAINS(err, "/nonexistent/local: No such file or directory");

	CHECK_EQ(run_tool(sock_addr, "df", (char *)NULL), 0);
	CONTAINS(out, "namelen: ");
	CHECK_EQ(run_tool("--max-pages=16", sock_addr, "stats", (char *)NULL), 0);
	CONTAINS(out, "protocol 7.");
	CONTAINS(out, "max_pages 16\n");
	CONTAINS(out, "op INIT count 1 ");
}

/* sgfuse-bench --connect: the path forms sgfuse-client takes, and its
 * failures named by step and errno. */
static void bench_target(void)
{
	char back[300];
	struct stat st;

	if (bench == NULL)
		return;
	CHECK_EQ(run_bench(sock_addr, "/bench.bin"), 0);
	if (strstr(err, "sgfuse-bench"))
		fprintf(stderr, "bench said: %s", err);
	CONTAINS(out, "writev");
	snprintf(back, sizeof(back), "%s/bench.bin", src);
	CHECK(stat(back, &st) == 0 && st.st_size == 65536);
	CHECK_EQ(run_bench(sock_addr, "bench.bin"), 0);
	CHECK_EQ(run_bench(sock_addr, "/sub/bench.bin"), 0);
	snprintf(back, sizeof(back), "%s/sub/bench.bin", src);
	CHECK(stat(back, &st) == 0 && st.st_size == 65536);

	CHECK_EQ(run_bench(sock_addr, "/nodir/bench.bin"), 1);
	CONTAINS(err, "sgfuse-bench: lookup /nodir: No such file or directory\n");
	CHECK_EQ(run_bench(sock_addr, "/sub"), 1);
	CONTAINS(err, "sgfuse-bench: open /sub: Is a directory\n");
	CHECK_EQ(run_bench(sock_addr, "/big.bin/x"), 1);
	CONTAINS(err, "sgfuse-bench: lookup /big.bin/x: Not a directory\n");
	CHECK_EQ(run_bench("unix:/nonexistent/sock", "/f"), 1);
	CONTAINS(err, "sgfuse-bench: connect unix:/nonexistent/sock: No such file or directory\n");
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s DAEMON TOOL [BENCH]\n", argv[0]);
		return 2;
	}
	tool = argv[2];
	bench = argc > 3 ? argv[3] : NULL;
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	snprintf(err_path, sizeof(err_path), "%s/err", dir);
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	snprintf(sock_addr, sizeof(sock_addr), "unix:%s", sock_path);
	mkdir(src, 0755);

	usage_errors();
	protocol_mismatch();
	pid_t daemon = start_daemon(argv[1]);
	CHECK(daemon > 0);
	if (daemon > 0) {
		commands();
		bench_target();
		kill(daemon, SIGTERM);
		waitpid(daemon, NULL, 0);
	}
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	return check_exit();
}
