/* tests/server/test_lifecycle.c - the server object's life: ops->destroy runs
 * exactly once on every way a session ends (kernel unmount from outside, a
 * handled signal, sgf_server_exit from inside an operation or from another
 * thread, DESTROY on a socket, the peer hanging up, a broken stream), the
 * mount is gone once run returns and after destroy, and sgf_server_exit
 * wakes idle workers within a second. */
#include "srv_helper.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sgfuse/client.h>

#define MAGIC_SIZE 4242

static uint64_t exit_ino;  /* getattr of this inode calls sgf_server_exit */

static int exit_getattr(const struct sgf_req *r, uint64_t ino, const struct fuse_getattr_in *in,
			struct fuse_attr_out *out)
{
	if (ino == exit_ino)
		sgf_server_exit(r->server);
	return sh_getattr(r, ino, in, out);
}

static struct sh_fs *new_fs(void)
{
	struct sh_fs *fs = sh_fs_new();
	static char data[MAGIC_SIZE];

	sh_fs_add(fs, 1, "file", S_IFREG | 0644, "hello", 5);
	exit_ino = sh_fs_add(fs, 1, "exit-now", S_IFREG | 0644, data, sizeof(data));
	return fs;
}

static void ops_for_test(struct sgf_ops *ops)
{
	sh_ops_fill(ops);
	ops->getattr = exit_getattr;
}

/* After run returned and after destroy: the mount is gone, destroy ran once. */
static void check_end(struct sh_srv *s, struct sh_fs *fs, int want_ret, const char *what)
{
	int ret = sh_srv_join(s, 10000);

	if (ret != want_ret)
		sh_fail(__FILE__, __LINE__, "%s: sgf_server_run returned %d (%s), want %d", what,
			ret, ret < 0 ? strerrorname_np(-ret) : "", want_ret);
	if (sh_is_mounted(sh_mnt()))
		sh_fail(__FILE__, __LINE__, "%s: still mounted after sgf_server_run returned", what);
	if (atomic_load(&fs->destroy_calls) != 1)
		sh_fail(__FILE__, __LINE__, "%s: destroy called %d times when run returned", what,
			atomic_load(&fs->destroy_calls));
	sh_srv_destroy(s);
	if (sh_is_mounted(sh_mnt()))
		sh_fail(__FILE__, __LINE__, "%s: still mounted after sgf_server_destroy", what);
	if (atomic_load(&fs->destroy_calls) != 1)
		sh_fail(__FILE__, __LINE__, "%s: destroy called %d times after sgf_server_destroy",
			what, atomic_load(&fs->destroy_calls));
	CHECK_EQ(atomic_load(&fs->init_calls), 1);
	sh_umount_all();
	sh_fs_free(fs);
}

static void mount_fs(struct sh_srv *s, struct sh_fs **fs, const struct sgf_server_opts *opts)
{
	struct sgf_ops ops;

	*fs = new_fs();
	ops_for_test(&ops);
	sh_srv_new(s, &ops, sizeof(ops), *fs, opts);
	sh_srv_mount(s);
}

static void test_umount_from_outside(void)
{
	struct sh_srv s;
	struct sh_fs *fs;
	struct stat st;
	int status;

	mount_fs(&s, &fs, NULL);
	CHECK_OK(stat(sh_mnt(), &st));
	pid_t pid = fork();
	if (pid == 0) {
		execlp("umount", "umount", sh_mnt(), (char *)NULL);
		_exit(127);
	}
	REQUIRE(pid > 0);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		/* no umount(8): the same system call */
		CHECK_OK(umount2(sh_mnt(), 0));
	} else {
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	check_end(&s, fs, 0, "umount from outside");
}

/* An unmount from outside, with another filesystem under ours: the server
 * must not unmount again (that would take the one underneath away). */
static void test_umount_from_outside_keeps_underlying(void)
{
	char marker[PATH_MAX];
	struct sh_srv s;
	struct sh_fs *fs;
	int fd;

	REQUIRE(mount("sgfuse-test-under", sh_mnt(), "tmpfs", 0, "size=1m") == 0);
	snprintf(marker, sizeof(marker), "%s/underneath", sh_mnt());
	fd = open(marker, O_CREAT | O_WRONLY, 0644);
	REQUIRE(fd >= 0);
	close(fd);
	mount_fs(&s, &fs, NULL);
	CHECK(access(marker, F_OK) != 0); /* ours hides it */
	CHECK_OK(umount2(sh_mnt(), 0));
	CHECK_EQ(sh_srv_join(&s, 10000), 0);
	sh_srv_destroy(&s);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	if (access(marker, F_OK) != 0)
		sh_fail(__FILE__, __LINE__, "the tmpfs under our mount is gone after the server "
			"ended: it unmounted a second time");
	umount2(sh_mnt(), MNT_DETACH);
	sh_umount_all();
	sh_fs_free(fs);
}

