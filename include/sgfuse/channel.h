/* sgfuse/channel.h - moves whole FUSE messages, nothing more. A channel is
 * /dev/fuse (the kernel is the requester; every read/write is one message)
 * or a stream socket with libfuse custom-io framing (each message starts with
 * its FUSE header, whose len covers the whole message). */
#ifndef SGFUSE_CHANNEL_H
#define SGFUSE_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sgf_chan;

/* /dev/fuse: wrap fd (takes ownership). NULL + errno on failure. */
struct sgf_chan *sgf_chan_dev_new(int fd);
/* Stream socket: wrap a connected SOCK_STREAM fd (takes ownership). Several
 * threads may share one stream channel: one at a time holds the receive
 * role and keeps it across the message it processes unless the next one is
 * already waiting and another thread asks for the role (so a lone request
 * stream never bounces between threads, a pipelined one is spread over
 * them); sends are serialised by a lock. */
struct sgf_chan *sgf_chan_stream_new(int fd);

/* A new channel on the same session with its own fd (FUSE_DEV_IOC_CLONE for
 * /dev/fuse), so worker threads do not contend; NULL + errno when the
 * channel kind cannot clone (-EOPNOTSUPP) or the clone fails. */
struct sgf_chan *sgf_chan_clone(struct sgf_chan *ch);

/* Receive one whole message into buf (size bytes). Returns its length;
 * -ENODEV when the session is gone (kernel unmounted it, peer closed);
 * -EINTR / -EAGAIN for a retry; -EPROTO for a stream whose framing is broken
 * (the channel is then unusable); other -errno. */
ssize_t sgf_chan_recv(struct sgf_chan *ch, void *buf, size_t size);

/* Send one whole message from iov. 0 or -errno (-ENOENT from /dev/fuse
 * means the request was interrupted and is harmless). */
int sgf_chan_send(struct sgf_chan *ch, const struct iovec *iov, int iovcnt);

/* A pipe a worker owns for sgf_chan_send_spliced: empty between calls, and
 * slots pages big (its F_GETPIPE_SZ / page size). */
struct sgf_splice_pipe {
	int fd[2];
	unsigned slots;
};

/* Stream only: send a reply whose payload is up to len bytes of fd from
 * offset off, moved by splice through p, so the data never passes through
 * user memory (AF_UNIX stream takes the spliced pages by reference on Linux
 * >= 6.5). hdr (hdr_len bytes, starting with a struct fuse_out_header whose
 * len is set here) goes first. The file is read before anything is sent, so
 * a short file gives a short reply. The caller checks that the range fits
 * p (sgf_pages_spanned(off, len) <= p->slots).
 * Returns the payload bytes sent (>= 0);
 *   -EOPNOTSUPP for /dev/fuse (the kernel copies spliced pages anyway);
 *   -EAGAIN when the file could not be spliced (nothing sent, p empty: the
 *   caller answers another way);
 *   -ENODEV when the peer is gone;
 *   another -errno when the stream failed mid-message: the channel is then
 *   shut down, since a half-sent message cannot be taken back. */
ssize_t sgf_chan_send_spliced(struct sgf_chan *ch, void *hdr, size_t hdr_len, int fd,
			      uint64_t off, size_t len, const struct sgf_splice_pipe *p);

/* Stop the channel: wakes receivers blocked in sgf_chan_recv (they return
 * -ENODEV). For sockets this is shutdown(2); /dev/fuse has no such call, so
 * there it only marks the channel. */
void sgf_chan_shutdown(struct sgf_chan *ch);

int sgf_chan_fd(const struct sgf_chan *ch);
bool sgf_chan_is_dev(const struct sgf_chan *ch);
void sgf_chan_free(struct sgf_chan *ch);

#ifdef __cplusplus
}
#endif
#endif
