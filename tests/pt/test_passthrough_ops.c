/* tests/pt/test_passthrough_ops.c - the passthrough filesystem's ops called
 * directly, without a kernel or a session: every op's success and error
 * paths, lookup counting, confinement to the backing directory, O_DIRECT. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/passthrough.h>
#include "../unit/check.h"

#define ROOT FUSE_ROOT_ID
#define BOGUS_NODEID 987654321ull

static char base[64];         /* the temp directory */
static char backing[128];     /* base/backing: the filesystem's source */
static char outside[128];     /* base/outside: must never be reached */

/* ---- setup ---- */

static pid_t parent_pid;
static void cleanup(void);

/* A broken setup ends the test; the parent also removes the temp dir (a
 * child leaves that to the parent). */
static void die(const char *what)
{
	perror(what);
	if (getpid() == parent_pid && base[0])
		cleanup();
	exit(1);
}

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size) {
		errno = ENAMETOOLONG;
		die(name);
	}
}

static void write_file(const char *dir, const char *name, const char *content)
{
	char p[PATH_MAX];
	int fd;

	path_in(p, sizeof(p), dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		die(p);
	close(fd);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(p);
	return 0;
}

static void cleanup(void)
{
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	char p[PATH_MAX];

	/* Modes from the requester are already masked; ours must not mask again. */
	umask(0);
	parent_pid = getpid();
	snprintf(base, sizeof(base), "/tmp/sgf-pt-XXXXXX");
	if (!mkdtemp(base)) {
		base[0] = 0;
		die("mkdtemp");
	}
	path_in(backing, sizeof(backing), base, "backing");
	path_in(outside, sizeof(outside), base, "outside");
	if (mkdir(backing, 0755) < 0 || mkdir(outside, 0755) < 0)
		die("mkdir");
	write_file(outside, "secret", "do not read");
	write_file(backing, "hello", "hello world");
	path_in(p, sizeof(p), backing, "sub");
	if (mkdir(p, 0755) < 0)
		die(p);
	write_file(p, "inner", "inner file");
	/* Symlinks that point out of the backing directory. */
	path_in(p, sizeof(p), backing, "esc_abs");
	if (symlink(outside, p) < 0)
		die(p);
	path_in(p, sizeof(p), backing, "esc_rel");
	if (symlink("../outside/secret", p) < 0)
		die(p);
}

/* ---- calling the ops ---- */

static const struct sgf_ops *ops;

static struct sgf_req rq(struct sgf_passthrough *pt)
{
	return (struct sgf_req){ .unique = 1, .fs = pt, .uid = 0, .gid = 0, .pid = getpid() };
}

static int lookup(struct sgf_passthrough *pt, uint64_t parent, const char *name,
		  struct fuse_entry_out *e)
{
	struct sgf_req r = rq(pt);
	struct fuse_entry_out tmp;

	memset(e ? e : &tmp, 0, sizeof(tmp));
	return ops->lookup(&r, parent, name, e ? e : &tmp);
}

static void forget(struct sgf_passthrough *pt, uint64_t nodeid, uint64_t n)
{
	struct sgf_req r = rq(pt);

	ops->forget(&r, nodeid, n);
}

static int getattr(struct sgf_passthrough *pt, uint64_t nodeid, struct fuse_attr_out *a)
{
	struct sgf_req r = rq(pt);
	struct fuse_getattr_in in = { 0 };
	struct fuse_attr_out tmp;

	memset(a ? a : &tmp, 0, sizeof(tmp));
	return ops->getattr(&r, nodeid, &in, a ? a : &tmp);
}

static bool valid(struct sgf_passthrough *pt, uint64_t nodeid)
{
	return getattr(pt, nodeid, NULL) == 0;
}

static int open_node(struct sgf_passthrough *pt, uint64_t nodeid, uint32_t flags,
		     struct fuse_open_out *o)
{
	struct sgf_req r = rq(pt);
	struct fuse_open_in in = { .flags = flags };

	memset(o, 0, sizeof(*o));
	return ops->open(&r, nodeid, &in, o);
}

static int create(struct sgf_passthrough *pt, uint64_t parent, const char *name,
		  uint32_t flags, uint32_t mode, struct fuse_entry_out *e,
		  struct fuse_open_out *o)
{
	struct sgf_req r = rq(pt);
	struct fuse_create_in in = { .flags = flags, .mode = S_IFREG | mode, .umask = 022 };

	memset(e, 0, sizeof(*e));
	memset(o, 0, sizeof(*o));
	return ops->create(&r, parent, name, &in, e, o);
}

static int release(struct sgf_passthrough *pt, uint64_t nodeid, uint64_t fh)
{
	struct sgf_req r = rq(pt);
	struct fuse_release_in in = { .fh = fh };

	return ops->release(&r, nodeid, &in);
}

static ssize_t pread_op(struct sgf_passthrough *pt, uint64_t nodeid, uint64_t fh,
			uint64_t off, const struct iovec *iov, int cnt)
{
	struct sgf_req r = rq(pt);
	struct fuse_read_in in = { .fh = fh, .offset = off };

	for (int i = 0; i < cnt; i++)
		in.size += (uint32_t)iov[i].iov_len;
	return ops->read(&r, nodeid, &in, iov, cnt);
}

static ssize_t pwrite_op(struct sgf_passthrough *pt, uint64_t nodeid, uint64_t fh,
			 uint64_t off, const struct iovec *iov, int cnt)
{
	struct sgf_req r = rq(pt);
	struct fuse_write_in in = { .fh = fh, .offset = off };

	for (int i = 0; i < cnt; i++)
		in.size += (uint32_t)iov[i].iov_len;
	return ops->write(&r, nodeid, &in, iov, cnt);
}

static struct sgf_passthrough *new_pt(enum sgf_backing_direct bd)
{
	struct sgf_passthrough_opts o = { .backing_direct = bd };
	struct sgf_passthrough *pt;
	int err = sgf_passthrough_new(&pt, backing, &o);

	if (err) {
		errno = -err;
		die("sgf_passthrough_new");
	}
	return pt;
}

/* ---- tests ---- */

/* A directory the daemon may reach but not read: EACCES up front. Run
 * as nobody in a child, since root reads everything. */
static void check_eacces(void)
{
	char p[PATH_MAX];
	pid_t pid;
	int status = 0;

	path_in(p, sizeof(p), base, "noread");
	if (chmod(base, 0711) < 0 || mkdir(p, 0311) < 0)
		die(p);
	pid = fork();
	if (pid == 0) {
		struct sgf_passthrough *pt;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		_exit(sgf_passthrough_new(&pt, p, NULL) == -EACCES && pt == NULL ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rmdir(p);
	chmod(base, 0700);
}

static void test_new(void)
{
	char p[PATH_MAX];
	struct sgf_passthrough_opts bad = { .backing_direct = 42 };
	struct sgf_passthrough_opts neg = { .entry_timeout = -1.0 };
	struct sgf_passthrough *pt;
	struct sgf_conn_info ci = { 0 };

	path_in(p, sizeof(p), base, "missing");
	CHECK_EQ(sgf_passthrough_new(&pt, p, NULL), -ENOENT);
	path_in(p, sizeof(p), backing, "hello");
	CHECK_EQ(sgf_passthrough_new(&pt, p, NULL), -ENOTDIR);
	CHECK_EQ(sgf_passthrough_new(&pt, backing, &bad), -EINVAL);
	CHECK_EQ(sgf_passthrough_new(&pt, backing, &neg), -EINVAL);
	CHECK_EQ(sgf_passthrough_new(&pt, NULL, NULL), -EINVAL);
	CHECK_EQ(sgf_passthrough_new(NULL, backing, NULL), -EINVAL);

	if (geteuid() == 0)
		check_eacces();

	CHECK_EQ(sgf_passthrough_new(&pt, backing, NULL), 0);
	CHECK(pt != NULL);
	if (!pt)
		return;
	CHECK_EQ(ops->init(pt, &ci), 0);
	ops->destroy(pt);
	sgf_passthrough_free(pt);
	sgf_passthrough_free(NULL);
}

static void test_lookup(struct sgf_passthrough *pt)
{
	struct fuse_entry_out e, e2;
	struct fuse_attr_out a;
	struct stat st;
	char p[PATH_MAX];

	CHECK_EQ(getattr(pt, ROOT, &a), 0);
	CHECK(S_ISDIR(a.attr.mode));
	CHECK_EQ(stat(backing, &st), 0);
	CHECK_EQ(a.attr.ino, st.st_ino);
	CHECK_EQ(a.attr_valid, 1);

	CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
	CHECK(e.nodeid > ROOT);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ(e.attr.size, 11);
	CHECK(e.attr.blksize > 0);
	CHECK_EQ(e.entry_valid, 1);
	CHECK_EQ(e.entry_valid_nsec, 0);
	CHECK_EQ(e.attr_valid, 1);
	path_in(p, sizeof(p), backing, "hello");
	CHECK_EQ(stat(p, &st), 0);
	CHECK_EQ(e.attr.ino, st.st_ino);
	CHECK_EQ(e.attr.nlink, 1);
	/* The same object keeps its nodeid. */
	CHECK_EQ(lookup(pt, ROOT, "hello", &e2), 0);
	CHECK_EQ(e2.nodeid, e.nodeid);
	forget(pt, e.nodeid, 2);

	CHECK_EQ(lookup(pt, ROOT, "nope", &e), -ENOENT);
	CHECK_EQ(lookup(pt, ROOT, "sub/inner", &e), -EINVAL);
	CHECK_EQ(lookup(pt, ROOT, "/etc", &e), -EINVAL);
	CHECK_EQ(lookup(pt, BOGUS_NODEID, "hello", &e), -ESTALE);
	CHECK_EQ(lookup(pt, 0, "hello", &e), -ESTALE);
	CHECK_EQ(getattr(pt, BOGUS_NODEID, NULL), -ESTALE);
	CHECK_EQ(getattr(pt, 0, NULL), -ESTALE);

	/* Lookup under a file. */
	CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
	CHECK_EQ(lookup(pt, e.nodeid, "x", &e2), -ENOTDIR);
	forget(pt, e.nodeid, 1);
}

static void test_confinement(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_entry_out e, sub, ee;
	struct fuse_open_out o;
	struct fuse_attr_out a;
	char buf[256];
	char p[PATH_MAX];
	struct stat st_before, st_after;
	ssize_t n;

	/* ".." of the root is the root. */
	CHECK_EQ(lookup(pt, ROOT, "..", &e), 0);
	CHECK_EQ(e.nodeid, ROOT);
	CHECK_EQ(lookup(pt, ROOT, ".", &e), 0);
	CHECK_EQ(e.nodeid, ROOT);
	forget(pt, ROOT, 2);
	CHECK(valid(pt, ROOT));

	/* ".." of a subdirectory is the root, by nodeid too. */
	CHECK_EQ(lookup(pt, ROOT, "sub", &sub), 0);
	CHECK_EQ(lookup(pt, sub.nodeid, "..", &e), 0);
	CHECK_EQ(e.nodeid, ROOT);
	CHECK_EQ(lookup(pt, sub.nodeid, ".", &e), 0);
	CHECK_EQ(e.nodeid, sub.nodeid);
	CHECK_EQ(lookup(pt, sub.nodeid, "../outside", &e), -EINVAL);
	forget(pt, sub.nodeid, 1);

	/* A symlink is served as itself, never followed. */
	CHECK_EQ(lookup(pt, ROOT, "esc_abs", &e), 0);
	CHECK(S_ISLNK(e.attr.mode));
	CHECK_EQ(e.attr.size, strlen(outside));
	CHECK_EQ(lookup(pt, e.nodeid, "secret", &ee), -ENOTDIR);
	n = ops->readlink(&r, e.nodeid, buf, sizeof(buf));
	CHECK_EQ(n, strlen(outside));
	CHECK(n > 0 && memcmp(buf, outside, (size_t)n) == 0);
	CHECK_EQ(open_node(pt, e.nodeid, O_RDONLY, &o), -ELOOP);
	forget(pt, e.nodeid, 1);

	CHECK_EQ(lookup(pt, ROOT, "esc_rel", &e), 0);
	CHECK(S_ISLNK(e.attr.mode));
	CHECK_EQ(open_node(pt, e.nodeid, O_RDWR, &o), -ELOOP);
	path_in(p, sizeof(p), outside, "secret");
	CHECK_EQ(stat(p, &st_before), 0);
	{
		/* Changes through a symlink node touch the link, not its target. */
		struct fuse_setattr_in in = { .valid = FATTR_MODE, .mode = 0777 };
		struct fuse_setattr_in sz = { .valid = FATTR_SIZE, .size = 0 };
		struct fuse_setattr_in tm = { .valid = FATTR_MTIME, .mtime = 1000 };

		memset(&a, 0, sizeof(a));
		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), -EOPNOTSUPP);
		CHECK_EQ(ops->setattr(&r, e.nodeid, &sz, &a), -EINVAL);
		CHECK_EQ(ops->setattr(&r, e.nodeid, &tm, &a), 0);
		CHECK(S_ISLNK(a.attr.mode));
		CHECK_EQ(a.attr.mtime, 1000);
		CHECK_EQ(ops->setxattr(&r, e.nodeid, "user.x", "v", 1, 0), -EOPNOTSUPP);
		CHECK_EQ(ops->getxattr(&r, e.nodeid, "user.x", buf, sizeof(buf)), -ENODATA);
		CHECK_EQ(ops->listxattr(&r, e.nodeid, buf, sizeof(buf)), 0);
	}
	CHECK_EQ(stat(p, &st_after), 0);
	CHECK_EQ(st_after.st_mode, st_before.st_mode);
	CHECK_EQ(st_after.st_size, st_before.st_size);
	CHECK_EQ(st_after.st_mtime, st_before.st_mtime);
	forget(pt, e.nodeid, 1);

	/* Names that would leave the directory or mean nothing. */
	{
		struct fuse_mkdir_in mk = { .mode = 0755 };
		struct fuse_mknod_in mn = { .mode = S_IFREG | 0644 };

		CHECK_EQ(ops->mkdir(&r, ROOT, "..", &mk, &e), -EEXIST);
		CHECK_EQ(ops->mkdir(&r, ROOT, ".", &mk, &e), -EEXIST);
		CHECK_EQ(ops->mkdir(&r, ROOT, "../outside/evil", &mk, &e), -EINVAL);
		CHECK_EQ(ops->mknod(&r, ROOT, "..", &mn, &e), -EEXIST);
		CHECK_EQ(ops->mknod(&r, ROOT, "a/b", &mn, &e), -EINVAL);
		CHECK_EQ(ops->symlink(&r, ROOT, "..", "x", &e), -EEXIST);
		CHECK_EQ(ops->symlink(&r, ROOT, "../evil", "x", &e), -EINVAL);
		CHECK_EQ(create(pt, ROOT, "..", O_RDWR, 0644, &e, &o), -EEXIST);
		CHECK_EQ(create(pt, ROOT, "../outside/evil", O_RDWR, 0644, &e, &o), -EINVAL);
		/* An existing symlink is not followed by CREATE either. */
		CHECK_EQ(create(pt, ROOT, "esc_rel", O_RDWR | O_TRUNC, 0644, &e, &o), -ELOOP);
		CHECK_EQ(ops->unlink(&r, ROOT, ".."), -EISDIR);
		CHECK_EQ(ops->unlink(&r, ROOT, "../outside/secret"), -EINVAL);
		CHECK_EQ(ops->rmdir(&r, ROOT, "."), -EINVAL);
		CHECK_EQ(ops->rmdir(&r, ROOT, ".."), -ENOTEMPTY);
		CHECK_EQ(ops->rmdir(&r, ROOT, "../outside"), -EINVAL);
		CHECK_EQ(ops->rename(&r, ROOT, "hello", ROOT, "../outside/x", 0), -EINVAL);
		CHECK_EQ(ops->rename(&r, ROOT, "hello", ROOT, "..", 0), -EINVAL);
		CHECK_EQ(ops->rename(&r, ROOT, "..", ROOT, "x", 0), -EINVAL);
		CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
		CHECK_EQ(ops->link(&r, e.nodeid, ROOT, "../outside/x", &ee), -EINVAL);
		CHECK_EQ(ops->link(&r, e.nodeid, ROOT, "..", &ee), -EEXIST);
		forget(pt, e.nodeid, 1);
	}
	/* Nothing appeared outside; the secret is intact. */
	path_in(p, sizeof(p), outside, "evil");
	CHECK_EQ(access(p, F_OK), -1);
	path_in(p, sizeof(p), outside, "x");
	CHECK_EQ(access(p, F_OK), -1);
	path_in(p, sizeof(p), outside, "secret");
	CHECK_EQ(access(p, F_OK), 0);
	path_in(p, sizeof(p), base, "evil");
	CHECK_EQ(access(p, F_OK), -1);
}

static void test_forget(struct sgf_passthrough *pt)
{
	struct fuse_entry_out e, e2;
	struct fuse_open_out o;
	char buf[16];
	struct iovec iov = { buf, sizeof(buf) };
	uint64_t first;

	CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
	CHECK_EQ(lookup(pt, ROOT, "hello", &e2), 0);
	CHECK_EQ(lookup(pt, ROOT, "hello", &e2), 0);
	first = e.nodeid;
	forget(pt, first, 2);
	CHECK(valid(pt, first));
	forget(pt, first, 1);
	CHECK(!valid(pt, first));
	CHECK_EQ(getattr(pt, first, NULL), -ESTALE);
	/* Forgetting the unknown or the forgotten is harmless. */
	forget(pt, first, 5);
	forget(pt, BOGUS_NODEID, 1);
	forget(pt, 0, 1);
	/* A new lookup gives a new nodeid: old ones are never reused. */
	CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
	CHECK(e.nodeid != first);
	/* Over-forgetting clamps at zero. */
	forget(pt, e.nodeid, 100);
	CHECK(!valid(pt, e.nodeid));
	/* The root survives any forget. */
	forget(pt, ROOT, 1000);
	CHECK(valid(pt, ROOT));

	/* An open handle keeps its node alive after the last forget. */
	CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
	CHECK_EQ(open_node(pt, e.nodeid, O_RDONLY, &o), 0);
	forget(pt, e.nodeid, 1);
	CHECK(!valid(pt, e.nodeid));
	CHECK_EQ(pread_op(pt, e.nodeid, o.fh, 0, &iov, 1), 11);
	CHECK(memcmp(buf, "hello world", 11) == 0);
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	CHECK_EQ(release(pt, e.nodeid, o.fh), -EBADF);
	CHECK_EQ(pread_op(pt, e.nodeid, o.fh, 0, &iov, 1), -EBADF);
}

static void test_mkobj(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_entry_out e, e2, f;
	struct fuse_mkdir_in mk = { .mode = 0777, .umask = 022 };
	struct fuse_mknod_in fifo = { .mode = S_IFIFO | 0666, .umask = 027 };
	struct fuse_mknod_in reg = { .mode = S_IFREG | 0600 };
	struct fuse_mknod_in dir = { .mode = S_IFDIR | 0755 };
	char buf[64];
	char p[PATH_MAX];
	struct stat st;

	CHECK_EQ(ops->mkdir(&r, ROOT, "d1", &mk, &e), 0);
	CHECK(S_ISDIR(e.attr.mode));
	CHECK_EQ(e.attr.mode & 07777, 0755);
	path_in(p, sizeof(p), backing, "d1");
	CHECK_EQ(stat(p, &st), 0);
	CHECK_EQ(st.st_ino, e.attr.ino);
	CHECK_EQ(ops->mkdir(&r, ROOT, "d1", &mk, &e2), -EEXIST);
	CHECK_EQ(ops->mkdir(&r, BOGUS_NODEID, "d2", &mk, &e2), -ESTALE);
	CHECK_EQ(lookup(pt, ROOT, "hello", &f), 0);
	CHECK_EQ(ops->mkdir(&r, f.nodeid, "d2", &mk, &e2), -ENOTDIR);

	CHECK_EQ(ops->mknod(&r, e.nodeid, "fifo", &fifo, &e2), 0);
	CHECK(S_ISFIFO(e2.attr.mode));
	CHECK_EQ(e2.attr.mode & 07777, 0640);
	forget(pt, e2.nodeid, 1);
	CHECK_EQ(ops->mknod(&r, e.nodeid, "fifo", &fifo, &e2), -EEXIST);
	CHECK_EQ(ops->mknod(&r, e.nodeid, "reg", &reg, &e2), 0);
	CHECK(S_ISREG(e2.attr.mode));
	CHECK_EQ(e2.attr.size, 0);
	forget(pt, e2.nodeid, 1);
	CHECK_EQ(ops->mknod(&r, e.nodeid, "dir", &dir, &e2), -EINVAL);

	CHECK_EQ(ops->symlink(&r, e.nodeid, "sl", "../../outside/secret", &e2), 0);
	CHECK(S_ISLNK(e2.attr.mode));
	CHECK_EQ(ops->readlink(&r, e2.nodeid, buf, sizeof(buf)), 20);
	CHECK(memcmp(buf, "../../outside/secret", 20) == 0);
	forget(pt, e2.nodeid, 1);
	CHECK_EQ(ops->symlink(&r, e.nodeid, "sl", "x", &e2), -EEXIST);
	CHECK_EQ(ops->readlink(&r, f.nodeid, buf, sizeof(buf)), -EINVAL);
	CHECK_EQ(ops->readlink(&r, BOGUS_NODEID, buf, sizeof(buf)), -ESTALE);

	/* A hard link is the same node. */
	CHECK_EQ(ops->link(&r, f.nodeid, e.nodeid, "hello2", &e2), 0);
	CHECK_EQ(e2.nodeid, f.nodeid);
	CHECK_EQ(e2.attr.nlink, 2);
	CHECK_EQ(ops->link(&r, f.nodeid, e.nodeid, "hello2", &e2), -EEXIST);
	CHECK_EQ(ops->link(&r, e.nodeid, ROOT, "dirlink", &e2), -EPERM);
	CHECK_EQ(ops->link(&r, BOGUS_NODEID, ROOT, "x", &e2), -ESTALE);
	CHECK_EQ(ops->link(&r, f.nodeid, f.nodeid, "x", &e2), -ENOTDIR);
	/* Two lookups held now (lookup + link). */
	forget(pt, f.nodeid, 1);
	CHECK(valid(pt, f.nodeid));
	forget(pt, f.nodeid, 1);
	CHECK(!valid(pt, f.nodeid));
	forget(pt, e.nodeid, 1);
}

static void test_remove(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	char p[PATH_MAX];

	/* d1 from test_mkobj holds fifo, reg, sl, hello2. */
	CHECK_EQ(ops->rmdir(&r, ROOT, "d1"), -ENOTEMPTY);
	CHECK_EQ(ops->rmdir(&r, ROOT, "hello"), -ENOTDIR);
	CHECK_EQ(ops->unlink(&r, ROOT, "d1"), -EISDIR);
	CHECK_EQ(ops->unlink(&r, ROOT, "nothing"), -ENOENT);
	CHECK_EQ(ops->rmdir(&r, ROOT, "nothing"), -ENOENT);
	CHECK_EQ(ops->unlink(&r, BOGUS_NODEID, "x"), -ESTALE);
	path_in(p, sizeof(p), backing, "d1/fifo");
	CHECK_EQ(unlink(p), 0);
	path_in(p, sizeof(p), backing, "d1/reg");
	CHECK_EQ(unlink(p), 0);
	path_in(p, sizeof(p), backing, "d1/sl");
	CHECK_EQ(unlink(p), 0);
	{
		struct fuse_entry_out d1;

		CHECK_EQ(lookup(pt, ROOT, "d1", &d1), 0);
		CHECK_EQ(ops->unlink(&r, d1.nodeid, "hello2"), 0);
		CHECK_EQ(ops->unlink(&r, d1.nodeid, "hello2"), -ENOENT);
		/* Removed, yet the node lives until forgotten. */
		CHECK_EQ(ops->rmdir(&r, ROOT, "d1"), 0);
		CHECK(valid(pt, d1.nodeid));
		forget(pt, d1.nodeid, 1);
	}
	path_in(p, sizeof(p), backing, "d1");
	CHECK_EQ(access(p, F_OK), -1);
}

static void read_backing(const char *name, char *buf, size_t size)
{
	char p[PATH_MAX];
	int fd;
	ssize_t n;

	memset(buf, 0, size);
	path_in(p, sizeof(p), backing, name);
	fd = open(p, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, buf, size - 1);
	CHECK(n >= 0);
	if (fd >= 0)
		close(fd);
}

/* TMPFILE: an unnamed file whose node a LINK can name later; with O_EXCL
 * the backing fs refuses that link (the kernel's VFS would not send it, a
 * socket requester might). */
static void test_tmpfile(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_create_in in = { .flags = O_RDWR, .mode = S_IFREG | 0640, .umask = 022 };
	struct fuse_entry_out e, e2;
	struct fuse_open_out o;
	char buf[64];

	memset(&e, 0, sizeof(e));
	memset(&o, 0, sizeof(o));
	CHECK_EQ(ops->tmpfile(&r, ROOT, &in, &e, &o), 0);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ(e.attr.mode & 07777, 0640);
	CHECK_EQ(e.attr.nlink, 0);
	CHECK(o.fh != 0);
	struct iovec iov = { (void *)"unnamed", 7 };
	struct fuse_write_in w = { .fh = o.fh, .size = 7 };
	CHECK_EQ(ops->write(&r, e.nodeid, &w, &iov, 1), 7);
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	/* Closed but still known: the link names it. */
	CHECK_EQ(ops->link(&r, e.nodeid, ROOT, "tmp-named", &e2), 0);
	CHECK_EQ(e2.nodeid, e.nodeid);
	CHECK_EQ(e2.attr.nlink, 1);
	read_backing("tmp-named", buf, sizeof(buf));
	CHECK_STR(buf, "unnamed");
	forget(pt, e.nodeid, 2);

	in.flags = O_RDWR | O_EXCL;
	CHECK_EQ(ops->tmpfile(&r, ROOT, &in, &e, &o), 0);
	CHECK_EQ(ops->link(&r, e.nodeid, ROOT, "tmp-excl", &e2), -ENOENT);
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	forget(pt, e.nodeid, 1);
	char p[PATH_MAX];
	path_in(p, sizeof(p), backing, "tmp-excl");
	CHECK_EQ(access(p, F_OK), -1);

	/* As open(2) would: O_RDONLY cannot make one, a file is no parent. */
	in.flags = O_RDONLY;
	CHECK(ops->tmpfile(&r, ROOT, &in, &e, &o) < 0);
	struct fuse_open_out fo;
	CHECK_EQ(create(pt, ROOT, "tmp-file", O_RDWR, 0644, &e2, &fo), 0);
	in.flags = O_RDWR;
	CHECK_EQ(ops->tmpfile(&r, e2.nodeid, &in, &e, &o), -ENOTDIR);
	CHECK_EQ(release(pt, e2.nodeid, fo.fh), 0);
	forget(pt, e2.nodeid, 1);
	CHECK_EQ(ops->tmpfile(&r, BOGUS_NODEID, &in, &e, &o), -ESTALE);
}

static void test_rename(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_entry_out sub;
	char buf[64];

	write_file(backing, "ra", "AAA");
	write_file(backing, "rb", "BBB");
	CHECK_EQ(ops->rename(&r, ROOT, "ra", ROOT, "rb", RENAME_NOREPLACE), -EEXIST);
	CHECK_EQ(ops->rename(&r, ROOT, "ra", ROOT, "rb", RENAME_EXCHANGE), 0);
	read_backing("ra", buf, sizeof(buf));
	CHECK_STR(buf, "BBB");
	read_backing("rb", buf, sizeof(buf));
	CHECK_STR(buf, "AAA");
	CHECK_EQ(ops->rename(&r, ROOT, "ra", ROOT, "rc", RENAME_EXCHANGE), -ENOENT);
	/* WHITEOUT goes to the backing fs (tests/mounted/test_whiteout); a
	 * flag renameat2 does not know is refused here. */
	CHECK_EQ(ops->rename(&r, ROOT, "no-such", ROOT, "rc", RENAME_WHITEOUT), -ENOENT);
	CHECK_EQ(ops->rename(&r, ROOT, "ra", ROOT, "rc", 1u << 3), -EINVAL);
	CHECK_EQ(ops->rename(&r, ROOT, "ra", ROOT, "rb", 0), 0);
	read_backing("rb", buf, sizeof(buf));
	CHECK_STR(buf, "BBB");
	CHECK_EQ(ops->rename(&r, ROOT, "ra", ROOT, "rc", 0), -ENOENT);
	CHECK_EQ(ops->rename(&r, ROOT, "rb", BOGUS_NODEID, "rc", 0), -ESTALE);
	CHECK_EQ(lookup(pt, ROOT, "sub", &sub), 0);
	CHECK_EQ(ops->rename(&r, ROOT, "rb", sub.nodeid, "moved", RENAME_NOREPLACE), 0);
	read_backing("sub/moved", buf, sizeof(buf));
	CHECK_STR(buf, "BBB");
	CHECK_EQ(ops->rename(&r, ROOT, "sub", sub.nodeid, "loop", 0), -EINVAL);
	CHECK_EQ(ops->unlink(&r, sub.nodeid, "moved"), 0);
	forget(pt, sub.nodeid, 1);
}

static void test_setattr(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_entry_out e, d;
	struct fuse_attr_out a;
	struct fuse_open_out o;
	struct timespec before;

	write_file(backing, "attrs", "0123456789");
	CHECK_EQ(lookup(pt, ROOT, "attrs", &e), 0);
	{
		struct fuse_setattr_in in = { .valid = FATTR_MODE, .mode = S_IFREG | 0604 };

		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), 0);
		CHECK_EQ(a.attr.mode, S_IFREG | 0604);
		CHECK_EQ(a.attr_valid, 1);
	}
	if (geteuid() == 0) {
		struct fuse_setattr_in in = { .valid = FATTR_UID | FATTR_GID, .uid = 1234,
					      .gid = 4321 };
		struct fuse_setattr_in gid_only = { .valid = FATTR_GID, .gid = 77 };

		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), 0);
		CHECK_EQ(a.attr.uid, 1234);
		CHECK_EQ(a.attr.gid, 4321);
		CHECK_EQ(ops->setattr(&r, e.nodeid, &gid_only, &a), 0);
		CHECK_EQ(a.attr.uid, 1234);
		CHECK_EQ(a.attr.gid, 77);
	}
	{
		struct fuse_setattr_in in = { .valid = FATTR_SIZE, .size = 4 };

		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), 0);
		CHECK_EQ(a.attr.size, 4);
		in.size = UINT64_MAX;
		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), -EINVAL);
	}
	{
		struct fuse_setattr_in in = { .valid = FATTR_ATIME | FATTR_MTIME, .atime = 100,
					      .atimensec = 5, .mtime = 200, .mtimensec = 7 };

		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), 0);
		CHECK_EQ(a.attr.atime, 100);
		CHECK_EQ(a.attr.atimensec, 5);
		CHECK_EQ(a.attr.mtime, 200);
		CHECK_EQ(a.attr.mtimensec, 7);
		/* Only mtime: atime stays. */
		in.valid = FATTR_MTIME;
		in.mtime = 300;
		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), 0);
		CHECK_EQ(a.attr.atime, 100);
		CHECK_EQ(a.attr.mtime, 300);
		in.mtimensec = 1000000000u;
		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), -EINVAL);
	}
	{
		struct fuse_setattr_in in = { .valid = FATTR_ATIME | FATTR_MTIME |
					      FATTR_ATIME_NOW | FATTR_MTIME_NOW };

		clock_gettime(CLOCK_REALTIME, &before);
		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), 0);
		CHECK(a.attr.atime >= (uint64_t)before.tv_sec - 1);
		CHECK(a.attr.mtime >= (uint64_t)before.tv_sec - 1);
	}
	/* Through an open handle. */
	CHECK_EQ(open_node(pt, e.nodeid, O_RDWR, &o), 0);
	{
		struct fuse_setattr_in in = { .valid = FATTR_SIZE | FATTR_FH | FATTR_MODE,
					      .fh = o.fh, .size = 2, .mode = 0600 };
		struct fuse_getattr_in gi = { .getattr_flags = FUSE_GETATTR_FH, .fh = o.fh };

		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), 0);
		CHECK_EQ(a.attr.size, 2);
		CHECK_EQ(a.attr.mode & 07777, 0600);
		memset(&a, 0, sizeof(a));
		CHECK_EQ(ops->getattr(&r, e.nodeid, &gi, &a), 0);
		CHECK_EQ(a.attr.size, 2);
		gi.fh = o.fh + 1000;
		CHECK_EQ(ops->getattr(&r, e.nodeid, &gi, &a), -EBADF);
		in.fh = o.fh + 1000;
		CHECK_EQ(ops->setattr(&r, e.nodeid, &in, &a), -EBADF);
		/* A handle only serves its own node. */
		in.fh = o.fh;
		CHECK_EQ(ops->setattr(&r, ROOT, &in, &a), -EBADF);
	}
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	{
		struct fuse_setattr_in in = { .valid = FATTR_SIZE, .size = 0 };

		CHECK_EQ(lookup(pt, ROOT, "sub", &d), 0);
		CHECK_EQ(ops->setattr(&r, d.nodeid, &in, &a), -EISDIR);
		CHECK_EQ(ops->setattr(&r, BOGUS_NODEID, &in, &a), -ESTALE);
		forget(pt, d.nodeid, 1);
	}
	forget(pt, e.nodeid, 1);
}

