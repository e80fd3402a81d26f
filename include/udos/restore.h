/* udos/restore.h - manifests (id + path lists) and rebuilding a tree from
 * one. */
#ifndef UDOS_RESTORE_H
#define UDOS_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maint.h"
#include "object.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A manifest: a list of (id, path) pairs, what `udos add` prints. Paths are
 * byte strings (any byte but NUL), relative to the folder a restore writes
 * into; they are checked only by udos_restore.
 */
typedef struct udos_manifest udos_manifest;

/* An empty manifest for ids of `digest_size` bytes (20 or 32). -EINVAL,
 * -ENOMEM. */
UDOS_API int udos_manifest_new(udos_manifest **out, size_t digest_size);

/* Append one entry; the path bytes are copied. -EINVAL for an empty path
 * or one holding a NUL, -ENOMEM. */
UDOS_API int udos_manifest_add(udos_manifest *m, const udos_oid *oid,
			       const void *path, size_t path_len);

enum udos_manifest_flags {
	/* every line is JSON; without it a line starting with '{' is JSON
	 * and any other a sha256sum line */
	UDOS_MANIFEST_JSON = 1u << 0,
};

/*
 * Append the entries of a manifest text: one entry per line, either
 *  - a sha256sum line, "HASH  PATH" ("HASH *PATH" too), or "\HASH  PATH"
 *    with "\\", "\n" and "\r" escaped in PATH (coreutils' form for names
 *    holding a backslash or a newline); or
 *  - a JSON object with string members "hash" and "path" (others are
 *    ignored), as `udos add --json` prints; in "path", \udc80..\udcff
 *    stand for the bytes 0x80..0xff that are not UTF-8 (Python's
 *    surrogateescape), any other escape is JSON's.
 * Empty lines are skipped. A malformed line fails the call with -EINVAL,
 * the detail naming its line number; entries of earlier lines stay.
 */
UDOS_API int udos_manifest_parse(udos_manifest *m, const void *text,
				 size_t len, unsigned flags);

UDOS_API size_t udos_manifest_count(const udos_manifest *m);

/* Entry i (< count): its id, and its path (borrowed, valid until the
 * manifest is freed; NUL-terminated, *len_out its length). */
UDOS_API const char *udos_manifest_entry(const udos_manifest *m, size_t i,
					 udos_oid *oid_out, size_t *len_out);

UDOS_API void udos_manifest_free(udos_manifest *m);

/* What happened to one file of a restore. */
enum udos_restore_status {
	UDOS_RESTORE_WRITTEN = 0, /* created or replaced */
	UDOS_RESTORE_SAME = 1,    /* already there with this content */
	UDOS_RESTORE_FAILED = 2,  /* see error and detail */
};

typedef struct udos_restore_file {
	const char *path;   /* as in the manifest */
	size_t index;       /* its position in the manifest */
	int status;         /* enum udos_restore_status */
	int error;          /* FAILED: negative code */
	const char *detail; /* FAILED: one line (borrowed, for the call) */
	uint64_t size;
} udos_restore_file;

typedef void (*udos_restore_file_fn)(void *ctx, const udos_restore_file *f);

typedef struct udos_restore_summary {
	uint64_t files;     /* entries in the manifest */
	uint64_t written, same, failed;
	uint64_t bytes_written;
	double seconds;
} udos_restore_summary;

typedef struct udos_restore_opts {
	unsigned version;               /* UDOS_RESTORE_OPTS_VERSION */
	/* every entry, may be NULL; both callbacks may come from the
	 * restore's threads, one call at a time */
	udos_restore_file_fn on_file;
	udos_progress_fn progress;      /* files; may be NULL */
	void *ctx;
	bool verify;                    /* also hash packed content */
} udos_restore_opts;

#define UDOS_RESTORE_OPTS_VERSION 1
#define UDOS_RESTORE_OPTS_INIT { UDOS_RESTORE_OPTS_VERSION, NULL, NULL, NULL, false }

/*
 * Write the files of manifest `m` under the folder `dest` (created if
 * missing, its parent must exist), making the folders on their paths.
 * Objects are read in storage order (by pack and offset), each once
 * however many paths name it. A file already at its path with the same
 * size and content is left alone (SAME); one that differs is replaced.
 *
 * A path must stay inside `dest`: an absolute path, a ".." component, or
 * a symlink met on the way (an existing folder of `dest` that is a
 * symlink) fails that entry; paths of any length work (folders are opened
 * one component at a time). A missing or damaged object, or a file that
 * cannot be written, fails its entries (reported to on_file; a partly
 * written file is removed) and the rest goes on. New files get mode
 * 0666 & ~umask; nothing is fsynced. A path named twice (with two ids)
 * ends with one of them. Runs four writer threads besides the caller's.
 *
 * Returns 0 when the run completed (even with failed entries: see
 * out->failed), or a negative code when it could not run at all (dest
 * not creatable, out of memory, the index unreadable). Memory: the
 * manifest plus a per-id plan, and one buffer; never an object's size.
 * `out` may be NULL.
 */
UDOS_API int udos_restore(udos_restore_summary *out, udos_store *st,
			  const udos_manifest *m, const char *dest,
			  const udos_restore_opts *opts);

#ifdef __cplusplus
}
#endif

#endif
