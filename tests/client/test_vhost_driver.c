/* tests/client/test_vhost_driver.c - the client's vhost-user transport as
 * the guest driver, against a fake device on lib/common/virtq_dev.c
 * (fake_vhost.c): the region's layout; requests as chains (arena buffers by
 * address, one descriptor each, other memory through one bounce run); data
 * both ways; FORGET on the hiprio queue; descriptors running out under
 * several threads; and a device that misbehaves: used entries that break
 * the ring fail the connection (-ENOTCONN for every call, -EPROTO during
 * INIT), replies that break only their request fail that call with -EIO,
 * a device that never answers INIT times connect out, one that leaves
 * fails the calls in flight at once. Never a crash, never a hang. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include "check.h"
#include "fake_vhost.h"
#include "vhost.h"
#include "vhost_user.h"

#define PAGE 4096u
#define NSEG 32

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t pat(uint64_t off, unsigned salt)
{
	return (uint8_t)((off * 131 + (off >> 12) * 7 + salt) & 0xff);
}

static void fill(const struct iovec *iov, int n, uint64_t off, unsigned salt)
{
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < iov[i].iov_len; j++)
			((uint8_t *)iov[i].iov_base)[j] = pat(off++, salt);
}

static bool matches(const struct iovec *iov, int n, uint64_t off, unsigned salt)
{
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < iov[i].iov_len; j++)
			if (((uint8_t *)iov[i].iov_base)[j] != pat(off++, salt))
				return false;
	return true;
}

static int connect_dev(struct fake_vhost *d, const struct sgf_client_opts *o,
		       struct sgf_client **c)
{
	char addr[96];

	CHECK_EQ(fv_start(d), 0);
	snprintf(addr, sizeof(addr), "vhost-user:%s", d->name);
	return sgf_client_connect(addr, o, c);
}

static uint64_t malformed(struct sgf_client *c)
{
	struct sgf_stats st;
	sgf_stats_snapshot(sgf_client_stats(c), &st);
	return st.malformed;
}

/* The shared region: every part aligned as it must be, none overlapping,
 * the bounce space a whole request's worth. */
static void test_layout(void)
{
	struct sgf_vh_layout l;

	CHECK_EQ(sgf_vh_layout(&l, 64, 256, 64u << 20), 0);
	CHECK_EQ(l.desc[0] % PAGE, 0);
	CHECK_EQ(l.desc[1] % PAGE, 0);
	CHECK(l.avail[1] % 2 == 0 && l.used[1] % 4 == 0);
	CHECK(l.avail[0] >= l.desc[0] + sgf_vq_desc_size(l.qnum[0]));
	CHECK(l.used[0] >= l.avail[0] + sgf_vq_avail_size(l.qnum[0]));
	CHECK(l.desc[1] >= l.used[0] + sgf_vq_used_size(l.qnum[0]));
	CHECK(l.hiprio >= l.used[1] + sgf_vq_used_size(l.qnum[1]));
	CHECK(l.slots >= l.hiprio + SGF_VH_HIPRIO_NUM * SGF_VH_HIPRIO_MSG);
	CHECK_EQ(l.bounce_size, 256 * PAGE);
	CHECK_EQ(l.slot_size, SGF_VH_CTL_SIZE + 256 * PAGE);
	CHECK(l.arena >= l.slots + 64 * l.slot_size && l.arena % PAGE == 0);
	CHECK_EQ(l.arena_size, 64u << 20);
	CHECK_EQ(l.total, l.arena + l.arena_size);
	CHECK_EQ(l.qnum[SGF_VH_REQ], 1024);
	CHECK_EQ(sgf_vh_layout(&l, 64, 256, 1), 0);
	CHECK_EQ(l.arena_size, PAGE);
	CHECK_EQ(sgf_vh_layout(&l, 1u << 31, SGF_VH_MAX_PAGES, SIZE_MAX - 10), -EINVAL);
	CHECK_EQ(sgf_vh_layout(&l, 1, 0, PAGE), -EINVAL);
}