static void test_file_io(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_entry_out e, d;
	struct fuse_open_out o, o2, od;
	char a[5] = "abcde", b[3] = "XYZ", c[7] = "1234567";
	struct iovec wv[3] = { { a, 5 }, { b, 3 }, { c, 7 } };
	char ra[4], rb[6], rc[10];
	struct iovec rv[3] = { { ra, 4 }, { rb, 6 }, { rc, 10 } };
	char expect[32], got[32];
	struct fuse_attr_out at;

	CHECK_EQ(create(pt, ROOT, "data", O_RDWR | O_EXCL, 0666, &e, &o), 0);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ(e.attr.mode & 07777, 0644);
	CHECK(e.nodeid > ROOT);
	CHECK_EQ(o.open_flags & FOPEN_DIRECT_IO, 0);
	CHECK_EQ(create(pt, ROOT, "data", O_RDWR | O_EXCL, 0644, &d, &o2), -EEXIST);
	CHECK_EQ(create(pt, BOGUS_NODEID, "data", O_RDWR, 0644, &d, &o2), -ESTALE);
	CHECK_EQ(create(pt, ROOT, "sub", O_RDWR, 0644, &d, &o2), -EISDIR);
	CHECK_EQ(create(pt, ROOT, "bad", O_ACCMODE, 0644, &d, &o2), -EINVAL);

	/* 15 bytes gathered from three segments at offset 10. */
	CHECK_EQ(pwrite_op(pt, e.nodeid, o.fh, 10, wv, 3), 15);
	memset(expect, 0, sizeof(expect));
	memcpy(expect + 10, "abcdeXYZ1234567", 15);
	read_backing("data", got, sizeof(got));
	CHECK(memcmp(got + 10, expect + 10, 15) == 0);
	/* Scattered back over 4 + 6 + 10 bytes: 20 asked, 15 left in the file. */
	memset(ra, '.', 4);
	memset(rb, '.', 6);
	memset(rc, '.', 10);
	CHECK_EQ(pread_op(pt, e.nodeid, o.fh, 10, rv, 3), 15);
	CHECK(memcmp(ra, "abcd", 4) == 0);
	CHECK(memcmp(rb, "eXYZ12", 6) == 0);
	CHECK(memcmp(rc, "34567", 5) == 0);
	CHECK_EQ(pread_op(pt, e.nodeid, o.fh, 25, rv, 3), 0);
	CHECK_EQ(pread_op(pt, e.nodeid, o.fh, 1000, rv, 3), 0);
	CHECK_EQ(pread_op(pt, e.nodeid, o.fh, 0, rv, 0), 0);
	CHECK_EQ(pread_op(pt, e.nodeid, o.fh, (uint64_t)INT64_MAX + 1, rv, 3), -EINVAL);
	CHECK_EQ(pwrite_op(pt, e.nodeid, o.fh, UINT64_MAX, wv, 3), -EINVAL);
	CHECK_EQ(pread_op(pt, e.nodeid, o.fh + 1000, 0, rv, 3), -EBADF);
	CHECK_EQ(pread_op(pt, e.nodeid, 0, 0, rv, 3), -EBADF);
	CHECK_EQ(pread_op(pt, ROOT, o.fh, 0, rv, 3), -EBADF);
	CHECK_EQ(pwrite_op(pt, e.nodeid, o.fh + 1000, 0, wv, 3), -EBADF);

	{
		struct fuse_flush_in fl = { .fh = o.fh };
		struct fuse_fsync_in fs = { .fh = o.fh };
		struct fuse_fallocate_in fa = { .fh = o.fh, .offset = 0, .length = 100 };
		struct fuse_fallocate_in fk = { .fh = o.fh, .offset = 0, .length = 1 << 20,
						.mode = FALLOC_FL_KEEP_SIZE };

		CHECK_EQ(ops->flush(&r, e.nodeid, &fl), 0);
		CHECK_EQ(ops->fsync(&r, e.nodeid, &fs), 0);
		fs.fsync_flags = FUSE_FSYNC_FDATASYNC;
		CHECK_EQ(ops->fsync(&r, e.nodeid, &fs), 0);
		CHECK_EQ(ops->fallocate(&r, e.nodeid, &fa), 0);
		CHECK_EQ(getattr(pt, e.nodeid, &at), 0);
		CHECK_EQ(at.attr.size, 100);
		CHECK_EQ(ops->fallocate(&r, e.nodeid, &fk), 0);
		CHECK_EQ(getattr(pt, e.nodeid, &at), 0);
		CHECK_EQ(at.attr.size, 100);
		fa.length = UINT64_MAX;
		CHECK_EQ(ops->fallocate(&r, e.nodeid, &fa), -EINVAL);
		fl.fh = fs.fh = fk.fh = o.fh + 1000;
		CHECK_EQ(ops->flush(&r, e.nodeid, &fl), -EBADF);
		CHECK_EQ(ops->fsync(&r, e.nodeid, &fs), -EBADF);
		CHECK_EQ(ops->fallocate(&r, e.nodeid, &fk), -EBADF);
	}
	{
		/* A hole then data at 1 MiB. */
		struct fuse_lseek_in ls = { .fh = o.fh, .offset = 0, .whence = SEEK_HOLE };
		struct fuse_lseek_out lo = { 0 };
		struct iovec one = { a, 5 };
		struct fuse_setattr_in tr = { .valid = FATTR_SIZE, .size = 0 };

		CHECK_EQ(ops->setattr(&r, e.nodeid, &tr, &at), 0);
		CHECK_EQ(pwrite_op(pt, e.nodeid, o.fh, 1 << 20, &one, 1), 5);
		CHECK_EQ(ops->lseek(&r, e.nodeid, &ls, &lo), 0);
		CHECK(lo.offset < (1u << 20)); /* a hole starts before the data */
		ls.whence = SEEK_DATA;
		CHECK_EQ(ops->lseek(&r, e.nodeid, &ls, &lo), 0);
		CHECK(lo.offset > 0 && lo.offset <= (1u << 20));
		ls.offset = (1 << 20) + 10;
		CHECK_EQ(ops->lseek(&r, e.nodeid, &ls, &lo), -ENXIO);
		ls.whence = SEEK_SET;
		CHECK_EQ(ops->lseek(&r, e.nodeid, &ls, &lo), -EINVAL);
		ls.whence = SEEK_DATA;
		ls.fh = o.fh + 1000;
		CHECK_EQ(ops->lseek(&r, e.nodeid, &ls, &lo), -EBADF);
	}
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);

	/* O_APPEND is not the backing file's business: offsets rule. */
	CHECK_EQ(open_node(pt, e.nodeid, O_WRONLY | O_APPEND | O_TRUNC, &o), 0);
	{
		struct iovec one = { b, 3 };

		CHECK_EQ(pwrite_op(pt, e.nodeid, o.fh, 0, &one, 1), 3);
		CHECK_EQ(pwrite_op(pt, e.nodeid, o.fh, 0, &one, 1), 3);
		CHECK_EQ(getattr(pt, e.nodeid, &at), 0);
		CHECK_EQ(at.attr.size, 3);
		/* Reading a write-only handle fails like read(2). */
		CHECK_EQ(pread_op(pt, e.nodeid, o.fh, 0, rv, 1), -EBADF);
	}
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);

	/* Opening what is not a regular file. */
	CHECK_EQ(lookup(pt, ROOT, "sub", &d), 0);
	CHECK_EQ(open_node(pt, d.nodeid, O_RDONLY, &o), -EISDIR);
	CHECK_EQ(open_node(pt, e.nodeid, O_ACCMODE, &o), -EINVAL);
	CHECK_EQ(open_node(pt, BOGUS_NODEID, O_RDONLY, &o), -ESTALE);
	{
		struct fuse_open_in oi = { 0 };

		/* A directory handle is no file handle, and the reverse. */
		memset(&od, 0, sizeof(od));
		CHECK_EQ(ops->opendir(&r, d.nodeid, &oi, &od), 0);
		CHECK_EQ(pread_op(pt, d.nodeid, od.fh, 0, rv, 1), -EBADF);
		CHECK_EQ(release(pt, d.nodeid, od.fh), -EBADF);
		CHECK_EQ(open_node(pt, e.nodeid, O_RDONLY, &o), 0);
		{
			struct fuse_release_in ri = { .fh = o.fh };

			CHECK_EQ(ops->releasedir(&r, e.nodeid, &ri), -EBADF);
			ri.fh = od.fh;
			CHECK_EQ(ops->releasedir(&r, d.nodeid, &ri), 0);
		}
		CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	}
	forget(pt, d.nodeid, 1);
	CHECK_EQ(ops->unlink(&r, ROOT, "data"), 0);
	forget(pt, e.nodeid, 1);
}

