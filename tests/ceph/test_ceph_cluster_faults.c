/* tests/ceph/test_ceph_cluster_faults.c - the cluster's fault glue, seen
 * by a libcephfs client: each daemon killed (h_ceph_kill) and started
 * again (h_ceph_restart). While the OSD is down, data ops fail with
 * ETIMEDOUT after rados_osd_op_timeout instead of hanging; once it is
 * back they work again; after the MDS, the mon and the mgr came back,
 * metadata ops work. Bluestore, since memstore dies with its OSD. */
#include "harness.h"

#include <cephfs/libcephfs.h>
#include <fcntl.h>
#include <time.h>

#define BLOCK 4096

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct ceph_mount_info *mount_cluster(void)
{
	struct ceph_mount_info *cm = NULL;
	REQUIRE(ceph_create(&cm, "admin") == 0);
	REQUIRE(ceph_conf_read_file(cm, h_ceph_conf()) == 0);
	CHECK_EQ(ceph_conf_set(cm, "client_mount_timeout", "20"), 0);
	CHECK_EQ(ceph_conf_set(cm, "rados_osd_op_timeout", "5"), 0);
	/* An op is "laggy" after objecter_timeout (10 s by default), and only
	 * then does the client ask the mon for a newer OSD map; below the op
	 * timeout, or it never learns where the restarted OSD listens and
	 * every op times out against the dead address. */
	CHECK_EQ(ceph_conf_set(cm, "objecter_timeout", "2"), 0);
	/* No object cache: writes go to the OSD when made, not on a flush. */
	CHECK_EQ(ceph_conf_set(cm, "client_oc", "false"), 0);
	int r = ceph_mount(cm, "/");
	if (r != 0) {
		h_fail(__FILE__, __LINE__, "ceph_mount: %s", strerror(-r));
		exit(h_finish());
	}
	return cm;
}

/* A data op against a dead OSD fails, in about the op timeout. */
static void osd_down(struct ceph_mount_info *cm, int fd, const char *buf)
{
	char back[BLOCK];
	double t = now();
	int r = ceph_write(cm, fd, buf, BLOCK, BLOCK);
	printf("OSD down: write %s after %.1f s\n", r < 0 ? strerrorname_np(-r) : "worked", now() - t);
	CHECK_EQ(r, -ETIMEDOUT);
	CHECK(now() - t < 15);
	t = now();
	r = ceph_read(cm, fd, back, BLOCK, 0);
	printf("OSD down: read %s after %.1f s\n", r < 0 ? strerrorname_np(-r) : "worked", now() - t);
	CHECK_EQ(r, -ETIMEDOUT);
	CHECK(now() - t < 15);
}

/* Once it is back, ops work again: the first may still time out while the
 * client fetches the new OSD map and the PGs peer. */
static void osd_back(struct ceph_mount_info *cm, int fd, const char *buf)
{
	char back[BLOCK];
	int r = -ETIMEDOUT;
	double t = now();
	for (int i = 0; i < 6 && r == -ETIMEDOUT; i++)
		r = ceph_write(cm, fd, buf, BLOCK, BLOCK);
	printf("OSD back: write %s after %.1f s\n", r < 0 ? strerrorname_np(-r) : "worked", now() - t);
	CHECK_EQ(r, BLOCK);
	CHECK_EQ(ceph_read(cm, fd, back, BLOCK, 0), BLOCK);
	CHECK(memcmp(back, buf, BLOCK) == 0);
}

int main(void)
{
	static char buf[BLOCK];

	h_init_bare(300);
	setenv("CEPH_OSD_STORE", "bluestore", 1);
	h_ceph_start();
	struct ceph_mount_info *cm = mount_cluster();

	memset(buf, 'c', sizeof(buf));
	int fd = ceph_open(cm, "/file", O_CREAT | O_RDWR, 0644);
	REQUIRE(fd >= 0);
	CHECK_EQ(ceph_write(cm, fd, buf, BLOCK, 0), BLOCK);
	CHECK_EQ(ceph_fsync(cm, fd, 0), 0);

	CHECK_EQ(h_ceph_kill("osd"), 0);
	osd_down(cm, fd, buf);
	CHECK_EQ(h_ceph_restart("osd"), 0);
	osd_back(cm, fd, buf);

	static const char *const others[] = { "mds", "mon", "mgr" };
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		char path[64];
		CHECK_EQ(h_ceph_kill(others[i]), 0);
		CHECK_EQ(h_ceph_restart(others[i]), 0);
		snprintf(path, sizeof(path), "/after-%s", others[i]);
		CHECK_EQ(ceph_mkdir(cm, path, 0755), 0);
	}
	CHECK_EQ(ceph_close(cm, fd), 0);
	CHECK_EQ(ceph_unmount(cm), 0);
	ceph_release(cm);
	CHECK_EQ(h_ceph_stop(), 0);
	return h_finish();
}