/* Buffers PAGE each with a free page after, so no two are adjacent (which
 * would let their descriptors merge). */
static bool gapped(struct sgf_client *c, struct iovec *iov, char **mem)
{
	*mem = sgf_client_buf_alloc(c, 2 * NSEG * PAGE);
	if (*mem == NULL)
		return false;
	for (int i = 0; i < NSEG; i++)
		iov[i] = (struct iovec){ *mem + 2 * i * PAGE, PAGE };
	return true;
}

static void test_basic(void)
{
	struct fake_vhost d;
	struct sgf_client *c = NULL;
	struct fuse_attr_out a;
	struct sgf_file f;
	struct iovec iov[NSEG], heap[NSEG];
	char *mem = NULL, *hmem = aligned_alloc(PAGE, NSEG * PAGE);
	struct sgf_stats st;

	fv_init(&d, NULL, NULL);
	int r = connect_dev(&d, NULL, &c);
	CHECK_EQ(r, 0);
	if (r) {
		fprintf(stderr, "connect: %s (device: %s)\n", strerror(-r), d.err);
		fv_stop(&d);
		free(hmem);
		return;
	}
	CHECK_EQ(sgf_client_conn(c)->max_pages, 256);
	CHECK_EQ(sgf_client_conn(c)->max_write, 1u << 20);
	CHECK(d.acked_protocol & ((uint64_t)1 << SGF_VU_PROTOCOL_F_REPLY_ACK));
	/* Indirect descriptors are offered but not taken. */
	CHECK(!(d.acked_features & ((uint64_t)1 << SGF_VIRTIO_F_RING_INDIRECT_DESC)));
	CHECK(d.acked_features & ((uint64_t)1 << SGF_VIRTIO_F_RING_EVENT_IDX));
	CHECK_EQ(sgf_getattr(c, 1, &a), 0);
	CHECK_EQ(a.attr.mode, 040755);
	CHECK_EQ(sgf_open(c, 2, O_RDWR, &f), 0);

	/* Arena buffers go by address: the header with its argument is one
	 * descriptor, then one per segment. */
	CHECK(gapped(c, iov, &mem));
	fill(iov, NSEG, 0, 1);
	CHECK_EQ(sgf_pwritev(c, &f, iov, NSEG, 0), NSEG * PAGE);
	fv_lock(&d);
	CHECK_EQ(d.last_rd_n, 1 + NSEG);
	CHECK(memcmp(d.file, mem, PAGE) == 0);
	fv_unlock(&d);
	memset(mem, 0, 2 * NSEG * PAGE);
	CHECK_EQ(sgf_preadv(c, &f, iov, NSEG, 0), NSEG * PAGE);
	fv_lock(&d);
	CHECK_EQ(d.last_wr_n, 1 + NSEG);
	fv_unlock(&d);
	CHECK(matches(iov, NSEG, 0, 1));

	/* Other memory goes through one bounce run. */
	for (int i = 0; i < NSEG; i++)
		heap[i] = (struct iovec){ hmem + i * PAGE, PAGE };
	fill(heap, NSEG, NSEG * PAGE, 2);
	CHECK_EQ(sgf_pwritev(c, &f, heap, NSEG, NSEG * PAGE), NSEG * PAGE);
	fv_lock(&d);
	CHECK_EQ(d.last_rd_n, 2);
	fv_unlock(&d);
	memset(hmem, 0, NSEG * PAGE);
	CHECK_EQ(sgf_preadv(c, &f, heap, NSEG, NSEG * PAGE), NSEG * PAGE);
	fv_lock(&d);
	CHECK_EQ(d.last_wr_n, 2);
	fv_unlock(&d);
	CHECK(matches(heap, NSEG, NSEG * PAGE, 2));

	/* Odd sizes and offsets, a small write folded into the header's
	 * descriptor, a short read at the end of the file. */
	char small[100], back[300];
	memset(small, 'q', sizeof(small));
	CHECK_EQ(sgf_pwrite(c, &f, small, sizeof(small), 2 * NSEG * PAGE), 100);
	fv_lock(&d);
	CHECK_EQ(d.last_rd_n, 1);
	fv_unlock(&d);
	CHECK_EQ(sgf_pread(c, &f, back, sizeof(back), 2 * NSEG * PAGE), 100);
	CHECK(memcmp(back, small, 100) == 0);
	CHECK_EQ(sgf_pread(c, &f, back, sizeof(back), 2 * NSEG * PAGE + 100), 0);
	/* Mixed: arena and heap segments in one call. */
	struct iovec mix[4] = { iov[0], heap[1], iov[2], heap[3] };
	fill(mix, 4, 12345, 3);
	CHECK_EQ(sgf_pwritev(c, &f, mix, 4, 12345), 4 * PAGE);
	memset(mem, 0, 2 * NSEG * PAGE);
	memset(hmem, 0, NSEG * PAGE);
	CHECK_EQ(sgf_preadv(c, &f, mix, 4, 12345), 4 * PAGE);
	CHECK(matches(mix, 4, 12345, 3));

	/* FORGET travels on the hiprio queue, and gets no reply. */
	sgf_forget(c, 5, 1);
	sgf_forget(c, 6, 2);
	sgf_stats_snapshot(sgf_client_stats(c), &st);
	CHECK_EQ(st.count[FUSE_WRITE], 4);
	CHECK_EQ(st.count[FUSE_FORGET], 2);
	CHECK_EQ(malformed(c), 0);
	CHECK_EQ(sgf_release(c, &f), 0);
	sgf_client_buf_free(c, mem);
	CHECK_EQ(sgf_client_disconnect(c), 0);
	fv_stop(&d);
	CHECK_EQ(d.nreq[SGF_VH_HIPRIO], 2);
	CHECK_EQ(d.nforget, 2);
	CHECK(!d.saw_bad_chain);
	CHECK_STR(d.err, "");
	free(hmem);
}

