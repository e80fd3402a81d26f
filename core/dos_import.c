/* dos_import.c - copy every object of a disk-objectstore container into
 * udos packs, straight from its files: packs.idx read with SQLite, pack
 * records read in file order, each object hashed again on the way. */
#include "dos_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WIN (4u << 20)  /* pack bytes read per system call */
#define OUT (1u << 20)  /* inflated bytes per step */
#define WHY 200

/* one row of db_object */
struct row {
	udos_oid oid;
	char hex[UDOS_OID_HEXSZ + 1];
	bool compressed;
	uint64_t size, offset, length;
	int64_t pack_id;
};

struct dimp {
	udos_store *dst;
	const udos_dos_import_opts *o;
	udos_dos_result res;
	udos__dos_config cfg;
	const char *path;
	int sfd;                 /* the source folder */
	udos_writer *w;
	udos__hash *h;
	udos__zdec *zd;
	uint8_t *out;            /* OUT bytes: inflated content */
	/* the pack being read: rows come sorted by pack and offset */
	int pfd;
	int64_t pid;
	uint64_t psize;
	uint8_t *win;            /* WIN bytes of packs/<pid> from win_off */
	uint64_t win_off;
	size_t win_len;
	udos_progress prog; /* objects (bytes not counted) */
};

static void problem(struct dimp *p, const char *subject, const char *cause)
{
	p->res.damaged++;
	if (p->o->on_problem)
		p->o->on_problem(p->o->ctx, subject, cause);
}

static void progress(struct dimp *p)
{
	p->prog.done++;
	if (p->o->progress)
		p->o->progress(p->o->ctx, &p->prog);
}

/* ---- the pack being read ------------------------------------------------- */

/* Make packs/<id> the open pack. 1 when it is missing (each of its rows
 * is then reported), 0, or -errno. */
