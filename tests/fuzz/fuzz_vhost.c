/* tests/fuzz/fuzz_vhost.c - libFuzzer harness: the vhost-user backend
 * (lib/server/vhost_dev.c, vhost_queue.c) behind one frontend connection,
 * a socketpair served by sgf_vhost_serve_fd on a thread, with the fake
 * filesystem of fuzz_fs.c (nothing kept). The input is a program for the
 * frontend: control messages (standard ones the harness builds, or raw
 * headers, payloads and fds), bytes written into guest memory (rings,
 * descriptors, requests), chains published and kicked, FUSE requests laid
 * out as chains. Every reply must be a well-formed reply; a FUSE request's
 * used element must be its reply (or empty) while the input has not
 * scribbled on memory itself; at the end of the input the connection
 * closes and the backend must return, holding no fd and no mapping of
 * guest memory, having written nothing outside the region.
 *
 * Input: ops, each an op byte (mod 7) and its operands (little-endian):
 *   0 STD  u8 k, u8 a: standard message k (mod 18: GET_FEATURES,
 *          SET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES,
 *          SET_OWNER, SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_BASE,
 *          SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR,
 *          SET_VRING_ENABLE 1, SET_VRING_ENABLE 0, GET_VRING_BASE,
 *          RESET_OWNER, RESET_DEVICE, GET_QUEUE_NUM) for queue a & 1;
 *          a >> 1 varies NUM (0: 16, else that) and BASE
 *   1 RAW  u32 request, u32 flags, u16 size (at most 600), size bytes,
 *          u8 fds: count (bits 0-1) of kind (bits 2-3: 0 a 4 KiB memfd,
 *          1 the guest memfd, 2 an eventfd); user addresses below 2^32
 *          in SET_MEM_TABLE and SET_VRING_ADDR are offsets into the
 *          harness's mapping of the region
 *   2 MEM  u16 offset, u8 len, len bytes into the region (wrapping)
 *   3 PUB  u8 q, u8 head: publish head on queue q&1's avail ring
 *   4 KICK u8 q: kick queue q&1, wait a moment for its interrupts
 *   5 SETUP: all of STD 0..12 for both queues, as QEMU does
 *   6 FUSE u8 q, u8 opcode, u8 how, u8 unique bits, u16 reply room,
 *          u8 arg len, arg bytes: one request as a chain at head 0 of
 *          queue q&1 (how: bit 0 header split over two descriptors, bit
 *          1 an indirect table, bit 2 header len off by one), kicked and
 *          waited for */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/server.h>
#include "fuzz_check.h"
#include "fuzz_fs.h"
#include "vhost.h"

#define GPA 0x100000000ull
#define MEM (64u << 10)
#define GUARD 4096u          /* memfd bytes before the region: canary */
#define CANARY 0x5a
#define NUM 16u
#define DATA 8192u           /* region offset of the data area */
#define REQ_AT DATA          /* FUSE requests here, */
#define TABLE_AT (DATA + 4096u) /* indirect tables here, */
#define REPLY_AT (DATA + 8192u) /* replies here */
#define MAX_REPLY (MEM - REPLY_AT)

struct fz {
	int sock;
	bool closed;
	int memfd;
	unsigned char *map, *mem;   /* the memfd; the region in it */
	int kick[2], call[2], err[2];
	bool reply_ack;             /* negotiated: standard messages wait */
	bool pristine;              /* no MEM, PUB or RAW yet */
	bool raw_tables;            /* a RAW SET_MEM_TABLE with our memfd */
	uint64_t unique;
	unsigned char in[4096];     /* replies read, not yet parsed */
	size_t in_len;
};

static struct sgf_server *srv;
static struct fuzz_fs fs = { .max_kept = 0, .nonsense = true };

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)u16(p) | (uint32_t)u16(p + 2) << 16; }

static uint64_t ring_at(unsigned q) { return (uint64_t)q * 4096u; }
static uint64_t avail_at(unsigned q) { return ring_at(q) + 16u * NUM; }
static uint64_t used_at(unsigned q) { return ring_at(q) + 1024u; }

static uint16_t avail_idx(struct fz *z, unsigned q)
{
	uint16_t v;
	memcpy(&v, z->mem + avail_at(q) + 2, 2);
	return le16toh(v);
}

static uint16_t used_idx(struct fz *z, unsigned q)
{
	return le16toh(__atomic_load_n((uint16_t *)(z->mem + used_at(q) + 2), __ATOMIC_ACQUIRE));
}

