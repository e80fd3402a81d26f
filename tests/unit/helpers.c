/* helpers.c - shared fixtures for the cmocka unit tests. */
#include "helpers.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__)
/*
 * TSan's hook for built-in suppressions. RocksDB is not built with TSan:
 * its memtable publishes entries with atomics TSan cannot see, so a Get on
 * one thread during a Put on another (both allowed by RocksDB) is reported
 * as a race inside librocksdb. Our own code stays fully checked.
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:librocksdb\n";
}
#endif

char *tmp_dir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (asprintf(&p, "%s/udos-test-XXXXXX", base && *base ? base : "/tmp") < 0)
		fail_msg("asprintf");
	if (!mkdtemp(p))
		fail_msg("mkdtemp");
	return p;
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

void tmp_remove(char *dir)
{
	if (!dir)
		return;
	if (!getenv("UDOS_KEEP_TMP"))
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

udos_store *store_new(const char *dir, const char *compression,
		      uint64_t pack_target)
{
	udos_init_opts o = UDOS_INIT_OPTS_INIT;
	udos_store *st = NULL;
	char path[4096];

	snprintf(path, sizeof(path), "%s/c", dir);
	o.compression = compression;
	o.pack_size_target = pack_target;
	assert_ok(udos_store_init(path, &o));
	assert_ok(udos_store_open(&st, path, 0));
	return st;
}

void fill_bytes(uint8_t *buf, size_t len, uint32_t seed, int compressible)
{
	static const char *words[] = { "alpha ", "beta ", "gamma ", "delta ",
				       "energy ", "atom ", "kpoint ", "\n" };
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len;) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		if (compressible) {
			const char *w = words[x & 7];
			while (*w && i < len)
				buf[i++] = (uint8_t)*w++;
		} else {
			buf[i++] = (uint8_t)x;
		}
	}
}
