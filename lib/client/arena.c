/* lib/client/arena.c - the arena of a vhost-user connection: whole pages of
 * the shared region handed out first fit, with a per-page map of run
 * lengths so a free needs only the pointer. Allocation is rare (buffers are
 * set up once and reused), so a linear scan is the whole algorithm. */
#include <errno.h>
#include <stdlib.h>
#include "vhost.h"

#define RUN_INSIDE UINT32_MAX

int sgf_arena_init(struct sgf_arena *a, void *base, size_t size)
{
	a->base = base;
	a->npages = size / SGF_PAGE_SIZE;
	a->free_pages = a->npages;
	a->run = calloc(a->npages ? a->npages : 1, sizeof(*a->run));
	if (a->run == NULL)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	return 0;
}

void sgf_arena_fini(struct sgf_arena *a)
{
	free(a->run);
	a->run = NULL;
	pthread_mutex_destroy(&a->lock);
}

void *sgf_arena_alloc(struct sgf_arena *a, size_t size)
{
	size_t want = size / SGF_PAGE_SIZE + (size % SGF_PAGE_SIZE != 0);
	void *p = NULL;

	/* A run length is kept in 32 bits. */
	if (size == 0 || want >= RUN_INSIDE) {
		errno = size ? ENOMEM : EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&a->lock);
	if (want <= a->free_pages) {
		size_t start = 0, len = 0;
		for (size_t i = 0; i < a->npages; ) {
			if (a->run[i] != 0) {
				/* Skip the whole allocation at once. */
				i += a->run[i];
				len = 0;
				continue;
			}
			if (len++ == 0)
				start = i;
			i++;
			if (len == want)
				break;
		}
		if (len == want) {
			a->run[start] = (uint32_t)want;
			for (size_t i = 1; i < want; i++)
				a->run[start + i] = RUN_INSIDE;
			a->free_pages -= want;
			p = a->base + start * SGF_PAGE_SIZE;
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (p == NULL)
		errno = ENOMEM;
	return p;
}

int sgf_arena_free(struct sgf_arena *a, void *p)
{
	if (!sgf_arena_holds(a, p, 1) || ((uintptr_t)p - (uintptr_t)a->base) % SGF_PAGE_SIZE)
		return -EINVAL;
	size_t start = (size_t)((char *)p - a->base) / SGF_PAGE_SIZE;
	int r = -EINVAL;

	pthread_mutex_lock(&a->lock);
	uint32_t n = a->run[start];
	if (n != 0 && n != RUN_INSIDE) {
		for (size_t i = 0; i < n; i++)
			a->run[start + i] = 0;
		a->free_pages += n;
		r = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}
