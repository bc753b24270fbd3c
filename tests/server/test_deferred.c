/* tests/server/test_deferred.c - deferred replies of every kind: each
 * operation keeps its request (sgf_req_keep), returns SGF_DEFER, and backend
 * threads answer the kept requests in shuffled order after a short delay,
 * filling the outputs the operation was handed (entry, attr, open, create,
 * statfs, the READ iov, the readdir buffer, the getxattr/readlink buffers).
 * Four threads drive the mount with real system calls at once and check
 * every result. Run twice: answered with sgf_reply(r, result), then with the
 * typed shorthands (sgf_reply_entry/attr/open/create/statfs/data/write/err)
 * from the backend's own structs. */
#include "srv_helper.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#define NTHREADS 4
#define ITERS 25
#define NBACKEND 2
#define NBIG 300
#define DATA_LEN 3000

enum { MODE_PLAIN, MODE_SHORTHAND, NMODES };
static const char *mode_name[NMODES] = { "sgf_reply", "shorthands" };

static struct sh_fs *fs;
static atomic_int mode;
static atomic_long keeps, reply_failures, keep_failures;
static atomic_long answered[NMODES][SGF_OPCODE_LIMIT];

/* ---- the backend: kept requests, answered in random order ----------------- */

struct job {
	struct job *next;
	uint32_t op;
	struct sgf_req *r;
	uint64_t ino, parent, newparent;
	const char *name, *name2;
	const void *in;
	void *out, *out2;
	const struct iovec *iov;
	int iovcnt;
	bool plus;
	struct sgf_dirbuf *db;
	char *buf;
	size_t size;
	uint32_t flags;
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static struct job *queue;
static unsigned queued;
static bool q_stop;
static pthread_t backends[NBACKEND];

static int submit(const struct sgf_req *r, uint32_t op, struct job *tmpl)
{
	struct job *j = malloc(sizeof(*j));

	if (j == NULL)
		return -ENOMEM;
	*j = *tmpl;
	j->op = op;
	j->r = sgf_req_keep(r);
	if (j->r == NULL || j->r != r) {
		atomic_fetch_add(&keep_failures, 1);
		free(j);
		return -EIO;
	}
	/* A second keep returns the same handle. */
	if (sgf_req_keep(r) != j->r)
		atomic_fetch_add(&keep_failures, 1);
	atomic_fetch_add(&keeps, 1);
	pthread_mutex_lock(&q_lock);
	j->next = queue;
	queue = j;
	queued++;
	pthread_cond_signal(&q_cond);
	pthread_mutex_unlock(&q_lock);
	return SGF_DEFER;
}

static atomic_long read_turn, answered_iov;

/* A READ answered from the backend's own buffer with sgf_reply_iov: the
 * bytes go out in up to three pieces, and the buffer is scribbled over and
 * freed as soon as the call returns (it must have been copied or queued). */
static int answer_read_iov(struct job *j)
{
	const struct fuse_read_in *in = j->in;
	size_t size = in->size; /* in is void once answered */
	char *mine = malloc(size ? size : 1);
	struct iovec own = { mine, size }, parts[3];
	int rc, n = 0;

	if (mine == NULL)
		return sgf_reply_err(j->r, -ENOMEM);
	ssize_t got = sh_read(j->r, j->ino, in, &own, 1);
	if (got < 0) {
		rc = sgf_reply_err(j->r, (int)got);
	} else {
		size_t len = (size_t)got, a = len / 3, b = len / 2;
		parts[n++] = (struct iovec){ mine, a };
		parts[n++] = (struct iovec){ mine + a, b - a };
		parts[n++] = (struct iovec){ mine + b, len - b };
		rc = sgf_reply_iov(j->r, parts, n);
	}
	memset(mine, 0xee, size);
	free(mine);
	return rc;
}

/* The job's reply, through sgf_reply or the shorthands. */
static void answer(struct job *j, int m)
{
	struct sgf_req *r = j->r;
	long res = 0;
	int rc;
	bool sh = m == MODE_SHORTHAND;

	switch (j->op) {
	case FUSE_LOOKUP:
	case FUSE_MKDIR:
	case FUSE_SYMLINK: {
		struct fuse_entry_out e, *ep = sh ? &e : j->out;
		memset(&e, 0, sizeof(e));
		if (j->op == FUSE_LOOKUP)
			res = sh_lookup(r, j->parent, j->name, ep);
		else if (j->op == FUSE_MKDIR)
			res = sh_mkdir(r, j->parent, j->name, j->in, ep);
		else
			res = sh_symlink(r, j->parent, j->name, j->name2, ep);
		rc = !sh ? sgf_reply(r, res) : res < 0 ? sgf_reply_err(r, (int)res)
						      : sgf_reply_entry(r, &e);
		break;
	}
	case FUSE_GETATTR:
	case FUSE_SETATTR: {
		struct fuse_attr_out a, *ap = sh ? &a : j->out;
		memset(&a, 0, sizeof(a));
		res = j->op == FUSE_GETATTR ? sh_getattr(r, j->ino, j->in, ap)
					    : sh_setattr(r, j->ino, j->in, ap);
		rc = !sh ? sgf_reply(r, res) : res < 0 ? sgf_reply_err(r, (int)res)
						      : sgf_reply_attr(r, &a);
		break;
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		struct fuse_open_out o, *op = sh ? &o : j->out;
		memset(&o, 0, sizeof(o));
		res = j->op == FUSE_OPEN ? sh_open(r, j->ino, j->in, op)
					 : sh_opendir(r, j->ino, j->in, op);
		rc = !sh ? sgf_reply(r, res) : res < 0 ? sgf_reply_err(r, (int)res)
						      : sgf_reply_open(r, &o);
		break;
	}
	case FUSE_CREATE: {
		struct fuse_entry_out e, *ep = sh ? &e : j->out;
		struct fuse_open_out o, *op = sh ? &o : j->out2;
		memset(&e, 0, sizeof(e));
		memset(&o, 0, sizeof(o));
		res = sh_create(r, j->parent, j->name, j->in, ep, op);
		rc = !sh ? sgf_reply(r, res) : res < 0 ? sgf_reply_err(r, (int)res)
						      : sgf_reply_create(r, &e, &o);
		break;
	}
	case FUSE_STATFS: {
		struct fuse_statfs_out s, *sp = sh ? &s : j->out;
		memset(&s, 0, sizeof(s));
		res = sh_statfs(r, j->ino, sp);
		rc = !sh ? sgf_reply(r, res) : res < 0 ? sgf_reply_err(r, (int)res)
						      : sgf_reply_statfs(r, &s);
		break;
	}
	case FUSE_READ:
		if (sh && atomic_fetch_add(&read_turn, 1) % 2) {
			rc = answer_read_iov(j);
			atomic_fetch_add(&answered_iov, 1);
			break;
		}
		res = sh_read(r, j->ino, j->in, j->iov, j->iovcnt);
		rc = !sh ? sgf_reply(r, res) : res < 0 ? sgf_reply_err(r, (int)res)
						      : sgf_reply_data(r, (size_t)res);
		break;
	case FUSE_WRITE:
		res = sh_write(r, j->ino, j->in, j->iov, j->iovcnt);
		rc = !sh ? sgf_reply(r, res) : res < 0 ? sgf_reply_err(r, (int)res)
						      : sgf_reply_write(r, (size_t)res);
		break;
	default:
		switch (j->op) {
		case FUSE_READDIR:
		case FUSE_READDIRPLUS:
			res = sh_readdir(r, j->ino, j->in, j->plus, j->db);
			break;
		case FUSE_GETXATTR:
			res = sh_getxattr(r, j->ino, j->name, j->buf, j->size);
			break;
		case FUSE_LISTXATTR:
			res = sh_listxattr(r, j->ino, j->buf, j->size);
			break;
		case FUSE_READLINK:
			res = sh_readlink(r, j->ino, j->buf, j->size);
			break;
		case FUSE_UNLINK:
			res = sh_unlink(r, j->parent, j->name);
			break;
		case FUSE_RMDIR:
			res = sh_rmdir(r, j->parent, j->name);
			break;
		case FUSE_RENAME:
			res = sh_rename(r, j->parent, j->name, j->newparent, j->name2, j->flags);
			break;
		case FUSE_FSYNC:
			res = sh_fsync(r, j->ino, j->in);
			break;
		case FUSE_FLUSH:
			res = sh_flush(r, j->ino, j->in);
			break;
		case FUSE_RELEASE:
			res = sh_release(r, j->ino, j->in);
			break;
		case FUSE_RELEASEDIR:
			res = sh_releasedir(r, j->ino, j->in);
			break;
		default:
			res = -ENOSYS;
		}
		rc = sh && res < 0 ? sgf_reply_err(r, (int)res) : sgf_reply(r, res);
	}
	if (rc != 0) {
		fprintf(stderr, "reply to %s failed: %d\n", sgf_opname(j->op), rc);
		atomic_fetch_add(&reply_failures, 1);
	}
	atomic_fetch_add(&answered[m][j->op], 1);
}

static void *backend(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 17u;

	for (;;) {
		pthread_mutex_lock(&q_lock);
		while (queued == 0 && !q_stop)
			pthread_cond_wait(&q_cond, &q_lock);
		if (queued == 0) {
			pthread_mutex_unlock(&q_lock);
			return NULL;
		}
		/* Any of the queued ones, not the oldest. */
		unsigned pick = (unsigned)rand_r(&seed) % queued;
		struct job **pp = &queue;
		while (pick--)
			pp = &(*pp)->next;
		struct job *j = *pp;
		*pp = j->next;
		queued--;
		pthread_mutex_unlock(&q_lock);
		usleep((useconds_t)(rand_r(&seed) % 800));
		answer(j, atomic_load(&mode));
		free(j);
	}
}

static void start_backends(void)
{
	q_stop = false;
	for (uintptr_t i = 0; i < NBACKEND; i++)
		REQUIRE(pthread_create(&backends[i], NULL, backend, (void *)i) == 0);
}

/* ops->destroy: every kept request was answered; stop the backend. */
static void d_destroy(void *fsp)
{
	pthread_mutex_lock(&q_lock);
	q_stop = true;
	pthread_cond_broadcast(&q_cond);
	pthread_mutex_unlock(&q_lock);
	for (int i = 0; i < NBACKEND; i++)
		pthread_join(backends[i], NULL);
	sh_destroy_op(fsp);
}

/* ---- the operations: keep and queue ---------------------------------------- */

#define JOB(...) (&(struct job){ __VA_ARGS__ })

static int d_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
		    struct fuse_entry_out *out)
{
	return submit(r, FUSE_LOOKUP, JOB(.parent = parent, .name = name, .out = out));
}

