/* tests/lib/test_mount_fusermount.c - the mount path unprivileged users
 * take: sgf_mount() through fusermount3 and its comm-fd protocol (forced,
 * since the test runs as root), a session served on the fd it hands back,
 * and sgf_unmount(). Skips (77) without root, /dev/fuse or fusermount3. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sgfuse/loop.h>
#include <sgfuse/mount.h>
#include <sgfuse/passthrough.h>

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

int main(void)
{
	struct sgf_mount_opts mo = { .source = "sgfuse-test", .subtype = "sgftest",
				     .force_fusermount = true };
	struct sgf_passthrough *pt;
	struct sgf_session *se;
	struct sgf_chan *ch;
	struct sgf_loop *loop;
	char path[128];
	struct stat st;
	int fd, err;

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

	/* A file, not a directory, is refused before anything is mounted. */
	snprintf(path, sizeof(path), "%s/plain", backing);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	CHECK(sgf_mount(path, &mo) == -ENOTDIR, "mount on a file must give ENOTDIR");

	fd = sgf_mount(mnt, &mo);
	CHECK(fd >= 0, "sgf_mount via fusermount3: %s", strerror(-fd));
	CHECK(fuse_mounted(mnt), "%s is not a fuse mount after sgf_mount", mnt);

	pt = sgf_passthrough_new(backing, NULL);
	CHECK(pt != NULL, "passthrough: %s", strerror(errno));
	se = sgf_session_new(sgf_passthrough_ops(), pt, NULL);
	ch = sgf_chan_dev_new(fd);
	CHECK(se && ch, "session/channel");
	loop = sgf_loop_start(se, ch, 2);
	CHECK(loop != NULL, "loop: %s", strerror(errno));

	snprintf(path, sizeof(path), "%s/plain", mnt);
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode), "stat through the mount: %s",
	      strerror(errno));
	CHECK(sgf_session_initialized(se), "INIT did not happen");

	err = sgf_unmount(mnt);
	CHECK(err == 0, "sgf_unmount: %s", strerror(-err));
	CHECK(!fuse_mounted(mnt), "still mounted after sgf_unmount");
	err = sgf_loop_join(loop);
	CHECK(err == 0, "workers ended with %s", strerror(-err));
	sgf_session_destroy(se);
	sgf_chan_free(ch);
	sgf_passthrough_free(pt);

	printf("PASS\n");
	return 0;
}
