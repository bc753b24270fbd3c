/* tests/unit/test_stats.c - the statistics text format the mounted tests
 * parse: bucket arithmetic, "op NAME count N bytes B errors E" and
 * "hist KIND LOW N" lines, zero lines omitted, and the atomic file write. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sgfuse/stats.h>
#include "check.h"
#include "stats_priv.h"

static void check_buckets(void)
{
	CHECK_EQ(sgf_hist_bucket(0), 0);
	CHECK_EQ(sgf_hist_bucket(1), 1);
	CHECK_EQ(sgf_hist_bucket(2), 2);
	CHECK_EQ(sgf_hist_bucket(3), 2);
	CHECK_EQ(sgf_hist_bucket(4), 3);
	CHECK_EQ(sgf_hist_bucket(4095), 12);
	CHECK_EQ(sgf_hist_bucket(4096), 13);
	CHECK_EQ(sgf_hist_bucket(131072), 18);
	CHECK_EQ(sgf_hist_bucket(262143), 18);
	CHECK_EQ(sgf_hist_bucket(1u << 20), 21);
	/* Huge sizes land in the last bucket rather than outside the array. */
	CHECK_EQ(sgf_hist_bucket(UINT64_MAX), SGF_HIST_BUCKETS - 1);
	CHECK_EQ(sgf_hist_bucket(1ull << 40), SGF_HIST_BUCKETS - 1);
}

static char *print(const struct sgf_stats *st)
{
	static char text[16384];
	FILE *f = fmemopen(text, sizeof(text) - 1, "w");
	memset(text, 0, sizeof(text));
	CHECK_EQ(sgf_stats_print(st, f), 0);
	fclose(f);
	return text;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

#define CHECK_LINE(text, line) do { \
	if (!has_line((text), (line))) { \
		fprintf(stderr, "FAIL %s:%d: no line \"%s\" in:\n%s", __FILE__, __LINE__, \
			(line), (text)); \
		check_failures++; \
	} \
} while (0)

static void check_print(void)
{
	struct sgf_stats *st = calloc(1, sizeof(*st));
	char *text = print(st);
	CHECK_STR(text, "");

	sgf_stats_add(st, FUSE_WRITE, 131072);
	sgf_stats_add(st, FUSE_READ, 4096);
	sgf_stats_add(st, FUSE_READ, 4096);
	sgf_stats_add(st, FUSE_READ, 5000);
	sgf_stats_add(st, FUSE_READ, 0);
	sgf_stats_add(st, FUSE_LOOKUP, 0);
	sgf_stats_error(st, FUSE_LOOKUP);
	st->malformed = 3;
	st->unknown = 2;
	text = print(st);
	CHECK_LINE(text, "op WRITE count 1 bytes 131072 errors 0");
	CHECK_LINE(text, "op READ count 4 bytes 13192 errors 0");
	CHECK_LINE(text, "op LOOKUP count 1 bytes 0 errors 1");
	CHECK_LINE(text, "hist WRITE 131072 1");
	CHECK_LINE(text, "hist READ 4096 3");
	CHECK_LINE(text, "hist READ 0 1");
	CHECK_LINE(text, "malformed 3");
	CHECK_LINE(text, "unknown 2");
	/* Zero lines are omitted. */
	CHECK(strstr(text, "GETATTR") == NULL);
	CHECK(strstr(text, "hist WRITE 4096") == NULL);
	CHECK(strstr(text, "SEGS") == NULL);

	/* The same text through the atomic file writer. */
	char path[] = "/tmp/sgf-stats-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(sgf_stats_write_file(st, path), 0);
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	CHECK_STR(buf, text);
	unlink(path);
	/* A directory that does not exist: an error, not a crash. */
	CHECK(sgf_stats_write_file(st, "/nonexistent-dir/stats") < 0);

	sgf_stats_reset(st);
	CHECK_STR(print(st), "");
	free(st);
}

int main(void)
{
	check_buckets();
	check_print();
	return check_exit();
}