static int open_pack(struct dimp *p, int64_t id, char *why)
{
	char rel[32];
	struct stat sb;

	if (p->pfd >= 0 && p->pid == id)
		return 0;
	if (p->pfd >= 0)
		close(p->pfd);
	p->pfd = -1;
	p->pid = id;
	p->win_len = 0;
	snprintf(rel, sizeof(rel), "packs/%" PRId64, id);
	p->pfd = openat(p->sfd, rel, O_RDONLY | O_CLOEXEC);
	if (p->pfd < 0) {
		if (errno != ENOENT)
			return udos__err(-errno, "cannot open '%s/%s': %s",
					 p->path, rel, udos_strerror(-errno));
		snprintf(why, WHY, "pack file '%s' is missing", rel);
		return 1;
	}
	if (fstat(p->pfd, &sb) < 0)
		return udos__err(-errno, "cannot stat '%s/%s'", p->path, rel);
	p->psize = (uint64_t)sb.st_size;
	(void)posix_fadvise(p->pfd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

/* Stored bytes at `off`, at most `want`, from the read window (refilled
 * with one pread when off lies outside it). *got 0: the pack ended. */
static int stored_at(struct dimp *p, uint64_t off, size_t want,
		     const uint8_t **data, size_t *got)
{
	if (off < p->win_off || off >= p->win_off + p->win_len) {
		ssize_t n = udos__pread_full(p->pfd, p->win, WIN, off);

		if (n < 0)
			return udos__err((int)n, "cannot read '%s/packs/%"
					 PRId64 "': %s", p->path, p->pid,
					 udos_strerror((int)n));
		p->win_off = off;
		p->win_len = (size_t)n;
	}
	*data = p->win + (off - p->win_off);
	*got = (size_t)(p->win_off + p->win_len - off);
	if (*got > want)
		*got = want;
	return 0;
}

/* ---- one record: its content, decoded as it is read ---------------------- */

/* A row's stored bytes in order, inflated when compressed; `why` says what
 * is wrong when a read reports damage (1). */
struct rowrd {
	struct dimp *p;
	const struct row *r;
	uint64_t pos;            /* stored bytes consumed */
	const uint8_t *in;       /* stored bytes not yet inflated */
	size_t in_len;
	bool zdone;
	uint64_t size;           /* content bytes produced */
	char why[WHY];
};

static void rowrd_init(struct rowrd *rr, struct dimp *p, const struct row *r)
{
	memset(rr, 0, sizeof(*rr));
	rr->p = p;
	rr->r = r;
	if (r->compressed)
		udos__zdec_reset(p->zd);
}

/* The next stored bytes: 0 with *len 0 at the record's end, 1 damaged. */
static int next_stored(struct rowrd *rr, const uint8_t **data, size_t *len)
{
	uint64_t left = rr->r->length - rr->pos;
	int rc;

	*len = 0;
	if (!left)
		return 0;
	rc = stored_at(rr->p, rr->r->offset + rr->pos,
		       left > WIN ? WIN : (size_t)left, data, len);
	if (rc < 0)
		return rc;
	if (*len == 0) {
		snprintf(rr->why, sizeof(rr->why), "packs/%" PRId64 " ends "
			 "at byte %" PRIu64 ", inside the record", rr->r->pack_id,
			 rr->r->offset + rr->pos);
		return 1;
	}
	rr->pos += *len;
	return 0;
}

/* Inflate what is buffered into out (at most cap): 1 damaged. */
static int inflate_some(struct rowrd *rr, uint8_t *out, size_t cap,
			size_t *n)
{
	size_t before = rr->in_len;

	*n = 0;
	if (rr->zdone) {
		if (rr->in_len) {
			snprintf(rr->why, sizeof(rr->why), "bytes follow the "
				 "end of its zlib stream");
			return 1;
		}
		return 0;
	}
	if (udos__zdec_run(rr->p->zd, &rr->in, &rr->in_len, out, cap, n,
			   &rr->zdone) < 0) {
		snprintf(rr->why, sizeof(rr->why), "its zlib stream is "
			 "damaged (%s)", udos_error_detail());
		return 1;
	}
	if (!*n && before == rr->in_len && !rr->zdone && rr->in_len) {
		snprintf(rr->why, sizeof(rr->why), "its zlib stream is "
			 "damaged");
		return 1;
	}
	return 0;
}

/* udos_read_fn: the content. Damage is UDOS_ECORRUPT with rr->why set. */
static ssize_t row_read(void *ctx, void *buf, size_t len)
{
	struct rowrd *rr = ctx;
	size_t n = 0;
	int rc;

	if (!rr->r->compressed) {
		const uint8_t *d;

		rc = next_stored(rr, &d, &n);
		if (rc == 0 && n > len) { /* give back what does not fit */
			rr->pos -= n - len;
			n = len;
		}
		if (rc == 0)
			memcpy(buf, d, n);
	} else {
		for (;;) {
			rc = inflate_some(rr, buf, len, &n);
			if (rc || n || rr->zdone)
				break;
			rc = next_stored(rr, &rr->in, &rr->in_len);
			if (rc)
				break;
			if (!rr->in_len) {
				snprintf(rr->why, sizeof(rr->why), "its zlib "
					 "stream ends early");
				rc = 1;
				break;
			}
		}
		/* the stream ended: nothing may follow it in the record */
		if (rc == 0 && rr->zdone && !n && rr->pos < rr->r->length) {
			snprintf(rr->why, sizeof(rr->why), "bytes follow the "
				 "end of its zlib stream");
			rc = 1;
		}
	}
	if (rc == 1)
		return UDOS_ECORRUPT;
	if (rc < 0)
		return rc;
	rr->size += n;
	return (ssize_t)n;
}

/* KEEP: the stored bytes go to the pack as they are, and are inflated
 * only to be hashed. 1 damaged (rr->why), 0 with *codec, or negative. */
static int copy_stored(struct rowrd *rr, udos_oid *got, int *codec)
{
	struct dimp *p = rr->p;
	const uint8_t *d;
	size_t n;
	int rc;

	*codec = rr->r->compressed ? UDOS_CODEC_ZLIB : UDOS_CODEC_NONE;
	for (;;) {
		rc = next_stored(rr, &d, &n);
		if (rc || !n)
			break;
		rc = udos__writer_write(p->w, d, n);
		if (rc < 0)
			return rc;
		if (!rr->r->compressed) {
			udos__hash_update(p->h, d, n);
			rr->size += n;
			continue;
		}
		rr->in = d;
		rr->in_len = n;
		do {
			size_t k;

			rc = inflate_some(rr, p->out, OUT, &k);
			udos__hash_update(p->h, p->out, k);
			rr->size += k;
			if (rc || (!k && !rr->in_len))
				break;
		} while (rr->in_len || !rr->zdone);
		if (rc)
			break;
	}
	if (rc == 0 && rr->r->compressed && !rr->zdone) {
		snprintf(rr->why, sizeof(rr->why), "its zlib stream ends "
			 "early");
		rc = 1;
	}
	udos__hash_final(got, p->h);
	return rc;
}

static int copy_row(struct dimp *p, const struct row *r)
{
	struct rowrd rr;
	udos_oid got;
	uint64_t size = 0;
	bool is_new = false;
	int codec, rc;

	rc = udos__writer_has(p->w, &r->oid);
	if (rc < 0)
		return rc;
	if (rc == 1) { /* here already: not read */
		p->res.skipped++;
		return 0;
	}
	rowrd_init(&rr, p, r);
	if (p->o->compress == UDOS_COMPRESS_KEEP) {
		rc = udos__writer_begin(p->w);
		if (rc < 0)
			return rc;
		rc = copy_stored(&rr, &got, &codec);
		if (rc == 0 && udos_oid_cmp(&got, &r->oid)) {
			char hex[UDOS_OID_HEXSZ + 1];

			snprintf(rr.why, sizeof(rr.why), "its content hashes "
				 "to %s", udos_oid_fmt_sz(hex, &got,
							  udos_store_digest_size(p->dst)));
			rc = 1;
		}
		if (rc) {
			udos__writer_abort(p->w);
		} else {
			uint64_t s0 = udos__writer_stored(p->w);

			rc = udos__writer_end(p->w, &r->oid, codec, rr.size,
					      &is_new);
			p->res.bytes_stored += udos__writer_stored(p->w) - s0;
		}
	} else {
		uint64_t s0 = udos__writer_stored(p->w);

		rc = udos__writer_stream(&got, &is_new, p->w, row_read, &rr,
					 p->o->compress, &r->oid);
		if (rc == UDOS_EHASH) {
			snprintf(rr.why, sizeof(rr.why), "its content does not "
				 "hash to its key");
			rc = 1;
		} else if (rc == UDOS_ECORRUPT && rr.why[0]) {
			rc = 1;
		}
		p->res.bytes_stored += udos__writer_stored(p->w) - s0;
	}
	size = rr.size;
	if (rc == 0 && rr.size != r->size) {
		/* the content is right (its hash), and copied: the row is not */
		snprintf(rr.why, sizeof(rr.why), "it holds %" PRIu64 " bytes, "
			 "packs.idx says %" PRIu64 " (copied all the same)",
			 rr.size, r->size);
		problem(p, r->hex, rr.why);
	}
	if (rc == 1) {
		problem(p, r->hex, rr.why);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (is_new) {
		p->res.copied++;
		p->res.bytes += size;
	} else {
		p->res.skipped++;
	}
	return 0;
}

/* ---- packed objects: the rows of packs.idx, in file order ---------------- */

static int scan_row(struct dimp *p, sqlite3_stmt *q, struct row *r,
		    char *why)
{
	const unsigned char *key = sqlite3_column_text(q, 0);
	int klen = sqlite3_column_bytes(q, 0);
	size_t hexsz = 2 * udos_store_digest_size(p->dst);
	int64_t size = sqlite3_column_int64(q, 2);
	int64_t off = sqlite3_column_int64(q, 3);
	int64_t len = sqlite3_column_int64(q, 4);

	snprintf(r->hex, sizeof(r->hex), "%.*s",
		 key ? (klen > UDOS_OID_HEXSZ ? UDOS_OID_HEXSZ : klen) : 0,
		 key ? (const char *)key : "");
	if (!key || (size_t)klen != hexsz ||
	    udos_oid_parse_sz(&r->oid, r->hex, hexsz,
			      udos_store_digest_size(p->dst)) < 0) {
		snprintf(why, WHY, "packs.idx holds a hashkey that is not a "
			 "%s id", udos_hash_type_name(p->cfg.hash_type));
		return 1;
	}
	r->compressed = sqlite3_column_int(q, 1) != 0;
	r->pack_id = sqlite3_column_int64(q, 5);
	if (size < 0 || off < 0 || len < 0 || r->pack_id < 0) {
		snprintf(why, WHY, "packs.idx gives it a negative size, offset,"
			 " length or pack");
		return 1;
	}
	r->size = (uint64_t)size;
	r->offset = (uint64_t)off;
	r->length = (uint64_t)len;
	if (!r->compressed && r->size != r->length) {
		snprintf(why, WHY, "packs.idx gives it a size of %" PRIu64
			 " and a length of %" PRIu64 " though uncompressed",
			 r->size, r->length);
		return 1;
	}
	return 0;
}

static int import_packed(struct dimp *p, sqlite3 *db, char *idx)
{
	static const char sql[] =
		"SELECT hashkey, compressed, size, \"offset\", length, "
		"pack_id FROM db_object ORDER BY pack_id, \"offset\"";
	sqlite3_stmt *q = NULL;
	int src, rc = 0;

	src = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
	if (src != SQLITE_OK)
		return udos__dos_sqlerr(db, src, "read", idx);
	while (rc == 0 && (src = sqlite3_step(q)) == SQLITE_ROW) {
		char why[WHY];
		struct row r;

		rc = scan_row(p, q, &r, why);
		if (rc == 0)
			rc = open_pack(p, r.pack_id, why);
		if (rc == 0 && (r.offset > p->psize ||
				r.length > p->psize - r.offset)) {
			snprintf(why, WHY, "its record (bytes %" PRIu64 "..%"
				 PRIu64 ") runs past the end of packs/%"
				 PRId64 " (%" PRIu64 " bytes)", r.offset,
				 r.offset + r.length, r.pack_id, p->psize);
			rc = 1;
		}
		if (rc == 1) {
			problem(p, r.hex[0] ? r.hex : idx, why);
			rc = 0;
		} else if (rc == 0) {
			rc = copy_row(p, &r);
		}
		progress(p);
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = udos__dos_sqlerr(db, src, "read", idx);
	sqlite3_finalize(q);
	return rc;
}

/* ---- loose objects -------------------------------------------------------- */

struct loose_list {
	struct dimp *p;
	udos_oid *v;
	size_t n, cap;
};

static int list_loose(void *ctx, const char *rel, const udos_oid *oid)
{
	struct loose_list *l = ctx;

	if (!oid) { /* disk-objectstore would read it as an object */
		l->p->res.objects++;
		problem(l->p, rel, "its name is not an object id");
		return 0;
	}
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 1024;
		udos_oid *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return udos__err(-ENOMEM, "out of memory");
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = *oid;
	return 0;
}

static int copy_loose(struct dimp *p, const udos_oid *oid)
{
	char rel[UDOS_OID_HEXSZ + 16], hex[UDOS_OID_HEXSZ + 1];
	int plen = p->cfg.loose_prefix_len;
	int mode = p->o->compress == UDOS_COMPRESS_KEEP ? UDOS_COMPRESS_NO
							: p->o->compress;
	uint64_t s0 = udos__writer_stored(p->w);
	bool is_new = false;
	udos_oid got;
	struct stat sb;
	int fd, rc;

	udos_oid_fmt_sz(hex, oid, udos_store_digest_size(p->dst));
	rc = udos__writer_has(p->w, oid);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		p->res.skipped++;
		return 0;
	}
	if (plen)
		snprintf(rel, sizeof(rel), "loose/%.*s/%s", plen, hex,
			 hex + plen);
	else
		snprintf(rel, sizeof(rel), "loose/%s", hex);
	fd = openat(p->sfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) { /* packed and cleaned meanwhile */
		problem(p, hex, "its loose file vanished while importing");
		return 0;
	}
	if (fd < 0 || fstat(fd, &sb) < 0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return udos__err(rc, "cannot read '%s/%s': %s", p->path, rel,
				 udos_strerror(rc));
	}
	rc = udos__writer_stream(&got, &is_new, p->w, udos__fd_read, &fd,
				 mode, oid);
	close(fd);
	if (rc == UDOS_EHASH) {
		problem(p, hex, "its loose file's content does not hash to "
			"its name");
		return 0;
	}
	if (rc < 0)
		return rc;
	if (is_new) {
		p->res.copied++;
		p->res.bytes += (uint64_t)sb.st_size;
		p->res.bytes_stored += udos__writer_stored(p->w) - s0;
	} else {
		p->res.skipped++;
	}
	return 0;
}

/* ---- the run --------------------------------------------------------------- */

static int count_rows(sqlite3 *db, const char *idx, uint64_t *n)
{
	sqlite3_stmt *q = NULL;
	int src;

	src = sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM db_object", -1,
				 &q, NULL);
	if (src == SQLITE_OK) {
		src = sqlite3_step(q);
		if (src == SQLITE_ROW) {
			*n = (uint64_t)sqlite3_column_int64(q, 0);
			src = SQLITE_OK;
		}
	}
	sqlite3_finalize(q);
	return src == SQLITE_OK ? 0 : udos__dos_sqlerr(db, src, "read", idx);
}

int udos_dos_import(udos_dos_result *out, udos_store *dst, const char *src,
		    const udos_dos_import_opts *opts)
{
	static const udos_dos_import_opts defaults = UDOS_DOS_IMPORT_OPTS_INIT;
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	udos__loose_layout ly;
	struct loose_list ll = { NULL, NULL, 0, 0 };
	struct dimp p;
	sqlite3 *db = NULL;
	char idx[4200];
	uint64_t rows = 0;
	int sq, rc;

	UDOS_ASSERT_ARG(dst && src);
	if (out)
		memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.dst = dst;
	p.o = opts ? opts : &defaults;
	p.path = src;
	p.pfd = -1;
	p.pid = -1;
	p.sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.sfd < 0) {
		rc = -errno;
		if (rc == -ENOENT || rc == -ENOTDIR)
			rc = udos__err(UDOS_ENOTSTORE, "'%s' is not a "
				       "disk-objectstore container: %s", src,
				       rc == -ENOENT ? "it does not exist"
						     : "not a folder");
		else
			rc = udos__err(rc, "cannot open '%s': %s", src,
				       udos_strerror(rc));
		goto done;
	}
	rc = udos__dos_config_read(&p.cfg, p.sfd, src);
	if (rc < 0)
		goto done;
	if (p.cfg.hash_type != udos_store_hash_type(dst)) {
		rc = udos__err(-EINVAL, "'%s' is named by %s and '%s' by %s: "
			       "import into a container made with 'udos init "
			       "--hash %s'", src,
			       udos_hash_type_name(p.cfg.hash_type),
			       udos_store_path(dst),
			       udos_hash_type_name(udos_store_hash_type(dst)),
			       udos_hash_type_name(p.cfg.hash_type));
		goto done;
	}
	snprintf(idx, sizeof(idx), "%s/%s", src, UDOS__DOS_INDEX);
	if (faccessat(p.sfd, UDOS__DOS_INDEX, F_OK, 0) < 0) {
		rc = udos__err(UDOS_ENOTSTORE, "'%s' is not a disk-objectstore "
			       "container: it has no %s", src,
			       UDOS__DOS_INDEX);
		goto done;
	}
	/* read-only: the source is never changed (a WAL left by a writer
	 * that died is read, not checkpointed) */
	sq = sqlite3_open_v2(idx, &db, SQLITE_OPEN_READONLY, NULL);
	if (sq != SQLITE_OK) {
		rc = udos__dos_sqlerr(db, sq, "open", idx);
		goto done;
	}
	sqlite3_busy_timeout(db, 10000);
	rc = count_rows(db, idx, &rows);
	if (rc < 0)
		goto done;

	ll.p = &p;
	ly = (udos__loose_layout){ p.sfd, src, p.cfg.loose_prefix_len,
				   udos_store_digest_size(dst) };
	rc = udos__loose_walk_at(&ly, list_loose, &ll);
	if (rc < 0)
		goto done;
	p.res.objects += rows + ll.n;
	p.prog.total = rows + ll.n;

	p.win = udos__alloc(WIN);
	p.out = udos__alloc(OUT);
	if (!p.win || !p.out) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto done;
	}
	rc = udos__hash_new(&p.h, p.cfg.hash_type);
	if (rc == 0)
		rc = udos__zdec_new(&p.zd, UDOS_CODEC_ZLIB);
	if (rc < 0)
		goto done;
	wo.no_sync = p.o->no_sync;
	rc = udos_writer_open(&p.w, dst, &wo);
	if (rc < 0)
		goto done;
	rc = import_packed(&p, db, idx);
	for (size_t i = 0; rc == 0 && i < ll.n; i++) {
		rc = copy_loose(&p, &ll.v[i]);
		progress(&p);
	}
	if (rc == 0)
		rc = udos_writer_commit(p.w);
done:
	udos_writer_close(p.w);
	sqlite3_close(db);
	if (p.pfd >= 0)
		close(p.pfd);
	if (p.sfd >= 0)
		close(p.sfd);
	udos__zdec_free(p.zd);
	udos__hash_free(p.h);
	free(p.win);
	free(p.out);
	free(ll.v);
	if (out)
		*out = p.res;
	return rc;
}
