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

/*
 * Hash of object content, which names objects. Chosen at init, recorded in
 * config.json ("hash_type"; a container without the key is SHA-256) and
 * fixed for the container's life. A SHA-1 id fills the first 20 bytes of
 * udos_oid and leaves the last 12 zero; its hex form has 40 digits.
 */
enum udos_hash_type {
	UDOS_HASH_SHA256 = 0, /* 32-byte digest, 64 hex digits (default) */
	UDOS_HASH_SHA1 = 1,   /* 20-byte digest, 40 hex digits */
};

typedef struct udos_init_opts {
	unsigned version;          /* UDOS_INIT_OPTS_VERSION */
	uint64_t pack_size_target; /* bytes; 0 = default 4 GiB */
	int loose_prefix_len;      /* 0..8; -1 = default 2 */
	const char *compression;   /* "zstd:N", "zlib:N", "none"; NULL = "zstd:1" */
	int hash_type;             /* enum udos_hash_type; read from version 2
				      on (version 1 callers get SHA-256) */
} udos_init_opts;

#define UDOS_INIT_OPTS_VERSION 2
#define UDOS_INIT_OPTS_INIT \
	{ UDOS_INIT_OPTS_VERSION, 0, -1, NULL, UDOS_HASH_SHA256 }

/*
 * Create a new container in `path` (created if missing; it may exist only
 * as an empty folder). Writes config.json, loose/, sandbox/, packs/ and an
 * empty index/, all fsynced. opts->hash_type picks the hash for good.
 * Returns 0, UDOS_EEXIST (already a container or not empty), -EINVAL (bad
 * option such as an unknown hash type, detail says which), or a negated
 * errno.
 */
UDOS_API int udos_store_init(const char *path, const udos_init_opts *opts);

enum udos_open_flags {
	/* take the pack-writer lock now instead of at the first pack write */
	UDOS_OPEN_WRITER = 1u << 0,
	/* open without the index (udos_store_repair rebuilds it): a missing
	 * or unreadable index is no error, and look-ups fail UDOS_EINDEX */
	UDOS_OPEN_NO_INDEX = 1u << 1,
};

/*
 * Open the container at `path`. The index is opened read-only (a RocksDB
 * secondary instance that catches up with a writer in another process);
 * the first operation that writes packs or the index takes the writer lock
 * and reopens it read-write.
 * Returns 0; UDOS_ENOTSTORE if `path` is not a container (also when its
 * config names a hash type this udos does not know); UDOS_EFORMAT for
 * a newer format; UDOS_ELOCKED (only with UDOS_OPEN_WRITER); UDOS_ECORRUPT
 * when the index is damaged or missing (the detail names the container and
 * 'udos repair'); UDOS_EINDEX for another index failure; or errno
 * (-ENOSPC when a writer's index cannot be opened on a full disk).
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

/* Told by udos_store_lock_writer_wait who it waits for: the pid that
 * writer.lock names (0 when it names none yet). */
typedef void (*udos_lock_wait_fn)(void *ctx, long holder_pid);

/*
 * Take the writer lock, waiting for the process that holds it: at most
 * timeout_ms milliseconds (negative: no limit; 0: fail fast, as
 * udos_store_lock_writer). fn (may be NULL) is called when the wait
 * begins and each time another process becomes the holder. The lock is
 * polled (10 ms, doubling up to 200 ms), so waiters are not served in
 * arrival order. Returns 0; UDOS_ELOCKED after the timeout (detail names
 * the holder); or another error of udos_store_lock_writer.
 */
UDOS_API int udos_store_lock_writer_wait(udos_store *st, int64_t timeout_ms,
					 udos_lock_wait_fn fn, void *ctx);

/* Give the writer lock back (no-op if not held; fails with -EBUSY while a
 * udos_writer is open). The index goes back to read-only mode. */
UDOS_API int udos_store_unlock_writer(udos_store *st);

/*
 * What opening a pack writer found and mended: records past the index's
 * tail (a crash before their commit, or an index older than its packs)
 * that pass their checks are indexed ("adopted"); bytes at the end of the
 * last pack that fail them (a torn write) are cut. Counts add up over the
 * store's writer opens. A CLI reports a non-zero count on stderr.
 */
typedef struct udos_recovery {
	uint64_t adopted;      /* intact records indexed */
	uint64_t cut_records;  /* entries failing their checks, cut */
	uint64_t cut_bytes;    /* bytes cut from packs/N and packs/N.rec */
} udos_recovery;

UDOS_API void udos_store_recovery(udos_recovery *out, const udos_store *st);

typedef struct udos_store_info {
	char container_id[37];    /* uuid, lowercase */
	char compression[32];     /* default codec spec, e.g. "zstd:3" */
	char hash_type[16];       /* "sha256" or "sha1" */
	int format_version;
	int loose_prefix_len;
	uint64_t pack_size_target;
	int default_codec;        /* enum udos_codec */
	int default_level;
} udos_store_info;

/* Fill *out from the container's config. Never fails on an open store. */
UDOS_API void udos_store_info_get(udos_store_info *out, const udos_store *st);

/* The container's hash (enum udos_hash_type). Never fails on an open
 * store; thread-safe (fixed for the life of the store). */
UDOS_API int udos_store_hash_type(const udos_store *st);

/* Bytes of digest in the container's ids: 32 for SHA-256, 20 for SHA-1
 * (hex ids have twice as many digits). Pass it to udos_oid_parse_sz and
 * udos_oid_fmt_sz. Never fails on an open store. */
UDOS_API size_t udos_store_digest_size(const udos_store *st);

/* The container's folder, as given to udos_store_open (borrowed, lives as
 * long as the store). */
UDOS_API const char *udos_store_path(const udos_store *st);

/*
 * Parse a compression spec "zstd:N" (1..19), "zlib:N" (1..9), "none";
 * also disk-objectstore's "zlib+N". Returns 0 or -EINVAL.
 */
UDOS_API int udos_codec_parse(int *codec_out, int *level_out, const char *spec);

/*
 * Parse a hash type name: "sha256" or "sha1" (exact, lowercase) into
 * *out (enum udos_hash_type). Returns 0 or -EINVAL (detail names it).
 */
UDOS_API int udos_hash_type_parse(int *out, const char *name);

/* "sha256", "sha1"; NULL for a value that is not an enum udos_hash_type. */
UDOS_API const char *udos_hash_type_name(int hash_type);

/* Digest bytes of a hash type: 32, 20; 0 for an unknown value. */
UDOS_API size_t udos_hash_digest_size(int hash_type);

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
