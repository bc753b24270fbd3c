/* fs/common/idmap.c - the chained hash the filesystems' node and handle
 * tables use: an id is only ever found while its object is in the map. */
#include <errno.h>
#include <stdlib.h>
#include "idmap.h"

#define FS_IDMAP_INITIAL 64

static size_t bucket_of(uint64_t id, size_t mask)
{
	/* Fibonacci hashing spreads sequential ids and (dev, ino) mixes alike. */
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

int fs_idmap_init(struct fs_idmap *m)
{
	m->buckets = calloc(FS_IDMAP_INITIAL, sizeof(*m->buckets));
	if (!m->buckets)
		return -ENOMEM;
	m->mask = FS_IDMAP_INITIAL - 1;
	m->count = 0;
	return 0;
}

void fs_idmap_destroy(struct fs_idmap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->count = 0;
}

static void grow(struct fs_idmap *m)
{
	size_t nmask = m->mask * 2 + 1;
	struct fs_idlink **nb;

	if (nmask < m->mask)
		return;
	nb = calloc(nmask + 1, sizeof(*nb));
	if (!nb)
		return;
	for (size_t b = 0; b <= m->mask; b++) {
		struct fs_idlink *l = m->buckets[b];

		while (l) {
			struct fs_idlink *next = l->next;
			size_t nbk = bucket_of(l->id, nmask);

			l->next = nb[nbk];
			nb[nbk] = l;
			l = next;
		}
	}
	free(m->buckets);
	m->buckets = nb;
	m->mask = nmask;
}

void fs_idmap_insert(struct fs_idmap *m, struct fs_idlink *l)
{
	size_t b;

	if (m->count >= 2 * (m->mask + 1))
		grow(m);
	b = bucket_of(l->id, m->mask);
	l->next = m->buckets[b];
	m->buckets[b] = l;
	m->count++;
}

void fs_idmap_remove(struct fs_idmap *m, struct fs_idlink *l)
{
	struct fs_idlink **pp = &m->buckets[bucket_of(l->id, m->mask)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			l->next = NULL;
			m->count--;
			return;
		}
	}
}

struct fs_idlink *fs_idmap_chain(const struct fs_idmap *m, uint64_t id)
{
	return m->buckets[bucket_of(id, m->mask)];
}

struct fs_idlink *fs_idmap_find(const struct fs_idmap *m, uint64_t id)
{
	struct fs_idlink *l = fs_idmap_chain(m, id);

	while (l && l->id != id)
		l = l->next;
	return l;
}

void fs_idmap_drain(struct fs_idmap *m, void (*fn)(struct fs_idlink *, void *), void *arg)
{
	for (size_t b = 0; b <= m->mask; b++) {
		struct fs_idlink *l = m->buckets[b];

		m->buckets[b] = NULL;
		while (l) {
			struct fs_idlink *next = l->next;

			l->next = NULL;
			if (fn)
				fn(l, arg);
			l = next;
		}
	}
	m->count = 0;
}
