/* lib/client/dio_tally.c - the kernel's direct-I/O result contract as a fold
 * over request results in file order: a short reply or an error ends the
 * call, which returns the bytes moved before it, or the error if none. */
#include "dio.h"

void sgf_dio_tally_init(struct sgf_dio_tally *t)
{
	*t = (struct sgf_dio_tally){ 0 };
}

bool sgf_dio_ends_call(size_t asked, ssize_t got)
{
	return got < 0 || (size_t)got < asked;
}

void sgf_dio_tally_fold(struct sgf_dio_tally *t, size_t asked, ssize_t got)
{
	if (t->ended)
		return;
	if (got < 0) {
		t->ended = true;
		if (t->progress == 0)
			t->error = (int)got;
		return;
	}
	/* Transports reject replies above the asked size; clamp anyway so a
	 * bug there cannot report bytes that were never in the caller's range. */
	t->progress += (size_t)got < asked ? (size_t)got : asked;
	if ((size_t)got < asked)
		t->ended = true;
}

ssize_t sgf_dio_tally_result(const struct sgf_dio_tally *t)
{
	if (t->progress > 0)
		return (ssize_t)t->progress;
	return t->error;
}
