/* tests/mounted/test_many_nodes.c - a tree with far more entries than the
 * daemon may open files: with RLIMIT_NOFILE 1024, ls -l, find, du and rm -rf
 * of a directory of many files all succeed through the mount, and the
 * daemon's open fds stay under the limit all along (the passthrough fs keeps
 * nodes by file handle and only a bounded number of their fds open). */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FD_LIMIT 1024
/* Well beyond the limit, and quick enough to make in the backing tmpfs. */
#define NFILES 100000

static atomic_bool sampling;
static atomic_int max_fds;

static int count_fds(pid_t pid)
{
	char path[64];
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	for (struct dirent *de; (de = readdir(d));)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void *sample_fds(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	while (atomic_load(&sampling)) {
		int n = count_fds(pid);

		if (n > atomic_load(&max_fds))
			atomic_store(&max_fds, n);
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static void make_files(const char *dir)
{
	char name[32];
	int dfd;

	REQUIRE(mkdir(dir, 0755) == 0);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0);
	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "f%06d", i);
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		REQUIRE(fd >= 0);
		close(fd);
	}
	close(dfd);
}

/* Run cmd through the shell (stderr to a file); true when it exits 0 with
 * nothing on stderr, else the first complaint is shown. */
static bool run(const char *cmd)
{
	char full[8192], errpath[4096], err[512] = "";
	int status;

	H_PATH(errpath, h_root(), "cmd.err");
	snprintf(full, sizeof(full), "%s 2>%s", cmd, errpath);
	status = system(full);
	ssize_t n = h_read_file(errpath, err, sizeof(err));
	if (status == 0 && n == 0)
		return true;
	fprintf(stderr, "'%s': status %d, stderr: %.200s\n", cmd, status, n > 0 ? err : "");
	return false;
}

/* Output of cmd as a number, -1 if it fails. */
static long run_count(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	long n = -1;

	if (!p)
		return -1;
	if (fscanf(p, "%ld", &n) != 1)
		n = -1;
	if (pclose(p) != 0)
		n = -1;
	return n;
}

int main(int argc, char **argv)
{
	char big_back[4096], big[4096], cmd[8192];
	pthread_t sampler;
	pid_t pid;

	h_init(argc, argv, 110);
	H_PATH(big_back, h_backing(), "big");
	H_PATH(big, h_mnt(), "big");
	make_files(big_back);

	h_set_fd_limit(FD_LIMIT);
	pid = h_start(NULL);
	atomic_store(&sampling, true);
	REQUIRE(pthread_create(&sampler, NULL, sample_fds, &pid) == 0);

	/* READDIRPLUS hands out a node per entry, then lstat and getxattr. */
	snprintf(cmd, sizeof(cmd), "ls -l %s >/dev/null", big);
	CHECK(run(cmd));
	/* Every entry again, by lookup and getattr. */
	snprintf(cmd, sizeof(cmd), "find %s -type f -size -1k | wc -l", big);
	CHECK_EQ(run_count(cmd), NFILES);
	snprintf(cmd, sizeof(cmd), "du -s %s >/dev/null", big);
	CHECK(run(cmd));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", big);
	CHECK(run(cmd));
	CHECK_ERR(access(big_back, F_OK), ENOENT);

	atomic_store(&sampling, false);
	pthread_join(sampler, NULL);
	printf("daemon fds at most %d (limit %d)\n", atomic_load(&max_fds), FD_LIMIT);
	CHECK(atomic_load(&max_fds) > 0);
	CHECK(atomic_load(&max_fds) < FD_LIMIT);
	CHECK_EQ(h_stop(), 0);
	return h_finish();
}
