/* core/remote_manifest.h - the remote's manifest (docs/FORMAT.md "Remote layout"),
 * the container's remote.conf and remote.manifest, and the store's remote
 * state used by read-through. Internal to core/. */
#ifndef UDOS_REMOTE_MANIFEST_H
#define UDOS_REMOTE_MANIFEST_H

#include "internal.h"
#include "s3.h"
#include "udos/remote.h"

#define UDOS__REMOTE_CONF "remote.conf"
#define UDOS__REMOTE_MANIFEST "remote.manifest"
#define UDOS__CACHE_DIR "cache"
#define UDOS__MANIFESTS "manifests/"
#define UDOS__MAN_MAX (64u << 20)

/* one pack of a manifest: its data and record objects */
typedef struct udos__mpack {
	uint32_t id;
	uint64_t size;
	char sha[65];     /* SHA-256 of packs/N, hex: in both keys */
	uint64_t rec_size;
	char rec_sha[65]; /* SHA-256 of packs/N.rec */
} udos__mpack;

typedef struct udos__manifest {
	uint64_t generation;  /* 0: none (an empty remote) */
	char container_id[37];
	char hash_type[16];
	int loose_prefix_len;
	uint64_t pack_size_target;
	char compression[32];
	/* deletion marks: deletions/<dels_sha>, dels ids (0: no line) */
	uint64_t dels;
	char dels_sha[65];
	udos__mpack *packs;   /* by id, ascending */
	size_t n, cap;
} udos__manifest;

/* UDOS_ECORRUPT (detail names `what`) for a malformed or cut text */
int udos__manifest_parse(udos__manifest *out, const char *text, size_t len,
			 const char *what);
int udos__manifest_format(udos_buf *out, const udos__manifest *m);
int udos__manifest_add(udos__manifest *m, const udos__mpack *p);
const udos__mpack *udos__manifest_find(const udos__manifest *m, uint32_t id);
void udos__manifest_release(udos__manifest *m);
/* remote.manifest of a container: UDOS_ENOTFOUND when none */
int udos__manifest_load(udos__manifest *out, udos_store *st);
int udos__manifest_save(udos_store *st, const udos__manifest *m);

/* "packs/<id>-<sha>" or "packs/<id>-<sha>.rec" */
void udos__mpack_key(char *out, size_t cap, const udos__mpack *p, bool rec);
/* "deletions/<sha>" of the manifest's deletion marks */
void udos__manifest_dels_key(char *out, size_t cap, const udos__manifest *m);
#define UDOS__DELS "deletions/"
#define UDOS__DELS_MAGIC "UDOSDELS"
#define UDOS__DELS_HDR 16u
/* "manifests/<generation, 16 digits>" */
void udos__manifest_key(char *out, size_t cap, uint64_t gen);
/* The newest generation listed under manifests/ (0 when none). */
int udos__remote_newest(uint64_t *out, udos__s3 *s);
/* GET and parse manifest `gen` */
int udos__remote_fetch_manifest(udos__manifest *out, udos__s3 *s,
				uint64_t gen);

/* ---- remote_dels.c: deletion marks on the remote ------------------------ */

/* A pushed object found by HEAD is reused only when younger than this: an
 * older unlisted one may be deleted by a concurrent 'remote gc' (whose
 * default grace is twice as long) between the HEAD and the publish. */
#define UDOS__RESUME_MAX_S (12 * 3600)
/* whether a HEAD answer shows the object whole and young enough to reuse */
bool udos__remote_resumable(const udos__s3_req *h, uint64_t size);
/* Set m's deletions line from st's marks (writer lock held), uploading
 * the deletions object unless l names it already or it is there. */
int udos__dels_publish(udos__manifest *m, udos__s3 *s, udos_store *st,
		       const udos__manifest *l, uint64_t part_size,
		       unsigned parallel);
/* Apply m's deletion marks to a clone's index (keys deleted, marks set;
 * marks m no longer carries cleared); *applied counts the marks. */
int udos__dels_apply(uint64_t *applied, udos__s3 *s, udos_store *st,
		     const udos__manifest *m);

