/* tests/mounted/test_backing_faults.c - the backing store fails under an
 * O_DIRECT pwritev/preadv of 32 x 4 KiB through the daemon: the caller gets
 * exactly what the backing filesystem gives the same calls made on it
 * directly (a short count or -1 with its errno), the bytes reported moved
 * are the right ones, nothing else is damaged, and the daemon and mount
 * keep serving.
 *   ENOSPC: the backing directory is a 1 MiB tmpfs, filled until full; the
 *     expected results come from a second 1 MiB tmpfs filled directly.
 *   EIO: the backing directory is a fault_fs mount (fault_fs.h: a FUSE
 *     server of our library whose files fail at a byte offset, short or
 *     EIO); the daemon reads and writes it through O_DIRECT fds, and the
 *     expected results are the same calls on the fault_fs mount directly.
 * Under -o passthrough the kernel does the I/O on the backing files itself:
 * the tmpfs ones and fault_fs's alike (a FUSE mount that does no
 * passthrough of its own is no stacked filesystem to the kernel).
 * argv[1] is the daemon, argv[2] (or $SGF_FAULT_FS) the fault_fs program. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "fault_fs.h"

#define SEG 4096
#define NSEG 32
#define CALL_BYTES (SEG * NSEG)

/* What a call returned. */
struct res {
	long ret;
	int err;
};

static uint8_t *buf; /* CALL_BYTES, page aligned (O_DIRECT) */

static uint8_t tagged(uint64_t off, unsigned tag)
{
	return (uint8_t)(off * 13 + (off >> 12) + tag * 101);
}

static void fill_tagged(uint8_t *p, uint64_t off, size_t len, unsigned tag)
{
	for (size_t i = 0; i < len; i++)
		p[i] = tagged(off + i, tag);
}

/* One vectored call of nseg x 4 KiB segments of buf at off. */
static struct res vec_io(int fd, bool write, int nseg, off_t off)
{
	struct iovec iov[NSEG];

	for (int i = 0; i < nseg; i++)
		iov[i] = (struct iovec){ buf + (size_t)i * SEG, SEG };
	errno = 0;
	ssize_t n = write ? pwritev(fd, iov, nseg, off) : preadv(fd, iov, nseg, off);
	return (struct res){ (long)n, n < 0 ? errno : 0 };
}

static const char *errname(int err)
{
	return err ? strerrorname_np(err) : "0";
}

static void check_same(const char *what, int call, struct res want, struct res got)
{
	if (want.ret != got.ret || want.err != got.err)
		h_fail(__FILE__, __LINE__, "%s, call %d: through the mount %ld/%s, "
		       "the backing fs directly %ld/%s", what, call, got.ret,
		       errname(got.err), want.ret, errname(want.err));
}

static bool alive(pid_t pid)
{
	int status;
	return waitpid(pid, &status, WNOHANG) == 0;
}

/* Does path hold len bytes equal to want at off (read O_DIRECT when
 * direct, through a page-aligned bounce)? */
static bool holds(const char *path, uint64_t off, const uint8_t *want, size_t len, bool direct)
{
	uint8_t *got;
	bool same = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));

	if (fd < 0 || posix_memalign((void **)&got, SEG, len + SEG) != 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	ssize_t n = pread(fd, got, direct ? (len + SEG - 1) / SEG * SEG : len, (off_t)off);
	same = n >= (ssize_t)len && memcmp(got, want, len) == 0;
	free(got);
	close(fd);
	return same;
}

/* ---- ENOSPC ------------------------------------------------------------ */

#define OTHER_BYTES (3 * SEG) /* so that the last full call is short */
#define MAX_CALLS 16          /* 1 MiB is 8 calls */

/* In dir: "other" of OTHER_BYTES, then "fill" by O_DIRECT pwritev of 32 x
 * 4 KiB, each call where the bytes stored so far end, until one fails.
 * The calls made; *stored the bytes reported written. */
static int fill_until_full(const char *dir, struct res *res, uint64_t *stored)
{
	char path[4096];
	uint8_t other[OTHER_BYTES];
	int n = 0;

	fill_tagged(other, 0, sizeof(other), 7);
	REQUIRE(h_write_file(H_PATH(path, dir, "other"), other, sizeof(other)) == 0);
	int fd = open(H_PATH(path, dir, "fill"), O_CREAT | O_TRUNC | O_RDWR | O_DIRECT | O_CLOEXEC,
		      0644);
	REQUIRE(fd >= 0);
	*stored = 0;
	while (n < MAX_CALLS) {
		fill_tagged(buf, *stored, CALL_BYTES, 1);
		res[n] = vec_io(fd, true, NSEG, (off_t)*stored);
		if (res[n].ret > 0)
			*stored += (uint64_t)res[n].ret;
		if (res[n++].ret < 0)
			break;
	}
	close(fd);
	return n;
}

