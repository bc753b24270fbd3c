/* lib/server/chan.h - a channel moves whole FUSE messages between a session
 * and its requester, behind one small ops table, so dispatch and the workers
 * never ask which transport they are on. Kinds: /dev/fuse (chan_dev.c),
 * stream sockets (chan_stream.c, spliced READ replies in chan_splice.c),
 * the queues of FUSE over io_uring (uring.c) and the virtqueues of
 * vhost-user-fs (vhost_queue.c), which only send: their requests arrive in
 * ring entries or descriptor chains, not through recv.
 * Internal. */
#ifndef SGFUSE_SERVER_CHAN_H
#define SGFUSE_SERVER_CHAN_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The most iovecs one message is sent from (header, args, payload). */
#define SGF_SEND_IOV_MAX 16

struct sgf_chan;

/* A pipe a worker owns for send_spliced: empty between calls, and slots
 * pages big (its F_GETPIPE_SZ / page size). */
struct sgf_splice_pipe {
	int fd[2];
	unsigned slots;
};

struct sgf_chan_ops {
	/* Receive one whole message into buf (size bytes). Returns its length;
	 * -ENODEV when the session is gone (unmounted, peer closed, shut
	 * down); -EINTR / -EAGAIN for a retry; -EMSGSIZE for a message too big
	 * for buf (skipped; its header is in buf); -EPROTO for a broken
	 * stream (the channel is then unusable); other -errno. */
	ssize_t (*recv)(struct sgf_chan *ch, void *buf, size_t size);
	/* Send one whole message. slot: where the request being answered
	 * arrived, for kinds whose replies go back into it (an io_uring ring
	 * entry, a virtqueue chain); NULL for notifications and kinds without
	 * slots. An iovec with a NULL base stands for iov_len bytes already
	 * in place (a READ the operation read straight into the reply's
	 * memory, see ext_read in session.h; only kinds that set ext_read see
	 * one). 0 or -errno (-ENOENT: the requester dropped an interrupted
	 * request; harmless). Safe from any thread. */
	int (*send)(struct sgf_chan *ch, void *slot, const struct iovec *iov, int iovcnt);
	/* Optional (NULL: not offered). Send a reply whose payload is up to
	 * len bytes of fd from offset off, moved by splice through p; hdr
	 * (hdr_len bytes, a struct fuse_out_header whose len is set here)
	 * goes first. The file is read before anything is sent, so a short
	 * file gives a short reply. The caller checks that the range fits p.
	 * Returns the payload bytes sent; -EAGAIN when nothing was sent (the
	 * caller answers another way); -ENODEV when the peer is gone; another
	 * -errno when the stream failed mid-message (the channel is then shut
	 * down: a half-sent message cannot be taken back). */
	ssize_t (*send_spliced)(struct sgf_chan *ch, void *hdr, size_t hdr_len, int fd,
				uint64_t off, size_t len, const struct sgf_splice_pipe *p);
	/* Optional (NULL: workers share ch). A new channel on the same
	 * session with its own fd, so workers do not contend; NULL + errno. */
	struct sgf_chan *(*clone)(struct sgf_chan *ch);
	/* Release what the kind added (close the fd is done by sgf_chan_free). */
	void (*free)(struct sgf_chan *ch);
	/* Extra wake-up beyond the shared wake eventfd (stream: shutdown(2)). */
	void (*shutdown)(struct sgf_chan *ch);
	/* Optional (NULL: the transport has no backing files). FUSE
	 * passthrough: register fd with the requester's kernel as a backing
	 * file, which it then reads and writes itself for opens answered with
	 * the returned id (> 0); -errno otherwise. backing_close forgets an
	 * id (files already opened with it keep it); 0 or -errno. */
	int (*backing_open)(struct sgf_chan *ch, int fd);
	int (*backing_close)(struct sgf_chan *ch, int id);
};

/* Common head of every channel kind. wake_fd is an eventfd shared by a
 * channel and its clones: written once at shutdown and never read, so every
 * receiver polling it wakes, on every clone. */
struct sgf_chan {
	const struct sgf_chan_ops *ops;
	int fd;
	int wake_fd;
	bool owns_wake;
	atomic_bool *shut;      /* shared with clones */
	atomic_bool shut_own;
};

/* /dev/fuse: wrap fd (takes ownership, sets O_NONBLOCK). NULL + errno. */
struct sgf_chan *sgf_chan_dev_new(int fd);
/* Stream socket: wrap a connected SOCK_STREAM fd (takes ownership). Several
 * threads may share one stream channel: one at a time holds the receive
 * role (see chan_stream.c); sends are serialised by a lock. */
struct sgf_chan *sgf_chan_stream_new(int fd);

/* Set up the common head (wake eventfd included); 0 or -errno. Used by
 * the kinds' constructors; clone_of shares its wake fd and flag. */
int sgf_chan_init(struct sgf_chan *ch, const struct sgf_chan_ops *ops, int fd,
		  const struct sgf_chan *clone_of);

static inline ssize_t sgf_chan_recv(struct sgf_chan *ch, void *buf, size_t size)
{
	return ch->ops->recv(ch, buf, size);
}
int sgf_chan_send(struct sgf_chan *ch, const struct iovec *iov, int iovcnt);
/* The reply to a request that arrived in slot (see send). */
int sgf_chan_reply(struct sgf_chan *ch, void *slot, const struct iovec *iov, int iovcnt);
static inline bool sgf_chan_can_splice(const struct sgf_chan *ch)
{
	return ch->ops->send_spliced != NULL;
}
static inline ssize_t sgf_chan_send_spliced(struct sgf_chan *ch, void *hdr, size_t hdr_len,
					    int fd, uint64_t off, size_t len,
					    const struct sgf_splice_pipe *p)
{
	return ch->ops->send_spliced ? ch->ops->send_spliced(ch, hdr, hdr_len, fd, off, len, p)
				     : -EOPNOTSUPP;
}
static inline bool sgf_chan_has_backing(const struct sgf_chan *ch)
{
	return ch->ops->backing_open != NULL;
}
static inline int sgf_chan_backing_open(struct sgf_chan *ch, int fd)
{
	return ch->ops->backing_open ? ch->ops->backing_open(ch, fd) : -EOPNOTSUPP;
}
static inline int sgf_chan_backing_close(struct sgf_chan *ch, int id)
{
	return ch->ops->backing_close ? ch->ops->backing_close(ch, id) : -EOPNOTSUPP;
}
/* NULL + errno (EOPNOTSUPP when the kind cannot clone). */
struct sgf_chan *sgf_chan_clone(struct sgf_chan *ch);
/* Stop the channel and its clones: receivers blocked in recv return
 * -ENODEV. Safe from any thread; async-signal-safe for /dev/fuse. */
void sgf_chan_shutdown(struct sgf_chan *ch);
bool sgf_chan_is_shut(const struct sgf_chan *ch);
/* Wait until fd is readable or the channel is shut: 0, -ENODEV when shut,
 * -errno from poll. */
int sgf_chan_wait_readable(struct sgf_chan *ch, int fd);
int sgf_chan_fd(const struct sgf_chan *ch);
void sgf_chan_free(struct sgf_chan *ch);

#endif