static int d_getattr(const struct sgf_req *r, uint64_t ino, const struct fuse_getattr_in *in,
		     struct fuse_attr_out *out)
{
	return submit(r, FUSE_GETATTR, JOB(.ino = ino, .in = in, .out = out));
}

static int d_setattr(const struct sgf_req *r, uint64_t ino, const struct fuse_setattr_in *in,
		     struct fuse_attr_out *out)
{
	return submit(r, FUSE_SETATTR, JOB(.ino = ino, .in = in, .out = out));
}

static ssize_t d_readlink(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
{
	return submit(r, FUSE_READLINK, JOB(.ino = ino, .buf = buf, .size = size));
}

static int d_symlink(const struct sgf_req *r, uint64_t parent, const char *name,
		     const char *target, struct fuse_entry_out *out)
{
	return submit(r, FUSE_SYMLINK, JOB(.parent = parent, .name = name, .name2 = target,
					   .out = out));
}

static int d_mkdir(const struct sgf_req *r, uint64_t parent, const char *name,
		   const struct fuse_mkdir_in *in, struct fuse_entry_out *out)
{
	return submit(r, FUSE_MKDIR, JOB(.parent = parent, .name = name, .in = in, .out = out));
}

static int d_unlink(const struct sgf_req *r, uint64_t parent, const char *name)
{
	return submit(r, FUSE_UNLINK, JOB(.parent = parent, .name = name));
}

static int d_rmdir(const struct sgf_req *r, uint64_t parent, const char *name)
{
	return submit(r, FUSE_RMDIR, JOB(.parent = parent, .name = name));
}

static int d_rename(const struct sgf_req *r, uint64_t parent, const char *name,
		    uint64_t newparent, const char *newname, uint32_t flags)
{
	return submit(r, FUSE_RENAME, JOB(.parent = parent, .name = name,
					  .newparent = newparent, .name2 = newname,
					  .flags = flags));
}

static int d_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
		  struct fuse_open_out *out)
{
	return submit(r, FUSE_OPEN, JOB(.ino = ino, .in = in, .out = out));
}

