/* repack.c - rewrite the live records of packs into new packs, switch the
 * index in one batch per old pack, and only then remove the old pack. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)

struct rp {
	udos_store *st;
	udos_writer *w;
	const udos_repack_opts *opts;
	uint8_t *buf;
	udos_progress prog; /* record entries examined, of all */
	uint64_t adopted; /* intact records the index did not know */
};

/* copy the stored bytes as they are, checking them on the way */
static int copy_keep(struct rp *p, int fd, const udos__rec *rec)
{
	udos__xxh *x = udos__xxh_new();
	uint64_t at = rec->offset, left = rec->stored_len;
	bool is_new;
	int rc;

	if (!x)
		return udos__err(-ENOMEM, "out of memory");
	rc = udos__writer_begin(p->w);
	while (rc == 0 && left) {
		size_t want = left < CHUNK ? (size_t)left : CHUNK;
		ssize_t n = udos__pread_full(fd, p->buf, want, at);
		if (n < 0 || (size_t)n != want) {
			rc = udos__err(n < 0 ? (int)n : UDOS_ECORRUPT,
				       "pack shrank during repack");
			break;
		}
		udos__xxh_update(x, p->buf, want);
		rc = udos__writer_write(p->w, p->buf, want);
		at += want;
		left -= want;
	}
	if (rc == 0 && udos__xxh_digest(x) != rec->data_xxh)
		rc = udos__err(UDOS_ECORRUPT, "record at offset %" PRIu64
			       " fails its checksum; repack stopped",
			       rec->offset);
	udos__xxh_free(x);
	if (rc < 0) {
		udos__writer_abort(p->w);
		return rc;
	}
	return udos__writer_end(p->w, &rec->oid, rec->codec, rec->raw_len,
				&is_new);
}

struct rdctx {
	udos_reader *r;
};

static ssize_t reader_fn(void *ctx, void *buf, size_t len)
{
	return udos_reader_read(((struct rdctx *)ctx)->r, buf, len);
}

static int copy_recode(struct rp *p, const udos__rec *rec)
{
	struct rdctx c = { NULL };
	udos_oid got;
	bool is_new;
	int rc;

	rc = udos_reader_open(&c.r, p->st, &rec->oid, UDOS_READ_VERIFY);
	if (rc < 0)
		return rc;
	rc = udos__writer_stream(&got, &is_new, p->w, reader_fn, &c,
				 p->opts->compress, &rec->oid);
	udos_reader_close(c.r);
	return rc;
}

/*
 * A record whose id the index does not have: dropped only when the id is
 * marked deleted. An intact one that is not is kept and indexed (an index
 * that lost or hides it must not cost the object); a damaged one goes.
 */
static int keep_unknown(struct rp *p, int fd, uint64_t size,
			const udos__rec *rec)
{
	int kind, rc = udos__store_is_deleted(p->st, &rec->oid);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (udos__record_check(rec, &kind, fd, size, false,
			       p->st->hash_type) < 0)
		return 0;
	p->adopted++;
	return copy_keep(p, fd, rec);
}

