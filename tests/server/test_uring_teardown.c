/* tests/server/test_uring_teardown.c - the end of a session whose requests
 * sit in io_uring ring entries (always run with FUSE over io_uring: the
 * helper switches the kernel's enable_uring on for the run and back, and
 * fails the run unless requests came through a ring). Proves:
 *  - 8 READs kept forever in ring entries, then sgf_server_exit: run returns
 *    promptly, nothing stays mounted, stats.abandoned == 8, and every reader
 *    gets an error instead of waiting forever;
 *  - the same 8 kept READs when the mount is detached from outside: the
 *    session goes on (the readers still hold the superblock) and the kept
 *    requests can still be answered through the ring; once the readers let
 *    go, the session ends by itself; and when the connection is aborted
 *    from outside (fusectl) run returns, abandoned == 8, readers fail;
 *  - 200 READs kept and answered ~1 ms later from a backend thread
 *    (sgf_reply_data and sgf_reply_iov alternately) through ring entries
 *    all return the right bytes;
 *  - an operation blocked synchronously in a queue thread when exit comes:
 *    run waits for it, returns cleanly once it is released 100 ms later,
 *    and the reply it made reaches the reader.
 * Whether an operation ran on a queue thread is seen from its CPU affinity
 * (queue threads are pinned to one CPU, workers are not). */
#include "srv_helper.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHUNK 4096
#define FILE_SIZE (256 * CHUNK)
#define NHOLD 8           /* == the default io_uring_depth: fits one queue */
#define NLATE_READERS 8
#define LATE_PER_READER 25 /* 200 READs */

enum mode { HOLD_FOREVER, LATE_ANSWER, BLOCK_INSIDE };

static struct sh_fs *fs;
static uint64_t file_ino;
static enum mode mode;
static bool multi_cpu;    /* we may run on >1 CPU: queue threads are pinned */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

/* Kept requests (HOLD_FOREVER); answered only when the test says so. */
struct held {
	struct sgf_req *k;
	uint64_t offset;
	uint32_t size;
	const struct iovec *iov;
	int iovcnt;
};
static struct held held[64];
static int nheld;
static atomic_int off_queue_thread; /* READs of the file not on a queue thread */

/* LATE_ANSWER: a queue of kept READs the backend answers when due. */
struct pending {
	struct sgf_req *k;
	uint64_t offset;
	uint32_t size;
	const struct iovec *iov;
	int iovcnt;
	double due;
	struct pending *next;
};
static struct pending *q_head, *q_tail;
static bool q_stop;
static atomic_int late_kept, late_answered, answer_failures, answered_iov;

/* BLOCK_INSIDE: the operation waits here until released. */
static bool inside, released, inside_done;

static char pattern_at(uint64_t off)
{
	return (char)('A' + (off / CHUNK + off % 251) % 26);
}

static bool on_queue_thread(void)
{
	cpu_set_t set;

	if (!multi_cpu)
		return true; /* cannot tell */
	CPU_ZERO(&set);
	return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1;
}

/* Copy the file's bytes for [off, off+size) into dst. */
static size_t file_bytes(uint64_t off, size_t size, char *dst)
{
	size_t n = 0;

	for (; n < size && off + n < FILE_SIZE; n++)
		dst[n] = pattern_at(off + n);
	return n;
}

static size_t fill_iov(uint64_t off, size_t size, const struct iovec *iov, int iovcnt)
{
	size_t done = 0;

	for (int i = 0; i < iovcnt && done < size; i++) {
		size_t k = iov[i].iov_len < size - done ? iov[i].iov_len : size - done;
		size_t got = file_bytes(off + done, k, iov[i].iov_base);
		done += got;
		if (got < k)
			break;
	}
	return done;
}

static ssize_t t_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		      const struct iovec *iov, int iovcnt)
{
	if (ino != file_ino)
		return sh_read(r, ino, in, iov, iovcnt);
	if (!on_queue_thread())
		atomic_fetch_add(&off_queue_thread, 1);
	if (mode == BLOCK_INSIDE) {
		/* Synchronous: the queue thread itself waits here. */
		pthread_mutex_lock(&lock);
		inside = true;
		pthread_cond_broadcast(&cond);
		while (!released)
			pthread_cond_wait(&cond, &lock);
		inside_done = true;
		pthread_mutex_unlock(&lock);
		return (ssize_t)fill_iov(in->offset, in->size, iov, iovcnt);
	}
	struct sgf_req *k = sgf_req_keep(r);
	if (k == NULL)
		return -EIO;
	if (mode == HOLD_FOREVER) {
		pthread_mutex_lock(&lock);
		if (nheld < (int)(sizeof(held) / sizeof(held[0])))
			held[nheld++] = (struct held){ k, in->offset, in->size, iov, iovcnt };
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&lock);
		return SGF_DEFER;
	}
	struct pending *p = malloc(sizeof(*p));
	if (p == NULL)
		return -ENOMEM; /* the return answers it: keep is void then */
	*p = (struct pending){ k, in->offset, in->size, iov, iovcnt, sh_now() + 0.001, NULL };
	atomic_fetch_add(&late_kept, 1);
	pthread_mutex_lock(&lock);
	if (q_tail)
		q_tail->next = p;
	else
		q_head = p;
	q_tail = p;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	return SGF_DEFER;
}

