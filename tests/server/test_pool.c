/* tests/server/test_pool.c - the bounded request-buffer pool: with
 * max_inflight = 2 and a filesystem that keeps every READ and answers it
 * ~20 ms later from a backend thread, 64 threads doing O_DIRECT pread /
 * preadv of 4 KiB at once all complete with the right bytes, the filesystem
 * never holds more than 2 kept requests, and stats.buffers_max <= 2: the
 * workers stop receiving while every buffer is in use, instead of taking
 * more memory. Then the same with max_inflight = 1. */
#include "srv_helper.h"

#include <sys/sysmacros.h>

#include <fcntl.h>
#include <inttypes.h>
#include <sys/uio.h>
#include <unistd.h>

#define NREADERS 64
#define CHUNK 4096
#define DELAY_MS 20

static uint64_t file_ino;
static atomic_int kept_now, kept_max, kept_total, answer_failures;

struct pending {
	struct sgf_req *k;
	const struct fuse_read_in *in;
	const struct iovec *iov;
	int iovcnt;
	double due;
	struct pending *next;
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static struct pending *q_head, *q_tail;
static bool q_stop;
static pthread_t backend_thread;
static bool never_answer;

static ssize_t pool_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			 const struct iovec *iov, int iovcnt)
{
	struct pending *p;

	if (ino != file_ino)
		return sh_read(r, ino, in, iov, iovcnt);
	p = malloc(sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->k = sgf_req_keep(r);
	if (p->k == NULL) {
		free(p);
		return -EIO;
	}
	if (never_answer) { /* kept until the library gives up on it */
		free(p);
		atomic_fetch_add(&kept_now, 1);
		return SGF_DEFER;
	}
	int now = atomic_fetch_add(&kept_now, 1) + 1;
	int max = atomic_load(&kept_max);
	while (now > max && !atomic_compare_exchange_weak(&kept_max, &max, now))
		;
	atomic_fetch_add(&kept_total, 1);
	p->in = in;
	p->iov = iov;
	p->iovcnt = iovcnt;
	p->due = sh_now() + DELAY_MS / 1000.0;
	p->next = NULL;
	pthread_mutex_lock(&q_lock);
	if (q_tail)
		q_tail->next = p;
	else
		q_head = p;
	q_tail = p;
	pthread_cond_signal(&q_cond);
	pthread_mutex_unlock(&q_lock);
	return SGF_DEFER;
}

static void *backend(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&q_lock);
	for (;;) {
		while (q_head == NULL && !q_stop)
			pthread_cond_wait(&q_cond, &q_lock);
		if (q_head == NULL)
			break;
		struct pending *p = q_head;
		q_head = p->next;
		if (q_head == NULL)
			q_tail = NULL;
		pthread_mutex_unlock(&q_lock);
		double wait = p->due - sh_now();
		if (wait > 0)
			sh_msleep((unsigned)(wait * 1000) + 1);
		ssize_t n = sh_read(p->k, file_ino, p->in, p->iov, p->iovcnt);
		/* Answered: no longer ours (count before the reply frees it). */
		atomic_fetch_sub(&kept_now, 1);
		if (sgf_reply(p->k, n) != 0)
			atomic_fetch_add(&answer_failures, 1);
		free(p);
		pthread_mutex_lock(&q_lock);
	}
	pthread_mutex_unlock(&q_lock);
	return NULL;
}

static void pool_destroy(void *fs)
{
	pthread_mutex_lock(&q_lock);
	q_stop = true;
	pthread_cond_broadcast(&q_cond);
	pthread_mutex_unlock(&q_lock);
	pthread_join(backend_thread, NULL);
	sh_destroy_op(fs);
}

static char expected[NREADERS * CHUNK];
static atomic_int bad_reads;

struct reader_arg {
	int idx;
	const char *path;
	pthread_barrier_t *go;
};

