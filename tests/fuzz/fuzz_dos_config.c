/* fuzz_dos_config.c - fuzz the reading of a disk-objectstore container's
 * config.json (import-dos): the fuzzed bytes become config.json of a
 * folder; reading must succeed or fail with a detail, never crash. */
#include "fuzz.h"
#include "dos_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir; /* made once per process */

static void cleanup(void)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/config.json", dir);
	unlink(p);
	rmdir(dir);
	free(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	udos__dos_config c;
	int dfd, fd, rc;

	if (!dir) {
		const char *base = getenv("TMPDIR");

		if (asprintf(&dir, "%s/udos-fuzz-dos-XXXXXX",
			     base && *base ? base : "/tmp") < 0 ||
		    !mkdtemp(dir))
			abort();
		atexit(cleanup);
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		abort();
	fd = openat(dfd, "config.json", O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0644);
	if (fd < 0 || udos__write_all(fd, data, size) < 0)
		abort();
	close(fd);
	rc = udos__dos_config_read(&c, dfd, dir);
	close(dfd);
	if (rc == 0) {
		/* what a reader relies on afterwards */
		if (c.container_version != 1 ||
		    !udos_hash_type_name(c.hash_type) ||
		    c.loose_prefix_len < 0 || c.loose_prefix_len > 60)
			abort();
	} else if (!*udos_error_detail()) {
		abort(); /* a failure says why */
	}
	return 0;
}
