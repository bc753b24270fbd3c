/* tests/server/test_ops_size.c - the operations table is passed with its
 * size: a table shorter than today's struct sgf_ops works and operations
 * past its end answer ENOSYS (they are never called, even when the bytes
 * after the short table hold pointers); a longer table is refused with
 * -EINVAL unless everything past today's end is zero; the table is copied
 * (freed right after sgf_server_new). Through the kernel and over a socket. */
#include "srv_helper.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sgfuse/client.h>

/* Calls of the operations a short table leaves out. */
static atomic_int beyond_calls;

static int count_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
		      struct fuse_open_out *out)
{
	atomic_fetch_add(&beyond_calls, 1);
	return sh_open(r, ino, in, out);
}

static ssize_t count_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			  const struct iovec *iov, int iovcnt)
{
	atomic_fetch_add(&beyond_calls, 1);
	return sh_read(r, ino, in, iov, iovcnt);
}

static int count_statfs(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out)
{
	atomic_fetch_add(&beyond_calls, 1);
	return sh_statfs(r, ino, out);
}

static int count_setattr(const struct sgf_req *r, uint64_t ino, const struct fuse_setattr_in *in,
			 struct fuse_attr_out *out)
{
	atomic_fetch_add(&beyond_calls, 1);
	return sh_setattr(r, ino, in, out);
}

static int count_opendir(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
			 struct fuse_open_out *out)
{
	atomic_fetch_add(&beyond_calls, 1);
	return sh_opendir(r, ino, in, out);
}

static int count_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			 bool plus, struct sgf_dirbuf *db)
{
	atomic_fetch_add(&beyond_calls, 1);
	return sh_readdir(r, ino, in, plus, db);
}

static void full_ops(struct sgf_ops *ops)
{
	sh_ops_fill(ops);
	ops->open = count_open;
	ops->read = count_read;
	ops->statfs = count_statfs;
	ops->setattr = count_setattr;
	ops->opendir = count_opendir;
	ops->readdir = count_readdir;
}

/* A server for the first size bytes of a full table, handed over in a heap
 * block of exactly that size and freed at once: reading past it or keeping
 * the caller's pointer shows under ASan. */
static void new_short(struct sh_srv *s, size_t size, struct sh_fs *fs)
{
	struct sgf_ops full;

	full_ops(&full);
	void *copy = malloc(size ? size : 1);
	REQUIRE(copy != NULL);
	memcpy(copy, &full, size);
	sh_srv_new(s, copy, size, fs, NULL);
	memset(copy, 0xa5, size);
	free(copy);
}

static struct sh_fs *new_fs(void)
{
	struct sh_fs *fs = sh_fs_new();

	sh_fs_add(fs, 1, "file", S_IFREG | 0644, "0123456789", 10);
	sh_fs_add(fs, 1, "dir", S_IFDIR | 0755, NULL, 0);
	return fs;
}

/* Through the kernel, a table that ends before .open. */
static void test_short_mount(void)
{
	struct sh_srv s;
	struct sh_fs *fs = new_fs();
	struct sgf_stats st;
	struct stat sb;
	struct statvfs sv;
	char path[PATH_MAX + 16], buf[16];

	atomic_store(&beyond_calls, 0);
	new_short(&s, offsetof(struct sgf_ops, open), fs);
	sh_srv_mount(&s);

	/* Inside the table: lookup, getattr, mkdir work. */
	CHECK_OK(stat(SH_PATH(path, "file"), &sb));
	CHECK_EQ(sb.st_size, 10);
	CHECK(sh_fs_calls(fs, FUSE_LOOKUP) > 0);
	CHECK_OK(mkdir(SH_PATH(path, "newdir"), 0700));
	CHECK_OK(stat(path, &sb));
	CHECK(S_ISDIR(sb.st_mode));

	/* Past it: a missing OPEN succeeds (fh 0), READ is answered ENOSYS
	 * (the page cache may turn that into EIO), STATFS ENOSYS. */
	int fd = open(SH_PATH(path, "file"), O_RDONLY);
	CHECK(fd >= 0);
	if (fd >= 0) {
		errno = 0;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n != -1 || (errno != ENOSYS && errno != EIO))
			sh_fail(__FILE__, __LINE__, "read past the table: %zd/%s, want -1/ENOSYS",
				n, strerrorname_np(errno));
		close(fd);
	}
	CHECK_ERR(statvfs(sh_mnt(), &sv), ENOSYS);
	/* A missing OPENDIR succeeds too; READDIR(PLUS) fails. */
	fd = open(SH_PATH(path, "dir"), O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	if (fd >= 0) {
		char dents[1024];
		CHECK_ERR(syscall(SYS_getdents64, fd, dents, sizeof(dents)), ENOSYS);
		close(fd);
	}

	sh_srv_stats(&s, &st);
	CHECK_EQ(st.count[FUSE_OPEN], 1);
	CHECK_EQ(st.errors[FUSE_OPEN], 0);
	CHECK_EQ(st.count[FUSE_OPENDIR], 1);
	CHECK_EQ(st.errors[FUSE_OPENDIR], 0);
	CHECK(st.count[FUSE_READ] >= 1);
	CHECK(st.count[FUSE_READDIR] + st.count[FUSE_READDIRPLUS] >= 1);
	CHECK_EQ(st.errors[FUSE_READDIR] + st.errors[FUSE_READDIRPLUS],
		 st.count[FUSE_READDIR] + st.count[FUSE_READDIRPLUS]);
	CHECK_EQ(st.errors[FUSE_STATFS], st.count[FUSE_STATFS]);
	CHECK(st.count[FUSE_STATFS] >= 1);
	CHECK_EQ(st.errors[FUSE_READ], st.count[FUSE_READ]);
	CHECK_EQ(atomic_load(&beyond_calls), 0);
	CHECK_EQ(st.refused, 0);
	sh_srv_destroy(&s);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	sh_umount_all();
	sh_fs_free(fs);
}

