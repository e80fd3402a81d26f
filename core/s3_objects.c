/* s3_objects.c - the S3 calls built on the request runner of s3.c: XML
 * fields, listings, multipart upload with a SHA-256 per part, and the
 * sweep of incomplete uploads. */
#include "s3.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

const char *udos__xml_next(char *out, size_t cap, const char **pos,
			   const char *tag)
{
	char open[64], close[64];
	const char *a, *b;
	size_t k = 0;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = strstr(*pos, open);
	if (!a)
		return NULL;
	a += strlen(open);
	b = strstr(a, close);
	if (!b)
		return NULL;
	*pos = b + strlen(close);
	while (a < b && k + 1 < cap) {
		static const struct { const char *e; char c; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
			{ "&quot;", '"' }, { "&apos;", '\'' },
		};
		size_t j;
		for (j = 0; j < 5; j++) {
			size_t l = strlen(ents[j].e);
			if ((size_t)(b - a) >= l && !strncmp(a, ents[j].e, l)) {
				out[k++] = ents[j].c;
				a += l;
				break;
			}
		}
		if (j == 5)
			out[k++] = *a++;
	}
	out[k] = 0;
	return out;
}

/* query value encoding (everything but unreserved) */
static void qenc(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
	}
	out[n] = 0;
}

/* the full key of `rel` under the prefix, for listing queries */
static void full_key(char *out, size_t cap, const udos__s3 *s,
		     const char *rel)
{
	const char *prefix = udos__s3_prefix(s);

	snprintf(out, cap, "%s%s%s", prefix, *prefix ? "/" : "", rel);
}

int64_t udos__s3_parse_time(const char *iso)
{
	struct tm tm;
	int y, mo, d, h, mi, sec;
	time_t t;

	if (sscanf(iso, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec) != 6)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	return t > 0 ? (int64_t)t : 0;
}

static int list_add(udos__s3_list *l, const char *key, uint64_t size,
		    int64_t mtime)
{
	if (l->n == l->cap) {
		size_t c = l->cap ? 2 * l->cap : 64;
		udos__s3_obj *v = realloc(l->v, c * sizeof(*v));
		if (!v)
			return udos__err(-ENOMEM, "out of memory");
		l->v = v;
		l->cap = c;
	}
	l->v[l->n].key = strdup(key);
	if (!l->v[l->n].key)
		return udos__err(-ENOMEM, "out of memory");
	l->v[l->n].mtime = mtime;
	l->v[l->n++].size = size;
	return 0;
}

int udos__s3_list_objects(udos__s3_list *out, udos__s3 *s, const char *under)
{
	char token[1024] = "", pfx[UDOS__S3_MAX_KEY], epfx[UDOS__S3_MAX_KEY];
	size_t plen = *udos__s3_prefix(s) ? strlen(udos__s3_prefix(s)) + 1 : 0;
	udos__s3_req r;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	full_key(pfx, sizeof(pfx), s, under);
	qenc(epfx, sizeof(epfx), pfx);
	for (;;) {
		char etok[1200], trunc[16] = "", key[UDOS__S3_MAX_KEY];
		char size[32], when[64], *xml;
		const char *pos;

		/* the bucket itself: no prefix in the path */
		udos__s3_req_init(&r, "GET", "");
		qenc(etok, sizeof(etok), token);
		snprintf(r.query, sizeof(r.query), "%s%s%slist-type=2&prefix=%s",
			 *token ? "continuation-token=" : "", *token ? etok : "",
			 *token ? "&" : "", epfx);
		r.at_bucket = true; /* the prefix goes in the query */
		rc = udos__s3_do(s, &r);
		if (rc == 0 && r.status != 200)
			rc = udos__s3_status_err(s, &r);
		if (rc < 0)
			break;
		if (!out->date)
			out->date = r.date;
		xml = strndup((const char *)r.resp.data, r.resp.len);
		if (!xml) {
			rc = udos__err(-ENOMEM, "out of memory");
			break;
		}
		pos = xml;
		for (;;) {
			const char *c = strstr(pos, "<Contents>");
			const char *end = c ? strstr(c, "</Contents>") : NULL;
			const char *p2 = c;
			if (!c || !end)
				break;
			pos = c;
			when[0] = 0;
			if (!udos__xml_next(key, sizeof(key), &pos, "Key") ||
			    !udos__xml_next(size, sizeof(size), &pos,
					    "Size"))
				break;
			/* LastModified may come before or after Key */
			if (!udos__xml_next(when, sizeof(when), &p2,
					    "LastModified") || p2 > end + 11)
				when[0] = 0;
			if (pos < end + 11)
				pos = end + 11;
			if (strlen(key) >= plen &&
			    (rc = list_add(out, key + plen,
					   strtoull(size, NULL, 10),
					   udos__s3_parse_time(when))) < 0)
				break;
		}
		pos = xml;
		udos__xml_next(trunc, sizeof(trunc), &pos, "IsTruncated");
		pos = xml;
		token[0] = 0;
		udos__xml_next(token, sizeof(token), &pos,
			       "NextContinuationToken");
		free(xml);
		udos__s3_req_release(&r);
		if (rc < 0 || strcmp(trunc, "true") || !*token)
			break;
	}
	udos__s3_req_release(&r);
	if (rc < 0)
		udos__s3_list_release(out);
	return rc;
}

