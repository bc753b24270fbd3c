/* tests/mounted/test_escape.c - nothing outside the backing directory is
 * reached: symlinks to outside through the kernel, and through the daemon's
 * socket "..", slashes, links used as dirs, forged node ids and handles. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "harness.h"

static char secret[4096], outside_dir[4096];

/* outside/secret: content and metadata that must never change. */
static void make_secret(void)
{
	H_PATH(outside_dir, h_root(), "outside");
	H_PATH(secret, outside_dir, "secret");
	REQUIRE(h_write_file(secret, "SECRET", 6) == 0);
	REQUIRE(chmod(secret, 0600) == 0);
	struct timespec ts[2] = { { 111, 0 }, { 222, 0 } };
	REQUIRE(utimensat(AT_FDCWD, secret, ts, 0) == 0);
}

static void check_secret_intact(const char *when)
{
	struct stat st;
	char buf[64];
	if (h_read_file(secret, buf, sizeof(buf)) != 6 || strcmp(buf, "SECRET") != 0)
		h_fail(__FILE__, __LINE__, "%s: outside/secret content changed", when);
	if (stat(secret, &st) != 0) {
		h_fail(__FILE__, __LINE__, "%s: outside/secret gone", when);
		return;
	}
	if ((st.st_mode & 07777) != 0600 || st.st_uid != 0 || st.st_gid != 0 ||
	    st.st_mtim.tv_sec != 222 || st.st_nlink != 1)
		h_fail(__FILE__, __LINE__, "%s: outside/secret metadata changed (mode %o uid %u "
		       "mtime %ld nlink %lu)", when, st.st_mode & 07777, st.st_uid,
		       (long)st.st_mtim.tv_sec, (unsigned long)st.st_nlink);
	char v[16];
	if (getxattr(secret, "trusted.escape", v, sizeof(v)) >= 0 ||
	    getxattr(secret, "user.escape", v, sizeof(v)) >= 0)
		h_fail(__FILE__, __LINE__, "%s: outside/secret got an xattr", when);
}

/* Nothing but "secret" (and what the test itself put there) outside. */
static void check_outside_clean(const char *when)
{
	static const char *intruders[] = { "x", "y", "z", "w", "moved", "lnk", "newfile",
					   "created" };
	char path[4096];
	for (size_t i = 0; i < sizeof(intruders) / sizeof(intruders[0]); i++) {
		struct stat st;
		if (lstat(H_PATH(path, outside_dir, intruders[i]), &st) == 0)
			h_fail(__FILE__, __LINE__, "%s: %s appeared outside", when, path);
	}
}

/* Through the kernel, symlinks are resolved by the caller; what the daemon
 * must get right is acting on the link itself when asked to. */
