/* fuzz_oid_parse.c - fuzz the hex object id parser (udos_oid_parse) with
 * input that is not NUL-terminated, of any length. */
#include "fuzz.h"
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char hex[UDOS_OID_HEXSZ + 1];
	udos_oid oid;

	if (udos_oid_parse(&oid, (const char *)data, size) < 0) {
		/* a failure always explains itself */
		if (!*udos_error_detail())
			abort();
		return 0;
	}
	/* accepted: exactly 64 hex digits, and formatting gives them back
	 * in lower case */
	if (size != UDOS_OID_HEXSZ)
		abort();
	udos_oid_fmt(hex, &oid);
	for (size_t i = 0; i < UDOS_OID_HEXSZ; i++)
		if (hex[i] != tolower(data[i]))
			abort();
	return 0;
}
