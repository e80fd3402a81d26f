/* helpers.h - shared fixtures for the cmocka unit tests. */
#ifndef UDOS_TEST_HELPERS_H
#define UDOS_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "udos/udos.h"

/* A fresh temporary folder; removed by tmp_remove unless UDOS_KEEP_TMP. */
char *tmp_dir(void);
void tmp_remove(char *dir);

/* Init a container at dir/c with a compression spec and pack target, open
 * it; returns the store. */
udos_store *store_new(const char *dir, const char *compression,
		      uint64_t pack_target);

/* Deterministic bytes: text-like when compressible, else random. */
void fill_bytes(uint8_t *buf, size_t len, uint32_t seed, int compressible);

#define assert_ok(expr)                                                    \
	do {                                                               \
		int rc_ = (int)(expr);                                     \
		if (rc_ < 0)                                               \
			fail_msg("%s -> %d (%s): %s", #expr, rc_,          \
				 udos_strerror(rc_), udos_error_detail()); \
	} while (0)

#endif
