/* tests/interop/test_interop_libfuse.c - our client against a libfuse3
 * low-level server (custom io over a stream socket): INIT with a peer we did
 * not write, metadata round trips, and packed readv/writev whose request
 * sizes, as the server counted them, match the shapes the kernel sends
 * (see tests/mounted/test_request_shape.c), with every byte verified on
 * both sides. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include "check.h"
#include "libfuse_server.h"

#define PAGE 4096u
#define MiB (1024u * 1024u)
#define MAX_LOG 8192

static uint32_t sizes[MAX_LOG];
static uint8_t *scratch;   /* server-side contents land here */

static uint8_t pat(uint64_t off, unsigned salt)
{
	return (uint8_t)((off * 131 + (off >> 12) * 7 + salt) & 0xff);
}

static void fill(struct iovec *iov, int n, uint64_t off, unsigned salt)
{
	for (int i = 0; i < n; i++) {
		uint8_t *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j++)
			p[j] = pat(off++, salt);
	}
}

static bool matches(const struct iovec *iov, int n, uint64_t off, unsigned salt)
{
	for (int i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j++)
			if (p[j] != pat(off++, salt))
				return false;
	}
	return true;
}

/* The server's sizes of kind (0 read, 1 write) equal want[0..n). */
static void check_sizes(struct lfs *s, int write, const uint32_t *want, size_t n,
			const char *ctx)
{
	size_t got = lfs_take_sizes(s, write, sizes, MAX_LOG);
	CHECK_EQ_CTX(got, n, ctx);
	for (size_t i = 0; i < n && i < got; i++)
		CHECK_EQ_CTX(sizes[i], want[i], ctx);
}

/* All sizes seen equal size, count of them. */
static void check_uniform(struct lfs *s, int write, uint32_t size, size_t count, const char *ctx)
{
	size_t got = lfs_take_sizes(s, write, sizes, MAX_LOG);
	CHECK_EQ_CTX(got, count, ctx);
	for (size_t i = 0; i < got && i < MAX_LOG; i++)
		CHECK_EQ_CTX(sizes[i], size, ctx);
}

/* The server's copy of "data" from off matches iov's bytes. */
static void check_server_copy(struct lfs *s, const struct iovec *iov, int n, uint64_t off,
			      const char *ctx)
{
	long size = lfs_file_contents(s, "data", scratch, 16 * MiB);
	size_t total = 0;
	CHECK(size >= 0);
	for (int i = 0; i < n; i++) {
		CHECK_EQ_CTX(memcmp(scratch + off + total, iov[i].iov_base, iov[i].iov_len), 0,
			     ctx);
		total += iov[i].iov_len;
	}
	CHECK(off + total <= (uint64_t)size);
}

static int name_seen(void *ctx, const struct sgf_dirent *e)
{
	const char *want = ((const char **)ctx)[0];
	if (e->namelen == strlen(want) && memcmp(e->name, want, e->namelen) == 0)
		((const char **)ctx)[1] = "found";
	return 0;
}

static bool dir_has(struct sgf_client *c, const char *name)
{
	const char *ctx[2] = { name, NULL };
	CHECK_EQ(sgf_list_dir(c, FUSE_ROOT_ID, name_seen, ctx), 0);
	return ctx[1] != NULL;
}