static int d_create(const struct sgf_req *r, uint64_t parent, const char *name,
		    const struct fuse_create_in *in, struct fuse_entry_out *entry,
		    struct fuse_open_out *open)
{
	return submit(r, FUSE_CREATE, JOB(.parent = parent, .name = name, .in = in,
					  .out = entry, .out2 = open));
}

static ssize_t d_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		      const struct iovec *iov, int iovcnt)
{
	return submit(r, FUSE_READ, JOB(.ino = ino, .in = in, .iov = iov, .iovcnt = iovcnt));
}

static ssize_t d_write(const struct sgf_req *r, uint64_t ino, const struct fuse_write_in *in,
		       const struct iovec *iov, int iovcnt)
{
	return submit(r, FUSE_WRITE, JOB(.ino = ino, .in = in, .iov = iov, .iovcnt = iovcnt));
}

static int d_flush(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in)
{
	return submit(r, FUSE_FLUSH, JOB(.ino = ino, .in = in));
}

static int d_release(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in)
{
	return submit(r, FUSE_RELEASE, JOB(.ino = ino, .in = in));
}

static int d_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in)
{
	return submit(r, FUSE_FSYNC, JOB(.ino = ino, .in = in));
}

static int d_opendir(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
		     struct fuse_open_out *out)
{
	return submit(r, FUSE_OPENDIR, JOB(.ino = ino, .in = in, .out = out));
}

