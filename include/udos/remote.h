/* udos/remote.h - sealed packs on S3-compatible object storage: a remote
 * for a container, push, evict with read-through, clone and pull.
 * docs/FORMAT.md "Remote layout" describes what lies in the bucket. */
#ifndef UDOS_REMOTE_H
#define UDOS_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "udos/maint.h"
#include "udos/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A container's remote, as stored in its remote.conf (never credentials:
 * those come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN or ~/.aws/credentials at each use). */
typedef struct udos_remote_conf {
	char url[512];      /* s3://BUCKET[/PREFIX] */
	char endpoint[512]; /* http(s)://host[:port] */
	char region[64];    /* default us-east-1 */
	uint64_t cache_size; /* bytes of read-through cache; 0 = default */
	bool clone;          /* made by udos_remote_clone: read-only */
	/* PEM file of the certificate authorities to trust over https ("":
	 * the one the AWS_CA_BUNDLE variable names, else the system's) */
	char ca_bundle[512];
} udos_remote_conf;

/* Write remote.conf (temp file, fsync, rename). -EINVAL with a detail for a
 * malformed url or endpoint. */
UDOS_API int udos_remote_set(udos_store *st, const udos_remote_conf *conf);
/* UDOS_ENOTFOUND when the container has no remote. */
UDOS_API int udos_remote_get(udos_remote_conf *out, udos_store *st);
/* Remove remote.conf (what was pushed stays in the bucket); refused on a
 * clone (-EPERM), whose remote is its source. */
UDOS_API int udos_remote_unset(udos_store *st);

typedef struct udos_push_opts {
	bool seal;          /* roll the current pack first, so it is pushed */
	unsigned parallel;  /* transfers at once (0: 8) */
	uint64_t part_size; /* multipart part size (0: 16 MiB) */
	udos_progress_fn progress; /* packs uploaded and their bytes */
	void *ctx;
} udos_push_opts;
#define UDOS_PUSH_OPTS_INIT { false, 0, 0, NULL, NULL }

typedef struct udos_push_result {
	uint64_t packs;      /* packs uploaded by this run */
	uint64_t bytes;      /* bytes uploaded (pack and record files) */
	uint64_t resumed;    /* packs found already uploaded */
	uint64_t swept;      /* incomplete multipart uploads aborted */
	uint64_t generation; /* the manifest generation published (0: none) */
	uint64_t remote_packs; /* packs the manifest lists */
	uint64_t deletions;  /* deletion marks the manifest carries */
	uint64_t requests;   /* S3 requests sent */
} udos_push_result;

/*
 * Upload every sealed pack the remote's newest manifest does not list,
 * then publish the next manifest generation with If-None-Match: * (the
 * commit point). Needs the writer lock. Fails with UDOS_ELOCKED (detail
 * names the generation) when the remote moved past the generation this
 * container last pushed or pulled: another writer pushed; nothing is lost
 * (uploaded objects are simply not listed). An interrupted push leaves the
 * remote's manifest as it was; running it again resumes.
 */
UDOS_API int udos_remote_push(udos_push_result *out, udos_store *st,
			      const udos_push_opts *opts);

typedef struct udos_evict_result {
	uint64_t packs;  /* local pack files removed */
	uint64_t bytes;
	uint64_t kept;   /* pushed packs kept local (--keep) */
} udos_evict_result;

/*
 * Remove the local data file of pushed packs (their packs/N.rec stays),
 * newest kept first up to `keep` bytes. Reads of an evicted pack fetch
 * ranges from the remote through the cache. Needs the writer lock. A pack
 * whose local file differs in size from the manifest is kept.
 */
UDOS_API int udos_remote_evict(udos_evict_result *out, udos_store *st,
			       uint64_t keep);

typedef struct udos_pull_result {
	uint64_t generation; /* the manifest generation now held */
	uint64_t packs_added;
	uint64_t packs_removed;
	uint64_t objects;    /* index entries written */
	uint64_t deletions;  /* deletion marks applied */
	uint64_t requests;
} udos_pull_result;

/* Make `dir` (missing or empty) a read-only clone of the remote: config
 * from the newest manifest, record files downloaded and checked, the index
 * built from them; pack data stays remote (read through the cache). */
