/* tests/client/test_client_arena.c - buffers for I/O: the page allocator
 * behind a vhost-user connection's arena (first fit, whole pages, frees by
 * pointer alone, refuses what it did not hand out), and
 * sgf_client_buf_alloc/_free on a socket connection, where they are plain
 * page-aligned memory that I/O goes to and from as from any other. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sgfuse/client.h>
#include "check.h"
#include "fake_server.h"
#include "vhost.h"

#define PAGE 4096u

static void test_allocator(void)
{
	struct sgf_arena a;
	char *base = aligned_alloc(PAGE, 16 * PAGE);

	/* A tail smaller than a page is not handed out. */
	CHECK_EQ(sgf_arena_init(&a, base, 16 * PAGE + 100), 0);
	CHECK_EQ(a.npages, 16);
	char *p0 = sgf_arena_alloc(&a, 1);
	char *p1 = sgf_arena_alloc(&a, PAGE);
	char *p2 = sgf_arena_alloc(&a, PAGE + 1);
	CHECK(p0 == base && p1 == base + PAGE && p2 == base + 2 * PAGE);
	errno = 0;
	CHECK(sgf_arena_alloc(&a, 12 * PAGE + 1) == NULL && errno == ENOMEM);
	char *p4 = sgf_arena_alloc(&a, 12 * PAGE);
	CHECK(p4 == base + 4 * PAGE);
	errno = 0;
	CHECK(sgf_arena_alloc(&a, 1) == NULL && errno == ENOMEM);
	errno = 0;
	CHECK(sgf_arena_alloc(&a, 0) == NULL && errno == EINVAL);
	CHECK_EQ(a.free_pages, 0);

	/* Only what was handed out, once. */
	CHECK_EQ(sgf_arena_free(&a, p1), 0);
	CHECK_EQ(sgf_arena_free(&a, p1), -EINVAL);
	CHECK_EQ(sgf_arena_free(&a, p2 + PAGE), -EINVAL);  /* inside an allocation */
	CHECK_EQ(sgf_arena_free(&a, p2 + 5), -EINVAL);
	CHECK_EQ(sgf_arena_free(&a, base + 16 * PAGE), -EINVAL);
	CHECK_EQ(sgf_arena_free(&a, base - PAGE), -EINVAL);
	/* First fit reuses the hole; a run longer than any hole fails. */
	CHECK(sgf_arena_alloc(&a, 10) == p1);
	CHECK_EQ(sgf_arena_free(&a, p0), 0);
	CHECK_EQ(sgf_arena_free(&a, p1), 0);
	CHECK_EQ(a.free_pages, 2);
	errno = 0;
	CHECK(sgf_arena_alloc(&a, 3 * PAGE) == NULL && errno == ENOMEM);
	CHECK(sgf_arena_alloc(&a, 2 * PAGE) == p0);
	CHECK_EQ(sgf_arena_free(&a, p0), 0);
	CHECK_EQ(sgf_arena_free(&a, p2), 0);
	CHECK_EQ(sgf_arena_free(&a, p4), 0);
	CHECK_EQ(a.free_pages, 16);
	CHECK(sgf_arena_alloc(&a, 16 * PAGE) == base);

	CHECK(sgf_arena_holds(&a, base + 16 * PAGE - 1, 1));
	CHECK(!sgf_arena_holds(&a, base + 16 * PAGE - 1, 2));
	CHECK(!sgf_arena_holds(&a, base - 1, 1));
	CHECK(!sgf_arena_holds(&a, base, 0));
	CHECK(!sgf_arena_holds(&a, base + 16 * PAGE, 1));
	sgf_arena_fini(&a);
	free(base);
}

/* Answers WRITE with the size it got, READ with a pattern. */
static int handler(struct fake_srv *s, const struct fuse_in_header *h, const void *body,
		   size_t len)
{
	(void)len;
	if (h->opcode == FUSE_WRITE) {
		const struct fuse_write_in *in = body;
		struct fuse_write_out o = { .size = in->size };
		return fake_reply(s->fd, h->unique, 0, &o, sizeof(o));
	}
	if (h->opcode == FUSE_READ) {
		const struct fuse_read_in *in = body;
		static char data[1 << 16];
		memset(data, 'r', sizeof(data));
		size_t n = in->size < sizeof(data) ? in->size : sizeof(data);
		return fake_reply(s->fd, h->unique, 0, data, n);
	}
	return fake_reply(s->fd, h->unique, -ENOSYS, NULL, 0);
}

static void test_socket(void)
{
	struct fake_srv s;
	struct sgf_client *c;
	struct sgf_file f = { .nodeid = 2, .fh = 1, .flags = O_RDWR };

	fake_srv_defaults(&s, handler, NULL);
	c = fake_srv_attach(&s, NULL);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	char *b = sgf_client_buf_alloc(c, 3 * PAGE + 1);
	CHECK(b != NULL && (uintptr_t)b % PAGE == 0);
	if (b) {
		memset(b, 'w', 4 * PAGE);  /* rounded up to whole pages */
		CHECK_EQ(sgf_pwrite(c, &f, b, 3 * PAGE + 1, 0), 3 * PAGE + 1);
		CHECK_EQ(sgf_pread(c, &f, b, 2 * PAGE, 0), 2 * PAGE);
		CHECK(b[0] == 'r' && b[2 * PAGE - 1] == 'r' && b[2 * PAGE] == 'w');
	}
	sgf_client_buf_free(c, b);
	sgf_client_buf_free(c, NULL);
	errno = 0;
	CHECK(sgf_client_buf_alloc(c, 0) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(sgf_client_buf_alloc(c, SIZE_MAX - 10) == NULL && errno == ENOMEM);
	errno = 0;
	CHECK(sgf_client_buf_alloc(NULL, 10) == NULL && errno == EINVAL);
	sgf_client_buf_free(NULL, b);
	CHECK_EQ(sgf_client_disconnect(c), 0);
	fake_srv_stop(&s);
}

int main(void)
{
	alarm(60);
	test_allocator();
	test_socket();
	return check_exit();
}
