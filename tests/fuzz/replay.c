/* tests/fuzz/replay.c - main() for a harness built without libFuzzer (any
 * compiler): feeds it every file named on the command line, or found in a
 * directory named there, once. The unit suite replays the seed corpora and
 * the inputs of past crashes this way, so they stay fixed in every build. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	/* Inputs are small (scripts/fuzz caps them at 64 KiB). */
	static uint8_t buf[1u << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	/* A copy of exactly n bytes, so ASan sees a read past the input. */
	uint8_t *copy = malloc(n ? n : 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, buf, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	return 0;
}

static int replay(const char *path, unsigned *count)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return replay_file(path);
	}
	DIR *d = opendir(path);
	if (d == NULL) {
		perror(path);
		return -1;
	}
	int ret = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && ret == 0) {
		if (e->d_name[0] == '.')
			continue;
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		ret = replay(sub, count);
	}
	closedir(d);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	for (int i = 1; i < argc; i++)
		if (replay(argv[i], &count) != 0)
			return 1;
	printf("%u inputs replayed\n", count);
	return count > 0 ? 0 : 1;
}
