/* writer.c - the single pack appender: records appended to the current pack,
 * rolled at the size target, index entries group-committed after fdatasync.
 *
 * A pack is two files (docs/FORMAT.md): packs/N takes the stored bytes,
 * packs/N.rec one entry per record. Durability (DESIGN.md): both are
 * fdatasynced before the RocksDB batch that points at them is written with
 * sync; the batch also moves the "tail" (pack id, committed ends of both
 * files). Whatever lies past the tail after a crash was never reported
 * stored and is truncated on open. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WBUF_SIZE (1u << 20)
#define READ_CHUNK (256u * 1024)
/* Group commit: by age, so that an object is acknowledged within about
 * half a second whatever its size; by count and bytes, to bound the memory
 * of what waits (the pending set, the batch). Each commit costs two
 * fdatasyncs and a synced index batch, and a larger sorted batch is
 * cheaper per entry to insert into RocksDB's memtable: at 20000 objects a
 * commit, tiny objects spent a third more CPU than at 100000. */
#define DEFAULT_COMMIT_OBJECTS 100000
#define DEFAULT_COMMIT_BYTES (256ull << 20)
#define DEFAULT_COMMIT_MS 500
/* The id filter costs a scan of the index: a writer without a saved one
 * builds it once FILTER_AFTER look-ups were made without it (its own, and
 * other threads' through udos__writer_maybe_has), so that a small add to
 * a large container does not pay for the scan. */
#define FILTER_AFTER 4096

/* The middle of a record this large or larger is written with O_DIRECT:
 * no page-cache copy of bytes that a bulk add of large files would only
 * push other data out of the cache with (and that this VM fills at 160
 * MB/s against 830 MB/s direct, bench/RESULTS.md). Smaller records stay
 * in the page cache, warm for reading back. */
#define DIRECT_AFTER (16u << 20)
#define DIRECT_ALIGN 4096u

/* one of a pack's two files, appended through a buffer */
struct pfile {
	int fd;
	int dfd;               /* the same file opened O_DIRECT, or -1 */
	uint64_t end;          /* logical end, buffered bytes included */
	udos_buf buf;          /* bytes not yet written: file has end-buf.len */
	bool dirty;            /* written since the last fdatasync */
};

struct udos_writer {
	udos_store *st;
	udos_writer_opts opts;
	int err;               /* sticky I/O failure: nothing more is safe */
	bool dedup;

	uint32_t pack_id;
	bool no_direct;        /* O_DIRECT refused here: buffered only */
	struct pfile data;     /* packs/N */
	struct pfile recs;     /* packs/N.rec */
	uint64_t slots;        /* entries in packs/N.rec */

	udos__tail tail;       /* last committed position */

	udos__batch *batch;
	/* index entries of this commit, sorted by id when committed: RocksDB
	 * inserts a sorted batch into its memtable skiplist far faster than
	 * random ids (each insert starts from the previous one's splice) */
	udos__rec *pend;
	size_t n_pend, cap_pend;
	udos__oidset pending;
	uint64_t pending_bytes;
	uint64_t pending_since_ms; /* when the oldest pending object came */
	uint64_t stored_total;

	/* every id the index holds or this writer appended, or NULL until
	 * FILTER_AFTER index look-ups were made without it: probes by the
	 * owner, hints by other threads (atomic) */
	udos__idfilter *filter;
	uint64_t probes, hints;
	bool filter_tried;

	/* record in progress */
	bool in_rec;
	uint64_t rec_start;
	uint64_t rec_stored;

	udos__hash *sha;
	udos__xxh *xxh;
	udos__zenc *zdef;      /* container default codec */
	udos_buf cbuf;         /* compressed output staging */
	uint8_t *rbuf;         /* read staging */
};

/* ---- pack files ---------------------------------------------------------- */

static int pack_fail(udos_writer *w, int rc, const char *what)
{
	char rel[64];

	udos__pack_relpath(rel, sizeof(rel), w->pack_id);
	w->err = rc;
	return udos__err(rc, "cannot %s '%s/%s': %s", what, w->st->path, rel,
			 udos_strerror(rc));
}

static int pf_flush(udos_writer *w, struct pfile *f)
{
	int rc;

	if (!f->buf.len)
		return 0;
	rc = udos__pwrite_all(f->fd, f->buf.data, f->buf.len,
			      f->end - f->buf.len);
	if (rc < 0)
		return pack_fail(w, rc, "write");
	f->buf.len = 0;
	f->dirty = true;
	return 0;
}

/* The pack's data file opened O_DIRECT, once per pack; -1 (and never
 * again for this writer) where the file system refuses it. */