/* How many of this process's I/O fds (not O_PATH) name path, and how many
 * of those have O_DIRECT set (from /proc/self/fdinfo). */
static void count_fds(const char *path, int *total, int *direct)
{
	DIR *dp = opendir("/proc/self/fd");
	struct dirent *de;

	*total = *direct = 0;
	if (!dp)
		return;
	while ((de = readdir(dp))) {
		char link[300], target[PATH_MAX], info[300], line[128];
		ssize_t n;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		if (strcmp(target, path) != 0)
			continue;
		snprintf(info, sizeof(info), "/proc/self/fdinfo/%s", de->d_name);
		f = fopen(info, "r");
		while (f && fgets(line, sizeof(line), f)) {
			unsigned long flags;

			/* The node's own O_PATH fd does not count: it does no I/O. */
			if (sscanf(line, "flags: %lo", &flags) != 1 || (flags & O_PATH))
				continue;
			(*total)++;
			if (flags & O_DIRECT)
				(*direct)++;
		}
		if (f)
			fclose(f);
	}
	closedir(dp);
}

/* Does the backing fs take O_DIRECT, and does it then refuse misaligned I/O? */
static void probe_direct(bool *takes, bool *strict)
{
	char p[PATH_MAX], c;
	int fd;

	path_in(p, sizeof(p), backing, "probe");
	write_file(backing, "probe", "0123456789");
	fd = open(p, O_RDONLY | O_DIRECT);
	*takes = fd >= 0;
	*strict = fd >= 0 && pread(fd, &c, 1, 1) < 0 && errno == EINVAL;
	if (fd >= 0)
		close(fd);
	unlink(p);
}

