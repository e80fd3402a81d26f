/* replay.c - plain main() for a fuzz target: feeds it every file named on
 * the command line, or every file in a named folder (a corpus). This is
 * what ctest runs with gcc; run_fuzzers.sh links libFuzzer's main instead. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long size;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) < 0) {
		perror(path);
		fclose(f);
		return -1;
	}
	/* exactly `size` bytes so that ASan sees a read past the input */
	data = malloc(size ? (size_t)size : 1);
	if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, (size_t)size);
	free(data);
	return 0;
}

static int skip_dots(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	long n = 0;

	for (int i = 1; i < argc; i++) {
		struct dirent **list;
		struct stat sb;
		int k;

		if (stat(argv[i], &sb) < 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(sb.st_mode)) {
			if (run_file(argv[i]) < 0)
				return 1;
			n++;
			continue;
		}
		/* sorted, so that a failure reproduces in the same order */
		k = scandir(argv[i], &list, skip_dots, alphasort);
		if (k < 0) {
			perror(argv[i]);
			return 1;
		}
		for (int j = 0; j < k; j++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i],
				 list[j]->d_name);
			if (run_file(path) < 0)
				return 1;
			n++;
			free(list[j]);
		}
		free(list);
	}
	printf("%s: %ld inputs ran\n", argc > 0 ? argv[0] : "replay", n);
	/* an empty corpus would pass while testing nothing */
	return n > 0 ? 0 : 1;
}
