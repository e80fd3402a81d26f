/* dos_export.c - write every object of a udos container into a new
 * disk-objectstore container: packs (raw or zlib records) or loose files,
 * packs.idx with disk-objectstore's schema, config.json last. */
#include "dos_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WBUF (4u << 20)       /* pack bytes buffered per write */
#define CHUNK (1u << 20)      /* content read per step */
#define LIST_BATCH (64u * 1024)

/*
 * The schema disk-objectstore 1.x creates (SQLAlchemy's create_all of its
 * model Obj), to the byte: sqlite_master keeps the statements' text.
 */
static const char schema[] =
	"CREATE TABLE db_object (\n"
	"\tid INTEGER NOT NULL, \n"
	"\thashkey VARCHAR NOT NULL, \n"
	"\tcompressed BOOLEAN NOT NULL, \n"
	"\tsize INTEGER NOT NULL, \n"
	"\t\"offset\" INTEGER NOT NULL, \n"
	"\tlength INTEGER NOT NULL, \n"
	"\tpack_id INTEGER NOT NULL, \n"
	"\tPRIMARY KEY (id)\n"
	");\n"
	"CREATE UNIQUE INDEX ix_db_object_hashkey ON db_object (hashkey);\n";

struct dexp {
	udos_store *st;
	const udos_dos_export_opts *o;
	udos_dos_result res;
	udos__dos_config cfg;
	const char *path;
	int dfd;
	char idx[4200];
	sqlite3 *db;
	sqlite3_stmt *ins;
	udos__zenc *zenc;
	udos_buf zout;
	uint8_t *rbuf;           /* CHUNK bytes */
	/* the pack being written: file_end bytes in the file, wlen more in
	 * wbuf */
	int pfd;
	uint32_t pid;
	uint64_t file_end;
	uint8_t *wbuf;
	size_t wlen;
	uint64_t tmp_seq;
	udos_progress prog; /* objects (bytes not counted) */
};

static uint64_t pack_end(const struct dexp *p)
{
	return p->file_end + p->wlen;
}

static int flush(struct dexp *p)
{
	int rc;

	if (!p->wlen)
		return 0;
	rc = udos__pwrite_all(p->pfd, p->wbuf, p->wlen, p->file_end);
	if (rc < 0)
		return udos__err(rc, "cannot write '%s/packs/%" PRIu32 "': %s",
				 p->path, p->pid, udos_strerror(rc));
	p->file_end += p->wlen;
	p->wlen = 0;
	return 0;
}

static int put(struct dexp *p, const void *data, size_t len)
{
	const uint8_t *d = data;

	while (len) {
		size_t k = WBUF - p->wlen < len ? WBUF - p->wlen : len;
		int rc;

		memcpy(p->wbuf + p->wlen, d, k);
		p->wlen += k;
		d += k;
		len -= k;
		if (p->wlen == WBUF && (rc = flush(p)) < 0)
			return rc;
	}
	return 0;
}

/* drop what was written from `start` on (a record that failed) */
static int cut(struct dexp *p, uint64_t start)
{
	if (start >= p->file_end) {
		p->wlen = (size_t)(start - p->file_end);
		return 0;
	}
	p->wlen = 0;
	p->file_end = start;
	if (ftruncate(p->pfd, (off_t)start) < 0)
		return udos__err(-errno, "cannot truncate '%s/packs/%" PRIu32
				 "'", p->path, p->pid);
	return 0;
}

static int new_pack(struct dexp *p, uint32_t id)
{
	char rel[32];
	int rc;

	if (p->pfd >= 0) {
		rc = flush(p);
		if (rc < 0)
			return rc;
		close(p->pfd);
	}
	snprintf(rel, sizeof(rel), "packs/%" PRIu32, id);
	p->pfd = openat(p->dfd, rel, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			0644);
	if (p->pfd < 0)
		return udos__err(-errno, "cannot create '%s/%s': %s", p->path,
				 rel, udos_strerror(-errno));
	p->pid = id;
	p->file_end = 0;
	p->wlen = 0;
	return 0;
}

/* ---- one object ------------------------------------------------------------ */

/* How the record of an object is written. */
enum how { RAW, DEFLATE, COPY_ZLIB };

static enum how how_for(const struct dexp *p, const udos_meta *m)
{
	bool zipped;