static void test_direct_mode(enum sgf_backing_direct bd, bool takes, bool strict)
{
	struct sgf_passthrough *pt = new_pt(bd);
	struct fuse_entry_out e;
	struct fuse_open_out o, oc;
	char p[PATH_MAX], small[3];
	struct iovec mis = { small, 3 };
	void *al1 = NULL, *al2 = NULL;
	struct iovec aligned[2];
	int total, direct, ret;
	const char *mode = bd == SGF_BACKING_DIRECT_AUTO ? "auto" :
			   bd == SGF_BACKING_DIRECT_ON ? "on" : "off";
	bool expect_direct = takes && bd != SGF_BACKING_DIRECT_OFF;

	if (posix_memalign(&al1, 4096, 4096) || posix_memalign(&al2, 4096, 4096))
		die("posix_memalign");
	memset(al1, 'a', 4096);
	memset(al2, 'b', 4096);
	memset(small, 0, sizeof(small));
	aligned[0] = (struct iovec){ al1, 4096 };
	aligned[1] = (struct iovec){ al2, 4096 };
	path_in(p, sizeof(p), backing, "direct");
	write_file(backing, "direct", "0123456789");

	CHECK_EQ(lookup(pt, ROOT, "direct", &e), 0);
	ret = open_node(pt, e.nodeid, O_RDWR | O_DIRECT, &o);
	if (!takes && bd == SGF_BACKING_DIRECT_ON) {
		CHECK_EQ_CTX(ret, -EINVAL, mode);
		goto out;
	}
	CHECK_EQ_CTX(ret, 0, mode);
	/* The requester is told to go direct whatever the backing fd does. */
	CHECK_EQ_CTX(o.open_flags & (FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES),
		     FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES, mode);
	count_fds(p, &total, &direct);
	CHECK_EQ_CTX(total, 1, mode);
	CHECK_EQ_CTX(direct, expect_direct ? 1 : 0, mode);

	/* Aligned I/O goes direct, two segments in one call. */
	CHECK_EQ_CTX(pwrite_op(pt, e.nodeid, o.fh, 0, aligned, 2), 8192, mode);
	memset(al1, 0, 4096);
	memset(al2, 0, 4096);
	CHECK_EQ_CTX(pread_op(pt, e.nodeid, o.fh, 0, aligned, 2), 8192, mode);
	CHECK(((char *)al1)[4095] == 'a' && ((char *)al2)[0] == 'b');

	/* Misaligned: AUTO falls back to a buffered twin, ON reports it. */
	ret = (int)pread_op(pt, e.nodeid, o.fh, 1, &mis, 1);
	if (strict && bd == SGF_BACKING_DIRECT_ON) {
		CHECK_EQ_CTX(ret, -EINVAL, mode);
		CHECK_EQ_CTX(pwrite_op(pt, e.nodeid, o.fh, 1, &mis, 1), -EINVAL, mode);
	} else {
		CHECK_EQ_CTX(ret, 3, mode);
		CHECK(memcmp(small, "aaa", 3) == 0);
		memcpy(small, "xyz", 3);
		CHECK_EQ_CTX(pwrite_op(pt, e.nodeid, o.fh, 4095, &mis, 1), 3, mode);
		CHECK_EQ_CTX(pread_op(pt, e.nodeid, o.fh, 0, aligned, 2), 8192, mode);
		CHECK(memcmp((char *)al1 + 4095, "x", 1) == 0 && memcmp(al2, "yz", 2) == 0);
	}
	count_fds(p, &total, &direct);
	CHECK_EQ_CTX(total, strict && bd == SGF_BACKING_DIRECT_AUTO ? 2 : 1, mode);
	CHECK_EQ_CTX(release(pt, e.nodeid, o.fh), 0, mode);
	count_fds(p, &total, &direct);
	CHECK_EQ_CTX(total, 0, mode);

	/* Without O_DIRECT nothing is direct on either side. */
	CHECK_EQ_CTX(open_node(pt, e.nodeid, O_RDONLY, &o), 0, mode);
	CHECK_EQ_CTX(o.open_flags & FOPEN_DIRECT_IO, 0, mode);
	count_fds(p, &total, &direct);
	CHECK_EQ_CTX(direct, 0, mode);
	CHECK_EQ_CTX(release(pt, e.nodeid, o.fh), 0, mode);

	/* CREATE with O_DIRECT. */
	{
		struct fuse_entry_out ce;
		char cp[PATH_MAX];

		path_in(cp, sizeof(cp), backing, "direct_new");
		ret = create(pt, ROOT, "direct_new", O_RDWR | O_DIRECT | O_EXCL, 0644, &ce, &oc);
		CHECK_EQ_CTX(ret, 0, mode);
		CHECK_EQ_CTX(oc.open_flags & FOPEN_DIRECT_IO, FOPEN_DIRECT_IO, mode);
		count_fds(cp, &total, &direct);
		CHECK_EQ_CTX(direct, expect_direct ? 1 : 0, mode);
		ret = (int)pwrite_op(pt, ce.nodeid, oc.fh, 1, &mis, 1);
		CHECK_EQ_CTX(ret, strict && bd == SGF_BACKING_DIRECT_ON ? -EINVAL : 3, mode);
		CHECK_EQ_CTX(release(pt, ce.nodeid, oc.fh), 0, mode);
		count_fds(cp, &total, &direct);
		CHECK_EQ_CTX(total, 0, mode);
		forget(pt, ce.nodeid, 1);
		unlink(cp);
	}
out:
	forget(pt, e.nodeid, 1);
	sgf_passthrough_free(pt);
	unlink(p);
	free(al1);
	free(al2);
}

