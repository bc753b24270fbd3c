// tests/server/test_cxx_headers.cpp - the public headers as C++ (built with
// -std=c++11 -pedantic-errors and the project's -Wall -Wextra -Werror; each
// header also alone, in the generated cxx_*.cpp files): they compile, a
// filesystem can be written against them, and every public struct has the
// layout the C compiler gives it.
#include <sgfuse/backing.h>
#include <sgfuse/client.h>
#include <sgfuse/fuse_compat.h>
#include <sgfuse/notify.h>
#include <sgfuse/ops.h>
#include <sgfuse/proto.h>
#include <sgfuse/reply.h>
#include <sgfuse/server.h>
#include <sgfuse/stats.h>
#include "cxx_abi.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

static_assert(SGF_DEFER < -4095, "SGF_DEFER outside the errno range");
static_assert(SGF_OPCODE_LIMIT > FUSE_READDIRPLUS, "the opcode table covers READDIRPLUS");

namespace {

int cxx_getattr(const sgf_req *r, uint64_t ino, const fuse_getattr_in *in, fuse_attr_out *out)
{
	(void)in;
	if (sgf_req_keep(r) == nullptr)
		return -EIO;
	out->attr.ino = ino;
	return SGF_DEFER;
}

ssize_t cxx_read(const sgf_req *r, uint64_t ino, const fuse_read_in *in, const iovec *iov,
		 int iovcnt)
{
	(void)r, (void)ino, (void)iov, (void)iovcnt;
	return static_cast<ssize_t>(in->size);
}

void cxx_interrupt(const sgf_req *r)
{
	(void)sgf_req_interrupted(r);
}

#define VALUE(e) e,
#define NAME(e) #e,
const size_t abi_cxx[] = { SGF_ABI_LIST(VALUE) };
const char *const abi_cxx_names[] = { SGF_ABI_LIST(NAME) };

} // namespace

int main()
{
	int failures = 0;
	sgf_ops ops;
	std::memset(&ops, 0, sizeof(ops));
	ops.getattr = cxx_getattr;
	ops.read = cxx_read;
	ops.interrupt = cxx_interrupt;
	sgf_server_opts opts = sgf_server_opts();
	opts.threads = 1;
	sgf_stats st = sgf_stats();
	(void)st;
	(void)opts;
	(void)sgf_server_new; // declared with C linkage, callable from C++
	(void)sgf_notify_store;
	(void)sgf_backing_open;
	fuse_open_out oo = fuse_open_out();
	sgf_open_set_backing(&oo, 7);
	if (!(oo.open_flags & FOPEN_PASSTHROUGH) || sgf_open_backing_id(&oo) != 7) {
		std::fprintf(stderr, "FAIL sgf_open_set_backing\n");
		failures++;
	}
	if (sgf_pages_spanned(4095, 2) != 2) {
		std::fprintf(stderr, "FAIL sgf_pages_spanned(4095, 2) != 2\n");
		failures++;
	}
	const size_t n = sizeof(abi_cxx) / sizeof(abi_cxx[0]);
	if (n != sgf_abi_c_count) {
		std::fprintf(stderr, "FAIL %zu layout facts in C++, %zu in C\n", n, sgf_abi_c_count);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (abi_cxx[i] != sgf_abi_c[i] || std::strcmp(abi_cxx_names[i], sgf_abi_c_names[i])) {
			std::fprintf(stderr, "FAIL %s: %zu in C++, %zu in C\n", abi_cxx_names[i],
				     abi_cxx[i], sgf_abi_c[i]);
			failures++;
		}
	}
	std::printf("%s test_cxx_headers (%zu layout facts compared)\n",
		    failures ? "FAIL" : "PASS", n);
	return failures ? 1 : 0;
}
