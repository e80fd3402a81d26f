/* format.c - encode/decode of record entries (packs/N.rec) and index values
 * (byte layout in docs/FORMAT.md). */
#include "internal.h"

#include <string.h>

_Static_assert(UDOS_REC_SIZE == 80, "record entry is 80 bytes");
_Static_assert(UDOS_IDX_VAL_SIZE == 48, "index value is 48 bytes");

uint64_t udos__rec_pos(uint64_t slot)
{
	return UDOS_RECS_HDR_SIZE + slot * UDOS_REC_SIZE;
}

void udos__recs_header(uint8_t out[UDOS_RECS_HDR_SIZE], const uint8_t uuid[16],
		       uint32_t pack_id)
{
	memset(out, 0, UDOS_RECS_HDR_SIZE);
	memcpy(out, UDOS_RECS_MAGIC, 8);
	udos__put_le32(out + 8, UDOS_FORMAT_VERSION);
	udos__put_le32(out + 12, pack_id);
	memcpy(out + 16, uuid, 16);
}

void udos__rec_encode(uint8_t out[UDOS_REC_SIZE], const udos__rec *r)
{
	memset(out, 0, UDOS_REC_SIZE);
	memcpy(out, UDOS_REC_MAGIC, 4);
	out[4] = (uint8_t)r->codec;
	udos__put_le64(out + 8, r->offset);
	udos__put_le64(out + 16, r->raw_len);
	udos__put_le64(out + 24, r->stored_len);
	memcpy(out + 32, r->oid.id, 32);
	udos__put_le64(out + 64, r->data_xxh);
	udos__put_le64(out + 72, udos__xxh3(out, 72));
}

int udos__rec_decode(udos__rec *out, const uint8_t in[UDOS_REC_SIZE])
{
	if (memcmp(in, UDOS_REC_MAGIC, 4) != 0)
		return udos__err(UDOS_ECORRUPT, "bad record magic");
	if (udos__get_le64(in + 72) != udos__xxh3(in, 72))
		return udos__err(UDOS_ECORRUPT, "bad record entry checksum");
	if (in[4] > UDOS_CODEC_ZSTD || in[5] != 0)
		return udos__err(UDOS_ECORRUPT, "unknown record codec %u",
				 in[4]);
	out->codec = in[4];
	out->offset = udos__get_le64(in + 8);
	out->raw_len = udos__get_le64(in + 16);
	out->stored_len = udos__get_le64(in + 24);
	memcpy(out->oid.id, in + 32, 32);
	out->data_xxh = udos__get_le64(in + 64);
	/* a raw record's two lengths must agree */
	if (out->codec == UDOS_CODEC_NONE && out->raw_len != out->stored_len)
		return udos__err(UDOS_ECORRUPT, "raw record length mismatch");
	return 0;
}

void udos__loc_encode(uint8_t out[UDOS_IDX_VAL_SIZE], const udos__rec *l)
{
	memset(out, 0, UDOS_IDX_VAL_SIZE);
	out[0] = UDOS_IDX_VAL_VERSION;
	out[1] = (uint8_t)l->codec;
	udos__put_le32(out + 4, l->pack_id);
	udos__put_le64(out + 8, l->offset);
	udos__put_le64(out + 16, l->stored_len);
	udos__put_le64(out + 24, l->raw_len);
	udos__put_le64(out + 32, l->data_xxh);
	udos__put_le64(out + 40, l->slot);
}

int udos__loc_decode(udos__rec *out, const void *in, size_t len)
{
	const uint8_t *p = in;

	if (len != UDOS_IDX_VAL_SIZE || p[0] != UDOS_IDX_VAL_VERSION ||
	    p[1] > UDOS_CODEC_ZSTD)
		return udos__err(UDOS_ECORRUPT, "bad index value (%zu bytes, "
				 "version %u)", len, len ? p[0] : 0);
	out->codec = p[1];
	out->pack_id = udos__get_le32(p + 4);
	out->offset = udos__get_le64(p + 8);
	out->stored_len = udos__get_le64(p + 16);
	out->raw_len = udos__get_le64(p + 24);
	out->data_xxh = udos__get_le64(p + 32);
	out->slot = udos__get_le64(p + 40);
	return 0;
}
