/* tests/server/test_interrupt.c - INTERRUPT of requests the filesystem holds.
 * A thread's read() waits on a READ the filesystem keeps forever; the thread
 * gets a signal (handler without SA_RESTART), the kernel sends INTERRUPT
 * (only for a request the daemon has read: we wait until the operation has
 * it), ops->interrupt is called with the kept request and
 * sgf_req_interrupted() is true; the filesystem's own thread answers -EINTR
 * and read() fails with EINTR. Also: a request still inside its operation
 * (a worker blocked in it) interrupted the same way, and a kept request that
 * is answered normally after the INTERRUPT (read() gets the data). */
#include "srv_helper.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

enum how { KEPT_EINTR, INSIDE_EINTR, KEPT_DATA };

static enum how how;
static uint64_t slow_ino;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct sgf_req *held;           /* the READ, kept or in its op */
static const struct fuse_read_in *held_in;
static const struct iovec *held_iov;
static uint64_t held_unique;
static int interrupt_calls;
static const struct sgf_req *interrupt_arg;
static uint64_t interrupt_unique;
static bool interrupted_in_callback;
static bool answered;

static atomic_int sig_seen;

static void on_sig(int sig)
{
	(void)sig;
	atomic_store(&sig_seen, 1);
}

static ssize_t slow_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			 const struct iovec *iov, int iovcnt)
{
	if (ino != slow_ino)
		return sh_read(r, ino, in, iov, iovcnt);
	if (how == INSIDE_EINTR) {
		/* Hold the worker until the INTERRUPT arrives on another. */
		pthread_mutex_lock(&lock);
		held = (struct sgf_req *)r;
		held_unique = r->unique;
		pthread_cond_broadcast(&cond);
		while (interrupt_calls == 0)
			pthread_cond_wait(&cond, &lock);
		bool flag = sgf_req_interrupted(r);
		answered = true;
		pthread_mutex_unlock(&lock);
		return flag ? -EINTR : -EIO;
	}
	struct sgf_req *k = sgf_req_keep(r);
	pthread_mutex_lock(&lock);
	held = k;
	held_in = in;
	held_iov = iov;
	held_unique = r->unique;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	return k ? SGF_DEFER : -EIO;
}