static void kernel_side(void)
{
	char evil[4096], evil_b[4096], path[4096], buf[4096];
	struct stat st;
	H_PATH(evil, h_mnt(), "evil");
	H_PATH(evil_b, h_backing(), "evil");
	REQUIRE(symlink(secret, evil_b) == 0);
	REQUIRE(symlink(outside_dir, H_PATH(path, h_backing(), "evildir")) == 0);

	CHECK_OK(lstat(evil, &st));
	CHECK(S_ISLNK(st.st_mode));
	ssize_t n = readlink(evil, buf, sizeof(buf) - 1);
	CHECK(n == (ssize_t)strlen(secret) && memcmp(buf, secret, (size_t)n) == 0);

	/* lchown, utimensat(NOFOLLOW) and lsetxattr act on the link. */
	CHECK_OK(lchown(evil, 4321, 4321));
	CHECK_OK(lstat(evil_b, &st));
	CHECK_EQ(st.st_uid, 4321);
	struct timespec ts[2] = { { 5000, 0 }, { 6000, 0 } };
	CHECK_OK(utimensat(AT_FDCWD, evil, ts, AT_SYMLINK_NOFOLLOW));
	CHECK_OK(lstat(evil_b, &st));
	CHECK_EQ(st.st_mtim.tv_sec, 6000);
	if (lsetxattr(evil, "trusted.escape", "1", 1, 0) != 0)
		printf("lsetxattr on a symlink: %s (acceptable)\n", strerror(errno));
	check_secret_intact("after link metadata ops");

	/* A hard link to the link, a rename and an unlink of it. */
	CHECK_OK(linkat(AT_FDCWD, evil, AT_FDCWD, H_PATH(path, h_mnt(), "evil_hard"), 0));
	CHECK_OK(lstat(H_PATH(path, h_backing(), "evil_hard"), &st));
	CHECK(S_ISLNK(st.st_mode));
	CHECK_OK(rename(evil, H_PATH(path, h_mnt(), "evil2")));
	CHECK_OK(unlink(path));
	CHECK_OK(unlink(H_PATH(path, h_mnt(), "evil_hard")));
	check_secret_intact("after link/rename/unlink of the link");

	/* ".." at the mount root is the directory holding the mountpoint. */
	struct stat up, root;
	CHECK_OK(stat(H_PATH(path, h_mnt(), ".."), &up));
	CHECK_OK(stat(h_root(), &root));
	CHECK_EQ(up.st_ino, root.st_ino);
	CHECK_EQ(up.st_dev, root.st_dev);
	CHECK_ERR(stat(H_PATH(path, h_mnt(), "../backing/../mnt/evildir/../no-such"), &up),
		  ENOENT);
}

/* --- a minimal raw FUSE requester over the daemon's socket --- */

struct conn {
	int fd;
	uint64_t unique;
};

struct rep {
	int error;
	size_t len;
	unsigned char data[64 * 1024];
};

static bool xfer(struct conn *c, uint32_t op, uint64_t node, const void *arg, size_t alen,
		 const char *n1, const char *n2, struct rep *r)
{
	unsigned char msg[8192];
	struct fuse_in_header h = { .opcode = op, .unique = ++c->unique, .nodeid = node };
	size_t len = sizeof(h);
	if (alen)
		memcpy(msg + len, arg, alen);
	len += alen;
	if (n1) {
		memcpy(msg + len, n1, strlen(n1) + 1);
		len += strlen(n1) + 1;
	}
	if (n2) {
		memcpy(msg + len, n2, strlen(n2) + 1);
		len += strlen(n2) + 1;
	}
	h.len = (uint32_t)len;
	memcpy(msg, &h, sizeof(h));
	if (send(c->fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len)
		return false;
	if (op == FUSE_FORGET)
		return true;
	struct fuse_out_header oh;
	if (recv(c->fd, &oh, sizeof(oh), MSG_WAITALL) != (ssize_t)sizeof(oh))
		return false;
	if (oh.unique != c->unique || oh.len < sizeof(oh) ||
	    oh.len - sizeof(oh) > sizeof(r->data)) {
		h_fail(__FILE__, __LINE__, "bad reply frame: unique %llu len %u",
		       (unsigned long long)oh.unique, oh.len);
		return false;
	}
	r->error = oh.error;
	r->len = oh.len - sizeof(oh);
	if (r->len && recv(c->fd, r->data, r->len, MSG_WAITALL) != (ssize_t)r->len)
		return false;
	return true;
}

static bool req(struct conn *c, uint32_t op, uint64_t node, const void *arg, size_t alen,
		const char *n1, const char *n2, struct rep *r)
{
	if (!xfer(c, op, node, arg, alen, n1, n2, r)) {
		h_fail(__FILE__, __LINE__, "daemon connection lost at opcode %u", op);
		return false;
	}
	return true;
}

/* LOOKUP: 0 and the entry, or the error. */
static int lookup(struct conn *c, uint64_t parent, const char *name, struct fuse_entry_out *e)
{
	struct rep *r = malloc(sizeof(*r));
	int err = -EPIPE;
	if (req(c, FUSE_LOOKUP, parent, NULL, 0, name, NULL, r)) {
		err = r->error;
		if (!err && r->len >= sizeof(*e))
			memcpy(e, r->data, sizeof(*e));
		else if (!err)
			err = -EBADMSG;
	}
	free(r);
	return err;
}

static int simple(struct conn *c, uint32_t op, uint64_t node, const void *arg, size_t alen,
		  const char *n1, const char *n2, void *out, size_t outlen)
{
	struct rep *r = malloc(sizeof(*r));
	int err = -EPIPE;
	if (req(c, op, node, arg, alen, n1, n2, r)) {
		err = r->error;
		if (!err && out)
			memcpy(out, r->data, r->len < outlen ? r->len : outlen);
	}
	free(r);
	return err;
}

static bool connect_daemon(struct conn *c, const char *sock)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(sock) >= sizeof(a.sun_path))
		return false;
	memcpy(a.sun_path, sock, strlen(sock) + 1);
	for (int i = 0; i < 2000; i++) {
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return true;
		close(c->fd);
		if (kill(h_daemon_pid(), 0) != 0)
			return false;
		usleep(10000);
	}
	return false;
}