/* Parse the replies read so far; each must be a reply. */
static void parse_replies(struct fz *z)
{
	size_t off = 0;

	while (z->in_len - off >= sizeof(struct sgf_vu_hdr)) {
		struct sgf_vu_hdr h;
		memcpy(&h, z->in + off, sizeof(h));
		FUZZ_ASSERT((h.flags & SGF_VU_VERSION_MASK) == SGF_VU_VERSION &&
				    (h.flags & SGF_VU_FLAG_REPLY) && h.size <= 512,
			    "reply to %u: flags 0x%x size %u", h.request, h.flags, h.size);
		if (z->in_len - off < sizeof(h) + h.size)
			break;
		off += sizeof(h) + h.size;
	}
	memmove(z->in, z->in + off, z->in_len - off);
	z->in_len -= off;
}

/* Read what the backend sent, waiting up to ms for something; true if
 * anything came. */
static bool drain(struct fz *z, int ms)
{
	bool got = false;

	while (!z->closed) {
		struct pollfd p = { z->sock, POLLIN, 0 };
		if (poll(&p, 1, got ? 0 : ms) <= 0)
			break;
		ssize_t n = recv(z->sock, z->in + z->in_len, sizeof(z->in) - z->in_len,
				 MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0) {
			z->closed = n == 0 || errno != EAGAIN;
			break;
		}
		z->in_len += (size_t)n;
		got = true;
		parse_replies(z);
		FUZZ_ASSERT(z->in_len < sizeof(z->in), "a reply larger than any");
	}
	return got;
}

static void send_msg(struct fz *z, uint32_t req, uint32_t flags, const void *p, uint32_t size,
		     const int *fds, unsigned nfds)
{
	struct sgf_vu_msg m;

	if (z->closed)
		return;
	memset(&m, 0, sizeof(m));
	m.hdr = (struct sgf_vu_hdr){ req, flags, size };
	if (size)
		memcpy(&m.p, p, size);
	if (sgf_vu_send(z->sock, &m, fds, nfds) != 0)
		z->closed = true;
}

/* A standard message; with REPLY_ACK, or a reply of its own, wait for it. */
static void std_msg(struct fz *z, uint32_t req, const void *p, uint32_t size, const int *fds,
		    unsigned nfds, bool replies)
{
	send_msg(z, req, SGF_VU_VERSION | (z->reply_ack ? SGF_VU_FLAG_NEED_REPLY : 0), p, size,
		 fds, nfds);
	drain(z, replies || z->reply_ack ? 200 : 0);
}

static void op_std(struct fz *z, unsigned k, unsigned a)
{
	unsigned q = a & 1, v = a >> 1;
	uint64_t u = q;
	struct sgf_vu_vring_state st = { q, 0 };

	switch (k % 18) {
	case 0: std_msg(z, SGF_VU_GET_FEATURES, NULL, 0, NULL, 0, true); break;
	case 1:
		u = (1ull << SGF_VIRTIO_F_VERSION_1) | (1ull << SGF_VHOST_USER_F_PROTOCOL_FEATURES) |
		    (v & 1 ? 1ull << SGF_VIRTIO_F_RING_EVENT_IDX : 0) |
		    (v & 2 ? 1ull << SGF_VIRTIO_F_RING_INDIRECT_DESC : 0);
		std_msg(z, SGF_VU_SET_FEATURES, &u, 8, NULL, 0, false);
		break;
	case 2: std_msg(z, SGF_VU_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0, true); break;
	case 3:
		u = (1ull << SGF_VU_PROTOCOL_F_MQ) | (v & 1 ? 0 : 1ull << SGF_VU_PROTOCOL_F_REPLY_ACK);
		std_msg(z, SGF_VU_SET_PROTOCOL_FEATURES, &u, 8, NULL, 0, false);
		z->reply_ack = !(v & 1);
		break;
	case 4: std_msg(z, SGF_VU_SET_OWNER, NULL, 0, NULL, 0, false); break;
	case 5: {
		struct sgf_vu_mem_table t;
		memset(&t, 0, sizeof(t));
		t.nregions = 1;
		t.regions[0] = (struct sgf_vu_mem_region){ GPA, MEM, (uintptr_t)z->mem, GUARD };
		std_msg(z, SGF_VU_SET_MEM_TABLE, &t, sizeof(t), &z->memfd, 1, false);
		break;
	}
	case 6:
		st.num = v ? v : NUM;
		if (st.num != NUM)
			z->pristine = false; /* our view of the rings is off */
		std_msg(z, SGF_VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0, false);
		break;
	case 7:
		st.num = v;
		if (v != avail_idx(z, q))
			z->pristine = false; /* it serves old entries again */
		std_msg(z, SGF_VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0, false);
		break;
	case 8: {
		struct sgf_vu_vring_addr ad = { .index = q,
						.desc_user_addr = (uintptr_t)(z->mem + ring_at(q)),
						.avail_user_addr = (uintptr_t)(z->mem + avail_at(q)),
						.used_user_addr = (uintptr_t)(z->mem + used_at(q)) };
		std_msg(z, SGF_VU_SET_VRING_ADDR, &ad, sizeof(ad), NULL, 0, false);
		break;
	}
	case 9: std_msg(z, SGF_VU_SET_VRING_KICK, &u, 8, &z->kick[q], 1, false); break;
	case 10: std_msg(z, SGF_VU_SET_VRING_CALL, &u, 8, &z->call[q], 1, false); break;
	case 11: std_msg(z, SGF_VU_SET_VRING_ERR, &u, 8, &z->err[q], 1, false); break;
	case 12:
	case 13:
		st.num = k % 18 == 12;
		std_msg(z, SGF_VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0, false);
		break;
	case 14: std_msg(z, SGF_VU_GET_VRING_BASE, &st, sizeof(st), NULL, 0, true); break;
	case 15:
	case 16:
		/* Bases back to 0 under rings that went on. */
		std_msg(z, k % 18 == 15 ? SGF_VU_RESET_OWNER : SGF_VU_RESET_DEVICE, NULL, 0, NULL, 0,
			false);
		z->pristine = false;
		break;
	default: std_msg(z, SGF_VU_GET_QUEUE_NUM, NULL, 0, NULL, 0, true); break;
	}
}

