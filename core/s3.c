/* s3.c - the S3 client of the remote backend: SigV4 by libcurl
 * (CURLOPT_AWS_SIGV4), requests run in parallel on one multi handle, each
 * retried with exponential backoff. curl 7.88 signs the query string as
 * given (callers pass it sorted and encoded) and does not add
 * x-amz-content-sha256: every request carries it, the body's SHA-256
 * where there is a body (the server then checks what it received). */
#include "s3.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>


struct udos__s3 {
	char *endpoint, *bucket, *prefix, *region;
	char *access, *secret, *token;
	char *cainfo; /* CA bundle for https, NULL: the system's */
	char sigv4[96];
	char url[1200];
	CURLM *multi;
	int tries;
	long stall_s;
	long backoff_ms;
	_Atomic uint64_t requests;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static long env_long(const char *name, long dflt, long lo, long hi)
{
	const char *v = getenv(name);
	char *end;
	long x;

	if (!v || !*v)
		return dflt;
	x = strtol(v, &end, 10);
	return (*end || x < lo || x > hi) ? dflt : x;
}

static void trim(char *s)
{
	size_t n = strlen(s);
	char *p = s;

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	while (isspace((unsigned char)*p))
		p++;
	memmove(s, p, strlen(p) + 1);
}

/* [profile] section of an AWS credentials file */
static void creds_from_file(udos__s3 *s)
{
	const char *f = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *prof = getenv("AWS_PROFILE");
	const char *home = getenv("HOME");
	char path[1024], line[1024], want[128];
	bool in = false;
	FILE *fp;

	if (!f) {
		if (!home)
			return;
		snprintf(path, sizeof(path), "%s/.aws/credentials", home);
		f = path;
	}
	snprintf(want, sizeof(want), "[%s]", prof && *prof ? prof : "default");
	fp = fopen(f, "re");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		char *eq;
		trim(line);
		if (line[0] == '[') {
			in = !strcmp(line, want);
			continue;
		}
		eq = strchr(line, '=');
		if (!in || !eq)
			continue;
		*eq = 0;
		trim(line);
		trim(eq + 1);
		if (!strcmp(line, "aws_access_key_id") && !s->access)
			s->access = strdup(eq + 1);
		else if (!strcmp(line, "aws_secret_access_key") && !s->secret)
			s->secret = strdup(eq + 1);
		else if (!strcmp(line, "aws_session_token") && !s->token)
			s->token = strdup(eq + 1);
	}
	fclose(fp);
}

static char *dup_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? strdup(v) : NULL;
}

int udos__s3_new(udos__s3 **out, const udos__s3_conf *c)
{
	udos__s3 *s;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	s = udos__calloc(1, sizeof(*s));
	if (!s)
		return udos__err(-ENOMEM, "out of memory");
	s->endpoint = strdup(c->endpoint);
	s->bucket = strdup(c->bucket);
	s->prefix = strdup(c->prefix ? c->prefix : "");
	s->region = strdup(c->region && *c->region ? c->region : "us-east-1");
	s->access = dup_env("AWS_ACCESS_KEY_ID");
	s->secret = dup_env("AWS_SECRET_ACCESS_KEY");
	s->token = dup_env("AWS_SESSION_TOKEN");
	/* the remote's own setting, then the variable (often set machine
	 * wide to the system's bundle), then curl's default */
	if (c->ca_bundle && *c->ca_bundle)
		s->cainfo = strdup(c->ca_bundle);
	else
		s->cainfo = dup_env("AWS_CA_BUNDLE");
	if (!s->access || !s->secret) {
		free(s->access);
		free(s->secret);
		free(s->token);
		s->access = s->secret = s->token = NULL;
		creds_from_file(s);
	}
	snprintf(s->url, sizeof(s->url), "s3://%s%s%s", c->bucket,
		 *s->prefix ? "/" : "", s->prefix);
	if (!s->endpoint || !s->bucket || !s->prefix || !s->region) {
		udos__s3_free(s);
		return udos__err(-ENOMEM, "out of memory");
	}
	if (!s->access || !s->secret) {
		udos__s3_free(s);
		return udos__err(-EACCES,
				 "no credentials for '%s': set "
				 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
				 "or write ~/.aws/credentials",
				 c->endpoint);
	}
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->region);
	s->multi = curl_multi_init();
	if (!s->multi) {
		udos__s3_free(s);
		return udos__err(-ENOMEM, "out of memory");
	}
	s->tries = (int)env_long("UDOS_S3_TRIES", 6, 1, 100);
	s->stall_s = env_long("UDOS_S3_STALL", 30, 1, 3600);
	s->backoff_ms = env_long("UDOS_S3_BACKOFF_MS", 200, 1, 60000);
	*out = s;
	return 0;
}

