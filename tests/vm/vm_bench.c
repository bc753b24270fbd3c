/* tests/vm/vm_bench.c - one guest for one target of bench/vm-rows.sh: the
 * seed loop (packed, then per page) in a guest whose I/O goes to a virtio-fs
 * backend or a disk image on a FUSE mount; prints sgfuse-bench --json lines
 * with the backend's host CPU per phase. A tool, not a test. */
#include "harness.h"
#include "vm.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAG "sgf"
#define DISK_SIZE (64 << 20)
#define FILE_RANGE (8 << 20) /* guest_io seed's default --range on a file */
#define CALL_PAGES 32
#define PAGE 4096

static const char usage[] =
	"usage: vm_bench SGFUSE_PASSTHROUGH TARGET [--secs S] [--peer PASSTHROUGH_LL]\n"
	"TARGET: virtiofs-sgfuse, virtiofs-virtiofsd, disk-sgfuse, disk-peer\n"
	"Boots one guest (docs/vm.md's environment) that runs guest_io seed packed and\n"
	"per page for S seconds per phase (default 2); prints one sgfuse-bench --json\n"
	"line per (mode, op) on stdout, everything else on stderr. Exit 77: cannot run\n"
	"here (no QEMU, guest kernel, virtiofsd or peer).\n";

enum kind { VIRTIOFS, DISK };

struct target {
	const char *name;
	enum kind kind;
	const char *label; /* row label; ", packed" / ", per-page" appended */
	const char *note;
};

static const struct target targets[] = {
	{ "virtiofs-sgfuse", VIRTIOFS, "virtio-fs, sgfuse backend",
	  "sgfuse-passthrough --vhost-user over a tmpfs directory; server CPU is its host CPU" },
	{ "virtiofs-virtiofsd", VIRTIOFS, "virtio-fs, virtiofsd",
	  "QEMU's C virtiofsd -o cache=none -o sandbox=chroot over a tmpfs directory" },
	{ "disk-sgfuse", DISK, "VM disk on sgfuse-passthrough",
	  "raw image on an sgfuse-passthrough mount (max_pages=256), QEMU cache=none,aio=threads" },
	{ "disk-peer", DISK, "VM disk on libfuse passthrough_ll",
	  "raw image on a libfuse passthrough_ll mount, QEMU cache=none,aio=threads" },
};

/* CPU seconds (user, system) of a process, from /proc/PID/stat. */
struct cpu {
	double user, sys;
};

static struct cpu cpu_of(pid_t pid)
{
	char path[64], text[2048];
	struct cpu c = { -1, -1 };
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (h_read_file(path, text, sizeof(text)) <= 0)
		return c;
	/* comm may hold spaces and parentheses: fields count from the last ')'. */
	const char *p = strrchr(text, ')');
	unsigned long long ut, st;
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return c;
	double tck = (double)sysconf(_SC_CLK_TCK);
	c.user = (double)ut / tck;
	c.sys = (double)st / tck;
	return c;
}

/* The marks guest_io seed --marks writes, in order, per mode. */
static const char *const modes[] = { "packed", "per-page" };
static const char *const marks[] = { "writev-begin", "writev-end", "readv-begin", "readv-end" };
#define N_MODES 2
#define N_MARKS 4

static struct cpu backend_at[N_MODES][N_MARKS], qemu_at[N_MODES][N_MARKS];

/* Follow the guest's marks, sampling backend and QEMU at each: the guest
 * idles after every mark, so each sample falls between two phases. */
static bool follow_marks(struct vm *vm, pid_t backend, double secs)
{
	for (int m = 0; m < N_MODES; m++)
		for (int k = 0; k < N_MARKS; k++) {
			char marker[96];
			snprintf(marker, sizeof(marker), "SGF-VM: MARK %s %s", modes[m], marks[k]);
			/* The first waits for the boot too (6-9 s under TCG, more on a
			 * busy machine); the rest for one phase at most. */
			unsigned timeout = m == 0 && k == 0 ? 180 : (unsigned)(secs * 4) + 60;
			if (!vm_wait_marker(vm, marker, timeout)) {
				h_fail(__FILE__, __LINE__, "no \"%s\" on the console", marker);
				return false;
			}
			backend_at[m][k] = cpu_of(backend);
			qemu_at[m][k] = cpu_of(vm->pid);
			if (backend_at[m][k].user < 0 || qemu_at[m][k].user < 0) {
				h_fail(__FILE__, __LINE__, "%s: cannot read the CPU time of %s", marker,
				       backend_at[m][k].user < 0 ? "the backend" : "QEMU");
				return false;
			}
		}
	return true;
}

static double busy(const struct cpu *a, const struct cpu *b)
{
	return (b->user - a->user) + (b->sys - a->sys);
}

/* One sgfuse-bench --json line (the fields bench/table.py reads; labels
 * are ours, no escaping needed). cpu_user_s/cpu_sys_s are QEMU's: the
 * caller here is the whole guest. */
