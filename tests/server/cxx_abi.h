/* tests/server/cxx_abi.h - layout facts of the public structs, computed
 * once by the C compiler (cxx_abi_c.c) and once by the C++ compiler
 * (test_cxx_headers.cpp): a program in either language must see the same
 * table and options. X(expr) for each. */
#ifndef SGF_CXX_ABI_H
#define SGF_CXX_ABI_H

#include <stddef.h>
#include <sgfuse/client.h>
#include <sgfuse/server.h>

#define SGF_ABI_LIST(X) \
	X(sizeof(struct sgf_ops)) \
	X(offsetof(struct sgf_ops, lookup)) \
	X(offsetof(struct sgf_ops, open)) \
	X(offsetof(struct sgf_ops, read_source_done)) \
	X(offsetof(struct sgf_ops, interrupt)) \
	X(sizeof(struct sgf_req)) \
	X(offsetof(struct sgf_req, fs)) \
	X(offsetof(struct sgf_req, server)) \
	X(sizeof(struct sgf_conn_info)) \
	X(sizeof(struct sgf_dirbuf)) \
	X(sizeof(struct sgf_server_opts)) \
	X(offsetof(struct sgf_server_opts, max_inflight)) \
	X(offsetof(struct sgf_server_opts, debug)) \
	X(offsetof(struct sgf_server_opts, no_export)) \
	X(offsetof(struct sgf_server_opts, handle_signals)) \
	X(offsetof(struct sgf_server_opts, stats_file)) \
	X(offsetof(struct sgf_server_opts, fs_free)) \
	X(sizeof(struct sgf_main_ext)) \
	X(offsetof(struct sgf_main_ext, check)) \
	X(sizeof(struct sgf_stats)) \
	X(offsetof(struct sgf_stats, kept)) \
	X(offsetof(struct sgf_stats, buffers_max)) \
	X(sizeof(struct sgf_client_opts)) \
	X(offsetof(struct sgf_client_opts, policy)) \
	X(offsetof(struct sgf_client_opts, use_ids)) \
	X(offsetof(struct sgf_client_opts, pid)) \
	X(offsetof(struct sgf_client_opts, arena_size)) \
	X(offsetof(struct sgf_client_opts, connect_timeout_ms)) \
	X(sizeof(struct sgf_client_conn)) \
	X(sizeof(struct sgf_file)) \
	X(sizeof(struct sgf_dirent)) \
	X(sizeof(enum sgf_dio_policy)) \
	X(sizeof(struct sgf_fuse_statx_in)) \
	X(sizeof(bool))

#ifdef __cplusplus
extern "C" {
#endif
extern const size_t sgf_abi_c[];
extern const char *const sgf_abi_c_names[];
extern const size_t sgf_abi_c_count;
#ifdef __cplusplus
}
#endif

#endif
