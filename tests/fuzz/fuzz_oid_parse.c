/* fuzz_oid_parse.c - fuzz the hex object id parsers (udos_oid_parse and
 * udos_oid_parse_sz for sha1 ids) with input that is not NUL-terminated,
 * of any length. */
#include "fuzz.h"
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Parse at one digest size; an accepted id has exactly 2 * dsz hex digits,
 * formatting gives them back in lower case, and the padding is zero. */
static void one(const uint8_t *data, size_t size, size_t dsz)
{
	static const uint8_t zero[32];
	char hex[UDOS_OID_HEXSZ + 1];
	udos_oid oid;
	int rc;

	rc = dsz == 32 ? udos_oid_parse(&oid, (const char *)data, size)
		       : udos_oid_parse_sz(&oid, (const char *)data, size, dsz);
	if (rc < 0) {
		/* a failure always explains itself */
		if (!*udos_error_detail())
			abort();
		return;
	}
	if (size != 2 * dsz || memcmp(oid.id + dsz, zero, 32 - dsz))
		abort();
	udos_oid_fmt_sz(hex, &oid, dsz);
	if (strlen(hex) != 2 * dsz)
		abort();
	for (size_t i = 0; i < 2 * dsz; i++)
		if (hex[i] != tolower(data[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, 32);
	one(data, size, 20);
	return 0;
}