void udos__s3_list_release(udos__s3_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void sha256_hex(char out[65], const void *data, size_t len)
{
	udos_oid o;
	udos_oid_hash_as(&o, UDOS_HASH_SHA256, data, len);
	udos_oid_fmt(out, &o);
}

static int abort_upload(udos__s3 *s, const char *key, const char *id)
{
	char eid[700];
	udos__s3_req r;
	int rc;

	udos__s3_req_init(&r, "DELETE", key);
	qenc(eid, sizeof(eid), id);
	snprintf(r.query, sizeof(r.query), "uploadId=%s", eid);
	rc = udos__s3_do(s, &r);
	if (rc == 0 && r.status / 100 != 2 && r.status != 404)
		rc = udos__s3_status_err(s, &r);
	udos__s3_req_release(&r);
	return rc;
}

struct part {
	udos__s3_req req;
	char sha[65];
};

int udos__s3_upload_fd(udos__s3 *s, const char *key, int fd, uint64_t off,
		       uint64_t len, uint64_t part_size, unsigned parallel)
{
	char upload_id[600] = "", eid[700], *xml = NULL;
	struct part *parts = NULL;
	udos__s3_req **rp = NULL;
	udos_buf body = UDOS_BUF_INIT;
	udos__s3_req r;
	size_t np, i;
	const char *pos;
	int rc;

	if (len <= part_size) {
		char sha[65];
		rc = udos__sha256_fd(sha, fd, off, len);
		if (rc < 0)
			return rc;
		udos__s3_req_init(&r, "PUT", key);
		r.body_fd = fd;
		r.body_off = off;
		r.body_len = len;
		r.body_sha256 = sha;
		rc = udos__s3_do(s, &r);
		if (rc == 0 && r.status != 200)
			rc = udos__s3_status_err(s, &r);
		udos__s3_req_release(&r);
		return rc;
	}
	udos__s3_req_init(&r, "POST", key);
	snprintf(r.query, sizeof(r.query), "uploads=");
	r.body_sha256 = UDOS__EMPTY_SHA256;
	rc = udos__s3_do(s, &r);
	if (rc == 0 && r.status != 200)
		rc = udos__s3_status_err(s, &r);
	if (rc == 0) {
		xml = strndup((const char *)r.resp.data, r.resp.len);
		pos = xml;
		if (!xml || !udos__xml_next(upload_id, sizeof(upload_id),
					    &pos, "UploadId"))
			rc = udos__err(-EIO, "POST %s/%s?uploads: no UploadId",
				       udos__s3_url(s), key);
		free(xml);
	}
	udos__s3_req_release(&r);
	if (rc < 0)
		return rc;
	qenc(eid, sizeof(eid), upload_id);
	np = (size_t)((len + part_size - 1) / part_size);
	parts = udos__calloc(np, sizeof(*parts));
	rp = udos__calloc(np, sizeof(*rp));
	if (!parts || !rp) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < np && rc == 0; i++) {
		struct part *p = &parts[i];
		uint64_t o = off + i * part_size;
		uint64_t l = len - i * part_size < part_size ? len - i * part_size
							      : part_size;
		udos__s3_req_init(&p->req, "PUT", key);
		snprintf(p->req.query, sizeof(p->req.query),
			 "partNumber=%zu&uploadId=%s", i + 1, eid);
		rc = udos__sha256_fd(p->sha, fd, o, l);
		p->req.body_fd = fd;
		p->req.body_off = o;
		p->req.body_len = l;
		p->req.body_sha256 = p->sha;
		rp[i] = &p->req;
	}
	if (rc == 0)
		rc = udos__s3_run(s, rp, np, parallel);
	for (i = 0; rc == 0 && i < np; i++)
		if (parts[i].req.status != 200 || !parts[i].req.etag[0])
			rc = udos__s3_status_err(s, &parts[i].req);
	if (rc < 0)
		goto fail;
	{
		char line[256];
		rc = udos_buf_append(&body, "<CompleteMultipartUpload>", 25);
		for (i = 0; rc == 0 && i < np; i++) {
			int k = snprintf(line, sizeof(line),
					 "<Part><PartNumber>%zu</PartNumber>"
					 "<ETag>%s</ETag></Part>",
					 i + 1, parts[i].req.etag);
			rc = udos_buf_append(&body, line, (size_t)k);
		}
		if (rc == 0)
			rc = udos_buf_append(&body,
					     "</CompleteMultipartUpload>", 26);
		if (rc < 0) {
			rc = udos__err(rc, "out of memory");
			goto fail;
		}
	}
	{
		char sha[65];
		sha256_hex(sha, body.data, body.len);
		udos__s3_req_init(&r, "POST", key);
		snprintf(r.query, sizeof(r.query), "uploadId=%s", eid);
		r.body = body.data;
		r.body_len = body.len;
		r.body_sha256 = sha;
		rc = udos__s3_do(s, &r);
		/* CompleteMultipartUpload may answer 200 with an error body */
		if (rc == 0 && (r.status != 200 ||
				memmem(r.resp.data, r.resp.len, "<Error>", 7)))
			rc = udos__s3_status_err(s, &r);
		udos__s3_req_release(&r);
	}
fail:
	if (rc < 0 && *upload_id) {
		char keep[3072];
		snprintf(keep, sizeof(keep), "%s", udos_error_detail());
		abort_upload(s, key, upload_id);
		udos__err(rc, "%s", keep);
	}
	for (i = 0; parts && i < np; i++)
		udos__s3_req_release(&parts[i].req);
	free(parts);
	free(rp);
	udos_buf_release(&body);
	return rc;
}

