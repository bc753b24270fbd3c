/* tests/fuzz/fuzz_stream.c - libFuzzer harness: the stream channel's
 * framing (chan_stream.c). Arbitrary bytes go into one end of a
 * socketpair, which is then closed; the channel's recv on the other end
 * must cut exactly the messages the header lens describe, in order,
 * report a message too big for the buffer as -EMSGSIZE with its header
 * and skip it whole, end with -ENODEV only at a message boundary, and with
 * -EPROTO where the framing breaks (a len below the header, a stream that
 * ends inside a message).
 *
 * Input: u16 little-endian receive buffer size (taken modulo 8 KiB, at
 * least a header), then the stream bytes. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sgfuse/proto.h>
#include "chan.h"
#include "fuzz_check.h"

#define HDR sizeof(struct fuse_in_header)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[8192 + HDR];
	int sv[2];

	if (size < 2)
		return 0;
	size_t bufsize = HDR + (size_t)(data[0] | data[1] << 8) % 8192;
	const uint8_t *in = data + 2;
	size_t total = size - 2;

	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	ssize_t w = total ? send(sv[1], in, total, MSG_DONTWAIT | MSG_NOSIGNAL) : 0;
	total = w > 0 ? (size_t)w : 0;
	close(sv[1]);
	struct sgf_chan *ch = sgf_chan_stream_new(sv[0]);
	FUZZ_ASSERT(ch != NULL, "sgf_chan_stream_new");

	size_t off = 0;
	for (;;) {
		ssize_t r = sgf_chan_recv(ch, buf, bufsize);
		struct fuse_in_header h;
		size_t left = total - off;
		if (left >= HDR)
			memcpy(&h, in + off, sizeof(h));
		if (r > 0) {
			FUZZ_ASSERT(left >= HDR && (size_t)r == h.len && (size_t)r <= bufsize &&
					    (size_t)r <= left,
				    "message of %zd at %zu of %zu", r, off, total);
			FUZZ_ASSERT(memcmp(buf, in + off, (size_t)r) == 0, "bytes differ at %zu", off);
			off += (size_t)r;
		} else if (r == -EMSGSIZE) {
			FUZZ_ASSERT(left >= HDR && h.len > bufsize && h.len <= left,
				    "EMSGSIZE at %zu of %zu", off, total);
			FUZZ_ASSERT(memcmp(buf, in + off, HDR) == 0, "skipped header differs");
			off += h.len;
		} else if (r == -ENODEV) {
			FUZZ_ASSERT(left == 0, "ENODEV with %zu bytes left", left);
			break;
		} else if (r == -EPROTO) {
			FUZZ_ASSERT(left > 0 && (left < HDR || h.len < HDR || h.len > left),
				    "EPROTO at %zu of %zu", off, total);
			break;
		} else {
			FUZZ_ASSERT(r == -EINTR || r == -EAGAIN, "recv %zd", r);
		}
	}
	sgf_chan_free(ch);
	return 0;
}
