/* core/s3.h - a small S3 client (libcurl, SigV4) for the remote backend:
 * requests run in parallel on one curl multi handle, each retried with
 * backoff on throttling, server errors, cut bodies, stalls and lost
 * connections. Internal to core/ (no public type shows curl). */
#ifndef UDOS_S3_H
#define UDOS_S3_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

typedef struct udos__s3 udos__s3;

/* SHA-256 of no bytes: x-amz-content-sha256 of a request without a body */
#define UDOS__EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Where and how to reach a bucket: endpoint "http(s)://host[:port]",
 * bucket, key prefix (may be empty, no leading or trailing '/'), region,
 * CA bundle for https (NULL or "": $AWS_CA_BUNDLE, else the system's). */
typedef struct udos__s3_conf {
	const char *endpoint;
	const char *bucket;
	const char *prefix;
	const char *region;
	const char *ca_bundle;
} udos__s3_conf;

/*
 * Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN (sent, and signed, as x-amz-security-token), else from the [default] (or $AWS_PROFILE) section of
 * ~/.aws/credentials (or $AWS_SHARED_CREDENTIALS_FILE). -EACCES with a
 * detail when none are found. Tuning from the environment (tests):
 * UDOS_S3_TRIES (attempts per request, default 6), UDOS_S3_STALL (seconds
 * without a byte before a transfer is cut, default 30), UDOS_S3_BACKOFF_MS
 * (first backoff, default 200, doubled each time).
 */
int udos__s3_new(udos__s3 **out, const udos__s3_conf *conf);
void udos__s3_free(udos__s3 *s);
/* requests sent (each attempt counts), for status and tests */
uint64_t udos__s3_requests(const udos__s3 *s);
/* "s3://bucket/prefix" for messages */
const char *udos__s3_url(const udos__s3 *s);
/* the key prefix ("" for none) */
const char *udos__s3_prefix(const udos__s3 *s);

enum { UDOS__S3_MAX_KEY = 1024, UDOS__S3_MAX_QUERY = 4096 };

typedef struct udos__s3_req {
	const char *method;            /* GET PUT HEAD POST DELETE */
	char key[UDOS__S3_MAX_KEY];    /* under the prefix; "" = the bucket */
	char query[UDOS__S3_MAX_QUERY];  /* sorted, encoded: "a=1&b=2" or "" */
	bool at_bucket;                /* the bucket's URL: no key prefix */
	/* request body: from memory, or body_len bytes of body_fd at
	 * body_off; body_sha256 is its hex SHA-256 (sent as
	 * x-amz-content-sha256, so that the server checks it), NULL for
	 * UNSIGNED-PAYLOAD */
	const uint8_t *body;
	int body_fd;
	uint64_t body_off, body_len;
	const char *body_sha256;
	bool if_none_match;            /* If-None-Match: * (create only) */
	const char *content_md5;       /* Content-MD5 (base64), or NULL */
	/* GET: range [range_off, range_off + range_len), 0 = whole object;
	 * into out_fd at out_off, else into resp (capped at resp_max) */
	uint64_t range_off, range_len;
	int out_fd;
	uint64_t out_off;
	size_t resp_max;
	/* results */
	udos_buf resp;
	long status;                   /* HTTP status of the last attempt */
	char etag[128];
	uint64_t length;               /* Content-Length of a HEAD or GET */
	int64_t mtime;                 /* Last-Modified, unix s (0: none) */
	int64_t date;                  /* the server's Date, unix s (0: none) */
	int rc;                        /* 0 or negative (detail in err) */
	char err[3072];
	/* internal */
	void *easy, *hdrs;
	uint64_t pos;                  /* body bytes sent / received */
	int tries;
	uint64_t not_before_ms;
	char cerr[256];                /* curl's message (CURL_ERROR_SIZE) */
} udos__s3_req;

/* A request with every field at its empty value (fds -1). */
void udos__s3_req_init(udos__s3_req *r, const char *method, const char *key);
void udos__s3_req_release(udos__s3_req *r);

/*
 * Run n requests, at most `parallel` at a time, each retried on 429, 5xx,
 * a connection failure, a body shorter than announced or a stall. Returns
 * 0 when every request got an answer (its status in r->status: callers
 * judge 404 or 412), or the first request's error otherwise (detail set
 * to its message). A 2xx GET answer is checked to be exactly the range
 * asked.
 */
int udos__s3_run(udos__s3 *s, udos__s3_req **reqs, size_t n,
		 unsigned parallel);
/* One request; the same rules. */
int udos__s3_do(udos__s3 *s, udos__s3_req *r);
/* An error for a request whose status the caller does not accept. */
int udos__s3_status_err(udos__s3 *s, const udos__s3_req *r);

/* A listing: keys (relative to the prefix), sizes, LastModified, and the
 * server's clock (Date of its first answer) to judge ages by. */
typedef struct udos__s3_obj {
	char *key;
	uint64_t size;
	int64_t mtime; /* unix seconds, 0 when the listing lacks it */
} udos__s3_obj;
typedef struct udos__s3_list {
	udos__s3_obj *v;
	size_t n, cap;
	int64_t date;  /* unix seconds, 0 when the server sent no Date */
} udos__s3_list;
/* every object whose key starts with `under` (relative to the prefix) */
int udos__s3_list_objects(udos__s3_list *out, udos__s3 *s, const char *under);
void udos__s3_list_release(udos__s3_list *l);

/*
 * Upload len bytes of fd at off as `key`, by multipart in parts of
 * part_size run `parallel` at a time (one PUT when it fits in one part),
 * each part with its SHA-256 checked by the server. A failed upload is
 * aborted. Objects appear whole or not at all.
 */
int udos__s3_upload_fd(udos__s3 *s, const char *key, int fd, uint64_t off,
		       uint64_t len, uint64_t part_size, unsigned parallel);
/* Abort every incomplete multipart upload under `under` initiated before
 * `before` (unix seconds; INT64_MAX: all); *n_out counts them (may be
 * NULL). With `dry_run`, only count. */
int udos__s3_sweep_uploads(udos__s3 *s, const char *under, int64_t before,
			   bool dry_run, size_t *n_out);

/* Delete n keys (relative to the prefix) by DeleteObjects, 1000 a call,
 * `parallel` calls at a time; a key already gone counts as deleted.
 * Fails naming the first key the server refused. */
int udos__s3_delete_keys(udos__s3 *s, char *const *keys, size_t n,
			 unsigned parallel);

/* "2026-12-03T10:08:34.000Z" (S3's ISO 8601) as unix seconds, 0 if not */
int64_t udos__s3_parse_time(const char *iso);

/* The text between <tag> and </tag> from *pos on (advanced past it), or
 * NULL. Written into out (cap bytes, entities &amp; &lt; &gt; &quot;
 * &apos; decoded). */
const char *udos__xml_next(char *out, size_t cap, const char **pos,
			   const char *tag);

#endif