static void metadata(struct sgf_client *c, struct sgf_file *f)
{
	struct fuse_entry_out e;
	struct fuse_attr_out a;
	struct fuse_kstatfs st;

	CHECK_EQ(sgf_lookup_path(c, "/data", &e), 0);
	CHECK_EQ(e.nodeid, f->nodeid);
	sgf_forget(c, e.nodeid, 1);
	CHECK_EQ(sgf_lookup_path(c, "/./missing/../data", &e), -ENOENT);
	CHECK_EQ(sgf_lookup_path(c, "./data/..", &e), 0);
	CHECK_EQ(e.nodeid, FUSE_ROOT_ID);
	CHECK(S_ISDIR(e.attr.mode));
	CHECK_EQ(sgf_getattr(c, f->nodeid, &a), 0);
	CHECK(S_ISREG(a.attr.mode));
	CHECK_EQ(sgf_truncate(c, f->nodeid, 5000), 0);
	CHECK_EQ(sgf_getattr(c, f->nodeid, &a), 0);
	CHECK_EQ(a.attr.size, 5000);
	CHECK_EQ(sgf_chmod(c, f->nodeid, 0600), 0);
	CHECK_EQ(sgf_getattr(c, f->nodeid, &a), 0);
	CHECK_EQ(a.attr.mode & 07777, 0600);

	CHECK_EQ(sgf_mkdir(c, FUSE_ROOT_ID, "dir", 0755, &e), 0);
	CHECK(S_ISDIR(e.attr.mode));
	sgf_forget(c, e.nodeid, 1);
	CHECK(dir_has(c, "dir"));
	CHECK(dir_has(c, "data"));
	CHECK(dir_has(c, ".."));
	CHECK(!dir_has(c, "nothing"));
	CHECK_EQ(sgf_mkdir(c, FUSE_ROOT_ID, "dir", 0755, &e), -EEXIST);
	CHECK_EQ(sgf_unlink(c, FUSE_ROOT_ID, "dir"), -EISDIR);
	CHECK_EQ(sgf_rmdir(c, FUSE_ROOT_ID, "dir"), 0);
	CHECK_EQ(sgf_lookup(c, FUSE_ROOT_ID, "dir", &e), -ENOENT);
	CHECK_EQ(sgf_lookup(c, FUSE_ROOT_ID, "a/b", &e), -EINVAL);
	/* libfuse answers STATFS itself when the filesystem has no statfs. */
	CHECK_EQ(sgf_statfs(c, FUSE_ROOT_ID, &st), 0);
	CHECK_EQ(st.namelen, 255);
	/* Neither FLUSH nor FSYNC is implemented: the server's ENOSYS comes back. */
	int r = sgf_flush(c, f);
	CHECK(r == 0 || r == -ENOSYS);
	r = sgf_fsync(c, f, true);
	CHECK(r == 0 || r == -ENOSYS);
}

static void design_cases(struct lfs *s, struct sgf_client *c, const struct sgf_file *f,
			 uint8_t *arena, uint8_t *back)
{
	static struct iovec iov[300], rv[300];
	static const uint32_t w300[] = { 25600, 4400 };
	static const uint32_t w4m[] = { 1048476, 1048576, 1048576, 1048576, 100 };
	static const uint32_t w32[] = { 131072 };

	/* 300 x 100 B, one per page */
	for (int i = 0; i < 300; i++) {
		iov[i] = (struct iovec){ arena + (size_t)i * PAGE, 100 };
		rv[i] = (struct iovec){ back + (size_t)i * PAGE + 7, 100 };
	}
	fill(iov, 300, 0, 1);
	CHECK_EQ(sgf_pwritev(c, f, iov, 300, 0), 30000);
	check_sizes(s, 1, w300, 2, "300x100 writev");
	check_server_copy(s, iov, 300, 0, "300x100 writev");
	CHECK_EQ(sgf_preadv(c, f, iov, 300, 0), 30000);
	check_sizes(s, 0, w300, 2, "300x100 readv");
	CHECK(matches(iov, 300, 0, 1));
	/* The same range into segments at another page offset: 2 requests too
	 * (each 100 B segment still sits in one page). */
	CHECK_EQ(sgf_preadv(c, f, rv, 300, 0), 30000);
	CHECK(matches(rv, 300, 0, 1));
	check_sizes(s, 0, w300, 2, "300x100 readv at +7");

	sgf_client_set_policy(c, SGF_DIO_PER_SEGMENT);
	fill(iov, 300, 0, 2);
	CHECK_EQ(sgf_pwritev(c, f, iov, 300, 0), 30000);
	check_uniform(s, 1, 100, 300, "300x100 writev per segment");
	CHECK_EQ(sgf_preadv(c, f, rv, 300, 0), 30000);
	check_uniform(s, 0, 100, 300, "300x100 readv per segment");
	CHECK(matches(rv, 300, 0, 2));
	sgf_client_set_policy(c, SGF_DIO_PACKED);

	/* 4 MiB from a buffer at page offset 100 */
	iov[0] = (struct iovec){ arena + 100, 4 * MiB };
	fill(iov, 1, 0, 3);
	CHECK_EQ(sgf_pwritev(c, f, iov, 1, 0), 4 * MiB);
	check_sizes(s, 1, w4m, 5, "4 MiB at +100 write");
	check_server_copy(s, iov, 1, 0, "4 MiB at +100 write");
	rv[0] = (struct iovec){ back + 100, 4 * MiB };
	memset(back, 0, 4 * MiB + 200);
	CHECK_EQ(sgf_preadv(c, f, rv, 1, 0), 4 * MiB);
	check_sizes(s, 0, w4m, 5, "4 MiB at +100 read");
	CHECK(matches(rv, 1, 0, 3));

	/* 32 x 4 KiB aligned */
	for (int i = 0; i < 32; i++)
		iov[i] = (struct iovec){ arena + (size_t)i * 2 * PAGE, PAGE };
	fill(iov, 32, 8192, 4);
	CHECK_EQ(sgf_pwritev(c, f, iov, 32, 8192), 131072);
	check_sizes(s, 1, w32, 1, "32x4K write");
	check_server_copy(s, iov, 32, 8192, "32x4K write");
	sgf_client_set_policy(c, SGF_DIO_PER_SEGMENT);
	CHECK_EQ(sgf_pwritev(c, f, iov, 32, 8192), 131072);
	check_uniform(s, 1, PAGE, 32, "32x4K write per segment");
	sgf_client_set_policy(c, SGF_DIO_PACKED);

	/* Across end of file: the short reply ends the call. */
	CHECK_EQ(sgf_pread(c, f, back, 3 * MiB, 4 * MiB - 1000), 1000);
	CHECK_EQ(sgf_pread(c, f, back, 100, 4 * MiB), 0);
}

