/* tests/vm/test_vm_disk.c - the seed's scenario in a real guest: a raw disk
 * image on our mount is the guest's virtio disk; its O_DIRECT loops must
 * reach the daemon as one 128 KiB request per 32-page call (4 KiB per page
 * with --per-page), and what it writes must land in the backing file.
 * $SGF_VM_AIO: QEMU's aio= for the disk (threads, io_uring). */
#include "harness.h"
#include "pattern.h"
#include "vm.h"

#include <fcntl.h>
#include <unistd.h>

#define DISK_SIZE (64u << 20)
#define FILL_OFF (32u << 20)
#define FILL_LEN (4u << 20)
#define FILL_CHUNK (256u << 10) /* guest_io fill's default */
#define FILL_SEED 4242
#define SEED_CALL (32u * 4096)
/* Reads the guest kernel (partition scan) and QEMU (alignment probes) make
 * besides the loops'; generous, the exact counts are the writes'. */
#define READ_SLACK 64

static const char script[] =
	"wait_for /dev/vda 10 || { echo 'SGF-VM: ERROR no /dev/vda'; exit 1; }\n"
	"step size blockdev --getsize64 /dev/vda\n"
	"step seed-packed guest_io seed /dev/vda --pages 32 --secs 2 --range 16M\n"
	"step seed-per-page guest_io seed /dev/vda --pages 32 --secs 2 --per-page --range 16M\n"
	"step fill guest_io fill /dev/vda 32M 4M 4242\n"
	"step check guest_io check /dev/vda 32M 4M 4242\n";

static char stats_a[65536], stats_b[65536];

struct counts {
	uint64_t w4k, w128k, w256k, writes, r4k, r128k, r256k;
};

static struct counts counts(char *buf)
{
	struct counts c = { 0, 0, 0, 0, 0, 0, 0 };
	int err = h_stats(buf, sizeof(stats_a));
	if (err) {
		h_fail(__FILE__, __LINE__, "reading the daemon's stats: %s", strerror(-err));
		return c;
	}
	c.w4k = h_stat_hist(buf, "WRITE", 4096);
	c.w128k = h_stat_hist(buf, "WRITE", 131072);
	c.w256k = h_stat_hist(buf, "WRITE", 262144);
	c.writes = h_stat_op(buf, "WRITE", "count");
	c.r4k = h_stat_hist(buf, "READ", 4096);
	c.r128k = h_stat_hist(buf, "READ", 131072);
	c.r256k = h_stat_hist(buf, "READ", 262144);
	return c;
}

/* between(got, low, high) with a message naming what was counted. */
static void check_range(const char *what, uint64_t got, uint64_t low, uint64_t high)
{
	if (got < low || got > high)
		h_fail(__FILE__, __LINE__, "%s: %llu, want %llu-%llu", what,
		       (unsigned long long)got, (unsigned long long)low, (unsigned long long)high);
}

/* The backing file, read directly (not through the mount), holds at off
 * the bytes [pat_off, pat_off+len) of the pattern of seed. */
