/* udos/object.h - object ids, adding, reading and deleting objects. */
#ifndef UDOS_OBJECT_H
#define UDOS_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An object id: the digest of the object's uncompressed content under the
 * container's hash (udos_store_hash_type). A SHA-256 digest fills all 32
 * bytes; a SHA-1 digest the first 20, the last 12 being zero.
 */
typedef struct udos_oid {
	uint8_t id[32];
} udos_oid;

/* Hex digits of the longest id (SHA-256); a buffer of UDOS_OID_HEXSZ + 1
 * holds any formatted id. SHA-1 ids have UDOS_OID_HEXSZ_SHA1 digits. */
#define UDOS_OID_HEXSZ 64
#define UDOS_OID_HEXSZ_SHA1 40

/* Parse exactly 64 hex digits (either case) from `hex` (need not be NUL
 * terminated after 64 chars when len is 64): a SHA-256 id. Same as
 * udos_oid_parse_sz(out, hex, len, 32). Returns 0 or -EINVAL. */
UDOS_API int udos_oid_parse(udos_oid *out, const char *hex, size_t len);

/*
 * Parse an id of `digest_size` bytes (udos_store_digest_size: 32 or 20):
 * exactly 2 * digest_size hex digits (either case) from hex[0..len); bytes
 * of *out past the digest are zeroed. Returns 0, or -EINVAL (detail set)
 * for a wrong length, a non-hex digit or a digest_size other than 20 or 32;
 * *out is then unspecified.
 */
UDOS_API int udos_oid_parse_sz(udos_oid *out, const char *hex, size_t len,
			       size_t digest_size);

/* Write 64 lowercase hex digits and a NUL into out (65 bytes): the SHA-256
 * form. Same as udos_oid_fmt_sz(out, oid, 32). Returns out. */
UDOS_API char *udos_oid_fmt(char out[UDOS_OID_HEXSZ + 1], const udos_oid *oid);

/* Write the first `digest_size` bytes of *oid (20 or 32; anything else is
 * taken as 32) as 2 * digest_size lowercase hex digits and a NUL into out,
 * which holds UDOS_OID_HEXSZ + 1 bytes. Returns out. */
UDOS_API char *udos_oid_fmt_sz(char out[UDOS_OID_HEXSZ + 1],
			       const udos_oid *oid, size_t digest_size);

/* Compares all 32 bytes (the zero padding of SHA-1 ids included). */
UDOS_API int udos_oid_cmp(const udos_oid *a, const udos_oid *b);

/* SHA-256 of a buffer (convenience): the id in a SHA-256 container. */
UDOS_API void udos_oid_hash(udos_oid *out, const void *data, size_t len);

/* The id of a buffer under `hash_type` (enum udos_hash_type), zero-padded
 * to 32 bytes: what a container of that type names the content. Returns 0,
 * or -EINVAL for an unknown hash type. */
UDOS_API int udos_oid_hash_as(udos_oid *out, int hash_type, const void *data,
			      size_t len);

/*
 * A pull source: fill buf with up to len bytes. Return the count, 0 at end
 * of data, or a negative udos/errno code (which the caller passes up).
 */
typedef ssize_t (*udos_read_fn)(void *ctx, void *buf, size_t len);

/* How a write compresses. */
enum udos_compress {
	UDOS_COMPRESS_NO = 0,   /* store raw */
	UDOS_COMPRESS_YES = 1,  /* container's default codec */
	UDOS_COMPRESS_AUTO = 2, /* per object: raw when tiny, already
				   compressed or not clearly smaller */
	UDOS_COMPRESS_KEEP = 3, /* repack: keep each record's codec; for
				   loose sources same as NO */
};

/* Where an object lives. */
enum udos_loc {
	UDOS_LOC_MISSING = 0,
	UDOS_LOC_LOOSE = 1,
	UDOS_LOC_PACKED = 2,
};

typedef struct udos_meta {
	int loc;              /* enum udos_loc */
	int codec;            /* enum udos_codec (NONE for loose) */
	uint32_t pack_id;     /* packed only */
	uint64_t offset;      /* packed: offset of the stored bytes */
	uint64_t size;        /* uncompressed size */
	uint64_t stored_size; /* bytes on disk for the content */
	uint64_t stored_xxh3; /* packed: XXH3-64 of the stored bytes */
} udos_meta;

/* ---- loose objects ---------------------------------------------------- */

enum udos_add_flags {
	UDOS_ADD_NOSYNC = 1u << 0, /* skip fsync of file and folder */
};

