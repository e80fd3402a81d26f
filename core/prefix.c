/* prefix.c - abbreviated ids: the objects whose id starts with some hex
 * digits, found by one index seek and one loose/ folder listing. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct match {
	uint8_t key[32];  /* the prefix's whole bytes, then its odd nibble */
	size_t digits;
	udos_oid *v;
	size_t n, cap;
};

static bool starts_with(const struct match *m, const udos_oid *oid)
{
	size_t whole = m->digits / 2;

	if (memcmp(oid->id, m->key, whole))
		return false;
	return !(m->digits & 1) || (oid->id[whole] & 0xf0) == m->key[whole];
}

static int push(struct match *m, const udos_oid *oid)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 8;
		udos_oid *v = realloc(m->v, cap * sizeof(*v));

		if (!v)
			return udos__err(-ENOMEM, "out of memory");
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = *oid;
	return 0;
}

/* keys come in order from the seek: the first one past the prefix ends
 * the run */
static int index_cb(void *ctx, const udos_oid *oid, const void *val,
		    size_t len)
{
	struct match *m = ctx;

	(void)val;
	(void)len;
	if (!starts_with(m, oid))
		return 1;
	return push(m, oid);
}

static int loose_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct match *m = ctx;

	(void)rel;
	return oid && starts_with(m, oid) ? push(m, oid) : 0;
}

static int cmp_oid(const void *a, const void *b)
{
	return udos_oid_cmp(a, b);
}

static int scan_index(struct match *m, udos_store *st)
{
	int rc;

	/* everything committed before the call is seen */
	rc = udos__store_refresh_if_stale(st);
	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&st->ixlock);
	rc = st->ix ? udos__index_foreach_from(st->ix, m->key,
					       (m->digits + 1) / 2, index_cb,
					       m)
		    : udos__err(UDOS_EINDEX, "index is not open");
	pthread_rwlock_unlock(&st->ixlock);
	return rc < 0 ? rc : 0;
}

int udos_object_resolve(udos_oid *out, size_t *n_out, udos_store *st,
			const char *hex, size_t len, size_t cap)
{
	struct match m = { .digits = len };
	char low[UDOS_OID_HEXSZ + 1];
	size_t hexsz, i, k;
	int rc;

	UDOS_ASSERT_ARG(st && hex && (out || !cap));
	if (n_out)
		*n_out = 0;
	hexsz = 2 * st->digest_size;
	if (len > hexsz || memchr(hex, '\0', len))
		return udos__err(-EINVAL, "malformed hash '%.*s'",
				 (int)(len < 70 ? len : 70), hex);
	for (i = 0; i < len; i++) {
		int v = udos__hexval(hex[i]);

		if (v < 0)
			return udos__err(-EINVAL, "malformed hash '%.*s'",
					 (int)len, hex);
		low[i] = "0123456789abcdef"[v];
		m.key[i / 2] |= (uint8_t)(i & 1 ? v : v << 4);
	}
	low[len] = '\0';
	if (len < UDOS_OID_MIN_PREFIX)
		return udos__err(-EINVAL, "id prefix '%.*s' is too short (at "
				 "least %d hex digits)", (int)len, hex,
				 UDOS_OID_MIN_PREFIX);
	rc = scan_index(&m, st);
	if (rc == 0)
		rc = udos__loose_walk_prefix(st, low, loose_cb, &m);
	if (rc < 0)
		goto done;
	/* packed and loose (not yet cleaned) copies of one id count once */
	if (m.n > 1)
		qsort(m.v, m.n, sizeof(*m.v), cmp_oid);
	for (i = k = 0; i < m.n; i++)
		if (!k || udos_oid_cmp(&m.v[k - 1], &m.v[i]))
			m.v[k++] = m.v[i];
	m.n = k;
	for (i = 0; i < m.n && i < cap; i++)
		out[i] = m.v[i];
	if (n_out)
		*n_out = m.n;
	if (m.n == 0)
		rc = udos__err(UDOS_ENOTFOUND, "no object with id prefix '%s'",
			       low);
	else if (m.n > 1)
		rc = udos__err(UDOS_EAMBIGUOUS, "id prefix '%s' matches %zu "
			       "objects", low, m.n);
done:
	free(m.v);
	return rc;
}
