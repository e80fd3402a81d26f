/* udos/maint.h - packing, cleaning, validating and repacking. */
#ifndef UDOS_MAINT_H
#define UDOS_MAINT_H

#include <stdbool.h>
#include <stdint.h>

#include "object.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Progress of a long operation in its two measures: the things it goes
 * through (objects, record entries, files: said per call) and their bytes.
 * A total of 0 is unknown. Called often (per object or chunk): it must
 * return quickly.
 */
typedef struct udos_progress {
	uint64_t done, total;             /* objects, entries or files */
	uint64_t bytes_done, bytes_total; /* their bytes */
} udos_progress;

typedef void (*udos_progress_fn)(void *ctx, const udos_progress *p);

typedef struct udos_pack_opts {
	unsigned version;      /* UDOS_PACK_OPTS_VERSION */
	int compress;          /* enum udos_compress; default AUTO */
	bool clean;            /* delete loose copies once packed */
	bool no_sync;
	udos_progress_fn progress; /* loose objects, their bytes */
	void *ctx;
} udos_pack_opts;

#define UDOS_PACK_OPTS_VERSION 1
#define UDOS_PACK_OPTS_INIT { UDOS_PACK_OPTS_VERSION, UDOS_COMPRESS_AUTO, true, false, NULL, NULL }

typedef struct udos_pack_result {
	uint64_t packed;     /* objects newly written to packs */
	uint64_t skipped;    /* already packed */
	uint64_t cleaned;    /* loose files removed */
	uint64_t corrupt;    /* loose files whose content did not match their
				name: left in place, reported by validate */
	uint64_t bytes_in;   /* raw bytes packed */
	uint64_t bytes_out;  /* stored bytes written */
} udos_pack_result;

/*
 * Move every loose object into packs (hash re-checked while reading), commit
 * in groups, then (opts->clean) remove loose copies that are safely packed.
 * Takes the writer lock. `out` may be NULL.
 */
UDOS_API int udos_store_pack_loose(udos_pack_result *out, udos_store *st,
				   const udos_pack_opts *opts);

/*
 * Remove loose files whose object is packed, after checking the packed
 * record (header hash and XXH3 of its stored bytes). Also removes stale
 * sandbox files of dead writers. Returns the number removed or negative.
 * Same as udos_store_clean_ex with default options.
 */
UDOS_API int64_t udos_store_clean(udos_store *st);

enum udos_clean_flags {
	UDOS_CLEAN_DRY_RUN = 1u << 0, /* count what would go, remove nothing */
	UDOS_CLEAN_VACUUM = 1u << 1,  /* then compact the whole index
					 (takes the writer lock) */
};

typedef struct udos_clean_opts {
	unsigned version;          /* UDOS_CLEAN_OPTS_VERSION */
	unsigned flags;            /* enum udos_clean_flags */
	udos_progress_fn progress; /* loose files looked at */
	void *ctx;
} udos_clean_opts;

#define UDOS_CLEAN_OPTS_VERSION 1
#define UDOS_CLEAN_OPTS_INIT { UDOS_CLEAN_OPTS_VERSION, 0, NULL, NULL }

typedef struct udos_clean_result {
	uint64_t loose_checked;   /* loose files looked at */
	uint64_t removed;         /* loose copies removed (dry run: that
				     would be) */
	uint64_t removed_bytes;   /* their bytes */
	uint64_t kept_damaged;    /* packed copy unreadable or failing its
				     XXH3: the loose copy is kept */
	uint64_t sandbox_removed; /* temporary files of dead writers */
	uint64_t index_bytes_before; /* vacuum: bytes under index/ */
	uint64_t index_bytes_after;
} udos_clean_result;

