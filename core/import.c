/* import.c - copy objects from one container into another's packs: stored
 * bytes as they are when hash type and codec allow, otherwise decoded,
 * re-encoded and hashed again. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1u << 20)            /* staging of a raw copy */
#define LIST_BATCH (64u * 1024)     /* ids per bulk read when copying all */
#define COMMIT_OBJECTS 20000        /* as the writer's own defaults */
#define COMMIT_BYTES (256ull << 20)

/* copied, waiting for the commit that makes it durable */
struct pend {
	udos_oid src, dst;
};

struct imp {
	udos_store *dst, *src;
	const udos_import_opts *opts;
	udos_import_result res;
	udos_writer *w;
	bool same_hash;
	int dst_codec;
	uint8_t *buf;
	struct pend *pend;
	size_t n_pend, cap_pend;
	uint64_t pend_bytes;
	int stop;                   /* non-zero return of on_object */
	udos_progress prog;
};

static int report(struct imp *p, int status, const udos_oid *src,
		  const udos_oid *dst)
{
	if (p->opts->on_object && !p->stop)
		p->stop = p->opts->on_object(p->opts->ctx, status, src, dst);
	return p->stop;
}

/* The group commit is ours (the writer's auto-commit is off), so that an
 * object is reported COPIED only once its index entry is durable. */
static int commit(struct imp *p)
{
	int rc = udos_writer_commit(p->w);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < p->n_pend; i++)
		report(p, UDOS_IMPORT_COPIED, &p->pend[i].src,
		       &p->pend[i].dst);
	p->n_pend = 0;
	p->pend_bytes = 0;
	return p->stop;
}

static int push_pend(struct imp *p, const udos_oid *src, const udos_oid *dst,
		     uint64_t stored)
{
	if (p->n_pend == p->cap_pend) {
		size_t ncap = p->cap_pend ? p->cap_pend * 2 : 1024;
		struct pend *np = realloc(p->pend, ncap * sizeof(*np));

		if (!np)
			return udos__err(-ENOMEM, "out of memory");
		p->pend = np;
		p->cap_pend = ncap;
	}
	p->pend[p->n_pend].src = *src;
	p->pend[p->n_pend].dst = *dst;
	p->n_pend++;
	p->pend_bytes += stored;
	if (p->n_pend >= COMMIT_OBJECTS || p->pend_bytes >= COMMIT_BYTES)
		return commit(p);
	return 0;
}

/* May the stored bytes of a record of this codec be copied as they are? */
static bool raw_ok(const struct imp *p, int codec)
{
	switch (p->opts->compress) {
	case UDOS_COMPRESS_KEEP:
		return true;
	case UDOS_COMPRESS_NO:
		return codec == UDOS_CODEC_NONE;
	default: /* YES, AUTO: what dst would have compressed with */
		return codec == p->dst_codec;
	}
}

/* The compress mode of a re-encode: KEEP keeps "compressed or not". */
static int recode_mode(const struct imp *p, const udos_meta *m)
{
	if (p->opts->compress != UDOS_COMPRESS_KEEP)
		return p->opts->compress;
	return m->codec == UDOS_CODEC_NONE ? UDOS_COMPRESS_NO
					   : UDOS_COMPRESS_YES;
}

static ssize_t read_fn(void *ctx, void *buf, size_t len)
{
	return udos_reader_read(ctx, buf, len);
}

/* Stream the stored bytes into one record; the reader checks their XXH3
 * when the last byte comes in, before the record is ended. */
static int copy_raw(struct imp *p, const udos_oid *oid, const udos_meta *m,
		    udos_reader *r, bool *new_out)
{
	int rc;

	rc = udos__writer_begin(p->w);
	while (rc == 0) {
		ssize_t n = udos__reader_read_stored(r, p->buf, CHUNK);

		if (n <= 0) {
			rc = (int)n;
			break;
		}
		rc = udos__writer_write(p->w, p->buf, (size_t)n);
	}
	if (rc < 0) {
		udos__writer_abort(p->w);
		return rc;
	}
	return udos__writer_end(p->w, oid, m->codec, m->size, new_out);
}