static bool sig_blocked(int sig)
{
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, sig) == 1;
}

static void test_signal(int sig)
{
	struct sgf_server_opts opts = { .handle_signals = true };
	struct sh_srv s;
	struct sh_fs *fs;
	char what[64];

	snprintf(what, sizeof(what), "%s with handle_signals", sigabbrev_np(sig));
	CHECK(!sig_blocked(sig));
	mount_fs(&s, &fs, &opts);
	CHECK(sig_blocked(sig)); /* blocked by sgf_server_new in this thread */
	/* Process-directed: every thread blocks it, so the server's signalfd
	 * takes it. */
	CHECK_OK(kill(getpid(), sig));
	check_end(&s, fs, 0, what);
	if (sig_blocked(sig))
		sh_fail(__FILE__, __LINE__, "%s: mask not restored by sgf_server_destroy", what);
}

/* SIGUSR1 writes the statistics and does not end the session. */
static void test_sigusr1(void)
{
	struct sgf_server_opts opts = { .handle_signals = true };
	struct sh_srv s;
	struct sh_fs *fs;
	struct stat st;
	char stats_path[PATH_MAX + 16];

	snprintf(stats_path, sizeof(stats_path), "%s/stats.txt", sh_root());
	opts.stats_file = stats_path;
	mount_fs(&s, &fs, &opts);
	CHECK_OK(kill(getpid(), SIGUSR1));
	CHECK(SH_WAIT_UNTIL(stat(stats_path, &st) == 0, 5000));
	sh_msleep(50);
	CHECK(!atomic_load(&s.returned));
	CHECK(sh_is_mounted(sh_mnt()));
	CHECK_EQ(atomic_load(&fs->destroy_calls), 0);
	CHECK_OK(kill(getpid(), SIGTERM));
	check_end(&s, fs, 0, "SIGTERM after SIGUSR1");
	unlink(stats_path);
}

static void test_exit_in_op(void)
{
	struct sh_srv s;
	struct sh_fs *fs;
	struct statx stx;
	char path[PATH_MAX + 16];

	mount_fs(&s, &fs, NULL);
	/* FORCE_SYNC: a GETATTR whatever the kernel cached. */
	errno = 0;
	int ret = statx(AT_FDCWD, SH_PATH(path, "exit-now"), AT_STATX_FORCE_SYNC,
			STATX_BASIC_STATS, &stx);
	if (ret != 0)
		sh_fail(__FILE__, __LINE__, "statx of the file whose getattr exits: %s (the "
			"operation's own reply must still reach the kernel)",
			strerrorname_np(errno));
	else
		CHECK_EQ(stx.stx_size, MAGIC_SIZE);
	check_end(&s, fs, 0, "sgf_server_exit inside getattr");
}

/* sgf_server_exit from this thread while every worker is idle in receive:
 * run must return within 1 s. */
static void exit_idle(struct sh_srv *s, struct sh_fs *fs, const char *what)
{
	char end[80];

	sh_msleep(200); /* every worker is idle in receive now */
	CHECK(!atomic_load(&s->returned));
	double t0 = sh_now();
	sgf_server_exit(s->srv);
	sh_srv_join(s, 10000);
	double dt = sh_now() - t0;
	if (dt >= 1.0)
		sh_fail(__FILE__, __LINE__, "sgf_server_exit with idle workers: run returned "
			"after %.3f s, want < 1 s", dt);
	printf("%s: sgf_server_run returned %.1f ms after sgf_server_exit\n", what, dt * 1000);
	snprintf(end, sizeof(end), "sgf_server_exit from another thread (%s)", what);
	check_end(s, fs, 0, end);
}

static void test_exit_idle_mount(void)
{
	struct sh_srv s;
	struct sh_fs *fs;

	mount_fs(&s, &fs, NULL);
	exit_idle(&s, fs, "mount");
}