/* Answers every queued READ once it is due, in turn by filling the
 * request's iov (sgf_reply_data), from a buffer of its own that is
 * scribbled over right after the call (sgf_reply_iov must have copied it
 * into the ring entry by then), and from the request's own iov holding the
 * two halves swapped, named in reply order (in a ring entry that buffer is
 * the payload the reply goes to: copying the first piece in place would
 * overwrite the second). */
static void *backend(void *arg)
{
	unsigned turn = 0;

	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (q_head == NULL && !q_stop)
			pthread_cond_wait(&cond, &lock);
		if (q_head == NULL)
			break;
		struct pending *p = q_head;
		q_head = p->next;
		if (q_head == NULL)
			q_tail = NULL;
		pthread_mutex_unlock(&lock);
		double wait = p->due - sh_now();
		if (wait > 0)
			sh_msleep((unsigned)(wait * 1000) + 1);
		int rc;
		unsigned how = turn++ % 3;
		if (how == 0) {
			size_t n = fill_iov(p->offset, p->size, p->iov, p->iovcnt);
			rc = sgf_reply_data(p->k, n);
		} else if (how == 2 && p->iovcnt == 1 && p->iov[0].iov_len >= p->size) {
			char *own = p->iov[0].iov_base;
			size_t a = p->size / 4; /* [a, n) first, then [0, a) */
			size_t n = file_bytes(p->offset + a, p->size - a, own) + a;
			file_bytes(p->offset, a, own + (n - a));
			struct iovec parts[2] = { { own + (n - a), a }, { own, n - a } };
			rc = sgf_reply_iov(p->k, parts, 2);
			atomic_fetch_add(&answered_iov, 1);
		} else {
			char *mine = malloc(p->size ? p->size : 1);
			if (mine == NULL) {
				rc = sgf_reply_err(p->k, -ENOMEM);
			} else {
				size_t n = file_bytes(p->offset, p->size, mine), a = n / 2;
				struct iovec parts[2] = { { mine, a }, { mine + a, n - a } };
				rc = sgf_reply_iov(p->k, parts, 2);
				memset(mine, 0xee, p->size);
				free(mine);
				atomic_fetch_add(&answered_iov, 1);
			}
		}
		if (rc != 0)
			atomic_fetch_add(&answer_failures, 1);
		atomic_fetch_add(&late_answered, 1);
		free(p);
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* ---- readers ---------------------------------------------------------------- */

struct reader {
	pthread_t t;
	int fd;             /* opened by the test, O_DIRECT */
	uint64_t off;
	unsigned reads;     /* 1 for the holders, LATE_PER_READER otherwise */
	ssize_t ret;
	int err;
	unsigned bad;       /* reads with wrong bytes */
	atomic_bool done;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	void *buf = NULL;

	if (posix_memalign(&buf, CHUNK, CHUNK) != 0) {
		rd->ret = -1;
		rd->err = ENOMEM;
		atomic_store(&rd->done, true);
		return NULL;
	}
	for (unsigned i = 0; i < rd->reads; i++) {
		uint64_t off = (rd->off + (uint64_t)i * 7 * CHUNK) % FILE_SIZE;
		char want[CHUNK];
		errno = 0;
		ssize_t n = pread(rd->fd, buf, CHUNK, (off_t)off);
		rd->ret = n;
		rd->err = errno;
		if (n < 0)
			break;
		file_bytes(off, CHUNK, want);
		if (n != CHUNK || memcmp(buf, want, CHUNK) != 0)
			rd->bad++;
	}
	free(buf);
	atomic_store(&rd->done, true);
	return NULL;
}

static void readers_start(struct reader *rds, int n, unsigned reads)
{
	char path[PATH_MAX + 16];

	for (int i = 0; i < n; i++) {
		struct reader *rd = &rds[i];
		memset(rd, 0, sizeof(*rd));
		rd->fd = open(SH_PATH(path, "file"), O_RDONLY | O_DIRECT);
		REQUIRE(rd->fd >= 0);
		rd->off = (uint64_t)i * CHUNK;
		rd->reads = reads;
		REQUIRE(pthread_create(&rd->t, NULL, reader_main, rd) == 0);
	}
}

static bool readers_done(struct reader *rds, int n)
{
	for (int i = 0; i < n; i++)
		if (!atomic_load(&rds[i].done))
			return false;
	return true;
}

/* Join the readers (they are done) and close their files. */
static void readers_join(struct reader *rds, int n)
{
	for (int i = 0; i < n; i++) {
		pthread_join(rds[i].t, NULL);
		close(rds[i].fd);
	}
}

/* Every reader ended with an error a dead session gives. */
static void check_readers_failed(struct reader *rds, int n, const char *what)
{
	for (int i = 0; i < n; i++) {
		int e = rds[i].err;
		if (rds[i].ret != -1 || (e != EIO && e != ENOTCONN && e != ECONNABORTED))
			sh_fail(__FILE__, __LINE__, "%s: reader %d: pread %zd/%s, want EIO, "
				"ENOTCONN or ECONNABORTED", what, i, rds[i].ret,
				e ? strerrorname_np(e) : "0");
	}
}

static void check_readers_ok(struct reader *rds, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (rds[i].ret != CHUNK || rds[i].bad)
			sh_fail(__FILE__, __LINE__, "%s: reader %d: pread %zd/%s, %u bad reads",
				what, i, rds[i].ret,
				rds[i].err ? strerrorname_np(rds[i].err) : "0", rds[i].bad);
}

/* ---- the session ------------------------------------------------------------ */

static uint64_t uring_count(struct sh_srv *s)
{
	struct sgf_stats st;

	sh_srv_stats(s, &st);
	return st.uring;
}

/* The kernel uses the rings only once every queue has registered its
 * entries; until then requests come through /dev/fuse. Probe with LOOKUPs
 * of names never seen (never cached) until one came through a ring. */
static void wait_ring_ready(struct sh_srv *s)
{
	uint64_t before = uring_count(s);
	char path[PATH_MAX + 32];
	struct stat st;
	bool ready = false;

	for (int i = 0; i < 5000 && !ready; i++) {
		snprintf(path, sizeof(path), "%s/probe-%d", sh_mnt(), i);
		CHECK_ERR(stat(path, &st), ENOENT);
		ready = uring_count(s) > before;
		if (!ready)
			sh_msleep(1);
	}
	REQUIRE(ready);
}

static void start(struct sh_srv *s, enum mode m, dev_t *dev)
{
	struct sgf_server_opts opts = { .threads = 2, .io_uring = true };
	struct sgf_ops ops;
	struct stat st;

	mode = m;
	nheld = 0;
	released = inside = inside_done = false;
	q_head = q_tail = NULL;
	q_stop = false;
	atomic_store(&off_queue_thread, 0);
	fs = sh_fs_new();
	file_ino = sh_fs_add(fs, 1, "file", S_IFREG | 0644, NULL, 0);
	/* The size only: READs of it are answered by t_read from pattern_at. */
	char *zeros = calloc(1, FILE_SIZE);
	REQUIRE(zeros != NULL);
	sh_fs_set_data(fs, file_ino, zeros, FILE_SIZE);
	free(zeros);
	sh_ops_fill(&ops);
	ops.read = t_read;
	sh_srv_new(s, &ops, sizeof(ops), fs, &opts);
	sh_srv_mount(s);
	/* Now: once readers fill a queue's entries, a GETATTR of the root
	 * from that CPU would wait for a free entry. */
	REQUIRE(stat(sh_mnt(), &st) == 0);
	if (dev)
		*dev = st.st_dev;
	wait_ring_ready(s);
}

static void finish(struct sh_srv *s)
{
	sh_srv_destroy(s);
	sh_umount_all();
	CHECK(!sh_is_mounted(sh_mnt()));
	sh_fs_free(fs);
	fs = NULL;
}

static int held_count(void)
{
	pthread_mutex_lock(&lock);
	int n = nheld;
	pthread_mutex_unlock(&lock);
	return n;
}

/* NHOLD readers block on READs the filesystem keeps in ring entries. */
static void hold_readers(struct sh_srv *s, struct reader *rds)
{
	struct sgf_stats st;
	uint64_t before = uring_count(s);

	readers_start(rds, NHOLD, 1);
	REQUIRE(SH_WAIT_UNTIL(held_count() == NHOLD, 10000));
	sh_srv_stats(s, &st);
	CHECK_EQ(st.kept, NHOLD);
	CHECK(st.uring >= before + NHOLD);
	CHECK_EQ(atomic_load(&off_queue_thread), 0);
	CHECK(!readers_done(rds, NHOLD));
}

/* B1: sgf_server_exit with NHOLD READs kept in ring entries. */
static void test_exit_with_kept(void)
{
	struct sh_srv s;
	struct reader rds[NHOLD];
	struct sgf_stats st;

	start(&s, HOLD_FOREVER, NULL);
	hold_readers(&s, rds);
	double t0 = sh_now();
	sgf_server_exit(s.srv);
	CHECK_RET(sh_srv_join(&s, 5000), 0);
	double took = sh_now() - t0;
	if (took > 2.0)
		sh_fail(__FILE__, __LINE__, "run took %.2f s to return after exit", took);
	CHECK(!sh_is_mounted(sh_mnt()));
	sh_srv_stats(&s, &st);
	CHECK_EQ(st.abandoned, NHOLD);
	CHECK_EQ(st.refused, 0);
	/* The session answered them EIO as it ended: the readers need not wait
	 * for the server to be destroyed (with /dev/fuse they do not). */
	if (!SH_WAIT_UNTIL(readers_done(rds, NHOLD), 2000))
		sh_fail(__FILE__, __LINE__, "exit: readers of abandoned ring requests still "
			"blocked 2 s after sgf_server_run returned");
	finish(&s);
	REQUIRE(SH_WAIT_UNTIL(readers_done(rds, NHOLD), 10000));
	readers_join(rds, NHOLD);
	check_readers_failed(rds, NHOLD, "exit");
	printf("exit with %d kept ring requests: run returned in %.0f ms, readers got %s\n",
	       NHOLD, took * 1000, rds[0].err ? strerrorname_np(rds[0].err) : "0");
}

/* B2a: the mount detached from outside while NHOLD READs are kept. The
 * readers' open files keep the superblock, so the connection lives on and
 * the kept requests are answered through the ring; when the readers close,
 * the kernel ends the connection and run returns by itself. */
static void test_detach_with_kept(void)
{
	struct sh_srv s;
	struct reader rds[NHOLD];
	struct sgf_stats st;

	start(&s, HOLD_FOREVER, NULL);
	hold_readers(&s, rds);
	CHECK(umount2(sh_mnt(), MNT_DETACH) == 0);
	CHECK(!sh_is_mounted(sh_mnt()));
	/* Still serving: nothing ended the connection. */
	CHECK(!SH_WAIT_UNTIL(atomic_load(&s.returned), 200));
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nheld; i++) {
		size_t n = fill_iov(held[i].offset, held[i].size, held[i].iov, held[i].iovcnt);
		CHECK_RET(sgf_reply_data(held[i].k, n), 0);
	}
	pthread_mutex_unlock(&lock);
	REQUIRE(SH_WAIT_UNTIL(readers_done(rds, NHOLD), 5000));
	readers_join(rds, NHOLD);
	check_readers_ok(rds, NHOLD, "detach");
	/* The last file closed: the superblock goes, the connection ends. */
	REQUIRE(SH_WAIT_UNTIL(atomic_load(&s.returned), 5000));
	CHECK_RET(sh_srv_join(&s, 1000), 0);
	sh_srv_stats(&s, &st);
	CHECK_EQ(st.abandoned, 0);
	CHECK_EQ(st.refused, 0);
	CHECK(!sh_is_mounted(sh_mnt()));
	finish(&s);
	printf("detach with %d kept ring requests: ok\n", NHOLD);
}

