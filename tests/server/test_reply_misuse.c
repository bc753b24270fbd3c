/* tests/server/test_reply_misuse.c - one reply per request on the wire,
 * whatever the filesystem does: a second sgf_reply is refused (-EALREADY,
 * stats.refused) and the requester sees the first answer; a reply from
 * inside the operation followed by a returned value keeps the reply and
 * refuses the value; SGF_DEFER without sgf_req_keep, a result below -4095,
 * a READ or WRITE count larger than asked are answered EIO and counted; a
 * kept request never answered is answered EIO when the session ends
 * (stats.abandoned) and replies after that are refused; sgf_reply_iov
 * refuses other opcodes and too many pieces, and answers EIO for more bytes
 * than asked. */
#include "srv_helper.h"

#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>
#include <sgfuse/client.h>

/* The files whose operations misbehave, each its own way. */
static uint64_t ino_double, ino_inside, ino_inside_nokeep, ino_nokeep_defer, ino_neg,
	ino_late_neg, ino_late_defer, ino_never, ino_bigread, ino_bigread2, ino_bigwrite,
	ino_iov_getattr, ino_iov_big, ino_iov_ok;

#define SIZE_FIRST 111
#define SIZE_INSIDE 222
#define SIZE_NOKEEP 333
#define SIZE_IOV_GETATTR 444

/* ---- answering later, from a thread of our own ----------------------------- */

struct later {
	struct sgf_req *k;
	struct fuse_attr_out *out;
	uint64_t ino;
	size_t read_size;
};

static atomic_int later_done;
static atomic_int rc_first, rc_second;
static const char iov_bytes[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"0123456789abcdefghijklmnopqrstuvwxyz";

static void *later_thread(void *arg)
{
	struct later *l = arg;
	struct iovec iov[SGF_REPLY_IOV_MAX + 1];

	sh_msleep(10);
	for (int i = 0; i <= SGF_REPLY_IOV_MAX; i++)
		iov[i] = (struct iovec){ (void *)(iov_bytes + 8 * i % 64), 8 };
	if (l->ino == ino_double) {
		l->out->attr.size = SIZE_FIRST;
		atomic_store(&rc_first, sgf_reply(l->k, 0));
		/* r is void now; the library must still see it was answered. */
		atomic_store(&rc_second, sgf_reply(l->k, -EPERM));
	} else if (l->ino == ino_late_neg) {
		atomic_store(&rc_first, sgf_reply(l->k, -100000));
	} else if (l->ino == ino_late_defer) {
		atomic_store(&rc_first, sgf_reply(l->k, SGF_DEFER));
	} else if (l->ino == ino_iov_getattr) {
		/* sgf_reply_iov is for READ: refused, the request stays kept */
		atomic_store(&rc_first, sgf_reply_iov(l->k, iov, 1));
		l->out->attr.size = SIZE_IOV_GETATTR;
		atomic_store(&rc_second, sgf_reply(l->k, 0));
	} else if (l->ino == ino_iov_big) {
		/* too many pieces: refused, still kept; then more than asked */
		atomic_store(&rc_first, sgf_reply_iov(l->k, iov, SGF_REPLY_IOV_MAX + 1));
		struct iovec two[2] = { { (void *)iov_bytes, l->read_size / 2 + 1 },
					{ (void *)iov_bytes, l->read_size / 2 + 1 } };
		atomic_store(&rc_second, sgf_reply_iov(l->k, two, 2));
	} else if (l->ino == ino_iov_ok) {
		/* the most pieces allowed */
		atomic_store(&rc_first, sgf_reply_iov(l->k, iov, SGF_REPLY_IOV_MAX));
	}
	free(l);
	atomic_store(&later_done, 1);
	return NULL;
}

static int answer_later(const struct sgf_req *r, struct fuse_attr_out *out, size_t read_size)
{
	struct later *l = malloc(sizeof(*l));
	pthread_t t;

	REQUIRE(l != NULL);
	l->k = sgf_req_keep(r);
	REQUIRE(l->k != NULL);
	l->out = out;
	l->ino = r->nodeid;
	l->read_size = read_size;
	/* fill the real attributes, then let the thread decide the rest */
	if (out)
		sh_getattr(r, r->nodeid, NULL, out);
	atomic_store(&later_done, 0);
	REQUIRE(pthread_create(&t, NULL, later_thread, l) == 0);
	pthread_detach(t);
	return SGF_DEFER;
}

/* ---- the never-answered request ------------------------------------------- */

static pthread_mutex_t never_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sgf_req *never_kept;
static atomic_int rc_in_destroy = 1;
static atomic_int rc_inside, rc_nokeep;

static void misuse_destroy(void *fs)
{
	pthread_mutex_lock(&never_lock);
	struct sgf_req *k = never_kept;
	pthread_mutex_unlock(&never_lock);
	/* The library answered it EIO already: a reply now is refused. */
	if (k)
		atomic_store(&rc_in_destroy, sgf_reply(k, 0));
	sh_destroy_op(fs);
}

/* ---- the operations -------------------------------------------------------- */

static int misuse_getattr(const struct sgf_req *r, uint64_t ino, const struct fuse_getattr_in *in,
			  struct fuse_attr_out *out)
{
	if (ino == ino_double || ino == ino_late_neg || ino == ino_late_defer ||
	    ino == ino_iov_getattr)
		return answer_later(r, out, 0);
	if (ino == ino_inside) {
		struct sgf_req *k = sgf_req_keep(r);
		sh_getattr(r, ino, in, out);
		out->attr.size = SIZE_INSIDE;
		atomic_store(&rc_inside, sgf_reply(k, 0));
		return -EACCES; /* a second answer: refused */
	}
	if (ino == ino_inside_nokeep) {
		/* Not kept: there is nothing to reply through. */
		atomic_store(&rc_nokeep, sgf_reply((struct sgf_req *)r, -EPERM));
		sh_getattr(r, ino, in, out);
		out->attr.size = SIZE_NOKEEP;
		return 0;
	}
	if (ino == ino_nokeep_defer)
		return SGF_DEFER;
	if (ino == ino_neg)
		return -5000;
	if (ino == ino_never) {
		struct sgf_req *k = sgf_req_keep(r);
		pthread_mutex_lock(&never_lock);
		never_kept = k;
		pthread_mutex_unlock(&never_lock);
		return SGF_DEFER;
	}
	return sh_getattr(r, ino, in, out);
}

static ssize_t misuse_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			   const struct iovec *iov, int iovcnt)
{
	if (ino == ino_iov_big || ino == ino_iov_ok)
		return answer_later(r, NULL, in->size);
	ssize_t n = sh_read(r, ino, in, iov, iovcnt);

	if (ino == ino_bigread)
		return (ssize_t)in->size + 1;
	if (ino == ino_bigread2)
		return (ssize_t)0x80000000L;
	return n;
}