void udos__s3_free(udos__s3 *s)
{
	if (!s)
		return;
	if (s->multi)
		curl_multi_cleanup(s->multi);
	free(s->endpoint);
	free(s->bucket);
	free(s->prefix);
	free(s->region);
	free(s->access);
	free(s->secret);
	free(s->token);
	free(s->cainfo);
	free(s);
}

uint64_t udos__s3_requests(const udos__s3 *s)
{
	return atomic_load(&s->requests);
}

const char *udos__s3_url(const udos__s3 *s)
{
	return s->url;
}

const char *udos__s3_prefix(const udos__s3 *s)
{
	return s->prefix;
}

void udos__s3_req_init(udos__s3_req *r, const char *method, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	snprintf(r->key, sizeof(r->key), "%s", key ? key : "");
	r->body_fd = -1;
	r->out_fd = -1;
	r->resp_max = 16u << 20;
}

void udos__s3_req_release(udos__s3_req *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	r->easy = r->hdrs = NULL;
	udos_buf_release(&r->resp);
}

/* percent-encode a key, '/' kept (RFC 3986 unreserved left alone) */
static void enc_append(char *out, size_t cap, const char *s)
{
	size_t n = strlen(out);

	for (; *s && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
		    c == '/')
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
	}
	out[n] = 0;
}

static void req_url(char *out, size_t cap, const udos__s3 *s,
		    const udos__s3_req *r)
{
	snprintf(out, cap, "%s/", s->endpoint);
	const char *prefix = r->at_bucket ? "" : s->prefix;

	enc_append(out, cap, s->bucket);
	strncat(out, "/", cap - strlen(out) - 1);
	if (*prefix) {
		enc_append(out, cap, prefix);
		if (*r->key)
			strncat(out, "/", cap - strlen(out) - 1);
	}
	enc_append(out, cap, r->key);
	if (*r->query) {
		strncat(out, "?", cap - strlen(out) - 1);
		strncat(out, r->query, cap - strlen(out) - 1);
	}
}

static size_t on_read(char *buf, size_t sz, size_t nm, void *ctx)
{
	udos__s3_req *r = ctx;
	size_t want = sz * nm;
	uint64_t left = r->body_len - r->pos;

	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	if (r->body) {
		memcpy(buf, r->body + r->pos, want);
	} else {
		ssize_t got = udos__pread_full(r->body_fd, buf, want,
					       r->body_off + r->pos);
		if (got != (ssize_t)want)
			return CURL_READFUNC_ABORT;
	}
	r->pos += want;
	return want;
}

static int seek_cb(void *ctx, curl_off_t off, int origin)
{
	udos__s3_req *r = ctx;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *buf, size_t sz, size_t nm, void *ctx)
{
	udos__s3_req *r = ctx;
	size_t n = sz * nm;
	long st = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
	if (r->out_fd >= 0 && st / 100 == 2) {
		if (r->range_len && r->pos + n > r->range_len)
			return 0; /* more than asked: refuse */
		if (udos__pwrite_all(r->out_fd, buf, n, r->out_off + r->pos))
			return 0;
	} else {
		if (r->resp.len + n > r->resp_max)
			return 0;
		if (udos_buf_append(&r->resp, buf, n))
			return 0;
	}
	r->pos += n;
	return n;
}

/* an HTTP date header value as unix seconds, 0 if unreadable */
static int64_t http_date(const char *v, size_t n)
{
	char text[128];
	time_t t;

	snprintf(text, sizeof(text), "%.*s", (int)n, v);
	t = curl_getdate(text, NULL);
	return t > 0 ? (int64_t)t : 0;
}

static size_t on_header(char *buf, size_t sz, size_t nm, void *ctx)
{
	udos__s3_req *r = ctx;
	size_t n = sz * nm, k;

	if (n > 5 && !strncasecmp(buf, "etag:", 5)) {
		const char *v = buf + 5;
		while (*v == ' ')
			v++;
		for (k = 0; k + 1 < sizeof(r->etag) && v + k < buf + n &&
			    v[k] != '\r' && v[k] != '\n';
		     k++)
			r->etag[k] = v[k];
		r->etag[k] = 0;
	} else if (n > 14 && !strncasecmp(buf, "last-modified:", 14)) {
		r->mtime = http_date(buf + 14, n - 14);
	} else if (n > 5 && !strncasecmp(buf, "date:", 5)) {
		r->date = http_date(buf + 5, n - 5);
	}
	return n;
}