/* Writers on disjoint ranges of one file through one connection. */
struct worker {
	struct sgf_client *c;
	const struct sgf_file *f;
	unsigned id;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *buf = aligned_alloc(PAGE, 64 * PAGE);
	uint8_t *in = aligned_alloc(PAGE, 64 * PAGE);
	struct iovec iov[16], rv[16];
	uint64_t base = (uint64_t)w->id * 1024 * 1024;

	for (unsigned round = 0; round < 20; round++) {
		int n = 1 + (int)((w->id * 7 + round) % 16);
		for (int i = 0; i < n; i++) {
			iov[i] = (struct iovec){ buf + i * 4 * PAGE + (i * 37) % PAGE, 1000 + i * 300 };
			rv[i] = (struct iovec){ in + i * 4 * PAGE + (i * 53) % PAGE, 1000 + i * 300 };
		}
		uint64_t off = base + round * 4096;
		size_t total = 0;
		for (int i = 0; i < n; i++)
			total += iov[i].iov_len;
		fill(iov, n, off, w->id + round);
		if (sgf_pwritev(w->c, w->f, iov, n, off) != (ssize_t)total)
			w->failures++;
		if (sgf_preadv(w->c, w->f, rv, n, off) != (ssize_t)total ||
		    !matches(rv, n, off, w->id + round))
			w->failures++;
	}
	free(buf);
	free(in);
	return NULL;
}

static void threads(struct sgf_client *c, const struct sgf_file *f)
{
	pthread_t th[4];
	struct worker w[4];

	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ .c = c, .f = f, .id = i };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(w[i].failures, 0);
	}
}

static void session_default(uint8_t *arena, uint8_t *back)
{
	int sv[2];
	struct sgf_client *c = NULL;
	struct sgf_file f;
	struct fuse_entry_out e;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct lfs *s = lfs_start(sv[1], 0);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(sgf_client_attach(sv[0], NULL, &c), 0);
	if (!c) {
		lfs_stop(s);
		return;
	}
	const struct sgf_client_conn *cc = sgf_client_conn(c);
	CHECK_EQ(cc->proto_major, 7);
	CHECK(cc->proto_minor >= 28);
	/* libfuse 3.14: 256-page buffers, max_write 1 MiB, max_pages from it. */
	CHECK_EQ(cc->max_write, MiB);
	CHECK_EQ(cc->max_pages, 256);
	CHECK(cc->flags & FUSE_MAX_PAGES);

	CHECK_EQ(sgf_create(c, FUSE_ROOT_ID, "data", O_RDWR, 0644, &e, &f), 0);
	CHECK_EQ(sgf_create(c, FUSE_ROOT_ID, "data", O_RDWR | O_EXCL, 0644, NULL, &f), -EEXIST);
	CHECK_EQ(sgf_open(c, e.nodeid, O_RDWR | O_TRUNC, &f), 0);
	CHECK_EQ(f.nodeid, e.nodeid);
	design_cases(s, c, &f, arena, back);
	threads(c, &f);
	metadata(c, &f);
	CHECK_EQ(sgf_release(c, &f), 0);
	sgf_forget(c, e.nodeid, 1);
	CHECK_EQ(sgf_unlink(c, FUSE_ROOT_ID, "data"), 0);

	struct sgf_stats *st = sgf_client_stats(c);
	CHECK(__atomic_load_n(&st->count[FUSE_WRITE], __ATOMIC_RELAXED) > 0);
	CHECK_EQ(__atomic_load_n(&st->malformed, __ATOMIC_RELAXED), 0);
	CHECK_EQ(sgf_client_disconnect(c), 0);
	CHECK_EQ(lfs_stop(s), 0);
}