static int one(void *ctx, size_t index, const udos_oid *oid,
	       const udos_meta *m, udos_reader *r)
{
	struct imp *p = ctx;
	uint64_t stored0 = udos__writer_stored(p->w);
	bool is_new = false;
	udos_oid got = *oid;
	int rc;

	(void)index;
	if (p->stop)
		return p->stop;
	if (!r) {
		p->res.missing++;
		rc = report(p, UDOS_IMPORT_MISSING, oid, NULL);
		goto next;
	}
	if (p->same_hash) {
		/* present: not even read */
		rc = udos__writer_has(p->w, oid);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			p->res.skipped++;
			rc = report(p, UDOS_IMPORT_PRESENT, oid, oid);
			goto next;
		}
		if (m->loc == UDOS_LOC_PACKED && raw_ok(p, m->codec))
			rc = copy_raw(p, oid, m, r, &is_new);
		else
			rc = udos__writer_stream(&got, &is_new, p->w, read_fn,
						 r, recode_mode(p, m), oid);
	} else {
		/* the reader checks the content against its src id */
		rc = udos__writer_stream(&got, &is_new, p->w, read_fn, r,
					 recode_mode(p, m), NULL);
	}
	if (rc == UDOS_ECORRUPT || rc == UDOS_EHASH) {
		p->res.corrupt++;
		rc = report(p, UDOS_IMPORT_CORRUPT, oid, NULL);
	} else if (rc == UDOS_ENOTFOUND) { /* deleted while we read */
		p->res.missing++;
		rc = report(p, UDOS_IMPORT_MISSING, oid, NULL);
	} else if (rc < 0) {
		return rc;
	} else if (is_new) {
		uint64_t stored = udos__writer_stored(p->w) - stored0;

		p->res.copied++;
		p->res.bytes += m->size;
		p->res.bytes_stored += stored;
		rc = push_pend(p, oid, &got, stored);
	} else {
		p->res.skipped++;
		rc = report(p, UDOS_IMPORT_PRESENT, oid, &got);
	}
next:
	p->prog.done++;
	p->prog.bytes_done += r ? m->size : 0;
	if (p->opts->progress)
		p->opts->progress(p->opts->ctx, &p->prog);
	return rc;
}

static unsigned read_flags(const struct imp *p)
{
	/* between hash types the src id is checked while re-hashing */
	return UDOS__READ_LAZY | (p->same_hash ? 0 : UDOS_READ_VERIFY);
}

/* ---- every object of src, in storage order ------------------------------- */

/* The listing is sorted once, so that batches of ids follow each other
 * through src's packs: each bulk read continues where the last stopped. */
static int import_all(struct imp *p)
{
	udos_oid *ids = NULL;
	size_t n = 0;
	int rc;

	rc = udos__store_list_sorted(&ids, &n, &p->prog.bytes_total, p->src);
	p->prog.total = n;
	for (size_t at = 0; at < n && rc == 0; at += LIST_BATCH) {
		size_t k = n - at < LIST_BATCH ? n - at : LIST_BATCH;

		rc = udos_object_read_many(p->src, ids + at, k, read_flags(p),
					   one, p);
	}
	free(ids);
	return rc;
}

int udos_store_import(udos_import_result *out, udos_store *dst,
		      udos_store *src, const udos_oid *oids, size_t n,
		      const udos_import_opts *opts)
{
	static const udos_import_opts defaults = UDOS_IMPORT_OPTS_INIT;
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	struct imp p;
	int rc;

	UDOS_ASSERT_ARG(dst && src && (oids || !n));
	if (out)
		memset(out, 0, sizeof(*out));
	if (dst == src)
		return udos__err(-EINVAL, "cannot import '%s' into itself",
				 dst->path);
	memset(&p, 0, sizeof(p));
	p.dst = dst;
	p.src = src;
	p.opts = opts ? opts : &defaults;
	p.same_hash = dst->hash_type == src->hash_type;
	p.dst_codec = dst->info.default_codec;
	p.prog.total = n;
	wo.no_sync = p.opts->no_sync;
	wo.commit_every_objects = UINT64_MAX;
	wo.commit_every_bytes = UINT64_MAX;
	wo.commit_every_ms = UINT64_MAX;
	p.buf = udos__alloc(CHUNK);
	if (!p.buf)
		return udos__err(-ENOMEM, "out of memory");
	rc = udos_writer_open(&p.w, dst, &wo);
	if (rc < 0)
		goto done;
	if (n)
		rc = udos_object_read_many(src, oids, n, read_flags(&p), one,
					   &p);
	else if (p.opts->flags & UDOS_IMPORT_ALL)
		rc = import_all(&p);
	/* after a stop by on_object, what was written is kept */
	if (rc == 0 || rc == p.stop) {
		int crc = commit(&p);

		if (crc < 0 || rc == 0)
			rc = crc;
	}
done:
	udos_writer_close(p.w);
	free(p.pend);
	free(p.buf);
	if (out)
		*out = p.res;
	return rc;
}