static void test_buffers(void)
{
	struct fake_vhost d;
	struct sgf_client *c = NULL;
	struct sgf_client_opts o = { .arena_size = 1u << 20 };

	fv_init(&d, NULL, NULL);
	CHECK_EQ(connect_dev(&d, &o, &c), 0);
	if (c == NULL) {
		fv_stop(&d);
		return;
	}
	char *a = sgf_client_buf_alloc(c, 100);
	char *b = sgf_client_buf_alloc(c, PAGE + 1);
	CHECK(a && b && (uintptr_t)a % PAGE == 0 && (uintptr_t)b % PAGE == 0);
	CHECK(b >= a + PAGE || a >= b + 2 * PAGE);
	errno = 0;
	CHECK(sgf_client_buf_alloc(c, 1u << 20) == NULL && errno == ENOMEM);
	errno = 0;
	CHECK(sgf_client_buf_alloc(c, 0) == NULL && errno == EINVAL);
	sgf_client_buf_free(c, a);
	sgf_client_buf_free(c, b);
	sgf_client_buf_free(c, NULL);
	char *all = sgf_client_buf_alloc(c, 1u << 20);
	CHECK(all != NULL);
	errno = 0;
	CHECK(sgf_client_buf_alloc(c, 1) == NULL && errno == ENOMEM);
	sgf_client_buf_free(c, all);
	CHECK_EQ(sgf_client_disconnect(c), 0);
	fv_stop(&d);
}

/* ---- several threads: descriptors run out (each call two chains of 258
 * descriptors, four threads, a queue of 1024), senders wait for the
 * receive role to reap ---- */

#define NBIG 512

struct worker {
	struct sgf_client *c;
	unsigned id;
	int fails;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct iovec *iov = calloc(NBIG, sizeof(*iov));
	struct sgf_file f = { .nodeid = 2, .fh = 7 };
	char *mem = sgf_client_buf_alloc(w->c, 2 * NBIG * PAGE);

