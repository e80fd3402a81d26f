/* udos/ingest.h - bulk ingest of files and directory trees (io_uring). */
#ifndef UDOS_INGEST_H
#define UDOS_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "object.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The ingest engine reads many files at once and stores each one as an
 * object: directories are walked in parallel, files are opened and read
 * through io_uring (or a pread thread pool), hashed and compressed on worker
 * threads, and written by one appender to packs (group-committed) or as
 * loose files. Memory stays bounded (opts.max_inflight) whatever the sizes.
 *
 * Callbacks (on_file, on_warning, progress) are called from internal
 * threads, never two at a time; they must not call back into the same
 * ingest run. They must return quickly: they hold up the pipeline.
 */

/* Where the objects go. */
enum udos_ingest_target {
	UDOS_INGEST_TO_PACK = 0,  /* packs, via the store's pack writer */
	UDOS_INGEST_TO_LOOSE = 1, /* one loose file per object (raw) */
};

/* How files are read. */
enum udos_ingest_io {
	UDOS_INGEST_IO_AUTO = 0,    /* io_uring; the thread pool if no ring
				       can be made (one notice via
				       on_warning) */
	UDOS_INGEST_IO_URING = 1,   /* io_uring or fail with its error */
	UDOS_INGEST_IO_THREADS = 2, /* pread thread pool */
};

/* What on_warning reports (the file or folder was not ingested). With
 * UDOS_INGEST_REPORT_ALL, SYMLINK and SPECIAL come through on_file
 * instead (skipped = true, with the exact type). */
enum udos_ingest_warning {
	UDOS_INGEST_WARN_SYMLINK = 1, /* symlink skipped (follow_symlinks
					 is off) */
	UDOS_INGEST_WARN_SPECIAL = 2, /* fifo, socket or device skipped */
	UDOS_INGEST_WARN_WALK = 3,    /* a folder could not be read; `code`
					 says why */
	UDOS_INGEST_WARN_LOOP = 4,    /* folder reached twice through
					 symlinks */
	UDOS_INGEST_WARN_NOTICE = 5,  /* general notice, e.g. the fallback
					 from io_uring to threads */
};

/* What an input entry is, as the walker saw it (a symlink met while
 * walking is not followed unless follow_symlinks). */
enum udos_ingest_type {
	UDOS_INGEST_TYPE_FILE = 0,    /* regular file */
	UDOS_INGEST_TYPE_DIR = 1,
	UDOS_INGEST_TYPE_SYMLINK = 2,
	UDOS_INGEST_TYPE_FIFO = 3,
	UDOS_INGEST_TYPE_SOCKET = 4,
	UDOS_INGEST_TYPE_CHARDEV = 5,
	UDOS_INGEST_TYPE_BLOCKDEV = 6,
	UDOS_INGEST_TYPE_UNKNOWN = 7,
};

/* Flags of udos_ingest_opts.flags. */
enum udos_ingest_flags {
	/* Report every input entry through on_file, not only files: a
	 * skipped symlink or special file (skipped = true, its type; not
	 * through on_warning), and each folder given as a path (type DIR,
	 * once, when its walk starts). With it, every entry of the input
	 * gets exactly one report with named = true. */
	UDOS_INGEST_REPORT_ALL = 1u << 0,
	/* A folder given as a path is not walked: it is reported as an
	 * error (-EISDIR). Folders met while walking are unaffected. */
	UDOS_INGEST_NO_RECURSE = 1u << 1,
	/* Do not use the container's stat cache: read every file (the
	 * cache is still updated with what is read). */
	UDOS_INGEST_NO_CACHE = 1u << 2,
};

/* One finished input entry. */
typedef struct udos_ingest_file {
	const char *path;  /* as walked or given; valid during the call */
	int error;         /* 0, or negative: -ENOENT (vanished), -EACCES,
			      -EIO, UDOS_ECHANGED (size changed while being
			      read), ... */
	const char *detail; /* one line when error != 0, else "" */
	udos_oid oid;      /* when error == 0 */
	uint64_t size;     /* bytes read (error == 0) */
	bool is_new;       /* stored by this run (false: already there) */
	/* --- where it came from (opts version 2 and later) --- */
	uint64_t index;    /* position in the input of the entry it came
			      from: 0 for the first path given, 1 for the
			      next, ... (a file under a folder has the
			      folder's index) */
	bool named;        /* it is that input entry itself, not a file
			      found under a folder */
	int type;          /* enum udos_ingest_type */
	bool skipped;      /* not a regular file, not ingested (reported
			      only with UDOS_INGEST_REPORT_ALL; error 0) */
	bool stopped;      /* error != 0 because a store failure stopped
			      the run (this file's or another's): not a
			      problem of this input file */
	bool cached;       /* the id came from the stat cache: the file was
			      not read (size is the stat'ed size) */
	/* the walker's stat (lstat, or stat for a followed symlink);
	   mode == 0 when it had none (the entry vanished) */
	uint32_t mode;
	uint64_t stat_size;
	int64_t mtime_ns;  /* since the epoch */
} udos_ingest_file;

/*
 * Called once per input file, success or failure. For the pack target a
 * success is reported only after the commit that made its object durable;
 * for loose, once its file is renamed into place (and synced unless
 * no_sync).
 */
typedef void (*udos_ingest_file_fn)(void *ctx, const udos_ingest_file *f);