static ssize_t misuse_write(const struct sgf_req *r, uint64_t ino, const struct fuse_write_in *in,
			    const struct iovec *iov, int iovcnt)
{
	ssize_t n = sh_write(r, ino, in, iov, iovcnt);

	if (ino == ino_bigwrite && n >= 0)
		return (ssize_t)in->size + 1;
	return n;
}

static struct sh_fs *new_fs(void)
{
	struct sh_fs *fs = sh_fs_new();
	char data[4096];

	memset(data, 'd', sizeof(data));
	fs->open_flags = FOPEN_DIRECT_IO;
	ino_double = sh_fs_add(fs, 1, "double", S_IFREG | 0644, data, 10);
	ino_inside = sh_fs_add(fs, 1, "inside", S_IFREG | 0644, data, 10);
	ino_inside_nokeep = sh_fs_add(fs, 1, "inside-nokeep", S_IFREG | 0644, data, 10);
	ino_nokeep_defer = sh_fs_add(fs, 1, "nokeep-defer", S_IFREG | 0644, data, 10);
	ino_neg = sh_fs_add(fs, 1, "neg", S_IFREG | 0644, data, 10);
	ino_late_neg = sh_fs_add(fs, 1, "late-neg", S_IFREG | 0644, data, 10);
	ino_late_defer = sh_fs_add(fs, 1, "late-defer", S_IFREG | 0644, data, 10);
	ino_never = sh_fs_add(fs, 1, "never", S_IFREG | 0644, data, 10);
	ino_bigread = sh_fs_add(fs, 1, "bigread", S_IFREG | 0644, data, sizeof(data));
	ino_bigread2 = sh_fs_add(fs, 1, "bigread2", S_IFREG | 0644, data, sizeof(data));
	ino_bigwrite = sh_fs_add(fs, 1, "bigwrite", S_IFREG | 0644, data, sizeof(data));
	ino_iov_getattr = sh_fs_add(fs, 1, "iov-getattr", S_IFREG | 0644, data, 10);
	ino_iov_big = sh_fs_add(fs, 1, "iov-big", S_IFREG | 0644, data, sizeof(data));
	ino_iov_ok = sh_fs_add(fs, 1, "iov-ok", S_IFREG | 0644, data, sizeof(data));
	sh_fs_add(fs, 1, "plain", S_IFREG | 0644, data, 42);
	return fs;
}

