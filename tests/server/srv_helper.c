/* tests/server/srv_helper.c - see srv_helper.h. */
#include "srv_helper.h"
#include "../uring_param.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- checks ---------------------------------------------------------------- */

static const char *test_name = "test";
static atomic_int failures;

void sh_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	atomic_fetch_add(&failures, 1);
}

int sh_failures(void)
{
	return atomic_load(&failures);
}

/* ---- setup and cleanup ----------------------------------------------------- */

static char root_dir[256], mnt_dir[PATH_MAX];
static volatile sig_atomic_t have_dirs;
/* $SGF_TEST_URING: every server serves its mount through io_uring rings
 * (the kernel's setting is switched on for the run and back), and the run
 * fails unless requests came through them. */
static bool uring_run;
static uint64_t uring_seen;
static sigset_t watch_set;

/* An unsigned number in decimal at p; the end. */
static char *put_uint(char *p, unsigned v)
{
	char tmp[16];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* One mountinfo line (NUL-terminated, without its newline): a FUSE mount
 * on our mountpoint gets its connection aborted. */
static void abort_if_ours(char *line)
{
	char *f[5];
	int n = 0;

	/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
	for (char *p = line; *p && n < 5; n++) {
		f[n] = p;
		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (n < 5 || strcmp(f[4], mnt_dir) != 0 || strncmp(f[2], "0:", 2) != 0)
		return;
	unsigned minor = 0;
	for (const char *d = f[2] + 2; *d >= '0' && *d <= '9'; d++)
		minor = minor * 10 + (unsigned)(*d - '0');
	char path[80] = "/sys/fs/fuse/connections/";
	char *e = put_uint(path + strlen(path), minor);
	memcpy(e, "/abort", sizeof("/abort"));
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0) {
			/* nothing more to try */
		}
		close(fd);
	}
}

/* A thread of ours waiting on a request our own server has read waits
 * uninterruptibly, and the process cannot die while it waits (its exit
 * would close the /dev/fuse fd that could end the wait): abort the
 * connection of whatever FUSE mount is on the mountpoint. System calls
 * only, static buffers: usable from signal handlers. */
static void abort_our_connections(void)
{
	static char buf[8192 + 4096];
	size_t have = 0;
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			abort_if_ours(line);
			line = nl + 1;
		}
		have = (size_t)(buf + have - line);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			have = 0; /* a line longer than the buffer: skip it */
	}
	close(fd);
}

/* Async-signal-safe: only system calls on paths made at init. */
static void cleanup_safe(void)
{
	uring_param_restore();
	if (!have_dirs)
		return;
	abort_our_connections();
	for (int i = 0; i < 16 && umount2(mnt_dir, MNT_DETACH | UMOUNT_NOFOLLOW) == 0; i++)
		;
	rmdir(mnt_dir);
	rmdir(root_dir);
}

static void cleanup_atexit(void)
{
	cleanup_safe();
	have_dirs = 0;
}

static void say(const char *msg)
{
	if (write(2, msg, strlen(msg)) < 0) {
		/* nothing to do */
	}
}

