/* fuzz_config.c - fuzz config.json parsing through udos_store_open: the
 * fuzzed bytes become config.json of a folder with empty loose/, packs/,
 * sandbox/ and index/. Opening fails (at the latest on the empty index);
 * it must fail cleanly, never crash or leak. */
#include "fuzz.h"
#include "internal.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir; /* made once per process */

static int rm_cb(const char *p, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

static void cleanup(void)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static void setup(void)
{
	static const char *subs[] = { "loose", "packs", "sandbox", "index" };
	const char *base = getenv("TMPDIR");
	char p[4096];

	if (asprintf(&dir, "%s/udos-fuzz-XXXXXX", base && *base ? base
							       : "/tmp") < 0 ||
	    !mkdtemp(dir))
		abort();
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, subs[i]);
		if (mkdir(p, 0755) < 0)
			abort();
	}
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	udos_store *st = NULL;
	char p[4096];
	int fd, rc;

	if (!dir)
		setup();
	snprintf(p, sizeof(p), "%s/config.json", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || udos__write_all(fd, data, size) < 0)
		abort();
	close(fd);
	rc = udos_store_open(&st, dir, 0);
	if (rc == 0) {
		udos_store_info info;
		udos_store_info_get(&info, st);
		udos_store_close(st);
	} else if (st || !*udos_error_detail()) {
		abort(); /* failures leave *out NULL and say why */
	}
	return 0;
}