UDOS_API int udos_remote_clone(udos_pull_result *out, const char *dir,
			       const udos_remote_conf *conf);
/*
 * A read of a clone met a pack the remote no longer has (-ESTALE: a newer
 * generation dropped it and 'remote gc' deleted it): pull the newest
 * generation, taking the writer lock only for the pull (kept if the caller
 * held it), so that the read can look again. -EPERM on a container that is
 * not a clone; UDOS_ELOCKED when another process holds the clone's lock.
 */
UDOS_API int udos_remote_refresh(udos_store *st);
/* Bring a clone up to the newest manifest generation, incrementally;
 * objects the generation's deletion marks name are gone from the clone. */
UDOS_API int udos_remote_pull(udos_pull_result *out, udos_store *st);

/* Default grace of udos_remote_gc: one day (docs/DECISIONS.md). */
#define UDOS_REMOTE_GC_GRACE (24 * 3600)

typedef struct udos_remote_gc_opts {
	int64_t grace;     /* seconds; see udos_remote_gc */
	bool dry_run;      /* count what would go, delete nothing */
	unsigned parallel; /* delete calls at once (0: 4) */
} udos_remote_gc_opts;
#define UDOS_REMOTE_GC_OPTS_INIT { UDOS_REMOTE_GC_GRACE, false, 0 }

typedef struct udos_remote_gc_result {
	uint64_t generation;        /* the newest manifest generation */
	uint64_t manifests_kept;    /* generations readers may still hold */
	uint64_t manifests_deleted;
	uint64_t objects_named;     /* objects a kept generation names */
	uint64_t objects_young;     /* unnamed, younger than the grace: kept */
	uint64_t objects_deleted;   /* unnamed and older than the grace */
	uint64_t bytes_deleted;
	uint64_t uploads_aborted;   /* incomplete multipart uploads */
	uint64_t requests;
} udos_remote_gc_result;

/*
 * Delete from the remote what no reader can need any more. A manifest
 * generation is kept while it is the newest, or was the newest less than
 * `grace` seconds ago (its successor is younger than the grace): a reader
 * may have taken it and still fetch what it names. Objects under packs/
 * and deletions/ that no kept generation (nor this container's own
 * remote.manifest) names and that are older than the grace go: packs
 * dropped by a repack, and the uploads of a writer that lost the race or
 * was interrupted; so do incomplete multipart uploads older than the
 * grace and the generations not kept. Ages are judged by the server's
 * clock (LastModified against its Date). Needs the writer lock (so no
 * push of this container runs meanwhile); refused on a clone (-EPERM).
 * Safe beside other writers' pushes while the grace exceeds 12 hours.
 */
UDOS_API int udos_remote_gc(udos_remote_gc_result *out, udos_store *st,
			    const udos_remote_gc_opts *opts);

typedef struct udos_remote_status {
	bool has_remote;
	uint64_t generation;   /* of the manifest this container holds */
	uint64_t packs_local;  /* packs with their data file here */
	uint64_t bytes_local;
	uint64_t packs_remote; /* packs the manifest lists */
	uint64_t bytes_remote;
	uint64_t bytes_cached; /* read-through cache on disk */
	uint64_t cache_size;   /* its bound */
} udos_remote_status;
UDOS_API int udos_remote_status_get(udos_remote_status *out, udos_store *st);

typedef struct udos_remote_check {
	uint64_t packs;     /* manifest entries checked */
	uint64_t missing;   /* objects the listing lacks */
	uint64_t bad_size;  /* objects of another size */
	uint64_t bad;       /* full: objects or records failing their checks */
	uint64_t records;   /* full: records read and checked */
} udos_remote_check;
/* Compare the newest manifest with a listing; with `full`, download every
 * pack and record file and check its SHA-256 and every record (entry
 * checksum, XXH3, and decompressed hash). Returns 0; findings in *out
 * (the detail names the last). */
UDOS_API int udos_remote_validate(udos_remote_check *out, udos_store *st,
				  bool full);

#ifdef __cplusplus
}
#endif
#endif
