/* core/internal.h - udos__* declarations shared inside core/ and by uring/. */
#ifndef UDOS_INTERNAL_H
#define UDOS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "udos/udos.h"

/* ---- error.c ------------------------------------------------------------ */

/* Set the thread's detail message (printf-style) and return `code`, so that
 * `return udos__err(-ENOENT, "open '%s'", p);` reads naturally. */
int udos__err(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void udos__err_clear(void);

#define UDOS_ASSERT_ARG(cond)                                              \
	do {                                                               \
		if (!(cond))                                               \
			return udos__err(-EINVAL, "invalid argument: %s", \
					 #cond);                           \
	} while (0)

/* ---- buf.c -------------------------------------------------------------- */

/* A growable byte buffer with a hard cap (growing past it: -EFBIG). */
typedef struct udos_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* 0 = SIZE_MAX */
} udos_buf;

#define UDOS_BUF_INIT { NULL, 0, 0, 0 }
int udos_buf_reserve(udos_buf *b, size_t extra);
int udos_buf_append(udos_buf *b, const void *data, size_t len);
void udos_buf_release(udos_buf *b);

void *udos__alloc(size_t n);  /* malloc; fault-injection point */
void *udos__calloc(size_t n, size_t sz);

/*
 * Fault injection (STYLE 7), only in a -DUDOS_FAULT_INJECTION=ON build.
 * udos__fault_arm(kind, n) makes the n-th call from now of the points of
 * `kind` fail, once: "alloc" (udos__alloc/udos__calloc return NULL with
 * ENOMEM), "sync" (udos__fsync/udos__fdatasync return -EIO), "write"
 * (udos__write_all/udos__pwrite_all return -ENOSPC, writing nothing) or
 * "all" (every point, counted together). n <= 0 disarms. Counting is per
 * process and thread-safe. udos__fault_fired() says whether the armed
 * fault has fired. Without the option UDOS_FAULT() is the constant false
 * and the hooks compile to nothing.
 */
enum { UDOS_FAULT_ALLOC = 1, UDOS_FAULT_SYNC = 2, UDOS_FAULT_WRITE = 4 };
#ifdef UDOS_FAULT_INJECTION
void udos__fault_arm(const char *kind, long n);
bool udos__fault_fired(void);
bool udos__fault_point(unsigned kind);
#define UDOS_FAULT(kind) udos__fault_point(kind)
#else
#define UDOS_FAULT(kind) false
#endif

/* ---- hash.c ------------------------------------------------------------- */

/* Streaming content hash of one type (enum udos_hash_type); one per
 * thread. -EINVAL for an unknown type, -ENOMEM. */
typedef struct udos__hash udos__hash; /* wraps EVP_MD_CTX */
int udos__hash_new(udos__hash **out, int hash_type);
void udos__hash_reset(udos__hash *h);
void udos__hash_update(udos__hash *h, const void *data, size_t len);
/* zero-padded to 32 bytes, then reset */
void udos__hash_final(udos_oid *out, udos__hash *h);
void udos__hash_free(udos__hash *h);
/* Hash fd from its position to its end through buf (cap bytes); *size_out
 * (may be NULL) gets the byte count. A negative errno on a read error. */
int udos__hash_fd(udos_oid *out, uint64_t *size_out, udos__hash *h, int fd,
		  void *buf, size_t cap);
uint64_t udos__xxh3(const void *data, size_t len);
/* SHA-256 of len bytes of fd from off, as 64 hex digits (a short file:
 * -EIO) */
int udos__sha256_fd(char out[65], int fd, uint64_t off, uint64_t len);

/* streaming XXH3-64 */
typedef struct udos__xxh udos__xxh;
udos__xxh *udos__xxh_new(void);
void udos__xxh_reset(udos__xxh *x);
void udos__xxh_update(udos__xxh *x, const void *data, size_t len);
uint64_t udos__xxh_digest(udos__xxh *x);
void udos__xxh_free(udos__xxh *x);

/* ---- le.h-style helpers ------------------------------------------------- */

static inline void udos__put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void udos__put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void udos__put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t udos__get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t udos__get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t udos__get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- fsutil.c ----------------------------------------------------------- */

/* write/pread loops that retry on EINTR and short counts; -errno. */
int udos__write_all(int fd, const void *buf, size_t len);
int udos__pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* reads exactly len bytes unless EOF: returns bytes read (< len at EOF) */
ssize_t udos__pread_full(int fd, void *buf, size_t len, uint64_t off);
ssize_t udos__read_full(int fd, void *buf, size_t len);
/* udos_read_fn over a file descriptor passed as (int *)ctx */
ssize_t udos__fd_read(void *ctx, void *buf, size_t len);
int udos__fsync(int fd);      /* fault-injection point */
int udos__fdatasync(int fd);  /* fault-injection point */
int udos__fsync_dir(int dirfd, const char *rel); /* open+fsync+close */
/* fsync the folder holding `path` (its entry there becomes durable) */
int udos__fsync_parent(const char *path);
int udos__mkdir_p(int dirfd, const char *rel, mode_t mode);
/* remove a file or a folder and everything under it (no symlinks
 * followed); a missing one is no error */
int udos__rm_tree(int dirfd, const char *rel);
/* 1 when the folder `inner` is the folder `outer` or lies inside it (its
 * ".." followed up to the root), 0 when not, a negative errno */
int udos__dir_within(int inner, int outer);
/* 0 when the folder open at dirfd (named `path` in messages) holds
 * nothing, UDOS_EEXIST "folder '<path>' is not empty", or -errno */
int udos__dir_check_empty(int dirfd, const char *path);

/* ---- json.c: the flat JSON objects of config files ---------------------- */

/* skip JSON white space */
const char *udos__json_ws(const char *p);
/* a string without escapes at p into out (cap bytes with the NUL): the
 * position after it, or NULL (not a string, escaped, too long) */
const char *udos__json_str(const char *p, char *out, size_t cap);

/* Replace dirfd/rel with data: "<rel>.tmp" written, fsynced, renamed over
 * it, the folder fsynced. -errno. */
int udos__write_file_atomic(int dirfd, const char *rel, const void *data,
			    size_t len);

/* ---- codec.c ------------------------------------------------------------ */

/* Streaming compressor for one codec; one per thread. */
typedef struct udos__zenc udos__zenc;
int udos__zenc_new(udos__zenc **out, int codec, int level);
/* Compress in[0..len) appending to out; `end` finishes the frame. After end
 * the encoder is ready for a new frame. */
int udos__zenc_run(udos__zenc *z, udos_buf *out, const void *in, size_t len,
		   bool end);
int udos__zenc_codec(const udos__zenc *z);
void udos__zenc_free(udos__zenc *z);

/* Streaming decompressor. */
typedef struct udos__zdec udos__zdec;
int udos__zdec_new(udos__zdec **out, int codec);
void udos__zdec_reset(udos__zdec *z);
/* Consume from *in (advancing *in*in_len), produce up to out_cap bytes into
 * out; *out_len set. *done is set at the end of the frame. UDOS_ECODEC on
 * bad data. */
int udos__zdec_run(udos__zdec *z, const uint8_t **in, size_t *in_len,
		   uint8_t *out, size_t out_cap, size_t *out_len, bool *done);
/* Decode the whole stored bytes in[0..in_len) at once into out (no
 * staging copy): 0 with *out_len, 1 when the codec has no such path (use
 * udos__zdec_run), or UDOS_ECODEC with a detail. Resets nothing. */
int udos__zdec_once(udos__zdec *z, const uint8_t *in, size_t in_len,
		    uint8_t *out, size_t out_cap, size_t *out_len);
void udos__zdec_free(udos__zdec *z);

/* Worst-case compressed size for one-shot use. */
size_t udos__zbound(int codec, size_t len);

/*
 * The `auto` heuristic: given the first bytes of an object and its total
 * size (UINT64_MAX if unknown), say whether compressing is worth it.
 * Tiny objects and known compressed formats: no. Otherwise a sample is
 * trial-compressed with zstd level 1 and must be clearly smaller.
 */
bool udos__worth_compressing(const void *head, size_t head_len,
			     uint64_t total);
/* The cheap half of the heuristic: tiny, or a known compressed format. */
bool udos__auto_rules_out(const void *head, size_t head_len, uint64_t total);
/*
 * The one compression decision of every writer (pack writer and ingest
 * workers): the codec for an object under mode `compress` in a container
 * whose codec is `def`, given its first `head_len` bytes and its size
 * `total` (UINT64_MAX if not known yet). When the whole object is in
 * `head` and fits in the heuristic's sample, `auto` gives a provisional
 * answer if `once` is not NULL: *once is set, and the caller compresses the
 * object once for real and keeps the result only if UDOS_AUTO_WORTH (no
 * separate trial). With `once` NULL the sample trial decides.
 */
int udos__codec_choose(int compress, int def, const void *head,
		       size_t head_len, uint64_t total, bool *once);
/* "clearly smaller": compression must save at least 10% */
#define UDOS_AUTO_WORTH(stored, raw) ((stored) * 10 < (raw) * 9)
#define UDOS_AUTO_SAMPLE (64 * 1024)
#define UDOS_AUTO_MIN_SIZE 64

/* ---- oidset.c ----------------------------------------------------------- */

typedef struct udos__oidset {
	udos_oid *slots;
	uint8_t *used;
	size_t cap, n;
} udos__oidset;

bool udos__oidset_has(const udos__oidset *s, const udos_oid *o);
int udos__oidset_add(udos__oidset *s, const udos_oid *o);
void udos__oidset_clear(udos__oidset *s);
void udos__oidset_release(udos__oidset *s);

/* ---- oid.c -------------------------------------------------------------- */

/* the value of a hex digit of either case, -1 for anything else */
int udos__hexval(char c);

/* loose path relative to the container: "loose/ab/cdef..." for prefix 2,
 * named by the store's hex (40 or 64 digits) */
void udos__loose_relpath(char *out, size_t cap, const udos_store *st,
			 const udos_oid *oid);
/* the store's hex form of an id (for paths and detail messages) */
char *udos__oid_fmt(char out[UDOS_OID_HEXSZ + 1], const udos_store *st,
		    const udos_oid *oid);

/* ---- on-disk formats (docs/FORMAT.md) ----------------------------------- */

#define UDOS_FORMAT_VERSION 2

/* A pack is two files: packs/N holds the stored bytes of its records back to
 * back and nothing else; packs/N.rec describes them, a 32-byte file header
 * then one 80-byte entry per record, in pack order. */
#define UDOS_RECS_MAGIC "UDOSRECS"
#define UDOS_RECS_HDR_SIZE 32
/* 0: magic[8]  8: u32 version  12: u32 pack id  16: container uuid[16] */

#define UDOS_REC_MAGIC "UREC"
#define UDOS_REC_SIZE 80
/* 0: magic[4] 4: u8 codec 5: u8 flags(0) 6: u16 reserved(0)
 * 8: u64 offset in packs/N 16: u64 raw_len 24: u64 stored_len
 * 32: digest[32] 64: u64 xxh3 of the stored bytes
 * 72: u64 xxh3 of entry bytes 0..71 */

/* A record: where an object's stored bytes are and how to check them. The
 * index value holds all of it but the id (its key). */
typedef struct udos__rec {
	int codec;
	uint32_t pack_id;
	uint64_t offset;   /* of the stored bytes in packs/N */
	uint64_t stored_len;
	uint64_t raw_len;
	uint64_t data_xxh; /* XXH3-64 of the stored bytes */
	uint64_t slot;     /* entry number in packs/N.rec */
	udos_oid oid;
} udos__rec;


uint64_t udos__rec_pos(uint64_t slot); /* byte position of entry `slot` */
void udos__recs_header(uint8_t out[UDOS_RECS_HDR_SIZE], const uint8_t uuid[16],
		       uint32_t pack_id);
/* pack_id and slot are not part of the entry: the caller knows them */
void udos__rec_encode(uint8_t out[UDOS_REC_SIZE], const udos__rec *r);
/* UDOS_ECORRUPT on bad magic, entry checksum, or unknown codec. */
int udos__rec_decode(udos__rec *out, const uint8_t in[UDOS_REC_SIZE]);

/* Index value: 48 bytes. */
#define UDOS_IDX_VAL_SIZE 48
#define UDOS_IDX_VAL_VERSION 2
/* 0: u8 version 1: u8 codec 2: u16 reserved 4: u32 pack id
 * 8: u64 offset 16: u64 stored_len 24: u64 raw_len 32: u64 data xxh3
 * 40: u64 slot */

void udos__loc_encode(uint8_t out[UDOS_IDX_VAL_SIZE], const udos__rec *l);
int udos__loc_decode(udos__rec *out, const void *in, size_t len);

/* ---- index.c (RocksDB) -------------------------------------------------- */

typedef struct udos__index udos__index;

/* Open index/ read-write (primary) or as a catching-up secondary. Index
 * functions return UDOS_ECORRUPT for a damaged or missing index (detail:
 * "index of '<container>' is damaged, run 'udos repair' (...)"),
 * UDOS_ELOCKED only when another process holds index/LOCK, -ENOSPC or
 * -EDQUOT for a full disk, UDOS_EINDEX for the rest. */
int udos__index_open(udos__index **out, const char *dir, bool primary,
		     bool create);
void udos__index_close(udos__index *ix);
/* Start writing the memtable out (close's flush then only waits for it):
 * for a writer that is done, so the flush overlaps the caller's last work. */
void udos__index_flush_start(udos__index *ix);
/* 0 found, UDOS_ENOTFOUND, or an error as above. No catching up: that
 * policy is udos__store_index_get's. */
int udos__index_get(udos__rec *out, udos__index *ix, const udos_oid *oid);
/* The same, a miss confirmed by a seek in key order, which reads no
 * filter block: a table whose filter or properties block is damaged then
 * cannot hide a key (costs a seek per miss: for reads, not dedup). */
int udos__index_get_sure(udos__rec *out, udos__index *ix,
			 const udos_oid *oid);
/* Look up n ids, sorted by id, in batches: rcs[i] is 0 (out[i] filled),
 * UDOS_ENOTFOUND, or an error. No catching up (as udos__index_get). */
void udos__index_get_many(udos__index *ix, const udos_oid *const *oids,
			  size_t n, udos__rec *out, int *rcs);
bool udos__index_is_primary(const udos__index *ix);
/* A consistent copy of the index in `dir` (which must not exist): tables
 * hard-linked when on the same file system, else copied; memtable flushed. */
int udos__index_checkpoint(udos__index *ix, const char *dir);
/* Bring a secondary up to date (no-op on a primary). */
int udos__index_catch_up(udos__index *ix);

typedef struct udos__batch udos__batch;
udos__batch *udos__batch_new(void);
void udos__batch_put(udos__batch *b, const udos_oid *oid, const udos__rec *l);
void udos__batch_del(udos__batch *b, const udos_oid *oid);
/*
 * Deletion marks: `udos_object_delete` marks the id, so that repack drops
 * its records and repair keeps it deleted on positive knowledge, never on
 * an id merely missing from the index (which a damaged index can hide).
 * A full repack clears them. is_deleted: 1, 0, or an error.
 */
void udos__batch_mark_deleted(udos__batch *b, const udos_oid *oid, bool on);
int udos__index_is_deleted(udos__index *ix, const udos_oid *oid);
int udos__index_foreach_deleted(udos__index *ix,
				int (*fn)(void *ctx, const udos_oid *oid),
				void *ctx);
/* the append tail: the pack being appended, the end of its last indexed
 * record's bytes and the number of its entries in packs/N.rec */
typedef struct udos__tail {
	uint32_t pack_id;
	uint64_t end;
	uint64_t slots;
} udos__tail;
void udos__batch_set_tail(udos__batch *b, const udos__tail *t);
size_t udos__batch_count(const udos__batch *b);
void udos__batch_clear(udos__batch *b);
void udos__batch_free(udos__batch *b);
int udos__index_write(udos__index *ix, udos__batch *b, bool sync);
/* UDOS_ENOTFOUND when no tail was ever written */
int udos__index_get_tail(udos__index *ix, udos__tail *t);
/* the id filter's stamp (core/idfilter.c); UDOS_ENOTFOUND when none */
void udos__batch_set_filter(udos__batch *b, uint64_t nonce);
int udos__index_get_filter(udos__index *ix, uint64_t *nonce);
/* RocksDB's sequence number: moves with every write to the index */
uint64_t udos__index_seq(udos__index *ix);
/* about how many keys the index holds (0: unknown) */
uint64_t udos__index_estimate_keys(udos__index *ix);

/*
 * The pack writer's filter of stored ids (idfilter.c): maybe() false means
 * the id is surely not in the set; true means ask the index. Ids are
 * only added, never removed (a deleted id stays a "maybe"). About
 * 1.25 bytes per id of capacity; segments double when full.
 */
typedef struct udos__idfilter udos__idfilter;
int udos__idfilter_new(udos__idfilter **out, uint64_t cap);
void udos__idfilter_free(udos__idfilter *f);
int udos__idfilter_add(udos__idfilter *f, const udos_oid *oid);
bool udos__idfilter_maybe(const udos__idfilter *f, const udos_oid *oid);
uint64_t udos__idfilter_count(const udos__idfilter *f);
uint64_t udos__idfilter_bytes(const udos__idfilter *f);
/* every object id of st's index (a full scan of it) */
int udos__idfilter_build(udos__idfilter **out, udos_store *st);
/* index.filter, stamped in the index (a write: needs the writer lock) */
int udos__idfilter_save(const udos__idfilter *f, udos_store *st, bool sync);
/* index.filter if it matches st's index exactly; UDOS_ENOTFOUND when it
 * is missing, stale, damaged or not this index's (then build it) */
int udos__idfilter_load(udos__idfilter **out, udos_store *st);
int udos__idfilter_remove(udos_store *st);

/* Iterate object entries in id order; fn returns non-zero to stop. */
typedef int (*udos__index_fn)(void *ctx, const udos_oid *oid,
			      const udos__rec *l);
int udos__index_foreach(udos__index *ix, udos__index_fn fn, void *ctx);
int udos__index_foreach_raw(udos__index *ix,
			    int (*fn)(void *ctx, const udos_oid *oid,
				      const void *val, size_t len),
			    void *ctx);
/* The same from the first key >= start[0..start_len) (NULL: the first
 * key); fn's non-zero return stops the walk and is returned. */
int udos__index_foreach_from(udos__index *ix, const void *start,
			     size_t start_len,
			     int (*fn)(void *ctx, const udos_oid *oid,
				       const void *val, size_t len),
			     void *ctx);
/* Compact the whole index (RocksDB CompactRange); primary only. */
int udos__index_compact(udos__index *ix);

/* ---- packfile.c: the pack files and their one owner -------------------- */

/*
 * An open pack (packs/N, read-only), reference counted. The store's cache
 * holds one reference while the pack is cached; every user takes its own
 * with udos__packfile_get and gives it back with udos__packfile_put. The
 * descriptor closes at the last put, never under a holder: a reader keeps
 * reading the file it opened even after udos__packfile_remove unlinked it.
 * Thread-safe; fd is valid for as long as the reference is held.
 */
struct udos__rpack;
typedef struct udos__packfile {
	_Atomic unsigned refs;
	int fd;
	uint32_t id;
	/* an evicted pack read through its remote: fd is its cache file,
	 * whose ranges udos__packfile_need fetches first (NULL: local) */
	struct udos__rpack *remote;
} udos__packfile;

/* rpack.c: make [off, off + len) of the cache file hold the remote pack's
 * bytes (ranged GETs of the blocks not yet cached, neighbours coalesced). */
int udos__rpack_fetch(struct udos__rpack *rp, uint64_t off, uint64_t len);

/* Before reading [off, off + len) through pf->fd: nothing for a local
 * pack, a fetch for an evicted one. */
static inline int udos__packfile_need(udos__packfile *pf, uint64_t off,
				      uint64_t len)
{
	return pf->remote ? udos__rpack_fetch(pf->remote, off, len) : 0;
}

/* the store's open packs by id (a member of udos_store) */
typedef struct udos__packcache {
	pthread_mutex_t mu;       /* guards by_id and n */
	udos__packfile **by_id;   /* NULL = not open */
	size_t n;
} udos__packcache;

void udos__packcache_init(udos__packcache *c);
/* puts the cache's references: packs still held by readers stay open */
void udos__packcache_release(udos__packcache *c);
/* A counted reference to pack `id`, opened and cached on first use.
 * UDOS_ECORRUPT if packs/N is missing, -errno, -ENOMEM. */
int udos__packfile_get(udos__packfile **out, udos_store *st, uint32_t id);
void udos__packfile_put(udos__packfile *pf); /* accepts NULL */
/* Remove packs/N and packs/N.rec, and drop the cache's reference. */
int udos__packfile_remove(udos_store *st, uint32_t id);
/* Remove packs/N only (a pushed pack evicted: packs/N.rec stays, reads go
 * through the remote), and drop the cache's reference. */
int udos__packfile_evict(udos_store *st, uint32_t id);
/* Highest id of a packs/N or packs/N.rec (an evicted pack), or -1 when
 * none; negative errno on error. */
int64_t udos__packs_max_id(udos_store *st);
/* "packs/N" */
void udos__pack_relpath(char *out, size_t cap, uint32_t pack_id);
/* "packs/N.rec" */
void udos__recs_relpath(char *out, size_t cap, uint32_t pack_id);

/* ---- the store ---------------------------------------------------------- */

struct udos_store {
	char *path;
	int dirfd;
	udos_store_info info;
	int hash_type;            /* enum udos_hash_type, from info.hash_type */
	size_t digest_size;       /* 32 or 20 */
	uint8_t uuid[16];

	/* ixlock: read-held around every index use, write-held to swap the
	 * handle between secondary (read-only) and primary (writer) mode */
	pthread_rwlock_t ixlock;
	udos__index *ix;
	bool primary;
	/* index.gen: a counter every index writer bumps after each batch, so
	 * that a read-only handle catches up with the writer (expensive) only
	 * when something was written since it last did (one pread) */
	int genfd;
	_Atomic uint64_t seen_gen;

	/* loose/<prefix>/ folders whose entry this handle has fsynced in
	 * loose/ (bit per prefix, prefixes of up to 3 hex digits; atomics) */
	uint64_t loose_synced[64];

	pthread_mutex_t mu;       /* guards the fields below */
	int lockfd;               /* writer lock file, -1 when not held */
	struct udos_writer *writer;

	udos__packcache packs;    /* open packs (packfile.c) */
	struct udos__remote *remote; /* read-through state (rpack.c) */
	udos_recovery recovery;   /* what writer opens found and mended */
};

/* statcache.c: the stat cache (docs/FORMAT.md "Stat cache"). A hint: a
 * missing or damaged file is an empty cache. Lookups (get) may run on many
 * threads at once; put and save on one at a time. */
typedef struct udos__statcache udos__statcache;
typedef struct udos__statkey {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
} udos__statkey;
/* A file whose mtime or ctime is less than this many seconds before the
 * run started is never looked up nor recorded (the racy-git rule: a write
 * in the same clock tick as the stat leaves both unchanged). */
#define UDOS_STATCACHE_WINDOW_S 3
int udos__statcache_open(udos__statcache **out, udos_store *st,
			 int64_t run_start_ns);
void udos__statcache_free(udos__statcache *c);
/* The id recorded for exactly this stat, if any (the caller checks that
 * the object is still stored). */
bool udos__statcache_get(udos_oid *out, const udos__statcache *c,
			 const udos__statkey *k);
/* Record a file seen by this run (read, or answered by get). */
int udos__statcache_put(udos__statcache *c, const udos__statkey *k,
			const udos_oid *oid);
/* Write what this run saw plus the entries of recent runs (bounded). */
int udos__statcache_save(udos__statcache *c, udos_store *st);
/* Forget the cache (repair: ids it names may no longer be what the files
 * hold in the container). */
int udos__statcache_drop(udos_store *st);

/* Index look-up / scan under the store's index lock. A miss is made sure
 * of: caught up with a writer elsewhere, and confirmed by a seek. */
int udos__store_index_get(udos__rec *out, udos_store *st, const udos_oid *oid);
/* udos__index_is_deleted under the store's index lock */
int udos__store_is_deleted(udos_store *st, const udos_oid *oid);
/* The writer's dedup probe: one look-up, nothing more (a false miss only
 * stores a second copy). */
int udos__store_index_probe(udos__rec *out, udos_store *st,
			    const udos_oid *oid);
/* udos__index_get_many on the store's index; a miss is to be confirmed
 * with udos__store_index_get (which catches up) */
int udos__store_index_get_many(udos_store *st, const udos_oid *const *oids,
			       size_t n, udos__rec *out, int *rcs);
int udos__store_index_foreach(udos_store *st, udos__index_fn fn, void *ctx);
/* A read-only index reopened to the writer's latest commit (validate). */
int udos__store_refresh(udos_store *st);
/* The same, only when a writer committed since the handle last looked. */
int udos__store_refresh_if_stale(udos_store *st);
/* The writer's path: requires the writer lock (primary index). */
int udos__store_index_write(udos_store *st, udos__batch *b, bool sync);
void udos__store_index_flush_start(udos_store *st);
/* the pack writers' lock file: flock'ed, the holder's pid in it */
#define UDOS__LOCK_NAME "writer.lock"
/* whether process `pid` exists (sandbox files and writer.lock name theirs) */
bool udos__pid_running(long pid);
/* the writer pid a sandbox file's name "<pid>-..." gives, else 0 */
long udos__sandbox_owner(const char *name);
/* What became of the last writer, from writer.lock: it holds the pid of a
 * writer at work (synced when taken) and is emptied when the writer
 * closes. RUNNING includes the caller; DIED: killed or cut by a power loss,
 * so that what lies past the index's tail is its residue; UNKNOWN: no
 * writer.lock (a backup's copy). */
enum { UDOS__WRITER_CLOSED, UDOS__WRITER_RUNNING, UDOS__WRITER_DIED,
       UDOS__WRITER_UNKNOWN };
int udos__store_last_writer(udos_store *st);
/* Take writer.lock without opening the index (repair, which replaces it). */
int udos__store_lock_only(udos_store *st);

/* iter.c: regular files directly in folder `rel` of the container: their
 * count (may be NULL) and bytes; with `recs`, the record files ("N.rec")
 * go to *recs instead. Adds to what the counters hold. */
int udos__dir_usage(udos_store *st, const char *rel, uint64_t *count,
		    uint64_t *bytes, uint64_t *recs);

/* manifest.c: whether the container is a clone of a remote (read-only) */
bool udos__remote_is_clone(udos_store *st);

/* ---- loose.c ------------------------------------------------------------ */

/* Open a temp file in sandbox/; *name_out gets its relative path. */
int udos__loose_tmp(int *fd_out, char *name_out, size_t cap, udos_store *st);
/* fsync (unless nosync) the temp file, move it to its loose path without
 * overwriting, fsync the folder; on EEXIST the temp is removed. Closes fd. */
int udos__loose_commit(udos_store *st, int fd, const char *tmpname,
		       const udos_oid *oid, bool nosync, bool *new_out);
/* Write a whole known-hash object as loose. */
int udos__loose_put(udos_store *st, const udos_oid *oid, const void *data,
		    size_t len, bool nosync, bool *new_out);
/* Walk loose/: fn gets each file's path relative to the container and its
 * id, or NULL when the name is not a valid id (validate reports those).
 * Sandbox and stray folders are not visited. */
typedef int (*udos__loose_fn)(void *ctx, const char *rel, const udos_oid *oid);
int udos__loose_walk(udos_store *st, udos__loose_fn fn, void *ctx);
/* The same for the one folder that may hold ids starting with `hex`
 * (NUL-terminated lowercase digits, at least the prefix length): fn sees
 * every file of loose/<hex[0..prefix len)>/, matching or not. */
int udos__loose_walk_prefix(udos_store *st, const char *hex,
			    udos__loose_fn fn, void *ctx);
/* The same walk over any folder with this loose layout (a
 * disk-objectstore container's): loose/ under dirfd, named `path` in
 * messages, prefix_len hex digits per sub-folder, ids of digest_size. */
typedef struct udos__loose_layout {
	int dirfd;
	const char *path;
	int prefix_len;
	size_t digest_size;
} udos__loose_layout;
int udos__loose_walk_at(const udos__loose_layout *ly, udos__loose_fn fn,
			void *ctx);
/* Open a loose object for reading: fd or UDOS_ENOTFOUND. */
int udos__loose_open(udos_store *st, const udos_oid *oid);

/* ---- writer.c: the single pack appender --------------------------------- */

/*
 * Low-level record API for the ingest engine, which hashes and compresses on
 * worker threads and hands finished bytes to the one appender thread.
 */
/* 1 if the id is indexed or added by this writer, 0 if not. */
int udos__writer_has(udos_writer *w, const udos_oid *oid);
/* May be called from any thread while the owner works: false when the id
 * is surely neither indexed nor pending in this writer as of the call (its
 * filter says so), true when it may be or the writer has no filter yet
 * (the caller's look-up then counts towards building one). An id the
 * owner adds at the same moment may read as absent: a hint, which the
 * owner's udos__writer_has and udos__writer_pending confirm. */
int udos__writer_maybe_has(udos_writer *w, const udos_oid *oid);
/* Added by this writer since its last commit? (the writer's own set: no
 * index look-up) */
bool udos__writer_pending(const udos_writer *w, const udos_oid *oid);
/* Write a whole pre-hashed, pre-compressed record (dedup checked). */
int udos__writer_put(udos_writer *w, const udos_oid *oid, int codec,
		     uint64_t raw_len, const void *stored, size_t stored_len,
		     bool *new_out);
/* Stream a record whose hash is known only at the end. */
int udos__writer_begin(udos_writer *w);
int udos__writer_write(udos_writer *w, const void *stored, size_t len);
int udos__writer_end(udos_writer *w, const udos_oid *oid, int codec,
		     uint64_t raw_len, bool *new_out);
void udos__writer_abort(udos_writer *w);
/*
 * Stream one object with an explicit compress mode. With `expect`, an id
 * already present is skipped without reading, and content hashing to
 * anything else is dropped with UDOS_EHASH (pack of loose files).
 */
int udos__writer_stream(udos_oid *out, bool *new_out, udos_writer *w,
			udos_read_fn fn, void *ctx, int compress,
			const udos_oid *expect);
/* Dedup on (default) or off: off appends records even when their id is
 * indexed (repack moves them). */
void udos__writer_set_dedup(udos_writer *w, bool on);
/* Seal the current pack when it holds records: roll to a new one and
 * commit, so that every pack below the tail is closed. */
int udos__writer_seal(udos_writer *w);
/* Start a new pack now; returns its id or negative. */
int64_t udos__writer_roll(udos_writer *w);
/* Stored bytes of the records this writer has appended (not deduped). */
uint64_t udos__writer_stored(const udos_writer *w);
/* The container's default codec and level the writer compresses with. */
udos__zenc *udos__writer_zenc(udos_writer *w);


/* ---- iter.c ------------------------------------------------------------- */

/* Every object's id (udos_store_foreach ALL) in the order a bulk read reads
 * them: loose first, then by pack and offset. *ids_out is malloc'd (the
 * caller frees it); 48 bytes per object while listing. *bytes_out (if not
 * NULL) is their content bytes. */
int udos__store_list_sorted(udos_oid **ids_out, size_t *n_out,
			    uint64_t *bytes_out, udos_store *st);

/* ---- reader.c ----------------------------------------------------------- */

/* udos_object_read_many flag: a record failing its checksum is handed to
 * fn with a plain reader, whose reads then fail with UDOS_ECORRUPT, instead
 * of stopping the walk (import reports it and goes on) */
#define UDOS__READ_LAZY (1u << 16)

/*
 * Read a packed object's stored bytes (compressed as in its pack) from the
 * start, in order: up to len bytes, 0 at the end. Their XXH3 is checked
 * once the last byte is read (UDOS_ECORRUPT). Not to be mixed with
 * udos_reader_read on the same reader; -EINVAL for a loose object.
 */
ssize_t udos__reader_read_stored(udos_reader *r, void *buf, size_t len);

/* ---- validate.c: record checks shared with clean and repack ------------- */

/*
 * Check record `rec`'s stored bytes in a pack file of `file_size` bytes:
 * that they fit, their XXH3; with `full`, decompress and re-hash with
 * `hash_type` (the store's). Returns 0, or UDOS_ECORRUPT with *kind_out an
 * enum udos_finding_kind, or another negative code for I/O errors
 * (*kind_out = UDOS_FIND_IO).
 */
int udos__record_check(const udos__rec *rec, int *kind_out, int fd,
		       uint64_t file_size, bool full, int hash_type);

/* Read and decode entry `slot` of a packs/N.rec file. */
int udos__rec_read(udos__rec *rec, int fd, uint64_t slot);

/* ---- recscan.c: which records of a pack are intact ----------------------- */

/* What a scan of one pack found, from its start point on. */
typedef struct udos__scan {
	uint64_t data_size;  /* bytes of packs/N */
	uint64_t recs_size;  /* bytes of packs/N.rec */
	uint64_t slots;      /* whole entries packs/N.rec holds */
	/* the intact run: records back to back from the start point, each
	 * with a sound entry and stored bytes that pass their XXH3 */
	uint64_t run_end;    /* end of the run's bytes in packs/N */
	uint64_t run_slots;  /* entries up to the end of the run */
	uint64_t intact;     /* intact records (in the run or after it) */
	uint64_t stray;      /* intact records after a bad one or a gap */
	uint64_t bad;        /* entries or stored bytes failing their checks */
	bool no_header;      /* packs/N.rec missing or shorter than its
				header: it describes no record */
} udos__scan;

/* Each record in turn (pack_id and slot filled): kind 0 when intact, else
 * the enum udos_finding_kind of its fault (the detail message says more;
 * rec's other fields are then those of a decodable entry, or zero).
 * Non-zero stops the scan and is returned. */
typedef int (*udos__scan_fn)(void *ctx, const udos__rec *rec, int kind);
#define UDOS__SCAN_FULL (1u << 0) /* also decompress and re-hash */

/*
 * Check the records of pack `id` from entry `from_slot`, whose bytes start
 * at `from_off`, to the last whole entry of packs/N.rec, in entry order. Returns 0 (see *out), UDOS_ECORRUPT when a
 * file is missing or packs/N.rec's header belongs elsewhere, or an I/O
 * error.
 */
int udos__pack_scan(udos__scan *out, udos_store *st, uint32_t id,
		    uint64_t from_slot, uint64_t from_off, unsigned flags,
		    udos__scan_fn fn, void *ctx);

/* container.c: 16 random bytes marked as a version-4 UUID; -EIO */
int udos__uuid4(uint8_t u[16]);
/* container.c: write config.json (temp file, fsync, rename, fsync dir) */
int udos__config_write(int dirfd, const udos_store_info *in);
/* container.c: index/ missing and index.old/ present (a backup's index
 * switch without RENAME_EXCHANGE cut between its two renames): index.old/
 * is renamed back (when the folder can be written). */
void udos__index_recover(int dirfd);

/* ---- restore_dir.c: the folders a restore writes into ------------------- */

struct udos__dslot;
typedef struct udos__destdir {
	int root;                 /* the destination (borrowed) */
	struct udos__dslot *dc;   /* cache: power-of-two open addressing */
	size_t dcap, dn;
	int spare;                /* a folder the full cache could not keep */
	char *norm;               /* udos__destdir_normalize's result */
	size_t ncap;
	char *detail;             /* failures described here (caller's) */
	size_t detail_size;
} udos__destdir;

int udos__destdir_init(udos__destdir *d, int root, char *detail,
		       size_t detail_size);
void udos__destdir_release(udos__destdir *d);
/* Normalize a manifest path into d->norm (no empty or "." components);
 * an absolute path, ".." or a trailing '/' fail (-EPERM, -EINVAL, the
 * detail says which). *name_out: the offset of the file name. */
int udos__destdir_normalize(udos__destdir *d, const char *p, size_t len,
			    size_t *nlen_out, size_t *name_out);
/* The folder dir[0..dlen) below root (normalized; "" is root), made when
 * missing, never through a symlink: a descriptor borrowed until the next
 * call, or a negative code (detail set). dir is modified during the call
 * and restored. */
int udos__destdir_get(udos__destdir *d, char *dir, size_t dlen);

/* ---- backup_state.c: backup.state of a backup folder -------------------- */

typedef struct udos__bk_pack {
	uint32_t id;
	uint64_t data_end; /* packs/N synced and checked up to here */
	uint64_t rec_end;  /* packs/N.rec likewise */
} udos__bk_pack;

typedef struct udos__bk_state {
	char container_id[40];
	bool synced; /* false: "started", nothing in the folder is trusted */
	udos__bk_pack *packs;
	size_t n, cap;
} udos__bk_state;

/* UDOS_ENOTFOUND when the folder has none, UDOS_ECORRUPT when unreadable */
int udos__bk_state_read(udos__bk_state *out, int dfd, const char *dest);
/* temp file, fsync, rename, fsync the folder */
int udos__bk_state_write(int dfd, const char *dest,
			  const udos__bk_state *s);
int udos__bk_state_add(udos__bk_state *s, uint32_t id, uint64_t data_end,
		       uint64_t rec_end);
const udos__bk_pack *udos__bk_state_find(const udos__bk_state *s, uint32_t id);
void udos__bk_state_release(udos__bk_state *s);

#endif