/*
 * Add one object as a loose file: written to sandbox/, fsynced, renamed into
 * loose/, folder fsynced (unless UDOS_ADD_NOSYNC). An object already present
 * (loose or packed) is not written again. Durable on return.
 * *new_out (may be NULL) says whether it was written.
 */
UDOS_API int udos_add_loose_buf(udos_oid *out, bool *new_out, udos_store *st,
				const void *data, size_t len, unsigned flags);
UDOS_API int udos_add_loose_fd(udos_oid *out, bool *new_out, udos_store *st,
			       int fd, unsigned flags);
UDOS_API int udos_add_loose_cb(udos_oid *out, bool *new_out, udos_store *st,
			       udos_read_fn fn, void *ctx, unsigned flags);

/* ---- pack writer (one per store at a time) ---------------------------- */

typedef struct udos_writer udos_writer;

typedef struct udos_writer_opts {
	unsigned version;       /* UDOS_WRITER_OPTS_VERSION */
	int compress;           /* enum udos_compress; default AUTO */
	bool no_sync;           /* skip fdatasync/WAL sync (tests, benchmarks) */
	/* An object put makes the writer commit (auto-commit) once any of
	 * these is reached by what is not committed yet: */
	uint64_t commit_every_objects; /* objects; 0 = 100000 */
	uint64_t commit_every_bytes;   /* stored bytes; 0 = 256 MiB */
	/* called after every commit (auto or explicit) that made at least
	 * one new object durable, with their count; not called for a commit
	 * with nothing new (dedup hits alone). May be NULL. */
	void (*on_commit)(void *ctx, uint64_t n_committed);
	void *ctx;
	/* version 2: the age of the oldest uncommitted object, in ms;
	 * 0 = 500, UINT64_MAX = no limit */
	uint64_t commit_every_ms;
} udos_writer_opts;

#define UDOS_WRITER_OPTS_VERSION 2
#define UDOS_WRITER_OPTS_INIT { UDOS_WRITER_OPTS_VERSION, UDOS_COMPRESS_AUTO, false, 0, 0, NULL, NULL, 0 }

/*
 * Start writing to packs: takes the writer lock (UDOS_ELOCKED if another
 * process has it), repairs a torn tail left by a crash (truncates the last
 * pack back to the end of its last indexed record), and opens the current
 * pack. Only one writer may be open per store (-EBUSY otherwise).
 */
UDOS_API int udos_writer_open(udos_writer **out, udos_store *st,
			      const udos_writer_opts *opts);

/*
 * Append one object. It is durable and visible to readers only after the
 * next commit (explicit, or automatic per the opts thresholds). Objects
 * already packed or already added by this writer are not written again
 * (*new_out = false). An object that is only loose is written to the pack
 * (that is how loose objects get packed); `clean` later drops the loose
 * copy. Memory stays bounded for any size: a stream is
 * compressed and written as it is read.
 * Thread rules: one thread at a time per writer.
 */
UDOS_API int udos_writer_add_buf(udos_oid *out, bool *new_out, udos_writer *w,
				 const void *data, size_t len);
UDOS_API int udos_writer_add_cb(udos_oid *out, bool *new_out, udos_writer *w,
				udos_read_fn fn, void *ctx);
UDOS_API int udos_writer_add_fd(udos_oid *out, bool *new_out, udos_writer *w,
				int fd);

/*
 * Make everything added so far durable: fdatasync of every pack written to,
 * then one synced RocksDB batch with their index entries.
 */
UDOS_API int udos_writer_commit(udos_writer *w);

/* Objects added but not yet committed. */
UDOS_API uint64_t udos_writer_pending(const udos_writer *w);

/*
 * Close the writer. Uncommitted objects are discarded (the pack is truncated
 * back). Call udos_writer_commit first to keep them. Accepts NULL. The store
 * keeps the writer lock until udos_store_unlock_writer or close.
 */
UDOS_API void udos_writer_close(udos_writer *w);

/* ---- reading ---------------------------------------------------------- */

/* Where is it? UDOS_ENOTFOUND if missing (out->loc = MISSING). An object
 * both packed and loose (packed, not yet cleaned) is reported, and read,
 * as PACKED. */
UDOS_API int udos_object_stat(udos_meta *out, udos_store *st,
			      const udos_oid *oid);

/* 1 if present, 0 if not, negative on error. */
UDOS_API int udos_object_has(udos_store *st, const udos_oid *oid);

/* The fewest hex digits udos_object_resolve accepts (as git's short ids,
 * which show 7 and are unique in practice from a few more). */