static int d_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		     bool plus, struct sgf_dirbuf *db)
{
	return submit(r, plus ? FUSE_READDIRPLUS : FUSE_READDIR,
		      JOB(.ino = ino, .in = in, .plus = plus, .db = db));
}

static int d_releasedir(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in)
{
	return submit(r, FUSE_RELEASEDIR, JOB(.ino = ino, .in = in));
}

static int d_statfs(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out)
{
	return submit(r, FUSE_STATFS, JOB(.ino = ino, .out = out));
}

static ssize_t d_getxattr(const struct sgf_req *r, uint64_t ino, const char *name, void *buf,
			  size_t size)
{
	return submit(r, FUSE_GETXATTR, JOB(.ino = ino, .name = name, .buf = buf, .size = size));
}

static ssize_t d_listxattr(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
{
	return submit(r, FUSE_LISTXATTR, JOB(.ino = ino, .buf = buf, .size = size));
}

static const struct sgf_ops deferred_ops = {
	.init = sh_init_op,
	.destroy = d_destroy,
	.lookup = d_lookup,
	.forget = sh_forget,
	.getattr = d_getattr,
	.setattr = d_setattr,
	.readlink = d_readlink,
	.symlink = d_symlink,
	.mkdir = d_mkdir,
	.unlink = d_unlink,
	.rmdir = d_rmdir,
	.rename = d_rename,
	.open = d_open,
	.create = d_create,
	.read = d_read,
	.write = d_write,
	.flush = d_flush,
	.release = d_release,
	.fsync = d_fsync,
	.opendir = d_opendir,
	.readdir = d_readdir,
	.releasedir = d_releasedir,
	.statfs = d_statfs,
	.getxattr = d_getxattr,
	.listxattr = d_listxattr,
};

/* ---- the workload ---------------------------------------------------------- */

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* List big/ in small getdents64 calls: every entry once. */
static void list_big(void)
{
	char path[PATH_MAX + 16], buf[1024];
	unsigned char seen[NBIG];
	unsigned total = 0;

	memset(seen, 0, sizeof(seen));
	int fd = open(SH_PATH(path, "big"), O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (n <= 0) {
			CHECK_EQ(n, 0);
			break;
		}
		for (long pos = 0; pos < n;) {
			struct linux_dirent64 *d = (void *)(buf + pos);
			unsigned k;
			if (sscanf(d->d_name, "big-entry-%03u", &k) == 1 && k < NBIG) {
				seen[k]++;
				CHECK_EQ(d->d_type, DT_REG);
			} else if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0) {
				sh_fail(__FILE__, __LINE__, "unexpected entry %s", d->d_name);
			}
			total++;
			pos += d->d_reclen;
		}
	}
	close(fd);
	for (unsigned k = 0; k < NBIG; k++)
		if (seen[k] != 1)
			sh_fail(__FILE__, __LINE__, "big-entry-%03u listed %u times", k, seen[k]);
	CHECK_EQ(total, NBIG);
}

