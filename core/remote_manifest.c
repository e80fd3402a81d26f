/* manifest.c - the remote's manifest text, remote.conf and remote.manifest
 * (docs/FORMAT.md, "Remote layout"). */
#include "remote_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void udos__mpack_key(char *out, size_t cap, const udos__mpack *p, bool rec)
{
	snprintf(out, cap, "packs/%" PRIu32 "-%s%s", p->id, p->sha,
		 rec ? ".rec" : "");
}

void udos__manifest_dels_key(char *out, size_t cap, const udos__manifest *m)
{
	snprintf(out, cap, UDOS__DELS "%s", m->dels_sha);
}

void udos__manifest_key(char *out, size_t cap, uint64_t gen)
{
	snprintf(out, cap, UDOS__MANIFESTS "%016" PRIu64, gen);
}

void udos__manifest_release(udos__manifest *m)
{
	free(m->packs);
	m->packs = NULL;
	m->n = m->cap = 0;
}

int udos__manifest_add(udos__manifest *m, const udos__mpack *p)
{
	if (m->n && m->packs[m->n - 1].id >= p->id)
		return udos__err(-EINVAL, "manifest packs out of order");
	if (m->n == m->cap) {
		size_t c = m->cap ? 2 * m->cap : 16;
		udos__mpack *v = realloc(m->packs, c * sizeof(*v));
		if (!v)
			return udos__err(-ENOMEM, "out of memory");
		m->packs = v;
		m->cap = c;
	}
	m->packs[m->n++] = *p;
	return 0;
}

