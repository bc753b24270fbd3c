/* tests/server/cxx_abi_c.c - the layout facts of cxx_abi.h as C sees them. */
#include "cxx_abi.h"

#define VALUE(e) e,
#define NAME(e) #e,
const size_t sgf_abi_c[] = { SGF_ABI_LIST(VALUE) };
const char *const sgf_abi_c_names[] = { SGF_ABI_LIST(NAME) };
const size_t sgf_abi_c_count = sizeof(sgf_abi_c) / sizeof(sgf_abi_c[0]);