static void fill_pattern(char *buf, size_t len, int t, int i)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = (char)((t * 31 + i * 7 + (int)k) & 0xff);
}

static int statx_path(int dirfd, const char *path, int flags, struct statx *stx)
{
	return statx(dirfd, path, flags | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, stx);
}

static void iteration(int t, int i)
{
	char p1[PATH_MAX + 16], p2[PATH_MAX + 16], pl[PATH_MAX + 16], pd[PATH_MAX + 16];
	char name[64], data[DATA_LEN], rbuf[8192], target[64], val[64];
	struct statx stx;
	struct stat sb;
	struct statvfs sv;

	snprintf(name, sizeof(name), "f-%d-%d", t, i);
	SH_PATH(p1, name);
	snprintf(name, sizeof(name), "g-%d-%d", t, i);
	SH_PATH(p2, name);
	snprintf(name, sizeof(name), "l-%d-%d", t, i);
	SH_PATH(pl, name);
	snprintf(name, sizeof(name), "d-%d-%d", t, i);
	SH_PATH(pd, name);
	fill_pattern(data, sizeof(data), t, i);

	/* CREATE, WRITE, READ (short at end of file), FSYNC */
	int fd = open(p1, O_CREAT | O_EXCL | O_RDWR, 0640);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(pwrite(fd, data, sizeof(data), 0), DATA_LEN);
	memset(rbuf, 0, sizeof(rbuf));
	CHECK_EQ(pread(fd, rbuf, sizeof(rbuf), 0), DATA_LEN);
	CHECK(memcmp(rbuf, data, DATA_LEN) == 0);
	CHECK_EQ(pread(fd, rbuf, 100, 2950), 50);
	CHECK(memcmp(rbuf, data + 2950, 50) == 0);
	CHECK_OK(fsync(fd));
	/* SETATTR (size, mode), GETATTR */
	CHECK_OK(ftruncate(fd, 1000));
	CHECK_OK(statx_path(fd, "", AT_EMPTY_PATH, &stx));
	CHECK_EQ(stx.stx_size, 1000);
	CHECK_OK(fchmod(fd, 0604));
	CHECK_OK(statx_path(fd, "", AT_EMPTY_PATH, &stx));
	CHECK_EQ(stx.stx_mode, S_IFREG | 0604);
	uint64_t ino = stx.stx_ino;
	/* FLUSH, RELEASE */
	CHECK_OK(close(fd));

	/* LOOKUP, OPEN, READ */
	fd = open(p1, O_RDONLY);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_EQ(read(fd, rbuf, sizeof(rbuf)), 1000);
		CHECK(memcmp(rbuf, data, 1000) == 0);
		CHECK_OK(close(fd));
	}

	/* GETXATTR: the size, then the value */
	ssize_t len = getxattr(p1, "user.ino", NULL, 0);
	snprintf(val, sizeof(val), "%" PRIu64, ino);
	CHECK_EQ(len, (ssize_t)strlen(val));
	char got[64] = "";
	CHECK_EQ(getxattr(p1, "user.ino", got, sizeof(got) - 1), (ssize_t)strlen(val));
	CHECK(strcmp(got, val) == 0);
	CHECK_ERR(getxattr(p1, "user.nothing", got, sizeof(got)), ENODATA);
	CHECK_ERR(getxattr(p1, "user.ino", got, 1), ERANGE);

	/* RENAME */
	CHECK_OK(rename(p1, p2));
	CHECK_ERR(stat(p1, &sb), ENOENT);
	CHECK_OK(stat(p2, &sb));
	CHECK_EQ(sb.st_ino, ino);
	CHECK_EQ(sb.st_size, 1000);

	/* SYMLINK, READLINK, UNLINK */
	snprintf(target, sizeof(target), "target/of/%d/%d", t, i);
	CHECK_OK(symlink(target, pl));
	memset(got, 0, sizeof(got));
	CHECK_EQ(readlink(pl, got, sizeof(got) - 1), (ssize_t)strlen(target));
	CHECK(strcmp(got, target) == 0);
	CHECK_OK(lstat(pl, &sb));
	CHECK(S_ISLNK(sb.st_mode));
	CHECK_OK(unlink(pl));
	CHECK_ERR(lstat(pl, &sb), ENOENT);

	/* MKDIR, RMDIR */
	CHECK_OK(mkdir(pd, 0750));
	CHECK_OK(stat(pd, &sb));
	CHECK(S_ISDIR(sb.st_mode));
	CHECK_EQ(sb.st_mode & 07777, 0750);
	CHECK_OK(rmdir(pd));
	CHECK_ERR(stat(pd, &sb), ENOENT);

	/* UNLINK */
	CHECK_OK(unlink(p2));
	CHECK_ERR(stat(p2, &sb), ENOENT);

	/* STATFS */
	CHECK_OK(statvfs(sh_mnt(), &sv));
	CHECK_EQ(sv.f_blocks, SH_STATFS_BLOCKS);
	CHECK_EQ(sv.f_bfree, SH_STATFS_BFREE);
	CHECK_EQ(sv.f_bavail, SH_STATFS_BAVAIL);
	CHECK_EQ(sv.f_files, SH_STATFS_FILES);
	CHECK_EQ(sv.f_bsize, SH_STATFS_BSIZE);

	/* a pre-made symlink, and big/ (READDIRPLUS, READDIR, OPENDIR,
	 * RELEASEDIR) now and then */
	memset(got, 0, sizeof(got));
	CHECK_EQ(readlink(SH_PATH(pl, "link0"), got, sizeof(got) - 1), 11);
	CHECK(strcmp(got, "some/target") == 0);
	if (i % 8 == t % 8)
		list_big();
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;

	for (int i = 0; i < ITERS; i++)
		iteration(t, i + 1000 * atomic_load(&mode));
	return NULL;
}