static void json_line(FILE *out, const struct target *t, struct vm *vm, int m, bool write,
		      double secs)
{
	char step[32];
	snprintf(step, sizeof(step), "seed-%s", modes[m]);
	const char *op = write ? "writev" : "readv";
	char key[32];
	snprintf(key, sizeof(key), "%s_mbps", op);
	double mbps = vm_result_num(vm, step, key);
	snprintf(key, sizeof(key), "%s_bytes", op);
	double bytes = vm_result_num(vm, step, key);
	double calls = vm_result_num(vm, step, write ? "writes" : "reads");
	int k = write ? 0 : 2;
	double srv = busy(&backend_at[m][k], &backend_at[m][k + 1]);
	double qu = qemu_at[m][k + 1].user - qemu_at[m][k].user;
	double qs = qemu_at[m][k + 1].sys - qemu_at[m][k].sys;
	unsigned segments = m == 0 ? CALL_PAGES : 1;
	/* Calls per second of time inside them, as the guest timed it. */
	double cps = bytes > 0 ? calls * mbps * 1e6 / bytes : 0;
	fprintf(out,
		"{\"group\":\"vm\",\"target\":\"%s, %s\",\"op\":\"%s\",\"segments\":%u,"
		"\"seg_size\":%u,\"align\":%u,\"threads\":1,\"runs\":1,\"mbps_median\":%.1f,"
		"\"mbps_min\":%.1f,\"mbps_max\":%.1f,\"calls_per_s_median\":%.1f,"
		"\"duration_s\":%.3f,\"bytes\":%.0f,\"requests_per_call\":null,"
		"\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"server_cpu_s\":%.3f,\"note\":\"%s\"}\n",
		t->label, modes[m], op, segments, PAGE, PAGE, mbps, mbps, mbps, cps, secs, bytes, qu,
		qs, srv, t->note);
}

/* A file of size bytes at path, allocated: the guest's writes overwrite
 * rather than grow tmpfs, in every target alike. */
static void allocated(const char *path, off_t size)
{
	int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(posix_fallocate(fd, 0, size) == 0);
	close(fd);
}

static void skip(const char *why, const char *what)
{
	printf("SKIP: %s %s\n", why, what);
	exit(H_EXIT_SKIP);
}