/* Over the socket no kernel checks stand in between: the daemon alone
 * must refuse every way out. */
static void socket_side(void)
{
	char sock[4096], addr[4200], opts[4200], path[4096];
	struct conn c = { .fd = -1, .unique = 0 };
	struct stat broot;
	H_PATH(sock, h_root(), "sock");
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	snprintf(opts, sizeof(opts), "stats_file=%s", h_stats_path());
	char *args[] = { "--listen", addr, "-o", opts, (char *)h_backing(), NULL };
	h_spawn(args, NULL, NULL);
	if (!connect_daemon(&c, sock)) {
		h_fail(__FILE__, __LINE__, "cannot connect to the daemon at %s", sock);
		return;
	}
	REQUIRE(stat(h_backing(), &broot) == 0);
	REQUIRE(mkdir(H_PATH(path, h_backing(), "a"), 0755) == 0);
	REQUIRE(h_write_file(H_PATH(path, h_backing(), "a/b"), "b", 1) == 0);
	REQUIRE(h_write_file(H_PATH(path, h_backing(), "plain"), "p", 1) == 0);
	REQUIRE(symlink(secret, H_PATH(path, h_backing(), "evil")) == 0);
	REQUIRE(symlink(outside_dir, H_PATH(path, h_backing(), "evildir")) == 0);
	char dangling[4096];
	REQUIRE(symlink(H_PATH(dangling, outside_dir, "newfile"),
			H_PATH(path, h_backing(), "dangling")) == 0);

	struct fuse_init_in in = { .major = 7, .minor = 38, .max_readahead = 65536,
				   .flags = FUSE_MAX_PAGES | FUSE_BIG_WRITES };
	struct fuse_init_out io;
	REQUIRE(simple(&c, FUSE_INIT, 0, &in, sizeof(in), NULL, NULL, &io, sizeof(io)) == 0);

	struct fuse_entry_out e;
	int err;
	/* "..", "." and slashes: the root at most, never its parent. */
	static const char *dots[] = { "..", "." };
	for (size_t i = 0; i < 2; i++) {
		err = lookup(&c, 1, dots[i], &e);
		if (err == 0) {
			CHECK_EQ(e.attr.ino, broot.st_ino);
			CHECK(lookup(&c, e.nodeid, "outside", &e) != 0);
		}
	}
	CHECK(lookup(&c, 1, "../outside", &e) != 0);
	CHECK(lookup(&c, 1, "../outside/secret", &e) != 0);
	CHECK(lookup(&c, 1, "a/b", &e) != 0);
	CHECK(lookup(&c, 1, "/etc", &e) != 0);

	/* A symlink is a symlink, not a directory to walk or a file to open. */
	struct fuse_entry_out evil, evildir, plain;
	REQUIRE(lookup(&c, 1, "evil", &evil) == 0);
	CHECK(S_ISLNK(evil.attr.mode));
	REQUIRE(lookup(&c, 1, "evildir", &evildir) == 0);
	CHECK(S_ISLNK(evildir.attr.mode));
	REQUIRE(lookup(&c, 1, "plain", &plain) == 0);
	CHECK(lookup(&c, evildir.nodeid, "secret", &e) != 0);

	struct fuse_open_in oi = { .flags = O_RDONLY };
	struct fuse_open_out oo;
	err = simple(&c, FUSE_OPEN, evil.nodeid, &oi, sizeof(oi), NULL, NULL, &oo, sizeof(oo));
	if (err == 0) {
		struct fuse_read_in ri = { .fh = oo.fh, .size = 64 };
		struct rep *r = malloc(sizeof(*r));
		if (req(&c, FUSE_READ, evil.nodeid, &ri, sizeof(ri), NULL, NULL, r))
			CHECK(!(r->error == 0 && r->len >= 6 && memcmp(r->data, "SECRET", 6) == 0));
		free(r);
	}
	oi.flags = O_RDONLY | O_DIRECTORY;
	err = simple(&c, FUSE_OPENDIR, evildir.nodeid, &oi, sizeof(oi), NULL, NULL, &oo,
		     sizeof(oo));
	if (err == 0) {
		struct fuse_read_in ri = { .fh = oo.fh, .size = 4096 };
		struct rep *r = malloc(sizeof(*r));
		if (req(&c, FUSE_READDIR, evildir.nodeid, &ri, sizeof(ri), NULL, NULL, r))
			CHECK(r->error != 0 || memmem(r->data, r->len, "secret", 6) == NULL);
		free(r);
	}

	/* SETATTR on the link never reaches the target. */
	struct fuse_setattr_in sa = { .valid = FATTR_SIZE, .size = 0 };
	simple(&c, FUSE_SETATTR, evil.nodeid, &sa, sizeof(sa), NULL, NULL, NULL, 0);
	sa = (struct fuse_setattr_in){ .valid = FATTR_MODE, .mode = 0777 };
	simple(&c, FUSE_SETATTR, evil.nodeid, &sa, sizeof(sa), NULL, NULL, NULL, 0);
	sa = (struct fuse_setattr_in){ .valid = FATTR_UID | FATTR_GID, .uid = 99, .gid = 99 };
	simple(&c, FUSE_SETATTR, evil.nodeid, &sa, sizeof(sa), NULL, NULL, NULL, 0);
	sa = (struct fuse_setattr_in){ .valid = FATTR_MTIME, .mtime = 999 };
	simple(&c, FUSE_SETATTR, evil.nodeid, &sa, sizeof(sa), NULL, NULL, NULL, 0);
	struct fuse_setxattr_in sx = { .size = 1 };
	unsigned char xmsg[64];
	memcpy(xmsg, &sx, FUSE_COMPAT_SETXATTR_IN_SIZE);
	memcpy(xmsg + FUSE_COMPAT_SETXATTR_IN_SIZE, "user.escape\0" "1", 13);
	simple(&c, FUSE_SETXATTR, evil.nodeid, xmsg, FUSE_COMPAT_SETXATTR_IN_SIZE + 13, NULL,
	       NULL, NULL, 0);
	check_secret_intact("after SETATTR/SETXATTR on the link");

	/* CREATE over a link to outside, or a dangling one, creates nothing there. */
	struct fuse_create_in ci = { .flags = O_WRONLY | O_CREAT | O_TRUNC, .mode = 0100644 };
	struct { struct fuse_entry_out e; struct fuse_open_out o; } co;
	simple(&c, FUSE_CREATE, 1, &ci, sizeof(ci), "evil", NULL, &co, sizeof(co));
	simple(&c, FUSE_CREATE, 1, &ci, sizeof(ci), "dangling", NULL, &co, sizeof(co));
	check_secret_intact("after CREATE over the link");
	check_outside_clean("after CREATE over a dangling link");

	/* The link node used as a parent directory. */
	simple(&c, FUSE_CREATE, evildir.nodeid, &ci, sizeof(ci), "created", NULL, &co, sizeof(co));
	struct fuse_mkdir_in mi = { .mode = 0755 };
	simple(&c, FUSE_MKDIR, evildir.nodeid, &mi, sizeof(mi), "x", NULL, &e, sizeof(e));
	struct fuse_mknod_in ni = { .mode = S_IFREG | 0644 };
	simple(&c, FUSE_MKNOD, evildir.nodeid, &ni, sizeof(ni), "w", NULL, &e, sizeof(e));
	simple(&c, FUSE_SYMLINK, evildir.nodeid, NULL, 0, "z", "target", &e, sizeof(e));
	struct fuse_rename_in ri = { .newdir = evildir.nodeid };
	simple(&c, FUSE_RENAME, 1, &ri, sizeof(ri), "plain", "moved", NULL, 0);
	struct fuse_link_in li = { .oldnodeid = plain.nodeid };
	simple(&c, FUSE_LINK, evildir.nodeid, &li, sizeof(li), "lnk", NULL, &e, sizeof(e));
	simple(&c, FUSE_UNLINK, evildir.nodeid, NULL, 0, "secret", NULL, NULL, 0);
	simple(&c, FUSE_RMDIR, evildir.nodeid, NULL, 0, "secret", NULL, NULL, 0);
	check_outside_clean("after ops under the link node");
	check_secret_intact("after ops under the link node");
	CHECK(access(H_PATH(path, h_backing(), "plain"), F_OK) == 0);

	/* Forged node ids: errors, and the daemon lives on. */
	static const uint64_t forged[] = { 0, 12345, 0xdeadbeefull, 0x7fffffffffffffffull,
					   UINT64_MAX, 0x7ffc12345678ull };
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		struct fuse_getattr_in gi = { 0 };
		struct fuse_attr_out ao;
		uint64_t id = forged[i];
		if (id == evil.nodeid || id == evildir.nodeid || id == plain.nodeid || id == 1)
			continue;
		CHECK(simple(&c, FUSE_GETATTR, id, &gi, sizeof(gi), NULL, NULL, &ao, sizeof(ao)) < 0);
		CHECK(lookup(&c, id, "a", &e) != 0);
		struct fuse_forget_in fi = { .nlookup = 1 };
		struct rep *r = malloc(sizeof(*r));
		xfer(&c, FUSE_FORGET, id, &fi, sizeof(fi), NULL, NULL, r);
		free(r);
	}
	/* Forged file handles (nothing is open): small numbers are what a
	 * daemon using raw fds as handles would misread or close. */
	for (uint64_t fh = 0; fh < 20; fh++) {
		uint64_t h = fh < 16 ? fh : fh == 16 ? 0xdeadbeefull : UINT64_MAX - (fh - 17);
		struct fuse_read_in rd = { .fh = h, .size = 16 };
		if (simple(&c, FUSE_READ, plain.nodeid, &rd, sizeof(rd), NULL, NULL, NULL, 0) == 0)
			h_fail(__FILE__, __LINE__, "READ with forged fh %llu succeeded",
			       (unsigned long long)h);
		struct fuse_flush_in fl = { .fh = h };
		simple(&c, FUSE_FLUSH, plain.nodeid, &fl, sizeof(fl), NULL, NULL, NULL, 0);
		struct fuse_release_in rl = { .fh = h };
		simple(&c, FUSE_RELEASE, plain.nodeid, &rl, sizeof(rl), NULL, NULL, NULL, 0);
	}
	/* Still answering properly. */
	CHECK_EQ(lookup(&c, 1, "a", &e), 0);
	CHECK(S_ISDIR(e.attr.mode));
	CHECK_EQ(lookup(&c, e.nodeid, "b", &e), 0);
	close(c.fd);
	int code = h_stop();
	CHECK(code == 0);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, 110);
	make_secret();
	h_start("");
	kernel_side();
	CHECK_EQ(h_stop(), 0);
	check_secret_intact("after the mounted part");
	/* The listening daemon gets a fresh backing dir content. */
	char path[4096];
	unlink(H_PATH(path, h_backing(), "evildir"));
	socket_side();
	check_secret_intact("at the end");
	check_outside_clean("at the end");
	return h_finish();
}
