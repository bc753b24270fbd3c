/* tests/server/test_notify.c - notifications, observed through the kernel.
 * Entries and attributes are cached for an hour and pages kept across opens
 * (FOPEN_KEEP_CACHE), so a change made behind the kernel's back in the
 * filesystem's memory stays invisible - the stale view is checked first -
 * until the notification: sgf_notify_inval_inode (attributes only, a page
 * range, everything), sgf_notify_inval_entry (a renamed entry),
 * sgf_notify_delete (a removed entry, and a wrong child), sgf_notify_store
 * (bytes pushed into the page cache and read back while the filesystem
 * refuses every READ of that file). All sent from the test's main thread,
 * which is no worker. Also the errors: -ENOTCONN before INIT and once the
 * session ended, -EINVAL for bad arguments, -ENOENT from the kernel for what
 * it does not know. */
#include "srv_helper.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/uio.h>
#include <unistd.h>

#define HOUR 3600

static struct sh_fs *fs;
static struct sgf_session *saved_se;
static atomic_int rc_destroy_inode = 1, rc_destroy_entry = 1, rc_destroy_store = 1;

static void notify_destroy(void *fsp)
{
	struct iovec iov = { "x", 1 };

	/* The session has ended: nothing may be sent on it any more. */
	atomic_store(&rc_destroy_inode, sgf_notify_inval_inode(saved_se, 1, -1, 0));
	atomic_store(&rc_destroy_entry, sgf_notify_inval_entry(saved_se, 1, "attr"));
	atomic_store(&rc_destroy_store, sgf_notify_store(saved_se, 2, 0, &iov, 1));
	sh_destroy_op(fsp);
}

static ssize_t read_file(const char *name, char *buf, size_t size)
{
	char path[PATH_MAX + 16];
	int fd = open(SH_PATH(path, name), O_RDONLY);

	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size);
	int e = errno;
	close(fd);
	return n < 0 ? -e : n;
}

static off_t size_of(const char *name)
{
	char path[PATH_MAX + 16];
	struct stat st;

	return stat(SH_PATH(path, name), &st) == 0 ? st.st_size : -errno;
}

static bool all_bytes(const char *buf, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != c)
			return false;
	return true;
}

static void test_inval_inode_attr(struct sgf_session *se)
{
	char big[2000];
	uint64_t ino = sh_fs_find(fs, 1, "attr");

	CHECK_EQ(size_of("attr"), 1000);
	memset(big, 'b', sizeof(big));
	sh_fs_set_data(fs, ino, big, sizeof(big));
	long getattrs = sh_fs_calls(fs, FUSE_GETATTR), lookups = sh_fs_calls(fs, FUSE_LOOKUP);
	CHECK_EQ(size_of("attr"), 1000); /* stale */
	CHECK_EQ(sh_fs_calls(fs, FUSE_GETATTR), getattrs);
	CHECK_EQ(sh_fs_calls(fs, FUSE_LOOKUP), lookups);
	CHECK_RET(sgf_notify_inval_inode(se, ino, -1, 0), 0);
	CHECK_EQ(size_of("attr"), 2000);
	CHECK(sh_fs_calls(fs, FUSE_GETATTR) > getattrs);
}

static void test_inval_inode_data(struct sgf_session *se)
{
	char buf[8192], fresh[8192];
	uint64_t ino = sh_fs_find(fs, 1, "data");

	CHECK_EQ(read_file("data", buf, sizeof(buf)), 8192);
	CHECK(all_bytes(buf, 8192, 'A'));
	memset(fresh, 'C', sizeof(fresh));
	sh_fs_set_data(fs, ino, fresh, sizeof(fresh));
	long reads = sh_fs_calls(fs, FUSE_READ);
	CHECK_EQ(read_file("data", buf, sizeof(buf)), 8192);
	CHECK(all_bytes(buf, 8192, 'A')); /* stale, from the page cache */
	CHECK_EQ(sh_fs_calls(fs, FUSE_READ), reads);

	/* Only the second page. */
	CHECK_RET(sgf_notify_inval_inode(se, ino, 4096, 4096), 0);
	CHECK_EQ(read_file("data", buf, sizeof(buf)), 8192);
	CHECK(all_bytes(buf, 4096, 'A'));
	CHECK(all_bytes(buf + 4096, 4096, 'C'));
	/* To the end (len 0). */
	CHECK_RET(sgf_notify_inval_inode(se, ino, 0, 0), 0);
	CHECK_EQ(read_file("data", buf, sizeof(buf)), 8192);
	CHECK(all_bytes(buf, 8192, 'C'));
	CHECK(sh_fs_calls(fs, FUSE_READ) > reads);
}