/* remote.conf of the container folder dirfd: UDOS_ENOTFOUND when none */
int udos__remote_conf_read(udos_remote_conf *out, int dirfd);
int udos__remote_conf_write(int dirfd, const udos_remote_conf *c);
/* st's remote.conf and a client for it (UDOS_ENOTFOUND with "run 'udos
 * remote set'" when none); with `write`, a clone is refused (-EPERM) */
int udos__remote_open(udos_remote_conf *conf, udos__s3 **s3, udos_store *st,
		      bool write);
/* an S3 client for the conf's bucket and prefix */
int udos__remote_connect(udos__s3 **out, const udos_remote_conf *c);

/* ---- remote_backup.c: what a backup takes of the remote --------------- */

/* Copy remote.conf and remote.manifest into the backup folder dfd (or
 * remove them there when the container has none); *man_out is the
 * container's manifest (empty when none). */
int udos__remote_backup_files(udos__manifest *man_out, udos_store *st,
			      int dfd, const char *dest);
/* The manifest entry of pack `id` when it is evicted here (packs/N absent,
 * its record file of the manifest's size), else NULL. */
const udos__mpack *udos__remote_evicted(const udos__manifest *m,
					udos_store *st, uint32_t id,
					uint64_t rec_size);
/* Evicted pack p read whole through the cache and checked against its
 * manifest SHA-256: *pf_out's fd then holds all its bytes (put it). */
int udos__remote_pack_whole(udos__packfile **pf_out, udos_store *st,
			    const udos__mpack *p);

#define UDOS__DEFAULT_CACHE ((uint64_t)1 << 30)

/* ---- rpack.c: read-through of evicted packs ----------------------------- */

#define UDOS__RPACK_CLIENTS 8

/* The store's remote, loaded at the first miss of a pack file. Fetches of
 * several threads run at once, each on an S3 client of its own (a curl
 * multi handle serves one thread): idle ones wait in `idle`. */
typedef struct udos__remote {
	pthread_mutex_t mu;  /* guards everything below (never held across a
				request) */
	bool loaded, have;
	udos_remote_conf conf;
	udos__manifest man;
	udos__s3 *idle[UDOS__RPACK_CLIENTS];
	size_t n_idle;
	uint64_t epoch;      /* bumped by a reset: older clients are freed */
	int cachefd;         /* cache/, -1 until made */
	uint64_t since_trim; /* bytes fetched since the cache was trimmed */
} udos__remote;

void udos__remote_free(udos__remote *rm);
/* forget the loaded manifest (pull replaced it) */
void udos__remote_reset(udos_store *st);

/*
 * Open pack `id` as a read-through pack: *fd_out is its cache file (sparse,
 * the pack's size), *rp_out the handle udos__rpack_fetch fills it with.
 * UDOS_ENOTFOUND when the container has no remote or the manifest does
 * not list the pack.
 */
int udos__rpack_open(struct udos__rpack **rp_out, int *fd_out, udos_store *st,
		     uint32_t id);
void udos__rpack_close(struct udos__rpack *rp);
/* The cache file of evicted pack p and its block map, when both exist:
 * nothing is fetched or created. *fd_out (close it) and *map_out (free it)
 * of *nblk_out bytes; UDOS_ENOTFOUND when the pack is not cached. */
int udos__rpack_peek(int *fd_out, uint8_t **map_out, uint64_t *nblk_out,
		     udos_store *st, const udos__mpack *p);
/* Whether the map says [off, off + len) is all cached. */
bool udos__rpack_peek_has(const uint8_t *map, uint64_t nblk, uint64_t off,
			  uint64_t len);
/* Tests (tests/unit/test_rpack.c): when set, fetches call this to write
 * [off, off + len) of pack p into the cache file fd, instead of S3. */
typedef int (*udos__rpack_fetch_fn)(const udos__mpack *p, int fd,
				    uint64_t off, uint64_t len);
extern udos__rpack_fetch_fn udos__rpack_fetch_hook;
/* Bytes of the read-through cache on disk. */
uint64_t udos__rpack_cached(udos_store *st);

#endif
