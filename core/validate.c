/* validate.c - the integrity walk: loose names against content, every pack
 * record's header and checksum (and, in full mode, its decompressed hash),
 * and the index against the packs. Every problem is reported. */
#include "internal.h"
#include "remote_manifest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)

const char *udos_finding_name(int kind)
{
	switch (kind) {
	case UDOS_FIND_LOOSE_NAME: return "loose-name";
	case UDOS_FIND_LOOSE_HASH: return "loose-hash";
	case UDOS_FIND_PACK_HEADER: return "pack-header";
	case UDOS_FIND_RECORD_HEADER: return "record-header";
	case UDOS_FIND_RECORD_CHECKSUM: return "record-checksum";
	case UDOS_FIND_RECORD_TRUNCATED: return "record-truncated";
	case UDOS_FIND_RECORD_HASH: return "record-hash";
	case UDOS_FIND_RECORD_DECODE: return "record-decode";
	case UDOS_FIND_INDEX_DANGLING: return "index-dangling";
	case UDOS_FIND_INDEX_MISMATCH: return "index-mismatch";
	case UDOS_FIND_INDEX_VALUE: return "index-value";
	case UDOS_FIND_IO: return "io";
	case UDOS_FIND_INDEX_BEHIND: return "index-behind";
	case UDOS_FIND_STRAY: return "stray-file";
	}
	return "unknown";
}

int udos__record_check(const udos__rec *rec, int *kind, int fd,
		       uint64_t file_size, bool full, int hash_type)
{
	uint8_t *buf = NULL, *out = NULL;
	udos__hash *sha = NULL;
	udos__zdec *zd = NULL;
	udos__xxh *x = NULL;
	uint64_t at = rec->offset, left, produced = 0;
	ssize_t n;
	int rc;

	*kind = UDOS_FIND_IO;
	if (at > file_size || rec->stored_len > file_size - at) {
		*kind = UDOS_FIND_RECORD_TRUNCATED;
		return udos__err(UDOS_ECORRUPT, "record of %" PRIu64 " bytes "
				 "runs past the end of the pack",
				 rec->stored_len);
	}
	buf = udos__alloc(CHUNK);
	x = udos__xxh_new();
	if (!buf || !x) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto done;
	}
	if (full) {
		out = udos__alloc(CHUNK);
		rc = udos__hash_new(&sha, hash_type);
		if (rc == 0)
			rc = udos__zdec_new(&zd, rec->codec);
		if (rc < 0 || !out) {
			rc = rc < 0 ? rc : udos__err(-ENOMEM, "out of memory");
			goto done;
		}
	}
	left = rec->stored_len;
	bool zdone = rec->codec == UDOS_CODEC_NONE;
	while (left) {
		size_t want = left < CHUNK ? (size_t)left : CHUNK;
		n = udos__pread_full(fd, buf, want, at);
		if (n < 0 || (size_t)n != want) {
			rc = n < 0 ? udos__err((int)n, "read error: %s",
					       udos_strerror((int)n))
				   : udos__err(UDOS_ECORRUPT, "pack shrank");
			goto done;
		}
		udos__xxh_update(x, buf, want);
		if (full && rec->codec == UDOS_CODEC_NONE) {
			udos__hash_update(sha, buf, want);
			produced += want;
		} else if (full) {
			const uint8_t *in = buf;
			size_t in_len = want;
			while (in_len || !zdone) {
				size_t got;
				bool done;
				if (zdone) {
					/* bytes after the end of the frame */
					*kind = UDOS_FIND_RECORD_DECODE;
					rc = udos__err(UDOS_ECORRUPT, "data "
						       "after the end of the "
						       "compressed frame");
					goto done;
				}
				rc = udos__zdec_run(zd, &in, &in_len, out,
						    CHUNK, &got, &done);
				if (rc < 0) {
					*kind = UDOS_FIND_RECORD_DECODE;
					rc = UDOS_ECORRUPT;
					goto done;
				}
				udos__hash_update(sha, out, got);
				produced += got;
				zdone = done;
				if (!got && !in_len)
					break;
			}
		}
		at += want;
		left -= want;
	}
	if (udos__xxh_digest(x) != rec->data_xxh) {
		*kind = UDOS_FIND_RECORD_CHECKSUM;
		rc = udos__err(UDOS_ECORRUPT, "checksum of the stored bytes "
			       "does not match");
		goto done;
	}
	if (full) {
		udos_oid got;
		if (!zdone) {
			*kind = UDOS_FIND_RECORD_DECODE;
			rc = udos__err(UDOS_ECORRUPT, "compressed data ends "
				       "early");
			goto done;
		}
		udos__hash_final(&got, sha);
		if (produced != rec->raw_len || udos_oid_cmp(&got, &rec->oid)) {
			*kind = UDOS_FIND_RECORD_HASH;
			rc = udos__err(UDOS_ECORRUPT, "content does not match "
				       "its hash or size");
			goto done;
		}
	}
	rc = 0;
