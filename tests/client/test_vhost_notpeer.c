/* tests/client/test_vhost_notpeer.c - sgf_client_connect("vhost-user:...")
 * to peers that are no vhost-user-fs backend, or not one we can use: a
 * socket that accepts and says nothing (-ETIMEDOUT within the timeout),
 * one nobody accepts on (the same), one that answers garbage or a FUSE
 * reply (-EPROTO), one that hangs up (-ENOTCONN); a device that refuses a
 * request through REPLY_ACK, lacks VIRTIO_F_VERSION_1 or has too few
 * queues (-EPROTO); and one without protocol features, which is fine.
 * Addresses that are no address are -EINVAL, a missing socket -ENOENT. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include "check.h"
#include "fake_vhost.h"
#include "vhost_user.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum peer_kind { P_SILENT, P_NO_ACCEPT, P_GARBAGE, P_FUSE, P_HANGUP };

struct peer {
	enum peer_kind kind;
	char name[64];
	int lfd;
	pthread_t thread;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	char buf[64];
	int fd = accept(p->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	switch (p->kind) {
	case P_GARBAGE:
		(void)!write(fd, "HTTP/1.0 400 Bad Request\r\n\r\n", 28);
		break;
	case P_FUSE: {
		/* What a FUSE stream server might say to bytes it cannot
		 * parse: an error reply. */
		struct fuse_out_header oh = { .len = sizeof(oh), .error = -ENOSYS, .unique = 1 };
		(void)!read(fd, buf, sizeof(buf));
		(void)!write(fd, &oh, sizeof(oh));
		break;
	}
	case P_HANGUP:
		break;
	default:
		/* Silent until the client gives up. */
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		break;
	}
	if (p->kind == P_GARBAGE || p->kind == P_FUSE) {
		/* Said our piece; stay until the client hangs up. */
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	}
	close(fd);
	return NULL;
}

static void peer_start(struct peer *p, enum peer_kind kind, int n)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	p->kind = kind;
	snprintf(p->name, sizeof(p->name), "@sgf-notpeer-%d-%d", (int)getpid(), n);
	size_t len = strlen(p->name);
	memcpy(a.sun_path, p->name, len);
	a.sun_path[0] = '\0';
	p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(bind(p->lfd, (struct sockaddr *)&a,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) == 0);
	CHECK(listen(p->lfd, 4) == 0);
	if (kind != P_NO_ACCEPT)
		CHECK_EQ(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

static void peer_stop(struct peer *p)
{
	shutdown(p->lfd, SHUT_RDWR);
	if (p->kind != P_NO_ACCEPT)
		pthread_join(p->thread, NULL);
	close(p->lfd);
}

static int try_connect(const char *name, unsigned timeout_ms, double *took)
{
	char addr[96];
	struct sgf_client_opts o = { .connect_timeout_ms = timeout_ms };
	struct sgf_client *c = NULL;
	double t0 = now_s();

	snprintf(addr, sizeof(addr), "vhost-user:%s", name);
	int r = sgf_client_connect(addr, &o, &c);
	*took = now_s() - t0;
	if (c)
		sgf_client_disconnect(c);
	return r;
}

static void test_sockets(void)
{
	static const struct {
		enum peer_kind kind;
		int want;
		const char *what;
	} cases[] = {
		{ P_SILENT, -ETIMEDOUT, "accepts, says nothing" },
		{ P_NO_ACCEPT, -ETIMEDOUT, "never accepts" },
		{ P_GARBAGE, -EPROTO, "garbage" },
		{ P_FUSE, -EPROTO, "a FUSE reply" },
		{ P_HANGUP, -ENOTCONN, "hangs up" },
	};

	for (int i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		struct peer p;
		double took;
		peer_start(&p, cases[i].kind, i);
		CHECK_EQ_CTX(try_connect(p.name, 500, &took), cases[i].want, cases[i].what);
		CHECK_EQ_CTX(took < 2.0, 1, cases[i].what);
		if (cases[i].want == -ETIMEDOUT)
			CHECK_EQ_CTX(took >= 0.45, 1, cases[i].what);
		peer_stop(&p);
	}
}

/* Devices that speak vhost-user but will not do. */
static void test_devices(void)
{
	static const struct {
		uint32_t refuse;
		bool no_version_1, one_queue, no_protocol_features;
		int want;
		const char *what;
	} cases[] = {
		{ SGF_VU_SET_MEM_TABLE, false, false, false, -EPROTO, "refuses SET_MEM_TABLE" },
		{ SGF_VU_SET_VRING_ADDR, false, false, false, -EPROTO, "refuses SET_VRING_ADDR" },
		{ SGF_VU_SET_VRING_ENABLE, false, false, false, -EPROTO, "refuses SET_VRING_ENABLE" },
		{ SGF_VU_SET_FEATURES, false, false, false, -EPROTO, "refuses SET_FEATURES" },
		{ 0, true, false, false, -EPROTO, "no VIRTIO_F_VERSION_1" },
		{ 0, false, true, false, -EPROTO, "one queue" },
		{ 0, false, false, true, 0, "no protocol features" },
	};

	for (int i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		struct fake_vhost d;
		struct sgf_client *c = NULL;
		char addr[96];

		fv_init(&d, NULL, NULL);
		d.refuse = cases[i].refuse;
		if (cases[i].no_version_1)
			d.features &= ~((uint64_t)1 << SGF_VIRTIO_F_VERSION_1);
		if (cases[i].one_queue)
			d.queue_num = 1;
		if (cases[i].no_protocol_features)
			d.features &= ~((uint64_t)1 << SGF_VHOST_USER_F_PROTOCOL_FEATURES);
		CHECK_EQ(fv_start(&d), 0);
		snprintf(addr, sizeof(addr), "vhost-user:%s", d.name);
		CHECK_EQ_CTX(sgf_client_connect(addr, NULL, &c), cases[i].want, cases[i].what);
		if (c) {
			struct fuse_attr_out a;
			CHECK_EQ_CTX(sgf_getattr(c, 1, &a), 0, cases[i].what);
			CHECK_EQ_CTX(sgf_client_disconnect(c), 0, cases[i].what);
		}
		fv_stop(&d);
	}
}

static void test_addresses(void)
{
	struct sgf_client *c = NULL;
	struct sgf_client_opts big = { .arena_size = (size_t)65 << 30 };
	struct sgf_client_opts slow = { .connect_timeout_ms = 3600001 };

	CHECK_EQ(sgf_client_connect("vhost-user:", NULL, &c), -EINVAL);
	CHECK_EQ(sgf_client_connect("vhost-user:/nonexistent/vfs.sock", NULL, &c), -ENOENT);
	CHECK_EQ(sgf_client_connect("vhost-user:@sgf-nobody-listens-here", NULL, &c), -ECONNREFUSED);
	CHECK_EQ(sgf_client_connect("vhost-user:/x", &big, &c), -EINVAL);
	CHECK_EQ(sgf_client_connect("vhost-user:/x", &slow, &c), -EINVAL);
	CHECK(c == NULL);
}

int main(void)
{
	alarm(60);
	test_addresses();
	test_sockets();
	test_devices();
	return check_exit();
}