/*
 * Remove each loose file whose object is indexed and whose packed record
 * is readable and passes its XXH3 check, so that no object ever loses its
 * last copy; a loose-only object is never touched. Then remove sandbox/
 * files of writers that are no longer running and, with
 * UDOS_CLEAN_VACUUM (ignored in a dry run), compact the index (RocksDB
 * CompactRange: tombstones of deleted and moved ids dropped, tables
 * rewritten), which needs the writer lock (UDOS_ELOCKED). Safe alongside
 * a pack writer: a loose file is removed only once its packed copy is
 * committed. `out` may be NULL. Returns 0 or a negative code (what was
 * removed before a failure stays removed, and is counted).
 */
UDOS_API int udos_store_clean_ex(udos_clean_result *out, udos_store *st,
				 const udos_clean_opts *opts);

/* ---- import: copy objects between containers ---------------------------- */

enum udos_import_flags {
	UDOS_IMPORT_ALL = 1u << 0, /* with n == 0: every object of src */
};

/* What became of one requested object (udos_import_fn). */
enum udos_import_status {
	UDOS_IMPORT_COPIED = 1,  /* written to dst, durable */
	UDOS_IMPORT_PRESENT = 2, /* already in dst: skipped */
	UDOS_IMPORT_MISSING = 3, /* not in src */
	UDOS_IMPORT_CORRUPT = 4, /* src's copy failed its checks: not copied */
};

/*
 * Called once per requested id (duplicates included) with its status, its
 * id in src and its id in dst: equal when both containers have the same
 * hash type, the content's new id otherwise (NULL for MISSING and
 * CORRUPT). COPIED is reported only once the object is durable, after the
 * group commit that wrote it. Return non-zero to stop: the import returns
 * that value, and what was committed stays.
 */
typedef int (*udos_import_fn)(void *ctx, int status, const udos_oid *src_oid,
			      const udos_oid *dst_oid);

typedef struct udos_import_opts {
	unsigned version;      /* UDOS_IMPORT_OPTS_VERSION */
	unsigned flags;        /* enum udos_import_flags */
	int compress;          /* enum udos_compress; default KEEP */
	bool no_sync;
	udos_import_fn on_object;  /* may be NULL */
	udos_progress_fn progress; /* requested objects, their content
				      bytes (bytes_total only with ALL) */
	void *ctx;             /* for on_object and progress */
} udos_import_opts;

#define UDOS_IMPORT_OPTS_VERSION 1
#define UDOS_IMPORT_OPTS_INIT { UDOS_IMPORT_OPTS_VERSION, 0, UDOS_COMPRESS_KEEP, false, NULL, NULL, NULL }

typedef struct udos_import_result {
	uint64_t copied;       /* objects newly written to dst */
	uint64_t skipped;      /* already in dst */
	uint64_t missing;      /* not in src */
	uint64_t corrupt;      /* failed their checks in src, not copied */
	uint64_t bytes;        /* content bytes of the copied objects */
	uint64_t bytes_stored; /* stored bytes written to dst's packs */
} udos_import_result;

/*
 * Copy objects `oids[0..n)` of src (or, with UDOS_IMPORT_ALL and n == 0,
 * every object of src) into dst's packs: one pack writer, group commits,
 * memory bounded for any object size, src read in storage order.
 *
 * Between containers of the same hash type, a packed record whose codec
 * the compress mode accepts (KEEP: any; NO: none; YES and AUTO: dst's
 * default codec) is copied as stored, its bytes checked against their
 * XXH3 on the way; anything else (loose sources, other codecs) is decoded,
 * re-encoded per the mode and its content checked against its id. Between
 * different hash types every object is decoded and hashed again (its src
 * id checked too), KEEP then meaning "compressed with dst's codec if the
 * record was compressed". An id already in dst is skipped without reading
 * (same hash type only: otherwise the content must be hashed first).
 *
 * A missing id or a damaged src record is counted and reported, and the
 * import goes on; every other failure stops it. Takes dst's writer lock
 * (UDOS_ELOCKED, detail naming the holder's pid) and keeps it, as
 * udos_writer_open does. src is only read. `out` may be NULL. With ALL,
 * the ids of src are listed first (48 bytes each).
 * Returns 0, UDOS_ELOCKED, -EINVAL (src == dst), or a negative code;
 * what was committed before a failure is durable and indexed.
 */
