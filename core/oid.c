/* oid.c - object ids: hex parse and format, compare, loose paths. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int udos_oid_parse(udos_oid *out, const char *hex, size_t len)
{
	if (!hex || len != UDOS_OID_HEXSZ)
		return udos__err(-EINVAL, "malformed hash '%.*s'",
				 hex ? (int)(len > 80 ? 80 : len) : 0,
				 hex ? hex : "");
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return udos__err(-EINVAL, "malformed hash '%.64s'",
					 hex);
		out->id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

char *udos_oid_fmt(char out[UDOS_OID_HEXSZ + 1], const udos_oid *oid)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = digits[oid->id[i] >> 4];
		out[2 * i + 1] = digits[oid->id[i] & 15];
	}
	out[UDOS_OID_HEXSZ] = '\0';
	return out;
}

int udos_oid_cmp(const udos_oid *a, const udos_oid *b)
{
	return memcmp(a->id, b->id, sizeof(a->id));
}

void udos__loose_relpath(char *out, size_t cap, int prefix_len,
			 const udos_oid *oid)
{
	char hex[UDOS_OID_HEXSZ + 1];

	udos_oid_fmt(hex, oid);
	if (prefix_len > 0)
		snprintf(out, cap, "loose/%.*s/%s", prefix_len, hex,
			 hex + prefix_len);
	else
		snprintf(out, cap, "loose/%s", hex);
}