static void mount_tiny(const char *dir)
{
	if (mount("sgfuse-tiny", dir, "tmpfs", 0, "size=1m,mode=0755") != 0) {
		h_fail(__FILE__, __LINE__, "mount tmpfs size=1m on %s: %s", dir, strerror(errno));
		exit(h_finish());
	}
}

static void test_enospc(void)
{
	char direct[4096], path[4096];
	struct res want[MAX_CALLS], got[MAX_CALLS];
	uint64_t want_stored, stored;
	uint8_t other[OTHER_BYTES], small[SEG];

	printf("-- ENOSPC: a 1 MiB tmpfs behind the mount\n");
	/* What tmpfs itself answers the sequence. */
	H_PATH(direct, h_root(), "direct");
	REQUIRE(mkdir(direct, 0755) == 0);
	mount_tiny(direct);
	int nwant = fill_until_full(direct, want, &want_stored);
	CHECK_OK(umount2(direct, 0));
	for (int i = 0; i < nwant; i++)
		printf("   tmpfs directly, call %d: %ld/%s\n", i, want[i].ret,
		       errname(want[i].err));
	/* The sequence must have reached the full device (else it proves
	 * nothing): it ends with a failure. */
	REQUIRE(nwant > 1 && want[nwant - 1].ret == -1);

	mount_tiny(h_backing());
	pid_t pid = h_start("");
	int ngot = fill_until_full(h_mnt(), got, &stored);
	CHECK_EQ(ngot, nwant);
	for (int i = 0; i < ngot && i < nwant; i++)
		check_same("pwritev until full", i, want[i], got[i]);
	CHECK_EQ(stored, want_stored);

	/* What was reported written is there, through the mount and behind it;
	 * the file is exactly that long; the other file is untouched. */
	struct stat st;
	uint8_t *expect = malloc(stored ? stored : 1);
	REQUIRE(expect != NULL);
	fill_tagged(expect, 0, stored, 1);
	CHECK(holds(H_PATH(path, h_mnt(), "fill"), 0, expect, stored, true));
	CHECK(holds(H_PATH(path, h_backing(), "fill"), 0, expect, stored, false));
	free(expect);
	CHECK_OK(stat(H_PATH(path, h_mnt(), "fill"), &st));
	CHECK_EQ(st.st_size, stored);
	fill_tagged(other, 0, sizeof(other), 7);
	CHECK(holds(H_PATH(path, h_mnt(), "other"), 0, other, sizeof(other), false));

	/* Space freed, a small write goes in again. */
	CHECK(alive(pid));
	CHECK_OK(unlink(H_PATH(path, h_mnt(), "other")));
	/* The backing tmpfs frees the file's pages when its inode goes, and
	 * the daemon holds it (its node's fd) until the kernel sends FORGET,
	 * which follows the unlink a moment later: wait for the space. */
	for (int ms = 0; ms < 3000; ms += 10) {
		struct statvfs vfs;
		if (statvfs(h_backing(), &vfs) == 0 && vfs.f_bavail * vfs.f_frsize >= SEG)
			break;
		usleep(10000);
	}
	int fd = open(H_PATH(path, h_mnt(), "fill"), O_WRONLY | O_DIRECT | O_CLOEXEC);
	CHECK(fd >= 0);
	if (fd >= 0) {
		fill_tagged(buf, stored, SEG, 2);
		memcpy(small, buf, SEG);
		CHECK_EQ(pwrite(fd, buf, SEG, (off_t)stored), SEG);
		close(fd);
		CHECK(holds(H_PATH(path, h_mnt(), "fill"), stored, small, SEG, true));
	}
	CHECK(alive(pid));
	CHECK(h_fuse_mounted(h_mnt(), NULL, 0));
	CHECK_EQ(h_stop(), 0);
	CHECK_OK(umount2(h_backing(), 0));
}

/* ---- EIO --------------------------------------------------------------- */

#define FAULT_AT 200000u          /* inside the second call's range, not page aligned */
#define FAULT_SIZE (4u * CALL_BYTES)

static const char *fault_exe;
static pid_t fault_pid;