static void on_interrupt(const struct sgf_req *r)
{
	pthread_mutex_lock(&lock);
	interrupt_calls++;
	interrupt_arg = r;
	interrupt_unique = r->unique;
	interrupted_in_callback = sgf_req_interrupted(r);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* The filesystem's thread that owns kept requests: answers once told. */
static atomic_int answer_rc = 1;
static bool answer_flag;

static void *owner_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (held == NULL || interrupt_calls == 0)
		pthread_cond_wait(&cond, &lock);
	struct sgf_req *k = held;
	const struct fuse_read_in *in = held_in;
	const struct iovec *iov = held_iov;
	pthread_mutex_unlock(&lock);
	answer_flag = sgf_req_interrupted(k);
	if (how == KEPT_DATA) {
		size_t n = in->size < 10 ? in->size : 10;
		memcpy(iov[0].iov_base, "0123456789", n);
		atomic_store(&answer_rc, sgf_reply_data(k, n));
	} else {
		atomic_store(&answer_rc, sgf_reply_err(k, -EINTR));
	}
	pthread_mutex_lock(&lock);
	answered = true;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static atomic_long read_ret;
static atomic_int read_errno;
static atomic_int reader_started;
static char read_buf[100];

static void *reader(void *arg)
{
	int fd = *(int *)arg;

	memset(read_buf, 0, sizeof(read_buf));
	atomic_store(&reader_started, 1);
	errno = 0;
	ssize_t n = read(fd, read_buf, sizeof(read_buf));
	atomic_store(&read_errno, errno);
	atomic_store(&read_ret, n);
	return NULL;
}

static bool have_held(void)
{
	pthread_mutex_lock(&lock);
	bool h = held != NULL;
	pthread_mutex_unlock(&lock);
	return h;
}

static void run(enum how h, const char *what)
{
	struct sgf_server_opts opts = { .threads = 2 };
	struct sgf_ops ops;
	struct sh_fs *fs = sh_fs_new();
	struct sh_srv s;
	struct sgf_stats st;
	pthread_t rt, ot;
	char path[PATH_MAX + 16];

	how = h;
	held = NULL;
	interrupt_calls = 0;
	interrupt_arg = NULL;
	interrupt_unique = 0;
	answered = false;
	atomic_store(&sig_seen, 0);
	atomic_store(&answer_rc, 1);
	fs->open_flags = FOPEN_DIRECT_IO; /* read() waits on our READ itself */
	slow_ino = sh_fs_add(fs, 1, "slow", S_IFREG | 0644, "abcdefghijklmnopqrstuvwxyz", 26);
	sh_fs_add(fs, 1, "plain", S_IFREG | 0644, "plain", 5);
	sh_ops_fill(&ops);
	ops.read = slow_read;
	ops.interrupt = on_interrupt;
	sh_srv_new(&s, &ops, sizeof(ops), fs, &opts);
	sh_srv_mount(&s);

	int fd = open(SH_PATH(path, "slow"), O_RDONLY);
	REQUIRE(fd >= 0);
	if (h != INSIDE_EINTR)
		REQUIRE(pthread_create(&ot, NULL, owner_thread, NULL) == 0);
	REQUIRE(pthread_create(&rt, NULL, reader, &fd) == 0);
	/* The INTERRUPT only comes for a request the daemon has read. */
	REQUIRE(SH_WAIT_UNTIL(have_held(), 10000));
	sh_msleep(20);
	pthread_mutex_lock(&lock);
	CHECK(!answered);
	pthread_mutex_unlock(&lock);
	REQUIRE(pthread_kill(rt, SIGUSR2) == 0);
	pthread_join(rt, NULL);
	if (h != INSIDE_EINTR)
		pthread_join(ot, NULL);

	CHECK_EQ(atomic_load(&sig_seen), 1);
	if (h == KEPT_DATA) {
		if (atomic_load(&read_ret) != 10)
			sh_fail(__FILE__, __LINE__, "%s: read() %ld/%s, want 10 bytes", what,
				atomic_load(&read_ret), strerrorname_np(atomic_load(&read_errno)));
		CHECK(memcmp(read_buf, "0123456789", 10) == 0);
	} else if (atomic_load(&read_ret) != -1 || atomic_load(&read_errno) != EINTR) {
		sh_fail(__FILE__, __LINE__, "%s: read() %ld/%s, want -1/EINTR", what,
			atomic_load(&read_ret), strerrorname_np(atomic_load(&read_errno)));
	}
	pthread_mutex_lock(&lock);
	CHECK_EQ(interrupt_calls, 1);
	CHECK(interrupt_arg == held);          /* the same handle keep returned */
	CHECK_EQ(interrupt_unique, held_unique);
	CHECK(interrupted_in_callback);
	CHECK(answered);
	pthread_mutex_unlock(&lock);
	if (h != INSIDE_EINTR) {
		CHECK(answer_flag);
		CHECK_RET(atomic_load(&answer_rc), 0);
	}

	sh_srv_stats(&s, &st);
	CHECK_EQ(st.interrupts, 1);
	CHECK_EQ(st.count[FUSE_INTERRUPT], 1);
	CHECK_EQ(st.kept, h == INSIDE_EINTR ? 0 : 1);
	CHECK_EQ(st.refused, 0);
	close(fd);
	/* the session goes on: another file reads normally */
	char buf[32];
	fd = open(SH_PATH(path, "plain"), O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "plain", 5) == 0);
	close(fd);
	sh_srv_destroy(&s);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	sh_umount_all();
	sh_fs_free(fs);
	printf("%s: ok\n", what);
}

int main(void)
{
	struct sigaction sa;

	sh_init("test_interrupt", 90, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	sigaction(SIGUSR2, &sa, NULL);

	run(KEPT_EINTR, "kept READ answered -EINTR");
	run(INSIDE_EINTR, "READ inside its operation answered -EINTR");
	run(KEPT_DATA, "kept READ answered with data after INTERRUPT");
	return sh_finish();
}
