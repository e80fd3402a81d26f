/* remote_dels.c - deletion marks on the remote: a push publishes the
 * writer's marks as one content-addressed object, deletions/<sha256>,
 * that the manifest names; clone and pull apply them (docs/FORMAT.md
 * "Remote layout", "Deletion marks"). */
#include "remote_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 20000
/* 2^26 ids: a 2 GiB object, past what a clone is asked to hold */
#define MAX_DELS ((uint64_t)1 << 26)

struct collect {
	udos_store *st;
	udos_buf *b;
	uint64_t n;
};

/* a mark whose id is live again (added back since) is not a deletion */
static int collect_fn(void *ctx, const udos_oid *oid)
{
	struct collect *c = ctx;
	udos__rec l;
	int rc = udos__index_get(&l, c->st->ix, oid);

	if (rc == 0)
		return 0;
	if (rc != UDOS_ENOTFOUND)
		return rc;
	c->n++;
	rc = udos_buf_append(c->b, oid->id, 32);
	return rc < 0 ? udos__err(rc, "out of memory") : 0;
}

/* The deletions object of st (writer lock held): header, then the marked
 * ids in ascending order (the index's key order). */
static int collect(udos_buf *out, uint64_t *n, udos_store *st)
{
	struct collect c = { st, out, 0 };
	uint8_t hdr[UDOS__DELS_HDR] = { 0 };
	int rc;

	memcpy(hdr, UDOS__DELS_MAGIC, 8);
	udos__put_le32(hdr + 8, 1);
	rc = udos_buf_append(out, hdr, sizeof(hdr));
	if (rc < 0)
		return udos__err(rc, "out of memory");
	pthread_rwlock_rdlock(&st->ixlock);
	rc = udos__index_foreach_deleted(st->ix, collect_fn, &c);
	pthread_rwlock_unlock(&st->ixlock);
	*n = c.n;
	return rc;
}

int udos__dels_publish(udos__manifest *m, udos__s3 *s, udos_store *st,
		       const udos__manifest *l, uint64_t part_size,
		       unsigned parallel)
{
	udos_buf b = UDOS_BUF_INIT;
	char tmp[96], key[UDOS__S3_MAX_KEY];
	udos__s3_req h;
	udos_oid o;
	uint64_t n = 0;
	int fd = -1, rc;

	udos__s3_req_init(&h, "HEAD", "");
	m->dels = 0;
	m->dels_sha[0] = 0;
	rc = collect(&b, &n, st);
	if (rc < 0 || !n)
		goto out;
	m->dels = n;
	udos_oid_hash_as(&o, UDOS_HASH_SHA256, b.data, b.len);
	udos_oid_fmt(m->dels_sha, &o);
	if (l->dels && !strcmp(l->dels_sha, m->dels_sha))
		goto out; /* published already, named by the newest */
	udos__manifest_dels_key(h.key, sizeof(h.key), m);
	rc = udos__s3_do(s, &h);
	if (rc == 0 && h.status != 200 && h.status != 404)
		rc = udos__s3_status_err(s, &h);
	if (rc < 0 || udos__remote_resumable(&h, b.len))
		goto out;
	snprintf(tmp, sizeof(tmp), "sandbox/%ld-push-deletions",
		 (long)getpid());
	fd = openat(st->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0) {
		rc = udos__err(-errno, "cannot create '%s/%s'", st->path, tmp);
		goto out;
	}
	unlinkat(st->dirfd, tmp, 0);
	rc = udos__pwrite_all(fd, b.data, b.len, 0);
	if (rc < 0) {
		rc = udos__err(rc, "cannot write '%s/%s'", st->path, tmp);
		goto out;
	}
	snprintf(key, sizeof(key), "%s", h.key);
	rc = udos__s3_upload_fd(s, key, fd, 0, b.len, part_size, parallel);
out:
	if (fd >= 0)
		close(fd);
	udos__s3_req_release(&h);
	udos_buf_release(&b);
	return rc;
}

/* ---- clone side ---------------------------------------------------------- */

