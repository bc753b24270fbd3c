/* tests/server/test_listen.c - a listening server: many clients at once, each
 * its own session with its own filesystem instance (fs_new/fs_free) and one
 * destroy; exit with requests kept on some connections answers them EIO,
 * ends every session and removes the socket; and an attached socket handed
 * over non-blocking still carries whole messages under backpressure. */
#include "srv_helper.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sgfuse/client.h>

#define NCLIENTS 8
#define DATA_SIZE 4096

static struct sh_fs *shared;          /* what fs_new hands every session */
static atomic_int fs_made, fs_freed;
static uint64_t file_ino, stuck_ino;
static atomic_int stuck_kept;

static void *session_fs_new(void *fs)
{
	atomic_fetch_add(&fs_made, 1);
	return fs;
}

static void session_fs_free(void *fs, void *session_fs)
{
	CHECK(fs == shared && session_fs == shared);
	atomic_fetch_add(&fs_freed, 1);
}

/* READ of the "stuck" file is kept and never answered: the library must
 * answer it EIO when the session ends. */
static ssize_t read_or_keep(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			    const struct iovec *iov, int iovcnt)
{
	if (ino == stuck_ino) {
		REQUIRE(sgf_req_keep(r) != NULL);
		atomic_fetch_add(&stuck_kept, 1);
		return SGF_DEFER;
	}
	return sh_read(r, ino, in, iov, iovcnt);
}

static void *run_thread(void *arg)
{
	struct sh_srv *s = arg;

	s->ret = sgf_server_run(s->srv);
	atomic_store(&s->returned, true);
	return NULL;
}

struct client_job {
	const char *address;
	bool stuck;          /* read the stuck file (blocks until the end) */
	int result;          /* what the read returned */
};

static void *client_main(void *arg)
{
	struct client_job *j = arg;
	struct sgf_client *c;
	struct fuse_entry_out e;
	struct sgf_file f;
	char buf[DATA_SIZE];
	int err = sgf_client_connect(j->address, NULL, &c);

	if (err) {
		j->result = err;
		return NULL;
	}
	err = sgf_lookup(c, FUSE_ROOT_ID, j->stuck ? "stuck" : "data", &e);
	if (err == 0)
		err = sgf_open(c, e.nodeid, O_RDONLY, &f);
	if (err == 0) {
		ssize_t n = sgf_pread(c, &f, buf, sizeof(buf), 0);
		err = (int)n;
		if (n == DATA_SIZE)
			for (size_t i = 0; i < sizeof(buf); i++)
				if (buf[i] != (char)('a' + i % 26))
					err = -EILSEQ;
		if (!j->stuck)
			sgf_release(c, &f);
	}
	j->result = err;
	if (j->stuck)
		sgf_client_shutdown(c); /* the server is gone by now */
	sgf_client_disconnect(c);
	return NULL;
}

static void test_many_clients(void)
{
	struct sgf_server_opts opts = { .threads = 2, .fs_new = session_fs_new,
					.fs_free = session_fs_free };
	struct client_job jobs[NCLIENTS];
	pthread_t th[NCLIENTS], run;
	struct sgf_ops ops;
	struct sh_srv s = { 0 };
	struct sgf_stats st;
	char path[PATH_MAX], address[PATH_MAX + 8];
	char data[DATA_SIZE];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	shared = sh_fs_new();
	file_ino = sh_fs_add(shared, FUSE_ROOT_ID, "data", S_IFREG | 0644, data, sizeof(data));
	stuck_ino = sh_fs_add(shared, FUSE_ROOT_ID, "stuck", S_IFREG | 0644, data, sizeof(data));
	sh_ops_fill(&ops);
	ops.read = read_or_keep;
	sh_srv_new(&s, &ops, sizeof(ops), shared, &opts);
	SH_PATH(path, "sock");
	snprintf(address, sizeof(address), "unix:%s", path);
	CHECK_RET(sgf_server_listen(s.srv, "tcp:nowhere"), -EINVAL);
	REQUIRE(sgf_server_listen(s.srv, address) == 0);
	CHECK_RET(sgf_server_listen(s.srv, address), -EBUSY);
	REQUIRE(pthread_create(&run, NULL, run_thread, &s) == 0);

	/* Every client but two reads the data file and leaves; two get stuck. */
	for (int i = 0; i < NCLIENTS; i++) {
		jobs[i] = (struct client_job){ .address = address, .stuck = i < 2 };
		REQUIRE(pthread_create(&th[i], NULL, client_main, &jobs[i]) == 0);
	}
	for (int i = 2; i < NCLIENTS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(jobs[i].result, DATA_SIZE);
	}
	CHECK(SH_WAIT_UNTIL(atomic_load(&stuck_kept) == 2, 10000));
	CHECK(!atomic_load(&s.returned));
	/* The clients that left: their sessions ended, each destroyed once. */
	CHECK(SH_WAIT_UNTIL(atomic_load(&shared->destroy_calls) == NCLIENTS - 2, 10000));

	sgf_server_exit(s.srv);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		/* Answered EIO by the library, or cut off as the session ended. */
		CHECK(jobs[i].result == -EIO || jobs[i].result == -ENOTCONN);
	}
	pthread_join(run, NULL);
	CHECK_EQ(s.ret, 0);
	sh_srv_stats(&s, &st);
	CHECK_EQ(st.abandoned, 2);
	CHECK_EQ(st.kept, 2);
	CHECK_EQ(atomic_load(&shared->destroy_calls), NCLIENTS);
	CHECK_EQ(atomic_load(&fs_made), NCLIENTS);
	CHECK_EQ(atomic_load(&fs_freed), NCLIENTS);
	CHECK(access(path, F_OK) != 0); /* the socket file is gone */
	sgf_server_destroy(s.srv);
	sh_fs_free(shared);
}

/* A socket handed over O_NONBLOCK with a small send buffer: big READ
 * replies must still leave whole (the library makes sends block). */
static void test_nonblocking_attach(void)
{
	struct sgf_ops ops;
	struct sh_srv s = { 0 };
	struct sh_fs *fs = sh_fs_new();
	struct sgf_client *c;
	struct fuse_entry_out e;
	struct sgf_file f;
	static char data[1 << 20], back[1 << 20];
	int sv[2], small = 4096;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + 3);
	sh_fs_add(fs, FUSE_ROOT_ID, "big", S_IFREG | 0644, data, sizeof(data));
	sh_ops_fill(&ops);
	sh_srv_new(&s, &ops, sizeof(ops), fs, NULL);
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	REQUIRE(fcntl(sv[1], F_SETFL, 0) == 0);
	REQUIRE(sgf_server_attach(s.srv, sv[0]) == 0);
	sh_srv_start(&s);
	REQUIRE(sgf_client_attach(sv[1], NULL, &c) == 0);
	CHECK_RET(sgf_lookup(c, FUSE_ROOT_ID, "big", &e), 0);
	CHECK_RET(sgf_open(c, e.nodeid, O_RDONLY, &f), 0);
	for (int round = 0; round < 4; round++) {
		memset(back, 0, sizeof(back));
		CHECK_RET(sgf_pread(c, &f, back, sizeof(back), 0), (long)sizeof(back));
		CHECK(memcmp(back, data, sizeof(data)) == 0);
	}
	sgf_release(c, &f);
	sgf_client_disconnect(c);
	CHECK_EQ(sh_srv_join(&s, 10000), 0);
	sh_srv_destroy(&s);
	sh_fs_free(fs);
}

int main(void)
{
	sh_init("test_listen", 90, 0);
	test_many_clients();
	test_nonblocking_attach();
	return sh_finish();
}
