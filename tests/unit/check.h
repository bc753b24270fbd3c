/* tests/unit/check.h - the unit tests' check macros: a failed check prints
 * where and what, counts, and the test goes on; check_exit() turns the count
 * into the exit status. Header-only; one counter per test program. */
#ifndef SGF_TEST_UNIT_CHECK_H
#define SGF_TEST_UNIT_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		check_failures++; \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	long long c_a_ = (long long)(a), c_b_ = (long long)(b); \
	if (c_a_ != c_b_) { \
		fprintf(stderr, "FAIL %s:%d: %s == %s: %lld != %lld\n", \
			__FILE__, __LINE__, #a, #b, c_a_, c_b_); \
		check_failures++; \
	} \
} while (0)

/* Like CHECK_EQ, with a context string printed on failure. */
#define CHECK_EQ_CTX(a, b, ctx) do { \
	long long c_a_ = (long long)(a), c_b_ = (long long)(b); \
	if (c_a_ != c_b_) { \
		fprintf(stderr, "FAIL %s:%d [%s]: %s == %s: %lld != %lld\n", \
			__FILE__, __LINE__, (ctx), #a, #b, c_a_, c_b_); \
		check_failures++; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *c_a_ = (a), *c_b_ = (b); \
	if (!c_a_ || !c_b_ || strcmp(c_a_, c_b_) != 0) { \
		fprintf(stderr, "FAIL %s:%d: %s == %s: \"%s\" != \"%s\"\n", \
			__FILE__, __LINE__, #a, #b, c_a_ ? c_a_ : "(null)", \
			c_b_ ? c_b_ : "(null)"); \
		check_failures++; \
	} \
} while (0)

static inline int check_exit(void)
{
	printf("%s (%d failures)\n", check_failures ? "FAILED" : "PASSED", check_failures);
	return check_failures ? 1 : 0;
}

#endif
