/* fuzz_rec_header.c - fuzz the record entry decoder (udos__rec_decode,
 * docs/FORMAT.md "Record entries"). */
#include "fuzz.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t h[UDOS_REC_SIZE], again[UDOS_REC_SIZE];
	udos__rec r, r2;

	if (size < UDOS_REC_SIZE)
		return 0;
	memcpy(h, data, sizeof(h));
	/* A fuzzer cannot forge the XXH3 of bytes 0..71, so without help it
	 * never gets past the checksum: when the byte after the entry is
	 * odd, the checksum is made right before decoding. */
	if (size > UDOS_REC_SIZE && (data[UDOS_REC_SIZE] & 1))
		udos__put_le64(h + 72, udos__xxh3(h, 72));
	if (udos__rec_decode(&r, h) < 0)
		return 0;
	/* what decodes must encode to something that decodes the same */
	udos__rec_encode(again, &r);
	if (udos__rec_decode(&r2, again) < 0 || r.codec != r2.codec ||
	    r.offset != r2.offset ||
	    r.raw_len != r2.raw_len || r.stored_len != r2.stored_len ||
	    r.data_xxh != r2.data_xxh || udos_oid_cmp(&r.oid, &r2.oid))
		abort();
	return 0;
}