done:
	free(buf);
	free(out);
	udos__xxh_free(x);
	udos__hash_free(sha);
	udos__zdec_free(zd);
	return rc;
}

/* ---- the walk ---------------------------------------------------------- */

struct pack_scan {
	bool present;
	uint64_t size;     /* size of packs/N */
	uint64_t limit;    /* bytes of packs/N that hold committed records */
	uint64_t slots;    /* committed entries of packs/N.rec */
	uint64_t scanned;  /* entries before this one were checked */
	int recfd;         /* packs/N.rec, or -1 */
	/* evicted: the data is on the remote; only what the read-through
	 * cache holds (cfd, map of nblk blocks) is checked here */
	bool evicted;
	int cfd;
	uint8_t *map;
	uint64_t nblk;
};

struct val {
	udos_store *st;
	bool full;
	udos_finding_fn fn;
	void *ctx;
	udos_validate_result *res;
	udos_progress_fn progress;
	void *pctx;
	udos_progress prog; /* loose objects and record entries */
	struct pack_scan *packs;
	size_t n_packs;
	int stop;
};

static void find(struct val *v, int kind, const udos_oid *oid,
		 const char *path, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void find(struct val *v, int kind, const udos_oid *oid,
		 const char *path, uint64_t off, const char *fmt, ...)
{
	udos_finding f = { 0 };
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f.kind = kind;
	if (oid) {
		f.has_oid = true;
		f.oid = *oid;
	}
	f.path = path;
	f.offset = off;
	f.message = msg;
	v->res->findings++;
	if (v->fn && !v->stop)
		v->stop = v->fn(v->ctx, &f);
}

/* One loose object or record entry checked. */
static void tick(struct val *v, uint64_t bytes)
{
	v->prog.done++;
	v->prog.bytes_done += bytes;
	v->res->bytes_checked += bytes;
	if (v->progress)
		v->progress(v->pctx, &v->prog);
}

static int val_loose(void *ctx, const char *rel, const udos_oid *oid)
{
	struct val *v = ctx;
	udos__hash *sha = NULL;
	uint8_t *buf;
	uint64_t size = 0;
	udos_oid got;
	int fd, rc = 0;

	if (!oid) {
		find(v, UDOS_FIND_LOOSE_NAME, NULL, rel, 0,
		     "'%s' is not named by a valid hash", rel);
		return v->stop;
	}
	fd = openat(v->st->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT) /* packed and cleaned meanwhile */
			find(v, UDOS_FIND_IO, oid, rel, 0, "cannot read '%s': "
			     "%s", rel, udos_strerror(-errno));
		return v->stop;
	}
	buf = udos__alloc(CHUNK);
	if (!buf || udos__hash_new(&sha, v->st->hash_type) < 0) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto done;
	}
	rc = udos__hash_fd(&got, &size, sha, fd, buf, CHUNK);
	if (rc < 0) {
		find(v, UDOS_FIND_IO, oid, rel, 0, "cannot read '%s': %s", rel,
		     udos_strerror(rc));
		rc = 0;
		goto done;
	}
	tick(v, size);
	v->res->loose_checked++;
	if (udos_oid_cmp(&got, oid)) {
		char hex[65];
		find(v, UDOS_FIND_LOOSE_HASH, oid, rel, 0, "content of '%s' "
		     "hashes to '%s'", rel,
		     udos__oid_fmt(hex, v->st, &got));
	}
	rc = v->stop;