/* User addresses below 2^32 in a raw SET_MEM_TABLE or SET_VRING_ADDR are
 * offsets into our mapping of the region: the input cannot know where
 * that is. */
static void relocate(struct fz *z, struct sgf_vu_msg *m)
{
	uint64_t base = (uintptr_t)z->mem;

	if (m->hdr.request == SGF_VU_SET_MEM_TABLE && m->hdr.size >= 8) {
		for (unsigned i = 0; i < m->p.mem.nregions && i < SGF_VU_MAX_FDS &&
				     8 + 32 * (i + 1) <= m->hdr.size; i++)
			if (m->p.mem.regions[i].userspace_addr < (1ull << 32))
				m->p.mem.regions[i].userspace_addr += base;
	} else if (m->hdr.request == SGF_VU_SET_VRING_ADDR &&
		   m->hdr.size >= sizeof(struct sgf_vu_vring_addr)) {
		uint64_t *a[3] = { &m->p.addr.desc_user_addr, &m->p.addr.used_user_addr,
				   &m->p.addr.avail_user_addr };
		for (unsigned i = 0; i < 3; i++)
			if (*a[i] < (1ull << 32))
				*a[i] += base;
	}
}

static void op_raw(struct fz *z, uint32_t req, uint32_t flags, const uint8_t *p, uint16_t size,
		   uint8_t spec)
{
	int fds[3];
	unsigned n = spec & 3, kind = (spec >> 2) & 3;

	for (unsigned i = 0; i < n; i++) {
		if (kind == 1) {
			fds[i] = dup(z->memfd);
			if (req == SGF_VU_SET_MEM_TABLE)
				z->raw_tables = true;
		} else if (kind == 0) {
			fds[i] = memfd_create("fz-small", MFD_CLOEXEC);
			FUZZ_ASSERT(fds[i] >= 0 && ftruncate(fds[i], 4096) == 0, "memfd");
		} else {
			fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		}
		FUZZ_ASSERT(fds[i] >= 0, "fd");
	}
	if (!z->closed) {
		/* The header as given, the payload bytes after it. */
		struct sgf_vu_msg m;
		memset(&m, 0, sizeof(m));
		m.hdr = (struct sgf_vu_hdr){ req, flags, size };
		memcpy(&m.p, p, size < sizeof(m.p) ? size : sizeof(m.p));
		relocate(z, &m);
		if (size <= sizeof(m.p)) {
			if (sgf_vu_send(z->sock, &m, fds, n) != 0)
				z->closed = true;
		} else if (send(z->sock, &m.hdr, sizeof(m.hdr), MSG_NOSIGNAL) < 0 ||
			   send(z->sock, p, size, MSG_NOSIGNAL) < 0) {
			z->closed = true;
		}
	}
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	/* What the backend acks from now on. */
	if (req == SGF_VU_SET_PROTOCOL_FEATURES && size == 8)
		z->reply_ack = u32(p) & (1u << SGF_VU_PROTOCOL_F_REPLY_ACK);
	drain(z, (flags & SGF_VU_FLAG_NEED_REPLY) ? 50 : 0);
}