static long fs_releases(void)
{
	return sh_fs_calls(fs, FUSE_RELEASE);
}

static long fs_opens(void)
{
	return sh_fs_calls(fs, FUSE_OPEN) + sh_fs_calls(fs, FUSE_CREATE);
}

static void run_mode(int m)
{
	pthread_t th[NTHREADS];

	atomic_store(&mode, m);
	for (intptr_t t = 0; t < NTHREADS; t++)
		REQUIRE(pthread_create(&th[t], NULL, worker, (void *)t) == 0);
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	/* RELEASE goes out after close returns: wait for all of them. */
	CHECK(SH_WAIT_UNTIL(fs_releases() == fs_opens(), 5000));

	/* Every reply kind was answered in this mode. */
	static const uint32_t want[] = {
		FUSE_LOOKUP, FUSE_GETATTR, FUSE_SETATTR, FUSE_OPEN, FUSE_CREATE, FUSE_READ,
		FUSE_WRITE, FUSE_READDIR, FUSE_READDIRPLUS, FUSE_STATFS, FUSE_GETXATTR,
		FUSE_READLINK, FUSE_MKDIR, FUSE_UNLINK, FUSE_RENAME, FUSE_FSYNC, FUSE_FLUSH,
		FUSE_RELEASE, FUSE_SYMLINK, FUSE_RMDIR, FUSE_OPENDIR, FUSE_RELEASEDIR,
	};
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		if (atomic_load(&answered[m][want[k]]) == 0)
			sh_fail(__FILE__, __LINE__, "%s: no %s was answered", mode_name[m],
				sgf_opname(want[k]));
	if (m == MODE_SHORTHAND && atomic_load(&answered_iov) == 0)
		sh_fail(__FILE__, __LINE__, "no READ was answered with sgf_reply_iov");
	printf("%s: %ld LOOKUP, %ld READ, %ld WRITE, %ld READDIR, %ld READDIRPLUS answered "
	       "later\n", mode_name[m], atomic_load(&answered[m][FUSE_LOOKUP]),
	       atomic_load(&answered[m][FUSE_READ]), atomic_load(&answered[m][FUSE_WRITE]),
	       atomic_load(&answered[m][FUSE_READDIR]),
	       atomic_load(&answered[m][FUSE_READDIRPLUS]));
}

