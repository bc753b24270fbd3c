/* tests/interop/libfuse_server.c - the libfuse3 peer for the interop tests:
 * a flat in-memory filesystem (root plus up to LFS_NODES files and
 * directories) on the low-level API, with custom-io callbacks that move one
 * whole framed message per call over a stream socket. */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "libfuse_server.h"

#define LFS_NODES 64
#define LFS_MAX_FILE (64u * 1024u * 1024u)
/* fuse_in_header is 40 bytes; libfuse hides the struct from its users. */
#define LFS_IN_HEADER 40u

struct lfs_node {
	int used;
	fuse_ino_t parent;
	char name[256];
	mode_t mode;
	uint8_t *data;
	size_t size, cap;
};

struct size_log {
	uint32_t *v;
	size_t n, cap;
};

struct lfs {
	int fd;
	unsigned max_write;
	struct fuse_session *se;
	pthread_t thread;
	int loop_result;
	pthread_mutex_t lock;
	struct lfs_node nodes[LFS_NODES];   /* ino = index + 1; index 0 is the root */
	struct size_log reads, writes;
};

static struct lfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct lfs_node *node(struct lfs *s, fuse_ino_t ino)
{
	if (ino < 1 || ino > LFS_NODES || !s->nodes[ino - 1].used)
		return NULL;
	return &s->nodes[ino - 1];
}

static fuse_ino_t find_child(struct lfs *s, fuse_ino_t parent, const char *name)
{
	for (fuse_ino_t i = 1; i < LFS_NODES; i++)
		if (s->nodes[i].used && s->nodes[i].parent == parent &&
		    strcmp(s->nodes[i].name, name) == 0)
			return i + 1;
	return 0;
}

static void fill_stat(struct lfs *s, fuse_ino_t ino, struct stat *st)
{
	struct lfs_node *n = node(s, ino);
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
}

static void log_size(struct size_log *l, uint32_t size)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		uint32_t *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = size;
}

static void entry_locked(struct lfs *s, fuse_ino_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	fill_stat(s, ino, &e->attr);
}

static void lfs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct lfs *s = userdata;
	if (s->max_write)
		conn->max_write = s->max_write;
}

static void lfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lfs *s = fs_of(req);
	struct fuse_entry_param e;

	pthread_mutex_lock(&s->lock);
	fuse_ino_t ino = find_child(s, parent, name);
	if (ino)
		entry_locked(s, ino, &e);
	pthread_mutex_unlock(&s->lock);
	if (ino)
		fuse_reply_entry(req, &e);
	else
		fuse_reply_err(req, ENOENT);
}

static void lfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs *s = fs_of(req);
	struct stat st;
	(void)fi;

	pthread_mutex_lock(&s->lock);
	int ok = node(s, ino) != NULL;
	if (ok)
		fill_stat(s, ino, &st);
	pthread_mutex_unlock(&s->lock);
	if (ok)
		fuse_reply_attr(req, &st, 0);
	else
		fuse_reply_err(req, ENOENT);
}

static int resize(struct lfs_node *n, size_t size)
{
	if (size > LFS_MAX_FILE)
		return EFBIG;
	if (size > n->cap) {
		size_t cap = n->cap ? n->cap : 4096;
		while (cap < size)
			cap *= 2;
		uint8_t *d = realloc(n->data, cap);
		if (!d)
			return ENOMEM;
		n->data = d;
		n->cap = cap;
	}
	if (size > n->size)
		memset(n->data + n->size, 0, size - n->size);
	n->size = size;
	return 0;
}

static void lfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct lfs *s = fs_of(req);
	struct stat st;
	int err = 0;
	(void)fi;

	pthread_mutex_lock(&s->lock);
	struct lfs_node *n = node(s, ino);
	if (!n)
		err = ENOENT;
	if (!err && (to_set & FUSE_SET_ATTR_SIZE))
		err = S_ISDIR(n->mode) ? EISDIR : resize(n, (size_t)attr->st_size);
	if (!err && (to_set & FUSE_SET_ATTR_MODE))
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
	if (!err)
		fill_stat(s, ino, &st);
	pthread_mutex_unlock(&s->lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, 0);
}

