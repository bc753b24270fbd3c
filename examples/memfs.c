/* examples/memfs.c - an in-memory filesystem whose file data sits behind a
 * slow "backend", the shape of a distributed store's client: READ and WRITE
 * are answered from a backend thread pool after a configurable latency, with
 * deferred replies (sgf_req_keep + SGF_DEFER + sgf_reply), so two worker
 * threads keep hundreds of requests waiting at once.
 *
 *   memfs -f -o latency_us=1000 /mnt/mem       kernel mount, 1 ms per I/O
 *   memfs --listen unix:/tmp/mem.sock          our client, over a socket
 *   memfs -f -o defer=0,latency_us=1000 /mnt   the same answered synchronously:
 *                                              each waiting request ties up a
 *                                              worker thread
 *   memfs --help                               every option (-o stats, ...)
 *
 * Regular files and directories: lookup/forget, getattr, setattr (mode,
 * owner, size, times), mknod (regular files), mkdir, create, unlink, rmdir,
 * rename (0, RENAME_NOREPLACE, RENAME_EXCHANGE), open (O_DIRECT opens get
 * FOPEN_DIRECT_IO, so O_DIRECT preadv/pwritev reach us unchanged), read,
 * write, flush, fsync, release, opendir, readdir(plus), statfs. No access
 * checks of its own: mount with -o default_permissions for the kernel's.
 * File data may take up to half the RAM (ENOSPC beyond). -o stats and
 * stats_file=PATH (SIGUSR1) show what the requests were, how many were kept
 * and the most request buffers in use: every sgf_main program has them.
 *
 * Locking: fs->lock (a mutex) guards the namespace, the inode table, the
 * lookup references, link counts, modes and owners; each node's rwlock guards
 * its data, size and times. Order: fs->lock, then a node lock. The backend
 * takes node locks only (and fs->lock alone, after replying, to unpin).
 *
 * Sessions: every socket connection (or the one kernel mount) is a session
 * with its own backend threads and its own lookup references (fs_new/fs_free,
 * ops->init starts the backend, ops->destroy stops it and drops the
 * references the session held); the tree itself is shared by all of them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/server.h>

#define TIMEOUT_S 1          /* entry and attribute cache timeouts */
#define BLOCK 4096u
#define MAX_BACKEND_THREADS 64

struct node;
struct session;

/* A name in a directory. Entries stay in cookie order, so a listing resumes
 * after the last cookie it got even when entries come and go. */
struct entry {
	char *name;
	struct node *node;
	uint64_t cookie;
};

/* Lookup references one session holds to a node. */
struct ref {
	struct session *s;
	uint64_t n;
	struct ref *next;
};

struct node {
	uint64_t ino;
	/* fs->lock */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	nlink_t nlink;
	struct ref *refs;      /* lookup references, by session */
	unsigned pins;         /* READ/WRITE in flight on it */
	struct node *parent;   /* directories; NULL once removed */
	struct entry *ents;    /* directories: the entries, by cookie */
	size_t nents, ents_cap;
	uint64_t next_cookie;
	/* lock */
	pthread_rwlock_t lock;
	char *data;            /* regular files: size bytes of cap */
	size_t size, cap;
	struct timespec atime, mtime, ctime;
};

struct memfs {
	pthread_mutex_t lock;
	struct node **tab;     /* by inode number (never reused) */
	uint64_t tab_len, next_ino, nodes;
	struct node *root;
	atomic_ullong bytes;   /* file data held (allocated) */
	uint64_t capacity;     /* at most this much: half the RAM */
	/* -o options */
	unsigned latency_us;
	bool defer;
	unsigned backend_threads;
};

/* One READ or WRITE kept for the backend. */
struct job {
	struct timespec due;
	uint64_t seq;          /* FIFO among equal due times */
	struct sgf_req *r;
	struct node *node;
	bool write, interrupted;
	uint64_t off;
	size_t size;
	const struct iovec *iov;
	int iovcnt;
};

/* The backend: jobs in a min-heap by due time, served by a few threads
 * that sleep until the earliest one is due. */
struct backend {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job **heap;
	size_t n, cap;
	uint64_t seq;
	bool started, stop;
	pthread_t threads[MAX_BACKEND_THREADS];
	unsigned nthreads;
};

struct session {
	struct memfs *fs;
	struct backend be;
};

/* ---- helpers -------------------------------------------------------------- */

static struct timespec now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return (a->tv_nsec > b->tv_nsec) - (a->tv_nsec < b->tv_nsec);
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

static int check_name(const char *name)
{
	size_t len = strnlen(name, SGF_NAME_MAX + 1);

	if (len == 0 || strchr(name, '/'))
		return -EINVAL;
	return len > SGF_NAME_MAX ? -ENAMETOOLONG : 0;
}

static bool is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static struct session *session_of(const struct sgf_req *r)
{
	return r->fs;
}

/* ---- nodes and the inode table (fs->lock held) ----------------------------- */

static struct node *node_get(struct memfs *fs, uint64_t ino)
{
	return ino < fs->tab_len ? fs->tab[ino] : NULL;
}

static struct node *node_new(struct memfs *fs, mode_t mode, uid_t uid, gid_t gid)
{
	struct node *n;

