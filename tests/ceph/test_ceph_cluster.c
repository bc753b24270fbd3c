/* tests/ceph/test_ceph_cluster.c - the ceph suite's cluster itself: it
 * comes up, a libcephfs client mounts it and reads back what it wrote, a
 * second client (ceph-fuse) sees it, and stop leaves no process behind. */
#include "harness.h"

#include <cephfs/libcephfs.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

static struct ceph_mount_info *mount_cluster(void)
{
	struct ceph_mount_info *cm = NULL;
	int r = ceph_create(&cm, "admin");
	REQUIRE(r == 0);
	r = ceph_conf_read_file(cm, h_ceph_conf());
	if (r != 0)
		h_fail(__FILE__, __LINE__, "ceph_conf_read_file %s: %s", h_ceph_conf(), strerror(-r));
	/* Fail instead of hanging when the cluster is not there. */
	CHECK_EQ(ceph_conf_set(cm, "client_mount_timeout", "20"), 0);
	CHECK_EQ(ceph_conf_set(cm, "rados_osd_op_timeout", "20"), 0);
	r = ceph_mount(cm, "/");
	if (r != 0) {
		h_fail(__FILE__, __LINE__, "ceph_mount: %s", strerror(-r));
		ceph_release(cm);
		exit(h_finish());
	}
	return cm;
}

static void write_read_back(struct ceph_mount_info *cm)
{
	static const char text[] = "written through libcephfs\n";
	char buf[64] = { 0 };

	CHECK_EQ(ceph_mkdir(cm, "/dir", 0755), 0);
	int fd = ceph_open(cm, "/dir/file", O_CREAT | O_RDWR | O_EXCL, 0644);
	REQUIRE(fd >= 0);
	CHECK_EQ(ceph_write(cm, fd, text, sizeof(text) - 1, 0), (long)sizeof(text) - 1);
	CHECK_EQ(ceph_fsync(cm, fd, 0), 0);
	CHECK_EQ(ceph_read(cm, fd, buf, sizeof(buf), 0), (long)sizeof(text) - 1);
	CHECK(strcmp(buf, text) == 0);
	CHECK_EQ(ceph_close(cm, fd), 0);

	struct ceph_statx stx;
	CHECK_EQ(ceph_statx(cm, "/dir/file", &stx, CEPH_STATX_SIZE, 0), 0);
	CHECK_EQ(stx.stx_size, sizeof(text) - 1);
}

/* The other node's view: ceph-fuse of the same fs sees the file. */
static void fuse_sees_it(void)
{
	char mnt[PATH_MAX], file[PATH_MAX];
	H_PATH(mnt, h_root(), "fuse");
	H_PATH(file, mnt, "dir/file");
	CHECK_OK(mkdir(mnt, 0755));
	int code = h_ceph_fuse_mount(mnt);
	if (code == H_EXIT_SKIP) {
		printf("note: no ceph-fuse here; the fuse view is not checked\n");
		return;
	}
	CHECK_EQ(code, 0);
	if (code == 0) {
		CHECK(h_fuse_mounted(mnt, NULL, 0));
		CHECK(h_content_is(file, "written through libcephfs\n"));
		CHECK_EQ(h_ceph_fuse_umount(mnt), 0);
		CHECK(!h_mounted(mnt));
	}
}

int main(void)
{
	h_init_bare(240);
	h_ceph_start();

	pid_t pids[64];
	CHECK(h_find_pids(h_ceph_dir(), pids, 64) >= 4); /* mon, mgr, osd, mds */

	struct ceph_mount_info *cm = mount_cluster();
	write_read_back(cm);
	CHECK_EQ(ceph_unmount(cm), 0);
	ceph_release(cm);
	fuse_sees_it();

	/* Stop takes down a ceph-fuse mount too, and leaves no process whose
	 * command line names the directory (zombies have none), and no
	 * directory. */
	char mnt[PATH_MAX];
	H_PATH(mnt, h_root(), "fuse");
	int fuse = h_ceph_fuse_mount(mnt);
	CHECK(fuse == 0 || fuse == H_EXIT_SKIP);
	CHECK_EQ(h_ceph_stop(), 0);
	int left = h_find_pids(h_ceph_dir(), pids, 64);
	for (int i = 0; i < left; i++)
		h_fail(__FILE__, __LINE__, "process %d of the cluster left after stop", (int)pids[i]);
	CHECK(!h_mounted(mnt));
	CHECK(access(h_ceph_dir(), F_OK) == -1);
	return h_finish();
}