static void test_inval_entry(struct sgf_session *se)
{
	char path[PATH_MAX + 16];
	struct stat st, st2;
	uint64_t ino = sh_fs_find(fs, 1, "old");

	CHECK_OK(stat(SH_PATH(path, "old"), &st));
	CHECK_EQ(st.st_ino, ino);
	CHECK_RET(sh_fs_move(fs, ino, 1, "renamed"), 0);
	long lookups = sh_fs_calls(fs, FUSE_LOOKUP);
	CHECK_OK(stat(SH_PATH(path, "old"), &st)); /* stale dentry */
	CHECK_EQ(sh_fs_calls(fs, FUSE_LOOKUP), lookups);
	CHECK_RET(sgf_notify_inval_entry(se, 1, "old"), 0);
	CHECK_ERR(stat(SH_PATH(path, "old"), &st), ENOENT);
	CHECK_OK(stat(SH_PATH(path, "renamed"), &st2));
	CHECK_EQ(st2.st_ino, ino);
}

static void test_delete(struct sgf_session *se)
{
	char path[PATH_MAX + 16];
	struct stat st;
	uint64_t ino = sh_fs_find(fs, 1, "gone");

	CHECK_OK(stat(SH_PATH(path, "gone"), &st));
	CHECK_RET(sh_fs_remove(fs, ino), 0);
	CHECK_OK(stat(SH_PATH(path, "gone"), &st)); /* stale */
	/* The kernel checks the child: another inode is no match (it drops
	 * the dentry all the same, so look it up again). */
	CHECK_RET(sgf_notify_delete(se, 1, ino + 100, "gone"), -ENOENT);
	CHECK_RET(sh_fs_move(fs, ino, 1, "gone"), 0);
	CHECK_OK(stat(SH_PATH(path, "gone"), &st));
	CHECK_RET(sh_fs_remove(fs, ino), 0);
	CHECK_OK(stat(SH_PATH(path, "gone"), &st)); /* stale again */
	CHECK_RET(sgf_notify_delete(se, 1, ino, "gone"), 0);
	CHECK_ERR(stat(SH_PATH(path, "gone"), &st), ENOENT);
}

static void test_store(struct sgf_session *se)
{
	char fresh[209], buf[512];
	uint64_t ino = sh_fs_find(fs, 1, "store");

	CHECK_EQ(size_of("store"), 100);
	/* The backend's new contents, which the kernel gets pushed; READ of
	 * the file fails from now on, so what reads back is the page cache. */
	for (size_t i = 0; i < 200; i++)
		fresh[i] = (char)('a' + i % 26);
	memcpy(fresh + 200, "XYZ123456", 9);
	sh_fs_set_data(fs, ino, fresh, 200);
	sh_fs_set_refuse_read(fs, ino, true);
	CHECK_EQ(size_of("store"), 100); /* stale */

	struct iovec one = { fresh, 200 };
	CHECK_RET(sgf_notify_store(se, ino, 0, &one, 1), 0);
	CHECK_EQ(size_of("store"), 200);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(read_file("store", buf, 200), 200);
	CHECK(memcmp(buf, fresh, 200) == 0);

	/* Two iovecs at an offset, growing the file. */
	sh_fs_set_data(fs, ino, fresh, sizeof(fresh));
	struct iovec two[2] = { { fresh + 200, 3 }, { fresh + 203, 6 } };
	CHECK_RET(sgf_notify_store(se, ino, 200, two, 2), 0);
	CHECK_EQ(size_of("store"), 209);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(read_file("store", buf, 209), 209);
	CHECK(memcmp(buf, fresh, 209) == 0);
	CHECK_EQ(atomic_load(&fs->refused_reads), 0);

	/* SGF_NOTIFY_IOV_MAX iovecs, and one more is refused. */
	struct iovec many[SGF_NOTIFY_IOV_MAX + 1];
	char pieces[SGF_NOTIFY_IOV_MAX + 1];
	for (int i = 0; i <= SGF_NOTIFY_IOV_MAX; i++) {
		pieces[i] = (char)('A' + i);
		many[i] = (struct iovec){ &pieces[i], 1 };
	}
	memcpy(fresh, pieces, SGF_NOTIFY_IOV_MAX);
	sh_fs_set_data(fs, ino, fresh, sizeof(fresh));
	CHECK_RET(sgf_notify_store(se, ino, 0, many, SGF_NOTIFY_IOV_MAX), 0);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(read_file("store", buf, 209), 209);
	CHECK(memcmp(buf, fresh, 209) == 0);
	CHECK_RET(sgf_notify_store(se, ino, 0, many, SGF_NOTIFY_IOV_MAX + 1), -EINVAL);
	CHECK_EQ(atomic_load(&fs->refused_reads), 0);
}