const udos__mpack *udos__manifest_find(const udos__manifest *m, uint32_t id)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->packs[mid].id == id)
			return &m->packs[mid];
		if (m->packs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int udos__manifest_format(udos_buf *out, const udos__manifest *m)
{
	char line[400];
	int k, rc;

	/* version 2 only when it says more than version 1 can: readers of
	 * version 1 keep reading manifests without deletion marks */
	k = snprintf(line, sizeof(line),
		     "udos-remote %d\ngeneration %" PRIu64 "\ncontainer %s\n"
		     "hash_type %s\nloose_prefix_len %d\n"
		     "pack_size_target %" PRIu64 "\ncompression %s\n",
		     m->dels ? 2 : 1, m->generation, m->container_id,
		     m->hash_type, m->loose_prefix_len, m->pack_size_target,
		     m->compression);
	rc = udos_buf_append(out, line, (size_t)k);
	if (rc == 0 && m->dels) {
		k = snprintf(line, sizeof(line), "deletions %" PRIu64 " %s\n",
			     m->dels, m->dels_sha);
		rc = udos_buf_append(out, line, (size_t)k);
	}
	for (size_t i = 0; rc == 0 && i < m->n; i++) {
		const udos__mpack *p = &m->packs[i];
		k = snprintf(line, sizeof(line),
			     "pack %" PRIu32 " %" PRIu64 " %s %" PRIu64 " %s\n",
			     p->id, p->size, p->sha, p->rec_size, p->rec_sha);
		rc = udos_buf_append(out, line, (size_t)k);
	}
	if (rc == 0)
		rc = udos_buf_append(out, "end\n", 4);
	return rc < 0 ? udos__err(rc, "out of memory") : 0;
}

static bool is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

int udos__manifest_parse(udos__manifest *out, const char *text, size_t len,
			 const char *what)
{
	char *copy = strndup(text, len), *line, *save = NULL;
	int rc = 0, lineno = 0, version = 0;
	bool ended = false;

	memset(out, 0, sizeof(*out));
	if (!copy)
		return udos__err(-ENOMEM, "out of memory");
	for (line = strtok_r(copy, "\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		udos__mpack p = { 0 };
		char a[80], b[80];
		unsigned long long x;
		int n = 0;

		lineno++;
		if (ended) {
			rc = -1;
		} else if (lineno == 1) {
			if (sscanf(line, "udos-remote %d%n", &version, &n) != 1 ||
			    line[n])
				rc = -1;
			else if (version != 1 && version != 2)
				break;
		} else if (!strcmp(line, "end")) {
			ended = true;
		} else if (sscanf(line, "generation %llu%n", &x, &n) == 1 &&
			   !line[n]) {
			out->generation = x;
		} else if (sscanf(line, "container %36s%n", out->container_id,
				  &n) == 1 && !line[n]) {
		} else if (sscanf(line, "hash_type %15s%n", out->hash_type,
				  &n) == 1 && !line[n]) {
		} else if (sscanf(line, "loose_prefix_len %d%n",
				  &out->loose_prefix_len, &n) == 1 &&
			   !line[n]) {
		} else if (sscanf(line, "pack_size_target %llu%n", &x, &n) ==
				   1 && !line[n]) {
			out->pack_size_target = x;
		} else if (sscanf(line, "compression %31s%n", out->compression,
				  &n) == 1 && !line[n]) {
		} else if (version >= 2 && !out->dels && !out->n &&
			   sscanf(line, "deletions %llu %79s%n", &x, a, &n) ==
				   2 && !line[n] && x && is_hex64(a)) {
			out->dels = x;
			memcpy(out->dels_sha, a, 65);
		} else if (sscanf(line,
				  "pack %" SCNu32 " %" SCNu64 " %79s %" SCNu64
				  " %79s%n",
				  &p.id, &p.size, a, &p.rec_size, b, &n) == 5 &&
			   !line[n] && is_hex64(a) && is_hex64(b)) {
			memcpy(p.sha, a, 65);
			memcpy(p.rec_sha, b, 65);
			rc = udos__manifest_add(out, &p) ? -1 : 0;
		} else {
			rc = -1;
		}
	}
	free(copy);
	if (version > 2) {
		udos__manifest_release(out);
		return udos__err(UDOS_EFORMAT, "manifest '%s' has format "
				 "version %d; this udos reads 1 and 2 "
				 "(upgrade udos)", what, version);
	}
	if (rc == 0 && (!ended || !out->generation || !*out->container_id ||
			!*out->hash_type))
		rc = -1;
	if (rc < 0) {
		udos__manifest_release(out);
		return udos__err(UDOS_ECORRUPT,
				 "manifest '%s' is malformed (line %d)", what,
				 lineno);
	}
	return 0;
}

int udos__manifest_load(udos__manifest *out, udos_store *st)
{
	int fd = openat(st->dirfd, UDOS__REMOTE_MANIFEST, O_RDONLY | O_CLOEXEC);
	udos_buf b = UDOS_BUF_INIT;
	char tmp[65536];
	ssize_t n;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (fd < 0) {
		if (errno == ENOENT)
			return UDOS_ENOTFOUND;
		rc = -errno;
		return udos__err(rc, "cannot open '%s/%s': %s", st->path,
				 UDOS__REMOTE_MANIFEST, udos_strerror(rc));
	}
	b.max = UDOS__MAN_MAX;
	while ((n = udos__read_full(fd, tmp, sizeof(tmp))) > 0)
		if ((rc = udos_buf_append(&b, tmp, (size_t)n)) < 0)
			break;
	if (n < 0)
		rc = (int)n;
	close(fd);
	if (rc == 0)
		rc = udos__manifest_parse(out, (const char *)b.data, b.len,
					  UDOS__REMOTE_MANIFEST);
	else
		rc = udos__err(rc, "cannot read '%s/%s': %s", st->path,
			       UDOS__REMOTE_MANIFEST, udos_strerror(rc));
	udos_buf_release(&b);
	return rc;
}

int udos__manifest_save(udos_store *st, const udos__manifest *m)
{
	udos_buf b = UDOS_BUF_INIT;
	int rc = udos__manifest_format(&b, m);

	if (rc == 0)
		rc = udos__write_file_atomic(st->dirfd, UDOS__REMOTE_MANIFEST,
					     b.data, b.len);
	if (rc < 0)
		rc = udos__err(rc, "cannot write '%s/%s': %s", st->path,
			       UDOS__REMOTE_MANIFEST, udos_strerror(rc));
	udos_buf_release(&b);
	return rc;
}

int udos__remote_newest(uint64_t *out, udos__s3 *s)
{
	udos__s3_list l;
	int rc = udos__s3_list_objects(&l, s, UDOS__MANIFESTS);

	*out = 0;
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < l.n; i++) {
		const char *k = l.v[i].key + strlen(UDOS__MANIFESTS);
		char *end;
		unsigned long long g = strtoull(k, &end, 10);
		if (strlen(k) == 16 && !*end && g > *out)
			*out = g;
	}
	udos__s3_list_release(&l);
	return 0;
}

int udos__remote_fetch_manifest(udos__manifest *out, udos__s3 *s,
				uint64_t gen)
{
	udos__s3_req r;
	int rc;

	udos__s3_req_init(&r, "GET", "");
	udos__manifest_key(r.key, sizeof(r.key), gen);
	r.resp_max = UDOS__MAN_MAX;
	rc = udos__s3_do(s, &r);
	if (rc == 0 && r.status != 200)
		rc = udos__s3_status_err(s, &r);
	if (rc == 0)
		rc = udos__manifest_parse(out, (const char *)r.resp.data,
					  r.resp.len, r.key);
	if (rc == 0 && out->generation != gen) {
		udos__manifest_release(out);
		rc = udos__err(UDOS_ECORRUPT, "manifest '%s/%s' says "
			       "generation %" PRIu64, udos__s3_url(s), r.key,
			       out->generation);
	}
	udos__s3_req_release(&r);
	return rc;
}

/* ---- remote.conf --------------------------------------------------------- */

int udos__remote_conf_read(udos_remote_conf *out, int dirfd)
{
	int fd = openat(dirfd, UDOS__REMOTE_CONF, O_RDONLY | O_CLOEXEC);
	char text[4096], *line, *save = NULL;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return errno == ENOENT ? UDOS_ENOTFOUND
				       : udos__err(-errno, "cannot open '%s'",
						   UDOS__REMOTE_CONF);
	n = udos__read_full(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return udos__err((int)n, "cannot read '%s'", UDOS__REMOTE_CONF);
	text[n] = 0;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long x;
		if (!strncmp(line, "url ", 4))
			snprintf(out->url, sizeof(out->url), "%s", line + 4);
		else if (!strncmp(line, "endpoint ", 9))
			snprintf(out->endpoint, sizeof(out->endpoint), "%s",
				 line + 9);
		else if (!strncmp(line, "region ", 7))
			snprintf(out->region, sizeof(out->region), "%s",
				 line + 7);
		else if (sscanf(line, "cache_size %llu", &x) == 1)
			out->cache_size = x;
		else if (!strcmp(line, "clone 1"))
			out->clone = true;
		else if (!strncmp(line, "ca_bundle ", 10))
			snprintf(out->ca_bundle, sizeof(out->ca_bundle), "%s",
				 line + 10);
	}
	if (!*out->url || !*out->endpoint)
		return udos__err(UDOS_ECORRUPT, "'%s' lacks url or endpoint",
				 UDOS__REMOTE_CONF);
	return 0;
}

int udos__remote_conf_write(int dirfd, const udos_remote_conf *c)
{
	char text[2048];
	int k, rc;

	k = snprintf(text, sizeof(text),
		     "url %s\nendpoint %s\nregion %s\ncache_size %" PRIu64
		     "\n%s%s%s%s",
		     c->url, c->endpoint, *c->region ? c->region : "us-east-1",
		     c->cache_size ? c->cache_size : UDOS__DEFAULT_CACHE,
		     c->clone ? "clone 1\n" : "",
		     *c->ca_bundle ? "ca_bundle " : "", c->ca_bundle,
		     *c->ca_bundle ? "\n" : "");
	if (k < 0 || (size_t)k >= sizeof(text))
		return udos__err(-ENAMETOOLONG, "'%s' would be too long",
				 UDOS__REMOTE_CONF);
	rc = udos__write_file_atomic(dirfd, UDOS__REMOTE_CONF, text,
				     (size_t)k);
	if (rc < 0)
		return udos__err(rc, "cannot write '%s': %s",
				 UDOS__REMOTE_CONF, udos_strerror(rc));
	return 0;
}

static bool safe_chars(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-_./", *s)))
			return false;
	return true;
}

/* s3://BUCKET[/PREFIX] into bucket and prefix (no trailing '/') */
static int parse_url(char *bucket, size_t bcap, char *prefix, size_t pcap,
		     const char *url)
{
	const char *b, *slash;
	size_t n;

	if (strncmp(url, "s3://", 5) || !url[5] || !safe_chars(url + 5))
		return udos__err(-EINVAL, "malformed remote '%s' (want "
				 "s3://BUCKET/PREFIX, letters, digits and "
				 "-_./ only)", url);
	b = url + 5;
	slash = strchr(b, '/');
	n = slash ? (size_t)(slash - b) : strlen(b);
	if (!n || n >= bcap)
		return udos__err(-EINVAL, "malformed remote '%s'", url);
	memcpy(bucket, b, n);
	bucket[n] = 0;
	snprintf(prefix, pcap, "%s", slash ? slash + 1 : "");
	n = strlen(prefix);
	while (n && prefix[n - 1] == '/')
		prefix[--n] = 0;
	return 0;
}

/* the url's bucket and prefix, once url and endpoint are checked */
static int check_conf(char bucket[256], char prefix[512],
		      const udos_remote_conf *c)
{
	int rc = parse_url(bucket, 256, prefix, 512, c->url);

	if (rc == 0 && strncmp(c->endpoint, "http://", 7) &&
	    strncmp(c->endpoint, "https://", 8))
		rc = udos__err(-EINVAL, "malformed endpoint '%s' (want "
			       "http(s)://HOST[:PORT])", c->endpoint);
	if (rc == 0 && (strchr(c->ca_bundle, '\n') ||
			(*c->ca_bundle && access(c->ca_bundle, R_OK) < 0)))
		rc = udos__err(strchr(c->ca_bundle, '\n') ? -EINVAL : -errno,
			       "cannot read the CA bundle '%s': %s",
			       c->ca_bundle, strchr(c->ca_bundle, '\n')
						     ? "malformed name"
						     : udos_strerror(-errno));
	return rc;
}

int udos__remote_connect(udos__s3 **out, const udos_remote_conf *c)
{
	char bucket[256], prefix[512];
	udos__s3_conf sc;
	int rc;

	*out = NULL;
	rc = check_conf(bucket, prefix, c);
	if (rc < 0)
		return rc;
	sc.endpoint = c->endpoint;
	sc.bucket = bucket;
	sc.prefix = prefix;
	sc.region = c->region;
	sc.ca_bundle = c->ca_bundle;
	return udos__s3_new(out, &sc);
}

/* ---- public: set / get / unset ------------------------------------------ */

int udos_remote_set(udos_store *st, const udos_remote_conf *conf)
{
	udos_remote_conf old, c = *conf;
	char bucket[256], prefix[512];
	int rc;

	UDOS_ASSERT_ARG(st && conf);
	rc = check_conf(bucket, prefix, &c);
	if (rc < 0)
		return rc;
	rc = udos__remote_conf_read(&old, st->dirfd);
	if (rc == 0 && old.clone)
		return udos__err(-EPERM, "'%s' is a clone of '%s': its remote "
				 "cannot change", st->path, old.url);
	/* another remote: what this container knew of the old one is void */
	if (rc == 0 && strcmp(old.url, c.url))
		unlinkat(st->dirfd, UDOS__REMOTE_MANIFEST, 0);
	rc = udos__remote_conf_write(st->dirfd, &c);
	udos__remote_reset(st);
	return rc;
}

int udos_remote_get(udos_remote_conf *out, udos_store *st)
{
	UDOS_ASSERT_ARG(out && st);
	return udos__remote_conf_read(out, st->dirfd);
}

int udos_remote_unset(udos_store *st)
{
	udos_remote_conf c;
	int rc;

	UDOS_ASSERT_ARG(st);
	rc = udos__remote_conf_read(&c, st->dirfd);
	if (rc == UDOS_ENOTFOUND)
		return udos__err(UDOS_ENOTFOUND, "'%s' has no remote",
				 st->path);
	if (rc < 0)
		return rc;
	if (c.clone)
		return udos__err(-EPERM, "'%s' is a clone of '%s': its remote "
				 "cannot be removed", st->path, c.url);
	{
		udos__manifest m;
		rc = udos__manifest_load(&m, st);
		if (rc == 0) {
			/* evicted packs live only there: keep the remote */
			for (size_t i = 0; i < m.n; i++) {
				char rel[64];
				udos__pack_relpath(rel, sizeof(rel),
						   m.packs[i].id);
				if (faccessat(st->dirfd, rel, F_OK, 0) < 0 &&
				    errno == ENOENT) {
					udos__manifest_release(&m);
					return udos__err(
						-EBUSY,
						"pack %" PRIu32 " of '%s' is "
						"evicted: its data is only on "
						"'%s'",
						m.packs[i].id, st->path, c.url);
				}
			}
			udos__manifest_release(&m);
		}
	}
	if (unlinkat(st->dirfd, UDOS__REMOTE_CONF, 0) < 0)
		return udos__err(-errno, "cannot remove '%s/%s'", st->path,
				 UDOS__REMOTE_CONF);
	udos__remote_reset(st);
	return 0;
}

bool udos__remote_is_clone(udos_store *st)
{
	udos_remote_conf c;

	return udos__remote_conf_read(&c, st->dirfd) == 0 && c.clone;
}