	if (p->o->compress == UDOS_COMPRESS_NO)
		return RAW;
	zipped = m->loc == UDOS_LOC_PACKED && m->codec != UDOS_CODEC_NONE;
	if (p->o->compress == UDOS_COMPRESS_KEEP && !zipped)
		return RAW;
	/* a zlib record is already what disk-objectstore stores */
	return zipped && m->codec == UDOS_CODEC_ZLIB ? COPY_ZLIB : DEFLATE;
}

/* The object's bytes into the pack, as `how` says; *size_out content
 * bytes (COPY_ZLIB: the record's). */
static int write_record(struct dexp *p, enum how how, const udos_meta *m,
			udos_reader *r, uint64_t *size_out)
{
	uint64_t size = 0;
	ssize_t n;
	int rc = 0;

	for (;;) {
		if (how == COPY_ZLIB)
			n = udos__reader_read_stored(r, p->rbuf, CHUNK);
		else
			n = udos_reader_read(r, p->rbuf, CHUNK);
		if (n < 0)
			return (int)n;
		size += (uint64_t)n;
		if (how == DEFLATE) {
			p->zout.len = 0;
			rc = udos__zenc_run(p->zenc, &p->zout, p->rbuf,
					    (size_t)n, n == 0);
			if (rc == 0)
				rc = put(p, p->zout.data, p->zout.len);
		} else {
			rc = put(p, p->rbuf, (size_t)n);
		}
		if (rc < 0 || n == 0)
			break;
	}
	*size_out = how == COPY_ZLIB ? m->size : size;
	return rc;
}

static int add_row(struct dexp *p, const char *hex, bool compressed,
		   uint64_t size, uint64_t offset, uint64_t length)
{
	int src;

	sqlite3_reset(p->ins);
	sqlite3_bind_text(p->ins, 1, hex, -1, SQLITE_STATIC);
	sqlite3_bind_int(p->ins, 2, compressed);
	sqlite3_bind_int64(p->ins, 3, (sqlite3_int64)size);
	sqlite3_bind_int64(p->ins, 4, (sqlite3_int64)offset);
	sqlite3_bind_int64(p->ins, 5, (sqlite3_int64)length);
	sqlite3_bind_int64(p->ins, 6, p->pid);
	src = sqlite3_step(p->ins);
	if (src != SQLITE_DONE)
		return udos__dos_sqlerr(p->db, src, "write", p->idx);
	return 0;
}

static int export_packed(struct dexp *p, const char *hex, const udos_meta *m,
			 udos_reader *r)
{
	enum how how = how_for(p, m);
	uint64_t start, size = 0;
	int rc;

	/* a pack takes records until it reaches the target (as
	 * disk-objectstore fills them) */
	if (pack_end(p) >= p->cfg.pack_size_target && pack_end(p) > 0) {
		rc = new_pack(p, p->pid + 1);
		if (rc < 0)
			return rc;
	}
	start = pack_end(p);
	rc = write_record(p, how, m, r, &size);
	if (rc < 0) {
		int crc = cut(p, start);

		return crc < 0 ? crc : rc;
	}
	p->res.bytes_stored += pack_end(p) - start;
	p->res.bytes += size;
	return add_row(p, hex, how != RAW, size, start, pack_end(p) - start);
}

static int export_loose(struct dexp *p, const char *hex, udos_reader *r)
{
	int plen = p->cfg.loose_prefix_len;
	char tmp[64], rel[UDOS_OID_HEXSZ + 16];
	uint64_t size = 0;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "sandbox/udos-export-%" PRIu64,
		 p->tmp_seq++);
	fd = openat(p->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	if (fd < 0)
		return udos__err(-errno, "cannot create '%s/%s': %s", p->path,
				 tmp, udos_strerror(-errno));
	for (;;) {
		ssize_t n = udos_reader_read(r, p->rbuf, CHUNK);

		if (n <= 0) {
			rc = (int)n;
			break;
		}
		rc = udos__write_all(fd, p->rbuf, (size_t)n);
		if (rc < 0) {
			rc = udos__err(rc, "cannot write '%s/%s': %s", p->path,
				       tmp, udos_strerror(rc));
			break;
		}
		size += (uint64_t)n;
	}
	close(fd);
	if (plen) {
		snprintf(rel, sizeof(rel), "loose/%.*s", plen, hex);
		if (rc == 0 && mkdirat(p->dfd, rel, 0755) < 0 &&
		    errno != EEXIST)
			rc = udos__err(-errno, "cannot create '%s/%s': %s",
				       p->path, rel, udos_strerror(-errno));
		snprintf(rel, sizeof(rel), "loose/%.*s/%s", plen, hex,
			 hex + plen);
	} else {
		snprintf(rel, sizeof(rel), "loose/%s", hex);
	}
	if (rc == 0 && renameat(p->dfd, tmp, p->dfd, rel) < 0)
		rc = udos__err(-errno, "cannot create '%s/%s': %s", p->path,
			       rel, udos_strerror(-errno));
	if (rc < 0) {
		unlinkat(p->dfd, tmp, 0);
		return rc;
	}
	p->res.bytes += size;
	p->res.bytes_stored += size;
	return 0;
}