	if (mem == NULL || iov == NULL) {
		w->fails++;
		free(iov);
		return NULL;
	}
	for (int i = 0; i < NBIG; i++)
		iov[i] = (struct iovec){ mem + 2 * i * PAGE, PAGE };
	for (unsigned round = 0; round < 8; round++) {
		uint64_t off = (uint64_t)w->id * NBIG * PAGE;
		fill(iov, NBIG, off, round + w->id);
		if (sgf_pwritev(w->c, &f, iov, NBIG, off) != NBIG * PAGE)
			w->fails++;
		memset(mem, 0, 2 * NBIG * PAGE);
		if (sgf_preadv(w->c, &f, iov, NBIG, off) != NBIG * PAGE ||
		    !matches(iov, NBIG, off, round + w->id))
			w->fails++;
	}
	sgf_client_buf_free(w->c, mem);
	free(iov);
	return NULL;
}

static void test_threads(void)
{
	struct fake_vhost d;
	struct sgf_client *c = NULL;
	struct sgf_client_opts o = { .arena_size = 4 * 2 * NBIG * PAGE };
	struct worker w[4];
	pthread_t t[4];
	struct sgf_stats st;

	fv_init(&d, NULL, NULL);
	CHECK_EQ(connect_dev(&d, &o, &c), 0);
	if (c == NULL) {
		fv_stop(&d);
		return;
	}
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ .c = c, .id = i };
		CHECK_EQ(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(w[i].fails, 0);
	}
	sgf_stats_snapshot(sgf_client_stats(c), &st);
	CHECK_EQ(st.count[FUSE_WRITE], 4 * 8 * 2);
	CHECK_EQ(malformed(c), 0);
	CHECK_EQ(sgf_client_disconnect(c), 0);
	fv_stop(&d);
	CHECK_EQ(d.max_rd_n, 1 + 256);
}

/* ---- a device that breaks the ring ---- */

enum ring_fault { RF_ID_RANGE, RF_ID_NOT_OUT, RF_LEN_OVER, RF_IDX_JUMP, RF_NONE };

static int ring_hook(struct fake_vhost *d, struct fv_call *c)
{
	enum ring_fault *f = d->ctx;
	struct sgf_vq_dev *q = &d->q[c->queue];

	if (c->in.opcode != FUSE_GETATTR || c->in.nodeid != 99)
		return 0;
	switch (*f) {
	case RF_ID_RANGE: fv_push_raw(d, c, 5000, 16); break;
	case RF_ID_NOT_OUT: fv_push_raw(d, c, (c->elem.head + 7) % q->num, 16); break;
	case RF_LEN_OVER: fv_push_raw(d, c, c->elem.head, c->elem.wr_bytes + 1); break;
	case RF_IDX_JUMP:
		q->used_idx += 3;
		sgf_vq_flush(q);
		fv_push_raw(d, c, c->elem.head, 0);
		break;
	case RF_NONE: break;
	}
	return 0;
}

static void test_ring_faults(void)
{
	static const char *names[] = { "id out of range", "id not outstanding",
				       "len over the writable bytes", "used index jump" };

	for (enum ring_fault f = RF_ID_RANGE; f < RF_NONE; f++) {
		struct fake_vhost d;
		struct sgf_client *c = NULL;
		struct fuse_attr_out a;
		enum ring_fault fault = f;

		fv_init(&d, ring_hook, &fault);
		CHECK_EQ(connect_dev(&d, NULL, &c), 0);
		if (c == NULL) {
			fv_stop(&d);
			continue;
		}
		CHECK_EQ(sgf_getattr(c, 1, &a), 0);
		CHECK_EQ_CTX(sgf_getattr(c, 99, &a), -ENOTCONN, names[f]);
		CHECK_EQ_CTX(sgf_getattr(c, 1, &a), -ENOTCONN, names[f]);
		CHECK_EQ_CTX(malformed(c) >= 1, 1, names[f]);
		sgf_client_disconnect(c);
		fv_stop(&d);
	}
}

