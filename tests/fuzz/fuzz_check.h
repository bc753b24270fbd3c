/* tests/fuzz/fuzz_check.h - the harnesses' assertion: a broken invariant
 * prints what and where and aborts, which libFuzzer reports as a crash
 * (with the input saved) and the replay test as a failure. */
#ifndef SGF_FUZZ_CHECK_H
#define SGF_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

#endif