/* fault_fs in the foreground on the backing directory, until it answers. */
static void start_fault_fs(void)
{
	char opts[128];
	snprintf(opts, sizeof(opts), "fault_at=%u,fault_size=%u", FAULT_AT, FAULT_SIZE);
	fflush(NULL);
	fault_pid = fork();
	REQUIRE(fault_pid >= 0);
	if (fault_pid == 0) {
		/* Die with the test rather than outlive it holding a mount. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(fault_exe, fault_exe, "-f", "-o", opts, h_backing(), (char *)NULL);
		_exit(127);
	}
	for (int ms = 0; ms < 20000 && !h_fuse_mounted(h_backing(), NULL, 0); ms += 10) {
		REQUIRE(alive(fault_pid));
		usleep(10000);
	}
	REQUIRE(h_fuse_mounted(h_backing(), NULL, 0));
}

static void stop_fault_fs(void)
{
	int status = 0;
	pid_t r = 0;
	kill(fault_pid, SIGTERM);
	for (int ms = 0; ms < 20000 && (r = waitpid(fault_pid, &status, WNOHANG)) == 0; ms += 10)
		usleep(10000);
	if (r == 0) {
		h_fail(__FILE__, __LINE__, "fault_fs did not exit within 20 s of SIGTERM");
		kill(fault_pid, SIGKILL);
		waitpid(fault_pid, &status, 0);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(!h_mounted(h_backing()));
}

/* One step of the EIO sequence: nseg x 4 KiB at off, a read or a write. */
struct step {
	bool write;
	int nseg;
	off_t off;
};

static const struct step steps[] = {
	{ false, NSEG, 0 },                 /* clear of the fault */
	{ false, NSEG, CALL_BYTES },        /* crosses it */
	{ false, NSEG, 2 * CALL_BYTES },    /* starts past it */
	{ true, NSEG, CALL_BYTES },         /* crosses it */
	{ false, 16, CALL_BYTES },          /* ends before it: what the write left */
	{ true, NSEG, 2 * CALL_BYTES },     /* starts past it */
	{ true, NSEG, 0 },                  /* clear of it */
	{ false, NSEG, 0 },
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

/* Run step s on path; a read is checked against model (the file's bytes
 * as the calls so far reported them), a write updates it. */
static struct res run_step(const char *path, const struct step *s, uint8_t *model, unsigned tag)
{
	struct res r = { -1, EBADF };
	int fd = open(path, (s->write ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		h_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
		return r;
	}
	if (s->write)
		fill_tagged(buf, (uint64_t)s->off, CALL_BYTES, tag);
	else
		memset(buf, 0xee, CALL_BYTES);
	r = vec_io(fd, s->write, s->nseg, s->off);
	close(fd);
	if (r.ret > 0 && s->write)
		memcpy(model + s->off, buf, (size_t)r.ret);
	if (r.ret > 0 && !s->write && memcmp(buf, model + s->off, (size_t)r.ret) != 0)
		h_fail(__FILE__, __LINE__, "%s: preadv at %lld returned %ld bytes not the file's",
		       path, (long long)s->off, r.ret);
	return r;
}

/* What the fault_fs.h rules make of a step's first try on the inner mount
 * (the kernel sends the whole call as one request): proves the faults are
 * where the test thinks, before the daemon is compared with them. */
static struct res by_the_rules(const struct step *s, bool eio_file)
{
	uint64_t end = (uint64_t)s->off + (uint64_t)s->nseg * SEG;
	if (end <= FAULT_AT)
		return (struct res){ (long)s->nseg * SEG, 0 };
	if ((uint64_t)s->off >= FAULT_AT || eio_file)
		return (struct res){ -1, EIO };
	return (struct res){ (long)(FAULT_AT - (uint64_t)s->off), 0 };
}

/* Has pid an fd open on path with O_DIRECT (per /proc/PID/fdinfo)? */
static bool has_direct_fd(pid_t pid, const char *path)
{
	char dir[64], link[4096], info[4096], target[4096];
	bool found = false;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	for (int fd = 0; fd < 1024 && !found; fd++) {
		snprintf(link, sizeof(link), "%s/%d", dir, fd);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		snprintf(link, sizeof(link), "/proc/%d/fdinfo/%d", (int)pid, fd);
		unsigned flags;
		const char *p;
		if (strcmp(target, path) == 0 && h_read_file(link, info, sizeof(info)) > 0 &&
		    (p = strstr(info, "flags:")) && sscanf(p, "flags: %o", &flags) == 1)
			found = (flags & O_DIRECT) != 0;
	}
	return found;
}

static void test_eio(void)
{
	static const char *const files[] = { FAULT_SHORT, FAULT_EIO };
	char inner[4096], outer[4096], path[4096], what[128];
	uint8_t *model, plain[2 * SEG];
	char stats[65536];

	printf("-- EIO: a fault_fs mount behind the mount\n");
	start_fault_fs();
	pid_t pid = h_start("");
	/* A file the faults must leave alone. */
	fill_tagged(plain, 0, sizeof(plain), 9);
	CHECK_EQ(h_write_file(H_PATH(path, h_mnt(), "plain"), plain, sizeof(plain)), 0);
	REQUIRE(posix_memalign((void **)&model, SEG, FAULT_SIZE) == 0);
	/* What the daemon does with an O_DIRECT open (backing_direct=auto):
	 * preadv/pwritev on an O_DIRECT fd of the fault_fs file. (Under
	 * passthrough its fd only names the backing file to the kernel.) */
	if (!h_opts_have("passthrough")) {
		int fd = open(H_PATH(path, h_mnt(), FAULT_SHORT), O_RDWR | O_DIRECT | O_CLOEXEC);
		CHECK(fd >= 0);
		CHECK(has_direct_fd(pid, H_PATH(inner, h_backing(), FAULT_SHORT)));
		if (fd >= 0)
			close(fd);
	}

	for (int f = 0; f < 2; f++) {
		H_PATH(inner, h_backing(), files[f]);
		H_PATH(outer, h_mnt(), files[f]);
		for (uint64_t i = 0; i < FAULT_SIZE; i++)
			model[i] = fault_byte(i);
		for (unsigned i = 0; i < NSTEPS; i++) {
			const struct step *s = &steps[i];
			/* The same call on the backing fs, then through the
			 * daemon (writing other bytes, so the reads after
			 * show whose landed). */
			struct res want = run_step(inner, s, model, 2 * i);
			struct res rule = by_the_rules(s, f == 1);
			snprintf(what, sizeof(what), "%s %s %d x 4 KiB at %lld", files[f],
				 s->write ? "pwritev" : "preadv", s->nseg, (long long)s->off);
			printf("   %s: directly %ld/%s\n", what, want.ret,
			       errname(want.err));
			if (want.ret != rule.ret || want.err != rule.err)
				h_fail(__FILE__, __LINE__, "%s on fault_fs directly: %ld/%s, "
				       "fault_fs.h says %ld/%s", what, want.ret,
				       errname(want.err), rule.ret, errname(rule.err));
			check_same(what, (int)i, want, run_step(outer, s, model, 2 * i + 1));
		}
		/* Behind the daemon the file holds what the calls reported
		 * (read up to the page before the fault, clear of it). */
		CHECK(holds(inner, 0, model, FAULT_AT / SEG * SEG, true));
	}
	free(model);

	CHECK(alive(pid));
	CHECK_EQ(h_stats(stats, sizeof(stats)), 0);
	if (h_opts_have("passthrough")) {
		/* The kernel took fault_fs's files as backing files (a FUSE
		 * mount without passthrough of its own stacks nothing) and met
		 * the faults itself. */
		CHECK(h_stat_count(stats, "passthrough") >= 1);
	} else {
		/* The faults came back through the daemon's READ and WRITE. */
		CHECK(h_stat_op(stats, "READ", "errors") >= 2);
		CHECK(h_stat_op(stats, "WRITE", "errors") >= 2);
	}
	CHECK(holds(H_PATH(path, h_mnt(), "plain"), 0, plain, sizeof(plain), false));
	CHECK(holds(H_PATH(path, h_backing(), "plain"), 0, plain, sizeof(plain), true));
	/* The mount keeps serving: a new file, written and read back. */
	int fd = open(H_PATH(path, h_mnt(), "after"), O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0) {
		fill_tagged(buf, 0, CALL_BYTES, 5);
		CHECK_EQ(vec_io(fd, true, NSEG, 0).ret, CALL_BYTES);
		memset(buf, 0, CALL_BYTES);
		CHECK_EQ(vec_io(fd, false, NSEG, 0).ret, CALL_BYTES);
		for (size_t i = 0; i < CALL_BYTES; i++)
			if (buf[i] != tagged(i, 5)) {
				h_fail(__FILE__, __LINE__, "after: byte %zu wrong", i);
				break;
			}
		close(fd);
	}
	CHECK(alive(pid));
	CHECK_EQ(h_stop(), 0);
	stop_fault_fs();
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 100);
	fault_exe = argc > 2 ? argv[2] : getenv("SGF_FAULT_FS");
	REQUIRE(fault_exe != NULL && access(fault_exe, X_OK) == 0);
	REQUIRE(posix_memalign((void **)&buf, SEG, CALL_BYTES) == 0);
	test_enospc();
	test_eio();
	free(buf);
	return h_finish();
}