UDOS_API int udos_store_import(udos_import_result *out, udos_store *dst,
			       udos_store *src, const udos_oid *oids, size_t n,
			       const udos_import_opts *opts);

/* ---- validate ---------------------------------------------------------- */

enum udos_finding_kind {
	UDOS_FIND_LOOSE_NAME = 1,     /* loose file name is not a valid id */
	UDOS_FIND_LOOSE_HASH,         /* loose content hashes to another id */
	UDOS_FIND_PACK_HEADER,        /* bad or missing packs/N.rec header */
	UDOS_FIND_RECORD_HEADER,      /* bad record entry (magic, checksum, offset) */
	UDOS_FIND_RECORD_CHECKSUM,    /* XXH3 of stored bytes mismatch */
	UDOS_FIND_RECORD_TRUNCATED,   /* record runs past end of pack */
	UDOS_FIND_RECORD_HASH,        /* full: content hash/size mismatch */
	UDOS_FIND_RECORD_DECODE,      /* full: decompression failed */
	UDOS_FIND_INDEX_DANGLING,     /* index points to a missing pack or
					 outside it */
	UDOS_FIND_INDEX_MISMATCH,     /* index entry disagrees with record */
	UDOS_FIND_INDEX_VALUE,        /* undecodable index value */
	UDOS_FIND_IO,                 /* could not read something */
	UDOS_FIND_INDEX_BEHIND,       /* intact records past the index's tail:
					 an index older than its packs (the
					 next writer or repair indexes them) */
	UDOS_FIND_STRAY,              /* a file that does not belong */
};

typedef struct udos_finding {
	int kind;              /* enum udos_finding_kind */
	bool has_oid;
	udos_oid oid;
	const char *path;      /* relative to the container, may be NULL */
	uint64_t offset;       /* in the pack, where relevant */
	const char *message;   /* one line */
} udos_finding;

/* Return non-zero to stop. The finding is valid only during the call. */
typedef int (*udos_finding_fn)(void *ctx, const udos_finding *f);

enum udos_validate_flags {
	UDOS_VALIDATE_FULL = 1u << 0, /* decompress and re-hash everything */
};

typedef struct udos_validate_result {
	uint64_t findings;
	uint64_t loose_checked;
	uint64_t records_checked;
	uint64_t index_checked;
	uint64_t bytes_checked;
	uint64_t unreferenced_records; /* deleted or superseded, not a fault */
	uint64_t tail_bytes;    /* unindexed bytes after the last committed
				   record: residue of a crash or a writer at
				   work, removed by the next writer; not a
				   fault */
	uint64_t unindexed_records; /* intact records past the tail that a
				   writer at work, or one that died, left:
				   the next writer indexes them; not a fault
				   (after a writer that closed, they are:
				   UDOS_FIND_INDEX_BEHIND) */
	uint64_t residue_files; /* temporary files of writers, backups and
				   repairs that were interrupted; not a fault
				   (the next one removes them) */
	uint64_t evicted_packs; /* packs whose data is only on the remote:
				   their record files are checked, their
				   bytes only where the read-through cache
				   holds them (udos_remote_validate checks
				   the remote) */
	uint64_t evicted_records; /* records of those whose bytes were not
				   checked (not cached here) */
} udos_validate_result;

/*
 * Check everything, reporting every problem (not only the first) through fn.
 * Fast: record entries, XXH3 of every stored byte, index-to-pack agreement,
 * loose names against content. FULL adds decompression and re-hashing of
 * every record. Returns 0 when the walk completed (look at
 * out->findings), negative if it could not run. Never downloads: the bytes
 * of evicted packs are checked only where the read-through cache holds
 * them (out->evicted_records counts the others).
 * progress counts loose objects and record entries, and their bytes.
 */