int udos__s3_sweep_uploads(udos__s3 *s, const char *under, int64_t before,
			   bool dry_run, size_t *n_out)
{
	char pfx[UDOS__S3_MAX_KEY], epfx[UDOS__S3_MAX_KEY], *xml = NULL;
	size_t plen = *udos__s3_prefix(s) ? strlen(udos__s3_prefix(s)) + 1 : 0;
	size_t n = 0;
	udos__s3_req r;
	const char *pos;
	int rc;

	full_key(pfx, sizeof(pfx), s, under);
	qenc(epfx, sizeof(epfx), pfx);
	udos__s3_req_init(&r, "GET", "");
	snprintf(r.query, sizeof(r.query), "prefix=%s&uploads=", epfx);
	r.at_bucket = true;
	rc = udos__s3_do(s, &r);
	if (rc == 0 && r.status != 200)
		rc = udos__s3_status_err(s, &r);
	if (rc == 0) {
		xml = strndup((const char *)r.resp.data, r.resp.len);
		if (!xml)
			rc = udos__err(-ENOMEM, "out of memory");
	}
	pos = xml;
	while (rc == 0) {
		char key[UDOS__S3_MAX_KEY], id[600], when[64] = "";
		const char *u = strstr(pos, "<Upload>"), *p2 = u, *end;
		int64_t t;
		if (!u)
			break;
		end = strstr(u, "</Upload>");
		pos = u;
		if (!end || !udos__xml_next(key, sizeof(key), &pos, "Key") ||
		    !udos__xml_next(id, sizeof(id), &pos, "UploadId"))
			break;
		if (!udos__xml_next(when, sizeof(when), &p2, "Initiated") ||
		    p2 > end + 9)
			when[0] = 0;
		if (pos < end + 9)
			pos = end + 9;
		t = udos__s3_parse_time(when);
		/* an upload of unknown age is swept only when all are */
		if (strlen(key) < plen ||
		    (before != INT64_MAX && (!t || t >= before)))
			continue;
		rc = dry_run ? 0 : abort_upload(s, key + plen, id);
		n += rc == 0;
	}
	free(xml);
	udos__s3_req_release(&r);
	if (n_out)
		*n_out = n;
	return rc;
}