static void test_direct(void)
{
	bool takes, strict;

	probe_direct(&takes, &strict);
	printf("backing fs: O_DIRECT %s, misaligned direct I/O %s\n",
	       takes ? "taken" : "refused", strict ? "refused" : "accepted");
	test_direct_mode(SGF_BACKING_DIRECT_AUTO, takes, strict);
	test_direct_mode(SGF_BACKING_DIRECT_ON, takes, strict);
	test_direct_mode(SGF_BACKING_DIRECT_OFF, takes, strict);
}

/* ---- directories ---- */

#define MAX_LISTED 64

struct listing {
	int n;
	char names[MAX_LISTED][32];
	uint64_t nodeids[MAX_LISTED];
	uint32_t types[MAX_LISTED];
	uint64_t inos[MAX_LISTED];
	int calls;
};

/* Parse one reply buffer; returns the cookie of the last entry. */
static uint64_t parse(const char *buf, size_t used, bool plus, struct listing *l)
{
	size_t pos = 0;
	uint64_t last = 0;

	while (pos < used) {
		const struct fuse_entry_out *e = NULL;
		const struct fuse_dirent *d;

		if (plus) {
			const struct fuse_direntplus *dp = (const void *)(buf + pos);

			e = &dp->entry_out;
			d = &dp->dirent;
			pos += FUSE_DIRENTPLUS_SIZE(dp);
		} else {
			d = (const void *)(buf + pos);
			pos += FUSE_DIRENT_SIZE(d);
		}
		CHECK(pos <= used);
		if (l->n < MAX_LISTED && d->namelen < 32) {
			memcpy(l->names[l->n], d->name, d->namelen);
			l->names[l->n][d->namelen] = 0;
			l->nodeids[l->n] = e ? e->nodeid : 0;
			l->types[l->n] = d->type;
			l->inos[l->n] = d->ino;
			l->n++;
		}
		last = d->off;
	}
	return last;
}