static void misuse_ops(struct sgf_ops *ops)
{
	sh_ops_fill(ops);
	ops->getattr = misuse_getattr;
	ops->read = misuse_read;
	ops->write = misuse_write;
	ops->destroy = misuse_destroy;
}

/* ---- through the kernel ---------------------------------------------------- */

static struct sh_srv srv;

struct delta {
	struct sgf_stats before;
};

static void mark(struct delta *d)
{
	sh_srv_stats(&srv, &d->before);
}

/* Refused replies and GETATTR error replies sent since mark(). A refusal
 * may be counted just after the requester got its answer (a value returned
 * after the reply went out): wait a little for want_refused of them, then
 * take the counts as they are. */
static void deltas_want(struct delta *d, long want_refused, long *refused, long *getattr_errors)
{
	struct sgf_stats now;
	double end = sh_now() + 2.0;

	for (;;) {
		sh_srv_stats(&srv, &now);
		*refused = (long)(now.refused - d->before.refused);
		if (*refused >= want_refused || sh_now() > end)
			break;
		sh_msleep(1);
	}
	sh_msleep(20); /* and no more than that arrive */
	sh_srv_stats(&srv, &now);
	*refused = (long)(now.refused - d->before.refused);
	*getattr_errors = (long)(now.errors[FUSE_GETATTR] - d->before.errors[FUSE_GETATTR]);
}

#define deltas(d, refused, errs) deltas_want((d), 1, (refused), (errs))

/* A GETATTR whatever the kernel cached. */
static int getattr_of(const char *name, struct statx *stx)
{
	char path[PATH_MAX + 16];

	memset(stx, 0, sizeof(*stx));
	return statx(AT_FDCWD, SH_PATH(path, name), AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, stx);
}

static void test_double_reply(void)
{
	struct delta d;
	struct statx stx;
	long refused, errs;

	mark(&d);
	CHECK_OK(getattr_of("double", &stx));
	CHECK_EQ(stx.stx_size, SIZE_FIRST); /* the first answer */
	CHECK(SH_WAIT_UNTIL(atomic_load(&later_done), 5000));
	CHECK_RET(atomic_load(&rc_first), 0);
	CHECK_RET(atomic_load(&rc_second), -EALREADY);
	deltas(&d, &refused, &errs);
	CHECK_EQ(refused, 1);
	CHECK_EQ(errs, 0); /* the -EPERM never went out */
	/* and the next request is answered on its own */
	CHECK_OK(getattr_of("plain", &stx));
	CHECK_EQ(stx.stx_size, 42);
}

static void test_reply_inside_then_return(void)
{
	struct delta d;
	struct statx stx;
	long refused, errs;

	mark(&d);
	CHECK_OK(getattr_of("inside", &stx));
	CHECK_EQ(stx.stx_size, SIZE_INSIDE);
	CHECK_RET(atomic_load(&rc_inside), 0);
	deltas(&d, &refused, &errs);
	CHECK_EQ(refused, 1);
	CHECK_EQ(errs, 0); /* no EACCES on the wire */

	/* sgf_reply on a request that was not kept is refused; the returned
	 * value is the answer. */
	mark(&d);
	CHECK_OK(getattr_of("inside-nokeep", &stx));
	CHECK_EQ(stx.stx_size, SIZE_NOKEEP);
	CHECK(atomic_load(&rc_nokeep) < 0);
	deltas(&d, &refused, &errs);
	CHECK_EQ(refused, 1);
	CHECK_EQ(errs, 0);
}