static int by_id(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

struct unmark {
	const uint8_t *ids;
	uint64_t n;
	udos__batch *b;
};

static int unmark_fn(void *ctx, const udos_oid *oid)
{
	struct unmark *u = ctx;

	if (!u->n || !bsearch(oid->id, u->ids, u->n, 32, by_id))
		udos__batch_mark_deleted(u->b, oid, false);
	return 0;
}

/* GET deletions/<sha> of m, checked against its size and SHA-256 */
static int fetch(udos_buf *out, udos__s3 *s, const udos__manifest *m)
{
	uint64_t size = UDOS__DELS_HDR + 32 * m->dels;
	udos__s3_req r;
	udos_oid o;
	char sha[65];
	int rc;

	if (m->dels > MAX_DELS)
		return udos__err(UDOS_ECORRUPT, "manifest generation %" PRIu64
				 " names %" PRIu64 " deletion marks, more than "
				 "%" PRIu64, m->generation, m->dels, MAX_DELS);
	udos__s3_req_init(&r, "GET", "");
	udos__manifest_dels_key(r.key, sizeof(r.key), m);
	r.resp_max = (size_t)size;
	rc = udos__s3_do(s, &r);
	if (rc == 0 && r.status != 200)
		rc = udos__s3_status_err(s, &r);
	if (rc == 0) {
		udos_oid_hash_as(&o, UDOS_HASH_SHA256, r.resp.data,
				 r.resp.len);
		udos_oid_fmt(sha, &o);
		if (r.resp.len != size || strcmp(sha, m->dels_sha) ||
		    memcmp(r.resp.data, UDOS__DELS_MAGIC, 8) ||
		    udos__get_le32(r.resp.data + 8) != 1)
			rc = udos__err(UDOS_ECORRUPT, "'%s/%s' does not match "
				       "its manifest entry (size, SHA-256 or "
				       "header)", udos__s3_url(s), r.key);
	}
	if (rc == 0) {
		*out = r.resp;
		memset(&r.resp, 0, sizeof(r.resp));
	}
	udos__s3_req_release(&r);
	return rc;
}

int udos__dels_apply(uint64_t *applied, udos__s3 *s, udos_store *st,
		     const udos__manifest *m)
{
	udos_buf b = UDOS_BUF_INIT;
	udos__batch *wb = udos__batch_new();
	struct unmark u = { NULL, 0, wb };
	int rc = 0;

	*applied = 0;
	if (!wb)
		return udos__err(-ENOMEM, "out of memory");
	if (m->dels) {
		rc = fetch(&b, s, m);
		u.ids = b.data + UDOS__DELS_HDR;
		u.n = m->dels;
	}
	for (uint64_t i = 0; rc == 0 && i < u.n; i++) {
		udos_oid o;
		memcpy(o.id, u.ids + 32 * i, 32);
		if (i && memcmp(u.ids + 32 * (i - 1), o.id, 32) >= 0) {
			rc = udos__err(UDOS_ECORRUPT, "deletion marks of "
				       "manifest generation %" PRIu64 " are "
				       "not in ascending order",
				       m->generation);
			break;
		}
		udos__batch_del(wb, &o);
		udos__batch_mark_deleted(wb, &o, true);
		(*applied)++;
		if (udos__batch_count(wb) >= BATCH) {
			rc = udos__store_index_write(st, wb, false);
			udos__batch_clear(wb);
		}
	}
	if (rc == 0)
		rc = udos__store_index_write(st, wb, true);
	udos__batch_clear(wb);
	/* marks of an older generation that this one no longer carries */
	if (rc == 0) {
		pthread_rwlock_rdlock(&st->ixlock);
		rc = udos__index_foreach_deleted(st->ix, unmark_fn, &u);
		pthread_rwlock_unlock(&st->ixlock);
	}
	if (rc == 0)
		rc = udos__store_index_write(st, wb, true);
	udos__batch_free(wb);
	udos_buf_release(&b);
	return rc;
}

bool udos__remote_resumable(const udos__s3_req *h, uint64_t size)
{
	int64_t now = h->date ? h->date : (int64_t)time(NULL);

	/* an old unlisted object may be going away under a concurrent gc */
	return h->status == 200 && h->length == size &&
	       (!h->mtime || now - h->mtime < UDOS__RESUME_MAX_S);
}