/* During INIT the same is the peer's failure to be a FUSE device. */
static int init_hook(struct fake_vhost *d, struct fv_call *c)
{
	int *mode = d->ctx;
	struct fuse_init_out o = { .major = 7, .minor = 38, .max_write = 1 << 20 };

	if (c->in.opcode != FUSE_INIT)
		return 0;
	if (*mode == 0) {
		fv_push_raw(d, c, 4096, 16);
	} else if (*mode == 1) {
		c->in.unique += 2;
		fv_reply(d, c, 0, &o, sizeof(o));
	} else {
		o.major = 8;
		fv_reply(d, c, 0, &o, sizeof(o));
	}
	return 0;
}

static void test_init_faults(void)
{
	for (int mode = 0; mode < 3; mode++) {
		struct fake_vhost d;
		struct sgf_client *c = NULL;
		fv_init(&d, init_hook, &mode);
		CHECK_EQ_CTX(connect_dev(&d, NULL, &c), -EPROTO, mode == 0 ? "ring" : "reply");
		CHECK(c == NULL);
		if (c)
			sgf_client_disconnect(c);
		fv_stop(&d);
	}
	/* A device that takes INIT and never answers. */
	struct fake_vhost d;
	struct sgf_client *c = NULL;
	struct sgf_client_opts o = { .connect_timeout_ms = 400 };
	fv_init(&d, NULL, NULL);
	d.silent_init = true;
	double t0 = now_s();
	CHECK_EQ(connect_dev(&d, &o, &c), -ETIMEDOUT);
	double dt = now_s() - t0;
	if (c)
		sgf_client_disconnect(c);
	CHECK(dt >= 0.35 && dt < 2.0);
	fv_stop(&d);
}

/* ---- replies that break only their request ---- */

enum reply_fault { PF_UNIQUE, PF_LEN_MISMATCH, PF_ERROR_POSITIVE, PF_SHORT, PF_ERROR_PAYLOAD,
		   PF_USED_SHORT, PF_WRITE_OVER, PF_NONE };

static int reply_hook(struct fake_vhost *d, struct fv_call *c)
{
	enum reply_fault *f = d->ctx;
	struct fuse_attr_out a = { .attr = { .ino = 3, .mode = 0100644 } };
	struct fuse_out_header oh = { .len = sizeof(oh) + sizeof(a), .unique = c->in.unique };

	if (c->in.opcode == FUSE_WRITE && *f == PF_WRITE_OVER) {
		struct fuse_write_out w = { .size = 1u << 20 };
		fv_reply(d, c, 0, &w, sizeof(w));
		return 0;
	}
	if (c->in.opcode != FUSE_GETATTR || c->in.nodeid != 99)
		return 0;
	switch (*f) {
	case PF_UNIQUE:
		c->in.unique ^= 1u << 20;
		fv_reply(d, c, 0, &a, sizeof(a));
		break;
	case PF_LEN_MISMATCH:
		fv_write(c, 0, &oh, sizeof(oh));
		fv_write(c, sizeof(oh), &a, sizeof(a));
		fv_push_raw(d, c, c->elem.head, sizeof(oh) + 8);
		break;
	case PF_ERROR_POSITIVE: fv_reply(d, c, 5, NULL, 0); break;
	case PF_SHORT: fv_reply(d, c, 0, &a, 8); break;
	case PF_ERROR_PAYLOAD: fv_reply(d, c, -ENOENT, &a, 8); break;
	case PF_USED_SHORT:
		fv_write(c, 0, &oh, sizeof(oh));
		fv_push_raw(d, c, c->elem.head, 8);
		break;
	default: break;
	}
	return 0;
}

