/* repair.c - rebuild the index from the packs: every record checked, each
 * intact one indexed (the newest copy of an id wins), deletions the old
 * index still knows kept, and the new index swapped in at the end. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NEW_DIR "index.repair"
#define OLD_DIR "index.repair-old"
#define BATCH 20000

struct rp {
	udos_store *st;
	const udos_repair_opts *opts;
	udos_repair_result *res;
	udos__index *old;   /* the old index, or NULL when unreadable */
	udos__index *nix;   /* the index being built */
	udos__batch *b;
	udos_progress prog; /* records (estimated from the .rec sizes) */
	int rc;
};

static int problem(struct rp *p, int kind, const udos_oid *oid,
		   const char *rel, uint64_t off, const char *msg)
{
	udos_finding f = { 0 };

	if (!p->opts->on_problem)
		return 0;
	f.kind = kind;
	f.has_oid = oid != NULL;
	if (oid)
		f.oid = *oid;
	f.path = rel;
	f.offset = off;
	f.message = msg;
	return p->opts->on_problem(p->opts->ctx, &f);
}

/* deleted: the old index marks the id deleted and has no live copy. An id
 * merely missing from it is not enough (damage can hide keys): it comes
 * back. */
static bool was_deleted(struct rp *p, const udos__rec *rec)
{
	udos__rec l;

	if (!p->old || udos__index_is_deleted(p->old, &rec->oid) != 1)
		return false;
	return udos__index_get(&l, p->old, &rec->oid) == UDOS_ENOTFOUND;
}

/* the last batch is synced, and with it the log of all before it */
static int flush(struct rp *p, bool sync)
{
	int rc = 0;

	if (udos__batch_count(p->b))
		rc = udos__index_write(p->nix, p->b, sync);
	udos__batch_clear(p->b);
	return rc;
}

static int on_record(void *ctx, const udos__rec *rec, int kind)
{
	struct rp *p = ctx;
	char rel[64], msg[512];
	static const udos_oid zero;

	p->res->bytes += rec->stored_len;
	p->prog.done++;
	p->prog.bytes_done = p->res->bytes;
	if (p->opts->progress)
		p->opts->progress(p->opts->ctx, &p->prog);
	if (kind) {
		p->res->damaged++;
		udos__pack_relpath(rel, sizeof(rel), rec->pack_id);
		snprintf(msg, sizeof(msg), "'%s' entry %" PRIu64 " left out: "
			 "%s", rel, rec->slot, udos_error_detail());
		return problem(p, kind, udos_oid_cmp(&rec->oid, &zero)
						? &rec->oid : NULL,
			       rel, rec->offset, msg);
	}
	p->res->records++;
	if (was_deleted(p, rec)) {
		p->res->deleted++;
		udos__batch_mark_deleted(p->b, &rec->oid, true);
		return udos__batch_count(p->b) >= BATCH ? flush(p, false) : 0;
	}
	udos__batch_put(p->b, &rec->oid, rec);
	return udos__batch_count(p->b) >= BATCH ? flush(p, false) : 0;
}

/* where the next writer appends: after the last pack's intact run, unless
 * intact records follow a damaged one (then in a new pack) */
static udos__tail next_tail(int64_t max, const udos__scan *last)
{
	udos__tail t = { 0, 0, 0 };

	if (max < 0)
		return t;
	t.pack_id = (uint32_t)max;
	if (last->stray || last->no_header) {
		t.pack_id++;
		return t;
	}
	t.end = last->run_end;
	t.slots = last->run_slots;
	return t;
}

static int scan_packs(struct rp *p)
{
	udos_store *st = p->st;
	udos__scan sc = { 0 };
	udos__tail t;
	int64_t max = udos__packs_max_id(st);
	int rc;

	if (max < -1)
		return (int)max;
	for (int64_t id = 0; id <= max; id++) {
		char rel[64];
		struct stat sb;

		udos__pack_relpath(rel, sizeof(rel), (uint32_t)id);
		if (fstatat(st->dirfd, rel, &sb, 0) == 0)
			p->prog.bytes_total += (uint64_t)sb.st_size;
		udos__recs_relpath(rel, sizeof(rel), (uint32_t)id);
		if (fstatat(st->dirfd, rel, &sb, 0) == 0 &&
		    sb.st_size > UDOS_RECS_HDR_SIZE)
			p->prog.total += ((uint64_t)sb.st_size -
					  UDOS_RECS_HDR_SIZE) / UDOS_REC_SIZE;
	}
	for (int64_t id = 0; id <= max; id++) {
		char rel[64];

		udos__pack_relpath(rel, sizeof(rel), (uint32_t)id);
		if (faccessat(st->dirfd, rel, F_OK, 0) < 0)
			continue;
		p->res->packs++;
		rc = udos__pack_scan(&sc, st, (uint32_t)id, 0, 0,
				     p->opts->flags & UDOS_REPAIR_FULL
					     ? UDOS__SCAN_FULL : 0,
				     on_record, p);
		if (rc == 0 && sc.no_header && sc.data_size) {
			char msg[256];
			p->res->bad_packs++;
			snprintf(msg, sizeof(msg), "'%s' has %" PRIu64 " bytes "
				 "but no record file header: left as it is",
				 rel, sc.data_size);
			rc = problem(p, UDOS_FIND_PACK_HEADER, NULL, rel, 0,
				     msg);
		} else if (rc == UDOS_ECORRUPT) {
			p->res->bad_packs++;
			memset(&sc, 0, sizeof(sc));
			sc.stray = 1; /* append after it, whatever it is */
			rc = problem(p, UDOS_FIND_PACK_HEADER, NULL, rel, 0,
				     udos_error_detail());
		}
		if (rc)
			return rc < 0 ? rc : 0;
	}
	t = next_tail(max, &sc);
	udos__batch_set_tail(p->b, &t);
	return flush(p, true);
}