static void check_backing(const char *path, uint64_t off, size_t len, uint64_t seed,
			  uint64_t pat_off)
{
	unsigned char *buf = malloc(len);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	REQUIRE(buf && fd >= 0);
	CHECK_EQ(pread(fd, buf, len, (off_t)off), len);
	size_t bad = vm_pat_check(buf, len, pat_off, seed);
	if (bad != len)
		h_fail(__FILE__, __LINE__, "%s: byte %llu differs from the guest's pattern %llu",
		       path, (unsigned long long)(off + bad), (unsigned long long)seed);
	close(fd);
	free(buf);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 280);
	vm_require();
	const char *aio = getenv("SGF_VM_AIO");
	aio = aio && *aio ? aio : "threads";
	h_start("");

	struct h_pp disk;
	h_pp(&disk, "disk.img");
	int fd = open(disk.m, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	REQUIRE(fd >= 0);
	CHECK_OK(ftruncate(fd, DISK_SIZE));
	close(fd);

	char drive[8192];
	snprintf(drive, sizeof(drive), "file=%s,format=raw,if=virtio,cache=none,aio=%s", disk.m, aio);
	char *extra[] = { "-drive", drive, NULL };
	struct counts a = counts(stats_a);
	struct vm vm;
	vm_start(&vm, aio, script, extra);
	int code = vm_wait(&vm, 200);
	if (code == -1 && vm.boot_secs < 0 && vm_qemu_said(&vm, "io_uring")) {
		printf("SKIP: this QEMU cannot open the disk with aio=%s (its error above)\n", aio);
		vm_free(&vm);
		h_stop();
		h_finish();
		return H_EXIT_SKIP;
	}
	CHECK_EQ(code, 0);
	struct counts b = counts(stats_b);

	CHECK(vm_step_ok(&vm, "size"));
	char line[256];
	const char *size = vm_result(&vm, "size", NULL, line, sizeof(line));
	CHECK(size && strtoull(size, NULL, 10) == DISK_SIZE);
	bool packed = vm_step_ok(&vm, "seed-packed");
	bool per_page = vm_step_ok(&vm, "seed-per-page");
	CHECK(vm_step_ok(&vm, "fill"));
	CHECK(vm_step_ok(&vm, "check"));
	REQUIRE(packed && per_page);

	double wp = vm_result_num(&vm, "seed-packed", "writes");
	double rp = vm_result_num(&vm, "seed-packed", "reads");
	double wpp = vm_result_num(&vm, "seed-per-page", "writes");
	double rpp = vm_result_num(&vm, "seed-per-page", "reads");
	REQUIRE(wp > 0 && rp > 0 && wpp > 0 && rpp > 0);
	printf("guest MB/s (aio=%s): packed writev %.1f readv %.1f, per-page writev %.1f readv %.1f\n",
	       aio, vm_result_num(&vm, "seed-packed", "writev_mbps"),
	       vm_result_num(&vm, "seed-packed", "readv_mbps"),
	       vm_result_num(&vm, "seed-per-page", "writev_mbps"),
	       vm_result_num(&vm, "seed-per-page", "readv_mbps"));
	printf("daemon: WRITE 4K %llu 128K %llu 256K %llu of %llu; READ 4K %llu 128K %llu 256K %llu\n",
	       (unsigned long long)(b.w4k - a.w4k), (unsigned long long)(b.w128k - a.w128k),
	       (unsigned long long)(b.w256k - a.w256k), (unsigned long long)(b.writes - a.writes),
	       (unsigned long long)(b.r4k - a.r4k), (unsigned long long)(b.r128k - a.r128k),
	       (unsigned long long)(b.r256k - a.r256k));

	/* Writes: nothing else writes the disk, so every size is exact: one
	 * 128 KiB WRITE per pwritev, one 4 KiB per pwrite, one 256 KiB per
	 * fill chunk, and no other WRITE at all. */
	CHECK_EQ(b.w128k - a.w128k, (uint64_t)wp);
	CHECK_EQ(b.w4k - a.w4k, (uint64_t)wpp);
	CHECK_EQ(b.w256k - a.w256k, FILL_LEN / FILL_CHUNK);
	CHECK_EQ(b.writes - a.writes, (uint64_t)wp + (uint64_t)wpp + FILL_LEN / FILL_CHUNK);
	/* Reads: the loops' and a few of the guest's and QEMU's own. */
	check_range("READ requests of 128 KiB", b.r128k - a.r128k, (uint64_t)rp,
		    (uint64_t)rp + READ_SLACK);
	check_range("READ requests of 4 KiB", b.r4k - a.r4k, (uint64_t)rpp,
		    (uint64_t)rpp + READ_SLACK);
	check_range("READ requests of 256 KiB", b.r256k - a.r256k, FILL_LEN / FILL_CHUNK,
		    FILL_LEN / FILL_CHUNK + READ_SLACK);
	if (h_failed())
		fprintf(stderr, "stats before the guest:\n%s\nafter:\n%s", stats_a, stats_b);

	/* The seed loops left the pattern of their 32 pages (seed 1) in
	 * every call's place; the fill its own. */
	check_backing(disk.b, 0, SEED_CALL, 1, 0);
	check_backing(disk.b, 5 * SEED_CALL, SEED_CALL, 1, 0);
	check_backing(disk.b, FILL_OFF, FILL_LEN, FILL_SEED, FILL_OFF);

	vm_free(&vm);
	CHECK_EQ(h_stop(), 0);
	return h_finish();
}