static void *reader(void *arg)
{
	struct reader_arg *a = arg;
	void *buf = NULL;
	int fd = open(a->path, O_RDONLY | O_DIRECT);
	ssize_t n = -1;

	if (posix_memalign(&buf, 4096, CHUNK) != 0)
		buf = NULL;
	pthread_barrier_wait(a->go);
	if (fd >= 0 && buf) {
		off_t off = (off_t)a->idx * CHUNK;
		if (a->idx % 2) {
			struct iovec iov[2] = { { buf, CHUNK / 2 }, { (char *)buf + CHUNK / 2, CHUNK / 2 } };
			n = preadv(fd, iov, 2, off);
		} else {
			n = pread(fd, buf, CHUNK, off);
		}
		if (n != CHUNK || memcmp(buf, expected + off, CHUNK) != 0) {
			fprintf(stderr, "reader %d: %zd bytes (%s)%s\n", a->idx, n,
				n < 0 ? strerrorname_np(errno) : "ok",
				n == CHUNK ? ", wrong data" : "");
			atomic_fetch_add(&bad_reads, 1);
		}
	} else {
		fprintf(stderr, "reader %d: open: %s\n", a->idx, strerrorname_np(errno));
		atomic_fetch_add(&bad_reads, 1);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* fs with one O_DIRECT file "data" (size bytes of expected) whose READ
 * pool_read keeps, its backend thread started, mounted with opts. */
static void mount_pool_fs(struct sh_srv *s, struct sh_fs *fs, const struct sgf_server_opts *opts,
			  size_t size)
{
	struct sgf_ops ops;

	fs->open_flags = FOPEN_DIRECT_IO;
	file_ino = sh_fs_add(fs, 1, "data", S_IFREG | 0644, expected, size);
	sh_ops_fill(&ops);
	ops.read = pool_read;
	ops.destroy = pool_destroy;
	REQUIRE(pthread_create(&backend_thread, NULL, backend, NULL) == 0);
	sh_srv_new(s, &ops, sizeof(ops), fs, opts);
	sh_srv_mount(s);
}

static void run(unsigned max_inflight)
{
	struct sgf_server_opts opts = { .max_inflight = max_inflight };
	struct sh_fs *fs = sh_fs_new();
	struct sh_srv s;
	struct sgf_stats st;
	pthread_t th[NREADERS];
	struct reader_arg args[NREADERS];
	pthread_barrier_t go;
	char path[PATH_MAX + 16];

	atomic_store(&kept_now, 0);
	atomic_store(&kept_max, 0);
	atomic_store(&kept_total, 0);
	atomic_store(&bad_reads, 0);
	q_stop = false;
	for (size_t i = 0; i < sizeof(expected); i++)
		expected[i] = (char)((i * 131 + i / CHUNK) & 0xff);
	mount_pool_fs(&s, fs, &opts, sizeof(expected));

	SH_PATH(path, "data");
	pthread_barrier_init(&go, NULL, NREADERS);
	double t0 = sh_now();
	for (int i = 0; i < NREADERS; i++) {
		args[i] = (struct reader_arg){ i, path, &go };
		REQUIRE(pthread_create(&th[i], NULL, reader, &args[i]) == 0);
	}
	for (int i = 0; i < NREADERS; i++)
		pthread_join(th[i], NULL);
	double dt = sh_now() - t0;
	pthread_barrier_destroy(&go);

	sh_srv_stats(&s, &st);
	printf("max_inflight %u: %d READs in %.0f ms, at most %d kept at once, "
	       "buffers_max %" PRIu64 "\n", max_inflight, atomic_load(&kept_total), dt * 1000,
	       atomic_load(&kept_max), st.buffers_max);
	CHECK_EQ(atomic_load(&bad_reads), 0);
	CHECK_EQ(atomic_load(&kept_total), NREADERS);
	CHECK(atomic_load(&kept_max) >= 1);
	if (atomic_load(&kept_max) > (int)max_inflight)
		sh_fail(__FILE__, __LINE__, "the filesystem held %d kept requests at once, "
			"max_inflight %u", atomic_load(&kept_max), max_inflight);
	if (st.buffers_max > max_inflight)
		sh_fail(__FILE__, __LINE__, "buffers_max %" PRIu64 " > max_inflight %u",
			st.buffers_max, max_inflight);
	CHECK(st.buffers_max >= 1);
	CHECK_EQ(st.kept, NREADERS);
	CHECK_EQ(st.count[FUSE_READ], NREADERS);
	CHECK_EQ(st.errors[FUSE_READ], 0);
	CHECK_EQ(st.refused, 0);
	CHECK_EQ(atomic_load(&answer_failures), 0);
	sh_srv_destroy(&s);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	sh_umount_all();
	sh_fs_free(fs);
}

static void *stuck_reader(void *arg)
{
	const char *path = arg;
	void *buf = NULL;
	int fd = open(path, O_RDONLY | O_DIRECT);

	if (fd >= 0 && posix_memalign(&buf, 4096, CHUNK) == 0)
		(void)!pread(fd, buf, CHUNK, 0); /* fails once the connection is aborted */
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* Every buffer kept, never answered, every worker waiting for a buffer:
 * when the connection is aborted from outside nobody is receiving, and the
 * server must still notice, answer the kept requests EIO and end. */
static void run_stuck_abort(void)
{
	struct sgf_server_opts opts = { .max_inflight = 2, .threads = 2 };
	struct sh_fs *fs = sh_fs_new();
	struct sh_srv s;
	struct sgf_stats st;
	struct stat mst;
	pthread_t th[4];
	char path[PATH_MAX + 16], abort_path[128];

	atomic_store(&kept_now, 0);
	never_answer = true;
	q_stop = false;
	mount_pool_fs(&s, fs, &opts, CHUNK);
	SH_PATH(path, "data");
	REQUIRE(stat(sh_mnt(), &mst) == 0);
	for (int i = 0; i < 4; i++)
		REQUIRE(pthread_create(&th[i], NULL, stuck_reader, path) == 0);
	CHECK(SH_WAIT_UNTIL(atomic_load(&kept_now) == 2, 10000));
	sh_msleep(100); /* the workers are waiting for a buffer now */
	snprintf(abort_path, sizeof(abort_path), "/sys/fs/fuse/connections/%u/abort",
		 minor(mst.st_dev));
	int fd = open(abort_path, O_WRONLY);
	if (fd < 0) {
		printf("no %s (%s): skipping the abort case\n", abort_path, strerror(errno));
		sh_srv_destroy(&s);
	} else {
		REQUIRE(write(fd, "1", 1) == 1);
		close(fd);
		CHECK_EQ(sh_srv_join(&s, 10000), 0);
		sh_srv_stats(&s, &st);
		CHECK_EQ(st.abandoned, 2);
		CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
		sh_srv_destroy(&s);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	never_answer = false;
	sh_umount_all();
	sh_fs_free(fs);
}

int main(void)
{
	sh_init("test_pool", 120, 0);
	run(2);
	run(1);
	run_stuck_abort();
	return sh_finish();
}