/* B2b: the connection aborted from outside (fusectl) while NHOLD READs are
 * kept in ring entries. */
static void test_abort_with_kept(void)
{
	struct sh_srv s;
	struct reader rds[NHOLD];
	struct sgf_stats st;
	dev_t dev;
	char path[128];

	start(&s, HOLD_FOREVER, &dev);
	hold_readers(&s, rds);
	snprintf(path, sizeof(path), "/sys/fs/fuse/connections/%u/abort", minor(dev));
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	REQUIRE(fd >= 0);
	CHECK(write(fd, "1", 1) == 1);
	close(fd);
	CHECK_RET(sh_srv_join(&s, 5000), 0);
	sh_srv_stats(&s, &st);
	CHECK_EQ(st.abandoned, NHOLD);
	/* An abort ends every request the kernel had sent, ring entries too. */
	REQUIRE(SH_WAIT_UNTIL(readers_done(rds, NHOLD), 5000));
	readers_join(rds, NHOLD);
	check_readers_failed(rds, NHOLD, "abort");
	finish(&s);
	printf("abort with %d kept ring requests: readers got %s\n", NHOLD,
	       rds[0].err ? strerrorname_np(rds[0].err) : "0");
}

/* B3: 200 READs kept, answered ~1 ms later from a backend thread. */
static void test_late_answers(void)
{
	struct sh_srv s;
	struct reader rds[NLATE_READERS];
	struct sgf_stats st;
	pthread_t bt;

	atomic_store(&late_kept, 0);
	atomic_store(&late_answered, 0);
	atomic_store(&answer_failures, 0);
	atomic_store(&answered_iov, 0);
	start(&s, LATE_ANSWER, NULL);
	REQUIRE(pthread_create(&bt, NULL, backend, NULL) == 0);
	uint64_t before = uring_count(&s);
	readers_start(rds, NLATE_READERS, LATE_PER_READER);
	REQUIRE(SH_WAIT_UNTIL(readers_done(rds, NLATE_READERS), 20000));
	readers_join(rds, NLATE_READERS);
	check_readers_ok(rds, NLATE_READERS, "late answers");
	sh_srv_stats(&s, &st);
	CHECK_EQ(atomic_load(&late_kept), NLATE_READERS * LATE_PER_READER);
	CHECK_EQ(atomic_load(&late_answered), NLATE_READERS * LATE_PER_READER);
	CHECK_EQ(atomic_load(&answer_failures), 0);
	CHECK(atomic_load(&answered_iov) >= NLATE_READERS * LATE_PER_READER / 2 - 1);
	CHECK(st.uring - before >= NLATE_READERS * LATE_PER_READER);
	CHECK_EQ(st.kept, NLATE_READERS * LATE_PER_READER);
	CHECK_EQ(st.refused, 0);
	CHECK_EQ(atomic_load(&off_queue_thread), 0);
	pthread_mutex_lock(&lock);
	q_stop = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(bt, NULL);
	finish(&s);
	printf("%d READs answered late through ring entries: ok\n",
	       NLATE_READERS * LATE_PER_READER);
}