/* List a whole directory through one handle in replies of bufsize bytes. */
static int list_all(struct sgf_passthrough *pt, uint64_t dir, uint64_t fh, bool plus,
		    size_t bufsize, struct listing *l)
{
	struct sgf_req r = rq(pt);
	uint64_t off = 0;
	char buf[4096];

	memset(l, 0, sizeof(*l));
	for (;;) {
		struct fuse_read_in in = { .fh = fh, .offset = off, .size = (uint32_t)bufsize };
		struct sgf_dirbuf db = { .buf = buf, .size = bufsize };
		int ret = ops->readdir(&r, dir, &in, plus, &db);

		if (ret)
			return ret;
		l->calls++;
		if (db.used == 0)
			return 0;
		off = parse(buf, db.used, plus, l);
		if (l->calls > 200)
			return -ELOOP;
	}
}

static int find(const struct listing *l, const char *name)
{
	int hits = -1;

	for (int i = 0; i < l->n; i++) {
		if (strcmp(l->names[i], name) == 0) {
			if (hits >= 0)
				return -2; /* listed twice */
			hits = i;
		}
	}
	return hits;
}

static void test_readdir(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_entry_out dir, pre, e;
	struct fuse_open_in oi = { 0 };
	struct fuse_open_out od;
	struct fuse_mkdir_in mk = { .mode = 0755 };
	struct listing l;
	char p[PATH_MAX], name[32];
	const int nfiles = 20;

	CHECK_EQ(ops->mkdir(&r, ROOT, "list", &mk, &dir), 0);
	path_in(p, sizeof(p), backing, "list");
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "file%02d", i);
		write_file(p, name, "x");
	}
	memset(&od, 0, sizeof(od));
	CHECK_EQ(ops->opendir(&r, dir.nodeid, &oi, &od), 0);

	/* Plain listing in small replies: every name once, ".", ".." too. */
	CHECK_EQ(list_all(pt, dir.nodeid, od.fh, false, 100, &l), 0);
	CHECK_EQ(l.n, nfiles + 2);
	CHECK(l.calls > 3);
	CHECK(find(&l, ".") >= 0 && find(&l, "..") >= 0);
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "file%02d", i);
		CHECK(find(&l, name) >= 0);
		if (find(&l, name) >= 0)
			CHECK_EQ(l.types[find(&l, name)], DT_REG);
	}
	/* Listing again from cookie 0 starts over. */
	CHECK_EQ(list_all(pt, dir.nodeid, od.fh, false, 4096, &l), 0);
	CHECK_EQ(l.n, nfiles + 2);

	/* READDIRPLUS: one lookup per real entry, none for the dots. One
	 * file is looked up beforehand and must keep its nodeid. */
	CHECK_EQ(lookup(pt, dir.nodeid, "file03", &pre), 0);
	CHECK_EQ(list_all(pt, dir.nodeid, od.fh, true, 500, &l), 0);
	CHECK_EQ(l.n, nfiles + 2);
	CHECK(l.calls > 6);
	CHECK_EQ(l.nodeids[find(&l, ".")], 0);
	CHECK_EQ(l.nodeids[find(&l, "..")], 0);
	CHECK_EQ(l.nodeids[find(&l, "file03")], pre.nodeid);
	for (int i = 0; i < nfiles; i++) {
		int at;

		snprintf(name, sizeof(name), "file%02d", i);
		at = find(&l, name);
		CHECK(at >= 0);
		if (at < 0)
			continue;
		CHECK(l.nodeids[at] > ROOT);
		/* Exactly one lookup was taken: one forget ends it. */
		forget(pt, l.nodeids[at], 1);
		if (i == 3)
			CHECK(valid(pt, l.nodeids[at]));
		else
			CHECK(!valid(pt, l.nodeids[at]));
	}
	forget(pt, pre.nodeid, 1);
	CHECK(!valid(pt, pre.nodeid));

	/* A reply with room for two entries takes lookups only for what it
	 * carries: the entries left out are not held afterwards. */
	{
		char buf[400];
		struct fuse_read_in in = { .fh = od.fh, .offset = 0, .size = 400 };
		struct sgf_dirbuf db = { .buf = buf, .size = 2 * 160 + 70 };
		struct listing part = { 0 };

		CHECK_EQ(ops->readdir(&r, dir.nodeid, &in, true, &db), 0);
		parse(buf, db.used, true, &part);
		CHECK_EQ(part.n, 2);
		for (int i = 0; i < nfiles; i++) {
			int at;

			snprintf(name, sizeof(name), "file%02d", i);
			at = find(&part, name);
			if (at >= 0) {
				forget(pt, part.nodeids[at], 1);
				CHECK(!valid(pt, part.nodeids[at]));
				continue;
			}
			CHECK_EQ(lookup(pt, dir.nodeid, name, &e), 0);
			forget(pt, e.nodeid, 1);
			CHECK(!valid(pt, e.nodeid));
		}
		/* Not even one entry fits. */
		db = (struct sgf_dirbuf){ .buf = buf, .size = 40 };
		CHECK_EQ(ops->readdir(&r, dir.nodeid, &in, true, &db), -EINVAL);
		CHECK_EQ(db.used, 0);
	}
	{
		struct fuse_fsync_in fs = { .fh = od.fh };
		struct fuse_read_in in = { .fh = od.fh + 1000, .size = 4096 };
		char buf[64];
		struct sgf_dirbuf db = { .buf = buf, .size = sizeof(buf) };
		struct fuse_release_in ri = { .fh = od.fh };

		CHECK_EQ(ops->fsyncdir(&r, dir.nodeid, &fs), 0);
		fs.fsync_flags = FUSE_FSYNC_FDATASYNC;
		CHECK_EQ(ops->fsyncdir(&r, dir.nodeid, &fs), 0);
		CHECK_EQ(ops->readdir(&r, dir.nodeid, &in, false, &db), -EBADF);
		in.fh = od.fh;
		CHECK_EQ(ops->readdir(&r, ROOT, &in, false, &db), -EBADF);
		fs.fh = od.fh + 1000;
		CHECK_EQ(ops->fsyncdir(&r, dir.nodeid, &fs), -EBADF);
		CHECK_EQ(ops->releasedir(&r, dir.nodeid, &ri), 0);
		CHECK_EQ(ops->releasedir(&r, dir.nodeid, &ri), -EBADF);
		CHECK_EQ(ops->readdir(&r, dir.nodeid, &in, false, &db), -EBADF);
	}
	/* In the root, ".." is the root itself, as its lookup says. */
	{
		struct fuse_open_out ro;
		struct fuse_attr_out ra;

		memset(&ro, 0, sizeof(ro));
		CHECK_EQ(ops->opendir(&r, ROOT, &oi, &ro), 0);
		CHECK_EQ(list_all(pt, ROOT, ro.fh, false, 4096, &l), 0);
		CHECK_EQ(getattr(pt, ROOT, &ra), 0);
		CHECK(find(&l, "..") >= 0 && l.inos[find(&l, "..")] == ra.attr.ino);
		CHECK(find(&l, "list") >= 0);
		{
			struct fuse_release_in ri = { .fh = ro.fh };

			CHECK_EQ(ops->releasedir(&r, ROOT, &ri), 0);
		}
	}
	/* opendir of a file, of nothing. */
	CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
	CHECK_EQ(ops->opendir(&r, e.nodeid, &oi, &od), -ENOTDIR);
	CHECK_EQ(ops->opendir(&r, BOGUS_NODEID, &oi, &od), -ESTALE);
	forget(pt, e.nodeid, 1);
	forget(pt, dir.nodeid, 1);
}