/* A file or folder skipped, or a notice. `path` may be NULL. */
typedef void (*udos_ingest_warn_fn)(void *ctx, int kind, int code,
				    const char *path, const char *message);

/* Counters for a progress display. Totals grow while the walker runs;
 * walk_done says when they are final. */
typedef struct udos_ingest_progress {
	uint64_t files_done;   /* reported through on_file (incl. errors) */
	uint64_t bytes_done;   /* read and hashed so far, parts of files
				  still being read included */
	uint64_t files_total;  /* files found so far */
	uint64_t bytes_total;  /* sizes of the files found so far (as the
				  walker saw them) */
	uint64_t errors;
	bool walk_done;
} udos_ingest_progress;

typedef void (*udos_ingest_progress_fn)(void *ctx,
					const udos_ingest_progress *p);

typedef struct udos_ingest_opts {
	unsigned version;    /* UDOS_INGEST_OPTS_VERSION */
	int target;          /* enum udos_ingest_target */
	int io;              /* enum udos_ingest_io */
	int compress;        /* enum udos_compress (pack target only);
				default AUTO */
	bool follow_symlinks;
	bool no_sync;        /* skip fsync/fdatasync (tests, benchmarks) */
	unsigned workers;    /* hash/compress threads; 0 = one per core */
	unsigned queue_depth; /* io_uring reads in flight; 0 = 256 */
	uint64_t max_inflight; /* cap on bytes being read, hashed, compressed
				  or waiting to be written; 0 = 256 MiB,
				  minimum 16 MiB */
	udos_ingest_file_fn on_file;
	udos_ingest_warn_fn on_warning;
	udos_ingest_progress_fn progress; /* about every progress_ms */
	unsigned progress_ms;             /* 0 = 200 */
	void *ctx;           /* passed to every callback */
	/* version 2 */
	unsigned flags;      /* enum udos_ingest_flags */
} udos_ingest_opts;

/* Version 1 (without flags) is still accepted. */
#define UDOS_INGEST_OPTS_VERSION 2
#define UDOS_INGEST_OPTS_INIT                                                \
	{ UDOS_INGEST_OPTS_VERSION, UDOS_INGEST_TO_PACK, UDOS_INGEST_IO_AUTO, \
	  UDOS_COMPRESS_AUTO, false, false, 0, 0, 0, NULL, NULL, NULL, 0,   \
	  NULL, 0 }

typedef struct udos_ingest_summary {
	uint64_t files;        /* files stored (or found already there) */
	uint64_t new_objects;  /* objects written by this run */
	uint64_t dedup_hits;   /* files whose object was already there or
				  came earlier in this run */
	uint64_t errors;       /* files that failed (see on_file) */
	uint64_t skipped;      /* symlinks, special files (see on_warning,
				  or on_file with UDOS_INGEST_REPORT_ALL) */
	uint64_t bytes_in;     /* bytes read from stored files */
	uint64_t bytes_stored; /* bytes written for new objects (after
				  compression, without record entries) */
	double seconds;        /* wall clock of the whole run */
	int io;                /* the enum udos_ingest_io path used:
				  URING or THREADS */
	/* filled only when opts.version >= 2 */
	uint64_t cached;       /* files whose id came from the stat cache,
				  not read (counted in files, dedup_hits) */
} udos_ingest_summary;

/*
 * A pull source of paths: set *path_out to the next path and return 1, or
 * return 0 at the end, or a negative code to stop the run with it. The
 * string is borrowed until the next call. Called from one internal thread.
 */
typedef int (*udos_ingest_source_fn)(void *ctx, const char **path_out);

/*
 * Ingest the given paths: files are stored, folders walked recursively.
 * Symlinks met while walking (unless opts->follow_symlinks) and special
 * files are skipped with an on_warning; a symlink given as a path is
 * followed (like find -H). Per-file failures go to on_file and are counted; the
 * rest of the run goes on and everything stored stays stored.
 * The pack target opens (and closes) the store's udos_writer, so none may be
 * open; it takes the writer lock (UDOS_ELOCKED).
 * Returns 0 when the run completed (even with per-file errors: look at
 * out->errors), or negative if it could not run or a store write failed
 * (e.g. -ENOSPC): objects reported through on_file before that are durable.
 * `out` may be NULL; `opts` may be NULL (defaults).
 */
UDOS_API int udos_ingest_paths(udos_ingest_summary *out, udos_store *st,
			       const char *const *paths, size_t n_paths,
			       const udos_ingest_opts *opts);

/* Same, with the paths coming from a callback (each treated like a path
 * argument: a folder is walked). */
UDOS_API int udos_ingest_source(udos_ingest_summary *out, udos_store *st,
				udos_ingest_source_fn next, void *src_ctx,
				const udos_ingest_opts *opts);

/* Same, with the paths read from fd (e.g. 0 for stdin), separated by `sep`
 * ('\n' or '\0'). Empty entries are ignored; with '\n' a trailing '\r' is
 * kept (paths may contain anything but the separator). */
UDOS_API int udos_ingest_fd(udos_ingest_summary *out, udos_store *st, int fd,
			    char sep, const udos_ingest_opts *opts);

/*
 * Can this process make an io_uring ring? 0 if yes, else the negative error
 * io_uring_queue_init gave (-ENOSYS, -EPERM, ...). The environment variable
 * UDOS_INGEST_NO_URING=1 makes rings fail with -ENOSYS (for tests).
 */
UDOS_API int udos_ingest_uring_probe(void);

#ifdef __cplusplus
}
#endif
#endif
