/* tests/client/test_client_server.c - our client against our server, in one
 * process: the passthrough filesystem over a temp directory served on one end
 * of a socketpair by the server object (sgf_server_attach, sgf_server_run on
 * a thread), the client on the other.
 * Metadata round trips are checked against the backing directory; request
 * counts against the server's own statistics; and random vectored reads and
 * writes from several threads against an in-memory model and, at the end,
 * against the backing file itself. READs spliced to the socket (large ones)
 * and copied (small ones) are checked at odd offsets, at end of file and
 * after truncation (the splice send itself on a bare socketpair is a
 * channel internal: tests/unit/test_chan_stream.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include <sgfuse/passthrough.h>
#include <sgfuse/server.h>
#include "check.h"

#define PAGE 4096u
#define MiB (1024u * 1024u)
#define THREADS 4
#define REGION (2u * MiB)   /* each thread owns one region of the file */
#define ROUNDS 150

struct server {
	struct sgf_passthrough *pt;
	struct sgf_server *srv;
	pthread_t runner;
	bool running;
	int run_ret;
};

static char backing[] = "/tmp/sgf-client-server-XXXXXX";

static void *server_run(void *arg)
{
	struct server *s = arg;
	s->run_ret = sgf_server_run(s->srv);
	return NULL;
}

/* Serve the backing directory on fd (taken over even on failure) with two
 * workers. 0 or -errno. */
static int server_start(struct server *s, int fd)
{
	struct sgf_server_opts o = { .threads = 2 };
	const struct sgf_ops *ops = sgf_passthrough_ops();
	int err;

	memset(s, 0, sizeof(*s));
	s->run_ret = 1;
	err = sgf_passthrough_new(&s->pt, backing, NULL);
	if (err) {
		close(fd);
		return err;
	}
	err = sgf_server_new(&s->srv, ops, sizeof(*ops), s->pt, &o);
	if (err) {
		close(fd);
		return err;
	}
	err = sgf_server_attach(s->srv, fd);
	if (err == 0)
		err = -pthread_create(&s->runner, NULL, server_run, s);
	s->running = err == 0;
	return err;
}

/* The client hung up: run must return by itself (bounded wait; asked to
 * exit otherwise). Returns what run returned. */
static int server_stop(struct server *s)
{
	struct timespec until;
	int r = -1;

	if (s->running) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 30;
		if (pthread_timedjoin_np(s->runner, NULL, &until) != 0) {
			fprintf(stderr, "FAIL: the server did not end after the disconnect\n");
			check_failures++;
			sgf_server_exit(s->srv);
			pthread_join(s->runner, NULL);
		}
		r = s->run_ret;
	}
	sgf_server_destroy(s->srv);
	sgf_passthrough_free(s->pt);
	return r;
}

/* Requests of opcode op the server has counted so far. */
static uint64_t server_count(struct server *s, uint32_t op)
{
	struct sgf_stats st;
	sgf_server_stats(s->srv, &st);
	return st.count[op];
}

static char *backing_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", backing, name);
	return buf;
}

static int name_seen(void *ctx, const struct sgf_dirent *e)
{
	const char **want = ctx;
	if (e->namelen == strlen(want[0]) && memcmp(e->name, want[0], e->namelen) == 0)
		want[1] = "seen";
	return 0;
}

static bool listed(struct sgf_client *c, uint64_t dir, const char *name)
{
	const char *ctx[2] = { name, NULL };
	CHECK_EQ(sgf_list_dir(c, dir, name_seen, ctx), 0);
	return ctx[1] != NULL;
}

