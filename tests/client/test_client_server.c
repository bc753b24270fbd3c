/* tests/client/test_client_server.c - our client against our server, in one
 * process: the passthrough filesystem over a temp directory served on one end
 * of a socketpair by the session and its workers, the client on the other.
 * Metadata round trips are checked against the backing directory; request
 * counts against the server's own statistics; and random vectored reads and
 * writes from several threads against an in-memory model and, at the end,
 * against the backing file itself. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sgfuse/channel.h>
#include <sgfuse/client.h>
#include <sgfuse/loop.h>
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
	struct sgf_session *se;
	struct sgf_chan *ch;
	struct sgf_loop *loop;
};

static char backing[] = "/tmp/sgf-client-server-XXXXXX";

static int server_start(struct server *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->pt = sgf_passthrough_new(backing, NULL);
	if (!s->pt)
		return -1;
	s->se = sgf_session_new(sgf_passthrough_ops(), s->pt, NULL);
	s->ch = s->se ? sgf_chan_stream_new(fd) : NULL;
	s->loop = s->ch ? sgf_loop_start(s->se, s->ch, 2) : NULL;
	return s->loop ? 0 : -1;
}

static int server_stop(struct server *s)
{
	int r = s->loop ? sgf_loop_join(s->loop) : -1;
	if (s->se)
		sgf_session_destroy(s->se);
	if (s->ch)
		sgf_chan_free(s->ch);
	sgf_passthrough_free(s->pt);
	return r;
}

static uint64_t server_count(struct server *s, uint32_t op)
{
	return atomic_load(&sgf_session_stats(s->se)->count[op]);
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
		CHECK_EQ(atomic_load(&sgf_client_stats(c)->malformed), 0);
		CHECK_EQ(sgf_client_disconnect(c), 0);
	}
	CHECK_EQ(server_stop(&s), 0);
	small_table();
	free(arena);
	remove_tree(backing);
	return check_exit();
}