static void publish(struct fz *z, unsigned q, uint16_t head)
{
	uint16_t idx = avail_idx(z, q), h = htole16(head);

	memcpy(z->mem + avail_at(q) + 4 + 2u * (idx % NUM), &h, 2);
	__atomic_store_n((uint16_t *)(z->mem + avail_at(q) + 2), htole16((uint16_t)(idx + 1)),
			 __ATOMIC_RELEASE);
}

/* Kick q and wait for its used index to reach want, while interrupts
 * keep coming (a queue that is not running costs one short wait). */
static void kick_wait(struct fz *z, unsigned q, uint16_t want)
{
	eventfd_t v;

	/* used_event, as a driver with event idx asks for the next one. */
	uint16_t ue = htole16(used_idx(z, q));
	__atomic_store_n((uint16_t *)(z->mem + avail_at(q) + 4 + 2u * NUM), ue, __ATOMIC_RELEASE);
	if (eventfd_write(z->kick[q], 1) != 0)
		return;
	for (unsigned i = 0; i < 20 && used_idx(z, q) != want; i++) {
		struct pollfd p = { z->call[q], POLLIN, 0 };
		if (poll(&p, 1, 20) <= 0)
			break;
		(void)eventfd_read(z->call[q], &v);
	}
}

static void desc(struct fz *z, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	struct vring_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };
	memcpy(z->mem + table + 16u * i, &d, sizeof(d));
}