static void metadata(struct sgf_client *c)
{
	struct fuse_entry_out e, d;
	struct fuse_attr_out a;
	struct fuse_kstatfs sfs;
	struct sgf_file f;
	struct stat st;
	char p[512];

	CHECK_EQ(sgf_mkdir(c, FUSE_ROOT_ID, "sub", 0750, &d), 0);
	CHECK_EQ(stat(backing_path(p, sizeof(p), "sub"), &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(d.attr.ino, st.st_ino);
	CHECK_EQ(sgf_create(c, d.nodeid, "f", O_RDWR, 0640, &e, &f), 0);
	CHECK_EQ(stat(backing_path(p, sizeof(p), "sub/f"), &st), 0);
	CHECK_EQ(e.attr.ino, st.st_ino);
	CHECK_EQ(sgf_pwrite(c, &f, "hello", 5, 0), 5);
	CHECK_EQ(sgf_flush(c, &f), 0);
	CHECK_EQ(sgf_fsync(c, &f, false), 0);
	CHECK_EQ(sgf_release(c, &f), 0);
	CHECK_EQ(stat(p, &st), 0);
	CHECK_EQ(st.st_size, 5);

	CHECK_EQ(sgf_truncate(c, e.nodeid, 3), 0);
	CHECK_EQ(sgf_chmod(c, e.nodeid, 0604), 0);
	CHECK_EQ(stat(p, &st), 0);
	CHECK_EQ(st.st_size, 3);
	CHECK_EQ(st.st_mode & 07777, 0604);
	CHECK_EQ(sgf_getattr(c, e.nodeid, &a), 0);
	CHECK_EQ(a.attr.size, 3);

	struct fuse_entry_out e2;
	CHECK_EQ(sgf_lookup_path(c, "/sub/f", &e2), 0);
	CHECK_EQ(e2.nodeid, e.nodeid);
	sgf_forget(c, e2.nodeid, 1);
	CHECK(listed(c, d.nodeid, "f"));
	CHECK(listed(c, FUSE_ROOT_ID, "sub"));

	CHECK_EQ(sgf_rename(c, d.nodeid, "f", FUSE_ROOT_ID, "g", 0), 0);
	CHECK_EQ(access(backing_path(p, sizeof(p), "g"), F_OK), 0);
	CHECK_EQ(sgf_lookup(c, d.nodeid, "f", &e2), -ENOENT);
	CHECK_EQ(sgf_rmdir(c, FUSE_ROOT_ID, "sub"), 0);
	CHECK_EQ(sgf_rmdir(c, FUSE_ROOT_ID, "g"), -ENOTDIR);
	CHECK_EQ(sgf_unlink(c, FUSE_ROOT_ID, "g"), 0);
	CHECK_EQ(access(p, F_OK), -1);
	sgf_forget(c, e.nodeid, 1);
	sgf_forget(c, d.nodeid, 1);
	CHECK_EQ(sgf_statfs(c, FUSE_ROOT_ID, &sfs), 0);
	CHECK(sfs.namelen > 0 && sfs.bsize > 0);
	CHECK_EQ(sgf_lookup_path(c, "/nope/x", &e2), -ENOENT);
}

/* Request counts per call, as the server counted them. */
static void request_counts(struct server *s, struct sgf_client *c, const struct sgf_file *f,
			   uint8_t *arena)
{
	struct iovec iov[300];
	uint64_t before;

	for (int i = 0; i < 300; i++)
		iov[i] = (struct iovec){ arena + (size_t)i * PAGE, 100 };
	before = server_count(s, FUSE_WRITE);
	CHECK_EQ(sgf_pwritev(c, f, iov, 300, 0), 30000);
	CHECK_EQ(server_count(s, FUSE_WRITE) - before, 2);
	before = server_count(s, FUSE_READ);
	CHECK_EQ(sgf_preadv(c, f, iov, 300, 0), 30000);
	CHECK_EQ(server_count(s, FUSE_READ) - before, 2);

	sgf_client_set_policy(c, SGF_DIO_PER_SEGMENT);
	before = server_count(s, FUSE_WRITE);
	CHECK_EQ(sgf_pwritev(c, f, iov, 300, 0), 30000);
	CHECK_EQ(server_count(s, FUSE_WRITE) - before, 300);
	sgf_client_set_policy(c, SGF_DIO_PACKED);

	iov[0] = (struct iovec){ arena + 100, 4 * MiB };
	before = server_count(s, FUSE_WRITE);
	CHECK_EQ(sgf_pwritev(c, f, iov, 1, 0), 4 * MiB);
	CHECK_EQ(server_count(s, FUSE_WRITE) - before, 5);

	for (int i = 0; i < 32; i++)
		iov[i] = (struct iovec){ arena + (size_t)i * PAGE, PAGE };
	before = server_count(s, FUSE_READ);
	CHECK_EQ(sgf_preadv(c, f, iov, 32, 0), 131072);
	CHECK_EQ(server_count(s, FUSE_READ) - before, 1);
}

/* The model: what the file should hold. Each thread only touches its own
 * region, so the model needs no lock. */
static uint8_t *model;

struct worker {
	struct sgf_client *c;
	const struct sgf_file *f;
	unsigned id;
	unsigned seed;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *arena = aligned_alloc(PAGE, 4 * MiB);
	struct iovec iov[64];
	uint64_t base = (uint64_t)w->id * REGION;

	if (!arena) {
		w->failures++;
		return NULL;
	}
	for (unsigned round = 0; round < ROUNDS; round++) {
		int want = 1 + rand_r(&w->seed) % 64, n = 0;
		size_t total = 0, at = 0;
		while (n < want) {
			size_t len = 1 + (size_t)rand_r(&w->seed) % (rand_r(&w->seed) % 4 ? 3000 : 60000);
			at += (size_t)rand_r(&w->seed) % 5000;  /* gaps and odd page offsets */
			if (at + len > 4 * MiB || total + len > REGION / 2)
				break;
			iov[n++] = (struct iovec){ arena + at, len };
			at += len;
			total += len;
		}
		if (total == 0)
			continue;
		uint64_t off = base + (uint64_t)rand_r(&w->seed) % (REGION - total);
		if (rand_r(&w->seed) % 2) {
			uint8_t *m = model + off;
			for (int i = 0; i < n; i++) {
				uint8_t *p = iov[i].iov_base;
				for (size_t j = 0; j < iov[i].iov_len; j++)
					p[j] = (uint8_t)rand_r(&w->seed);
				memcpy(m, p, iov[i].iov_len);
				m += iov[i].iov_len;
			}
			if (sgf_pwritev(w->c, w->f, iov, n, off) != (ssize_t)total)
				w->failures++;
		} else {
			if (sgf_preadv(w->c, w->f, iov, n, off) != (ssize_t)total)
				w->failures++;
			const uint8_t *m = model + off;
			for (int i = 0; i < n; i++) {
				if (memcmp(iov[i].iov_base, m, iov[i].iov_len) != 0)
					w->failures++;
				m += iov[i].iov_len;
			}
		}
		/* Flip the shared policy now and then: results must not care. */
		if (w->id == 0 && round % 10 == 0)
			sgf_client_set_policy(w->c, round % 20 ? SGF_DIO_PER_SEGMENT
							       : SGF_DIO_PACKED);
	}
	free(arena);
	return NULL;
}

static void random_io(struct sgf_client *c, const struct sgf_file *f)
{
	pthread_t th[THREADS];
	struct worker w[THREADS];
	char p[512];
	size_t size = (size_t)THREADS * REGION;

	model = calloc(1, size);
	CHECK(model != NULL);
	if (!model)
		return;
	/* Start from zeros, like the model. */
	CHECK_EQ(sgf_truncate(c, f->nodeid, 0), 0);
	CHECK_EQ(sgf_truncate(c, f->nodeid, size), 0);
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .c = c, .f = f, .id = i, .seed = 1000 + i };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(w[i].failures, 0);
	}
	sgf_client_set_policy(c, SGF_DIO_PACKED);

	/* The backing file itself, read behind the server's back. */
	uint8_t *disk = malloc(size);
	int fd = open(backing_path(p, sizeof(p), "data"), O_RDONLY);
	CHECK(fd >= 0 && disk != NULL);
	if (fd >= 0 && disk) {
		CHECK_EQ(pread(fd, disk, size, 0), (ssize_t)size);
		CHECK_EQ(memcmp(disk, model, size), 0);
	}
	if (fd >= 0)
		close(fd);
	free(disk);
	free(model);
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[1024];

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (unlink(p) != 0)
			remove_tree(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Open the backing "data" file through a path lookup. */
static int open_data(struct sgf_client *c, struct sgf_file *f)
{
	struct fuse_entry_out e;
	int r = sgf_lookup_path(c, "/data", &e);
	if (r < 0)
		return r;
	r = sgf_open(c, e.nodeid, O_RDWR, f);
	if (r < 0)
		sgf_forget(c, e.nodeid, 1);
	else
		f->nlookup = 1;  /* released with the handle */
	return r;
}

/* A tight request table (2 slots under a window of 8) and small requests:
 * callers queue for slots, results and data stay right. */
static void small_table(void)
{
	struct server s;
	struct sgf_client *c = NULL;
	struct sgf_client_opts o = { .max_inflight = 2, .window = 8, .max_pages = 4 };
	struct sgf_file f;
	int sv[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_EQ(server_start(&s, sv[1]), 0);
	CHECK_EQ(sgf_client_attach(sv[0], &o, &c), 0);
	if (c) {
		CHECK_EQ(sgf_client_conn(c)->max_pages, 4);
		CHECK_EQ(open_data(c, &f), 0);
		random_io(c, &f);
		CHECK_EQ(sgf_release(c, &f), 0);
		CHECK_EQ(sgf_client_disconnect(c), 0);
	}
	CHECK_EQ(server_stop(&s), 0);
}

/* The byte a test file holds at offset i: varies within a page and across. */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + i / 4096 * 13 + 1);
}

static int write_backing(const char *name, uint64_t size)
{
	char p[512];
	uint8_t *buf = malloc(size ? size : 1);
	int fd = open(backing_path(p, sizeof(p), name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int ok = fd >= 0 && buf != NULL;

	for (uint64_t i = 0; ok && i < size; i++)
		buf[i] = pattern(i);
	if (ok)
		ok = pwrite(fd, buf, size, 0) == (ssize_t)size;
	if (fd >= 0)
		close(fd);
	free(buf);
	return ok ? 0 : -1;
}

/* Read len at off through the client; the count must be what the file
 * (filesize bytes of pattern, zeros from zero_from on) holds there. */
static void check_read(struct sgf_client *c, const struct sgf_file *f, uint8_t *buf,
		       uint64_t off, size_t len, uint64_t filesize, uint64_t zero_from)
{
	size_t want = off >= filesize ? 0 : (size_t)(filesize - off < len ? filesize - off : len);
	char ctx[96];
	size_t bad = 0;

	snprintf(ctx, sizeof(ctx), "read %zu at %llu of %llu", len, (unsigned long long)off,
		 (unsigned long long)filesize);
	memset(buf, 0xee, len);
	CHECK_EQ_CTX(sgf_pread(c, f, buf, len, off), (ssize_t)want, ctx);
	for (size_t i = 0; i < want; i++) {
		uint8_t exp = off + i >= zero_from ? 0 : pattern(off + i);
		bad += buf[i] != exp;
	}
	CHECK_EQ_CTX(bad, 0, ctx);
}

/* READs of sizes below and above the splice threshold, page-aligned and
 * not, whole, short at end of file, past it, and after the file shrank and
 * grew again, on a plain and on an O_DIRECT open. */
static void spliced_reads(struct sgf_client *c)
{
	static const size_t sizes[] = { 100, 4096, 12288, 16384, 16385, 65536, 131072,
					MiB - PAGE, MiB };
	const uint64_t size = MiB + 5000;
	uint8_t *buf = aligned_alloc(PAGE, MiB);
	struct fuse_entry_out e;
	struct sgf_file f;

	CHECK(buf != NULL);
	if (!buf || write_backing("spliced", size) != 0) {
		CHECK(!"backing file written");
		free(buf);
		return;
	}
	CHECK_EQ(sgf_lookup_path(c, "/spliced", &e), 0);
	for (int direct = 0; direct < 2; direct++) {
		CHECK_EQ(write_backing("spliced", size), 0);
		CHECK_EQ(sgf_open(c, e.nodeid, O_RDWR | (direct ? O_DIRECT : 0), &f), 0);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			check_read(c, &f, buf, 0, sizes[i], size, size);
			check_read(c, &f, buf, 3 * PAGE, sizes[i], size, size);
			check_read(c, &f, buf, 100, sizes[i], size, size);
			check_read(c, &f, buf, size - 5000, sizes[i], size, size);
			check_read(c, &f, buf, size - 1, sizes[i], size, size);
			check_read(c, &f, buf, size, sizes[i], size, size);
			check_read(c, &f, buf, size + PAGE, sizes[i], size, size);
		}
		/* Shrink under the open handle, then grow: the tail reads zeros. */
		CHECK_EQ(sgf_truncate(c, e.nodeid, 20000), 0);
		check_read(c, &f, buf, 0, 131072, 20000, 20000);
		check_read(c, &f, buf, 16384, 65536, 20000, 20000);
		CHECK_EQ(sgf_truncate(c, e.nodeid, 300000), 0);
		check_read(c, &f, buf, 0, 262144, 300000, 20000);
		check_read(c, &f, buf, 8192, 131072, 300000, 20000);
		CHECK_EQ(sgf_release(c, &f), 0);
	}
	sgf_forget(c, e.nodeid, 1);

	/* A file far shorter than the read. */
	CHECK_EQ(write_backing("short", 100), 0);
	CHECK_EQ(sgf_lookup_path(c, "/short", &e), 0);
	CHECK_EQ(sgf_open(c, e.nodeid, O_RDONLY, &f), 0);
	check_read(c, &f, buf, 0, 65536, 100, 100);
	check_read(c, &f, buf, 50, 131072, 100, 100);
	CHECK_EQ(sgf_release(c, &f), 0);
	sgf_forget(c, e.nodeid, 1);
	free(buf);
}

int main(void)
{
	struct server s;
	struct sgf_client *c = NULL;
	struct sgf_file f;
	struct fuse_entry_out e;
	int sv[2];

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(backing))
		return 1;
	uint8_t *arena = aligned_alloc(PAGE, 8 * MiB);
	if (arena)
		memset(arena, 0x5c, 8 * MiB);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_EQ(server_start(&s, sv[1]), 0);
	CHECK_EQ(sgf_client_attach(sv[0], NULL, &c), 0);
	if (c && arena) {
		const struct sgf_client_conn *cc = sgf_client_conn(c);
		CHECK_EQ(cc->proto_minor, SGF_PROTO_MINOR);
		CHECK_EQ(cc->max_write, SGF_DEFAULT_MAX_WRITE);
		CHECK_EQ(cc->max_pages, 256);
		metadata(c);
		CHECK_EQ(sgf_create(c, FUSE_ROOT_ID, "data", O_RDWR, 0644, &e, &f), 0);
		request_counts(&s, c, &f, arena);
		random_io(c, &f);
		CHECK_EQ(sgf_release(c, &f), 0);
		sgf_forget(c, e.nodeid, 1);
		spliced_reads(c);
		CHECK_EQ(__atomic_load_n(&sgf_client_stats(c)->malformed, __ATOMIC_RELAXED), 0);
		CHECK_EQ(sgf_client_disconnect(c), 0);
	}
	CHECK_EQ(server_stop(&s), 0);
	small_table();
	free(arena);
	remove_tree(backing);
	return check_exit();
}
