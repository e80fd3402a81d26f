/* udos/dos.h - copying objects from and to disk-objectstore containers,
 * straight from and to their files (no Python, no disk-objectstore). */
#ifndef UDOS_DOS_H
#define UDOS_DOS_H

#include <stdbool.h>
#include <stdint.h>

#include "maint.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A disk-objectstore container is a folder with config.json (its
 * hash_type, loose_prefix_len, ...), loose/ (raw content, named by hash),
 * packs/N (records back to back, raw or one zlib stream each) and
 * packs.idx, an SQLite database whose table db_object gives each packed
 * object's hashkey, compressed flag, size, offset, length and pack_id.
 */

/*
 * Called once per object of the other container that could not be copied:
 * `subject` is its hex id (or the path of a loose file whose name is no
 * id), `cause` one line saying why (pack file missing, record past the end
 * of its pack, damaged zlib stream, content hashing to another id, size
 * differing from the index's). Both are valid only during the call.
 */
typedef void (*udos_dos_problem_fn)(void *ctx, const char *subject,
				    const char *cause);

typedef struct udos_dos_import_opts {
	unsigned version;  /* UDOS_DOS_IMPORT_OPTS_VERSION */
	int compress;      /* enum udos_compress; default KEEP: zlib records
			      copied as they are, raw and loose ones raw */
	bool no_sync;
	udos_dos_problem_fn on_problem; /* may be NULL */
	udos_progress_fn progress;      /* objects */
	void *ctx;                      /* for on_problem and progress */
} udos_dos_import_opts;

#define UDOS_DOS_IMPORT_OPTS_VERSION 1
#define UDOS_DOS_IMPORT_OPTS_INIT \
	{ UDOS_DOS_IMPORT_OPTS_VERSION, UDOS_COMPRESS_KEEP, false, NULL, NULL, NULL }

/* What an import or an export did. */
typedef struct udos_dos_result {
	uint64_t objects;      /* objects of the source: index rows and
				  loose files (an id in both counts twice) */
	uint64_t copied;       /* objects written, durable on return */
	uint64_t skipped;      /* already there (or listed twice) */
	uint64_t damaged;      /* missing or failing their checks: reported
				  through on_problem, not copied */
	uint64_t bytes;        /* content bytes of the copied objects */
	uint64_t bytes_stored; /* bytes written for them (compressed size) */
} udos_dos_result;

/*
 * Copy every object of the disk-objectstore container `src` (packed and
 * loose) into dst's packs, reading src's files directly (packs.idx with
 * SQLite, read-only). Every object is hashed again while it is copied and
 * checked against its key and its size; with KEEP a zlib record's bytes
 * are copied as they are (udos's zlib codec stores the same stream) and
 * inflated only to be hashed. Memory is bounded for any object size.
 * Objects already in dst are skipped without being read, so a second run
 * copies only what is missing. A damaged or missing object is reported
 * through opts->on_problem, counted, and the import goes on.
 * dst must have src's hash type (-EINVAL otherwise, the detail names
 * both). Takes dst's writer lock (UDOS_ELOCKED), group-commits as the pack
 * writer does. Returns 0 (look at out->damaged), UDOS_ENOTSTORE when src
 * is not a disk-objectstore container (detail says why), UDOS_ECORRUPT
 * when its packs.idx cannot be read, or another negative code; what was
 * committed before a failure stays. `out` may be NULL.
 */
UDOS_API int udos_dos_import(udos_dos_result *out, udos_store *dst,
			     const char *src, const udos_dos_import_opts *opts);

typedef struct udos_dos_export_opts {
	unsigned version;   /* UDOS_DOS_EXPORT_OPTS_VERSION */
	int compress;       /* KEEP (default): records compressed in udos
			       (zlib copied as is, zstd re-encoded) become
			       zlib records, the others raw; YES: every
			       record zlib; NO: every record raw */
	bool loose;         /* write loose files instead of packs */
	int zlib_level;     /* 1..9 for re-encoded records and the
			       container's compression_algorithm; 0: the
			       udos container's zlib level, else 1 */
	bool no_sync;
	udos_dos_problem_fn on_problem; /* objects of st that fail their
					   checks: not exported */
	udos_progress_fn progress;      /* objects */
	void *ctx;
} udos_dos_export_opts;

#define UDOS_DOS_EXPORT_OPTS_VERSION 1
#define UDOS_DOS_EXPORT_OPTS_INIT \
	{ UDOS_DOS_EXPORT_OPTS_VERSION, UDOS_COMPRESS_KEEP, false, 0, false, NULL, NULL, NULL }

/*
 * Write every object of st into a new disk-objectstore container at
 * `dest` (created; it may exist only as an empty folder): config.json as
 * disk-objectstore 1.5 writes it (container_version 1, st's hash type,
 * loose prefix length and pack size target, a new container_id), the
 * folders loose/, packs/, duplicates/, sandbox/, and packs.idx with
 * disk-objectstore's exact schema, in WAL mode. Packs are filled up to the
 * pack size target as disk-objectstore fills them. config.json is written
 * last, after everything else is synced: until then dest is not a
 * container. Returns 0 (out->damaged objects of st were left out),
 * UDOS_EEXIST when dest is not empty, -EINVAL for a bad option, or a
 * negative code. `out` may be NULL.
 */
UDOS_API int udos_dos_export(udos_dos_result *out, udos_store *st,
			     const char *dest, const udos_dos_export_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