static void op_fuse(struct fz *z, unsigned q, uint32_t opcode, unsigned how, unsigned ubits,
		    uint32_t room, const uint8_t *arg, unsigned alen)
{
	struct fuse_in_header h = { .opcode = opcode, .nodeid = 1 };
	uint32_t len = (uint32_t)sizeof(h) + alen;

	room %= MAX_REPLY + 1;
	/* A chain still out (its queue not running) holds head 0 and the
	 * buffers this one reuses: what comes back is no longer ours to
	 * judge. */
	if (avail_idx(z, q) != used_idx(z, q))
		z->pristine = false;
	h.len = len + ((how & 4) ? 1 : 0);
	h.unique = z->unique++ << 4 | (ubits & 0xe);
	memcpy(z->mem + REQ_AT, &h, sizeof(h));
	memcpy(z->mem + REQ_AT + sizeof(h), arg, alen);
	memset(z->mem + REPLY_AT, 0, room);
	/* Readable: the request, whole or in two; writable: the room. */
	struct seg { uint64_t at; uint32_t len; uint16_t flags; } b[3];
	unsigned n = 0;
	if (how & 1) {
		b[n++] = (struct seg){ GPA + REQ_AT, 20, 0 };
		b[n++] = (struct seg){ GPA + REQ_AT + 20, len - 20, 0 };
	} else {
		b[n++] = (struct seg){ GPA + REQ_AT, len, 0 };
	}
	if (room)
		b[n++] = (struct seg){ GPA + REPLY_AT, room, VRING_DESC_F_WRITE };
	uint64_t t = (how & 2) ? TABLE_AT : ring_at(q);
	for (unsigned i = 0; i < n; i++)
		desc(z, t, i, b[i].at, b[i].len,
		     (uint16_t)(b[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0)), (uint16_t)(i + 1));
	if (how & 2)
		desc(z, ring_at(q), 0, GPA + TABLE_AT, 16u * n, VRING_DESC_F_INDIRECT, 0);
	uint16_t before = used_idx(z, q);
	publish(z, q, 0);
	kick_wait(z, q, (uint16_t)(before + 1));
	if (used_idx(z, q) != (uint16_t)(before + 1))
		z->pristine = false;
	if (!z->pristine)
		return;
	/* Its used element: empty, or its own well-formed reply. */
	struct vring_used_elem e;
	memcpy(&e, z->mem + used_at(q) + 4 + 8u * (before % NUM), sizeof(e));
	FUZZ_ASSERT(le32toh(e.id) == 0, "used id %u", le32toh(e.id));
	uint32_t ulen = le32toh(e.len);
	FUZZ_ASSERT(ulen <= room, "used len %u, room %u", ulen, room);
	if (ulen == 0)
		return;
	struct fuse_out_header oh;
	FUZZ_ASSERT(ulen >= sizeof(oh), "used len %u", ulen);
	memcpy(&oh, z->mem + REPLY_AT, sizeof(oh));
	FUZZ_ASSERT(oh.len == ulen && oh.unique == h.unique && oh.error <= 0 && oh.error > -4096,
		    "reply len %u (used %u) unique %llu (sent %llu) error %d", oh.len, ulen,
		    (unsigned long long)oh.unique, (unsigned long long)h.unique, oh.error);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	FUZZ_ASSERT(d != NULL, "/proc/self/fd");
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int count_maps(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;

	FUZZ_ASSERT(f != NULL, "/proc/self/maps");
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void *serve(void *arg)
{
	sgf_vhost_serve_fd(srv, (int)(intptr_t)arg);
	return NULL;
}

static void setup_server(void)
{
	/* Two workers on the request queue: the races between them are
	 * where the bugs were (a crash may then need a few replays). Four
	 * request buffers, so the pool runs out under a few chains. */
	struct sgf_server_opts o = { .threads = 2, .max_inflight = 4, .max_write = 65536 };

	FUZZ_ASSERT(sgf_server_new(&srv, &fuzz_fs_ops, sizeof(fuzz_fs_ops), &fs, &o) == 0,
		    "sgf_server_new");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	struct fz z;
	int sv[2];
	pthread_t t;

	if (!once) {
		setup_server();
		once = true;
	}
	if (size > 8192)
		return 0;
	int fds_before = count_fds();
	memset(&z, 0, sizeof(z));
	z.pristine = true;
	z.unique = 1;
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	z.sock = sv[1];
	z.memfd = memfd_create("fz-guest", MFD_CLOEXEC);
	FUZZ_ASSERT(z.memfd >= 0 && ftruncate(z.memfd, GUARD + MEM) == 0, "memfd");
	z.map = mmap(NULL, GUARD + MEM, PROT_READ | PROT_WRITE, MAP_SHARED, z.memfd, 0);
	FUZZ_ASSERT(z.map != MAP_FAILED, "mmap");
	memset(z.map, CANARY, GUARD);
	z.mem = z.map + GUARD;
	for (unsigned q = 0; q < 2; q++) {
		z.kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		z.call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		z.err[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	FUZZ_ASSERT(pthread_create(&t, NULL, serve, (void *)(intptr_t)sv[0]) == 0, "thread");

	const uint8_t *p = data, *end = data + size;
#define NEED(n) if ((size_t)(end - p) < (n)) goto done
	for (unsigned ops = 0; p < end && ops < 64; ops++) {
		unsigned op = *p++ % 7;
		switch (op) {
		case 0:
			NEED(2);
			op_std(&z, p[0], p[1]);
			p += 2;
			break;
		case 1: {
			NEED(11);
			uint32_t req = u32(p), flags = u32(p + 4);
			uint16_t n = u16(p + 8) % 601;
			p += 10;
			NEED((size_t)n + 1);
			op_raw(&z, req, flags, p, n, p[n]);
			p += n + 1;
			z.pristine = false;
			break;
		}
		case 2: {
			NEED(3);
			unsigned off = u16(p), n = p[2];
			p += 3;
			NEED(n);
			for (unsigned i = 0; i < n; i++)
				z.mem[(off + i) % MEM] = p[i];
			p += n;
			z.pristine = false;
			break;
		}
		case 3:
			NEED(2);
			publish(&z, p[0] & 1, p[1]);
			p += 2;
			z.pristine = false;
			break;
		case 4:
			NEED(1);
			kick_wait(&z, p[0] & 1, avail_idx(&z, p[0] & 1));
			p += 1;
			break;
		case 5:
			for (unsigned k = 0; k <= 5; k++)
				op_std(&z, k, k == 1 ? 6 : 0);
			for (unsigned q = 0; q < 2; q++)
				for (unsigned k = 6; k <= 12; k++)
					op_std(&z, k, q);
			break;
		default: {
			NEED(7);
			unsigned alen = p[6];
			NEED(7u + alen);
			op_fuse(&z, p[0] & 1, p[1], p[2], p[3], u16(p + 4), p + 7, alen);
			p += 7 + alen;
			break;
		}
		}
	}
done:
	/* The frontend goes: the backend must end the session and return. */
	close(sv[1]);
	FUZZ_ASSERT(pthread_join(t, NULL) == 0, "join");
	for (size_t i = 0; i < GUARD && !z.raw_tables; i++)
		FUZZ_ASSERT(z.map[i] == CANARY, "memfd byte %zu outside the region written", i);
	munmap(z.map, GUARD + MEM);
	close(z.memfd);
	for (unsigned q = 0; q < 2; q++)
		close(z.kick[q]), close(z.call[q]), close(z.err[q]);
	FUZZ_ASSERT(count_maps("fz-") == 0, "guest memory still mapped");
	int fds_after = count_fds();
	FUZZ_ASSERT(fds_after == fds_before, "fds: %d before, %d after", fds_before, fds_after);
	return 0;
}