done:
	close(fd);
	free(buf);
	udos__hash_free(sha);
	return rc;
}

/* open packs/N.rec, check its header and count its committed entries */
static int open_recs(struct val *v, uint32_t id, const char *rel)
{
	struct pack_scan *ps = &v->packs[id];
	uint8_t h[UDOS_RECS_HDR_SIZE], want[UDOS_RECS_HDR_SIZE];
	struct stat sb;
	uint64_t n;
	int fd;

	fd = openat(v->st->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		find(v, UDOS_FIND_PACK_HEADER, NULL, rel, 0, "cannot open "
		     "'%s': %s", rel, udos_strerror(-errno));
		return -1;
	}
	udos__recs_header(want, v->st->uuid, id);
	if (fstat(fd, &sb) < 0 ||
	    udos__pread_full(fd, h, sizeof(h), 0) != sizeof(h) ||
	    memcmp(h, want, sizeof(h))) {
		find(v, UDOS_FIND_PACK_HEADER, NULL, rel, 0, "'%s' has a bad "
		     "header", rel);
		close(fd);
		return -1;
	}
	n = ((uint64_t)sb.st_size - UDOS_RECS_HDR_SIZE) / UDOS_REC_SIZE;
	if (ps->slots == UINT64_MAX) {
		if (udos__rec_pos(n) != (uint64_t)sb.st_size)
			find(v, UDOS_FIND_RECORD_TRUNCATED, NULL, rel,
			     udos__rec_pos(n), "'%s' ends inside an entry", rel);
		ps->slots = n;
	} else if (ps->slots > n) {
		find(v, UDOS_FIND_RECORD_TRUNCATED, NULL, rel,
		     (uint64_t)sb.st_size, "'%s' holds %" PRIu64 " entries, "
		     "fewer than the %" PRIu64 " committed", rel, n, ps->slots);
		ps->slots = n;
	}
	return fd;
}

int udos__rec_read(udos__rec *rec, int fd, uint64_t slot)
{
	uint8_t h[UDOS_REC_SIZE];
	ssize_t n = udos__pread_full(fd, h, sizeof(h), udos__rec_pos(slot));

	if (n < 0)
		return udos__err((int)n, "read error: %s", udos_strerror((int)n));
	if (n != sizeof(h))
		return udos__err(UDOS_ECORRUPT, "entry %" PRIu64 " is missing",
				 slot);
	rec->slot = slot;
	return udos__rec_decode(rec, h);
}

/* Whether the bytes at [off, off + len) are here to be checked: always for
 * a local pack, for an evicted one when the read-through cache holds them
 * (checking never downloads). */
static bool cached(const struct pack_scan *ps, uint64_t off, uint64_t len)
{
	return !ps->evicted ||
	       (ps->map && udos__rpack_peek_has(ps->map, ps->nblk, off, len));
}

/* Walk packs/N.rec: every entry sound, the records back to back from offset
 * 0 to the committed end, each one's stored bytes checked. */
