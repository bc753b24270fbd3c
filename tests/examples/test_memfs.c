/* tests/examples/test_memfs.c - examples/memfs (argv[1]) mounted by the
 * kernel and on a socket:
 *  - names and attributes through real system calls: mkdir, create, write
 *    and read back, rename (plain, over an existing name, RENAME_NOREPLACE,
 *    RENAME_EXCHANGE), unlink, rmdir, listing, truncate, chmod, times,
 *    mknod, statfs;
 *  - O_DIRECT pwritev/preadv of 32 x 4 KiB at random offsets from 16 threads
 *    at once against a model, with latency_us=200 and deferred replies, then
 *    the same answered synchronously (defer=0); the statistics say which
 *    path served them;
 *  - through the client over --listen: create, pwritev/preadv of 32
 *    segments, and the lookup counting seen in statfs's inode count. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sgfuse/client.h>
#include "ex_util.h"

#define SEGS 32
#define SEG EX_PAGE
#define CALL (SEGS * SEG)        /* bytes per preadv/pwritev */
#define THREADS 16
#define REGION (1024u * 1024u)   /* each thread's own part of the file */
#define ROUNDS 40                /* calls per thread */
#define FILE_SIZE (THREADS * REGION)

static char *model;              /* what the file must hold */

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return *x;
}

static int count_entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static bool has_entry(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL)
		found = strcmp(de->d_name, name) == 0;
	closedir(d);
	return found;
}

/* Nodes memfs holds (its statfs counts them: files - ffree), once the
 * kernel's FORGETs for evicted inodes have arrived (they are queued, not
 * answered): polls until want or 5 s. */
static uint64_t nodes_settle(uint64_t want)
{
	struct statvfs sv;
	uint64_t n = UINT64_MAX;

	for (int i = 0; i < 500; i++) {
		if (statvfs(h_mnt(), &sv) != 0)
			return UINT64_MAX;
		n = sv.f_files - sv.f_ffree;
		if (n == want)
			break;
		ex_msleep(10);
	}
	return n;
}

