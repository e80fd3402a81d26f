/* fuzz_loc_value.c - fuzz the index value decoder (udos__loc_decode,
 * docs/FORMAT.md "The index"): any length, any bytes. */
#include "fuzz.h"
#include "internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t again[UDOS_IDX_VAL_SIZE];
	udos__rec l, l2;

	if (udos__loc_decode(&l, data, size) < 0)
		return 0;
	/* the value read from RocksDB is exactly 32 bytes, never more */
	if (size != UDOS_IDX_VAL_SIZE)
		abort();
	udos__loc_encode(again, &l);
	if (udos__loc_decode(&l2, again, sizeof(again)) < 0 ||
	    l.codec != l2.codec || l.pack_id != l2.pack_id ||
	    l.offset != l2.offset || l.stored_len != l2.stored_len ||
	    l.raw_len != l2.raw_len)
		abort();
	return 0;
}