UDOS_API int udos_store_validate(udos_validate_result *out, udos_store *st,
				 unsigned flags, udos_finding_fn fn, void *ctx,
				 udos_progress_fn progress, void *pctx);

UDOS_API const char *udos_finding_name(int kind);

/* ---- repair: the index rebuilt from the packs ---------------------------- */

enum udos_repair_flags {
	UDOS_REPAIR_DRY_RUN = 1u << 0, /* build and count, keep the old index */
	UDOS_REPAIR_FULL = 1u << 1,    /* also decompress and re-hash records */
};

typedef struct udos_repair_opts {
	unsigned version;           /* UDOS_REPAIR_OPTS_VERSION */
	unsigned flags;             /* enum udos_repair_flags */
	udos_finding_fn on_problem; /* each record or pack left out, and why */
	udos_progress_fn progress;  /* record entries, pack bytes checked */
	void *ctx;                  /* for on_problem and progress */
} udos_repair_opts;

#define UDOS_REPAIR_OPTS_VERSION 1
#define UDOS_REPAIR_OPTS_INIT { UDOS_REPAIR_OPTS_VERSION, 0, NULL, NULL, NULL }

typedef struct udos_repair_result {
	uint64_t packs;        /* packs scanned */
	uint64_t bad_packs;    /* packs whose record file is missing or not
				  this container's: left out, left in place */
	uint64_t records;      /* intact records found */
	uint64_t damaged;      /* records failing their checks: left out */
	uint64_t deleted;      /* records of objects the old index marks
				  deleted: kept deleted */
	uint64_t objects;      /* objects in the new index */
	uint64_t adopted;      /* of those, ids the old index did not have
				  (all of them without a readable old index) */
	uint64_t lost;         /* ids of the old index with no intact record
				  anywhere (0 without a readable old index) */
	uint64_t bytes;        /* pack bytes checked */
	bool old_index;        /* the old index could be read */
} udos_repair_result;

/*
 * Rebuild the index from the packs, which are the source of truth: every
 * record of packs/N.rec is checked (entry, XXH3 of its stored bytes; FULL:
 * content hash too) and each intact one indexed, the newest copy of an id
 * (highest pack, then entry) winning. An id the old index (when it can
 * still be read) marks deleted and has no live copy stays deleted; every
 * other intact record comes back.
 * Nothing in the packs is changed or removed: damaged records are
 * reported and left out. The new index replaces the old one at the end
 * (a crash before leaves the old one; between, none: run repair again).
 * Opens `path` itself (the old index may be missing or unreadable) and
 * holds its writer lock (UDOS_ELOCKED). `out` may be NULL.
 */
UDOS_API int udos_store_repair(udos_repair_result *out, const char *path,
			       const udos_repair_opts *opts);

/* ---- repack ------------------------------------------------------------ */

typedef struct udos_repack_opts {
	unsigned version;  /* UDOS_REPACK_OPTS_VERSION */
	int compress;      /* enum udos_compress; default KEEP */
	bool no_sync;
	udos_progress_fn progress; /* record entries examined (of all the
				      packs being repacked), their bytes */
	void *ctx;
} udos_repack_opts;

#define UDOS_REPACK_OPTS_VERSION 1
#define UDOS_REPACK_OPTS_INIT { UDOS_REPACK_OPTS_VERSION, UDOS_COMPRESS_KEEP, false, NULL, NULL }

/*
 * Rewrite the live objects of pack `pack_id` into new pack(s), fsync, switch
 * their index entries in one batch, then remove the old pack. Dropped
 * (deleted) records free their space. Takes the writer lock.
 */
UDOS_API int udos_store_repack_pack(udos_store *st, uint32_t pack_id,
				    const udos_repack_opts *opts);
/* Repack every pack. */
UDOS_API int udos_store_repack(udos_store *st, const udos_repack_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