	if (fs->next_ino >= fs->tab_len) {
		uint64_t len = fs->tab_len ? fs->tab_len * 2 : 64;
		struct node **tab = realloc(fs->tab, len * sizeof(*tab));

		if (tab == NULL)
			return NULL;
		memset(tab + fs->tab_len, 0, (len - fs->tab_len) * sizeof(*tab));
		fs->tab = tab;
		fs->tab_len = len;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->ino = fs->next_ino++;
	n->mode = mode;
	n->uid = uid;
	n->gid = gid;
	n->nlink = S_ISDIR(mode) ? 2 : 1;
	n->next_cookie = 3; /* 1 and 2 are "." and ".." */
	n->atime = n->mtime = n->ctime = now_real();
	pthread_rwlock_init(&n->lock, NULL);
	fs->tab[n->ino] = n;
	fs->nodes++;
	return n;
}

/* Free a node and what it owns (its entries' names, its data). */
static void node_destroy(struct node *n)
{
	for (size_t i = 0; i < n->nents; i++)
		free(n->ents[i].name);
	free(n->ents);
	free(n->data);
	pthread_rwlock_destroy(&n->lock);
	free(n);
}

/* Free n once nothing can reach it: no name, no lookup reference, no I/O. */
static void node_maybe_free(struct memfs *fs, struct node *n)
{
	if (n == fs->root || n->nlink > 0 || n->refs != NULL || n->pins > 0)
		return;
	fs->tab[n->ino] = NULL;
	fs->nodes--;
	atomic_fetch_sub(&fs->bytes, n->cap);
	node_destroy(n);
}

static int ref_add(struct session *s, struct node *n)
{
	struct ref *ref;

	if (n == s->fs->root)
		return 0; /* the root is never looked up nor forgotten */
	for (ref = n->refs; ref != NULL; ref = ref->next) {
		if (ref->s == s) {
			ref->n++;
			return 0;
		}
	}
	ref = malloc(sizeof(*ref));
	if (ref == NULL)
		return -ENOMEM;
	*ref = (struct ref){ s, 1, n->refs };
	n->refs = ref;
	return 0;
}

/* Drop up to count of s's references to n (all of them: UINT64_MAX). */
static void ref_drop(struct session *s, struct node *n, uint64_t count)
{
	for (struct ref **p = &n->refs; *p != NULL; p = &(*p)->next) {
		struct ref *ref = *p;

		if (ref->s != s)
			continue;
		if (ref->n > count) {
			ref->n -= count;
		} else {
			*p = ref->next;
			free(ref);
		}
		break;
	}
	node_maybe_free(s->fs, n);
}

static void node_pin(struct node *n)
{
	n->pins++;
}

static void node_unpin(struct memfs *fs, struct node *n)
{
	pthread_mutex_lock(&fs->lock);
	n->pins--;
	node_maybe_free(fs, n);
	pthread_mutex_unlock(&fs->lock);
}

/* The node's attributes (fs->lock held; takes its lock for size and times). */
static void node_attr(struct node *n, struct fuse_attr *a)
{
	struct stat st = { .st_ino = n->ino, .st_mode = n->mode, .st_nlink = n->nlink,
			   .st_uid = n->uid, .st_gid = n->gid, .st_blksize = BLOCK };

	pthread_rwlock_rdlock(&n->lock);
	st.st_size = (off_t)n->size;
	st.st_blocks = (blkcnt_t)((n->cap + 511) / 512);
	st.st_atim = n->atime;
	st.st_mtim = n->mtime;
	st.st_ctim = n->ctime;
	pthread_rwlock_unlock(&n->lock);
	sgf_fill_attr(a, &st);
}

static void node_entry(struct node *n, struct fuse_entry_out *e)
{
	e->nodeid = n->ino;
	e->generation = 0; /* inode numbers are never reused */
	e->entry_valid = e->attr_valid = TIMEOUT_S;
	node_attr(n, &e->attr);
}

/* Set mtime and ctime (a directory's contents changed, a file's data). */
static void node_touch(struct node *n)
{
	pthread_rwlock_wrlock(&n->lock);
	n->mtime = n->ctime = now_real();
	pthread_rwlock_unlock(&n->lock);
}

static void node_touch_ctime(struct node *n)
{
	pthread_rwlock_wrlock(&n->lock);
	n->ctime = now_real();
	pthread_rwlock_unlock(&n->lock);
}

/* A directory that still has a name (entries may be added to it). */
static struct node *dir_get(struct memfs *fs, uint64_t ino, int *err)
{
	struct node *d = node_get(fs, ino);

