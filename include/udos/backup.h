/* udos/backup.h - an incremental, consistent copy of a container. */
#ifndef UDOS_BACKUP_H
#define UDOS_BACKUP_H

#include <stdint.h>

#include "maint.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct udos_backup_result {
	uint64_t packs;          /* pack files (data and records) in the copy */
	uint64_t pack_bytes;     /* bytes copied into them this run */
	uint64_t packs_recopied; /* packs copied whole (new, or changed) */
	uint64_t loose_copied;   /* loose objects copied this run */
	uint64_t loose_bytes;
	uint64_t removed;        /* files of `dest` no longer in the source */
	uint64_t verified_bytes; /* bytes of `dest` an unfinished backup left,
				    read to check them */
	uint64_t evicted;        /* evicted packs the copy reads through the
				    remote (their record file copied alone) */
	uint64_t evicted_fetched; /* evicted packs downloaded into the copy
				    (UDOS_BACKUP_FETCH_EVICTED) */
} udos_backup_result;

enum udos_backup_flags {
	/* download evicted packs (checked against their manifest SHA-256)
	 * so that the copy needs no remote */
	UDOS_BACKUP_FETCH_EVICTED = 1u << 0,
};

/*
 * Make `dest` (a folder; created if missing) a copy of the container as of
 * the start of the call, copying only what a previous backup into `dest`
 * does not have: the new tail of each append-only pack, new loose objects,
 * a RocksDB checkpoint of the index. Holds the writer lock throughout (a
 * packer running elsewhere makes it fail with UDOS_ELOCKED; loose writers
 * and readers go on). `dest`'s index is switched after its packs and loose
 * objects are synced, so an interrupted backup (killed, full disk, power
 * cut) leaves the previous one readable; running it again completes it,
 * re-checking against the source whatever `dest` holds past what the last
 * finished backup synced (dest/backup.state). A `dest` that holds another
 * container or other files is refused (UDOS_EEXIST), one that is the
 * container, inside it, or holds it too (-EINVAL). progress counts files
 * (packs/N, packs/N.rec, loose objects) and bytes.
 * `out` may be NULL.
 *
 * A container with a remote: `dest` gets its remote.conf and
 * remote.manifest. A pack evicted here (its data only on the remote) gets
 * its record file alone, so `dest` reads it through the same remote, as
 * this container does (a whole copy of its data already in `dest` is
 * kept); a pack this container's manifest does not list yet its data is
 * missing fails with UDOS_ECORRUPT.
 */
UDOS_API int udos_store_backup(udos_backup_result *out, udos_store *st,
			       const char *dest, udos_progress_fn progress,
			       void *ctx);
/* The same, with `flags` from enum udos_backup_flags:
 * UDOS_BACKUP_FETCH_EVICTED reads evicted packs whole through the remote
 * (and the read-through cache), checks their SHA-256 against the manifest
 * and copies them, so that `dest` stands alone. Fails as a read of the
 * remote does (-EIO, -EACCES with a detail) when it cannot be reached. */
UDOS_API int udos_store_backup_ex(udos_backup_result *out, udos_store *st,
				  const char *dest, unsigned flags,
				  udos_progress_fn progress, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