static void test_unknown(struct sgf_session *se)
{
	struct iovec iov = { "zz", 2 };

	CHECK_RET(sgf_notify_inval_inode(se, 999999, -1, 0), -ENOENT);
	CHECK_RET(sgf_notify_inval_inode(se, 999999, 0, 0), -ENOENT);
	CHECK_RET(sgf_notify_inval_entry(se, 999999, "x"), -ENOENT);
	CHECK_RET(sgf_notify_inval_entry(se, 1, "never-looked-up"), -ENOENT);
	CHECK_RET(sgf_notify_delete(se, 999999, 5, "x"), -ENOENT);
	CHECK_RET(sgf_notify_store(se, 999999, 0, &iov, 1), -ENOENT);
}

static void test_bad_args(struct sgf_session *se)
{
	struct iovec iov = { "zz", 2 };
	char longname[300];

	memset(longname, 'n', 256);
	longname[256] = '\0';
	CHECK_RET(sgf_notify_inval_inode(NULL, 1, -1, 0), -EINVAL);
	CHECK_RET(sgf_notify_inval_inode(se, 0, -1, 0), -EINVAL);
	CHECK_RET(sgf_notify_inval_entry(NULL, 1, "x"), -EINVAL);
	CHECK_RET(sgf_notify_inval_entry(se, 0, "x"), -EINVAL);
	CHECK_RET(sgf_notify_inval_entry(se, 1, NULL), -EINVAL);
	CHECK_RET(sgf_notify_inval_entry(se, 1, ""), -EINVAL);
	CHECK_RET(sgf_notify_inval_entry(se, 1, "a/b"), -EINVAL);
	CHECK_RET(sgf_notify_inval_entry(se, 1, longname), -ENAMETOOLONG);
	CHECK_RET(sgf_notify_delete(NULL, 1, 2, "x"), -EINVAL);
	CHECK_RET(sgf_notify_delete(se, 0, 2, "x"), -EINVAL);
	CHECK_RET(sgf_notify_delete(se, 1, 0, "x"), -EINVAL);
	CHECK_RET(sgf_notify_delete(se, 1, 2, NULL), -EINVAL);
	CHECK_RET(sgf_notify_delete(se, 1, 2, longname), -ENAMETOOLONG);
	CHECK_RET(sgf_notify_store(NULL, 2, 0, &iov, 1), -EINVAL);
	CHECK_RET(sgf_notify_store(se, 0, 0, &iov, 1), -EINVAL);
	CHECK_RET(sgf_notify_store(se, 2, 0, &iov, -1), -EINVAL);
	CHECK_RET(sgf_notify_store(se, 2, 0, NULL, 1), -EINVAL);
	CHECK_RET(sgf_notify_store(se, 2, UINT64_MAX - 1, &iov, 1), -EINVAL);
}

/* A backend notifying while the session ends on its own (the kernel
 * unmounts): every call returns 0 or -ENOENT until the end, then -ENOTCONN;
 * nothing is sent on a channel being freed (ASan watches). */
struct racer {
	struct sh_srv *s;
	uint64_t ino;
	atomic_bool stop;
	long calls, bad, last;
};

static void *notify_racer(void *arg)
{
	struct racer *ra = arg;

	while (!atomic_load(&ra->stop)) {
		struct sgf_session *se = sgf_server_session(ra->s->srv);
		int rc = se ? sgf_notify_inval_inode(se, ra->ino, -1, 0) : -ENOTCONN;
		ra->calls++;
		ra->last = rc;
		if (rc != 0 && rc != -ENOENT && rc != -ENOTCONN) {
			fprintf(stderr, "notify during the end of the session: %d\n", rc);
			ra->bad++;
		}
		if (rc == -ENOTCONN)
			return NULL;
	}
	/* stop comes once run returned: the session has ended now */
	struct sgf_session *se = sgf_server_session(ra->s->srv);
	ra->last = se ? sgf_notify_inval_inode(se, ra->ino, -1, 0) : -ENOTCONN;
	return NULL;
}

