/* tests/vm/test_vm_virtiofs.c - a guest mounts a vhost-user-fs backend
 * serving our source directory (mount -t virtiofs) and works on it with
 * busybox and guest_io; the host then finds every result in the source.
 * $SGF_VM_BACKEND: virtiofsd (QEMU's, the default) or sgfuse (the daemon's
 * --vhost-user); with the
 * harness's Ceph mode, sgfuse-ceph on a throw-away cluster. */
#include "harness.h"
#include "pattern.h"
#include "vm.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAG "sgf"
#define HOST_SEED 7
#define HOST_LEN (1u << 20)
#define FILL_SEED 11
#define FILL_LEN (4u << 20)
#define SEED_CALL (32u * 4096)
#define ECHO_TEXT "written in the guest\n"

static const char script[] =
	"step mount mount -t virtiofs " TAG " /mnt\n"
	"step host-read cat /mnt/hello.txt\n"
	"step host-check guest_io check /mnt/host.dat 0 1M 7\n"
	"step mkdir mkdir /mnt/made /mnt/made/sub\n"
	"step echo sh -c 'echo \"written in the guest\" > /mnt/made/echo.txt'\n"
	"step cat cat /mnt/made/echo.txt\n"
	"step dd dd if=/dev/zero of=/mnt/made/zero.bin bs=4096 count=256\n"
	"step stat stat -c 'size=%s type=%F' /mnt/made/zero.bin\n"
	"step ln ln /mnt/made/echo.txt /mnt/made/hard.txt\n"
	"step ln-s ln -s echo.txt /mnt/made/soft.txt\n"
	"step readlink readlink /mnt/made/soft.txt\n"
	"step mv mv /mnt/made/zero.bin /mnt/made/sub/moved.bin\n"
	"step rm sh -c 'echo x > /mnt/made/gone && rm /mnt/made/gone && ! test -e /mnt/made/gone'\n"
	"step rmdir sh -c 'mkdir /mnt/made/empty && rmdir /mnt/made/empty'\n"
	"step ls ls -l /mnt/made\n"
	"step fill guest_io fill /mnt/made/fill.dat 0 4M 11\n"
	"step integrity guest_io integrity /mnt/integrity.dat 8M 3\n"
	"step seed-packed guest_io seed /mnt/seed.dat --pages 32 --secs 2\n"
	"step seed-per-page guest_io seed /mnt/seed-pp.dat --pages 32 --secs 2 --per-page\n"
	"step umount umount /mnt\n";

static char stats[65536];

/* Start the backend on sock, output to out/err; its pid. Exits 77 when
 * virtiofsd is not installed. */
static pid_t start_backend(const char *backend, const char *sock, const char *out,
			   const char *err)
{
	if (strcmp(backend, "virtiofsd") == 0) {
		const char *d = getenv("SGF_VM_VIRTIOFSD");
		d = d && *d ? d : "/usr/lib/qemu/virtiofsd";
		if (access(d, X_OK) != 0) {
			printf("SKIP: no %s (qemu-system-common ships it)\n", d);
			exit(H_EXIT_SKIP);
		}
		char sp[PATH_MAX + 16], src[PATH_MAX + 16];
		snprintf(sp, sizeof(sp), "--socket-path=%s", sock);
		snprintf(src, sizeof(src), "source=%s", h_backing());
		/* It serves one frontend session and exits. */
		char *argv[] = { (char *)d, sp, "-o", src, "-o", "cache=none", "-o",
				 "sandbox=chroot", NULL };
		return h_spawn_prog(argv, out, err);
	}
	if (strcmp(backend, "sgfuse") == 0) {
		char o[2 * PATH_MAX + 32];
		/* In the harness's Ceph mode the daemon is sgfuse-ceph, on the
		 * test's cluster, and the source directory the ceph-fuse view
		 * of the same file system. */
		if (h_ceph())
			snprintf(o, sizeof(o), "stats_file=%s,conf=%s", h_stats_path(), h_ceph_conf());
		else
			snprintf(o, sizeof(o), "stats_file=%s", h_stats_path());
		/* -f: whatever the option's default, the daemon stays our child. */
		char *args[] = { "-f", "--vhost-user", (char *)sock, "-o", o,
				 h_ceph() ? NULL : (char *)h_backing(), NULL };
		return h_spawn(args, out, err);
	}
	fprintf(stderr, "SGF_VM_BACKEND=%s: want virtiofsd or sgfuse\n", backend);
	exit(2);
}