/* ---- DeleteObjects ------------------------------------------------------ */

#define DEL_BATCH 1000

static void md5_b64(char out[32], const void *data, size_t len)
{
	unsigned char md[16];
	unsigned int ml = 0;

	EVP_Digest(data, len, md, &ml, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, (int)ml);
}

/* the <Delete> body of keys[0..n) */
static int delete_body(udos_buf *b, const udos__s3 *s, char *const *keys,
		       size_t n)
{
	int rc = udos_buf_append(b, "<Delete><Quiet>true</Quiet>", 27);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		char full[UDOS__S3_MAX_KEY];
		full_key(full, sizeof(full), s, keys[i]);
		rc = udos_buf_append(b, "<Object><Key>", 13);
		for (const char *c = full; rc == 0 && *c; c++) {
			if (*c == '&')
				rc = udos_buf_append(b, "&amp;", 5);
			else if (*c == '<')
				rc = udos_buf_append(b, "&lt;", 4);
			else if (*c == '>')
				rc = udos_buf_append(b, "&gt;", 4);
			else
				rc = udos_buf_append(b, c, 1);
		}
		if (rc == 0)
			rc = udos_buf_append(b, "</Key></Object>", 15);
	}
	if (rc == 0)
		rc = udos_buf_append(b, "</Delete>", 9);
	return rc < 0 ? udos__err(rc, "out of memory") : 0;
}

struct delcall {
	udos__s3_req req;
	udos_buf body;
	char sha[65], md5[32];
};

int udos__s3_delete_keys(udos__s3 *s, char *const *keys, size_t n,
			 unsigned parallel)
{
	size_t nc = (n + DEL_BATCH - 1) / DEL_BATCH;
	struct delcall *c = udos__calloc(nc ? nc : 1, sizeof(*c));
	udos__s3_req **rv = udos__calloc(nc ? nc : 1, sizeof(*rv));
	int rc = 0;

	if (!c || !rv) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nc && rc == 0; i++) {
		size_t k0 = i * DEL_BATCH;
		size_t k = n - k0 < DEL_BATCH ? n - k0 : DEL_BATCH;
		rc = delete_body(&c[i].body, s, keys + k0, k);
		if (rc < 0)
			break;
		sha256_hex(c[i].sha, c[i].body.data, c[i].body.len);
		md5_b64(c[i].md5, c[i].body.data, c[i].body.len);
		udos__s3_req_init(&c[i].req, "POST", "");
		c[i].req.at_bucket = true;
		snprintf(c[i].req.query, sizeof(c[i].req.query), "delete=");
		c[i].req.body = c[i].body.data;
		c[i].req.body_len = c[i].body.len;
		c[i].req.body_sha256 = c[i].sha;
		c[i].req.content_md5 = c[i].md5;
		rv[i] = &c[i].req;
	}
	if (rc == 0)
		rc = udos__s3_run(s, rv, nc, parallel ? parallel : 4);
	for (size_t i = 0; rc == 0 && i < nc; i++) {
		udos__s3_req *r = &c[i].req;
		char *xml;
		const char *pos;
		if (r->status != 200) {
			rc = udos__s3_status_err(s, r);
			break;
		}
		/* Quiet: only the keys that failed come back, as <Error> */
		xml = strndup((const char *)r->resp.data, r->resp.len);
		if (!xml) {
			rc = udos__err(-ENOMEM, "out of memory");
			break;
		}
		pos = strstr(xml, "<Error>");
		if (pos) {
			char key[UDOS__S3_MAX_KEY] = "", code[64] = "";
			const char *p2 = pos;
			udos__xml_next(key, sizeof(key), &p2, "Key");
			p2 = pos;
			udos__xml_next(code, sizeof(code), &p2, "Code");
			rc = udos__err(-EIO, "DELETE %s/%s: %s (DeleteObjects)",
				       udos__s3_url(s), key, code);
		}
		free(xml);
	}
out:
	for (size_t i = 0; c && i < nc; i++) {
		udos__s3_req_release(&c[i].req);
		udos_buf_release(&c[i].body);
	}
	free(c);
	free(rv);
	return rc;
}