static fuse_ino_t new_node(struct lfs *s, fuse_ino_t parent, const char *name, mode_t mode)
{
	if (strlen(name) >= sizeof(s->nodes[0].name))
		return 0;
	for (fuse_ino_t i = 1; i < LFS_NODES; i++) {
		struct lfs_node *n = &s->nodes[i];
		if (!n->used) {
			memset(n, 0, sizeof(*n));
			n->used = 1;
			n->parent = parent;
			n->mode = mode;
			strcpy(n->name, name);
			return i + 1;
		}
	}
	return 0;
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct lfs *s = fs_of(req);
	struct fuse_entry_param e;
	int err = 0;

	pthread_mutex_lock(&s->lock);
	struct lfs_node *p = node(s, parent);
	fuse_ino_t ino = 0;
	if (!p || !S_ISDIR(p->mode))
		err = ENOTDIR;
	else if (find_child(s, parent, name))
		err = EEXIST;
	else if (!(ino = new_node(s, parent, name, mode)))
		err = ENOSPC;
	if (!err)
		entry_locked(s, ino, &e);
	pthread_mutex_unlock(&s->lock);
	if (err)
		fuse_reply_err(req, err);
	else if (fi)
		fuse_reply_create(req, &e, fi);
	else
		fuse_reply_entry(req, &e);
}

static void lfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | (mode & 07777), NULL);
}

static void lfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	fi->direct_io = 1;
	make_node(req, parent, name, S_IFREG | (mode & 07777), fi);
}

static void remove_node(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
	struct lfs *s = fs_of(req);
	int err = 0;

	pthread_mutex_lock(&s->lock);
	fuse_ino_t ino = find_child(s, parent, name);
	struct lfs_node *n = ino ? node(s, ino) : NULL;
	if (!n)
		err = ENOENT;
	else if (dir && !S_ISDIR(n->mode))
		err = ENOTDIR;
	else if (!dir && S_ISDIR(n->mode))
		err = EISDIR;
	else if (dir) {
		for (fuse_ino_t i = 1; i < LFS_NODES; i++)
			if (s->nodes[i].used && s->nodes[i].parent == ino)
				err = ENOTEMPTY;
	}
	if (!err) {
		free(n->data);
		memset(n, 0, sizeof(*n));
	}
	pthread_mutex_unlock(&s->lock);
	fuse_reply_err(req, err);
}

static void lfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_node(req, parent, name, 0);
}

static void lfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_node(req, parent, name, 1);
}

static void lfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs *s = fs_of(req);
	int err = 0;

	pthread_mutex_lock(&s->lock);
	struct lfs_node *n = node(s, ino);
	if (!n)
		err = ENOENT;
	else if (S_ISDIR(n->mode))
		err = EISDIR;
	else if (fi->flags & O_TRUNC)
		n->size = 0;
	pthread_mutex_unlock(&s->lock);
	fi->direct_io = 1;
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_open(req, fi);
}

static void lfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct lfs *s = fs_of(req);
	(void)fi;

	pthread_mutex_lock(&s->lock);
	log_size(&s->reads, (uint32_t)size);
	struct lfs_node *n = node(s, ino);
	if (!n) {
		pthread_mutex_unlock(&s->lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	size_t avail = (size_t)off < n->size ? n->size - (size_t)off : 0;
	size_t len = size < avail ? size : avail;
	/* Reply under the lock: the data may move on a concurrent resize. */
	fuse_reply_buf(req, len ? (const char *)n->data + off : NULL, len);
	pthread_mutex_unlock(&s->lock);
}

static void lfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct lfs *s = fs_of(req);
	int err = 0;
	(void)fi;

	pthread_mutex_lock(&s->lock);
	log_size(&s->writes, (uint32_t)size);
	struct lfs_node *n = node(s, ino);
	if (!n)
		err = ENOENT;
	else if ((size_t)off + size > n->size)
		err = resize(n, (size_t)off + size);
	if (!err)
		memcpy(n->data + off, buf, size);
	pthread_mutex_unlock(&s->lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, size);
}