static int scan_pack(struct val *v, uint32_t id)
{
	struct pack_scan *ps = &v->packs[id];
	udos__packfile *pf = NULL;
	char rel[64], rrel[64];
	uint64_t expect = 0;
	int fd;

	udos__pack_relpath(rel, sizeof(rel), id);
	udos__recs_relpath(rrel, sizeof(rrel), id);
	ps->recfd = open_recs(v, id, rrel);
	if (ps->recfd < 0)
		return v->stop; /* index entries are then checked one by one */
	if (ps->evicted) {
		fd = ps->cfd; /* never fetched: see cached() */
	} else if (udos__packfile_get(&pf, v->st, id) < 0) {
		return v->stop;
	} else if (udos__packfile_need(pf, 0, ps->size) < 0) {
		find(v, UDOS_FIND_IO, NULL, rel, 0, "%s", udos_error_detail());
		udos__packfile_put(pf);
		return v->stop;
	} else {
		fd = pf->fd;
	}
	for (uint64_t k = 0; k < ps->slots && !v->stop; k++) {
		udos__rec rec, l;
		int kind, rc;
		bool ok;

		rc = udos__rec_read(&rec, ps->recfd, k);
		if (rc < 0) {
			find(v, rc == UDOS_ECORRUPT ? UDOS_FIND_RECORD_HEADER
						    : UDOS_FIND_IO,
			     NULL, rrel, udos__rec_pos(k), "'%s' entry %" PRIu64
			     ": %s", rrel, k, udos_error_detail());
			expect = UINT64_MAX; /* resynchronise on the next */
			continue;
		}
		if (expect != UINT64_MAX && rec.offset != expect)
			find(v, UDOS_FIND_RECORD_HEADER, &rec.oid, rrel,
			     udos__rec_pos(k), "'%s' entry %" PRIu64 " is at "
			     "offset %" PRIu64 ", expected %" PRIu64, rrel, k,
			     rec.offset, expect);
		expect = rec.offset + rec.stored_len;
		if (!cached(ps, rec.offset, rec.stored_len)) {
			/* its bytes are on the remote: 'validate --remote' */
			v->res->evicted_records++;
			rc = 0;
		} else {
			v->res->records_checked++;
			rc = udos__record_check(&rec, &kind, fd, ps->limit,
						v->full, v->st->hash_type);
		}
		if (rc < 0)
			find(v, kind, &rec.oid, rel, rec.offset, "pack '%s' "
			     "offset %" PRIu64 ": %s", rel, rec.offset,
			     udos_error_detail());
		ok = rc == 0;
		rc = udos__store_index_get(&l, v->st, &rec.oid);
		if (rc != 0 || l.pack_id != id || l.slot != k)
			v->res->unreferenced_records++;
		/* an intact record of an id neither indexed nor deleted: the
		 * index lost it (or hides it), and repack would keep it */
		if (ok && rc == UDOS_ENOTFOUND &&
		    udos__store_is_deleted(v->st, &rec.oid) == 0) {
			char hex[65];
			find(v, UDOS_FIND_INDEX_BEHIND, &rec.oid, rel,
			     rec.offset, "'%s' in '%s' is intact and was not "
			     "deleted, but the index does not know it: run "
			     "'udos repair'", udos__oid_fmt(hex, v->st,
							    &rec.oid), rel);
		}
		tick(v, cached(ps, rec.offset, rec.stored_len) ? rec.stored_len
							      : 0);
		ps->scanned = k + 1;
	}
	if (!v->stop && expect != UINT64_MAX && expect != ps->limit)
		find(v, UDOS_FIND_RECORD_TRUNCATED, NULL, rel, expect, "pack "
		     "'%s' has %" PRIu64 " bytes, its records end at %" PRIu64,
		     rel, ps->limit, expect);
	udos__packfile_put(pf);
	return v->stop;
}

static bool same_rec(const udos__rec *a, const udos__rec *b)
{
	return !udos_oid_cmp(&a->oid, &b->oid) && a->codec == b->codec &&
	       a->offset == b->offset && a->raw_len == b->raw_len &&
	       a->stored_len == b->stored_len && a->data_xxh == b->data_xxh;
}