static int one(void *ctx, size_t index, const udos_oid *oid,
	       const udos_meta *m, udos_reader *r)
{
	struct dexp *p = ctx;
	char hex[UDOS_OID_HEXSZ + 1];
	int rc;

	(void)index;
	udos_oid_fmt_sz(hex, oid, udos_store_digest_size(p->st));
	if (!r) { /* deleted since it was listed */
		rc = UDOS_ENOTFOUND;
		udos__err(rc, "not found (deleted while exporting)");
	} else if (p->o->loose) {
		rc = export_loose(p, hex, r);
	} else {
		rc = export_packed(p, hex, m, r);
	}
	if (rc == UDOS_ECORRUPT || rc == UDOS_ENOTFOUND) {
		p->res.damaged++;
		if (p->o->on_problem)
			p->o->on_problem(p->o->ctx, hex, udos_error_detail());
		rc = 0;
	} else if (rc == 0) {
		p->res.copied++;
	}
	p->prog.done++;
	if (p->o->progress)
		p->o->progress(p->o->ctx, &p->prog);
	return rc;
}

/* ---- the run --------------------------------------------------------------- */

static int make_folders(struct dexp *p)
{
	static const char *const dirs[] = { "loose", "packs", "duplicates",
					    "sandbox" };
	int rc;

	if (mkdir(p->path, 0755) < 0 && errno != EEXIST)
		return udos__err(-errno, "cannot create '%s': %s", p->path,
				 udos_strerror(-errno));
	p->dfd = open(p->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dfd < 0)
		return udos__err(-errno, "cannot open '%s': %s", p->path,
				 udos_strerror(-errno));
	rc = udos__dir_check_empty(p->dfd, p->path);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdirat(p->dfd, dirs[i], 0755) < 0)
			return udos__err(-errno, "cannot create '%s/%s': %s",
					 p->path, dirs[i],
					 udos_strerror(-errno));
	return 0;
}