#define UDOS_OID_MIN_PREFIX 8

/*
 * Find the objects whose id starts with the hex digits hex[0..len)
 * (either case; from UDOS_OID_MIN_PREFIX up to the container's full id
 * length), packed (an index seek) or loose (one loose/ folder listed).
 * Up to `cap` of them, sorted and each once, go to out[]; *n_out (may be
 * NULL) gets how many there are in all.
 * Returns 0 when exactly one matches (out[0], if cap > 0); UDOS_ENOTFOUND
 * when none does; UDOS_EAMBIGUOUS when several do (out[] holds the first
 * ones: callers list them); -EINVAL (detail says why) when `hex` is
 * shorter than UDOS_OID_MIN_PREFIX, longer than an id or not hex; or an
 * index or I/O error. Thread-safe as a read.
 */
UDOS_API int udos_object_resolve(udos_oid *out, size_t *n_out,
				 udos_store *st, const char *hex, size_t len,
				 size_t cap);

typedef struct udos_reader udos_reader;

/*
 * Whatever the flags, a read never returns content that does not match the
 * id: a packed object's stored bytes are checked against their XXH3, and a
 * loose object's content (it has no checksum of its own) is always hashed.
 * Either check runs while reading sequentially from the start; the read
 * that reaches the end fails with UDOS_ECORRUPT if it fails, so a stream
 * consumer must treat what it already received as void. An empty loose
 * file is checked at open (the usual damage after a power cut).
 */
enum udos_read_flags {
	/* also hash a packed object's content against its id */
	UDOS_READ_VERIFY = 1u << 0,
};

/*
 * Open a stream on an object. Reading uses bounded memory for any size.
 * Returns UDOS_ENOTFOUND if missing. A reader may be used by one thread at a
 * time; readers on the same store may run in parallel.
 */
UDOS_API int udos_reader_open(udos_reader **out, udos_store *st,
			      const udos_oid *oid, unsigned flags);
/* Up to len bytes; 0 at end; negative on error (UDOS_ECORRUPT ...). */
UDOS_API ssize_t udos_reader_read(udos_reader *r, void *buf, size_t len);
/* whence is SEEK_SET, SEEK_CUR or SEEK_END; positions past the end are
 * allowed (reads there return 0). Seeking in a compressed object
 * decompresses forward from the start or from the current position. */
UDOS_API int udos_reader_seek(udos_reader *r, int64_t off, int whence,
			      uint64_t *pos_out);
UDOS_API uint64_t udos_reader_tell(const udos_reader *r);
UDOS_API const udos_meta *udos_reader_meta(const udos_reader *r);
UDOS_API void udos_reader_close(udos_reader *r);

/*
 * Read a whole object into a malloc'd buffer that the caller frees with
 * free(). Objects larger than max_size (0 = no limit) fail with -EFBIG.
 * With UDOS_READ_VERIFY the hash is checked.
 */
UDOS_API int udos_object_read(void **data_out, size_t *len_out, udos_store *st,
			      const udos_oid *oid, size_t max_size,
			      unsigned flags);

/*
 * Bulk read: calls fn once per id, ordered for sequential I/O (loose first,
 * then by pack and offset, neighbouring records read with one system
 * call), not in input order; `index` is the position in `oids`. For a missing id, r is NULL and meta->loc is MISSING. The reader
 * is valid only during the call. A non-zero return from fn stops the walk
 * and is returned.
 */
typedef int (*udos_bulk_fn)(void *ctx, size_t index, const udos_oid *oid,
			    const udos_meta *meta, udos_reader *r);
UDOS_API int udos_object_read_many(udos_store *st, const udos_oid *oids,
				   size_t n, unsigned flags, udos_bulk_fn fn,
				   void *ctx);

/* Same ordering, metadata only (no content opened). */
typedef int (*udos_meta_fn)(void *ctx, size_t index, const udos_oid *oid,
			    const udos_meta *meta);
UDOS_API int udos_object_stat_many(udos_store *st, const udos_oid *oids,
				   size_t n, udos_meta_fn fn, void *ctx);

/* ---- deleting --------------------------------------------------------- */

/*
 * Delete an object: unlink the loose file and/or remove the index entry
 * (space in the pack comes back on repack). Removing an index entry takes
 * the writer lock. Returns UDOS_ENOTFOUND if it was not there.
 */
UDOS_API int udos_object_delete(udos_store *st, const udos_oid *oid);

#ifdef __cplusplus
}
#endif
#endif