static int val_index(void *ctx, const udos_oid *oid, const void *val,
		     size_t len)
{
	struct val *v = ctx;
	struct pack_scan *ps;
	udos__packfile *pf = NULL;
	char hex[65], rel[64];
	udos__rec l, rec;
	int kind;

	v->res->index_checked++;
	udos__oid_fmt(hex, v->st, oid);
	if (udos__loc_decode(&l, val, len) < 0) {
		find(v, UDOS_FIND_INDEX_VALUE, oid, "index", 0, "index value "
		     "of '%s' cannot be decoded", hex);
		return v->stop;
	}
	l.oid = *oid;
	udos__pack_relpath(rel, sizeof(rel), l.pack_id);
	ps = l.pack_id < v->n_packs ? &v->packs[l.pack_id] : NULL;
	if (!ps || !ps->present) {
		find(v, UDOS_FIND_INDEX_DANGLING, oid, rel, l.offset, "'%s' is "
		     "indexed in missing pack '%s'", hex, rel);
		return v->stop;
	}
	if (l.offset > ps->size || l.stored_len > ps->size - l.offset) {
		find(v, UDOS_FIND_INDEX_DANGLING, oid, rel, l.offset, "'%s' is "
		     "indexed past the end of pack '%s' (offset %" PRIu64 ")",
		     hex, rel, l.offset);
		return v->stop;
	}
	if (ps->recfd >= 0 && l.slot < ps->slots) {
		if (udos__rec_read(&rec, ps->recfd, l.slot) < 0 ||
		    !same_rec(&rec, &l))
			find(v, UDOS_FIND_INDEX_MISMATCH, oid, rel, l.offset,
			     "index entry of '%s' disagrees with entry %"
			     PRIu64 " of '%s.rec'", hex, l.slot, rel);
		if (l.slot < ps->scanned)
			return v->stop; /* its bytes were checked by the scan */
	}
	/* not reached by the scan: check the bytes on the index's word */
	if (ps->evicted) {
		if (cached(ps, l.offset, l.stored_len) &&
		    udos__record_check(&l, &kind, ps->cfd, ps->size, v->full,
				       v->st->hash_type) < 0)
			find(v, kind, oid, rel, l.offset, "'%s' in pack '%s' "
			     "offset %" PRIu64 ": %s", hex, rel, l.offset,
			     udos_error_detail());
		return v->stop;
	}
	if (udos__packfile_get(&pf, v->st, l.pack_id) < 0)
		find(v, UDOS_FIND_IO, oid, rel, l.offset, "%s",
		     udos_error_detail());
	else if (udos__packfile_need(pf, l.offset, l.stored_len) < 0)
		find(v, UDOS_FIND_IO, oid, rel, l.offset, "%s",
		     udos_error_detail());
	else if (udos__record_check(&l, &kind, pf->fd, ps->size, v->full,
				    v->st->hash_type) < 0)
		find(v, kind, oid, rel, l.offset, "'%s' in pack '%s' offset %"
		     PRIu64 ": %s", hex, rel, l.offset, udos_error_detail());
	udos__packfile_put(pf);
	return v->stop;
}

/*
 * Intact records past the index's tail. After a writer that closed, the
 * index is older than its packs (put back from a copy): a finding. While a
 * writer is at work they are its uncommitted records; after one that died
 * (killed, power cut) its residue: counted, no fault. Either way the next
 * writer indexes them, and so does repair; until then they cannot be read.
 */
static void check_behind(struct val *v, const udos__tail *t, bool have_tail)
{
	int last = udos__store_last_writer(v->st);

	if (last == UDOS__WRITER_RUNNING)
		return;
	for (size_t id = have_tail ? t->pack_id : 0; id < v->n_packs; id++) {
		bool is_tail = have_tail && id == t->pack_id;
		char rel[64];
		udos__scan sc;

		if (!v->packs[id].present)
			continue;
		if (udos__pack_scan(&sc, v->st, (uint32_t)id,
				    is_tail ? t->slots : 0,
				    is_tail ? t->end : 0, 0, NULL, NULL) < 0 ||
		    !sc.intact)
			continue;
		if (last != UDOS__WRITER_CLOSED) {
			v->res->unindexed_records += sc.intact;
			continue;
		}
		udos__pack_relpath(rel, sizeof(rel), (uint32_t)id);
		find(v, UDOS_FIND_INDEX_BEHIND, NULL, rel, is_tail ? t->end : 0,
		     "'%s' holds %" PRIu64 " intact records the index does not "
		     "know, and the last writer closed: the index is older "
		     "than its packs; the next writer indexes them, or run "
		     "'udos repair'", rel, sc.intact);
	}
}

