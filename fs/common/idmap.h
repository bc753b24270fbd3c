/* fs/common/idmap.h - an intrusive chained hash keyed by a 64-bit id, shared
 * by the filesystems: how a number that came back from the requester (a
 * nodeid, a file handle) becomes a live object, or nothing. Callers lock. */
#ifndef SGF_FS_IDMAP_H
#define SGF_FS_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct fs_idlink {
	uint64_t id;
	struct fs_idlink *next;
};

struct fs_idmap {
	struct fs_idlink **buckets;
	size_t mask;    /* bucket count - 1 (a power of two) */
	size_t count;
};

int fs_idmap_init(struct fs_idmap *m);
void fs_idmap_destroy(struct fs_idmap *m);
/* Grows the bucket array when loaded; a failed grow only lengthens chains. */
void fs_idmap_insert(struct fs_idmap *m, struct fs_idlink *l);
void fs_idmap_remove(struct fs_idmap *m, struct fs_idlink *l);
/* First link of the chain that would hold id (walk it comparing ids). */
struct fs_idlink *fs_idmap_chain(const struct fs_idmap *m, uint64_t id);
struct fs_idlink *fs_idmap_find(const struct fs_idmap *m, uint64_t id);
/* Empty the map, calling fn (unless NULL) on every member once (for
 * teardown). */
void fs_idmap_drain(struct fs_idmap *m, void (*fn)(struct fs_idlink *, void *), void *arg);

#endif
