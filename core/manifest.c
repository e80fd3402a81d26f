/* core/manifest.c - (id, path) lists: sha256sum lines and `add --json`
 * lines parsed into one array, paths kept as bytes. */
#include "udos/restore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct mentry {
	udos_oid oid;
	size_t off; /* into the arena */
	size_t len;
};

struct udos_manifest {
	size_t digest_size;
	struct mentry *e;
	size_t n, cap;
	char *arena; /* NUL-terminated paths, back to back */
	size_t alen, acap;
};

int udos_manifest_new(udos_manifest **out, size_t digest_size)
{
	udos_manifest *m;

	UDOS_ASSERT_ARG(out);
	*out = NULL;
	if (digest_size != 20 && digest_size != 32)
		return udos__err(-EINVAL, "digest size %zu: must be 20 or 32",
				 digest_size);
	m = udos__alloc(sizeof(*m));
	if (!m)
		return udos__err(-ENOMEM, "out of memory");
	memset(m, 0, sizeof(*m));
	m->digest_size = digest_size;
	*out = m;
	return 0;
}

void udos_manifest_free(udos_manifest *m)
{
	if (!m)
		return;
	free(m->e);
	free(m->arena);
	free(m);
}

size_t udos_manifest_count(const udos_manifest *m)
{
	return m ? m->n : 0;
}

const char *udos_manifest_entry(const udos_manifest *m, size_t i,
				udos_oid *oid_out, size_t *len_out)
{
	if (!m || i >= m->n)
		return NULL;
	if (oid_out)
		*oid_out = m->e[i].oid;
	if (len_out)
		*len_out = m->e[i].len;
	return m->arena + m->e[i].off;
}

/* Room for one more entry with a path of `len` bytes. */
static int reserve(udos_manifest *m, size_t len)
{
	size_t need;

	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 1024;
		struct mentry *ne = realloc(m->e, nc * sizeof(*ne));

		if (!ne)
			return udos__err(-ENOMEM, "out of memory");
		m->e = ne;
		m->cap = nc;
	}
	if (__builtin_add_overflow(m->alen, len + 1, &need))
		return udos__err(-ENOMEM, "manifest too large");
	if (need > m->acap) {
		size_t nc = m->acap ? m->acap : 65536;
		char *na;

		while (nc < need)
			nc *= 2;
		na = realloc(m->arena, nc);
		if (!na)
			return udos__err(-ENOMEM, "out of memory");
		m->arena = na;
		m->acap = nc;
	}
	return 0;
}

int udos_manifest_add(udos_manifest *m, const udos_oid *oid, const void *path,
		      size_t path_len)
{
	int rc;

	UDOS_ASSERT_ARG(m && oid && (path || !path_len));
	if (!path_len || memchr(path, '\0', path_len))
		return udos__err(-EINVAL, "path is empty or holds a NUL byte");
	rc = reserve(m, path_len);
	if (rc < 0)
		return rc;
	m->e[m->n].oid = *oid;
	m->e[m->n].off = m->alen;
	m->e[m->n].len = path_len;
	memcpy(m->arena + m->alen, path, path_len);
	m->arena[m->alen + path_len] = '\0';
	m->alen += path_len + 1;
	m->n++;
	return 0;
}

/* ---- sha256sum lines ---------------------------------------------------- */

/* Decode a sha256sum path in place: with `escaped`, "\\" "\n" "\r". */
static int unescape_sum(char *p, size_t *len, bool escaped)
{
	size_t i, o = 0;

	if (!escaped)
		return 0;
	for (i = 0; i < *len; i++) {
		if (p[i] != '\\') {
			p[o++] = p[i];
			continue;
		}
		if (++i == *len)
			return -1;
		if (p[i] == '\\')
			p[o++] = '\\';
		else if (p[i] == 'n')
			p[o++] = '\n';
		else if (p[i] == 'r')
			p[o++] = '\r';
		else
			return -1;
	}
	*len = o;
	return 0;
}

static int parse_sum(udos_manifest *m, const char *line, size_t len,
		     char *tmp)
{
	size_t hexlen = m->digest_size * 2, plen;
	bool escaped = false;
	udos_oid oid;

	if (len && line[0] == '\\') {
		escaped = true;
		line++;
		len--;
	}
	if (len < hexlen + 3 || line[hexlen] != ' ' ||
	    (line[hexlen + 1] != ' ' && line[hexlen + 1] != '*'))
		return -1;
	if (udos_oid_parse_sz(&oid, line, hexlen, m->digest_size) < 0)
		return -1;
	plen = len - hexlen - 2;
	memcpy(tmp, line + hexlen + 2, plen);
	if (unescape_sum(tmp, &plen, escaped) < 0)
		return -1;
	return udos_manifest_add(m, &oid, tmp, plen) < 0 ? -1 : 0;
}

/* ---- JSON lines ----------------------------------------------------------- */

struct jp {
	const char *s, *end;
};

static void ws(struct jp *j)
{
	while (j->s < j->end && (*j->s == ' ' || *j->s == '\t' ||
				 *j->s == '\r' || *j->s == '\n'))
		j->s++;
}

