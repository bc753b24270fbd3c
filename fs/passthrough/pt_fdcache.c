/* fs/passthrough/pt_fdcache.c - the bound on nodes' O_PATH fds. A node that
 * can be reopened by file handle keeps its fd only while an op uses it
 * (pinned) or while it is among the most recently used, so how many nodes
 * the requester may hold is bounded by memory, not by the open-file limit.
 * Every function runs under inode_lock; fds let go are handed back to be
 * closed outside it (the last close of a deleted file frees its data). */
#include <stddef.h>
#include <sys/resource.h>
#include "pt.h"

/* Half the fds we may open: the rest is for open files (each has its own
 * fd, and maybe a buffered twin and a backing file) and the library. */
#define PT_FDCACHE_SHARE 2
#define PT_FDCACHE_MIN 16
/* With no limit to speak of, still do not hold more than this. */
#define PT_FDCACHE_CAP (1u << 20)

void pt_fdcache_init(struct sgf_passthrough *pt)
{
	struct rlimit rl;
	rlim_t n = PT_FDCACHE_CAP;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / PT_FDCACHE_SHARE < n)
		n = rl.rlim_cur / PT_FDCACHE_SHARE;
	pt->fds_max = n < PT_FDCACHE_MIN ? PT_FDCACHE_MIN : (size_t)n;
	pt->fds_open = 0;
	pt->fd_lru.prev = pt->fd_lru.next = &pt->fd_lru;
}

static bool listed(const struct pt_inode *in)
{
	return in->lru.next != NULL;
}

static void unlist(struct pt_inode *in)
{
	in->lru.prev->next = in->lru.next;
	in->lru.next->prev = in->lru.prev;
	in->lru.prev = in->lru.next = NULL;
}

static void list_first(struct sgf_passthrough *pt, struct pt_inode *in)
{
	in->lru.next = pt->fd_lru.next;
	in->lru.prev = &pt->fd_lru;
	pt->fd_lru.next->prev = &in->lru;
	pt->fd_lru.next = &in->lru;
}

/* Only reopenable nodes' fds are cached; the others are held for life. */
static bool evictable(const struct pt_inode *in)
{
	return in->handle && in->fd >= 0 && in->fd_pins == 0;
}

void pt_fdcache_pin(struct sgf_passthrough *pt, struct pt_inode *in)
{
	(void)pt;
	if (in->fd_pins++ == 0 && listed(in))
		unlist(in);
}

void pt_fdcache_unpin(struct sgf_passthrough *pt, struct pt_inode *in)
{
	in->fd_pins--;
	if (evictable(in))
		list_first(pt, in);
}

void pt_fdcache_opened(struct sgf_passthrough *pt, struct pt_inode *in)
{
	pt->fds_open++;
	if (evictable(in))
		list_first(pt, in);
}

void pt_fdcache_leave(struct sgf_passthrough *pt, struct pt_inode *in)
{
	if (listed(in))
		unlist(in);
	if (in->handle && in->fd >= 0)
		pt->fds_open--;
}

size_t pt_fdcache_trim(struct sgf_passthrough *pt, int *fds, size_t max)
{
	size_t n = 0;

	/* Pinned fds count but cannot go: the bound is overrun by at most
	 * the ops in flight, and caught up with as they end. */
	while (n < max && pt->fds_open > pt->fds_max && pt->fd_lru.prev != &pt->fd_lru) {
		struct pt_inode *in = (struct pt_inode *)((char *)pt->fd_lru.prev -
							  offsetof(struct pt_inode, lru));

		unlist(in);
		fds[n++] = in->fd;
		in->fd = -1;
		pt->fds_open--;
	}
	return n;
}