int main(void)
{
	struct sgf_server_opts opts = { .threads = 2 };
	struct sh_srv s;
	struct sgf_stats st;
	char name[32];

	sh_init("test_deferred", 240, 0);
	fs = sh_fs_new();
	fs->open_flags = FOPEN_DIRECT_IO; /* every read and write reaches us */
	sh_fs_add(fs, 1, "link0", S_IFLNK | 0777, "some/target", 11);
	uint64_t big = sh_fs_add(fs, 1, "big", S_IFDIR | 0755, NULL, 0);
	for (int k = 0; k < NBIG; k++) {
		snprintf(name, sizeof(name), "big-entry-%03d", k);
		sh_fs_add(fs, big, name, S_IFREG | 0644, "x", 1);
	}
	start_backends();
	sh_srv_new(&s, &deferred_ops, sizeof(deferred_ops), fs, &opts);
	sh_srv_mount(&s);

	run_mode(MODE_PLAIN);
	run_mode(MODE_SHORTHAND);

	sh_srv_stats(&s, &st);
	CHECK_EQ(st.kept, atomic_load(&keeps));
	CHECK(st.kept > 1000);
	CHECK_EQ(st.refused, 0);
	CHECK_EQ(st.abandoned, 0);
	CHECK_EQ(st.malformed, 0);
	CHECK_EQ(atomic_load(&reply_failures), 0);
	CHECK_EQ(atomic_load(&keep_failures), 0);
	printf("kept %" PRIu64 ", buffers_max %" PRIu64 "\n", st.kept, st.buffers_max);

	sh_srv_destroy(&s);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	CHECK(!sh_is_mounted(sh_mnt()));
	sh_fs_free(fs);
	return sh_finish();
}