static void lfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct lfs *s = fs_of(req);
	char *buf = calloc(1, size);
	size_t used = 0;
	struct stat st;
	(void)fi;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&s->lock);
	/* Cookie k resumes after entry k: 1 ".", 2 "..", then node slots. */
	for (off_t k = off < 0 ? LFS_NODES + 2 : off + 1; k <= LFS_NODES + 1; k++) {
		const char *name = NULL;
		memset(&st, 0, sizeof(st));
		if (k < 3) {
			name = k == 1 ? "." : "..";
			st.st_ino = ino;
			st.st_mode = S_IFDIR;
		} else {
			struct lfs_node *n = &s->nodes[k - 2];
			if (!n->used || n->parent != ino)
				continue;
			name = n->name;
			st.st_ino = (ino_t)(k - 1);
			st.st_mode = n->mode;
		}
		size_t need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);
		if (used + need > size)
			break;
		fuse_add_direntry(req, buf + used, size - used, name, &st, k);
		used += need;
	}
	pthread_mutex_unlock(&s->lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static const struct fuse_lowlevel_ops lfs_ops = {
	.init = lfs_init,
	.lookup = lfs_lookup,
	.getattr = lfs_getattr,
	.setattr = lfs_setattr,
	.mkdir = lfs_mkdir,
	.unlink = lfs_unlink,
	.rmdir = lfs_rmdir,
	.open = lfs_open,
	.create = lfs_create,
	.read = lfs_read,
	.write = lfs_write,
	.readdir = lfs_readdir,
};

/* custom io: one whole message per read call, as libfuse expects */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -1 : (ssize_t)got;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static ssize_t io_read(int fd, void *buf, size_t buf_len, void *userdata)
{
	uint32_t len;
	(void)userdata;

	ssize_t r = read_full(fd, buf, LFS_IN_HEADER);
	if (r == 0 || (r > 0 && r < (ssize_t)LFS_IN_HEADER)) {
		errno = ENODEV;  /* the requester hung up: a clean end for libfuse */
		return -1;
	}
	if (r < 0)
		return -1;
	memcpy(&len, buf, sizeof(len));
	if (len < LFS_IN_HEADER || len > buf_len) {
		errno = EPROTO;
		return -1;
	}
	r = read_full(fd, (char *)buf + LFS_IN_HEADER, len - LFS_IN_HEADER);
	if (r != (ssize_t)(len - LFS_IN_HEADER)) {
		errno = ENODEV;
		return -1;
	}
	return (ssize_t)len;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	size_t total = 0;
	int i = 0;
	(void)userdata;

	while (i < count) {
		struct msghdr mh = { .msg_iov = iov + i, .msg_iovlen = (size_t)(count - i) };
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		total += (size_t)n;
		while (i < count && (size_t)n >= iov[i].iov_len) {
			n -= (ssize_t)iov[i].iov_len;
			i++;
		}
		if (i < count) {
			iov[i].iov_base = (char *)iov[i].iov_base + n;
			iov[i].iov_len -= (size_t)n;
		}
	}
	return (ssize_t)total;
}

static void *serve(void *arg)
{
	struct lfs *s = arg;
	s->loop_result = fuse_session_loop(s->se);
	return NULL;
}

struct lfs *lfs_start(int fd, unsigned max_write)
{
	static const struct fuse_custom_io io = { .writev = io_writev, .read = io_read };
	char *argv[] = { "lfs", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct lfs *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fd = fd;
	s->max_write = max_write;
	pthread_mutex_init(&s->lock, NULL);
	s->nodes[0] = (struct lfs_node){ .used = 1, .parent = 1, .mode = S_IFDIR | 0755 };
	s->se = fuse_session_new(&args, &lfs_ops, sizeof(lfs_ops), s);
	fuse_opt_free_args(&args);
	if (!s->se || fuse_session_custom_io(s->se, &io, fd) != 0 ||
	    pthread_create(&s->thread, NULL, serve, s) != 0) {
		if (s->se)
			fuse_session_destroy(s->se);
		free(s);
		return NULL;
	}
	return s;
}

int lfs_stop(struct lfs *s)
{
	pthread_join(s->thread, NULL);
	int r = s->loop_result;
	fuse_session_destroy(s->se);
	close(s->fd);
	for (int i = 0; i < LFS_NODES; i++)
		free(s->nodes[i].data);
	free(s->reads.v);
	free(s->writes.v);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return r;
}

size_t lfs_take_sizes(struct lfs *s, int write, uint32_t *sizes, size_t max)
{
	struct size_log *l = write ? &s->writes : &s->reads;

	pthread_mutex_lock(&s->lock);
	size_t n = l->n;
	if (n > 0)
		memcpy(sizes, l->v, (n < max ? n : max) * sizeof(*sizes));
	l->n = 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

long lfs_file_contents(struct lfs *s, const char *name, uint8_t *buf, size_t max)
{
	long size = -1;

	pthread_mutex_lock(&s->lock);
	fuse_ino_t ino = find_child(s, 1, name);
	if (ino) {
		struct lfs_node *n = node(s, ino);
		if (n->size > 0)
			memcpy(buf, n->data, n->size < max ? n->size : max);
		size = (long)n->size;
	}
	pthread_mutex_unlock(&s->lock);
	return size;
}