static void test_misc(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_statfs_out sf;
	struct fuse_entry_out e;

	memset(&sf, 0, sizeof(sf));
	CHECK_EQ(ops->statfs(&r, ROOT, &sf), 0);
	CHECK(sf.st.blocks > 0);
	CHECK(sf.st.bsize > 0);
	CHECK_EQ(sf.st.namelen, 255);
	CHECK_EQ(ops->statfs(&r, BOGUS_NODEID, &sf), -ESTALE);

	CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
	CHECK_EQ(ops->access(&r, e.nodeid, F_OK), 0);
	CHECK_EQ(ops->access(&r, e.nodeid, R_OK | W_OK), 0);
	CHECK_EQ(ops->access(&r, e.nodeid, 0x100), -EINVAL);
	CHECK_EQ(ops->access(&r, BOGUS_NODEID, F_OK), -ESTALE);
	if (geteuid() == 0)
		CHECK_EQ(ops->access(&r, e.nodeid, X_OK), -EACCES); /* mode 0644 */
	forget(pt, e.nodeid, 1);
}

static void test_xattr(struct sgf_passthrough *pt)
{
	struct sgf_req r = rq(pt);
	struct fuse_entry_out e, d;
	char buf[64];
	ssize_t n;
	int ret;

	CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
	ret = ops->setxattr(&r, e.nodeid, "user.test", "value1", 6, 0);
	if (ret == -EOPNOTSUPP || ret == -ENOTSUP) {
		printf("backing fs has no user xattrs: xattr checks skipped\n");
		forget(pt, e.nodeid, 1);
		return;
	}
	CHECK_EQ(ret, 0);
	CHECK_EQ(ops->getxattr(&r, e.nodeid, "user.test", NULL, 0), 6);
	CHECK_EQ(ops->getxattr(&r, e.nodeid, "user.test", buf, 3), -ERANGE);
	n = ops->getxattr(&r, e.nodeid, "user.test", buf, sizeof(buf));
	CHECK_EQ(n, 6);
	CHECK(n == 6 && memcmp(buf, "value1", 6) == 0);
	CHECK_EQ(ops->getxattr(&r, e.nodeid, "user.none", buf, sizeof(buf)), -ENODATA);
	CHECK_EQ(ops->setxattr(&r, e.nodeid, "user.test", "v", 1, XATTR_CREATE), -EEXIST);
	CHECK_EQ(ops->setxattr(&r, e.nodeid, "user.new", "v", 1, XATTR_REPLACE), -ENODATA);
	CHECK_EQ(ops->setxattr(&r, e.nodeid, "user.test", "v", 1, 0x80), -EINVAL);
	n = ops->listxattr(&r, e.nodeid, NULL, 0);
	CHECK(n >= 10);
	CHECK_EQ(ops->listxattr(&r, e.nodeid, buf, 1), -ERANGE);
	n = ops->listxattr(&r, e.nodeid, buf, sizeof(buf));
	CHECK(n >= 10);
	{
		bool seen = false;

		for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
			seen = seen || strcmp(buf + i, "user.test") == 0;
		CHECK(seen);
	}
	CHECK_EQ(ops->removexattr(&r, e.nodeid, "user.test"), 0);
	CHECK_EQ(ops->removexattr(&r, e.nodeid, "user.test"), -ENODATA);
	CHECK_EQ(ops->getxattr(&r, e.nodeid, "user.test", NULL, 0), -ENODATA);
	CHECK_EQ(ops->setxattr(&r, BOGUS_NODEID, "user.test", "v", 1, 0), -ESTALE);
	CHECK_EQ(ops->getxattr(&r, BOGUS_NODEID, "user.test", NULL, 0), -ESTALE);
	CHECK_EQ(ops->listxattr(&r, BOGUS_NODEID, NULL, 0), -ESTALE);
	CHECK_EQ(ops->removexattr(&r, BOGUS_NODEID, "user.test"), -ESTALE);
	/* On a directory too. */
	CHECK_EQ(lookup(pt, ROOT, "sub", &d), 0);
	CHECK_EQ(ops->setxattr(&r, d.nodeid, "user.d", "dd", 2, 0), 0);
	CHECK_EQ(ops->getxattr(&r, d.nodeid, "user.d", buf, sizeof(buf)), 2);
	CHECK_EQ(ops->removexattr(&r, d.nodeid, "user.d"), 0);
	forget(pt, d.nodeid, 1);
	forget(pt, e.nodeid, 1);
}

/* A root daemon acts as the requester: modes hold and new objects belong
 * to their creator; afterwards the thread is root again. */
