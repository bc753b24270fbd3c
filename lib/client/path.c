/* lib/client/path.c - resolves a slash-separated path by LOOKUP, one
 * component at a time, keeping a lookup reference only on the node it
 * returns: every intermediate reference is forgotten, also on failure. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "conn.h"

static void forget_all(struct sgf_client *c, const uint64_t *stack, size_t depth)
{
	for (size_t i = 0; i < depth; i++)
		sgf_forget(c, stack[i], 1);
}

/* The entry for a node we hold but have no fresh entry for (the root, or
 * the parent we went back up to). */
static int entry_from_getattr(struct sgf_client *c, uint64_t nodeid, struct fuse_entry_out *out)
{
	struct fuse_attr_out ao;
	int r = sgf_getattr(c, nodeid, &ao);

	if (r < 0)
		return r;
	memset(out, 0, sizeof(*out));
	out->nodeid = nodeid;
	out->attr_valid = ao.attr_valid;
	out->attr_valid_nsec = ao.attr_valid_nsec;
	out->attr = ao.attr;
	return 0;
}

int sgf_lookup_path(struct sgf_client *c, const char *path, struct fuse_entry_out *out)
{
	if (path == NULL)
		return -EINVAL;
	size_t len = strnlen(path, SGF_PATH_MAX + 1);
	if (len > SGF_PATH_MAX)
		return -ENAMETOOLONG;

	/* Each component is at least one byte plus a slash. */
	uint64_t *stack = malloc((len / 2 + 1) * sizeof(*stack));
	char name[SGF_NAME_MAX + 1];
	size_t depth = 0;
	bool fresh = false;  /* out holds the entry of stack top */
	int r = 0;

	if (!stack)
		return -ENOMEM;
	for (const char *p = path; *p != '\0';) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n > SGF_NAME_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			/* Lexical: the root is its own parent. */
			if (depth > 0)
				sgf_forget(c, stack[--depth], 1);
			fresh = false;
			continue;
		}
		r = sgf_lookup(c, depth ? stack[depth - 1] : FUSE_ROOT_ID, name, out);
		if (r < 0)
			break;
		stack[depth++] = out->nodeid;
		fresh = true;
	}
	if (r == 0 && !fresh)
		r = entry_from_getattr(c, depth ? stack[depth - 1] : FUSE_ROOT_ID, out);
	if (r < 0)
		forget_all(c, stack, depth);
	else if (depth > 0)
		forget_all(c, stack, depth - 1);
	free(stack);
	return r;
}