/* libfuse told to use max_write 128 KiB: max_pages follows (32). */
static void session_small(uint8_t *arena)
{
	int sv[2];
	struct sgf_client *c = NULL;
	struct sgf_file f;
	struct iovec iov[32];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct lfs *s = lfs_start(sv[1], 128 * 1024);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(sgf_client_attach(sv[0], NULL, &c), 0);
	if (!c) {
		lfs_stop(s);
		return;
	}
	CHECK_EQ(sgf_client_conn(c)->max_write, 128 * 1024);
	CHECK_EQ(sgf_client_conn(c)->max_pages, 32);
	CHECK_EQ(sgf_create(c, FUSE_ROOT_ID, "data", O_RDWR, 0644, NULL, &f), 0);

	iov[0] = (struct iovec){ arena + 100, 4 * MiB };
	fill(iov, 1, 0, 9);
	CHECK_EQ(sgf_pwritev(c, &f, iov, 1, 0), 4 * MiB);
	size_t n = lfs_take_sizes(s, 1, sizes, MAX_LOG);
	CHECK_EQ(n, 33);
	CHECK_EQ(sizes[0], 32 * PAGE - 100);
	for (size_t i = 1; i < 32 && i < n; i++)
		CHECK_EQ(sizes[i], 32 * PAGE);
	CHECK_EQ(sizes[32], 100);
	check_server_copy(s, iov, 1, 0, "small: 4 MiB at +100");

	for (int i = 0; i < 32; i++)
		iov[i] = (struct iovec){ arena + (size_t)i * PAGE, PAGE };
	CHECK_EQ(sgf_preadv(c, &f, iov, 32, 100), 131072);
	check_uniform(s, 0, 131072, 1, "small: 32x4K read");
	CHECK(matches(iov, 32, 100, 9));
	CHECK_EQ(sgf_release(c, &f), 0);
	CHECK_EQ(sgf_client_disconnect(c), 0);
	CHECK_EQ(lfs_stop(s), 0);
}

/* sgf_client_connect() through a named unix socket. */
struct acceptor {
	int lfd;
	struct lfs *s;
};

static void *accept_main(void *arg)
{
	struct acceptor *a = arg;
	int fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
	a->s = fd >= 0 ? lfs_start(fd, 0) : NULL;
	return NULL;
}

static void session_named_socket(void)
{
	char dir[] = "/tmp/sgf-interop-XXXXXX";
	char addr[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct acceptor a = { .lfd = -1 };
	pthread_t th;
	struct sgf_client *c = NULL;
	struct fuse_attr_out ao;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	snprintf(addr, sizeof(addr), "unix:%s", sa.sun_path);
	a.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(bind(a.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(a.lfd, 1), 0);
	pthread_create(&th, NULL, accept_main, &a);
	CHECK_EQ(sgf_client_connect(addr, NULL, &c), 0);
	pthread_join(th, NULL);
	CHECK(a.s != NULL);
	if (c) {
		CHECK_EQ(sgf_getattr(c, FUSE_ROOT_ID, &ao), 0);
		CHECK(S_ISDIR(ao.attr.mode));
		CHECK_EQ(sgf_client_disconnect(c), 0);
	}
	if (a.s)
		CHECK_EQ(lfs_stop(a.s), 0);
	close(a.lfd);
	unlink(sa.sun_path);
	rmdir(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	uint8_t *arena = aligned_alloc(PAGE, 8 * MiB);
	uint8_t *back = aligned_alloc(PAGE, 8 * MiB);
	scratch = malloc(16 * MiB);
	if (!arena || !back || !scratch)
		return 1;
	session_default(arena, back);
	session_small(arena);
	session_named_socket();
	free(arena);
	free(back);
	free(scratch);
	return check_exit();
}