static int add_hdr(udos__s3_req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int add_hdr(udos__s3_req *r, const char *fmt, ...)
{
	char line[300];
	struct curl_slist *l;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	l = curl_slist_append(r->hdrs, line);
	if (!l)
		return -ENOMEM;
	r->hdrs = l;
	return 0;
}

static int req_start(udos__s3 *s, udos__s3_req *r)
{
	char url[2048];
	bool upload = !strcmp(r->method, "PUT") || !strcmp(r->method, "POST");
	CURL *e;
	int rc = 0;

	udos__s3_req_release(r);
	r->pos = 0;
	r->etag[0] = 0;
	r->status = 0;
	r->mtime = r->date = 0;
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	r->easy = e;
	req_url(url, sizeof(url), s, r);
	rc |= add_hdr(r, "x-amz-content-sha256: %s",
		      upload ? (r->body_sha256 ? r->body_sha256
					       : "UNSIGNED-PAYLOAD")
			     : UDOS__EMPTY_SHA256);
	if (s->token)
		rc |= add_hdr(r, "x-amz-security-token: %s", s->token);
	if (r->if_none_match)
		rc |= add_hdr(r, "If-None-Match: *");
	if (r->content_md5)
		rc |= add_hdr(r, "Content-MD5: %s", r->content_md5);
	if (r->range_len)
		rc |= add_hdr(r, "Range: bytes=%" PRIu64 "-%" PRIu64,
			      r->range_off, r->range_off + r->range_len - 1);
	if (rc)
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(e, CURLOPT_USERNAME, s->access);
	curl_easy_setopt(e, CURLOPT_PASSWORD, s->secret);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)r->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	r->cerr[0] = 0;
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->cerr);
	if (s->cainfo)
		curl_easy_setopt(e, CURLOPT_CAINFO, s->cainfo);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, s->stall_s);
	if (upload) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)r->body_len);
		if (strcmp(r->method, "PUT"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
	atomic_fetch_add(&s->requests, 1);
	return 0;
}

/* S3's error code from an XML error body, for messages */
static void s3_code(char *out, size_t cap, const udos__s3_req *r)
{
	char *xml = NULL;
	const char *pos;

	out[0] = 0;
	if (!r->resp.len || r->out_fd >= 0)
		return;
	xml = strndup((const char *)r->resp.data, r->resp.len);
	pos = xml;
	if (xml)
		udos__xml_next(out, cap, &pos, "Code");
	free(xml);
}

/* Judge a finished attempt: 0 done, 1 retry, <0 failed for good. */
static int req_finish(udos__s3 *s, udos__s3_req *r, CURLcode cc)
{
	curl_off_t cl = -1;
	char code[64];

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	r->length = cl >= 0 ? (uint64_t)cl : 0;
	if (cc == CURLE_PEER_FAILED_VERIFICATION ||
	    cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM) {
		/* no retry makes a certificate trusted */
		snprintf(r->err, sizeof(r->err), "%s %s/%s: TLS: %s (the "
			 "server's certificate is not trusted: give its CA "
			 "with AWS_CA_BUNDLE or 'udos remote set --ca-bundle "
			 "FILE')", r->method, s->url, r->key,
			 *r->cerr ? r->cerr : curl_easy_strerror(cc));
		r->rc = -EIO;
		return -1;
	}
	if (cc != CURLE_OK) {
		snprintf(r->err, sizeof(r->err), "%s %s/%s: %s", r->method,
			 s->url, r->key, curl_easy_strerror(cc));
		r->rc = cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
		return 1;
	}
	if (r->status == 429 || r->status >= 500 || r->status == 408) {
		s3_code(code, sizeof(code), r);
		snprintf(r->err, sizeof(r->err), "%s %s/%s: HTTP %ld%s%s",
			 r->method, s->url, r->key, r->status, *code ? " " : "",
			 code);
		r->rc = -EIO;
		return 1;
	}
	if (!strcmp(r->method, "GET") && r->status / 100 == 2 &&
	    r->out_fd >= 0 && r->range_len && r->pos != r->range_len) {
		snprintf(r->err, sizeof(r->err),
			 "GET %s/%s: %" PRIu64 " bytes of %" PRIu64, s->url,
			 r->key, r->pos, r->range_len);
		r->rc = -EIO;
		return 1;
	}
	if (!strcmp(r->method, "GET") && r->range_len && r->status == 200) {
		/* a server ignoring Range: only right if it is the whole */
		if (r->range_off != 0 || r->length != r->range_len) {
			snprintf(r->err, sizeof(r->err),
				 "GET %s/%s: range not honoured", s->url,
				 r->key);
			r->rc = -EIO;
			return -1;
		}
	}
	r->rc = 0;
	r->err[0] = 0;
	return 0;
}

int udos__s3_run(udos__s3 *s, udos__s3_req **reqs, size_t n,
		 unsigned parallel)
{
	enum { WAIT, ACTIVE, DONE };
	unsigned char *state = udos__calloc(n ? n : 1, 1);
	size_t done = 0, active = 0, first_bad = SIZE_MAX;
	int rc = 0;

	if (!state)
		return udos__err(-ENOMEM, "out of memory");
	if (!parallel)
		parallel = 1;
	for (size_t i = 0; i < n; i++) {
		reqs[i]->tries = 0;
		reqs[i]->not_before_ms = 0;
		reqs[i]->rc = 0;
	}
	while (done < n) {
		uint64_t now = now_ms(), wake = UINT64_MAX;
		int running, left;
		CURLMsg *m;

		for (size_t i = 0; i < n && active < parallel; i++) {
			udos__s3_req *r = reqs[i];
			if (state[i] != WAIT)
				continue;
			if (r->not_before_ms > now) {
				if (r->not_before_ms < wake)
					wake = r->not_before_ms;
				continue;
			}
			rc = req_start(s, r);
			if (rc < 0)
				goto out;
			r->tries++;
			curl_multi_add_handle(s->multi, r->easy);
			state[i] = ACTIVE;
			active++;
		}
		if (!active) {
			if (wake != UINT64_MAX && wake > now)
				usleep((useconds_t)((wake - now) * 1000));
			continue;
		}
		curl_multi_perform(s->multi, &running);
		while ((m = curl_multi_info_read(s->multi, &left))) {
			udos__s3_req *r = NULL;
			size_t i;
			int v;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
					  (char **)&r);
			for (i = 0; i < n && reqs[i] != r; i++)
				;
			v = req_finish(s, r, m->data.result);
			curl_multi_remove_handle(s->multi, m->easy_handle);
			active--;
			if (v == 1 && r->tries < s->tries) {
				/* backoff: base * 2^(tries-1), jittered */
				uint64_t d = (uint64_t)s->backoff_ms
					     << (r->tries - 1 < 10 ? r->tries - 1
								   : 10);
				d = d / 2 + (uint64_t)rand() % (d / 2 + 1);
				r->not_before_ms = now_ms() + d;
				state[i] = WAIT;
				continue;
			}
			state[i] = DONE;
			done++;
			if (r->rc < 0 && first_bad == SIZE_MAX)
				first_bad = i;
		}
		if (active)
			curl_multi_poll(s->multi, NULL, 0, 100, NULL);
	}
	if (first_bad != SIZE_MAX) {
		udos__s3_req *r = reqs[first_bad];
		rc = udos__err(r->rc, "%s (after %d tries)", r->err, r->tries);
	}
out:
	for (size_t i = 0; i < n; i++) {
		if (state[i] == ACTIVE)
			curl_multi_remove_handle(s->multi, reqs[i]->easy);
		if (reqs[i]->easy) {
			curl_easy_cleanup(reqs[i]->easy);
			reqs[i]->easy = NULL;
		}
		curl_slist_free_all(reqs[i]->hdrs);
		reqs[i]->hdrs = NULL;
	}
	free(state);
	return rc;
}

int udos__s3_do(udos__s3 *s, udos__s3_req *r)
{
	return udos__s3_run(s, &r, 1, 1);
}

int udos__s3_status_err(udos__s3 *s, const udos__s3_req *r)
{
	char code[64];
	int err = r->status == 403 ? -EACCES
		  : r->status == 404 ? -ENOENT
				     : -EIO;

	s3_code(code, sizeof(code), r);
	return udos__err(err, "%s %s/%s: HTTP %ld%s%s", r->method, s->url,
			 r->key, r->status, *code ? " " : "", code);
}