static void attach_fs(struct sh_srv *s, struct sh_fs **fs, struct sgf_client **c)
{
	struct sgf_ops ops;
	struct fuse_attr_out ao;

	*fs = new_fs();
	ops_for_test(&ops);
	sh_srv_new(s, &ops, sizeof(ops), *fs, NULL);
	int fd = sh_srv_attach(s);
	int err = sgf_client_attach(fd, NULL, c);
	if (err) {
		sh_fail(__FILE__, __LINE__, "sgf_client_attach: %s", strerror(-err));
		exit(sh_finish());
	}
	CHECK_RET(sgf_getattr(*c, FUSE_ROOT_ID, &ao), 0);
	CHECK_EQ(ao.attr.ino, 1);
}

static void test_exit_idle_socket(void)
{
	struct sh_srv s;
	struct sh_fs *fs;
	struct sgf_client *c;

	attach_fs(&s, &fs, &c);
	exit_idle(&s, fs, "socket");
	sgf_client_disconnect(c);
}

static void test_destroy_on_socket(void)
{
	struct sh_srv s;
	struct sh_fs *fs;
	struct sgf_client *c;

	attach_fs(&s, &fs, &c);
	CHECK_RET(sgf_client_disconnect(c), 0);
	check_end(&s, fs, 0, "DESTROY on a socket");
}

static void test_peer_hangup(void)
{
	struct sh_srv s;
	struct sh_fs *fs;
	struct sgf_client *c;

	attach_fs(&s, &fs, &c);
	sgf_client_shutdown(c);
	/* The peer hung up: the session ends, and that is no error. */
	check_end(&s, fs, 0, "client shut down");
	sgf_client_disconnect(c);
}

/* INIT by hand, then half a header and close: the stream broke. */
static void test_broken_stream(void)
{
	struct sh_srv s;
	struct sh_fs *fs;
	struct {
		struct fuse_in_header h;
		struct fuse_init_in in;
	} __attribute__((packed)) init = {
		.h = { .len = sizeof(init), .opcode = FUSE_INIT, .unique = 2 },
		.in = { .major = 7, .minor = 38, .max_readahead = 65536,
			.flags = FUSE_INIT_EXT | FUSE_MAX_PAGES },
	};
	struct fuse_out_header oh;
	struct sgf_ops ops;
	char body[256];

	fs = new_fs();
	ops_for_test(&ops);
	sh_srv_new(&s, &ops, sizeof(ops), fs, NULL);
	int fd = sh_srv_attach(&s);
	REQUIRE(write(fd, &init, sizeof(init)) == (ssize_t)sizeof(init));
	REQUIRE(read(fd, &oh, sizeof(oh)) == (ssize_t)sizeof(oh));
	CHECK_EQ(oh.error, 0);
	CHECK_EQ(oh.unique, 2);
	REQUIRE(oh.len > sizeof(oh) && oh.len - sizeof(oh) <= sizeof(body));
	REQUIRE(read(fd, body, oh.len - sizeof(oh)) == (ssize_t)(oh.len - sizeof(oh)));
	CHECK_EQ(atomic_load(&fs->init_calls), 1);
	REQUIRE(write(fd, &init, 10) == 10);
	close(fd);
	int ret = sh_srv_join(&s, 10000);
	if (ret >= 0)
		sh_fail(__FILE__, __LINE__, "broken stream: sgf_server_run returned %d, want "
			"-errno (the endpoint broke)", ret);
	check_end(&s, fs, ret, "broken stream");
}

static void test_destroy_without_run(void)
{
	struct sgf_ops ops;
	struct sh_srv s;
	struct sh_fs *fs = new_fs();

	ops_for_test(&ops);
	sh_srv_new(&s, &ops, sizeof(ops), fs, NULL);
	REQUIRE(sgf_server_mount(s.srv, sh_mnt()) == 0);
	CHECK(sh_is_mounted(sh_mnt()));
	sh_srv_destroy(&s);
	CHECK(!sh_is_mounted(sh_mnt()));
	/* No session was served: nothing to destroy. */
	CHECK_EQ(atomic_load(&fs->destroy_calls), 0);
	sh_umount_all();
	sh_fs_free(fs);
}

int main(void)
{
	sh_init("test_lifecycle", 120, SH_KEEP_TERM);
	test_umount_from_outside();
	test_umount_from_outside_keeps_underlying();
	test_signal(SIGTERM);
	test_signal(SIGINT);
	test_signal(SIGHUP);
	test_sigusr1();
	test_exit_in_op();
	test_exit_idle_mount();
	test_exit_idle_socket();
	test_destroy_on_socket();
	test_peer_hangup();
	test_broken_stream();
	test_destroy_without_run();
	return sh_finish();
}