/* What an older program's table looks like: a struct of its own that ends
 * after getattr. */
struct old_ops {
	int (*init)(void *fs, struct sgf_conn_info *ci);
	void (*destroy)(void *fs);
	int (*lookup)(const struct sgf_req *r, uint64_t parent, const char *name,
		      struct fuse_entry_out *out);
	void (*forget)(const struct sgf_req *r, uint64_t ino, uint64_t nlookup);
	int (*getattr)(const struct sgf_req *r, uint64_t ino, const struct fuse_getattr_in *in,
		       struct fuse_attr_out *out);
};

_Static_assert(sizeof(struct old_ops) == offsetof(struct sgf_ops, setattr),
	       "old_ops is a prefix of sgf_ops");

static struct sgf_client *client_for(struct sh_srv *s)
{
	struct sgf_client *c;
	int fd = sh_srv_attach(s);
	int err = sgf_client_attach(fd, NULL, &c);

	if (err) {
		sh_fail(__FILE__, __LINE__, "sgf_client_attach: %s", strerror(-err));
		exit(sh_finish());
	}
	return c;
}

static void test_old_struct_socket(void)
{
	struct sh_srv s;
	struct sh_fs *fs = new_fs();
	struct sgf_client *c;
	struct fuse_entry_out e;
	struct fuse_attr_out ao;
	struct fuse_kstatfs kst;
	struct sgf_file f;

	/* The bytes after it in memory would be a full table's setattr...:
	 * put an old table in front of a full one to prove they are not read. */
	struct {
		struct old_ops old;
		struct sgf_ops trap;
	} mem;
	full_ops(&mem.trap);
	mem.old = (struct old_ops){ sh_init_op, sh_destroy_op, sh_lookup, sh_forget, sh_getattr };
	atomic_store(&beyond_calls, 0);
	sh_srv_new(&s, (const struct sgf_ops *)(void *)&mem.old, sizeof(mem.old), fs, NULL);
	c = client_for(&s);

	CHECK_RET(sgf_lookup(c, FUSE_ROOT_ID, "file", &e), 0);
	CHECK_EQ(e.attr.size, 10);
	uint64_t file = e.nodeid;
	CHECK_RET(sgf_getattr(c, e.nodeid, &ao), 0);
	CHECK_EQ(ao.attr.size, 10);
	CHECK_RET(sgf_chmod(c, e.nodeid, 0600), -ENOSYS);
	CHECK_RET(sgf_truncate(c, e.nodeid, 0), -ENOSYS);
	/* OPEN, RELEASE past the end succeed (fh 0); READ does not. */
	f.fh = 12345;
	CHECK_RET(sgf_open(c, file, O_RDONLY, &f), 0);
	CHECK_EQ(f.fh, 0);
	char buf[16];
	CHECK_RET(sgf_pread(c, &f, buf, sizeof(buf), 0), -ENOSYS);
	CHECK_RET(sgf_release(c, &f), 0);
	CHECK_RET(sgf_statfs(c, FUSE_ROOT_ID, &kst), -ENOSYS);
	CHECK_RET(sgf_mkdir(c, FUSE_ROOT_ID, "d2", 0755, &e), -ENOSYS);
	CHECK_EQ(atomic_load(&beyond_calls), 0);
	CHECK_RET(sgf_client_disconnect(c), 0);
	CHECK_EQ(sh_srv_join(&s, 10000), 0);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	CHECK_EQ(atomic_load(&fs->init_calls), 1);
	sh_srv_destroy(&s);
	sh_fs_free(fs);
}