/* virtio-fs: the backend on ROOT/vfs.sock serving h_backing(); its pid. */
static pid_t start_virtiofs(const struct target *t, char *chardev, size_t size)
{
	char sock[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
	H_PATH(sock, h_root(), "vfs.sock");
	H_PATH(out, h_root(), "backend.out");
	H_PATH(err, h_root(), "backend.err");
	pid_t pid;
	if (strcmp(t->name, "virtiofs-virtiofsd") == 0) {
		const char *d = getenv("SGF_VM_VIRTIOFSD");
		d = d && *d ? d : "/usr/lib/qemu/virtiofsd";
		if (access(d, X_OK) != 0)
			skip(d, "is not installed (qemu-system-common ships it)");
		char sp[PATH_MAX + 16], src[PATH_MAX + 16];
		snprintf(sp, sizeof(sp), "--socket-path=%s", sock);
		snprintf(src, sizeof(src), "source=%s", h_backing());
		char *argv[] = { (char *)d, sp, "-o", src, "-o", "cache=none", "-o",
				 "sandbox=chroot", NULL };
		pid = h_spawn_prog(argv, out, err);
	} else {
		char o[PATH_MAX + 16];
		snprintf(o, sizeof(o), "stats_file=%s", h_stats_path());
		char *args[] = { "-f", "--vhost-user", sock, "-o", o, (char *)h_backing(), NULL };
		pid = h_spawn(args, out, err);
	}
	vm_wait_socket(pid, sock, err);
	snprintf(chardev, size, "socket,id=vfs,path=%s", sock);
	return pid;
}

/* disk: the FUSE daemon on h_mnt() over h_backing(); its pid. */
static pid_t start_disk(const struct target *t, const char *peer)
{
	if (strcmp(t->name, "disk-sgfuse") == 0)
		return h_start("max_pages=256");
	if (!peer || access(peer, X_OK) != 0)
		skip(peer ? peer : "--peer", "(libfuse's passthrough_ll) is not there");
	char src[PATH_MAX + 16], err[PATH_MAX];
	snprintf(src, sizeof(src), "source=%s", h_backing());
	H_PATH(err, h_root(), "peer.err");
	char *argv[] = { (char *)peer, "-f", "-o", src, (char *)h_mnt(), NULL };
	pid_t pid = h_spawn_prog(argv, NULL, err);
	for (unsigned ms = 0; ms < 20000; ms += 20) {
		if (h_fuse_mounted(h_mnt(), NULL, 0))
			return pid;
		int status;
		if (h_reaped(pid, &status)) {
			char text[4096];
			h_read_file(err, text, sizeof(text));
			skip("passthrough_ll did not mount:", text);
		}
		h_msleep(20);
	}
	h_fail(__FILE__, __LINE__, "passthrough_ll did not mount %s within 20 s", h_mnt());
	exit(h_finish());
}

static const struct target *find_target(const char *name)
{
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		if (strcmp(targets[i].name, name) == 0)
			return &targets[i];
	return NULL;
}

int main(int argc, char **argv)
{
	/* stdout carries the JSON lines only: the harness and vm.c print
	 * there, so their text goes to stderr. Close-on-exec, so no backend
	 * holds the reader's pipe open. */
	int json_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
	FILE *json = json_fd >= 0 ? fdopen(json_fd, "w") : NULL;
	if (!json || dup2(2, 1) != 1) {
		perror("vm_bench: stdout");
		return 1;
	}
	const struct target *t = argc >= 3 ? find_target(argv[2]) : NULL;
	double secs = 2;
	const char *peer = NULL;
	for (int i = 3; t && i < argc; i++) {
		if (strcmp(argv[i], "--secs") == 0 && i + 1 < argc)
			secs = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc)
			peer = argv[++i];
		else
			t = NULL;
	}
	if (!t || secs <= 0) {
		fputs(usage, stderr);
		return 2;
	}
	/* Boot, four phases of secs, sixteen idle marks, poweroff. */
	h_init(2, argv, 240 + (unsigned)(secs * 8));
	vm_require();

	char script[1024], drive[PATH_MAX + 80], chardev[PATH_MAX + 32], secs_s[32];
	snprintf(secs_s, sizeof(secs_s), "%g", secs);
	pid_t backend;
	struct h_pp p;
	if (t->kind == VIRTIOFS) {
		allocated(h_pp(&p, "seed.dat")->b, FILE_RANGE);
		allocated(h_pp(&p, "seed-pp.dat")->b, FILE_RANGE);
		backend = start_virtiofs(t, chardev, sizeof(chardev));
		snprintf(script, sizeof(script),
			 "step mount mount -t virtiofs " TAG " /mnt\n"
			 "step seed-packed guest_io seed /mnt/seed.dat --secs %s --marks packed\n"
			 "step seed-per-page guest_io seed /mnt/seed-pp.dat --secs %s --per-page "
			 "--marks per-page\n"
			 "step umount umount /mnt\n", secs_s, secs_s);
	} else {
		backend = start_disk(t, peer);
		/* Allocated in the backing directory, not through the mount: the
		 * daemon's CPU is counted only between the marks anyway. */
		allocated(h_pp(&p, "disk.img")->b, DISK_SIZE);
		snprintf(drive, sizeof(drive),
			 "file=%s,format=raw,if=virtio,cache=none,aio=threads", p.m);
		snprintf(script, sizeof(script),
			 "wait_for /dev/vda 10 || { echo 'SGF-VM: ERROR no /dev/vda'; exit 1; }\n"
			 "step seed-packed guest_io seed /dev/vda --secs %s --range 16M --marks packed\n"
			 "step seed-per-page guest_io seed /dev/vda --secs %s --range 16M --per-page "
			 "--marks per-page\n", secs_s, secs_s);
	}
	char *vfs_extra[] = { "-object", "memory-backend-memfd,id=mem,size=1G,share=on",
			      "-numa", "node,memdev=mem", "-chardev", chardev, "-device",
			      "vhost-user-fs-pci,chardev=vfs,tag=" TAG ",queue-size=1024", NULL };
	char *disk_extra[] = { "-drive", drive, NULL };

	struct vm vm;
	vm_start(&vm, t->name, script, t->kind == VIRTIOFS ? vfs_extra : disk_extra);
	bool marked = follow_marks(&vm, backend, secs);
	int code = vm_wait(&vm, marked ? (unsigned)(secs * 4) + 60 : 5);
	if (marked) {
		CHECK_EQ(code, 0);
		CHECK(vm_step_ok(&vm, "seed-packed"));
		CHECK(vm_step_ok(&vm, "seed-per-page"));
	}
	if (!h_failed())
		for (int m = 0; m < N_MODES; m++) {
			json_line(json, t, &vm, m, true, secs);
			json_line(json, t, &vm, m, false, secs);
		}
	fflush(json);
	vm_free(&vm);

	/* QEMU is gone: virtiofsd ends with its session, the others are
	 * stopped (the harness's cleanup unmounts and kills what is left).
	 * passthrough_ll exits 1 after SIGTERM (libfuse's loop returns the
	 * signal): its code says nothing. */
	if (strcmp(t->name, "virtiofs-virtiofsd") == 0) {
		int c = h_exit_code(h_wait(backend, 10));
		if (c != 0)
			fprintf(stderr, "vm_bench: virtiofsd exited with %d\n", c);
	} else if (strcmp(t->name, "disk-peer") == 0) {
		kill(backend, SIGTERM);
		h_wait(backend, 10);
	} else if (h_daemon_pid() > 0) {
		CHECK_EQ(h_stop(), 0);
	}
	return h_finish();
}