/* what may sit in the container's folder (docs/FORMAT.md) */
static const char *const root_names[] = {
	"config.json", "loose", "sandbox", "packs", "index", "writer.lock",
	"index.gen", "index.filter", "backup.state",
	"remote.conf", "remote.manifest", "cache", "stat.cache",
};

static bool root_name_ok(const char *name)
{
	for (size_t i = 0; i < sizeof(root_names) / sizeof(*root_names); i++)
		if (!strcmp(name, root_names[i]))
			return true;
	return false;
}

/* "N" or "N.rec", N a pack id in decimal without leading zeros */
static bool pack_name_ok(const char *name)
{
	const char *p = name;

	if (!isdigit((unsigned char)*p) ||
	    (p[0] == '0' && isdigit((unsigned char)p[1])))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	return (!*p || !strcmp(p, ".rec")) && p - name <= 10 &&
	       strtoull(name, NULL, 10) <= UINT32_MAX;
}

static bool ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n >= m && !strcmp(s + n - m, end);
}

/* what interrupted writers, backups and repairs leave in the folder */
static bool root_residue(const char *name)
{
	return !strncmp(name, "index.", 6) || ends_with(name, ".tmp");
}

/* sandbox files are "<pid>-..." (writers) or "backup-..." */
static bool sandbox_residue(const char *name)
{
	return udos__sandbox_owner(name) || !strncmp(name, "backup-", 7);
}

static bool sandbox_name_ok(const char *name)
{
	return udos__pid_running(udos__sandbox_owner(name));
}

static void check_folder(struct val *v, const char *rel,
			 bool (*ok)(const char *name),
			 bool (*residue)(const char *name), const char *why)
{
	int fd = openat(v->st->dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) && !v->stop) {
		char path[300];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    ok(de->d_name))
			continue;
		if (residue && residue(de->d_name)) {
			v->res->residue_files++;
			continue;
		}
		if (!strcmp(rel, "."))
			snprintf(path, sizeof(path), "%s", de->d_name);
		else
			snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
		find(v, UDOS_FIND_STRAY, NULL, path, 0, "'%s' does not belong "
		     "here: %s", path, why);
	}
	closedir(d);
}

static void check_strays(struct val *v)
{
	check_folder(v, ".", root_name_ok, root_residue,
		     "not part of a udos container");
	check_folder(v, "packs", pack_name_ok, NULL,
		     "not a pack or record file");
	check_folder(v, "sandbox", sandbox_name_ok, sandbox_residue,
		     "not a file udos writes");
}

static int count_loose(void *ctx, const char *rel, const udos_oid *oid)
{
	struct val *v = ctx;
	struct stat sb;

	if (oid && fstatat(v->st->dirfd, rel, &sb, 0) == 0) {
		v->prog.total++;
		v->prog.bytes_total += (uint64_t)sb.st_size;
	}
	return 0;
}

