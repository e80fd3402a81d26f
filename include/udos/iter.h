/* udos/iter.h - listing objects and container statistics. */
#ifndef UDOS_ITER_H
#define UDOS_ITER_H

#include <stdint.h>

#include "object.h"

#ifdef __cplusplus
extern "C" {
#endif

enum udos_foreach_flags {
	UDOS_FOREACH_LOOSE = 1u << 0,
	UDOS_FOREACH_PACKED = 1u << 1,
	UDOS_FOREACH_ALL = UDOS_FOREACH_LOOSE | UDOS_FOREACH_PACKED,
};

/*
 * Call fn once per object, each id once: packed objects first (in id order,
 * meta->loc PACKED), then loose objects not also packed (meta->loc LOOSE).
 * With only UDOS_FOREACH_LOOSE, every loose file is listed, packed or not.
 * Memory is bounded whatever the count. A non-zero return from fn stops the
 * walk and is returned.
 */
typedef int (*udos_foreach_fn)(void *ctx, const udos_oid *oid,
			       const udos_meta *meta);
UDOS_API int udos_store_foreach(udos_store *st, unsigned flags,
				udos_foreach_fn fn, void *ctx);

typedef struct udos_status {
	uint64_t loose_count;
	uint64_t loose_size;          /* bytes of loose files */
	uint64_t packed_count;        /* index entries */
	uint64_t packed_size;         /* uncompressed bytes of packed objects */
	uint64_t packed_stored_size;  /* stored bytes of indexed records */
	uint64_t pack_count;          /* pack files (packs/N) */
	uint64_t pack_files_size;     /* bytes of pack files on disk (incl.
					 unreferenced records) */
	uint64_t index_size;          /* bytes under index/ and of the
					 record files (packs/N.rec) */
	uint64_t both_count;          /* loose objects that are also packed */
} udos_status;

/* Count and measure. Walks the index and the loose folders. */
UDOS_API int udos_store_status(udos_status *out, udos_store *st);

#ifdef __cplusplus
}
#endif
#endif
