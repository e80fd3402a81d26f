/* oid.c - object ids: hex parse and format, compare, loose paths. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int udos__hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int udos_oid_parse_sz(udos_oid *out, const char *hex, size_t len,
		      size_t digest_size)
{
	if (digest_size != 32 && digest_size != 20)
		return udos__err(-EINVAL, "bad digest size %zu", digest_size);
	if (!hex || len != 2 * digest_size)
		return udos__err(-EINVAL, "malformed hash '%.*s'",
				 hex ? (int)(len > 80 ? 80 : len) : 0,
				 hex ? hex : "");
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < digest_size; i++) {
		int hi = udos__hexval(hex[2 * i]);
		int lo = udos__hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return udos__err(-EINVAL, "malformed hash '%.*s'",
					 (int)len, hex);
		out->id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int udos_oid_parse(udos_oid *out, const char *hex, size_t len)
{
	return udos_oid_parse_sz(out, hex, len, 32);
}

char *udos_oid_fmt_sz(char out[UDOS_OID_HEXSZ + 1], const udos_oid *oid,
		      size_t digest_size)
{
	static const char digits[] = "0123456789abcdef";

	if (digest_size != 20)
		digest_size = 32;
	for (size_t i = 0; i < digest_size; i++) {
		out[2 * i] = digits[oid->id[i] >> 4];
		out[2 * i + 1] = digits[oid->id[i] & 15];
	}
	out[2 * digest_size] = '\0';
	return out;
}

char *udos_oid_fmt(char out[UDOS_OID_HEXSZ + 1], const udos_oid *oid)
{
	return udos_oid_fmt_sz(out, oid, 32);
}

char *udos__oid_fmt(char out[UDOS_OID_HEXSZ + 1], const udos_store *st,
		    const udos_oid *oid)
{
	return udos_oid_fmt_sz(out, oid, st->digest_size);
}

int udos_oid_cmp(const udos_oid *a, const udos_oid *b)
{
	return memcmp(a->id, b->id, sizeof(a->id));
}

void udos__loose_relpath(char *out, size_t cap, const udos_store *st,
			 const udos_oid *oid)
{
	int prefix_len = st->info.loose_prefix_len;
	char hex[UDOS_OID_HEXSZ + 1];

	udos__oid_fmt(hex, st, oid);
	if (prefix_len > 0)
		snprintf(out, cap, "loose/%.*s/%s", prefix_len, hex,
			 hex + prefix_len);
	else
		snprintf(out, cap, "loose/%s", hex);
}