static void test_notify_while_ending(void)
{
	struct sgf_ops ops;
	struct sh_srv s;
	struct stat st;
	char path[PATH_MAX + 16];
	pthread_t t;

	fs = sh_fs_new();
	fs->entry_valid = fs->attr_valid = HOUR;
	uint64_t ino = sh_fs_add(fs, 1, "f", S_IFREG | 0644, "f", 1);
	sh_ops_fill(&ops);
	sh_srv_new(&s, &ops, sizeof(ops), fs, NULL);
	sh_srv_mount(&s);
	CHECK_OK(stat(SH_PATH(path, "f"), &st));
	struct racer ra = { .s = &s, .ino = ino };
	REQUIRE(pthread_create(&t, NULL, notify_racer, &ra) == 0);
	sh_msleep(20);
	CHECK_OK(umount2(sh_mnt(), 0));
	CHECK_EQ(sh_srv_join(&s, 10000), 0);
	atomic_store(&ra.stop, true);
	pthread_join(t, NULL);
	CHECK(ra.calls > 0);
	CHECK_EQ(ra.bad, 0);
	CHECK_RET(ra.last, -ENOTCONN);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	sh_srv_destroy(&s);
	sh_umount_all();
	sh_fs_free(fs);
	fs = NULL;
}

int main(void)
{
	struct sgf_ops ops;
	struct sh_srv s;
	char buf[8192];

	sh_init("test_notify", 90, 0);
	fs = sh_fs_new();
	fs->entry_valid = fs->attr_valid = HOUR;
	fs->open_flags = FOPEN_KEEP_CACHE;
	memset(buf, 'a', 1000);
	sh_fs_add(fs, 1, "attr", S_IFREG | 0644, buf, 1000);
	memset(buf, 'A', sizeof(buf));
	sh_fs_add(fs, 1, "data", S_IFREG | 0644, buf, sizeof(buf));
	sh_fs_add(fs, 1, "old", S_IFREG | 0644, "old", 3);
	sh_fs_add(fs, 1, "gone", S_IFREG | 0644, "gone", 4);
	memset(buf, 'S', 100);
	sh_fs_add(fs, 1, "store", S_IFREG | 0644, buf, 100);
	sh_ops_fill(&ops);
	ops.destroy = notify_destroy;
	sh_srv_new(&s, &ops, sizeof(ops), fs, NULL);

	CHECK(sgf_server_session(s.srv) == NULL); /* no endpoint yet */
	REQUIRE(sgf_server_mount(s.srv, sh_mnt()) == 0);
	struct sgf_session *se = sgf_server_session(s.srv);
	REQUIRE(se != NULL);
	saved_se = se;
	/* Before INIT nothing can be sent. */
	CHECK_RET(sgf_notify_inval_inode(se, 1, -1, 0), -ENOTCONN);
	CHECK(sgf_session_conn(se) == NULL);
	sh_srv_start(&s);
	sh_srv_wait_live();
	CHECK(sgf_server_session(s.srv) == se);
	CHECK(sgf_session_conn(se) != NULL);

	test_inval_inode_attr(se);
	test_inval_inode_data(se);
	test_inval_entry(se);
	test_delete(se);
	test_store(se);
	test_unknown(se);
	test_bad_args(se);

	sgf_server_exit(s.srv);
	CHECK_EQ(sh_srv_join(&s, 10000), 0);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	CHECK_RET(atomic_load(&rc_destroy_inode), -ENOTCONN);
	CHECK_RET(atomic_load(&rc_destroy_entry), -ENOTCONN);
	CHECK_RET(atomic_load(&rc_destroy_store), -ENOTCONN);
	/* After run returned (the server not destroyed yet): still refused,
	 * whether through sgf_server_session or the pointer a backend kept. */
	struct sgf_session *now = sgf_server_session(s.srv);
	if (now)
		CHECK_RET(sgf_notify_inval_inode(now, 1, -1, 0), -ENOTCONN);
	CHECK_RET(sgf_notify_inval_inode(saved_se, 1, -1, 0), -ENOTCONN);
	sh_srv_destroy(&s);
	CHECK(!sh_is_mounted(sh_mnt()));
	sh_fs_free(fs);
	for (int i = 0; i < 5; i++)
		test_notify_while_ending();
	return sh_finish();
}