static void on_fatal(int sig)
{
	say("srv_helper: fatal signal, cleaning up\n");
	cleanup_safe();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Sanitizers die through their own exit path, which skips atexit. */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void on_sanitizer_death(void)
{
	cleanup_safe();
}

static void *watchdog(void *arg)
{
	int sig = 0;

	(void)arg;
	/* It takes the signals in watch_set by sigwait; nothing else. */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (sigwait(&watch_set, &sig) != 0)
		;
	say(sig == SIGALRM ? "srv_helper: TIMEOUT, cleaning up\n"
			   : "srv_helper: terminated, cleaning up\n");
	cleanup_safe();
	_exit(1);
}

void sh_init(const char *name, unsigned timeout_s, unsigned flags)
{
	struct sigaction sa;
	pthread_t t;

	test_name = name;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
		printf("SKIP %s: needs root and /dev/fuse\n", name);
		exit(SH_SKIP);
	}
	uring_run = getenv("SGF_TEST_URING") != NULL;
	if (uring_run && uring_param_on() != 0) {
		printf("SKIP %s: io_uring run, but this kernel has no FUSE over io_uring to "
		       "switch on (%s)\n", name, SGF_URING_PARAM);
		exit(SH_SKIP);
	}
	/* Before any thread: unshare(CLONE_NEWNS) refuses a shared fs_struct.
	 * Mounts made in the namespace die with it. */
	if (unshare(CLONE_NEWNS) == 0) {
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
		/* fusectl, for aborting a connection that hangs (see
		 * cleanup_safe); in our namespace only, EBUSY if there. */
		mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, NULL);
	} else
		fprintf(stderr, "srv_helper: no private mount namespace: %s\n", strerror(errno));
	snprintf(root_dir, sizeof(root_dir), "/tmp/sgfuse-test-srv-XXXXXX");
	if (mkdtemp(root_dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(mnt_dir, sizeof(mnt_dir), "%s/mnt", root_dir);
	if (mkdir(mnt_dir, 0755) != 0) {
		perror("mkdir mnt");
		rmdir(root_dir);
		exit(1);
	}
	have_dirs = 1;
	atexit(cleanup_atexit);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(on_sanitizer_death);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGABRT, &sa, NULL);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
#endif
	signal(SIGPIPE, SIG_IGN);

	sigemptyset(&watch_set);
	sigaddset(&watch_set, SIGALRM);
	if (!(flags & SH_KEEP_TERM)) {
		sigaddset(&watch_set, SIGTERM);
		sigaddset(&watch_set, SIGINT);
		sigaddset(&watch_set, SIGHUP);
	}
	pthread_sigmask(SIG_BLOCK, &watch_set, NULL);
	if (pthread_create(&t, NULL, watchdog, NULL) != 0) {
		perror("watchdog");
		exit(1);
	}
	pthread_detach(t);
	alarm(timeout_s);
}

int sh_finish(void)
{
	int n;

	if (uring_run && uring_seen == 0)
		sh_fail(__FILE__, __LINE__, "io_uring run, but no request came through a ring");
	n = sh_failures();
	sh_umount_all();
	if (n)
		printf("FAIL %s: %d check(s) failed\n", test_name, n);
	else
		printf("PASS %s\n", test_name);
	fflush(stdout);
	return n ? 1 : 0;
}

const char *sh_root(void)
{
	return root_dir;
}

const char *sh_mnt(void)
{
	return mnt_dir;
}

char *sh_path(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", mnt_dir, name);

	if (n < 0 || (size_t)n >= size) {
		sh_fail(__FILE__, __LINE__, "path too long: %s", name);
		exit(sh_finish());
	}
	return buf;
}

bool sh_is_mounted(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mp[PATH_MAX];
	bool found = false;

	if (f == NULL)
		return false;
	/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, path) == 0)
			found = true;
	fclose(f);
	return found;
}

void sh_umount_all(void)
{
	abort_our_connections();
	for (int i = 0; i < 16 && umount2(mnt_dir, MNT_DETACH | UMOUNT_NOFOLLOW) == 0; i++)
		;
}

double sh_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sh_msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* ---- the in-memory filesystem ---------------------------------------------- */

static struct sh_fs *fs_of(const struct sgf_req *r)
{
	return r->fs;
}

/* Locked. */
static struct sh_node *node_of(struct sh_fs *fs, uint64_t ino)
{
	if (ino == 0 || ino >= fs->next_ino)
		return NULL;
	struct sh_node *n = &fs->nodes[ino - 1];
	return n->mode ? n : NULL;
}