/* name in the source starts with len bytes of the pattern of seed (and
 * ends there when whole). */
static void check_pattern(const char *name, size_t len, uint64_t seed, bool whole)
{
	char path[PATH_MAX];
	unsigned char *buf = malloc(len + 1);
	H_PATH(path, h_backing(), name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!buf || fd < 0) {
		h_fail(__FILE__, __LINE__, "%s: %s", path, strerror(errno));
		free(buf);
		return;
	}
	/* One byte more: nothing may follow. */
	CHECK_EQ(pread(fd, buf, len + 1, 0), whole ? len : len + 1);
	size_t bad = vm_pat_check(buf, len, 0, seed);
	if (bad != len)
		h_fail(__FILE__, __LINE__, "%s: byte %zu differs from the pattern %llu", path, bad,
		       (unsigned long long)seed);
	close(fd);
	free(buf);
}

/* What the guest did, seen in the source directory. */
static void check_source(void)
{
	struct h_pp p;
	struct stat st, st2;
	CHECK(stat(h_pp(&p, "made/sub")->b, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(h_content_is(h_pp(&p, "made/echo.txt")->b, ECHO_TEXT));
	/* ln: one inode, two names. */
	CHECK_OK(stat(h_pp(&p, "made/echo.txt")->b, &st));
	CHECK_OK(stat(h_pp(&p, "made/hard.txt")->b, &st2));
	CHECK_EQ(st.st_ino, st2.st_ino);
	CHECK_EQ(st.st_nlink, 2);
	char target[64] = "";
	CHECK_EQ(readlink(h_pp(&p, "made/soft.txt")->b, target, sizeof(target) - 1), 8);
	CHECK(strcmp(target, "echo.txt") == 0);
	/* dd + mv: 1 MiB of zeros under its new name only. */
	CHECK_ERR(stat(h_pp(&p, "made/zero.bin")->b, &st), ENOENT);
	static unsigned char buf[(1u << 20) + 1];
	int fd = open(h_pp(&p, "made/sub/moved.bin")->b, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	if (fd >= 0) {
		memset(buf, 0xff, sizeof(buf));
		CHECK_EQ(pread(fd, buf, sizeof(buf), 0), 1u << 20);
		size_t i = 0;
		while (i < (1u << 20) && buf[i] == 0)
			i++;
		CHECK_EQ(i, 1u << 20);
		close(fd);
	}
	CHECK_ERR(stat(h_pp(&p, "made/gone")->b, &st), ENOENT);
	CHECK_ERR(stat(h_pp(&p, "made/empty")->b, &st), ENOENT);
	check_pattern("made/fill.dat", FILL_LEN, FILL_SEED, true);
	CHECK(stat(h_pp(&p, "integrity.dat")->b, &st) == 0 && st.st_size == 8 << 20);
	/* The seed loops' files start with the pattern of their 32 pages. */
	check_pattern("seed.dat", SEED_CALL, 1, false);
}

/* The guest's view, from its steps' output. */
static void check_guest(struct vm *vm)
{
	static const char *const steps[] = { "mount", "host-read", "host-check", "mkdir", "echo",
		"cat", "dd", "stat", "ln", "ln-s", "readlink", "mv", "rm", "rmdir", "ls", "fill",
		"integrity", "seed-packed", "seed-per-page", "umount" };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		vm_step_ok(vm, steps[i]);
	char line[512];
	CHECK(vm_result(vm, "host-read", "from the host", line, sizeof(line)));
	CHECK(vm_result(vm, "cat", "written in the guest", line, sizeof(line)));
	CHECK(vm_result(vm, "stat", "size=1048576 type=regular file", line, sizeof(line)));
	CHECK(vm_result(vm, "readlink", "echo.txt", line, sizeof(line)));
	CHECK(vm_result(vm, "ls", "hard.txt", line, sizeof(line)));
	CHECK(vm_result(vm, "integrity", " OK", line, sizeof(line)));
	printf("guest MB/s (virtiofs): packed writev %.1f readv %.1f, per-page writev %.1f "
	       "readv %.1f\n",
	       vm_result_num(vm, "seed-packed", "writev_mbps"),
	       vm_result_num(vm, "seed-packed", "readv_mbps"),
	       vm_result_num(vm, "seed-per-page", "writev_mbps"),
	       vm_result_num(vm, "seed-per-page", "readv_mbps"));
}

/* Our daemon counts what crossed the virtqueues: the packed loop's
 * 128 KiB requests and the per-page loop's 4 KiB ones. */
static void check_sgfuse_stats(struct vm *vm)
{
	int err = h_daemon_pid() > 0 ? h_stats(stats, sizeof(stats)) : 0;
	if (h_daemon_pid() <= 0)
		err = h_read_file(h_stats_path(), stats, sizeof(stats)) < 0 ? -ENOENT : 0;
	if (err) {
		h_fail(__FILE__, __LINE__, "no statistics from the daemon: %s", strerror(-err));
		return;
	}
	CHECK(h_stat_hist(stats, "WRITE", 131072) >= (uint64_t)vm_result_num(vm, "seed-packed",
									      "writes"));
	CHECK(h_stat_hist(stats, "READ", 131072) >= (uint64_t)vm_result_num(vm, "seed-packed",
									     "reads"));
	CHECK(h_stat_hist(stats, "WRITE", 4096) >= (uint64_t)vm_result_num(vm, "seed-per-page",
									    "writes"));
	CHECK(h_stat_hist(stats, "READ", 4096) >= (uint64_t)vm_result_num(vm, "seed-per-page",
									   "reads"));
	if (h_failed())
		fprintf(stderr, "daemon statistics:\n%s", stats);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 280);
	const char *backend = getenv("SGF_VM_BACKEND");
	backend = backend && *backend ? backend : "virtiofsd";
	vm_require();

	/* What the guest finds there before it starts. */
	struct h_pp p;
	REQUIRE(h_write_file(h_pp(&p, "hello.txt")->b, "from the host\n", 14) == 0);
	unsigned char *data = malloc(HOST_LEN);
	REQUIRE(data);
	vm_pat_fill(data, HOST_LEN, 0, HOST_SEED);
	REQUIRE(h_write_file(h_pp(&p, "host.dat")->b, data, HOST_LEN) == 0);
	free(data);

	char sock[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
	H_PATH(sock, h_root(), "vfs.sock");
	H_PATH(out, h_root(), "backend.out");
	H_PATH(err, h_root(), "backend.err");
	pid_t pid = start_backend(backend, sock, out, err);
	vm_wait_socket(pid, sock, err);

	char chardev[PATH_MAX + 32];
	snprintf(chardev, sizeof(chardev), "socket,id=vfs,path=%s", sock);
	/* vhost-user needs the guest's RAM shared with the backend. */
	char *extra[] = { "-object", "memory-backend-memfd,id=mem,size=1G,share=on",
			  "-numa", "node,memdev=mem", "-chardev", chardev, "-device",
			  "vhost-user-fs-pci,chardev=vfs,tag=" TAG ",queue-size=1024", NULL };
	struct vm vm;
	vm_start(&vm, backend, script, extra);
	CHECK_EQ(vm_wait(&vm, 220), 0);

	check_guest(&vm);
	check_source();
	if (strcmp(backend, "sgfuse") == 0)
		check_sgfuse_stats(&vm);

	/* The session is over: virtiofsd ends by itself; ours is stopped. */
	if (strcmp(backend, "virtiofsd") == 0) {
		int code = h_exit_code(h_wait(pid, 10));
		if (code != 0)
			h_fail(__FILE__, __LINE__, "virtiofsd: exit code %d after the guest", code);
	} else if (h_daemon_pid() > 0) {
		CHECK_EQ(h_stop(), 0);
	}
	vm_free(&vm);
	printf("%s's stderr:\n", backend);
	char text[16384];
	if (h_read_file(err, text, sizeof(text)) > 0)
		printf("%s", text);
	return h_finish();
}