static int direct_fd(udos_writer *w, struct pfile *f)
{
	char rel[64];

	if (f->dfd < 0 && !w->no_direct) {
		udos__pack_relpath(rel, sizeof(rel), w->pack_id);
		f->dfd = openat(w->st->dirfd, rel,
				O_WRONLY | O_DIRECT | O_CLOEXEC);
		if (f->dfd < 0)
			w->no_direct = true;
	}
	return f->dfd;
}

/* A full buffer in the middle of a large record: the bytes up to the next
 * aligned offset go through the page cache, the aligned whole blocks
 * direct from the (aligned) buffer, and the last partial block stays
 * buffered, so that the next flush starts aligned. Same invariant as
 * pf_flush: the file holds everything before end - buf.len. */
static int pf_flush_direct(udos_writer *w, struct pfile *f)
{
	uint64_t s = f->end - f->buf.len, e = f->end;
	uint64_t a = (s + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
	uint64_t b = e / DIRECT_ALIGN * DIRECT_ALIGN;
	int dfd = direct_fd(w, f), rc;

	if (dfd < 0 || b <= a)
		return pf_flush(w, f);
	if (a > s) {
		rc = udos__pwrite_all(f->fd, f->buf.data, (size_t)(a - s), s);
		if (rc < 0)
			return pack_fail(w, rc, "write");
		memmove(f->buf.data, f->buf.data + (a - s), (size_t)(e - a));
		f->buf.len = (size_t)(e - a);
		f->dirty = true;
	}
	rc = udos__pwrite_all(dfd, f->buf.data, (size_t)(b - a), a);
	if (rc == -EINVAL) {
		/* refused after all (alignment rules of this file system):
		 * the same bytes through the page cache, from now on */
		w->no_direct = true;
		close(f->dfd);
		f->dfd = -1;
		return pf_flush(w, f);
	}
	if (rc < 0)
		return pack_fail(w, rc, "write");
	memmove(f->buf.data, f->buf.data + (b - a), (size_t)(e - b));
	f->buf.len = (size_t)(e - b);
	f->dirty = true;
	return 0;
}

static int pf_sync(udos_writer *w, struct pfile *f)
{
	int rc = pf_flush(w, f);

	if (rc < 0 || !f->dirty || w->opts.no_sync)
		return rc;
	rc = udos__fdatasync(f->fd);
	if (rc < 0)
		return pack_fail(w, rc, "sync");
	f->dirty = false;
	return 0;
}

static int pf_append(udos_writer *w, struct pfile *f, const void *data,
		     size_t len)
{
	const uint8_t *p = data;

	while (len) {
		size_t room = WBUF_SIZE - f->buf.len;
		size_t n = len < room ? len : room;
		memcpy(f->buf.data + f->buf.len, p, n);
		f->buf.len += n;
		f->end += n;
		p += n;
		len -= n;
		if (f->buf.len == WBUF_SIZE) {
			int rc = f == &w->data && w->in_rec &&
					 f->end - w->rec_start >= DIRECT_AFTER
				 ? pf_flush_direct(w, f)
				 : pf_flush(w, f);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int sync_pack(udos_writer *w)
{
	int rc = pf_sync(w, &w->data);

	return rc < 0 ? rc : pf_sync(w, &w->recs);
}

static void pf_close(struct pfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->dfd >= 0)
		close(f->dfd);
	f->fd = f->dfd = -1;
}

static void set_pack(udos_writer *w, uint32_t id, int dfd, int rfd,
		     uint64_t end, uint64_t slots)
{
	pf_close(&w->data);
	pf_close(&w->recs);
	w->pack_id = id;
	w->data.fd = dfd;
	w->recs.fd = rfd;
	w->data.end = end;
	w->recs.end = udos__rec_pos(slots);
	w->data.buf.len = w->recs.buf.len = 0;
	w->slots = slots;
}

static int create_pack(udos_writer *w, uint32_t id)
{
	uint8_t h[UDOS_RECS_HDR_SIZE];
	char rel[64], rrel[64];
	int dfd, rfd = -1, rc = 0;

	udos__pack_relpath(rel, sizeof(rel), id);
	udos__recs_relpath(rrel, sizeof(rrel), id);
	dfd = openat(w->st->dirfd, rel, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		     0644);
	if (dfd >= 0)
		rfd = openat(w->st->dirfd, rrel, O_RDWR | O_CREAT | O_TRUNC |
			     O_CLOEXEC, 0644);
	if (dfd < 0 || rfd < 0)
		rc = -errno;
	if (rc == 0) {
		udos__recs_header(h, w->st->uuid, id);
		rc = udos__pwrite_all(rfd, h, sizeof(h), 0);
	}
	/* the header before the names: a packs/N.rec that survives a power
	 * cut always has it */
	if (rc == 0 && !w->opts.no_sync)
		rc = udos__fdatasync(rfd);
	if (rc == 0 && !w->opts.no_sync)
		rc = udos__fsync_dir(w->st->dirfd, "packs");
	if (rc < 0) {
		if (rfd >= 0) {
			close(rfd);
			unlinkat(w->st->dirfd, rrel, 0);
		}
		if (dfd >= 0) {
			close(dfd);
			unlinkat(w->st->dirfd, rel, 0);
		}
		return udos__err(rc, "cannot create pack '%s/%s': %s",
				 w->st->path, rel, udos_strerror(rc));
	}
	set_pack(w, id, dfd, rfd, 0, 0);
	w->data.dirty = w->recs.dirty = true;
	return 0;
}

/* open one of a pack's files and cut it back to its committed size */
static int open_cut(udos_writer *w, const char *rel, uint64_t size)
{
	struct stat sb;
	int fd, rc = 0;

	fd = openat(w->st->dirfd, rel, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return udos__err(errno == ENOENT ? UDOS_ECORRUPT : -errno,
				 "cannot open '%s/%s': %s", w->st->path, rel,
				 udos_strerror(-errno));
	if (fstat(fd, &sb) < 0) {
		rc = udos__err(-errno, "cannot stat '%s/%s': %s", w->st->path,
			       rel, udos_strerror(-errno));
	} else if ((uint64_t)sb.st_size < size) {
		rc = udos__err(UDOS_ECORRUPT, "'%s/%s' is %lld bytes, shorter "
			       "than its committed end (%llu)", w->st->path,
			       rel, (long long)sb.st_size,
			       (unsigned long long)size);
	} else if ((uint64_t)sb.st_size > size) {
		/* a torn or uncommitted tail from a crash: never reported
		 * stored, so it goes */
		if (ftruncate(fd, (off_t)size) < 0 ||
		    (!w->opts.no_sync && udos__fdatasync(fd) < 0))
			rc = udos__err(-errno, "cannot repair '%s/%s': %s",
				       w->st->path, rel, udos_strerror(-errno));
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

static int open_pack(udos_writer *w, const udos__tail *t)
{
	uint8_t h[UDOS_RECS_HDR_SIZE], want[UDOS_RECS_HDR_SIZE];
	char rel[64], rrel[64];
	int dfd, rfd;

	udos__pack_relpath(rel, sizeof(rel), t->pack_id);
	udos__recs_relpath(rrel, sizeof(rrel), t->pack_id);
	rfd = open_cut(w, rrel, udos__rec_pos(t->slots));
	if (rfd < 0)
		return rfd;
	udos__recs_header(want, w->st->uuid, t->pack_id);
	if (udos__pread_full(rfd, h, sizeof(h), 0) != sizeof(h) ||
	    memcmp(h, want, sizeof(h))) {
		close(rfd);
		return udos__err(UDOS_ECORRUPT, "'%s/%s' has a bad header (or "
				 "belongs to another container)", w->st->path,
				 rrel);
	}
	dfd = open_cut(w, rel, t->end);
	if (dfd < 0) {
		close(rfd);
		return dfd;
	}
	set_pack(w, t->pack_id, dfd, rfd, t->end, t->slots);
	return 0;
}

/*
 * Put the pack files back to the committed state: the tail pack truncated to
 * the tail, later packs (holding only uncommitted records) removed.
 */
static int restore_tail(udos_writer *w)
{
	int64_t max = udos__packs_max_id(w->st);
	char rel[64];
	int rc;

	if (max < 0 && max != -1)
		return (int)max;
	for (int64_t id = max; id > (int64_t)w->tail.pack_id; id--) {
		rc = udos__packfile_remove(w->st, (uint32_t)id);
		if (rc < 0)
			return rc;
	}
	udos__pack_relpath(rel, sizeof(rel), w->tail.pack_id);
	if (faccessat(w->st->dirfd, rel, F_OK, 0) < 0) {
		if (w->tail.slots)
			return udos__err(UDOS_ECORRUPT, "pack '%s/%s' is "
					 "missing", w->st->path, rel);
		return create_pack(w, w->tail.pack_id);
	}
	return open_pack(w, &w->tail);
}

static void mark_tail(udos_writer *w)
{
	w->tail.pack_id = w->pack_id;
	w->tail.end = w->data.end;
	w->tail.slots = w->slots;
}

static bool at_tail(const udos_writer *w)
{
	return w->pack_id == w->tail.pack_id && w->data.end == w->tail.end &&
	       w->slots == w->tail.slots;
}

/* ---- opening: adopt what the index has not seen -------------------------- */

#define ADOPT_BATCH 20000

struct adopt {
	udos_writer *w;
	udos__batch *b;
};

static int adopt_flush(struct adopt *a, const udos__tail *t)
{
	int rc;

	if (t)
		udos__batch_set_tail(a->b, t);
	if (!udos__batch_count(a->b))
		return 0;
	rc = udos__store_index_write(a->w->st, a->b, !a->w->opts.no_sync);
	udos__batch_clear(a->b);
	return rc;
}

/* an intact record past the tail: index it (later records win, so the
 * newest copy of an id is the one indexed) */
static int adopt_one(void *ctx, const udos__rec *rec, int kind)
{
	struct adopt *a = ctx;

	if (kind)
		return 0;
	udos__batch_put(a->b, &rec->oid, rec);
	a->w->st->recovery.adopted++;
	if (udos__batch_count(a->b) < ADOPT_BATCH)
		return 0;
	return adopt_flush(a, NULL);
}

static int behind(udos_writer *w, const char *rel, const char *what)
{
	return udos__err(UDOS_ECORRUPT, "'%s/%s' %s than the index says; the "
			 "index does not match its packs: run 'udos repair' "
			 "on '%s'", w->st->path, rel, what, w->st->path);
}

static bool pack_exists(udos_store *st, uint32_t id)
{
	char rel[64];

	udos__pack_relpath(rel, sizeof(rel), id);
	return faccessat(st->dirfd, rel, F_OK, 0) == 0;
}

/*
 * Where to append after the scan of the last pack: at the end of its intact
 * run, cutting what follows only when no intact record does (the torn tail
 * of a crash); else in a new pack, so that bytes which pass their checks
 * are never thrown away.
 */
static int append_after(udos_writer *w, uint32_t id, const udos__scan *sc)
{
	udos__tail at = { id, sc->run_end, sc->run_slots };
	int rc;

	if (sc->stray)
		return create_pack(w, id + 1);
	if (sc->no_header) { /* made, never synced: holds nothing */
		rc = udos__packfile_remove(w->st, id);
		return rc < 0 ? rc : create_pack(w, id);
	}
	w->st->recovery.cut_bytes += sc->data_size - sc->run_end;
	w->st->recovery.cut_bytes += sc->recs_size - udos__rec_pos(sc->run_slots);
	w->st->recovery.cut_records += sc->bad;
	return open_pack(w, &at);
}

/*
 * Put the writer where the packs end. Records past the index's tail (a
 * crash before their commit, or an index older than its packs) are checked
 * and the intact ones indexed; the last pack is cut back only where its
 * records fail their checks.
 */
static int recover(udos_writer *w)
{
	udos_store *st = w->st;
	udos__tail t = { 0 };
	struct adopt a = { w, w->batch };
	bool have_tail;
	int64_t max;
	int rc;

	pthread_rwlock_rdlock(&st->ixlock);
	rc = udos__index_get_tail(st->ix, &t);
	pthread_rwlock_unlock(&st->ixlock);
	if (rc < 0 && rc != UDOS_ENOTFOUND)
		return rc;
	have_tail = rc == 0;
	max = udos__packs_max_id(st);
	if (max < -1)
		return (int)max;
	if (have_tail && !pack_exists(st, t.pack_id)) {
		char rel[64];
		udos__pack_relpath(rel, sizeof(rel), t.pack_id);
		if (t.slots || (int64_t)t.pack_id < max)
			return behind(w, rel, "is missing, and fewer packs are "
				      "there");
		rc = create_pack(w, t.pack_id);
		goto commit;
	}
	if (max < 0) {
		rc = create_pack(w, 0);
		goto commit;
	}
	for (int64_t id = have_tail ? t.pack_id : 0; id <= max; id++) {
		bool is_tail = have_tail && id == (int64_t)t.pack_id;
		uint64_t from_slot = is_tail ? t.slots : 0;
		uint64_t from_off = is_tail ? t.end : 0;
		char rel[64];
		udos__scan sc;

		if (!pack_exists(st, (uint32_t)id))
			continue;
		udos__pack_relpath(rel, sizeof(rel), (uint32_t)id);
		rc = udos__pack_scan(&sc, st, (uint32_t)id, from_slot,
				     from_off, 0, adopt_one, &a);
		if (rc < 0)
			return rc;
		if (is_tail && (sc.data_size < t.end || sc.slots < t.slots ||
				(t.slots && sc.no_header)))
			return behind(w, rel, "is shorter");
		if (id == max)
			rc = append_after(w, (uint32_t)id, &sc);
		if (rc < 0)
			return rc;
	}
commit:
	if (rc < 0)
		return rc;
	mark_tail(w);
	rc = sync_pack(w);
	if (rc == 0 && (!have_tail || st->recovery.adopted ||
			t.pack_id != w->tail.pack_id ||
			t.end != w->tail.end || t.slots != w->tail.slots))
		rc = adopt_flush(&a, &w->tail);
	udos__batch_clear(w->batch);
	return rc;
}

/* ---- open / commit / close ------------------------------------------------ */

int udos_writer_open(udos_writer **out, udos_store *st,
		     const udos_writer_opts *opts)
{
	static const udos_writer_opts defaults = UDOS_WRITER_OPTS_INIT;
	udos_writer *w;
	int rc;

	UDOS_ASSERT_ARG(out && st);
	*out = NULL;
	/* a clone's packs are its remote's (pull fills it) */
	if (udos__remote_is_clone(st))
		return udos__err(-EPERM, "'%s' is a read-only clone (see "
				 "'udos remote show')", st->path);
	rc = udos_store_lock_writer(st);
	if (rc < 0)
		return rc;
	w = udos__calloc(1, sizeof(*w));
	if (!w)
		return udos__err(-ENOMEM, "out of memory");
	w->st = st;
	w->data.fd = w->recs.fd = w->data.dfd = w->recs.dfd = -1;
	w->dedup = true;
	w->opts = defaults;
	if (opts)
		/* a version 1 caller's struct ends before commit_every_ms */
		memcpy(&w->opts, opts,
		       opts->version < 2 ? offsetof(udos_writer_opts,
						    commit_every_ms)
					 : sizeof(*opts));
	if (!w->opts.commit_every_objects)
		w->opts.commit_every_objects = DEFAULT_COMMIT_OBJECTS;
	if (!w->opts.commit_every_bytes)
		w->opts.commit_every_bytes = DEFAULT_COMMIT_BYTES;
	if (!w->opts.commit_every_ms)
		w->opts.commit_every_ms = DEFAULT_COMMIT_MS;

	pthread_mutex_lock(&st->mu);
	if (st->writer) {
		pthread_mutex_unlock(&st->mu);
		free(w);
		return udos__err(-EBUSY, "a pack writer is already open on "
				 "'%s'", st->path);
	}
	st->writer = w;
	pthread_mutex_unlock(&st->mu);

	w->batch = udos__batch_new();
	w->xxh = udos__xxh_new();
	w->rbuf = udos__alloc(READ_CHUNK);
	if (!w->batch || !w->xxh || !w->rbuf) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto fail;
	}
	rc = udos__hash_new(&w->sha, st->hash_type);
	if (rc == 0)
		rc = udos__zenc_new(&w->zdef, st->info.default_codec,
				    st->info.default_level);
	if (rc == 0) {
		/* aligned for O_DIRECT writes straight from it */
		w->data.buf.data = aligned_alloc(DIRECT_ALIGN, WBUF_SIZE);
		w->data.buf.cap = w->data.buf.data ? WBUF_SIZE : 0;
		if (!w->data.buf.data)
			rc = udos__err(-ENOMEM, "out of memory");
	}
	if (rc == 0)
		rc = udos_buf_reserve(&w->recs.buf, WBUF_SIZE);
	if (rc == 0)
		rc = recover(w);
	if (rc < 0)
		goto fail;
	/* after recover(): what it indexed is in the index, so a file made
	 * before that no longer matches it */
	rc = udos__idfilter_load(&w->filter, st);
	if (rc < 0 && rc != UDOS_ENOTFOUND)
		goto fail;
	*out = w;
	return 0;
fail:
	udos_writer_close(w);
	return rc;
}

uint64_t udos_writer_pending(const udos_writer *w)
{
	return w->pending.n;
}

static int pend_cmp(const void *a, const void *b)
{
	return udos_oid_cmp(&((const udos__rec *)a)->oid,
			    &((const udos__rec *)b)->oid);
}

int udos_writer_commit(udos_writer *w)
{
	uint64_t n = w->pending.n;
	int rc;

	if (w->err)
		return udos__err(w->err, "pack writer failed earlier: %s",
				 udos_strerror(w->err));
	if (w->in_rec)
		return udos__err(-EINVAL, "commit inside a record");
	if (!n && at_tail(w))
		return 0;
	rc = sync_pack(w);
	if (rc < 0)
		return rc;
	if (w->n_pend)
		qsort(w->pend, w->n_pend, sizeof(*w->pend), pend_cmp);
	for (size_t i = 0; i < w->n_pend; i++)
		udos__batch_put(w->batch, &w->pend[i].oid, &w->pend[i]);
	mark_tail(w);
	udos__batch_set_tail(w->batch, &w->tail);
	rc = udos__store_index_write(w->st, w->batch, !w->opts.no_sync);
	udos__batch_clear(w->batch);
	if (rc < 0) {
		w->err = rc;
		return rc;
	}
	w->n_pend = 0;
	udos__oidset_clear(&w->pending);
	w->pending_bytes = 0;
	if (w->opts.on_commit && n)
		w->opts.on_commit(w->opts.ctx, n);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int maybe_commit(udos_writer *w)
{
	if (w->pending.n >= w->opts.commit_every_objects ||
	    w->pending_bytes >= w->opts.commit_every_bytes ||
	    (w->pending.n && w->opts.commit_every_ms != UINT64_MAX &&
	     now_ms() - w->pending_since_ms >= w->opts.commit_every_ms))
		return udos_writer_commit(w);
	return 0;
}

void udos_writer_close(udos_writer *w)
{
	if (!w)
		return;
	if (w->data.fd >= 0 && (w->pending.n || w->in_rec || w->err ||
				!at_tail(w))) {
		/* discard everything uncommitted */
		w->data.buf.len = w->recs.buf.len = 0;
		w->opts.no_sync = false;
		restore_tail(w);
	}
	else if (w->data.fd >= 0) {
		/* everything committed: the next writer starts from the
		 * filter (a failed save leaves a file that no longer
		 * matches), and the index's flush at close can start now,
		 * beside the caller's last work */
		if (w->filter)
			(void)udos__idfilter_save(w->filter, w->st,
						  !w->opts.no_sync);
		udos__store_index_flush_start(w->st);
	}
	pf_close(&w->data);
	pf_close(&w->recs);
	pthread_mutex_lock(&w->st->mu);
	if (w->st->writer == w)
		w->st->writer = NULL;
	pthread_mutex_unlock(&w->st->mu);
	udos__batch_free(w->batch);
	free(w->pend);
	udos__oidset_release(&w->pending);
	udos__idfilter_free(w->filter);
	udos__hash_free(w->sha);
	udos__xxh_free(w->xxh);
	udos__zenc_free(w->zdef);
	udos_buf_release(&w->cbuf);
	udos_buf_release(&w->data.buf);
	udos_buf_release(&w->recs.buf);
	free(w->rbuf);
	free(w);
}

/* ---- records ---------------------------------------------------------- */

bool udos__writer_pending(const udos_writer *w, const udos_oid *oid)
{
	return udos__oidset_has(&w->pending, oid);
}

/* The filter from the index and what is pending (not in the index yet,
 * but in it once committed). A failure leaves the writer without one. */
static int build_filter(udos_writer *w)
{
	udos__idfilter *f = NULL;
	int rc = udos__idfilter_build(&f, w->st);

	for (size_t i = 0; rc == 0 && i < w->n_pend; i++)
		rc = udos__idfilter_add(f, &w->pend[i].oid);
	if (rc < 0) {
		udos__idfilter_free(f);
		return rc;
	}
	/* whole before other threads see it (udos__writer_maybe_has) */
	__atomic_store_n(&w->filter, f, __ATOMIC_RELEASE);
	return 0;
}

/* Build the filter (once) when FILTER_AFTER look-ups went without it. */
static int filter_due(udos_writer *w)
{
	if (w->filter || w->filter_tried ||
	    w->probes + __atomic_load_n(&w->hints, __ATOMIC_RELAXED) <
		    FILTER_AFTER)
		return 0;
	w->filter_tried = true;
	return build_filter(w);
}

/* The one "already stored?" decision of a pack writer: pending in this
 * writer, else the index; the filter answers "surely not" for most new
 * content without an index look-up. 1, 0 or an error. */
int udos__writer_has(udos_writer *w, const udos_oid *oid)
{
	udos__rec l;
	int rc;

	if (udos__oidset_has(&w->pending, oid))
		return 1;
	if (!w->filter) {
		w->probes++;
		rc = filter_due(w);
		if (rc < 0)
			return rc;
	}
	if (w->filter && !udos__idfilter_maybe(w->filter, oid))
		return 0;
	rc = udos__store_index_probe(&l, w->st, oid);
	if (rc == UDOS_ENOTFOUND)
		return 0;
	return rc < 0 ? rc : 1;
}

int udos__writer_maybe_has(udos_writer *w, const udos_oid *oid)
{
	const udos__idfilter *f = __atomic_load_n(&w->filter, __ATOMIC_ACQUIRE);

	if (f)
		return udos__idfilter_maybe(f, oid);
	/* a look-up the caller makes without it: counts towards building */
	__atomic_fetch_add(&w->hints, 1, __ATOMIC_RELAXED);
	return 1;
}

void udos__writer_set_dedup(udos_writer *w, bool on)
{
	w->dedup = on;
}

uint64_t udos__writer_stored(const udos_writer *w)
{
	return w->stored_total;
}

udos__zenc *udos__writer_zenc(udos_writer *w)
{
	return w->zdef;
}

int64_t udos__writer_roll(udos_writer *w)
{
	int rc = sync_pack(w);

	if (rc == 0)
		rc = create_pack(w, w->pack_id + 1);
	return rc < 0 ? rc : (int64_t)w->pack_id;
}

int udos__writer_seal(udos_writer *w)
{
	int64_t r;

	if (!w->slots)
		return 0;
	r = udos__writer_roll(w);
	if (r < 0)
		return (int)r;
	return udos_writer_commit(w);
}

int udos__writer_begin(udos_writer *w)
{
	if (w->err)
		return udos__err(w->err, "pack writer failed earlier: %s",
				 udos_strerror(w->err));
	if (w->in_rec)
		return udos__err(-EINVAL, "record already in progress");
	/* roll at the size target, never leaving an empty pack behind */
	if (w->data.end >= w->st->info.pack_size_target && w->slots) {
		int64_t r = udos__writer_roll(w);
		if (r < 0)
			return (int)r;
	}
	w->rec_start = w->data.end;
	w->rec_stored = 0;
	udos__xxh_reset(w->xxh);
	w->in_rec = true;
	return 0;
}

int udos__writer_write(udos_writer *w, const void *stored, size_t len)
{
	int rc;

	if (!w->in_rec)
		return udos__err(-EINVAL, "no record in progress");
	udos__xxh_update(w->xxh, stored, len);
	rc = pf_append(w, &w->data, stored, len);
	if (rc < 0)
		return rc;
	w->rec_stored += len;
	return 0;
}

void udos__writer_abort(udos_writer *w)
{
	struct pfile *f = &w->data;
	uint64_t file_end = f->end - f->buf.len;

	if (!w->in_rec)
		return;
	w->in_rec = false;
	if (w->rec_start >= file_end) {
		f->buf.len -= (size_t)(f->end - w->rec_start);
	} else {
		f->buf.len = 0;
		if (ftruncate(f->fd, (off_t)w->rec_start) < 0)
			pack_fail(w, -errno, "truncate");
	}
	f->end = w->rec_start;
}

int udos__writer_end(udos_writer *w, const udos_oid *oid, int codec,
		     uint64_t raw_len, bool *new_out)
{
	uint8_t h[UDOS_REC_SIZE];
	udos__rec r;
	int rc;

	if (new_out)
		*new_out = false;
	if (!w->in_rec)
		return udos__err(-EINVAL, "no record in progress");
	if (w->dedup) {
		rc = udos__writer_has(w, oid);
		if (rc != 0) {
			udos__writer_abort(w);
			return rc < 0 ? rc : 0;
		}
	}
	r.codec = codec;
	r.pack_id = w->pack_id;
	r.offset = w->rec_start;
	r.stored_len = w->rec_stored;
	r.raw_len = raw_len;
	r.data_xxh = udos__xxh_digest(w->xxh);
	r.slot = w->slots;
	r.oid = *oid;
	udos__rec_encode(h, &r);
	rc = pf_append(w, &w->recs, h, sizeof(h));
	if (rc < 0) {
		udos__writer_abort(w);
		return rc;
	}
	w->in_rec = false;
	w->slots++;
	if (w->n_pend == w->cap_pend) {
		size_t ncap = w->cap_pend ? w->cap_pend * 2 : 1024;
		udos__rec *np = realloc(w->pend, ncap * sizeof(*np));
		if (!np) {
			w->err = udos__err(-ENOMEM, "out of memory");
			return w->err;
		}
		w->pend = np;
		w->cap_pend = ncap;
	}
	/* other threads' look-ups may have made it due (a failed build
	 * leaves the writer without one: look-ups only cost more) */
	(void)filter_due(w);
	if (!w->pending.n)
		w->pending_since_ms = now_ms();
	rc = udos__oidset_add(&w->pending, oid);
	if (rc == 0 && w->filter)
		rc = udos__idfilter_add(w->filter, oid);
	if (rc < 0) {
		w->err = rc;
		return rc;
	}
	w->pend[w->n_pend++] = r;
	w->pending_bytes += w->rec_stored + UDOS_REC_SIZE;
	w->stored_total += w->rec_stored;
	if (new_out)
		*new_out = true;
	return maybe_commit(w);
}

int udos__writer_put(udos_writer *w, const udos_oid *oid, int codec,
		     uint64_t raw_len, const void *stored, size_t stored_len,
		     bool *new_out)
{
	int rc;

	if (new_out)
		*new_out = false;
	if (w->dedup) {
		rc = udos__writer_has(w, oid);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	rc = udos__writer_begin(w);
	if (rc == 0)
		rc = udos__writer_write(w, stored, stored_len);
	if (rc < 0) {
		udos__writer_abort(w);
		return rc;
	}
	return udos__writer_end(w, oid, codec, raw_len, new_out);
}

/* ---- public adds -------------------------------------------------------- */

int udos_writer_add_buf(udos_oid *out, bool *new_out, udos_writer *w,
			const void *data, size_t len)
{
	udos_oid oid;
	bool once;
	int codec, rc;

	UDOS_ASSERT_ARG(out && w && (data || !len));
	if (new_out)
		*new_out = false;
	udos__hash_reset(w->sha); /* a failed stream may have left state */
	udos__hash_update(w->sha, data, len);
	udos__hash_final(&oid, w->sha);
	rc = udos__writer_has(w, &oid);
	if (rc < 0)
		return rc;
	*out = oid;
	if (rc == 1)
		return 0;
	codec = udos__codec_choose(w->opts.compress,
				   w->st->info.default_codec, data, len, len,
				   &once);
	if (codec == UDOS_CODEC_NONE)
		return udos__writer_put(w, &oid, codec, len, data, len,
					new_out);
	w->cbuf.len = 0;
	rc = udos__zenc_run(w->zdef, &w->cbuf, data, len, true);
	if (rc == 0 && once && !UDOS_AUTO_WORTH(w->cbuf.len, len))
		rc = udos__writer_put(w, &oid, UDOS_CODEC_NONE, len, data, len,
				      new_out);
	else if (rc == 0)
		rc = udos__writer_put(w, &oid, codec, len, w->cbuf.data,
				      w->cbuf.len, new_out);
	w->cbuf.len = 0;
	if (w->cbuf.cap > 4 * WBUF_SIZE)
		udos_buf_release(&w->cbuf);
	return rc;
}

/* fill rbuf as far as the source gives, up to len; returns bytes or < 0 */
static ssize_t fill(udos_read_fn fn, void *ctx, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = fn(ctx, buf + got, len - got);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int udos__writer_stream(udos_oid *out, bool *new_out, udos_writer *w,
			udos_read_fn fn, void *ctx, int compress,
			const udos_oid *expect)
{
	udos__zenc *z = NULL;
	uint64_t raw = 0;
	udos_oid oid;
	ssize_t n;
	int codec, rc;
	bool first = true, eof = false;

	if (new_out)
		*new_out = false;
	if (expect && w->dedup) {
		rc = udos__writer_has(w, expect);
		if (rc != 0) {
			if (rc == 1)
				*out = *expect;
			return rc < 0 ? rc : 0;
		}
	}
	udos__hash_reset(w->sha);
	rc = udos__writer_begin(w);
	if (rc < 0)
		return rc;
	codec = UDOS_CODEC_NONE;
	while (!eof) {
		n = fill(fn, ctx, w->rbuf, READ_CHUNK);
		if (n < 0) {
			rc = (int)n;
			goto fail;
		}
		eof = (size_t)n < READ_CHUNK;
		if (first) {
			codec = udos__codec_choose(
				compress, w->st->info.default_codec, w->rbuf,
				(size_t)n, eof ? (uint64_t)n : UINT64_MAX,
				NULL);
			z = codec == UDOS_CODEC_NONE ? NULL : w->zdef;
			first = false;
		}
		udos__hash_update(w->sha, w->rbuf, (size_t)n);
		raw += (uint64_t)n;
		if (!z) {
			rc = udos__writer_write(w, w->rbuf, (size_t)n);
		} else {
			w->cbuf.len = 0;
			rc = udos__zenc_run(z, &w->cbuf, w->rbuf, (size_t)n,
					    eof);
			if (rc == 0)
				rc = udos__writer_write(w, w->cbuf.data,
							w->cbuf.len);
		}
		if (rc < 0)
			goto fail;
	}
	udos__hash_final(&oid, w->sha);
	if (expect && udos_oid_cmp(&oid, expect)) {
		char a[65], b[65];
		rc = udos__err(UDOS_EHASH, "content of '%s' hashes to '%s'",
			       udos__oid_fmt(a, w->st, expect),
			       udos__oid_fmt(b, w->st, &oid));
		goto fail;
	}
	rc = udos__writer_end(w, &oid, codec, raw, new_out);
	if (rc == 0)
		*out = oid;
	return rc;
fail:
	if (z) {
		/* leave the shared encoder ready for a fresh frame */
		udos__zenc_free(w->zdef);
		w->zdef = NULL;
		if (udos__zenc_new(&w->zdef, w->st->info.default_codec,
				   w->st->info.default_level) < 0)
			w->err = -ENOMEM;
	}
	udos__writer_abort(w);
	return rc;
}

int udos_writer_add_cb(udos_oid *out, bool *new_out, udos_writer *w,
		       udos_read_fn fn, void *ctx)
{
	UDOS_ASSERT_ARG(out && w && fn);
	return udos__writer_stream(out, new_out, w, fn, ctx, w->opts.compress,
				   NULL);
}

int udos_writer_add_fd(udos_oid *out, bool *new_out, udos_writer *w, int fd)
{
	return udos_writer_add_cb(out, new_out, w, udos__fd_read, &fd);
}