static struct sh_node *child_of(struct sh_fs *fs, uint64_t parent, const char *name)
{
	for (uint64_t i = 1; i < fs->next_ino; i++) {
		struct sh_node *n = &fs->nodes[i - 1];
		if (n->mode && n->parent == parent && i != parent && strcmp(n->name, name) == 0)
			return n;
	}
	return NULL;
}

static bool dir_empty(struct sh_fs *fs, uint64_t dir)
{
	for (uint64_t i = 2; i < fs->next_ino; i++)
		if (fs->nodes[i - 1].mode && fs->nodes[i - 1].parent == dir)
			return false;
	return true;
}

static int set_size(struct sh_node *n, size_t size)
{
	if (size > n->cap) {
		size_t cap = n->cap ? n->cap : 4096;
		while (cap < size)
			cap *= 2;
		char *d = realloc(n->data, cap);
		if (d == NULL)
			return -ENOMEM;
		n->data = d;
		n->cap = cap;
	}
	if (size > n->size)
		memset(n->data + n->size, 0, size - n->size);
	n->size = size;
	return 0;
}

static struct sh_node *new_node(struct sh_fs *fs, uint64_t parent, const char *name,
				uint32_t mode)
{
	struct sh_node *n;

	if (fs->next_ino > SH_MAX_NODES || strlen(name) >= sizeof(n->name))
		return NULL;
	n = &fs->nodes[fs->next_ino - 1];
	memset(n, 0, sizeof(*n));
	n->ino = fs->next_ino++;
	n->mode = mode;
	n->parent = parent;
	snprintf(n->name, sizeof(n->name), "%s", name);
	return n;
}

struct sh_fs *sh_fs_new(void)
{
	struct sh_fs *fs = calloc(1, sizeof(*fs));

	if (fs == NULL || (fs->nodes = calloc(SH_MAX_NODES, sizeof(*fs->nodes))) == NULL) {
		fprintf(stderr, "sh_fs_new: out of memory\n");
		exit(1);
	}
	pthread_mutex_init(&fs->lock, NULL);
	fs->next_ino = 1;
	new_node(fs, 0, "", S_IFDIR | 0755);
	return fs;
}

void sh_fs_free(struct sh_fs *fs)
{
	if (fs == NULL)
		return;
	for (uint64_t i = 1; i < fs->next_ino; i++)
		free(fs->nodes[i - 1].data);
	free(fs->nodes);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

uint64_t sh_fs_add(struct sh_fs *fs, uint64_t parent, const char *name, uint32_t mode,
		   const void *data, size_t len)
{
	struct sh_node *n;
	uint64_t ino = 0;

	pthread_mutex_lock(&fs->lock);
	n = child_of(fs, parent, name) ? NULL : new_node(fs, parent, name, mode);
	if (n && len && set_size(n, len) == 0)
		memcpy(n->data, data, len);
	if (n)
		ino = n->ino;
	pthread_mutex_unlock(&fs->lock);
	if (ino == 0) {
		sh_fail(__FILE__, __LINE__, "sh_fs_add %s failed", name);
		exit(sh_finish());
	}
	return ino;
}

uint64_t sh_fs_find(struct sh_fs *fs, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = child_of(fs, parent, name);
	uint64_t ino = n ? n->ino : 0;
	pthread_mutex_unlock(&fs->lock);
	return ino;
}

void sh_fs_set_data(struct sh_fs *fs, uint64_t ino, const void *data, size_t len)
{
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n && set_size(n, len) == 0 && len)
		memcpy(n->data, data, len);
	pthread_mutex_unlock(&fs->lock);
}

void sh_fs_set_mode(struct sh_fs *fs, uint64_t ino, uint32_t perms)
{
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n)
		n->mode = (n->mode & S_IFMT) | (perms & 07777);
	pthread_mutex_unlock(&fs->lock);
}

void sh_fs_set_refuse_read(struct sh_fs *fs, uint64_t ino, bool refuse)
{
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n)
		n->refuse_read = refuse;
	pthread_mutex_unlock(&fs->lock);
}