static int hex4(struct jp *j, unsigned *out)
{
	unsigned v = 0;

	if (j->end - j->s < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = *j->s++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A JSON string at j->s (at its quote) decoded into out (room for as many
 * bytes as the line has): \udc80..\udcff alone give the byte 0x80..0xff;
 * other lone surrogates are refused.
 */
static int jstring(struct jp *j, char *out, size_t *len_out)
{
	size_t o = 0;

	if (j->s >= j->end || *j->s != '"')
		return -1;
	j->s++;
	while (j->s < j->end && *j->s != '"') {
		unsigned cp, lo;
		char c = *j->s++;

		if ((unsigned char)c < 0x20)
			return -1;
		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		if (j->s >= j->end)
			return -1;
		c = *j->s++;
		switch (c) {
		case '"': case '\\': case '/':
			out[o++] = c;
			continue;
		case 'b': out[o++] = '\b'; continue;
		case 'f': out[o++] = '\f'; continue;
		case 'n': out[o++] = '\n'; continue;
		case 'r': out[o++] = '\r'; continue;
		case 't': out[o++] = '\t'; continue;
		case 'u': break;
		default: return -1;
		}
		if (hex4(j, &cp) < 0)
			return -1;
		if (cp >= 0xdc80 && cp <= 0xdcff) {
			out[o++] = (char)(cp & 0xff); /* surrogateescape */
			continue;
		}
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (j->end - j->s < 6 || j->s[0] != '\\' ||
			    j->s[1] != 'u')
				return -1;
			j->s += 2;
			if (hex4(j, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
				return -1;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		} else if (cp >= 0xdc00 && cp <= 0xdfff) {
			return -1;
		}
		o += put_utf8(out + o, cp);
	}
	if (j->s >= j->end)
		return -1;
	j->s++;
	*len_out = o;
	return 0;
}

/* Skip one JSON value of a member we do not use. */
static int jskip(struct jp *j, char *tmp)
{
	size_t len, depth = 0;

	ws(j);
	if (j->s < j->end && *j->s == '"')
		return jstring(j, tmp, &len);
	while (j->s < j->end) {
		char c = *j->s;

		if (c == '"') {
			if (jstring(j, tmp, &len) < 0)
				return -1;
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (!depth)
				return 0;
			depth--;
		} else if (c == ',' && !depth) {
			return 0;
		}
		j->s++;
	}
	return -1;
}

static int parse_json(udos_manifest *m, const char *line, size_t len,
		      char *tmp, char *key)
{
	struct jp j = { line, line + len };
	size_t klen, plen = 0, hlen = 0;
	bool have_path = false, have_hash = false;
	char hex[80];
	udos_oid oid;

	ws(&j);
	if (j.s >= j.end || *j.s++ != '{')
		return -1;
	ws(&j);
	if (j.s < j.end && *j.s == '}')
		return -1;
	for (;;) {
		ws(&j);
		if (jstring(&j, key, &klen) < 0)
			return -1;
		ws(&j);
		if (j.s >= j.end || *j.s++ != ':')
			return -1;
		ws(&j);
		if (klen == 4 && !memcmp(key, "path", 4)) {
			if (jstring(&j, tmp, &plen) < 0)
				return -1;
			have_path = true;
		} else if (klen == 4 && !memcmp(key, "hash", 4)) {
			if (j.end - j.s < 2 || *j.s != '"')
				return -1;
			const char *q = memchr(j.s + 1, '"',
					       (size_t)(j.end - j.s - 1));
			if (!q || (size_t)(q - j.s - 1) >= sizeof(hex))
				return -1;
			hlen = (size_t)(q - j.s - 1);
			memcpy(hex, j.s + 1, hlen);
			j.s = q + 1;
			have_hash = true;
		} else if (jskip(&j, key) < 0) {
			return -1;
		}
		ws(&j);
		if (j.s < j.end && *j.s == ',') {
			j.s++;
			continue;
		}
		if (j.s < j.end && *j.s == '}')
			break;
		return -1;
	}
	j.s++;
	ws(&j);
	if (j.s != j.end || !have_path || !have_hash)
		return -1;
	if (udos_oid_parse_sz(&oid, hex, hlen, m->digest_size) < 0)
		return -1;
	return udos_manifest_add(m, &oid, tmp, plen) < 0 ? -1 : 0;
}

int udos_manifest_parse(udos_manifest *m, const void *text, size_t len,
			unsigned flags)
{
	const char *p = text, *end = p + len;
	char *tmp = NULL, *key = NULL;
	size_t lineno = 0, tcap = 0;
	int rc = 0;

	UDOS_ASSERT_ARG(m && (text || !len));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		bool json;

		lineno++;
		if (ll == 0) {
			p += 1;
			continue;
		}
		if (ll + 1 > tcap) {
			char *nt = realloc(tmp, ll + 1), *nk;

			if (!nt) {
				rc = udos__err(-ENOMEM, "out of memory");
				break;
			}
			tmp = nt;
			nk = realloc(key, ll + 1);
			if (!nk) {
				rc = udos__err(-ENOMEM, "out of memory");
				break;
			}
			key = nk;
			tcap = ll + 1;
		}
		json = (flags & UDOS_MANIFEST_JSON) || p[0] == '{';
		if ((json ? parse_json(m, p, ll, tmp, key)
			  : parse_sum(m, p, ll, tmp)) < 0) {
			rc = udos__err(-EINVAL, "line %zu: not a%s manifest "
					"line for %zu-byte ids", lineno,
					json ? " JSON" : " sha256sum-style",
					m->digest_size);
			break;
		}
		p += ll + (nl ? 1 : 0);
	}
	free(tmp);
	free(key);
	return rc;
}
