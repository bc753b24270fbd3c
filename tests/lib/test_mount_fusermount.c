/* tests/lib/test_mount_fusermount.c - the mount path unprivileged users
 * take: the server object mounting through fusermount3 and its comm-fd
 * protocol (force_fusermount, since the test runs as root), serving the fd
 * it hands back, and unmounting: by the server when run is asked to exit,
 * and from outside (run then ends by itself). Skips (77) without root,
 * /dev/fuse or fusermount3. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/passthrough.h>
#include <sgfuse/server.h>

static char root[] = "/tmp/sgfuse-test.XXXXXX";
static char mnt[64], backing[64];

static bool fuse_mounted(const char *path)
{
	char line[4096], dir[1024], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	bool found = false;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %1023s %63s", dir, type) == 2 && !strcmp(dir, path) &&
		    !strncmp(type, "fuse", 4))
			found = true;
	if (f)
		fclose(f);
	return found;
}

static void cleanup(void)
{
	char path[128];

	while (fuse_mounted(mnt))
		umount2(mnt, MNT_DETACH);
	snprintf(path, sizeof(path), "%s/plain", backing);
	unlink(path);
	rmdir(backing);
	rmdir(mnt);
	rmdir(root);
}

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } } while (0)

static const struct sgf_server_opts opts = {
	.fsname = "sgfuse-test", .subtype = "sgftest", .force_fusermount = true, .threads = 2,
};

/* The passthrough table with destroy counted. */
static struct sgf_ops ops;
static int destroys;

static void count_destroy(void *fs)
{
	destroys++;
	if (sgf_passthrough_ops()->destroy)
		sgf_passthrough_ops()->destroy(fs);
}

struct runner {
	struct sgf_passthrough *pt;  /* one per session: nodes outlive it */
	struct sgf_server *srv;
	pthread_t thread;
	int ret;
};

static void *run_main(void *arg)
{
	struct runner *r = arg;
	r->ret = sgf_server_run(r->srv);
	return NULL;
}

/* Wait for run to return (bounded); its result. */
static int join_run(struct runner *r)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	if (pthread_timedjoin_np(r->thread, NULL, &until) != 0) {
		sgf_server_exit(r->srv);
		pthread_join(r->thread, NULL);
		CHECK(0, "sgf_server_run did not return");
	}
	return r->ret;
}

/* Mount with a new server, start run, check a stat through the mount and
 * that INIT happened. */
static void start(struct runner *r)
{
	char path[128];
	struct stat st;
	int err;

	err = sgf_passthrough_new(&r->pt, backing, NULL);
	CHECK(err == 0, "passthrough: %s", strerror(-err));
	err = sgf_server_new(&r->srv, &ops, sizeof(ops), r->pt, &opts);
	CHECK(err == 0, "sgf_server_new: %s", strerror(-err));
	err = sgf_server_mount(r->srv, mnt);
	CHECK(err == 0, "sgf_server_mount via fusermount3: %s", strerror(-err));
	CHECK(fuse_mounted(mnt), "%s is not a fuse mount after sgf_server_mount", mnt);
	CHECK(sgf_server_session(r->srv) != NULL, "no session after mount");
	r->ret = 1;
	err = pthread_create(&r->thread, NULL, run_main, r);
	CHECK(err == 0, "pthread_create: %s", strerror(err));

	snprintf(path, sizeof(path), "%s/plain", mnt);
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode), "stat through the mount: %s",
	      strerror(errno));
	CHECK(sgf_session_conn(sgf_server_session(r->srv)) != NULL, "INIT did not happen");
}

int main(void)
{
	struct sgf_server *srv;
	struct runner r;
	char path[128];
	int err;

	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0 ||
	    (access("/usr/bin/fusermount3", X_OK) != 0 && access("/bin/fusermount3", X_OK) != 0)) {
		printf("SKIP: needs root, /dev/fuse and fusermount3\n");
		return 77;
	}
	/* A private mount namespace: whatever happens, nothing leaks out. */
	if (unshare(CLONE_NEWNS) == 0)
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	CHECK(mkdtemp(root) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(mnt, sizeof(mnt), "%s/mnt", root);
	snprintf(backing, sizeof(backing), "%s/backing", root);
	CHECK(mkdir(mnt, 0755) == 0 && mkdir(backing, 0755) == 0, "mkdir");
	atexit(cleanup);
	ops = *sgf_passthrough_ops();
	ops.destroy = count_destroy;

	/* A file, not a directory, is refused before anything is mounted;
	 * the server is still free to mount elsewhere afterwards. */
	snprintf(path, sizeof(path), "%s/plain", backing);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	err = sgf_server_new(&srv, &ops, sizeof(ops), NULL, &opts);
	CHECK(err == 0, "sgf_server_new: %s", strerror(-err));
	err = sgf_server_mount(srv, path);
	CHECK(err == -ENOTDIR, "mount on a file must give ENOTDIR, got %s", strerror(-err));
	CHECK(!fuse_mounted(path), "the failed mount left %s mounted", path);
	CHECK(sgf_server_session(srv) == NULL, "a session after a failed mount");
	sgf_server_destroy(srv);
	CHECK(destroys == 0, "destroy called for a session that never ran");

	/* Run asked to exit: the server unmounts (fusermount's mount), the
	 * session ends cleanly, destroy once. */
	start(&r);
	sgf_server_exit(r.srv);
	err = join_run(&r);
	CHECK(err == 0, "run ended with %s", strerror(-err));
	CHECK(!fuse_mounted(mnt), "still mounted after run returned");
	CHECK(destroys == 1, "destroy called %d times", destroys);
	sgf_server_destroy(r.srv);
	CHECK(destroys == 1, "destroy called again by sgf_server_destroy");
	sgf_passthrough_free(r.pt);

	/* Unmounted from outside: run ends by itself, cleanly. */
	start(&r);
	CHECK(umount2(mnt, 0) == 0, "umount %s: %s", mnt, strerror(errno));
	err = join_run(&r);
	CHECK(err == 0, "run ended with %s after the unmount", strerror(-err));
	CHECK(!fuse_mounted(mnt), "still mounted");
	CHECK(destroys == 2, "destroy called %d times", destroys);
	sgf_server_destroy(r.srv);
	CHECK(destroys == 2, "destroy called again by sgf_server_destroy");
	sgf_passthrough_free(r.pt);

	printf("PASS\n");
	return 0;
}
