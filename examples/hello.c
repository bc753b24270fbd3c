/* examples/hello.c - the smallest sgfuse filesystem, one read-only file /hello.
 *   hello -f /mnt/hello                   serve a kernel mount until unmounted
 *   hello --listen unix:/tmp/hello.sock   serve our client over a socket
 *   hello --help                          the options (-o stats, threads=N...) */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sgfuse/server.h>

#define HELLO_INO 2
static const char text[] = "Hello from sgfuse\n";

/* The attributes of our two nodes; false for any other nodeid. */
static bool fill(uint64_t ino, struct fuse_attr *a)
{
	bool dir = ino == FUSE_ROOT_ID;
	struct stat st = { .st_ino = ino, .st_nlink = dir ? 2 : 1, .st_uid = getuid(),
			   .st_gid = getgid(), .st_mode = dir ? S_IFDIR | 0555 : S_IFREG | 0444,
			   .st_size = dir ? 0 : (off_t)sizeof(text) - 1 };
	if (!dir && ino != HELLO_INO)
		return false;
	sgf_fill_attr(a, &st);
	return true;
}

/* Nothing changes: the kernel may cache for a minute; nothing to lookup-count. */
static int hello_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
			struct fuse_entry_out *out)
{
	(void)r;
	if (parent != FUSE_ROOT_ID || strcmp(name, "hello") != 0)
		return -ENOENT;
	out->nodeid = HELLO_INO;
	out->entry_valid = out->attr_valid = 60;
	fill(HELLO_INO, &out->attr);
	return 0;
}

static int hello_getattr(const struct sgf_req *r, uint64_t ino,
			 const struct fuse_getattr_in *in, struct fuse_attr_out *out)
{
	(void)r, (void)in;
	out->attr_valid = 60;
	return fill(ino, &out->attr) ? 0 : -ENOENT;
}

static int hello_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
		      struct fuse_open_out *out)
{
	(void)r, (void)out;
	if (ino != HELLO_INO)
		return -EISDIR;
	return (in->flags & O_ACCMODE) == O_RDONLY ? 0 : -EACCES;
}

static ssize_t hello_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			  const struct iovec *iov, int iovcnt)
{
	size_t len = sizeof(text) - 1, off = in->offset < len ? in->offset : len, done = 0;
	(void)r, (void)ino;
	for (int i = 0; i < iovcnt && off < len; i++) {
		size_t n = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
		memcpy(iov[i].iov_base, text + off, n);
		off += n, done += n;
	}
	return (ssize_t)done;
}

/* Entry i's cookie is i + 1. READDIRPLUS entries with nodeid 0 take no lookup. */
static int hello_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			 bool plus, struct sgf_dirbuf *db)
{
	static const char *const names[] = { ".", "..", "hello" };
	static const uint64_t inos[] = { FUSE_ROOT_ID, FUSE_ROOT_ID, HELLO_INO };
	(void)r;
	if (ino != FUSE_ROOT_ID)
		return -ENOTDIR;
	for (uint64_t i = in->offset; i < 3; i++) {
		struct fuse_entry_out e = { .attr_valid = 60 };
		size_t len = strlen(names[i]);
		fill(inos[i], &e.attr);
		if (plus ? sgf_dirbuf_add_plus(db, names[i], len, &e, i + 1)
			 : sgf_dirbuf_add(db, names[i], len, inos[i], e.attr.mode >> 12, i + 1))
			break; /* full: the kernel asks again from the last cookie */
	}
	return 0;
}

static const struct sgf_ops hello_ops = {
	.lookup = hello_lookup, .getattr = hello_getattr, .open = hello_open,
	.read = hello_read, .readdir = hello_readdir,
};

int main(int argc, char **argv)
{
	return sgf_main(argc, argv, &hello_ops, sizeof(hello_ops), NULL);
}
