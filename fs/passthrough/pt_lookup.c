/* fs/passthrough/pt_lookup.c - LOOKUP and FORGET: the two ops that move a
 * node's lookup count, which decides how long its nodeid stays valid. */
#include <errno.h>
#include "pt.h"

int pt_lookup(const struct sgf_req *r, uint64_t parent, const char *name,
	      struct fuse_entry_out *out)
{
	struct sgf_passthrough *pt = r->fs;
	struct pt_inode *dir = pt_inode_get(pt, parent);
	int err;

	if (!dir)
		return -ESTALE;
	err = pt_lookup_name(pt, dir, name, out);
	pt_inode_put(pt, dir);
	return err;
}

void pt_forget(const struct sgf_req *r, uint64_t ino, uint64_t nlookup)
{
	pt_inode_forget(r->fs, ino, nlookup);
}