/* A table of size 0: every operation missing, still a working session. */
static void test_empty_table_socket(void)
{
	struct sh_srv s;
	struct sh_fs *fs = new_fs();
	struct sgf_client *c;
	struct fuse_attr_out ao;
	struct fuse_entry_out e;

	new_short(&s, 0, fs);
	c = client_for(&s);
	CHECK_RET(sgf_getattr(c, FUSE_ROOT_ID, &ao), -ENOSYS);
	CHECK_RET(sgf_lookup(c, FUSE_ROOT_ID, "file", &e), -ENOSYS);
	CHECK_RET(sgf_client_disconnect(c), 0);
	CHECK_EQ(sh_srv_join(&s, 10000), 0);
	CHECK_EQ(atomic_load(&fs->init_calls), 0);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 0);
	sh_srv_destroy(&s);
	sh_fs_free(fs);
}

/* Longer than today's table. */
static void test_longer(void)
{
	size_t extra = 3 * sizeof(void *);
	size_t size = sizeof(struct sgf_ops) + extra;
	unsigned char *mem = calloc(1, size);
	struct sgf_server *srv;
	struct sgf_ops full;

	REQUIRE(mem != NULL);
	full_ops(&full);
	memcpy(mem, &full, sizeof(full));

	/* Nonzero bytes past the end: operations we cannot call. Each byte
	 * position counts, the first and the last. */
	size_t where[] = { sizeof(struct sgf_ops), sizeof(struct sgf_ops) + 7, size - 1 };
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		mem[where[i]] = 0x01;
		CHECK_RET(sgf_server_new(&srv, (const struct sgf_ops *)(void *)mem, size, NULL,
					 NULL), -EINVAL);
		mem[where[i]] = 0;
	}
	/* A function pointer there, as a newer program would have. */
	void (*fn)(void) = (void (*)(void))sh_destroy_op;
	memcpy(mem + sizeof(struct sgf_ops), &fn, sizeof(fn));
	CHECK_RET(sgf_server_new(&srv, (const struct sgf_ops *)(void *)mem, size, NULL, NULL),
		  -EINVAL);
	memset(mem + sizeof(struct sgf_ops), 0, extra);

	/* All zero past the end: accepted, and it serves. */
	struct sh_fs *fs = new_fs();
	struct sh_srv s;
	struct sgf_client *c;
	struct fuse_entry_out e;
	struct fuse_kstatfs kst;

	atomic_store(&beyond_calls, 0);
	sh_srv_new(&s, (const struct sgf_ops *)(void *)mem, size, fs, NULL);
	free(mem);
	c = client_for(&s);
	CHECK_RET(sgf_lookup(c, FUSE_ROOT_ID, "file", &e), 0);
	CHECK_EQ(e.attr.size, 10);
	CHECK_RET(sgf_statfs(c, FUSE_ROOT_ID, &kst), 0);
	CHECK_EQ(kst.blocks, SH_STATFS_BLOCKS);
	CHECK_EQ(atomic_load(&beyond_calls), 1);
	CHECK_RET(sgf_client_disconnect(c), 0);
	CHECK_EQ(sh_srv_join(&s, 10000), 0);
	CHECK_EQ(atomic_load(&fs->destroy_calls), 1);
	sh_srv_destroy(&s);
	sh_fs_free(fs);

	/* NULL table, NULL out. */
	CHECK_RET(sgf_server_new(&srv, NULL, sizeof(struct sgf_ops), NULL, NULL), -EINVAL);
	CHECK_RET(sgf_server_new(NULL, &full, sizeof(full), NULL, NULL), -EINVAL);
	/* Options of a later version (reserved room not zero) are refused. */
	struct sgf_server_opts later = { .threads = 1 };
	later.reserved[sizeof(later.reserved) / sizeof(later.reserved[0]) - 1] = 1;
	CHECK_RET(sgf_server_new(&srv, &full, sizeof(full), NULL, &later), -EINVAL);
	/* Mount flags other than the per-mount ones are refused. */
	struct sgf_server_opts bind = { .threads = 1, .mount_flags = MS_BIND };
	CHECK_RET(sgf_server_new(&srv, &full, sizeof(full), NULL, &bind), -EINVAL);
}

int main(void)
{
	sh_init("test_ops_size", 60, 0);
	test_longer();
	test_empty_table_socket();
	test_old_struct_socket();
	test_short_mount();
	return sh_finish();
}