int udos_store_validate(udos_validate_result *out, udos_store *st,
			unsigned flags, udos_finding_fn fn, void *ctx,
			udos_progress_fn progress, void *pctx)
{
	udos_validate_result local;
	struct val v = { 0 };
	udos__manifest man = { 0 };
	udos__tail t = { 0 };
	bool have_tail;
	int64_t max;
	int rc;

	UDOS_ASSERT_ARG(st);
	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	v.st = st;
	v.full = flags & UDOS_VALIDATE_FULL;
	v.fn = fn;
	v.ctx = ctx;
	v.res = out;
	v.progress = progress;
	v.pctx = pctx;

	rc = udos__store_refresh(st);
	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&st->ixlock);
	rc = udos__index_get_tail(st->ix, &t);
	pthread_rwlock_unlock(&st->ixlock);
	if (rc < 0 && rc != UDOS_ENOTFOUND)
		return rc;
	have_tail = rc == 0;

	max = udos__packs_max_id(st);
	if (max < -1)
		return (int)max;
	/* which packs are evicted (none when unreadable: they are then
	 * missing packs, each a finding) */
	if (udos__manifest_load(&man, st) < 0)
		udos__err_clear();
	v.n_packs = (size_t)(max + 1);
	v.packs = udos__calloc(v.n_packs, sizeof(*v.packs));
	if (!v.packs) {
		udos__manifest_release(&man);
		return udos__err(-ENOMEM, "out of memory");
	}
	for (size_t id = 0; id < v.n_packs; id++) {
		struct pack_scan *ps = &v.packs[id];
		char rel[64], rrel[64];
		struct stat sb, rs;

		ps->recfd = ps->cfd = -1;
		udos__pack_relpath(rel, sizeof(rel), (uint32_t)id);
		if (fstatat(st->dirfd, rel, &sb, 0) < 0) {
			/* evicted: its records are checked, its data only
			 * where the read-through cache holds it (nothing is
			 * downloaded: that is 'validate --remote') */
			const udos__mpack *p = NULL;
			/* as rpack.c: evicted means N.rec here, listed there
			 * (a pack a repack removed is listed until a push) */
			udos__recs_relpath(rrel, sizeof(rrel), (uint32_t)id);
			if (errno == ENOENT &&
			    faccessat(st->dirfd, rrel, F_OK, 0) == 0)
				p = udos__manifest_find(&man, (uint32_t)id);
			if (!p)
				continue;
			ps->evicted = true;
			sb.st_size = (off_t)p->size;
			out->evicted_packs++;
			if (udos__rpack_peek(&ps->cfd, &ps->map, &ps->nblk, st,
					     p) < 0)
				udos__err_clear();
		}
		ps->present = true;
		ps->size = ps->limit = (uint64_t)sb.st_size;
		ps->slots = UINT64_MAX;
		/* past the tail lies what no commit has covered yet: a
		 * writer at work, or a crash's residue */
		if (have_tail && id == t.pack_id) {
			ps->slots = t.slots;
			if (ps->size > t.end)
				ps->limit = t.end;
		} else if (!have_tail || id > t.pack_id) {
			/* nothing committed there (yet) */
			ps->slots = ps->limit = 0;
		}
		out->tail_bytes += ps->size - ps->limit;
		v.prog.bytes_total += ps->evicted ? 0 : ps->limit;
		udos__recs_relpath(rrel, sizeof(rrel), (uint32_t)id);
		if (ps->slots != UINT64_MAX)
			v.prog.total += ps->slots;
		else if (fstatat(st->dirfd, rrel, &rs, 0) == 0 &&
			 rs.st_size > UDOS_RECS_HDR_SIZE)
			v.prog.total += ((uint64_t)rs.st_size -
					 UDOS_RECS_HDR_SIZE) / UDOS_REC_SIZE;
		if (have_tail && id == t.pack_id && ps->size < t.end)
			find(&v, UDOS_FIND_RECORD_TRUNCATED, NULL, rel,
			     ps->size, "pack '%s' is %" PRIu64 " bytes, shorter "
			     "than its committed end %" PRIu64, rel, ps->size,
			     t.end);
	}
	rc = udos__loose_walk(st, count_loose, &v);
	if (rc == 0)
		rc = udos__loose_walk(st, val_loose, &v);
	for (size_t id = 0; rc == 0 && id < v.n_packs && !v.stop; id++)
		if (v.packs[id].present && v.packs[id].slots)
			rc = scan_pack(&v, (uint32_t)id);
	if (rc == 0 && !v.stop) {
		pthread_rwlock_rdlock(&st->ixlock);
		rc = udos__index_foreach_raw(st->ix, val_index, &v);
		pthread_rwlock_unlock(&st->ixlock);
	}
	if (rc == 0 && !v.stop)
		check_behind(&v, &t, have_tail);
	if (rc == 0 && !v.stop)
		check_strays(&v);
	for (size_t id = 0; id < v.n_packs; id++) {
		if (v.packs[id].recfd >= 0)
			close(v.packs[id].recfd);
		if (v.packs[id].cfd >= 0)
			close(v.packs[id].cfd);
		free(v.packs[id].map);
	}
	free(v.packs);
	udos__manifest_release(&man);
	if (v.stop && rc == v.stop)
		rc = 0;
	return rc < 0 ? rc : 0;
}