	*err = d == NULL ? -ESTALE : !S_ISDIR(d->mode) ? -ENOTDIR : d->nlink == 0 ? -ENOENT : 0;
	return *err ? NULL : d;
}

/* ---- directories (fs->lock held) -------------------------------------------- */

static ssize_t dir_find(const struct node *d, const char *name)
{
	for (size_t i = 0; i < d->nents; i++)
		if (strcmp(d->ents[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static int dir_add(struct node *d, const char *name, struct node *child)
{
	char *copy = strdup(name);

	if (copy == NULL)
		return -ENOMEM;
	if (d->nents == d->ents_cap) {
		size_t cap = d->ents_cap ? d->ents_cap * 2 : 8;
		struct entry *ents = realloc(d->ents, cap * sizeof(*ents));

		if (ents == NULL) {
			free(copy);
			return -ENOMEM;
		}
		d->ents = ents;
		d->ents_cap = cap;
	}
	d->ents[d->nents++] = (struct entry){ copy, child, d->next_cookie++ };
	node_touch(d);
	return 0;
}

static void dir_remove(struct node *d, size_t i)
{
	free(d->ents[i].name);
	memmove(&d->ents[i], &d->ents[i + 1], (d->nents - i - 1) * sizeof(d->ents[0]));
	d->nents--;
	node_touch(d);
}

/* The first entry whose cookie is past off. */
static size_t dir_seek(const struct node *d, uint64_t off)
{
	size_t lo = 0, hi = d->nents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->ents[mid].cookie <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A name is gone from n: one link less (a directory loses both). */
static void unlinked(struct memfs *fs, struct node *parent, struct node *n)
{
	if (S_ISDIR(n->mode)) {
		n->nlink = 0;
		n->parent = NULL;
		parent->nlink--;
	} else {
		n->nlink--;
	}
	node_touch_ctime(n);
	node_maybe_free(fs, n);
}

/* ---- file data (node lock held) ------------------------------------------------ */

/* Make room for size bytes; new bytes read as zeroes. */
static int data_resize(struct memfs *fs, struct node *n, size_t size)
{
	if (size > n->cap) {
		size_t cap = n->cap ? n->cap : BLOCK;
		char *data;

		while (cap < size)
			cap = cap > SIZE_MAX / 2 ? size : cap * 2;
		/* Claim the growth first: a huge truncate or a write far past
		 * the end must fail, not exhaust memory. */
		if (atomic_fetch_add(&fs->bytes, cap - n->cap) + (cap - n->cap) > fs->capacity) {
			atomic_fetch_sub(&fs->bytes, cap - n->cap);
			return -ENOSPC;
		}
		data = realloc(n->data, cap);
		if (data == NULL) {
			atomic_fetch_sub(&fs->bytes, cap - n->cap);
			return -ENOSPC;
		}
		n->data = data;
		n->cap = cap;
	}
	if (size > n->size)
		memset(n->data + n->size, 0, size - n->size);
	n->size = size;
	return 0;
}

static ssize_t data_read(struct node *n, uint64_t off, size_t size, const struct iovec *iov,
			 int iovcnt)
{
	size_t done = 0;

	pthread_rwlock_rdlock(&n->lock);
	if (off < n->size) {
		size_t left = n->size - off < size ? n->size - off : size;

		for (int i = 0; i < iovcnt && left > 0; i++) {
			size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;

			memcpy(iov[i].iov_base, n->data + off + done, k);
			done += k;
			left -= k;
		}
	}
	pthread_rwlock_unlock(&n->lock);
	return (ssize_t)done;
}

static ssize_t data_write(struct memfs *fs, struct node *n, uint64_t off, size_t size,
			  const struct iovec *iov, int iovcnt)
{
	size_t done = 0;
	int err = 0;

	if (off > (uint64_t)INT64_MAX - size)
		return -EFBIG;
	pthread_rwlock_wrlock(&n->lock);
	if (off + size > n->size)
		err = data_resize(fs, n, off + size);
	for (int i = 0; !err && i < iovcnt && done < size; i++) {
		size_t k = iov[i].iov_len < size - done ? iov[i].iov_len : size - done;

		memcpy(n->data + off + done, iov[i].iov_base, k);
		done += k;
	}
	if (!err)
		n->mtime = n->ctime = now_real();
	pthread_rwlock_unlock(&n->lock);
	return err ? err : (ssize_t)done;
}

/* ---- the backend ------------------------------------------------------------------ */

static bool job_before(const struct job *a, const struct job *b)
{
	int c = ts_cmp(&a->due, &b->due);

	return c < 0 || (c == 0 && a->seq < b->seq);
}

static void heap_up(struct backend *be, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		struct job *tmp;

		if (!job_before(be->heap[i], be->heap[p]))
			break;
		tmp = be->heap[p], be->heap[p] = be->heap[i], be->heap[i] = tmp;
		i = p;
	}
}

static struct job *heap_pop(struct backend *be)
{
	struct job *top = be->heap[0];
	size_t i = 0;

	be->heap[0] = be->heap[--be->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct job *tmp;

		if (l < be->n && job_before(be->heap[l], be->heap[m]))
			m = l;
		if (r < be->n && job_before(be->heap[r], be->heap[m]))
			m = r;
		if (m == i)
			break;
		tmp = be->heap[m], be->heap[m] = be->heap[i], be->heap[i] = tmp;
		i = m;
	}
	return top;
}

static int backend_push(struct backend *be, struct job *j)
{
	pthread_mutex_lock(&be->lock);
	if (be->n == be->cap) {
		size_t cap = be->cap ? be->cap * 2 : 64;
		struct job **heap = realloc(be->heap, cap * sizeof(*heap));

		if (heap == NULL) {
			pthread_mutex_unlock(&be->lock);
			return -ENOMEM;
		}
		be->heap = heap;
		be->cap = cap;
	}
	j->seq = be->seq++;
	be->heap[be->n++] = j;
	heap_up(be, be->n - 1);
	/* A new earliest job: a sleeping thread must wait less. */
	if (be->heap[0] == j)
		pthread_cond_signal(&be->cond);
	pthread_mutex_unlock(&be->lock);
	return 0;
}

/* Answer a kept READ straight from the file's memory, with no copy into
 * the request's buffer: the read lock keeps the bytes in place while the
 * library hands them to the transport. */
static void reply_read_in_place(struct node *n, struct sgf_req *r, uint64_t off, size_t size)
{
	struct iovec v = { NULL, 0 };

	pthread_rwlock_rdlock(&n->lock);
	if (off < n->size) {
		v.iov_base = n->data + off;
		v.iov_len = n->size - off < size ? n->size - off : size;
	}
	sgf_reply_iov(r, &v, v.iov_len ? 1 : 0);
	pthread_rwlock_unlock(&n->lock);
}

static void job_run(struct memfs *fs, struct job *j)
{
	ssize_t n;

	if (!j->interrupted && !j->write) {
		reply_read_in_place(j->node, j->r, j->off, j->size);
		node_unpin(fs, j->node);
		free(j);
		return;
	}
	if (j->interrupted)
		n = -EINTR; /* the caller gave up: do nothing, say so */
	else
		n = data_write(fs, j->node, j->off, j->size, j->iov, j->iovcnt);
	/* After this reply r, its iov and its buffers are gone. */
	sgf_reply(j->r, n);
	node_unpin(fs, j->node);
	free(j);
}

static void *backend_main(void *arg)
{
	struct session *s = arg;
	struct backend *be = &s->be;

	pthread_mutex_lock(&be->lock);
	while (!be->stop) {
		struct timespec now;
		struct job *j;

		if (be->n == 0) {
			pthread_cond_wait(&be->cond, &be->lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ts_cmp(&be->heap[0]->due, &now) > 0) {
			/* A copy: the job may be gone by the time we wake. */
			struct timespec due = be->heap[0]->due;

			pthread_cond_timedwait(&be->cond, &be->lock, &due);
			continue;
		}
		j = heap_pop(be);
		/* More are due: another thread may take them meanwhile. */
		if (be->n > 0 && ts_cmp(&be->heap[0]->due, &now) <= 0)
			pthread_cond_signal(&be->cond);
		pthread_mutex_unlock(&be->lock);
		job_run(s->fs, j);
		pthread_mutex_lock(&be->lock);
	}
	pthread_mutex_unlock(&be->lock);
	return NULL;
}

static int backend_start(struct session *s)
{
	struct backend *be = &s->be;
	pthread_condattr_t ca;
	int err;

	pthread_mutex_init(&be->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&be->cond, &ca);
	pthread_condattr_destroy(&ca);
	be->started = true;
	for (unsigned i = 0; i < s->fs->backend_threads; i++) {
		err = pthread_create(&be->threads[i], NULL, backend_main, s);
		if (err)
			return -err; /* destroy stops the ones that started */
		be->nthreads++;
	}
	return 0;
}

/* From destroy: the library answered or abandoned every kept request, so
 * jobs still queued belong to abandoned requests; drop them unanswered. */
static void backend_stop(struct session *s)
{
	struct backend *be = &s->be;

	pthread_mutex_lock(&be->lock);
	be->stop = true;
	pthread_cond_broadcast(&be->cond);
	pthread_mutex_unlock(&be->lock);
	for (unsigned i = 0; i < be->nthreads; i++)
		pthread_join(be->threads[i], NULL);
	be->nthreads = 0;
	while (be->n > 0) {
		struct job *j = heap_pop(be);

		node_unpin(s->fs, j->node);
		free(j);
	}
	free(be->heap);
	be->heap = NULL;
	be->cap = 0;
	pthread_cond_destroy(&be->cond);
	pthread_mutex_destroy(&be->lock);
}

/* READ and WRITE: keep the request for the backend (defer=1), or wait here
 * and answer from the worker (defer=0). */
static ssize_t do_io(const struct sgf_req *r, uint64_t ino, bool write, uint64_t off,
		     size_t size, const struct iovec *iov, int iovcnt)
{
	struct session *s = session_of(r);
	struct memfs *fs = s->fs;
	struct node *n;
	struct job *j;
	ssize_t ret;

	pthread_mutex_lock(&fs->lock);
	n = node_get(fs, ino);
	if (n != NULL && S_ISREG(n->mode))
		node_pin(n);
	pthread_mutex_unlock(&fs->lock);
	if (n == NULL)
		return -ESTALE;
	if (!S_ISREG(n->mode))
		return S_ISDIR(n->mode) ? -EISDIR : -EINVAL;
	if (size > iov_total(iov, iovcnt))
		size = iov_total(iov, iovcnt);

	if (fs->defer && (j = malloc(sizeof(*j))) != NULL) {
		struct timespec due;

		clock_gettime(CLOCK_MONOTONIC, &due);
		due.tv_nsec += (long)(fs->latency_us % 1000000) * 1000;
		due.tv_sec += fs->latency_us / 1000000 + due.tv_nsec / 1000000000;
		due.tv_nsec %= 1000000000;
		/* The iov stays valid until the reply: the backend fills or
		 * drains it in place. */
		*j = (struct job){ .due = due, .r = sgf_req_keep(r), .node = n, .write = write,
				   .off = off, .size = size, .iov = iov, .iovcnt = iovcnt };
		if (j->r != NULL && backend_push(&s->be, j) == 0)
			return SGF_DEFER;
		/* Not kept or not queued: answer right here after all. */
		free(j);
	}
	if (fs->latency_us) {
		struct timespec ts = { fs->latency_us / 1000000,
				       (long)(fs->latency_us % 1000000) * 1000 };

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
	if (sgf_req_interrupted(r))
		ret = -EINTR;
	else
		ret = write ? data_write(fs, n, off, size, iov, iovcnt)
			    : data_read(n, off, size, iov, iovcnt);
	node_unpin(fs, n);
	return ret;
}

static ssize_t memfs_read(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			  const struct iovec *iov, int iovcnt)
{
	return do_io(r, ino, false, in->offset, in->size, iov, iovcnt);
}

static ssize_t memfs_write(const struct sgf_req *r, uint64_t ino,
			   const struct fuse_write_in *in, const struct iovec *iov, int iovcnt)
{
	return do_io(r, ino, true, in->offset, in->size, iov, iovcnt);
}

/* The requester gave up on r: if it still waits in the queue, make it due
 * now and answer EINTR (the callback itself must not reply). */
static void memfs_interrupt(const struct sgf_req *r)
{
	struct backend *be = &session_of(r)->be;

	if (!session_of(r)->fs->defer)
		return; /* the worker sees sgf_req_interrupted() after its wait */
	pthread_mutex_lock(&be->lock);
	for (size_t i = 0; i < be->n; i++) {
		struct job *j = be->heap[i];

		if (j->r == r) {
			j->interrupted = true;
			j->due = (struct timespec){ 0, 0 };
			heap_up(be, i);
			pthread_cond_signal(&be->cond);
			break;
		}
	}
	pthread_mutex_unlock(&be->lock);
}

/* ---- sessions ---------------------------------------------------------------------- */

static void *memfs_session_new(void *fs)
{
	struct session *s = calloc(1, sizeof(*s));

	if (s != NULL)
		s->fs = fs;
	return s;
}

static void memfs_session_free(void *fs, void *session)
{
	(void)fs;
	free(session);
}

/* In the serving process (after sgf_main went to the background), before
 * the first READ or WRITE: the place to start threads. */
static int memfs_init(void *session, struct sgf_conn_info *ci)
{
	struct session *s = session;

	(void)ci;
	return s->fs->defer ? backend_start(s) : 0;
}

/* After the session's last request: stop the backend, then drop every
 * lookup reference the session still held (no FORGET will come). */
static void memfs_destroy(void *session)
{
	struct session *s = session;
	struct memfs *fs = s->fs;

	if (s->be.started)
		backend_stop(s);
	pthread_mutex_lock(&fs->lock);
	for (uint64_t ino = 0; ino < fs->next_ino; ino++) {
		struct node *n = node_get(fs, ino);

		if (n != NULL)
			ref_drop(s, n, UINT64_MAX);
	}
	pthread_mutex_unlock(&fs->lock);
}

/* ---- names --------------------------------------------------------------------------- */

static int memfs_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
			struct fuse_entry_out *out)
{
	struct session *s = session_of(r);
	struct memfs *fs = s->fs;
	struct node *d, *n = NULL;
	int err = check_name(name);

	if (err)
		return err;
	pthread_mutex_lock(&fs->lock);
	d = dir_get(fs, parent, &err);
	if (d != NULL) {
		if (strcmp(name, ".") == 0) {
			n = d;
		} else if (strcmp(name, "..") == 0) {
			n = d->parent;
		} else {
			ssize_t i = dir_find(d, name);

			n = i >= 0 ? d->ents[i].node : NULL;
		}
		err = n == NULL ? -ENOENT : ref_add(s, n);
		if (!err)
			node_entry(n, out);
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

static void memfs_forget(const struct sgf_req *r, uint64_t ino, uint64_t nlookup)
{
	struct session *s = session_of(r);
	struct node *n;

	pthread_mutex_lock(&s->fs->lock);
	n = node_get(s->fs, ino);
	if (n != NULL)
		ref_drop(s, n, nlookup);
	pthread_mutex_unlock(&s->fs->lock);
}

/* Make a node named name in parent and reply its entry (one reference). */
static int make_node(const struct sgf_req *r, uint64_t parent, const char *name, mode_t mode,
		     struct fuse_entry_out *out, struct node **made)
{
	struct session *s = session_of(r);
	struct memfs *fs = s->fs;
	struct node *d, *n;
	int err = check_name(name);

	if (err)
		return err;
	if (is_dot(name))
		return -EEXIST;
	pthread_mutex_lock(&fs->lock);
	d = dir_get(fs, parent, &err);
	if (d == NULL)
		goto out;
	if (dir_find(d, name) >= 0) {
		err = -EEXIST;
		goto out;
	}
	/* Inherit the group of a set-group-ID directory, as Linux does. */
	n = node_new(fs, mode, r->uid, (d->mode & S_ISGID) ? d->gid : r->gid);
	if (n == NULL) {
		err = -ENOMEM;
		goto out;
	}
	if (S_ISDIR(mode)) {
		n->parent = d;
		if (d->mode & S_ISGID)
			n->mode |= S_ISGID;
	}
	err = dir_add(d, name, n);
	if (!err)
		err = ref_add(s, n);
	if (err) {
		ssize_t i = dir_find(d, name);

		if (i >= 0)
			dir_remove(d, (size_t)i);
		n->nlink = 0;
		node_maybe_free(fs, n);
		goto out;
	}
	if (S_ISDIR(mode))
		d->nlink++;
	node_entry(n, out);
	if (made)
		*made = n;
out:
	pthread_mutex_unlock(&fs->lock);
	return err;
}

static int memfs_mkdir(const struct sgf_req *r, uint64_t parent, const char *name,
		       const struct fuse_mkdir_in *in, struct fuse_entry_out *out)
{
	/* The kernel applied the umask (no FUSE_DONT_MASK). */
	return make_node(r, parent, name, S_IFDIR | (in->mode & 07777), out, NULL);
}

static int memfs_mknod(const struct sgf_req *r, uint64_t parent, const char *name,
		       const struct fuse_mknod_in *in, struct fuse_entry_out *out)
{
	if ((in->mode & S_IFMT) != S_IFREG && (in->mode & S_IFMT) != 0)
		return -EPERM; /* regular files only */
	return make_node(r, parent, name, S_IFREG | (in->mode & 07777), out, NULL);
}

static uint32_t open_flags(uint32_t flags)
{
	/* O_DIRECT: bypass the page cache, so vectored direct I/O reaches us
	 * as the caller issued it. */
	return (flags & O_DIRECT) ? FOPEN_DIRECT_IO : 0;
}

static int memfs_create(const struct sgf_req *r, uint64_t parent, const char *name,
			const struct fuse_create_in *in, struct fuse_entry_out *entry,
			struct fuse_open_out *open)
{
	struct node *n = NULL;
	int err;

	if ((in->mode & S_IFMT) != S_IFREG && (in->mode & S_IFMT) != 0)
		return -EINVAL;
	err = make_node(r, parent, name, S_IFREG | (in->mode & 07777), entry, &n);
	if (err == -EEXIST && !(in->flags & O_EXCL) && !is_dot(name)) {
		/* Made meanwhile by someone else (another session): open it. */
		struct session *s = session_of(r);
		struct node *d;
		ssize_t i;

		pthread_mutex_lock(&s->fs->lock);
		d = dir_get(s->fs, parent, &err);
		i = d != NULL ? dir_find(d, name) : -1;
		if (d != NULL && i < 0)
			err = -ENOENT;
		if (i >= 0) {
			n = d->ents[i].node;
			err = S_ISDIR(n->mode) ? -EISDIR : ref_add(s, n);
			if (!err)
				node_entry(n, entry);
		}
		pthread_mutex_unlock(&s->fs->lock);
	}
	if (err)
		return err;
	open->fh = n->ino;
	open->open_flags = open_flags(in->flags);
	return 0;
}

/* Remove the entry name of parent: a directory (must be empty) for RMDIR,
 * anything else for UNLINK. */
static int remove_entry(const struct sgf_req *r, uint64_t parent, const char *name, bool dir)
{
	struct memfs *fs = session_of(r)->fs;
	struct node *d, *n;
	ssize_t i;
	int err = check_name(name);

	if (err)
		return err;
	if (dir && strcmp(name, ".") == 0)
		return -EINVAL;
	if (dir && strcmp(name, "..") == 0)
		return -ENOTEMPTY;
	pthread_mutex_lock(&fs->lock);
	d = dir_get(fs, parent, &err);
	i = d ? dir_find(d, name) : -1;
	n = i >= 0 ? d->ents[i].node : NULL;
	if (d == NULL)
		; /* err is set */
	else if (n == NULL)
		err = -ENOENT;
	else if (!dir && S_ISDIR(n->mode))
		err = -EISDIR;
	else if (dir && !S_ISDIR(n->mode))
		err = -ENOTDIR;
	else if (dir && n->nents > 0)
		err = -ENOTEMPTY;
	else {
		dir_remove(d, (size_t)i);
		unlinked(fs, d, n);
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

static int memfs_unlink(const struct sgf_req *r, uint64_t parent, const char *name)
{
	return remove_entry(r, parent, name, false);
}

static int memfs_rmdir(const struct sgf_req *r, uint64_t parent, const char *name)
{
	return remove_entry(r, parent, name, true);
}

/* Is a the directory d or one of its ancestors? */
static bool is_ancestor(const struct node *a, const struct node *d)
{
	for (; d != NULL; d = d->parent == d ? NULL : d->parent)
		if (d == a)
			return true;
	return false;
}

/* Moving directory n from od to nd: its ".." moves. */
static void reparent(struct node *n, struct node *od, struct node *nd)
{
	if (!S_ISDIR(n->mode) || od == nd)
		return;
	od->nlink--;
	nd->nlink++;
	n->parent = nd;
}

static int memfs_rename(const struct sgf_req *r, uint64_t parent, const char *name,
			uint64_t newparent, const char *newname, uint32_t flags)
{
	struct memfs *fs = session_of(r)->fs;
	struct node *od, *nd, *n, *victim;
	ssize_t i, k;
	int err = check_name(name);

	if (!err)
		err = check_name(newname);
	if (err)
		return err;
	if (flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	if (is_dot(name) || is_dot(newname))
		return -EBUSY;
	pthread_mutex_lock(&fs->lock);
	od = dir_get(fs, parent, &err);
	nd = od != NULL ? dir_get(fs, newparent, &err) : NULL;
	if (nd == NULL)
		goto out;
	i = dir_find(od, name);
	if (i < 0) {
		err = -ENOENT;
		goto out;
	}
	n = od->ents[i].node;
	k = dir_find(nd, newname);
	victim = k >= 0 ? nd->ents[k].node : NULL;

	if (flags & RENAME_EXCHANGE) {
		if (victim == NULL) {
			err = -ENOENT;
		} else if ((S_ISDIR(n->mode) && is_ancestor(n, nd)) ||
			   (S_ISDIR(victim->mode) && is_ancestor(victim, od))) {
			err = -EINVAL; /* a directory into itself */
		} else {
			od->ents[i].node = victim;
			nd->ents[k].node = n;
			reparent(n, od, nd);
			reparent(victim, nd, od);
			node_touch(od);
			node_touch(nd);
			node_touch_ctime(n);
			node_touch_ctime(victim);
		}
		goto out;
	}
	if (victim == n)
		goto out; /* two names of one node (or the same name): nothing to do */
	if (S_ISDIR(n->mode) && is_ancestor(n, nd)) {
		err = -EINVAL;
		goto out;
	}
	if (victim != NULL) {
		if (flags & RENAME_NOREPLACE)
			err = -EEXIST;
		else if (S_ISDIR(victim->mode) && !S_ISDIR(n->mode))
			err = -EISDIR;
		else if (!S_ISDIR(victim->mode) && S_ISDIR(n->mode))
			err = -ENOTDIR;
		else if (S_ISDIR(victim->mode) && victim->nents > 0)
			err = -ENOTEMPTY;
		if (err)
			goto out;
		/* Point the existing entry at n, drop n's old one. */
		nd->ents[k].node = n;
		node_touch(nd);
		dir_remove(od, (size_t)i);
		reparent(n, od, nd);
		unlinked(fs, nd, victim);
	} else {
		/* Added at the end of nd: i still indexes n's old entry. */
		err = dir_add(nd, newname, n);
		if (err)
			goto out;
		dir_remove(od, (size_t)i);
		reparent(n, od, nd);
	}
	node_touch_ctime(n);
out:
	pthread_mutex_unlock(&fs->lock);
	return err;
}

/* ---- attributes ------------------------------------------------------------------------ */

static int memfs_getattr(const struct sgf_req *r, uint64_t ino,
			 const struct fuse_getattr_in *in, struct fuse_attr_out *out)
{
	struct memfs *fs = session_of(r)->fs;
	struct node *n;

	(void)in;
	pthread_mutex_lock(&fs->lock);
	n = node_get(fs, ino);
	if (n != NULL) {
		out->attr_valid = TIMEOUT_S;
		node_attr(n, &out->attr);
	}
	pthread_mutex_unlock(&fs->lock);
	return n != NULL ? 0 : -ESTALE;
}

static int set_time(struct timespec *ts, uint32_t valid, uint32_t set_bit, uint32_t now_bit,
		    uint64_t sec, uint32_t nsec, struct timespec now)
{
	if (valid & now_bit) {
		*ts = now;
	} else if (valid & set_bit) {
		if (nsec >= 1000000000u || sec > INT64_MAX)
			return -EINVAL;
		*ts = (struct timespec){ (time_t)sec, (long)nsec };
	}
	return 0;
}

static int memfs_setattr(const struct sgf_req *r, uint64_t ino,
			 const struct fuse_setattr_in *in, struct fuse_attr_out *out)
{
	struct memfs *fs = session_of(r)->fs;
	struct timespec now = now_real(), at, mt;
	uint32_t v = in->valid;
	struct node *n;
	int err = 0;

	pthread_mutex_lock(&fs->lock);
	n = node_get(fs, ino);
	if (n == NULL) {
		err = -ESTALE;
		goto out;
	}
	if ((v & FATTR_SIZE) && !S_ISREG(n->mode)) {
		err = S_ISDIR(n->mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if ((v & FATTR_SIZE) && in->size > (uint64_t)INT64_MAX) {
		err = -EFBIG;
		goto out;
	}
	pthread_rwlock_wrlock(&n->lock);
	at = n->atime, mt = n->mtime;
	err = set_time(&at, v, FATTR_ATIME, FATTR_ATIME_NOW, in->atime, in->atimensec, now);
	if (!err)
		err = set_time(&mt, v, FATTR_MTIME, FATTR_MTIME_NOW, in->mtime, in->mtimensec, now);
	if (!err && (v & FATTR_SIZE)) {
		err = data_resize(fs, n, (size_t)in->size);
		if (!err && !(v & (FATTR_MTIME | FATTR_MTIME_NOW)))
			mt = now;
	}
	if (!err) {
		n->atime = at;
		n->mtime = mt;
		n->ctime = now;
		if (v & FATTR_CTIME)
			n->ctime = (struct timespec){ (time_t)in->ctime, (long)in->ctimensec };
	}
	pthread_rwlock_unlock(&n->lock);
	if (err)
		goto out;
	if (v & FATTR_MODE)
		n->mode = (n->mode & S_IFMT) | (in->mode & 07777);
	if (v & FATTR_UID)
		n->uid = in->uid;
	if (v & FATTR_GID)
		n->gid = in->gid;
	if ((v & FATTR_KILL_SUIDGID) && !(v & FATTR_MODE))
		n->mode &= ~(mode_t)(S_ISUID | ((n->mode & S_IXGRP) ? S_ISGID : 0));
	out->attr_valid = TIMEOUT_S;
	node_attr(n, &out->attr);
out:
	pthread_mutex_unlock(&fs->lock);
	return err;
}

/* ---- open files and directories -------------------------------------------------------- */

static int memfs_open(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
		      struct fuse_open_out *out)
{
	struct memfs *fs = session_of(r)->fs;
	struct node *n;
	int err = 0;

	pthread_mutex_lock(&fs->lock);
	n = node_get(fs, ino);
	if (n == NULL)
		err = -ESTALE;
	else if (S_ISDIR(n->mode))
		err = -EISDIR;
	pthread_mutex_unlock(&fs->lock);
	if (err)
		return err;
	/* The lookup reference the requester holds keeps the node while it
	 * is open; no per-open state is needed. */
	out->fh = ino;
	out->open_flags = open_flags(in->flags);
	return 0;
}

static int memfs_flush(const struct sgf_req *r, uint64_t ino, const struct fuse_flush_in *in)
{
	(void)r, (void)ino, (void)in;
	return 0; /* every write is complete when answered */
}

static int memfs_fsync(const struct sgf_req *r, uint64_t ino, const struct fuse_fsync_in *in)
{
	(void)r, (void)ino, (void)in;
	return 0;
}

static int memfs_release(const struct sgf_req *r, uint64_t ino,
			 const struct fuse_release_in *in)
{
	(void)r, (void)ino, (void)in;
	return 0;
}

static int memfs_opendir(const struct sgf_req *r, uint64_t ino, const struct fuse_open_in *in,
			 struct fuse_open_out *out)
{
	struct memfs *fs = session_of(r)->fs;
	struct node *n;
	int err;

	(void)in;
	pthread_mutex_lock(&fs->lock);
	n = node_get(fs, ino);
	err = n == NULL ? -ESTALE : !S_ISDIR(n->mode) ? -ENOTDIR : 0;
	pthread_mutex_unlock(&fs->lock);
	out->fh = ino;
	return err;
}

/* "." has cookie 1, ".." cookie 2, the entries theirs (3 and up). */
static int memfs_readdir(const struct sgf_req *r, uint64_t ino, const struct fuse_read_in *in,
			 bool plus, struct sgf_dirbuf *db)
{
	struct session *s = session_of(r);
	struct memfs *fs = s->fs;
	struct node *d;
	int err = 0;

	pthread_mutex_lock(&fs->lock);
	d = node_get(fs, ino);
	if (d == NULL || !S_ISDIR(d->mode)) {
		err = d == NULL ? -ESTALE : -ENOTDIR;
		goto out;
	}
	for (uint64_t c = in->offset + 1; in->offset < 2 && c <= 2; c++) {
		const char *name = c == 1 ? "." : "..";
		struct node *t = c == 1 || d->parent == NULL ? d : d->parent;
		struct fuse_entry_out e = { 0 };

		/* No lookup reference for the dots: nodeid 0, ino and type. */
		e.attr.ino = t->ino;
		e.attr.mode = S_IFDIR;
		if (plus ? sgf_dirbuf_add_plus(db, name, strlen(name), &e, c)
			 : sgf_dirbuf_add(db, name, strlen(name), t->ino, DT_DIR, c))
			goto out;
	}
	for (size_t i = dir_seek(d, in->offset); i < d->nents; i++) {
		const struct entry *de = &d->ents[i];
		size_t len = strlen(de->name);
		struct fuse_entry_out e = { 0 };

		if (!plus) {
			if (sgf_dirbuf_add(db, de->name, len, de->node->ino,
					   (de->node->mode & S_IFMT) >> 12, de->cookie))
				break;
			continue;
		}
		/* Room first: the reference must go out with the entry. */
		if (!sgf_dirbuf_fits(db, len, true) || ref_add(s, de->node) != 0)
			break;
		node_entry(de->node, &e);
		if (sgf_dirbuf_add_plus(db, de->name, len, &e, de->cookie) != 0) {
			ref_drop(s, de->node, 1);
			break;
		}
	}
out:
	pthread_mutex_unlock(&fs->lock);
	return err;
}

/* Room: the capacity (half the RAM) less the data held. Inodes: files -
 * ffree is the number of nodes alive (the tests watch lookup counting so). */
static int memfs_statfs(const struct sgf_req *r, uint64_t ino, struct fuse_statfs_out *out)
{
	struct memfs *fs = session_of(r)->fs;
	uint64_t blocks = fs->capacity / BLOCK;
	uint64_t used = (atomic_load(&fs->bytes) + BLOCK - 1) / BLOCK;
	struct statvfs sv = { .f_bsize = BLOCK, .f_frsize = BLOCK, .f_namemax = SGF_NAME_MAX };

	(void)ino;
	pthread_mutex_lock(&fs->lock);
	sv.f_files = fs->nodes + (1u << 20);
	sv.f_ffree = sv.f_favail = 1u << 20;
	pthread_mutex_unlock(&fs->lock);
	sv.f_blocks = blocks;
	sv.f_bfree = sv.f_bavail = used < blocks ? blocks - used : 0;
	sgf_fill_kstatfs(&out->st, &sv);
	return 0;
}

static const struct sgf_ops memfs_ops = {
	.init = memfs_init,
	.destroy = memfs_destroy,
	.lookup = memfs_lookup,
	.forget = memfs_forget,
	.getattr = memfs_getattr,
	.setattr = memfs_setattr,
	.mknod = memfs_mknod,
	.mkdir = memfs_mkdir,
	.unlink = memfs_unlink,
	.rmdir = memfs_rmdir,
	.rename = memfs_rename,
	.open = memfs_open,
	.create = memfs_create,
	.read = memfs_read,
	.write = memfs_write,
	.flush = memfs_flush,
	.release = memfs_release,
	.fsync = memfs_fsync,
	.opendir = memfs_opendir,
	.readdir = memfs_readdir,
	.statfs = memfs_statfs,
	.interrupt = memfs_interrupt,
};

/* ---- command line ---------------------------------------------------------------------- */

/* Our -o options, listed by --help after the library's own (stats, threads,
 * ... come from there: every sgf_main program has them). */
static const char help[] =
	"  latency_us=N           backend latency of every READ and WRITE, in\n"
	"                         microseconds (default 0)\n"
	"  defer=0|1              1 (default): keep READ/WRITE requests and answer\n"
	"                         them from backend threads when due; 0: the\n"
	"                         worker thread sleeps latency_us and answers\n"
	"  backend_threads=N      backend threads per session, for defer=1\n"
	"                         (default 2)\n";

static int parse_uint(const char *value, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (value == NULL || *value < '0' || *value > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || *end != '\0' || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int memfs_opt(void *arg, const char *key, const char *value, char *err, size_t errlen)
{
	struct memfs *fs = arg;
	unsigned v;

	if (strcmp(key, "latency_us") == 0) {
		if (parse_uint(value, 60000000, &fs->latency_us) == 0)
			return 0;
		snprintf(err, errlen, "latency_us takes 0..60000000 (microseconds)");
	} else if (strcmp(key, "defer") == 0) {
		if (parse_uint(value, 1, &v) == 0) {
			fs->defer = v;
			return 0;
		}
		snprintf(err, errlen, "defer takes 0 or 1");
	} else if (strcmp(key, "backend_threads") == 0) {
		if (parse_uint(value, MAX_BACKEND_THREADS, &v) == 0 && v > 0) {
			fs->backend_threads = v;
			return 0;
		}
		snprintf(err, errlen, "backend_threads takes 1..%d", MAX_BACKEND_THREADS);
	} else {
		return -ENOENT;
	}
	return -EINVAL;
}

static struct memfs *memfs_new(void)
{
	struct memfs *fs = calloc(1, sizeof(*fs));

	if (fs == NULL)
		return NULL;
	pthread_mutex_init(&fs->lock, NULL);
	fs->defer = true;
	fs->backend_threads = 2;
	fs->capacity = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) / 2;
	fs->next_ino = FUSE_ROOT_ID;
	fs->root = node_new(fs, S_IFDIR | 0755, getuid(), getgid());
	if (fs->root == NULL) {
		free(fs);
		return NULL;
	}
	fs->root->parent = fs->root;
	return fs;
}

static void memfs_free(struct memfs *fs)
{
	for (uint64_t ino = 0; ino < fs->tab_len; ino++) {
		struct node *n = fs->tab[ino];

		if (n == NULL)
			continue;
		while (n->refs != NULL) {
			struct ref *next = n->refs->next;

			free(n->refs);
			n->refs = next;
		}
		node_destroy(n);
	}
	free(fs->tab);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

int main(int argc, char **argv)
{
	static const struct sgf_main_ext ext = {
		.name = "memfs",
		.help = help,
		.opt = memfs_opt,
		.fs_new = memfs_session_new,
		.fs_free = memfs_session_free,
	};
	struct memfs *fs = memfs_new();
	int status;

	if (fs == NULL) {
		perror("memfs");
		return 1;
	}
	status = sgf_main_ext(argc, argv, &memfs_ops, sizeof(memfs_ops), fs, &ext);
	memfs_free(fs);
	return status;
}
