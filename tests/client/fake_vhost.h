/* tests/client/fake_vhost.h - a scripted vhost-user-fs device in a thread,
 * on an abstract Unix socket, built on the device side of lib/common's
 * virtqueue (virtq_dev.c): it answers the frontend's handshake as told
 * (features to offer, a request to refuse), maps the memory table, and
 * serves FUSE requests from the queues; a test hook sees every request
 * first and may answer it itself, malformed, late, or not at all. */
#ifndef SGF_TEST_FAKE_VHOST_H
#define SGF_TEST_FAKE_VHOST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/fuse.h>
#include "virtq.h"

#define FV_MAX_IOV 1100
#define FV_FILE_SIZE (8u << 20)

struct fake_vhost;

/* One request popped from a queue. */
struct fv_call {
	unsigned queue;
	struct sgf_vq_elem elem;
	struct iovec rd[FV_MAX_IOV], wr[FV_MAX_IOV];
	struct fuse_in_header in;     /* copied out of the chain */
	unsigned char body[1 << 21];  /* the rest of the request, copied */
	size_t body_len;
	bool answered;                /* pushed (or to be left alone) */
};

/* Called for each request before the default answer. Return 0 to let the
 * device answer (unless c->answered), nonzero to hang up. */
typedef int (*fv_hook)(struct fake_vhost *d, struct fv_call *c);

struct fake_vhost {
	char name[64];                /* "@..." address for vhost-user: */
	int lfd, fd;
	pthread_t thread;
	bool running;
	/* handshake */
	uint64_t features;            /* offered */
	uint64_t protocol_features;   /* offered */
	uint32_t refuse;              /* request answered with a REPLY_ACK failure */
	uint32_t queue_num;           /* GET_QUEUE_NUM's answer */
	bool silent_init;             /* never answer FUSE INIT */
	/* state */
	struct sgf_vq_mem mem;
	void *map;
	size_t map_size;
	uint64_t uaddr, gpa;          /* the one region's */
	struct sgf_vq_addr qa[2];
	struct sgf_vq_dev q[2];
	int kick[2], call[2];
	bool enabled[2], started[2];
	uint64_t acked_features, acked_protocol;
	fv_hook hook;
	void *ctx;
	/* Held by the device while it touches what follows, and by a test
	 * that looks at it while the device runs (fv_lock): what it learns
	 * from the rings, ThreadSanitizer cannot see (the device reads them
	 * through a mapping of its own). */
	pthread_mutex_t lock;
	/* the file a READ/WRITE touches (nodeid 2), and counters */
	unsigned char *file;
	uint64_t file_size;
	unsigned nreq[2];             /* requests per queue */
	unsigned nforget;
	unsigned last_rd_n, last_wr_n; /* iovecs of the last READ/WRITE */
	unsigned max_rd_n;
	bool saw_bad_chain;
	char err[200];                /* the first handshake complaint */
	struct fv_call *cur;          /* scratch (large) */
};

/* Defaults: everything a frontend may take offered, nothing refused. */
void fv_init(struct fake_vhost *d, fv_hook hook, void *ctx);
/* Listen and serve one frontend in a thread. 0 or -errno. */
int fv_start(struct fake_vhost *d);
/* Wait for the thread (it ends when the frontend hangs up or a hook says
 * so) and free everything. */
void fv_stop(struct fake_vhost *d);

/* Answer c: header with error and payload (into the chain's writable
 * buffers), pushed with used len = what was written. */
void fv_reply(struct fake_vhost *d, struct fv_call *c, int32_t error, const void *payload,
	      size_t len);
/* Push c with any id and len, writing nothing. */
void fv_push_raw(struct fake_vhost *d, struct fv_call *c, uint32_t id, uint32_t len);
/* Write raw bytes into c's writable buffers at offset off. */
void fv_write(struct fv_call *c, size_t off, const void *p, size_t len);
/* Look at the file or the counters while the device runs. */
void fv_lock(struct fake_vhost *d);
void fv_unlock(struct fake_vhost *d);

#endif