static void test_eio_results(void)
{
	struct delta d;
	struct statx stx;
	long refused, errs;
	char path[PATH_MAX + 16], buf[4096];

	struct {
		const char *name;
		bool later;
	} cases[] = {
		{ "nokeep-defer", false }, /* SGF_DEFER without sgf_req_keep */
		{ "neg", false },          /* -5000 */
		{ "late-neg", true },      /* sgf_reply(k, -100000) */
		{ "late-defer", true },    /* sgf_reply(k, SGF_DEFER) */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mark(&d);
		errno = 0;
		int ret = getattr_of(cases[i].name, &stx);
		if (ret != -1 || errno != EIO)
			sh_fail(__FILE__, __LINE__, "getattr of %s: %d/%s, want -1/EIO",
				cases[i].name, ret, strerrorname_np(errno));
		if (cases[i].later)
			CHECK(SH_WAIT_UNTIL(atomic_load(&later_done), 5000));
		deltas(&d, &refused, &errs);
		if (refused != 1)
			sh_fail(__FILE__, __LINE__, "%s: stats.refused grew by %ld, want 1",
				cases[i].name, refused);
		CHECK_EQ(errs, 1);
	}

	/* READ answering more than asked, WRITE claiming more than it got. */
	const char *reads[] = { "bigread", "bigread2" };
	for (size_t i = 0; i < 2; i++) {
		int fd = open(SH_PATH(path, reads[i]), O_RDONLY);
		CHECK(fd >= 0);
		mark(&d);
		errno = 0;
		ssize_t n = pread(fd, buf, 100, 0);
		if (n != -1 || errno != EIO)
			sh_fail(__FILE__, __LINE__, "READ of %s answering too much: %zd/%s, want "
				"-1/EIO", reads[i], n, strerrorname_np(errno));
		deltas(&d, &refused, &errs);
		if (refused != 1)
			sh_fail(__FILE__, __LINE__, "READ of %s answering too much: stats.refused "
				"grew by %ld, want 1", reads[i], refused);
		close(fd);
	}
	int fd = open(SH_PATH(path, "bigwrite"), O_WRONLY);
	CHECK(fd >= 0);
	mark(&d);
	memset(buf, 'w', 100);
	errno = 0;
	ssize_t n = pwrite(fd, buf, 100, 0);
	if (n != -1 || errno != EIO)
		sh_fail(__FILE__, __LINE__, "WRITE claiming too much: %zd/%s, want -1/EIO", n,
			strerrorname_np(errno));
	deltas(&d, &refused, &errs);
	if (refused != 1)
		sh_fail(__FILE__, __LINE__, "WRITE claiming too much: stats.refused grew by %ld, "
			"want 1", refused);
	close(fd);
}

/* sgf_reply_iov: refused for another opcode and for too many pieces (the
 * request stays kept), EIO for more bytes than asked, the data otherwise. */
static void test_reply_iov(void)
{
	struct delta d;
	struct statx stx;
	long refused, errs;
	char path[PATH_MAX + 16], buf[100];

	mark(&d);
	CHECK_OK(getattr_of("iov-getattr", &stx));
	CHECK_EQ(stx.stx_size, SIZE_IOV_GETATTR);
	CHECK(SH_WAIT_UNTIL(atomic_load(&later_done), 5000));
	CHECK_RET(atomic_load(&rc_first), -EINVAL);
	CHECK_RET(atomic_load(&rc_second), 0);
	deltas_want(&d, 0, &refused, &errs);
	CHECK_EQ(refused, 0);
	CHECK_EQ(errs, 0);

	int fd = open(SH_PATH(path, "iov-big"), O_RDONLY);
	CHECK(fd >= 0);
	mark(&d);
	errno = 0;
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	if (n != -1 || errno != EIO)
		sh_fail(__FILE__, __LINE__, "sgf_reply_iov of more than asked: pread %zd/%s, want "
			"-1/EIO", n, strerrorname_np(errno));
	CHECK(SH_WAIT_UNTIL(atomic_load(&later_done), 5000));
	CHECK_RET(atomic_load(&rc_first), -EINVAL);
	deltas(&d, &refused, &errs);
	if (refused != 1)
		sh_fail(__FILE__, __LINE__, "sgf_reply_iov of more than asked: stats.refused grew "
			"by %ld, want 1", refused);
	close(fd);

	fd = open(SH_PATH(path, "iov-ok"), O_RDONLY);
	CHECK(fd >= 0);
	mark(&d);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(pread(fd, buf, sizeof(buf), 0), 8 * SGF_REPLY_IOV_MAX);
	for (int i = 0; i < SGF_REPLY_IOV_MAX; i++)
		CHECK(memcmp(buf + 8 * i, iov_bytes + 8 * i % 64, 8) == 0);
	CHECK(SH_WAIT_UNTIL(atomic_load(&later_done), 5000));
	CHECK_RET(atomic_load(&rc_first), 0);
	deltas_want(&d, 0, &refused, &errs);
	CHECK_EQ(refused, 0);
	close(fd);
}

static atomic_int never_ret, never_errno;

static void *never_thread(void *arg)
{
	struct statx stx;

	(void)arg;
	errno = 0;
	atomic_store(&never_ret, getattr_of("never", &stx));
	atomic_store(&never_errno, errno);
	return NULL;
}