int sh_fs_move(struct sh_fs *fs, uint64_t ino, uint64_t newparent, const char *newname)
{
	int err = 0;

	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n == NULL || strlen(newname) >= sizeof(n->name) || child_of(fs, newparent, newname))
		err = -EINVAL;
	else {
		n->parent = newparent;
		snprintf(n->name, sizeof(n->name), "%s", newname);
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

int sh_fs_remove(struct sh_fs *fs, uint64_t ino)
{
	int err = 0;

	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n == NULL || ino == 1)
		err = -EINVAL;
	else
		n->parent = 0;
	pthread_mutex_unlock(&fs->lock);
	return err;
}

long sh_fs_calls(struct sh_fs *fs, uint32_t opcode)
{
	return opcode < SGF_OPCODE_LIMIT ? atomic_load(&fs->calls[opcode]) : 0;
}

static void count(const struct sgf_req *r, uint32_t opcode)
{
	atomic_fetch_add(&fs_of(r)->calls[opcode], 1);
}

/* Locked. */
static void fill_attr(const struct sh_node *n, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = n->ino;
	a->size = n->size;
	a->blocks = (n->size + 511) / 512;
	a->atime = a->mtime = a->ctime = 1700000000;
	a->mode = n->mode;
	a->nlink = S_ISDIR(n->mode) ? 2 : 1;
	a->uid = 0;
	a->gid = 0;
	a->blksize = 4096;
}

static void fill_entry(struct sh_fs *fs, const struct sh_node *n, struct fuse_entry_out *e)
{
	memset(e, 0, sizeof(*e));
	e->nodeid = n->ino;
	e->generation = 1;
	e->entry_valid = fs->entry_valid;
	e->attr_valid = fs->attr_valid;
	fill_attr(n, &e->attr);
}

int sh_init_op(void *fsp, struct sgf_conn_info *ci)
{
	struct sh_fs *fs = fsp;

	(void)ci;
	atomic_fetch_add(&fs->init_calls, 1);
	return 0;
}

void sh_destroy_op(void *fsp)
{
	struct sh_fs *fs = fsp;

	atomic_fetch_add(&fs->destroy_calls, 1);
}

int sh_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
	      struct fuse_entry_out *out)
{
	struct sh_fs *fs = fs_of(r);
	int err = -ENOENT;