static bool is_inside(void)
{
	pthread_mutex_lock(&lock);
	bool in = inside;
	pthread_mutex_unlock(&lock);
	return in;
}

/* B4: exit while a queue thread is blocked inside an operation. */
static void test_exit_while_inside(void)
{
	struct sh_srv s;
	struct reader rd;

	start(&s, BLOCK_INSIDE, NULL);
	readers_start(&rd, 1, 1);
	REQUIRE(SH_WAIT_UNTIL(is_inside(), 10000));
	CHECK_EQ(atomic_load(&off_queue_thread), 0);
	sgf_server_exit(s.srv);
	/* The queue thread cannot stop while its operation runs, so run
	 * cannot return yet. */
	CHECK(!SH_WAIT_UNTIL(atomic_load(&s.returned), 100));
	pthread_mutex_lock(&lock);
	released = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	CHECK_RET(sh_srv_join(&s, 5000), 0);
	CHECK(inside_done);
	CHECK(!sh_is_mounted(sh_mnt()));
	/* The operation answered before the session ended and the connection
	 * was still up (the reader's open file holds it): the reply must get
	 * through, as it does from a /dev/fuse worker. */
	if (!SH_WAIT_UNTIL(atomic_load(&rd.done), 2000))
		sh_fail(__FILE__, __LINE__, "inside: reader still blocked 2 s after run returned");
	finish(&s);
	REQUIRE(SH_WAIT_UNTIL(atomic_load(&rd.done), 10000));
	readers_join(&rd, 1);
	check_readers_ok(&rd, 1, "inside");
	printf("exit while a queue thread is inside an operation: reader got %zd/%s\n",
	       rd.ret, rd.err ? strerrorname_np(rd.err) : "0");
}

int main(void)
{
	cpu_set_t set;

	/* This test is about ring entries: always through io_uring (the
	 * helper switches the kernel setting on and restores it however the
	 * run ends, and skips when the kernel has no FUSE over io_uring). */
	setenv("SGF_TEST_URING", "1", 1);
	if (access("/sys/module/fuse/parameters/enable_uring", F_OK) != 0) {
		printf("SKIP test_uring_teardown: this kernel has no FUSE over io_uring "
		       "(/sys/module/fuse/parameters/enable_uring missing)\n");
		return SH_SKIP;
	}
	sh_init("test_uring_teardown", 90, 0);
	CPU_ZERO(&set);
	multi_cpu = sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 1;

	test_exit_with_kept();
	test_detach_with_kept();
	test_abort_with_kept();
	test_late_answers();
	test_exit_while_inside();
	return sh_finish();
}