static int repack_one(struct rp *p, uint32_t id)
{
	udos__packfile *pf = NULL;
	struct stat sb, psb;
	char rel[64];
	uint64_t n;
	int rfd, rc;

	udos__recs_relpath(rel, sizeof(rel), id);
	rc = udos__packfile_get(&pf, p->st, id);
	if (rc < 0)
		return rc;
	rfd = openat(p->st->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (rfd < 0 || fstat(rfd, &sb) < 0 || fstat(pf->fd, &psb) < 0) {
		rc = udos__err(-errno, "cannot open '%s/%s': %s", p->st->path,
			       rel, udos_strerror(-errno));
		goto done;
	}
	/* an evicted pack: its live records come from the remote */
	rc = udos__packfile_need(pf, 0, (uint64_t)psb.st_size);
	if (rc < 0)
		goto done;
	n = ((uint64_t)sb.st_size - UDOS_RECS_HDR_SIZE) / UDOS_REC_SIZE;
	for (uint64_t k = 0; k < n && rc == 0; k++) {
		udos__rec rec, l;

		if (udos__rec_read(&rec, rfd, k) < 0) {
			/* anything live past a damaged entry is still indexed
			 * here and validate will say so: keep the pack */
			rc = udos__err(UDOS_ECORRUPT, "'%s/%s' has a bad entry "
				       "(%" PRIu64 "); not repacked",
				       p->st->path, rel, k);
			break;
		}
		rc = udos__store_index_get(&l, p->st, &rec.oid);
		if (rc == 0 && l.pack_id == id && l.slot == k) {
			if (p->opts->compress == UDOS_COMPRESS_KEEP)
				rc = copy_keep(p, pf->fd, &rec);
			else
				rc = copy_recode(p, &rec);
		} else if (rc == UDOS_ENOTFOUND) {
			rc = keep_unknown(p, pf->fd, (uint64_t)psb.st_size,
					  &rec);
		} else if (rc == 0) {
			rc = 0; /* superseded by a later copy: dropped */
		}
		p->prog.done++;
		p->prog.bytes_done += rec.stored_len;
		if (p->opts->progress)
			p->opts->progress(p->opts->ctx, &p->prog);
	}
	/* the new locations are durable and indexed before the old pack goes */
	if (rc == 0)
		rc = udos_writer_commit(p->w);
	if (rc == 0)
		rc = udos__packfile_remove(p->st, id);
	if (rc == 0 && !p->opts->no_sync)
		udos__fsync_dir(p->st->dirfd, "packs");
done:
	if (rfd >= 0)
		close(rfd);
	udos__packfile_put(pf);
	return rc;
}

struct unmark {
	udos_store *st;
	udos__batch *b;
};

static int unmark(void *ctx, const udos_oid *oid)
{
	struct unmark *u = ctx;

	udos__batch_mark_deleted(u->b, oid, false);
	if (udos__batch_count(u->b) < 20000)
		return 0;
	/* an iterator reads its own snapshot: writing meanwhile is fine */
	int rc = udos__index_write(u->st->ix, u->b, false);
	udos__batch_clear(u->b);
	return rc;
}

static int clear_marks(udos_store *st)
{
	struct unmark u = { st, udos__batch_new() };
	int rc;

	if (!u.b)
		return udos__err(-ENOMEM, "out of memory");
	pthread_rwlock_rdlock(&st->ixlock);
	rc = udos__index_foreach_deleted(st->ix, unmark, &u);
	if (rc == 0)
		rc = udos__index_write(st->ix, u.b, true);
	pthread_rwlock_unlock(&st->ixlock);
	udos__batch_free(u.b);
	return rc;
}

/* The record entries and pack bytes of packs [first, last], for the
 * progress totals. */
static void count_entries(udos_progress *out, udos_store *st, int64_t first,
			  int64_t last)
{
	for (int64_t id = first; id <= last; id++) {
		char rel[64];
		struct stat sb;

		udos__recs_relpath(rel, sizeof(rel), (uint32_t)id);
		if (fstatat(st->dirfd, rel, &sb, 0) == 0 &&
		    sb.st_size > UDOS_RECS_HDR_SIZE)
			out->total += ((uint64_t)sb.st_size -
				       UDOS_RECS_HDR_SIZE) / UDOS_REC_SIZE;
		udos__pack_relpath(rel, sizeof(rel), (uint32_t)id);
		if (fstatat(st->dirfd, rel, &sb, 0) == 0)
			out->bytes_total += (uint64_t)sb.st_size;
	}
}

static int repack_range(udos_store *st, int64_t only,
			const udos_repack_opts *opts)
{
	static const udos_repack_opts defaults = UDOS_REPACK_OPTS_INIT;
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	struct rp p = { 0 };
	int64_t first_new, max;
	int rc;

	if (!opts)
		opts = &defaults;
	p.st = st;
	p.opts = opts;
	wo.no_sync = opts->no_sync;
	wo.compress = opts->compress;
	/* commits are placed by repack_one, never in the middle of a pack */
	wo.commit_every_objects = UINT64_MAX;
	wo.commit_every_bytes = UINT64_MAX;
	wo.commit_every_ms = UINT64_MAX;
	p.buf = udos__alloc(CHUNK);
	if (!p.buf)
		return udos__err(-ENOMEM, "out of memory");
	rc = udos_writer_open(&p.w, st, &wo);
	if (rc < 0)
		goto done;
	udos__writer_set_dedup(p.w, false);
	max = udos__packs_max_id(st);
	if (max < -1) {
		rc = (int)max;
		goto done;
	}
	if (only > max) {
		rc = udos__err(UDOS_ENOTFOUND, "no pack %" PRId64, only);
		goto done;
	}
	first_new = udos__writer_roll(p.w);
	if (first_new < 0) {
		rc = (int)first_new;
		goto done;
	}
	if (opts->progress)
		count_entries(&p.prog, st, only >= 0 ? only : 0,
			      only >= 0 ? only : max);
	for (int64_t id = only >= 0 ? only : 0;
	     id <= (only >= 0 ? only : max) && rc == 0; id++) {
		char rel[64], rrel[64];
		udos__pack_relpath(rel, sizeof(rel), (uint32_t)id);
		udos__recs_relpath(rrel, sizeof(rrel), (uint32_t)id);
		/* an evicted pack has only its .rec: it is read through */
		if (faccessat(st->dirfd, rel, F_OK, 0) < 0 &&
		    faccessat(st->dirfd, rrel, F_OK, 0) < 0)
			continue;
		rc = repack_one(&p, (uint32_t)id);
	}
	if (rc == 0)
		rc = udos_writer_commit(p.w);
	/* every pack rewritten: no record of a deleted id is left to drop */
	if (rc == 0 && only < 0)
		rc = clear_marks(st);
	st->recovery.adopted += p.adopted;
done:
	udos_writer_close(p.w);
	free(p.buf);
	return rc;
}

int udos_store_repack_pack(udos_store *st, uint32_t pack_id,
			   const udos_repack_opts *opts)
{
	UDOS_ASSERT_ARG(st);
	return repack_range(st, pack_id, opts);
}

int udos_store_repack(udos_store *st, const udos_repack_opts *opts)
{
	UDOS_ASSERT_ARG(st);
	return repack_range(st, -1, opts);
}