	count(r, FUSE_LOOKUP);
	pthread_mutex_lock(&fs->lock);
	struct sh_node *p = node_of(fs, parent), *n;
	if (p == NULL || !S_ISDIR(p->mode))
		err = -ENOTDIR;
	else if ((n = child_of(fs, parent, name)) != NULL) {
		fill_entry(fs, n, out);
		err = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

void sh_forget(const struct sgf_req *r, uint64_t ino, uint64_t nlookup)
{
	(void)ino, (void)nlookup;
	count(r, FUSE_FORGET);
}

int sh_getattr(const struct sgf_req *r, uint64_t ino, const struct fuse_getattr_in *in,
	       struct fuse_attr_out *out)
{
	struct sh_fs *fs = fs_of(r);
	int err = -ENOENT;

	(void)in;
	count(r, FUSE_GETATTR);
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n) {
		fill_attr(n, &out->attr);
		out->attr_valid = fs->attr_valid;
		err = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

int sh_setattr(const struct sgf_req *r, uint64_t ino, const struct fuse_setattr_in *in,
	       struct fuse_attr_out *out)
{
	struct sh_fs *fs = fs_of(r);
	int err = -ENOENT;

	count(r, FUSE_SETATTR);
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n) {
		err = 0;
		if (in->valid & FATTR_MODE)
			n->mode = (n->mode & S_IFMT) | (in->mode & 07777);
		if (in->valid & FATTR_SIZE)
			err = S_ISREG(n->mode) ? set_size(n, in->size) : -EISDIR;
		fill_attr(n, &out->attr);
		out->attr_valid = fs->attr_valid;
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

ssize_t sh_readlink(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
{
	struct sh_fs *fs = fs_of(r);
	ssize_t ret = -ENOENT;

	count(r, FUSE_READLINK);
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n && !S_ISLNK(n->mode))
		ret = -EINVAL;
	else if (n) {
		size_t len = n->size < size ? n->size : size;
		memcpy(buf, n->data, len);
		ret = (ssize_t)len;
	}
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

/* Locked: a new node in parent, its entry in out. */
static int make_node(struct sh_fs *fs, uint64_t parent, const char *name, uint32_t mode,
		     const char *data, struct fuse_entry_out *out)
{
	struct sh_node *p = node_of(fs, parent), *n;
	size_t len = data ? strlen(data) : 0;

	if (p == NULL || !S_ISDIR(p->mode))
		return -ENOTDIR;
	if (child_of(fs, parent, name))
		return -EEXIST;
	n = new_node(fs, parent, name, mode);
	if (n == NULL)
		return -ENOSPC;
	if (len && set_size(n, len) == 0)
		memcpy(n->data, data, len);
	fill_entry(fs, n, out);
	return 0;
}

int sh_symlink(const struct sgf_req *r, uint64_t parent, const char *name, const char *target,
	       struct fuse_entry_out *out)
{
	struct sh_fs *fs = fs_of(r);

	count(r, FUSE_SYMLINK);
	pthread_mutex_lock(&fs->lock);
	int err = make_node(fs, parent, name, S_IFLNK | 0777, target, out);
	pthread_mutex_unlock(&fs->lock);
	return err;
}

int sh_mkdir(const struct sgf_req *r, uint64_t parent, const char *name,
	     const struct fuse_mkdir_in *in, struct fuse_entry_out *out)
{
	struct sh_fs *fs = fs_of(r);

	count(r, FUSE_MKDIR);
	pthread_mutex_lock(&fs->lock);
	int err = make_node(fs, parent, name, S_IFDIR | (in->mode & 07777), NULL, out);
	pthread_mutex_unlock(&fs->lock);
	return err;
}

static int remove_child(const struct sgf_req *r, uint64_t parent, const char *name, bool dir)
{
	struct sh_fs *fs = fs_of(r);
	int err = -ENOENT;

	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = child_of(fs, parent, name);
	if (n && dir && !S_ISDIR(n->mode))
		err = -ENOTDIR;
	else if (n && !dir && S_ISDIR(n->mode))
		err = -EISDIR;
	else if (n && dir && !dir_empty(fs, n->ino))
		err = -ENOTEMPTY;
	else if (n) {
		n->parent = 0;
		err = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

int sh_unlink(const struct sgf_req *r, uint64_t parent, const char *name)
{
	count(r, FUSE_UNLINK);
	return remove_child(r, parent, name, false);
}

int sh_rmdir(const struct sgf_req *r, uint64_t parent, const char *name)
{
	count(r, FUSE_RMDIR);
	return remove_child(r, parent, name, true);
}

int sh_rename(const struct sgf_req *r, uint64_t parent, const char *name, uint64_t newparent,
	      const char *newname, uint32_t flags)
{
	struct sh_fs *fs = fs_of(r);
	int err = 0;

	count(r, FUSE_RENAME);
	if (flags & ~(uint32_t)1 /* RENAME_NOREPLACE */)
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = child_of(fs, parent, name), *old = child_of(fs, newparent, newname);
	struct sh_node *np = node_of(fs, newparent);
	if (n == NULL)
		err = -ENOENT;
	else if (np == NULL || !S_ISDIR(np->mode))
		err = -ENOTDIR;
	else if (old == n)
		err = 0;
	else if (old && (flags & 1))
		err = -EEXIST;
	else if (old && S_ISDIR(old->mode) && !dir_empty(fs, old->ino))
		err = -ENOTEMPTY;
	else {
		if (old)
			old->parent = 0;
		n->parent = newparent;
		snprintf(n->name, sizeof(n->name), "%s", newname);
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

int sh_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	    struct fuse_open_out *out)
{
	struct sh_fs *fs = fs_of(r);
	int err = -ENOENT;

	(void)in;
	count(r, FUSE_OPEN);
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n && S_ISDIR(n->mode))
		err = -EISDIR;
	else if (n) {
		out->fh = ino;
		out->open_flags = fs->open_flags;
		err = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

int sh_create(const struct sgf_req *r, uint64_t parent, const char *name,
	      const struct fuse_create_in *in, struct fuse_entry_out *entry,
	      struct fuse_open_out *open)
{
	struct sh_fs *fs = fs_of(r);

	count(r, FUSE_CREATE);
	pthread_mutex_lock(&fs->lock);
	int err = make_node(fs, parent, name, S_IFREG | (in->mode & 07777), NULL, entry);
	if (err == 0) {
		open->fh = entry->nodeid;
		open->open_flags = fs->open_flags;
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

ssize_t sh_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
		const struct iovec *iov, int iovcnt)
{
	struct sh_fs *fs = fs_of(r);
	ssize_t ret = -ENOENT;

	count(r, FUSE_READ);
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n && n->refuse_read) {
		atomic_fetch_add(&fs->refused_reads, 1);
		ret = -EIO;
	} else if (n && S_ISDIR(n->mode)) {
		ret = -EISDIR;
	} else if (n) {
		size_t done = 0, want = in->size;
		uint64_t off = in->offset;
		for (int i = 0; i < iovcnt && done < want && off < n->size; i++) {
			size_t k = iov[i].iov_len;
			if (k > want - done)
				k = want - done;
			if (k > n->size - off)
				k = (size_t)(n->size - off);
			memcpy(iov[i].iov_base, n->data + off, k);
			done += k;
			off += k;
		}
		ret = (ssize_t)done;
	}
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

ssize_t sh_write(const struct sgf_req *r, uint64_t ino, const struct fuse_write_in *in,
		 const struct iovec *iov, int iovcnt)
{
	struct sh_fs *fs = fs_of(r);
	ssize_t ret = -ENOENT;

	count(r, FUSE_WRITE);
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n && !S_ISREG(n->mode))
		ret = -EINVAL;
	else if (n && in->offset + in->size > (1u << 28))
		ret = -EFBIG;
	else if (n) {
		size_t done = 0;
		if (in->offset + in->size > n->size && set_size(n, in->offset + in->size) != 0)
			ret = -ENOMEM;
		else {
			for (int i = 0; i < iovcnt && done < in->size; i++) {
				size_t k = iov[i].iov_len;
				if (k > in->size - done)
					k = in->size - done;
				memcpy(n->data + in->offset + done, iov[i].iov_base, k);
				done += k;
			}
			ret = (ssize_t)done;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

int sh_flush(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in)
{
	(void)ino, (void)in;
	count(r, FUSE_FLUSH);
	return 0;
}

int sh_release(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in)
{
	(void)ino, (void)in;
	count(r, FUSE_RELEASE);
	return 0;
}

int sh_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in)
{
	(void)ino, (void)in;
	count(r, FUSE_FSYNC);
	return 0;
}

int sh_opendir(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
	       struct fuse_open_out *out)
{
	struct sh_fs *fs = fs_of(r);
	int err = -ENOENT;

	(void)in;
	count(r, FUSE_OPENDIR);
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n && !S_ISDIR(n->mode))
		err = -ENOTDIR;
	else if (n) {
		out->fh = ino;
		err = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

/* Entries of a directory in ino order; the cookie of each is its ino. */
int sh_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in, bool plus,
	       struct sgf_dirbuf *db)
{
	struct sh_fs *fs = fs_of(r);
	int err = 0;

	count(r, plus ? FUSE_READDIRPLUS : FUSE_READDIR);
	pthread_mutex_lock(&fs->lock);
	struct sh_node *d = node_of(fs, ino);
	if (d == NULL)
		err = -ENOENT;
	else if (!S_ISDIR(d->mode))
		err = -ENOTDIR;
	for (uint64_t i = in->offset + 1; err == 0 && i < fs->next_ino; i++) {
		struct sh_node *n = &fs->nodes[i - 1];
		size_t len = strlen(n->name);
		if (!n->mode || n->parent != ino || i == ino)
			continue;
		if (!sgf_dirbuf_fits(db, len, plus))
			break;
		if (plus) {
			struct fuse_entry_out e;
			fill_entry(fs, n, &e);
			err = sgf_dirbuf_add_plus(db, n->name, len, &e, i);
		} else {
			err = sgf_dirbuf_add(db, n->name, len, i, (n->mode & S_IFMT) >> 12, i);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

int sh_releasedir(const struct sgf_req *r, uint64_t ino, const struct fuse_release_in *in)
{
	(void)ino, (void)in;
	count(r, FUSE_RELEASEDIR);
	return 0;
}

int sh_statfs(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out)
{
	(void)ino;
	count(r, FUSE_STATFS);
	out->st.blocks = SH_STATFS_BLOCKS;
	out->st.bfree = SH_STATFS_BFREE;
	out->st.bavail = SH_STATFS_BAVAIL;
	out->st.files = SH_STATFS_FILES;
	out->st.ffree = SH_STATFS_FFREE;
	out->st.bsize = SH_STATFS_BSIZE;
	out->st.frsize = SH_STATFS_BSIZE;
	out->st.namelen = 255;
	return 0;
}

/* The value of xattr name on n into val (locked); its length or -ENODATA. */
static int xattr_value(const struct sh_node *n, const char *name, char *val, size_t size)
{
	if (strcmp(name, "user.ino") == 0)
		return snprintf(val, size, "%" PRIu64, n->ino);
	if (strcmp(name, "user.name") == 0)
		return snprintf(val, size, "%s", n->name);
	return -ENODATA;
}

ssize_t sh_getxattr(const struct sgf_req *r, uint64_t ino, const char *name, void *buf,
		    size_t size)
{
	struct sh_fs *fs = fs_of(r);
	char val[300];
	ssize_t ret = -ENOENT;

	count(r, FUSE_GETXATTR);
	pthread_mutex_lock(&fs->lock);
	struct sh_node *n = node_of(fs, ino);
	if (n)
		ret = xattr_value(n, name, val, sizeof(val));
	pthread_mutex_unlock(&fs->lock);
	if (ret < 0 || size == 0)
		return ret;
	if ((size_t)ret > size)
		return -ERANGE;
	memcpy(buf, val, (size_t)ret);
	return ret;
}

ssize_t sh_listxattr(const struct sgf_req *r, uint64_t ino, char *buf, size_t size)
{
	static const char names[] = "user.ino\0user.name";
	(void)ino;
	count(r, FUSE_LISTXATTR);
	if (size == 0)
		return sizeof(names);
	if (size < sizeof(names))
		return -ERANGE;
	memcpy(buf, names, sizeof(names));
	return sizeof(names);
}

void sh_ops_fill(struct sgf_ops *ops)
{
	memset(ops, 0, sizeof(*ops));
	ops->init = sh_init_op;
	ops->destroy = sh_destroy_op;
	ops->lookup = sh_lookup;
	ops->forget = sh_forget;
	ops->getattr = sh_getattr;
	ops->setattr = sh_setattr;
	ops->readlink = sh_readlink;
	ops->symlink = sh_symlink;
	ops->mkdir = sh_mkdir;
	ops->unlink = sh_unlink;
	ops->rmdir = sh_rmdir;
	ops->rename = sh_rename;
	ops->open = sh_open;
	ops->create = sh_create;
	ops->read = sh_read;
	ops->write = sh_write;
	ops->flush = sh_flush;
	ops->release = sh_release;
	ops->fsync = sh_fsync;
	ops->opendir = sh_opendir;
	ops->readdir = sh_readdir;
	ops->releasedir = sh_releasedir;
	ops->statfs = sh_statfs;
	ops->getxattr = sh_getxattr;
	ops->listxattr = sh_listxattr;
}

/* ---- a server on its own thread -------------------------------------------- */

static void *run_thread(void *arg)
{
	struct sh_srv *s = arg;

	s->ret = sgf_server_run(s->srv);
	atomic_store(&s->returned, true);
	return NULL;
}

void sh_srv_new(struct sh_srv *s, const struct sgf_ops *ops, size_t ops_size, void *fs,
		const struct sgf_server_opts *opts)
{
	struct sgf_server_opts o = { 0 };
	int err;

	memset(s, 0, sizeof(*s));
	if (opts)
		o = *opts;
	o.io_uring = o.io_uring || uring_run;
	err = sgf_server_new(&s->srv, ops, ops_size, fs, &o);
	if (err) {
		sh_fail(__FILE__, __LINE__, "sgf_server_new: %s", strerror(-err));
		exit(sh_finish());
	}
}

void sh_srv_start(struct sh_srv *s)
{
	int err = pthread_create(&s->thread, NULL, run_thread, s);

	if (err) {
		sh_fail(__FILE__, __LINE__, "pthread_create: %s", strerror(err));
		exit(sh_finish());
	}
	s->started = true;
}

void sh_srv_wait_live(void)
{
	struct stat parent, st;

	/* Blocks until INIT is settled and the root's GETATTR answered. */
	REQUIRE(sh_is_mounted(mnt_dir));
	REQUIRE(stat(root_dir, &parent) == 0);
	REQUIRE(stat(mnt_dir, &st) == 0);
	REQUIRE(st.st_dev != parent.st_dev);
	REQUIRE(st.st_ino == 1);
	REQUIRE(S_ISDIR(st.st_mode));
}

void sh_srv_mount(struct sh_srv *s)
{
	int err = sgf_server_mount(s->srv, mnt_dir);

	if (err) {
		sh_fail(__FILE__, __LINE__, "sgf_server_mount %s: %s", mnt_dir, strerror(-err));
		exit(sh_finish());
	}
	sh_srv_start(s);
	sh_srv_wait_live();
}

int sh_srv_attach(struct sh_srv *s)
{
	int sv[2], err;

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	err = sgf_server_attach(s->srv, sv[0]);
	if (err) {
		sh_fail(__FILE__, __LINE__, "sgf_server_attach: %s", strerror(-err));
		exit(sh_finish());
	}
	sh_srv_start(s);
	return sv[1];
}

int sh_srv_join(struct sh_srv *s, unsigned timeout_ms)
{
	struct timespec dl;
	int err;

	if (!s->started || s->joined)
		return s->ret;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L)
		dl.tv_sec++, dl.tv_nsec -= 1000000000L;
	err = pthread_timedjoin_np(s->thread, NULL, &dl);
	if (err) {
		sh_fail(__FILE__, __LINE__, "sgf_server_run did not return within %u ms: %s",
			timeout_ms, strerror(err));
		exit(sh_finish());
	}
	s->joined = true;
	return s->ret;
}

void sh_srv_destroy(struct sh_srv *s)
{
	if (s->srv == NULL)
		return;
	if (s->started && !s->joined) {
		sgf_server_exit(s->srv);
		sh_srv_join(s, 10000);
	}
	if (uring_run) {
		struct sgf_stats st;
		sgf_server_stats(s->srv, &st);
		uring_seen += st.uring;
	}
	sgf_server_destroy(s->srv);
	s->srv = NULL;
}

void sh_srv_stats(struct sh_srv *s, struct sgf_stats *st)
{
	sgf_server_stats(s->srv, st);
}