static void test_requester_ids(struct sgf_passthrough *pt)
{
	struct sgf_req user = rq(pt), root = rq(pt);
	struct fuse_entry_out open_dir, e, priv;
	struct fuse_open_out o;
	struct fuse_attr_out a;
	struct fuse_mkdir_in mk = { .mode = 0777 };
	struct fuse_mkdir_in mk_priv = { .mode = 0700 };
	struct fuse_mknod_in fifo = { .mode = S_IFIFO | 0644 };
	struct stat st;
	char p[PATH_MAX];

	user.uid = 1234;
	user.gid = 4321;
	CHECK_EQ(ops->mkdir(&root, ROOT, "shared", &mk, &open_dir), 0);
	CHECK_EQ(open_dir.attr.uid, 0);

	CHECK_EQ(ops->create(&user, open_dir.nodeid, "mine",
			     &(struct fuse_create_in){ .flags = O_RDWR | O_EXCL,
						       .mode = S_IFREG | 0600 }, &e, &o), 0);
	CHECK_EQ(e.attr.uid, 1234);
	CHECK_EQ(e.attr.gid, 4321);
	path_in(p, sizeof(p), backing, "shared/mine");
	CHECK(stat(p, &st) == 0 && st.st_uid == 1234 && st.st_gid == 4321);
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	/* The owner may open its 0600 file again. */
	CHECK_EQ(ops->open(&user, e.nodeid, &(struct fuse_open_in){ .flags = O_RDWR }, &o), 0);
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	forget(pt, e.nodeid, 1);
	CHECK_EQ(ops->mkdir(&user, open_dir.nodeid, "mydir", &mk, &e), 0);
	CHECK(e.attr.uid == 1234 && e.attr.gid == 4321);
	forget(pt, e.nodeid, 1);
	CHECK_EQ(ops->symlink(&user, open_dir.nodeid, "mylink", "t", &e), 0);
	CHECK(e.attr.uid == 1234 && e.attr.gid == 4321);
	forget(pt, e.nodeid, 1);
	CHECK_EQ(ops->mknod(&user, open_dir.nodeid, "myfifo", &fifo, &e), 0);
	CHECK(e.attr.uid == 1234 && e.attr.gid == 4321);
	forget(pt, e.nodeid, 1);

	/* What the user may not do. */
	CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0); /* root's, 0644 */
	CHECK_EQ(ops->open(&user, e.nodeid, &(struct fuse_open_in){ .flags = O_RDWR }, &o),
		 -EACCES);
	CHECK_EQ(ops->open(&user, e.nodeid, &(struct fuse_open_in){ .flags = O_RDONLY }, &o), 0);
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	CHECK_EQ(ops->access(&user, e.nodeid, R_OK), 0);
	CHECK_EQ(ops->access(&user, e.nodeid, W_OK), -EACCES);
	CHECK_EQ(ops->access(&root, e.nodeid, W_OK), 0);
	CHECK_EQ(ops->setattr(&user, e.nodeid,
			      &(struct fuse_setattr_in){ .valid = FATTR_MODE, .mode = 0666 }, &a),
		 -EPERM);
	CHECK_EQ(ops->setattr(&user, e.nodeid,
			      &(struct fuse_setattr_in){ .valid = FATTR_SIZE, .size = 0 }, &a),
		 -EACCES);
	forget(pt, e.nodeid, 1);
	CHECK_EQ(ops->unlink(&user, ROOT, "hello"), -EACCES);
	CHECK_EQ(ops->mkdir(&user, ROOT, "notmine", &mk, &e), -EACCES);
	CHECK_EQ(create(pt, ROOT, "rootfile", O_RDWR | O_EXCL, 0644, &e, &o), 0);
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	forget(pt, e.nodeid, 1);

	/* A private directory: no lookups inside for the user. */
	CHECK_EQ(ops->mkdir(&root, ROOT, "private", &mk_priv, &priv), 0);
	path_in(p, sizeof(p), backing, "private");
	write_file(p, "inside", "x");
	CHECK_EQ(ops->lookup(&user, priv.nodeid, "inside", &e), -EACCES);
	CHECK_EQ(ops->opendir(&user, priv.nodeid, &(struct fuse_open_in){ 0 }, &o), -EACCES);
	/* Readable but not searchable: listed, but without lookups. */
	CHECK_EQ(chmod(p, 0744), 0);
	CHECK_EQ(ops->opendir(&user, priv.nodeid, &(struct fuse_open_in){ 0 }, &o), 0);
	{
		char buf[1024];
		struct fuse_read_in in = { .fh = o.fh, .size = sizeof(buf) };
		struct sgf_dirbuf db = { .buf = buf, .size = sizeof(buf) };
		struct listing l = { 0 };
		struct fuse_release_in ri = { .fh = o.fh };

		CHECK_EQ(ops->readdir(&user, priv.nodeid, &in, true, &db), 0);
		parse(buf, db.used, true, &l);
		CHECK_EQ(l.n, 3);
		CHECK(find(&l, "inside") >= 0 && l.nodeids[find(&l, "inside")] == 0);
		CHECK_EQ(ops->releasedir(&root, priv.nodeid, &ri), 0);
	}
	forget(pt, priv.nodeid, 1);

	/* The thread is itself again: root's objects are root's. */
	CHECK_EQ(create(pt, open_dir.nodeid, "roots", O_RDWR | O_EXCL, 0644, &e, &o), 0);
	CHECK(e.attr.uid == 0 && e.attr.gid == 0);
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	forget(pt, e.nodeid, 1);
	CHECK_EQ(access(backing, W_OK), 0);
	forget(pt, open_dir.nodeid, 1);
}

/* Many threads looking up, using and forgetting the same nodes: a node a
 * thread holds a lookup on must never go stale under it. */
struct churn {
	struct sgf_passthrough *pt;
	int failures;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	const char *names[] = { "hello", "sub", "esc_abs" };

	for (int i = 0; i < 3000; i++) {
		struct fuse_entry_out e;
		const char *name = names[i % 3];

		if (lookup(c->pt, ROOT, name, &e) != 0 || !valid(c->pt, e.nodeid))
			c->failures++;
		if (i % 3 == 0) {
			struct fuse_open_out o;
			char buf[8];
			struct iovec iov = { buf, sizeof(buf) };

			if (open_node(c->pt, e.nodeid, O_RDONLY, &o) != 0 ||
			    pread_op(c->pt, e.nodeid, o.fh, 0, &iov, 1) != 8 ||
			    release(c->pt, e.nodeid, o.fh) != 0)
				c->failures++;
		}
		forget(c->pt, e.nodeid, 1);
	}
	return NULL;
}

/* Readers on one shared handle while it is released: each read is served
 * or refused (-EBADF), never a use after free. */
struct shared_reader {
	struct sgf_passthrough *pt;
	uint64_t nodeid, fh;
	_Atomic int served, refused, odd;
};

static void *reader_thread(void *arg)
{
	struct shared_reader *s = arg;

	for (int i = 0; i < 200000; i++) {
		char buf[8];
		struct iovec iov = { buf, sizeof(buf) };
		ssize_t n = pread_op(s->pt, s->nodeid, s->fh, 0, &iov, 1);

		if (n == 8) {
			s->served++;
		} else if (n == -EBADF) {
			s->refused++;
			break;
		} else {
			s->odd++;
		}
	}
	return NULL;
}

static void test_release_while_reading(struct sgf_passthrough *pt)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	pthread_t t[3];
	struct shared_reader s[3];

	CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
	CHECK_EQ(open_node(pt, e.nodeid, O_RDONLY, &o), 0);
	for (int i = 0; i < 3; i++) {
		s[i].pt = pt;
		s[i].nodeid = e.nodeid;
		s[i].fh = o.fh;
		atomic_init(&s[i].served, 0);
		atomic_init(&s[i].refused, 0);
		atomic_init(&s[i].odd, 0);
		CHECK_EQ(pthread_create(&t[i], NULL, reader_thread, &s[i]), 0);
	}
	/* Let the readers get going (whatever the count, the checks hold). */
	while (s[0].served + s[1].served + s[2].served < 100 &&
	       s[0].refused + s[1].refused + s[2].refused == 0)
		sched_yield();
	CHECK_EQ(release(pt, e.nodeid, o.fh), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(s[i].odd, 0);
		CHECK_EQ(s[i].refused, 1);
	}
	forget(pt, e.nodeid, 1);
	CHECK(!valid(pt, e.nodeid));
}

static void test_threads(struct sgf_passthrough *pt)
{
	pthread_t t[4];
	struct churn c[4];

	for (int i = 0; i < 4; i++) {
		c[i] = (struct churn){ .pt = pt };
		CHECK_EQ(pthread_create(&t[i], NULL, churn_thread, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(c[i].failures, 0);
	}
}

static int open_fd_count(void)
{
	DIR *dp = opendir("/proc/self/fd");
	int n = 0;

	if (!dp)
		return -1;
	while (readdir(dp))
		n++;
	closedir(dp);
	return n;
}

static int run_tests(void)
{
	struct sgf_passthrough *pt;
	int fds_before = open_fd_count();

	ops = sgf_passthrough_ops();
	test_new();
	pt = new_pt(SGF_BACKING_DIRECT_AUTO);
	test_lookup(pt);
	test_confinement(pt);
	test_forget(pt);
	test_mkobj(pt);
	test_tmpfile(pt);
	test_remove(pt);
	test_rename(pt);
	test_setattr(pt);
	test_file_io(pt);
	test_readdir(pt);
	test_misc(pt);
	test_xattr(pt);
	if (geteuid() == 0)
		test_requester_ids(pt);
	test_threads(pt);
	test_release_while_reading(pt);
	/* Freed with lookups and an open handle still held. */
	{
		struct fuse_entry_out e;
		struct fuse_open_out o;

		CHECK_EQ(lookup(pt, ROOT, "hello", &e), 0);
		CHECK_EQ(open_node(pt, e.nodeid, O_RDONLY, &o), 0);
	}
	sgf_passthrough_free(pt);
	test_direct();
	/* Every node and handle fd went with its filesystem. */
	CHECK_EQ(open_fd_count(), fds_before);
	return check_exit();
}

/* The tests run in a child so the temp directory goes however they end. */
int main(void)
{
	pid_t pid;
	int status;

	setup();
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		exit(run_tests()); /* exit, not _exit: LeakSanitizer runs at exit */
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		perror("fork/wait");
		cleanup();
		return 1;
	}
	cleanup();
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "FAIL: tests killed by signal %d\n", WTERMSIG(status));
		return 1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