static int count_new(void *ctx, const udos_oid *oid, const udos__rec *l)
{
	struct rp *p = ctx;
	udos__rec o;

	(void)l;
	p->res->objects++;
	if (!p->old || udos__index_get(&o, p->old, oid) == UDOS_ENOTFOUND)
		p->res->adopted++;
	return 0;
}

static int count_lost(void *ctx, const udos_oid *oid, const udos__rec *l)
{
	struct rp *p = ctx;
	udos__rec n;

	(void)l;
	if (udos__index_get(&n, p->nix, oid) == UDOS_ENOTFOUND)
		p->res->lost++;
	return 0;
}

static void open_old(struct rp *p)
{
	char idx[4096];

	snprintf(idx, sizeof(idx), "%s/index", p->st->path);
	if (udos__index_open(&p->old, idx, false, false) < 0) {
		p->old = NULL;
		return;
	}
	p->res->old_index = true;
}

/* the new index in place of the old: exchanged where the file system can,
 * else moved aside first (a crash between leaves no index: repair again) */
static int swap_in(udos_store *st)
{
	int rc;

	if (renameat2(st->dirfd, NEW_DIR, st->dirfd, "index",
		      RENAME_EXCHANGE) == 0) {
		rc = udos__fsync_dir(st->dirfd, ".");
		return rc < 0 ? rc : udos__rm_tree(st->dirfd, NEW_DIR);
	}
	if (errno == ENOENT) {
		if (renameat(st->dirfd, NEW_DIR, st->dirfd, "index") < 0)
			return -errno;
		return udos__fsync_dir(st->dirfd, ".");
	}
	rc = udos__rm_tree(st->dirfd, OLD_DIR);
	if (rc == 0 && renameat(st->dirfd, "index", st->dirfd, OLD_DIR) < 0)
		rc = -errno;
	if (rc == 0 && renameat(st->dirfd, NEW_DIR, st->dirfd, "index") < 0)
		rc = -errno;
	if (rc == 0)
		rc = udos__fsync_dir(st->dirfd, ".");
	return rc < 0 ? rc : udos__rm_tree(st->dirfd, OLD_DIR);
}

int udos_store_repair(udos_repair_result *out, const char *path,
		      const udos_repair_opts *opts)
{
	static const udos_repair_opts defaults = UDOS_REPAIR_OPTS_INIT;
	udos_repair_result local;
	struct rp p = { 0 };
	char dir[4096];
	int rc;

	UDOS_ASSERT_ARG(path);
	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	p.opts = opts ? opts : &defaults;
	p.res = out;
	rc = udos_store_open(&p.st, path, UDOS_OPEN_NO_INDEX);
	if (rc == 0)
		rc = udos__store_lock_only(p.st);
	if (rc < 0)
		goto done;
	open_old(&p);
	rc = udos__rm_tree(p.st->dirfd, NEW_DIR);
	if (rc == 0 && (size_t)snprintf(dir, sizeof(dir), "%s/" NEW_DIR,
					path) >= sizeof(dir))
		rc = -ENAMETOOLONG;
	if (rc == 0)
		rc = udos__index_open(&p.nix, dir, true, true);
	if (rc < 0) {
		rc = udos__err(rc, "cannot make a new index in '%s': %s", dir,
			       udos_strerror(rc));
		goto done;
	}
	p.b = udos__batch_new();
	if (!p.b) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto done;
	}
	rc = scan_packs(&p);
	if (rc == 0)
		rc = udos__index_foreach(p.nix, count_new, &p);
	if (rc == 0 && p.old && udos__index_foreach(p.old, count_lost, &p) < 0)
		out->lost = 0; /* the old index breaks off: nothing to say */
	udos__index_close(p.old);
	p.old = NULL;
	/* closing flushes the memtable and syncs the manifest */
	udos__index_close(p.nix);
	p.nix = NULL;
	if (rc == 0 && (p.opts->flags & UDOS_REPAIR_DRY_RUN))
		goto done;
	if (rc == 0)
		rc = udos__fsync_dir(p.st->dirfd, NEW_DIR);
	/* the stat cache names ids the old index had: forget it before the
	 * new index is in place */
	if (rc == 0)
		rc = udos__statcache_drop(p.st);
	if (rc == 0)
		rc = swap_in(p.st);
	if (rc < 0) {
		rc = udos__err(rc, "cannot put the new index in place in '%s': "
			       "%s", path, udos_strerror(rc));
		goto done;
	}
	/* readers elsewhere reopen; the new index opens as a writer's */
	rc = udos_store_lock_writer(p.st);
done:
	udos__index_close(p.old);
	udos__index_close(p.nix);
	udos__batch_free(p.b);
	if (p.st && (rc < 0 || (p.opts->flags & UDOS_REPAIR_DRY_RUN)))
		udos__rm_tree(p.st->dirfd, NEW_DIR);
	udos_store_close(p.st);
	return rc;
}