static bool never_is_kept(void)
{
	pthread_mutex_lock(&never_lock);
	bool kept = never_kept != NULL;
	pthread_mutex_unlock(&never_lock);
	return kept;
}

/* Last: ends the session with a kept request nobody answers. */
static void test_never_answered(struct sh_fs *fs)
{
	struct sgf_stats st;
	pthread_t t;

	REQUIRE(pthread_create(&t, NULL, never_thread, NULL) == 0);
	REQUIRE(SH_WAIT_UNTIL(never_is_kept(), 5000));
	sh_msleep(50);
	sgf_server_exit(srv.srv);
	CHECK_EQ(sh_srv_join(&srv, 10000), 0);
	pthread_join(t, NULL);
	int e = atomic_load(&never_errno);
	if (atomic_load(&never_ret) != -1 || (e != EIO && e != ENOTCONN))
		sh_fail(__FILE__, __LINE__, "the never-answered GETATTR: %d/%s, want -1/EIO or "
			"ENOTCONN", atomic_load(&never_ret), strerrorname_np(e));
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	CHECK_RET(atomic_load(&rc_in_destroy), -EALREADY);
	sh_srv_stats(&srv, &st);
	CHECK_EQ(st.abandoned, 1);
	uint64_t refused = st.refused;

	/* After sgf_server_run returned, before sgf_server_destroy: refused,
	 * and counted. */
	CHECK_RET(sgf_reply(never_kept, 0), -EALREADY);
	sh_srv_stats(&srv, &st);
	if (st.refused != refused + 1)
		sh_fail(__FILE__, __LINE__, "reply after sgf_server_run returned: stats.refused "
			"%" PRIu64 ", want %" PRIu64, st.refused, refused + 1);
	CHECK_EQ(st.abandoned, 1);
	sh_srv_destroy(&srv);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
}

/* ---- over a socket: the stream shows any second reply --------------------- */

static void test_double_reply_socket(void)
{
	struct sgf_ops ops;
	struct sh_fs *fs = new_fs();
	struct sh_srv s;
	struct sgf_client *c;
	struct fuse_attr_out ao;
	struct sgf_stats cst, sst;

	misuse_ops(&ops);
	sh_srv_new(&s, &ops, sizeof(ops), fs, NULL);
	int fd = sh_srv_attach(&s);
	REQUIRE(sgf_client_attach(fd, NULL, &c) == 0);
	CHECK_RET(sgf_getattr(c, ino_double, &ao), 0);
	CHECK_EQ(ao.attr.size, SIZE_FIRST);
	CHECK(SH_WAIT_UNTIL(atomic_load(&later_done), 5000));
	CHECK_RET(atomic_load(&rc_second), -EALREADY);
	/* A stray second reply would be on the stream before this one. */
	CHECK_RET(sgf_getattr(c, FUSE_ROOT_ID, &ao), 0);
	CHECK_RET(sgf_getattr(c, ino_inside, &ao), 0);
	CHECK_EQ(ao.attr.size, SIZE_INSIDE);
	CHECK_RET(sgf_getattr(c, FUSE_ROOT_ID, &ao), 0);
	sgf_stats_snapshot(sgf_client_stats(c), &cst);
	CHECK_EQ(cst.malformed, 0);
	CHECK_EQ(cst.errors[FUSE_GETATTR], 0);
	/* the second refusal is counted when the operation returns, maybe
	 * just after its reply arrived */
	SH_WAIT_UNTIL((sh_srv_stats(&s, &sst), sst.refused >= 2), 2000);
	sh_msleep(20);
	sh_srv_stats(&s, &sst);
	CHECK_EQ(sst.refused, 2);
	CHECK_EQ(sst.errors[FUSE_GETATTR], 0);
	CHECK_RET(sgf_client_disconnect(c), 0);
	CHECK_EQ(sh_srv_join(&s, 10000), 0);
	sh_srv_destroy(&s);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	sh_fs_free(fs);
}

int main(void)
{
	struct sgf_ops ops;
	struct sh_fs *fs;

	sh_init("test_reply_misuse", 90, 0);
	test_double_reply_socket();

	fs = new_fs();
	misuse_ops(&ops);
	sh_srv_new(&srv, &ops, sizeof(ops), fs, NULL);
	sh_srv_mount(&srv);
	test_double_reply();
	test_reply_inside_then_return();
	test_eio_results();
	test_reply_iov();
	test_never_answered(fs);
	CHECK(!sh_is_mounted(sh_mnt()));
	sh_fs_free(fs);
	return sh_finish();
}
