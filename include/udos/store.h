/* udos/store.h - create, open and describe a container. */
#ifndef UDOS_STORE_H
#define UDOS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An open container. One udos_store may be shared by threads: reads are
 * thread-safe; writes to packs are serialised inside (one writer at a time,
 * see udos_writer in object.h). Loose writes may run from any thread.
 */
typedef struct udos_store udos_store;

/* Codecs, as stored in pack records and index values. */
enum udos_codec {
	UDOS_CODEC_NONE = 0,
	UDOS_CODEC_ZLIB = 1,
	UDOS_CODEC_ZSTD = 2,
};

typedef struct udos_init_opts {
	unsigned version;          /* UDOS_INIT_OPTS_VERSION */
	uint64_t pack_size_target; /* bytes; 0 = default 4 GiB */
	int loose_prefix_len;      /* 0..8; -1 = default 2 */
	const char *compression;   /* "zstd:N", "zlib:N", "none"; NULL = "zstd:1" */
} udos_init_opts;

#define UDOS_INIT_OPTS_VERSION 1
#define UDOS_INIT_OPTS_INIT { UDOS_INIT_OPTS_VERSION, 0, -1, NULL }

/*
 * Create a new container in `path` (created if missing; it may exist only
 * as an empty folder). Writes config.json, loose/, sandbox/, packs/ and an
 * empty index/, all fsynced.
 * Returns 0, UDOS_EEXIST (already a container or not empty), -EINVAL (bad
 * option, detail says which), or a negated errno.
 */
UDOS_API int udos_store_init(const char *path, const udos_init_opts *opts);

enum udos_open_flags {
	/* take the pack-writer lock now instead of at the first pack write */
	UDOS_OPEN_WRITER = 1u << 0,
};

/*
 * Open the container at `path`. The index is opened read-only (a RocksDB
 * secondary instance that catches up with a writer in another process);
 * the first operation that writes packs or the index takes the writer lock
 * and reopens it read-write.
 * Returns 0; UDOS_ENOTSTORE if `path` is not a container; UDOS_EFORMAT for
 * a newer format; UDOS_ELOCKED (only with UDOS_OPEN_WRITER); or errno.
 * On failure *out is NULL.
 */
UDOS_API int udos_store_open(udos_store **out, const char *path,
			     unsigned flags);

/*
 * Close and free. Accepts NULL. An open udos_writer must be closed first
 * (anything it did not commit is discarded). Releases the writer lock.
 */
UDOS_API void udos_store_close(udos_store *st);

/*
 * Take the writer lock now (no-op if held). Fails fast, never waits:
 * UDOS_ELOCKED with detail "another process is writing packs (pid N)".
 */
UDOS_API int udos_store_lock_writer(udos_store *st);

/* Give the writer lock back (no-op if not held; fails with -EBUSY while a
 * udos_writer is open). The index goes back to read-only mode. */
UDOS_API int udos_store_unlock_writer(udos_store *st);

typedef struct udos_store_info {
	char container_id[37];    /* uuid, lowercase */
	char compression[32];     /* default codec spec, e.g. "zstd:3" */
	char hash_type[16];       /* "sha256" */
	int format_version;
	int loose_prefix_len;
	uint64_t pack_size_target;
	int default_codec;        /* enum udos_codec */
	int default_level;
} udos_store_info;

/* Fill *out from the container's config. Never fails on an open store. */
UDOS_API void udos_store_info_get(udos_store_info *out, const udos_store *st);

/* The container's folder, as given to udos_store_open (borrowed, lives as
 * long as the store). */
UDOS_API const char *udos_store_path(const udos_store *st);

/*
 * Parse a compression spec "zstd:N" (1..19), "zlib:N" (1..9), "none";
 * also disk-objectstore's "zlib+N". Returns 0 or -EINVAL.
 */
UDOS_API int udos_codec_parse(int *codec_out, int *level_out, const char *spec);

/* "none", "zlib", "zstd" */
UDOS_API const char *udos_codec_name(int codec);

/*
 * Parse a size with optional suffix K, M, G, T (powers of 1024, optional
 * trailing "B" or "iB"). Returns 0 or -EINVAL.
 */
UDOS_API int udos_size_parse(uint64_t *out, const char *s);

#ifdef __cplusplus
}
#endif
#endif