static int open_index(struct dexp *p)
{
	static const char ins[] =
		"INSERT INTO db_object (hashkey, compressed, size, \"offset\", "
		"length, pack_id) VALUES (?, ?, ?, ?, ?, ?)";
	int src;

	snprintf(p->idx, sizeof(p->idx), "%s/%s", p->path, UDOS__DOS_INDEX);
	src = sqlite3_open_v2(p->idx, &p->db,
			      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	/* WAL, as disk-objectstore sets at every connection (it is kept in
	 * the file); the export's own durability is the syncfs at the end */
	if (src == SQLITE_OK)
		src = sqlite3_exec(p->db, "PRAGMA journal_mode=wal; PRAGMA "
				   "synchronous=OFF; BEGIN", NULL, NULL, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_exec(p->db, schema, NULL, NULL, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_prepare_v2(p->db, ins, -1, &p->ins, NULL);
	if (src != SQLITE_OK)
		return udos__dos_sqlerr(p->db, src, "create", p->idx);
	return 0;
}

static int close_index(struct dexp *p)
{
	int src;

	sqlite3_finalize(p->ins);
	p->ins = NULL;
	src = sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL);
	if (src != SQLITE_OK)
		return udos__dos_sqlerr(p->db, src, "write", p->idx);
	/* the last connection's close checkpoints the WAL into packs.idx */
	src = sqlite3_close(p->db);
	p->db = NULL;
	if (src != SQLITE_OK)
		return udos__dos_sqlerr(NULL, src, "close", p->idx);
	return 0;
}

static int setup(struct dexp *p)
{
	udos_store_info info;
	static const char d[] = "0123456789abcdef";
	int level = p->o->zlib_level, rc;
	uint8_t u[16];

	udos_store_info_get(&info, p->st);
	if (level < 0 || level > 9)
		return udos__err(-EINVAL, "zlib level %d is not 1 to 9",
				 level);
	if (!level)
		level = info.default_codec == UDOS_CODEC_ZLIB
				? info.default_level
				: 1;
	p->cfg.container_version = 1;
	p->cfg.hash_type = udos_store_hash_type(p->st);
	p->cfg.loose_prefix_len = info.loose_prefix_len;
	p->cfg.pack_size_target = info.pack_size_target;
	snprintf(p->cfg.compression, sizeof(p->cfg.compression), "zlib+%d",
		 level);
	/* uuid4().hex: 32 digits, no dashes */
	rc = udos__uuid4(u);
	if (rc < 0)
		return rc;
	for (int i = 0; i < 16; i++) {
		p->cfg.container_id[2 * i] = d[u[i] >> 4];
		p->cfg.container_id[2 * i + 1] = d[u[i] & 15];
	}
	p->cfg.container_id[32] = '\0';
	rc = udos__zenc_new(&p->zenc, UDOS_CODEC_ZLIB, level);
	if (rc < 0)
		return rc;
	p->rbuf = udos__alloc(CHUNK);
	p->wbuf = udos__alloc(WBUF);
	if (!p->rbuf || !p->wbuf)
		return udos__err(-ENOMEM, "out of memory");
	return 0;
}

int udos_dos_export(udos_dos_result *out, udos_store *st, const char *dest,
		    const udos_dos_export_opts *opts)
{
	static const udos_dos_export_opts defaults = UDOS_DOS_EXPORT_OPTS_INIT;
	udos_oid *ids = NULL;
	struct dexp p;
	size_t n = 0;
	int rc;

	UDOS_ASSERT_ARG(st && dest);
	if (out)
		memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.st = st;
	p.o = opts ? opts : &defaults;
	p.path = dest;
	p.dfd = -1;
	p.pfd = -1;
	if (p.o->compress != UDOS_COMPRESS_KEEP &&
	    p.o->compress != UDOS_COMPRESS_YES &&
	    p.o->compress != UDOS_COMPRESS_NO)
		return udos__err(-EINVAL, "export-dos compresses keep, yes or "
				 "no");
	rc = setup(&p);
	if (rc == 0)
		rc = make_folders(&p);
	if (rc == 0)
		rc = udos__store_list_sorted(&ids, &n, NULL, st);
	if (rc == 0)
		rc = open_index(&p);
	if (rc == 0 && !p.o->loose)
		rc = new_pack(&p, 0);
	if (rc < 0)
		goto done;
	p.res.objects = p.prog.total = n;
	for (size_t at = 0; at < n && rc == 0; at += LIST_BATCH) {
		size_t k = n - at < LIST_BATCH ? n - at : LIST_BATCH;

		rc = udos_object_read_many(st, ids + at, k, UDOS__READ_LAZY,
					   one, &p);
	}
	if (rc == 0 && p.pfd >= 0) {
		rc = flush(&p);
		/* an empty last pack is left out, as disk-objectstore does */
		if (rc == 0 && p.file_end == 0) {
			char rel[32];

			snprintf(rel, sizeof(rel), "packs/%" PRIu32, p.pid);
			unlinkat(p.dfd, rel, 0);
		}
	}
	if (rc == 0)
		rc = close_index(&p);
	/* everything on disk before config.json makes it a container */
	if (rc == 0 && !p.o->no_sync && syncfs(p.dfd) < 0)
		rc = udos__err(-errno, "cannot sync '%s': %s", dest,
			       udos_strerror(-errno));
	if (rc == 0)
		rc = udos__dos_config_write(p.dfd, dest, &p.cfg);
done:
	if (p.db) {
		sqlite3_finalize(p.ins);
		sqlite3_close(p.db);
	}
	if (p.pfd >= 0)
		close(p.pfd);
	if (p.dfd >= 0)
		close(p.dfd);
	udos__zenc_free(p.zenc);
	udos_buf_release(&p.zout);
	free(ids);
	free(p.rbuf);
	free(p.wbuf);
	if (out)
		*out = p.res;
	return rc;
}