static void names_and_attributes(void)
{
	char a[PATH_MAX], b[PATH_MAX], f[PATH_MAX], g[PATH_MAX], buf[PATH_MAX + 64];
	const char *m = h_mnt();
	struct stat st;
	struct statvfs sv;
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1500000000, 987654321 } };
	int fd;

	/* mkdir, create, write, read back */
	snprintf(a, sizeof(a), "%s/a", m);
	snprintf(b, sizeof(b), "%s/a/b", m);
	CHECK_OK(mkdir(a, 0755));
	CHECK_OK(mkdir(b, 0700));
	CHECK_ERR(mkdir(a, 0755), EEXIST);
	CHECK_OK(stat(b, &st));
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0700);
	CHECK_OK(stat(a, &st));
	CHECK_EQ(st.st_nlink, 3); /* ".", its name, b's ".." */

	snprintf(f, sizeof(f), "%s/a/f", m);
	CHECK_EQ(h_write_file(f, "hello world\n", 12), 0);
	CHECK_EQ(h_read_file(f, buf, sizeof(buf)), 12);
	CHECK(strcmp(buf, "hello world\n") == 0);
	CHECK_OK(stat(f, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(st.st_size, 12);
	CHECK_EQ(st.st_nlink, 1);
	CHECK_ERR(open(f, O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);

	/* append, then a write past the end leaves a hole of zeroes */
	fd = open(f, O_WRONLY | O_APPEND);
	CHECK_OK(fd);
	CHECK_EQ(write(fd, "more\n", 5), 5);
	close(fd);
	fd = open(f, O_WRONLY);
	CHECK_OK(fd);
	CHECK_EQ(pwrite(fd, "X", 1, 100), 1);
	close(fd);
	CHECK_EQ(h_read_file(f, buf, sizeof(buf)), 101);
	CHECK(memcmp(buf, "hello world\nmore\n", 17) == 0);
	CHECK(buf[17] == 0 && buf[99] == 0 && buf[100] == 'X');

	/* truncate, chmod, times */
	CHECK_OK(truncate(f, 5));
	CHECK_OK(stat(f, &st));
	CHECK_EQ(st.st_size, 5);
	CHECK_OK(truncate(f, 8192));
	CHECK_EQ(h_read_file(f, buf, 256), 255);
	CHECK(memcmp(buf, "hello\0\0\0", 8) == 0);
	CHECK_OK(truncate(f, 12));
	CHECK_OK(chmod(f, 0600));
	CHECK_OK(utimensat(AT_FDCWD, f, ts, 0));
	CHECK_OK(stat(f, &st));
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_size, 12);
	CHECK_EQ(st.st_atim.tv_sec, ts[0].tv_sec);
	CHECK_EQ(st.st_mtim.tv_sec, ts[1].tv_sec);
	CHECK_EQ(st.st_mtim.tv_nsec, ts[1].tv_nsec);
	CHECK_ERR(truncate(a, 0), EISDIR);

	/* rename: plain, across directories */
	snprintf(g, sizeof(g), "%s/a/b/g", m);
	CHECK_OK(rename(f, g));
	CHECK_ERR(stat(f, &st), ENOENT);
	CHECK_EQ(h_read_file(g, buf, sizeof(buf)), 12);
	CHECK(memcmp(buf, "hello\0\0\0", 8) == 0);
	CHECK(has_entry(b, "g"));
	CHECK(!has_entry(a, "f"));
	/* RENAME_NOREPLACE onto an existing name, then over it (flags 0) */
	CHECK_EQ(h_write_file(f, "second", 6), 0);
	CHECK_ERR(renameat2(AT_FDCWD, f, AT_FDCWD, g, RENAME_NOREPLACE), EEXIST);
	CHECK_EQ(h_read_file(g, buf, sizeof(buf)), 12);
	CHECK_OK(renameat2(AT_FDCWD, g, AT_FDCWD, H_PATH(buf, b, "h"), RENAME_NOREPLACE));
	CHECK_OK(rename(H_PATH(buf, b, "h"), g));
	CHECK_OK(rename(f, g));
	CHECK_ERR(stat(f, &st), ENOENT);
	CHECK_EQ(h_read_file(g, buf, sizeof(buf)), 6);
	CHECK(strcmp(buf, "second") == 0);
	/* RENAME_EXCHANGE: a file and a directory swap names */
	CHECK_OK(mkdir(H_PATH(buf, a, "sub"), 0755));
	CHECK_OK(renameat2(AT_FDCWD, g, AT_FDCWD, buf, RENAME_EXCHANGE));
	CHECK_OK(stat(buf, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK_OK(stat(g, &st));
	CHECK(S_ISDIR(st.st_mode));
	/* and back: a/sub is the directory again, g the file */
	CHECK_OK(renameat2(AT_FDCWD, g, AT_FDCWD, buf, RENAME_EXCHANGE));
	CHECK_OK(stat(buf, &st));
	CHECK(S_ISDIR(st.st_mode));
	CHECK_OK(rmdir(H_PATH(buf, a, "sub")));
	CHECK_EQ(h_read_file(g, buf, sizeof(buf)), 6);
	/* a directory into its own subtree */
	CHECK_ERR(rename(a, H_PATH(buf, b, "loop")), EINVAL);

	/* rmdir non-empty, unlink a directory, rmdir a file */
	CHECK_ERR(rmdir(b), ENOTEMPTY);
	CHECK_ERR(unlink(b), EISDIR);
	CHECK_ERR(rmdir(g), ENOTDIR);
	CHECK_OK(unlink(g));
	CHECK_ERR(unlink(g), ENOENT);
	CHECK_OK(rmdir(b));
	CHECK_OK(stat(a, &st));
	CHECK_EQ(st.st_nlink, 2);

	/* mknod: regular files only */
	CHECK_OK(mknod(H_PATH(buf, a, "node"), S_IFREG | 0644, 0));
	CHECK_OK(stat(buf, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK_OK(unlink(buf));
	CHECK_ERR(mknod(H_PATH(buf, a, "fifo"), S_IFIFO | 0644, 0), EPERM);

	/* a listing of many names (several READDIR replies) */
	for (int i = 0; i < 300; i++) {
		snprintf(buf, sizeof(buf), "%s/entry-with-a-longish-name-%03d", a, i);
		fd = open(buf, O_WRONLY | O_CREAT, 0644);
		CHECK_OK(fd);
		if (fd >= 0)
			close(fd);
	}
	CHECK_EQ(count_entries(a, "entry-with-a-longish-name-"), 300);
	/* Lookup counting: everything removed so far was forgotten and freed;
	 * the root, a and its 300 files remain. */
	CHECK_EQ(nodes_settle(302), 302);
	for (int i = 0; i < 300; i += 2) {
		snprintf(buf, sizeof(buf), "%s/entry-with-a-longish-name-%03d", a, i);
		CHECK_OK(unlink(buf));
	}
	CHECK_EQ(count_entries(a, "entry-with-a-longish-name-"), 150);
	CHECK_EQ(count_entries(a, "."), 2);
	for (int i = 1; i < 300; i += 2) {
		snprintf(buf, sizeof(buf), "%s/entry-with-a-longish-name-%03d", a, i);
		CHECK_OK(unlink(buf));
	}
	CHECK_OK(rmdir(a));
	CHECK_EQ(count_entries(m, ""), 2); /* "." and ".." */

	/* an open, unlinked file keeps its data until closed */
	H_PATH(f, m, "ghost");
	fd = open(f, O_RDWR | O_CREAT, 0644);
	CHECK_OK(fd);
	if (fd >= 0) {
		CHECK_EQ(write(fd, "ghost", 5), 5);
		CHECK_OK(unlink(f));
		CHECK_EQ(pread(fd, buf, 5, 0), 5);
		CHECK(memcmp(buf, "ghost", 5) == 0);
		CHECK_OK(fstat(fd, &st));
		CHECK_EQ(st.st_nlink, 0);
		close(fd);
	}

	/* Every node but the root is gone: unlinked, closed, forgotten. */
	CHECK_EQ(nodes_settle(1), 1);
	CHECK_OK(statvfs(m, &sv));
	CHECK_EQ(sv.f_bsize, 4096);
	CHECK(sv.f_blocks > 0 && sv.f_bfree <= sv.f_blocks);
	CHECK_EQ(sv.f_namemax, 255);
}

struct dio_thread {
	int id;
	const char *path;
	unsigned calls, errors;
	pthread_barrier_t *start;
};

/* Random 4 KiB-aligned offsets in this thread's region: write new data
 * (and the model), or read and compare with the model. */
static void *dio_main(void *arg)
{
	struct dio_thread *t = arg;
	struct ex_vec v;
	uint64_t x = 0x12345 + (uint64_t)t->id * 7919;
	char *data = malloc(CALL);
	int fd = open(t->path, O_RDWR | O_DIRECT);

	if (fd < 0 || data == NULL || ex_vec_new(&v, SEGS, SEG) != 0) {
		t->errors++;
		fprintf(stderr, "thread %d: setup: %s\n", t->id, strerror(errno));
		pthread_barrier_wait(t->start);
		return NULL;
	}
	pthread_barrier_wait(t->start);
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t off = (uint64_t)t->id * REGION +
			       rnd(&x) % ((REGION - CALL) / SEG + 1) * SEG;
		bool write = rnd(&x) % 2;
		ssize_t n;

		if (write) {
			ex_pattern(data, CALL, rnd(&x));
			ex_vec_load(&v, data);
			n = pwritev(fd, v.iov, v.n, (off_t)off);
			if (n == CALL)
				memcpy(model + off, data, CALL);
		} else {
			ex_vec_poison(&v);
			n = preadv(fd, v.iov, v.n, (off_t)off);
			if (n == CALL && !ex_vec_equals(&v, model + off)) {
				fprintf(stderr, "thread %d: preadv at %llu: wrong data\n", t->id,
					(unsigned long long)off);
				t->errors++;
			}
		}
		if (n != CALL) {
			fprintf(stderr, "thread %d: %s at %llu: %zd (%s)\n", t->id,
				write ? "pwritev" : "preadv", (unsigned long long)off, n,
				n < 0 ? strerror(errno) : "short");
			t->errors++;
		}
		t->calls++;
	}
	close(fd);
	ex_vec_free(&v);
	free(data);
	return NULL;
}

/* The file's whole contents against the model, by plain and O_DIRECT reads. */
static void verify_file(const char *path)
{
	char *buf = aligned_alloc(EX_PAGE, FILE_SIZE);
	struct stat st;
	int fd;

	REQUIRE(buf != NULL);
	CHECK_OK(stat(path, &st));
	CHECK_EQ(st.st_size, FILE_SIZE);
	for (int direct = 0; direct < 2; direct++) {
		size_t got = 0;

		fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
		CHECK_OK(fd);
		if (fd < 0)
			continue;
		memset(buf, 0xee, FILE_SIZE);
		while (got < FILE_SIZE) {
			ssize_t n = pread(fd, buf + got, FILE_SIZE - got, (off_t)got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		close(fd);
		CHECK_EQ(got, FILE_SIZE);
		if (memcmp(buf, model, FILE_SIZE) != 0) {
			size_t i = 0;
			while (i < FILE_SIZE && buf[i] == model[i])
				i++;
			h_fail(__FILE__, __LINE__, "%s (%s): differs from the model at %zu",
			       path, direct ? "O_DIRECT" : "cached", i);
		}
	}
	free(buf);
}

/* Mount memfs with opts, run the threads, verify, check the statistics and
 * unmount. */
static void direct_io(const char *opts, bool deferred)
{
	struct dio_thread t[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t start;
	char path[PATH_MAX], stats[16384];
	pid_t pid = ex_mount(opts);
	unsigned calls = 0, errors = 0;
	uint64_t writes, reads;
	double t0;
	int fd;

	printf("direct I/O, %s\n", opts);
	H_PATH(path, h_mnt(), "dio.dat");
	/* The initial contents through the page cache, the model alike. */
	ex_pattern(model, FILE_SIZE, 42);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	for (size_t off = 0; off < FILE_SIZE; off += REGION)
		CHECK_EQ(pwrite(fd, model + off, REGION, (off_t)off), REGION);
	close(fd);

	pthread_barrier_init(&start, NULL, THREADS + 1);
	for (int i = 0; i < THREADS; i++) {
		t[i] = (struct dio_thread){ .id = i, .path = path, .start = &start };
		REQUIRE(pthread_create(&th[i], NULL, dio_main, &t[i]) == 0);
	}
	pthread_barrier_wait(&start);
	t0 = ex_now();
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		calls += t[i].calls;
		errors += t[i].errors;
	}
	printf("  %u calls of %u x %u B from %d threads in %.3f s\n", calls, SEGS, SEG, THREADS,
	       ex_now() - t0);
	pthread_barrier_destroy(&start);
	CHECK_EQ(errors, 0);
	CHECK_EQ(calls, THREADS * ROUNDS);
	verify_file(path);

	CHECK_EQ(h_stats(stats, sizeof(stats)), 0);
	writes = h_stat_op(stats, "WRITE", "count");
	reads = h_stat_op(stats, "READ", "count");
	printf("  server: READ %llu WRITE %llu kept %llu refused %llu abandoned %llu "
	       "buffers_max %llu\n", (unsigned long long)reads, (unsigned long long)writes,
	       (unsigned long long)ex_stat_counter(stats, "kept"),
	       (unsigned long long)ex_stat_counter(stats, "refused"),
	       (unsigned long long)ex_stat_counter(stats, "abandoned"),
	       (unsigned long long)ex_stat_counter(stats, "buffers_max"));
	CHECK(reads > 0 && writes > 0);
	CHECK_EQ(h_stat_op(stats, "READ", "errors") + h_stat_op(stats, "WRITE", "errors"), 0);
	if (deferred)
		CHECK(ex_stat_counter(stats, "kept") >= reads + writes);
	else
		CHECK_EQ(ex_stat_counter(stats, "kept"), 0);
	CHECK_EQ(ex_stat_counter(stats, "refused"), 0);
	CHECK_EQ(ex_stat_counter(stats, "abandoned"), 0);

	CHECK_OK(unlink(path));
	CHECK_EQ(ex_umount(pid), 0);
}

static uint64_t inodes_used(struct sgf_client *c)
{
	struct fuse_kstatfs k;

	if (sgf_statfs(c, FUSE_ROOT_ID, &k) != 0)
		return UINT64_MAX;
	return k.files - k.ffree;
}

/* The same once a FORGET sent before has been handled: it has no reply, and
 * the server's workers may run the next request first. Polls up to 2 s. */
static uint64_t inodes_settle(struct sgf_client *c, uint64_t want)
{
	uint64_t n = inodes_used(c);

	for (int i = 0; i < 200 && n != want; i++) {
		ex_msleep(10);
		n = inodes_used(c);
	}
	return n;
}

static void socket_client(void)
{
	char sock[PATH_MAX], addr[PATH_MAX + 8];
	struct sgf_client *c = NULL, *c2 = NULL;
	struct fuse_entry_out e, e2, d;
	struct fuse_attr_out a;
	struct sgf_file f;
	struct ex_vec v;
	char *data = malloc(CALL);
	uint64_t x = 99, base, end = 0;
	const size_t size = 4u << 20;
	char *file = calloc(1, size);

	REQUIRE(data != NULL && file != NULL && ex_vec_new(&v, SEGS, SEG) == 0);
	ex_listen(ex_sock_path(sock, sizeof(sock), "memfs"), "latency_us=200");
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	REQUIRE(sgf_client_connect(addr, NULL, &c) == 0);
	base = inodes_used(c);
	CHECK_EQ(base, 1); /* the root */

	REQUIRE(sgf_create(c, FUSE_ROOT_ID, "c.dat", O_RDWR, 0644, &e, &f) == 0);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ(e.attr.size, 0);
	/* writes of 32 segments at random offsets, reads checked against the
	 * model, then the whole file */
	for (int i = 0; i < 64; i++) {
		uint64_t off = rnd(&x) % ((size - CALL) / SEG + 1) * SEG;
		size_t want;

		ex_pattern(data, CALL, rnd(&x));
		ex_vec_load(&v, data);
		CHECK_EQ(sgf_pwritev(c, &f, v.iov, v.n, off), CALL);
		memcpy(file + off, data, CALL);
		if (off + CALL > end)
			end = off + CALL;
		/* A read anywhere: short past the end of what was written. */
		off = rnd(&x) % ((size - CALL) / SEG + 1) * SEG;
		want = off >= end ? 0 : end - off < CALL ? end - off : CALL;
		ex_vec_poison(&v);
		CHECK_EQ(sgf_preadv(c, &f, v.iov, v.n, off), want);
		CHECK(ex_vec_equals_n(&v, file + off, want));
	}
	CHECK_EQ(sgf_getattr(c, e.nodeid, &a), 0);
	CHECK_EQ(a.attr.size, end);
	for (uint64_t off = 0; off + CALL <= a.attr.size; off += CALL) {
		CHECK_EQ(sgf_preadv(c, &f, v.iov, v.n, off), CALL);
		CHECK(ex_vec_equals(&v, file + off));
	}
	/* the end: exactly the file's size comes back */
	if (a.attr.size % CALL) {
		uint64_t off = a.attr.size / CALL * CALL;
		CHECK_EQ(sgf_preadv(c, &f, v.iov, v.n, off), a.attr.size - off);
	}
	CHECK_EQ(sgf_preadv(c, &f, v.iov, v.n, a.attr.size), 0);
	CHECK_EQ(sgf_fsync(c, &f, false), 0);
	CHECK_EQ(sgf_flush(c, &f), 0);
	CHECK_EQ(sgf_release(c, &f), 0);
	CHECK_EQ(inodes_used(c), base + 1);

	/* names through the client */
	REQUIRE(sgf_mkdir(c, FUSE_ROOT_ID, "d", 0755, &d) == 0);
	CHECK_EQ(sgf_rename(c, FUSE_ROOT_ID, "c.dat", d.nodeid, "moved", RENAME_NOREPLACE), 0);
	CHECK_EQ(sgf_lookup(c, FUSE_ROOT_ID, "c.dat", &e2), -ENOENT);
	REQUIRE(sgf_lookup(c, d.nodeid, "moved", &e2) == 0);
	CHECK_EQ(e2.nodeid, e.nodeid);
	CHECK_EQ(e2.attr.size, a.attr.size);
	CHECK_EQ(inodes_used(c), base + 2);

	/* Lookup counting: unlinked, the file lives on while we hold our two
	 * references (create + lookup), and goes with the last FORGET. */
	CHECK_EQ(sgf_unlink(c, d.nodeid, "moved"), 0);
	CHECK_EQ(inodes_used(c), base + 2);
	sgf_forget(c, e.nodeid, 1);
	CHECK_EQ(sgf_getattr(c, e.nodeid, &a), 0);
	CHECK_EQ(a.attr.nlink, 0);
	sgf_forget(c, e.nodeid, 1);
	CHECK_EQ(inodes_settle(c, base + 1), base + 1);
	CHECK_EQ(sgf_getattr(c, e.nodeid, &a), -ESTALE);

	/* A session's references go with it: a second connection looks up a
	 * file, the first unlinks it, the second hangs up without FORGET. */
	REQUIRE(sgf_create(c, d.nodeid, "f2", O_RDWR, 0644, &e, &f) == 0);
	CHECK_EQ(sgf_release(c, &f), 0);
	sgf_forget(c, e.nodeid, 1);
	REQUIRE(sgf_client_connect(addr, NULL, &c2) == 0);
	REQUIRE(sgf_lookup(c2, d.nodeid, "f2", &e2) == 0);
	CHECK_EQ(sgf_unlink(c, d.nodeid, "f2"), 0);
	CHECK_EQ(inodes_used(c), base + 2);
	CHECK_EQ(sgf_client_disconnect(c2), 0);
	/* (the other session ends after its DESTROY, asynchronously) */
	CHECK_EQ(inodes_settle(c, base + 1), base + 1);

	CHECK_EQ(sgf_rmdir(c, FUSE_ROOT_ID, "d"), 0);
	sgf_forget(c, d.nodeid, 1);
	CHECK_EQ(inodes_settle(c, base), base);
	CHECK_EQ(sgf_client_disconnect(c), 0);
	CHECK_EQ(h_stop(), 0);
	ex_vec_free(&v);
	free(data);
	free(file);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 110);
	model = malloc(FILE_SIZE);
	REQUIRE(model != NULL);

	pid_t pid = ex_mount("latency_us=200");
	names_and_attributes();
	CHECK_EQ(ex_umount(pid), 0);

	direct_io("latency_us=200,defer=1", true);
	direct_io("latency_us=200,defer=0", false);
	socket_client();
	free(model);
	return h_finish();
}
