/* sgfuse/proto.h - the FUSE protocol as sgfuse speaks it: version, limits,
 * the wire structs (<linux/fuse.h> plus newer minors) and opcode names. */
#ifndef SGFUSE_PROTO_H
#define SGFUSE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sgfuse/fuse_compat.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The protocol we speak: 7.SGF_PROTO_MINOR, and we refuse peers older than
 * 7.SGF_PROTO_MINOR_MIN (every fixed struct has its modern size from there on,
 * and FUSE_MAX_PAGES exists). */
#define SGF_PROTO_MAJOR 7
#define SGF_PROTO_MINOR 38
#define SGF_PROTO_MINOR_MIN 28

#define SGF_PAGE_SIZE 4096u
/* Hard ceiling on pages per request in the protocol (init_out.max_pages is
 * 16-bit; Linux caps it at fs.fuse.max_pages_limit, default 256). */
#define SGF_MAX_PAGES_CEILING 65535u
#define SGF_DEFAULT_MAX_WRITE (1024u * 1024u)
/* Longest name component / symlink target we accept on the wire. */
#define SGF_NAME_MAX 255u
#define SGF_PATH_MAX 4096u
/* Opcode numbers below this are described by the table. */
#define SGF_OPCODE_LIMIT 54u

/* Human name of an opcode ("READ"), or "UNKNOWN". */
const char *sgf_opname(uint32_t opcode);

/* Pages spanned by a byte range starting at address/offset a of n bytes. */
static inline uint32_t sgf_pages_spanned(uintptr_t a, size_t n)
{
	if (n == 0)
		return 0;
	return (uint32_t)(((a + n - 1) / SGF_PAGE_SIZE) - (a / SGF_PAGE_SIZE) + 1);
}

#ifdef __cplusplus
}
#endif
#endif