static void test_reply_faults(void)
{
	static const char *names[] = { "unique", "len vs used len", "positive error",
				       "short payload", "error with payload", "used len short",
				       "write count over" };

	for (enum reply_fault f = PF_UNIQUE; f < PF_NONE; f++) {
		struct fake_vhost d;
		struct sgf_client *c = NULL;
		struct fuse_attr_out a;
		enum reply_fault fault = f;

		fv_init(&d, reply_hook, &fault);
		CHECK_EQ(connect_dev(&d, NULL, &c), 0);
		if (c == NULL) {
			fv_stop(&d);
			continue;
		}
		if (f == PF_WRITE_OVER) {
			struct sgf_file file = { .nodeid = 2, .fh = 7 };
			char buf[100] = { 0 };
			CHECK_EQ_CTX(sgf_pwrite(c, &file, buf, sizeof(buf), 0), -EIO, names[f]);
		} else {
			CHECK_EQ_CTX(sgf_getattr(c, 99, &a), -EIO, names[f]);
		}
		/* The connection goes on. */
		CHECK_EQ_CTX(sgf_getattr(c, 1, &a), 0, names[f]);
		CHECK_EQ_CTX(malformed(c), 1, names[f]);
		CHECK_EQ(sgf_client_disconnect(c), 0);
		fv_stop(&d);
	}
}

/* ---- the device goes away with calls in flight ---- */

struct dying {
	pthread_mutex_t lock;
	unsigned seen, want;
};

static int dying_hook(struct fake_vhost *d, struct fv_call *c)
{
	struct dying *dy = d->ctx;

	if (c->in.opcode != FUSE_GETATTR || c->in.nodeid != 77)
		return 0;
	c->answered = true;  /* held, never pushed */
	pthread_mutex_lock(&dy->lock);
	bool all = ++dy->seen == dy->want;
	pthread_mutex_unlock(&dy->lock);
	return all;  /* hang up once every caller waits */
}

struct caller {
	struct sgf_client *c;
	int r;
	double took;
};

static void *caller_main(void *arg)
{
	struct caller *k = arg;
	struct fuse_attr_out a;
	double t0 = now_s();
	k->r = sgf_getattr(k->c, 77, &a);
	k->took = now_s() - t0;
	return NULL;
}

static void test_device_leaves(void)
{
	struct fake_vhost d;
	struct sgf_client *c = NULL;
	struct dying dy = { .want = 4 };
	struct caller k[4];
	pthread_t t[4];

	pthread_mutex_init(&dy.lock, NULL);
	fv_init(&d, dying_hook, &dy);
	CHECK_EQ(connect_dev(&d, NULL, &c), 0);
	if (c == NULL) {
		fv_stop(&d);
		return;
	}
	for (int i = 0; i < 4; i++) {
		k[i] = (struct caller){ .c = c };
		CHECK_EQ(pthread_create(&t[i], NULL, caller_main, &k[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(k[i].r, -ENOTCONN);
		CHECK(k[i].took < 2.0);
	}
	struct fuse_attr_out a;
	CHECK_EQ(sgf_getattr(c, 1, &a), -ENOTCONN);
	sgf_forget(c, 9, 1);  /* no hang on the hiprio queue either */
	sgf_client_disconnect(c);
	fv_stop(&d);
	pthread_mutex_destroy(&dy.lock);
}

/* sgf_client_shutdown from another thread ends a wait on a silent device. */
static int silent_hook(struct fake_vhost *d, struct fv_call *c)
{
	(void)d;
	if (c->in.opcode == FUSE_GETATTR && c->in.nodeid == 77)
		c->answered = true;
	return 0;
}

static void test_shutdown(void)
{
	struct fake_vhost d;
	struct sgf_client *c = NULL;
	struct caller k;
	pthread_t t;

	fv_init(&d, silent_hook, NULL);
	CHECK_EQ(connect_dev(&d, NULL, &c), 0);
	if (c == NULL) {
		fv_stop(&d);
		return;
	}
	k = (struct caller){ .c = c };
	CHECK_EQ(pthread_create(&t, NULL, caller_main, &k), 0);
	usleep(100 * 1000);
	sgf_client_shutdown(c);
	pthread_join(t, NULL);
	CHECK_EQ(k.r, -ENOTCONN);
	CHECK(k.took < 2.0);
	sgf_client_disconnect(c);
	fv_stop(&d);
}

int main(void)
{
	alarm(120);
	test_layout();
	test_basic();
	test_buffers();
	test_threads();
	test_ring_faults();
	test_init_faults();
	test_reply_faults();
	test_device_leaves();
	test_shutdown();
	return check_exit();
}
