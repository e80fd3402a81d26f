/* uring/ingest_int.h - shared state of the ingest pipeline (uring/ only). */
#ifndef UDOS_INGEST_INT_H
#define UDOS_INGEST_INT_H

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"
#include "udos/ingest.h"

/*
 * Sizes. Every file is first read into one fixed-size slot (HEAD bytes);
 * most files end there. A file larger than that is "medium" up to MED_MAX
 * (read whole into one buffer, hashed and compressed in one go) or a stream
 * beyond (CHUNK-sized pieces; hashing and compression of one stream run on
 * two workers at once). Both read paths use these same boundaries, so the
 * compressed bytes do not depend on the path.
 */
#define ING_HEAD (64 * 1024)
#define ING_MED_MAX (4u * 1024 * 1024)
#define ING_CHUNK (1024 * 1024)
#define ING_STREAM_QUOTA 8  /* chunks in flight per stream */
#define ING_MAX_STREAMS 2   /* streams open at once */

/* ---- queue.c: a mutex+cond FIFO of intrusive items ------------------- */

struct ing_node {
	struct ing_node *next;
};

struct ing_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv_pop;
	pthread_cond_t cv_push;
	struct ing_node *head, *tail;
	size_t len;
	size_t cap;    /* 0 = unbounded: push never waits */
	bool closed;   /* no more pushes; pops drain then get NULL */
	unsigned waiters;      /* poppers waiting */
	unsigned push_waiters; /* pushers waiting: woken at half full */
};

void ing_queue_init(struct ing_queue *q, size_t cap);
void ing_queue_destroy(struct ing_queue *q);
/* Wait while full (bounded queues). Returns false if the queue is closed. */
bool ing_queue_push(struct ing_queue *q, struct ing_node *n);
/* Push a linked list of `count` nodes at once: waits while full, then
 * links them all (may pass the cap once). false if closed (nothing
 * linked). */
bool ing_queue_push_list(struct ing_queue *q, struct ing_node *first,
			 struct ing_node *last, size_t count);
/* Put one node at the head (jumps the line; ignores cap). */
void ing_queue_push_front(struct ing_queue *q, struct ing_node *n);
/* Wait up to timeout_ms (-1 = forever, 0 = no wait) for an item. NULL on
 * timeout or when closed and empty (*closed_out says which, may be NULL). */
struct ing_node *ing_queue_pop(struct ing_queue *q, int timeout_ms,
			       bool *closed_out);
/* Pop one (waiting as ing_queue_pop) and then up to max-1 more without
 * waiting; *first_out gets a NULL-terminated list. Returns the count. */
size_t ing_queue_pop_batch(struct ing_queue *q, size_t max, int timeout_ms,
			   struct ing_node **first_out, bool *closed_out);
/* Take everything queued (no wait). Returns the first node or NULL. */
struct ing_node *ing_queue_take_all(struct ing_queue *q, bool *closed_out);
void ing_queue_close(struct ing_queue *q);
size_t ing_queue_len(struct ing_queue *q);

/* A byte budget: take blocks (or fails with try) until enough is free. */
struct ing_budget {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t cap, used;
	bool cancelled;
};
void ing_budget_init(struct ing_budget *b, uint64_t cap);
void ing_budget_destroy(struct ing_budget *b);
bool ing_budget_try(struct ing_budget *b, uint64_t n);
/* false when cancelled */
bool ing_budget_take(struct ing_budget *b, uint64_t n);
void ing_budget_give(struct ing_budget *b, uint64_t n);
void ing_budget_cancel(struct ing_budget *b);

/* ---- files, chunks and streams ------------------------------------- */

enum ing_kind {
	ING_WHOLE = 0,  /* all bytes in one buffer (slot or malloc) */
	ING_STREAM = 1, /* chunks */
};

struct ing_stream;

/* A unit of work for the hash/compress workers. */
struct ing_task {
	struct ing_node node;
	int type;              /* ING_T_* */
	void *obj;             /* struct ing_file or struct ing_stream */
};
enum { ING_T_WHOLE = 1, ING_T_HASH, ING_T_COMP };

/*
 * A folder held open for the entries under it whose paths are too long to
 * open whole (PATH_MAX): shared by them, closed with the last reference.
 * Paths shorter than that are opened whole, as before.
 */
struct ing_dirref {
	atomic_uint refs;
	int fd;
};

/* A reference on fd (taken over; closed on failure): NULL if out of
 * memory. */
struct ing_dirref *ing_dirref_new(int fd);
struct ing_dirref *ing_dirref_get(struct ing_dirref *d);
void ing_dirref_put(struct ing_dirref *d); /* NULL is fine */

/* A path of this length or more cannot be opened whole. */
#define ING_LONG_PATH (PATH_MAX - 1)

/* What the walker's stat said about an entry (valid == false: none). */
struct ing_wstat {
	bool valid;
	uint32_t mode;
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
};

struct ing_file {
	struct ing_node node;   /* file queue, task queue, appender queue */
	struct ing_file *cnext; /* pending-callback list */
	int kind;
	int err;
	char *detail;           /* malloc'd, on error */
	uint64_t size;          /* bytes read */
	uint64_t stat_size;     /* statx/fstat size when taken */
	/* ING_WHOLE data */
	uint8_t *data;
	size_t len;
	int slot;               /* head slot index holding data, or -1 */
	uint8_t *heap;          /* malloc'd buffer holding data, or NULL */
	uint64_t charged;       /* budget charged for this file */
	/* results */
	udos_oid oid;
	int codec;
	udos_buf out;           /* compressed bytes (codec != NONE) */
	bool is_new;
	bool known;             /* the index had it when the worker looked */
	bool stopped;           /* not ingested because the run stopped (a
				   store failure, this file's or another's) */
	bool dup_hint;          /* same id seen earlier in this run: not
				   compressed by the worker (the appender
				   compresses it if it is not known after
				   all) */
	uint64_t check_seq;     /* commit_seq when the worker looked */
	struct ing_stream *stream;
	struct ing_task task;
	/* reader state (uring path) */
	int fslot;              /* fixed file index, -1 */
	int step;
	int failop;
	bool follow;            /* named by the caller (an input entry
				   itself): follow a symlink */
	uint64_t index;         /* input entry it came from */
	int type;               /* enum udos_ingest_type */
	bool skipped;           /* not a regular file: report only */
	bool cached;            /* id from the stat cache, not read */
	struct ing_wstat ws;    /* the walker's stat */
	void *rd;               /* reader-private */
	struct ing_dirref *dref; /* long path: open path + name_off in it */
	size_t name_off;
	char path[];            /* NUL-terminated */
};

/* Where to open f: (ing_file_dirfd(f), ing_file_rel(f)) for *at() calls. */
static inline int ing_file_dirfd(const struct ing_file *f)
{
	return f->dref ? f->dref->fd : AT_FDCWD;
}

static inline const char *ing_file_rel(const struct ing_file *f)
{
	return f->dref ? f->path + f->name_off : f->path;
}

struct ing_chunk {
	struct ing_chunk *next;
	uint64_t seq;
	uint8_t *data;
	size_t len;
	int slot;               /* head slot (chunk 0) or -1 */
	uint8_t *heap;
	udos_buf out;           /* compressed */
	bool compressed;
	bool hashed;
	bool written;
	bool last;
	/* reader-private (ring.c), before the chunk is pushed */
	void *rd;
	int res;
	bool done;
};

struct ing_stream {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ing_file *f;
	struct ing_chunk *head, *tail; /* in seq order; freed when hashed
					  and written */
	uint64_t next_hash, next_comp, next_write;
	uint64_t nchunks;       /* chunks queued so far */
	unsigned held;          /* chunks alive (quota) */
	bool read_done;         /* the last chunk is queued (or error) */
	bool hash_sched, comp_sched;
	bool hash_done;
	int err;                /* read error: the stream is abandoned */
	int codec;              /* decided on chunk 0 */
	bool codec_known;
	udos__hash *sha;      /* owned while the hash task runs */
	udos__zenc *z;          /* stream's own encoder */
	struct ing_task t_hash, t_comp;
};

/* ---- the run ------------------------------------------------------- */

struct ing_run {
	udos_store *st;
	udos_ingest_opts o;
	udos_writer *w;
	int codec, level;       /* container default */

	/* file sources -> readers */
	struct ing_queue files;
	/* hash/compress tasks; stream tasks jump the line (the appender
	 * waits on them) */
	struct ing_queue tasks;
	/* finished files and streams -> appender */
	struct ing_queue app;

	struct ing_budget budget;   /* heap buffers */
	struct ing_budget streams;  /* stream count */

	/* head slots: n_slots buffers of ING_HEAD bytes */
	uint8_t *arena;
	unsigned n_slots;
	pthread_mutex_t slot_mu;
	pthread_cond_t slot_cv;
	int *slot_free;
	unsigned n_slot_free;

	/* callbacks: never two at a time */
	pthread_mutex_t cb_mu;
	struct ing_file *pend_head, *pend_tail; /* waiting for a commit */

	/* dedup: workers look ids up in the index (in parallel); the
	 * appender then only asks the writer what it added since the last
	 * commit and re-checks ids whose look-up raced a commit */
	_Atomic uint64_t commit_seq;
	/* ids (first 8 bytes) seen by the workers in this run: a lossy,
	 * lock-free hint that lets duplicates skip compression and the
	 * index look-up */
	_Atomic uint64_t *seen;
	size_t seen_mask;
	udos__zenc *app_z;      /* appender's encoder (dup_hint fallback) */
	udos_buf app_buf;

	/* counters */
	/* the stat cache: looked up by the walker, fed by the report
	 * (under cb_mu), saved by the run at the end */
	udos__statcache *cache;
	_Atomic uint64_t cached;   /* files answered by the stat cache */
	_Atomic uint64_t files_total, bytes_total, files_done,
		errors, skipped, files_ok, new_objects, dedup, bytes_in,
		bytes_stored;
	/* bytes read and hashed so far, parts of files being read included
	 * (the progress display's "done": a large file moves it too) */
	_Atomic uint64_t bytes_hashed;
	atomic_bool walk_done;
	double next_tick;          /* appender only: next progress call */
	atomic_int fatal;          /* first store-level failure */
	atomic_bool stop;

	unsigned n_workers;
	int io_used;

	/* waking the io_uring reader when it sleeps in io_uring_enter:
	 * whoever frees a slot, budget, stream room or queues files calls
	 * ing_wake(); the reader keeps a read of wake_fd (an eventfd) in
	 * its ring */
	int wake_fd;
	atomic_bool rd_waiting;
	_Atomic uint64_t wake_gen;
};

/* pipeline.c: pieces every stage shares (calls no stage) */
struct ing_file *ing_file_new(const char *dir, size_t dlen, const char *name);
/* Drop the file's data (slot, heap buffer, compressed bytes), keep the
 * rest for the report. */
void ing_file_drop_data(struct ing_run *r, struct ing_file *f);
void ing_file_free(struct ing_run *r, struct ing_file *f);
void ing_chunk_free(struct ing_run *r, struct ing_chunk *c);
int ing_slot_get(struct ing_run *r, bool wait);
void ing_slot_put(struct ing_run *r, int slot);
static inline uint8_t *ing_slot_ptr(struct ing_run *r, int slot)
{
	return r->arena + (size_t)slot * ING_HEAD;
}
/* The budget charged for a heap buffer of n input bytes. */
uint64_t ing_charge(const struct ing_run *r, uint64_t n);
/* Something the io_uring reader may be waiting for has changed. */
void ing_wake(struct ing_run *r);
/* Stop the run with a store-level failure (the first one wins). */
void ing_set_fatal(struct ing_run *r, int code);
/* 1 if the id is in the index (packed), 0 if not, negative on error. */
int ing_is_packed(struct ing_run *r, const udos_oid *oid);
/* The walker's stat of f matches the stat cache and the object is still
 * stored: f now holds its id (f->cached), it needs no reading. */
bool ing_cache_hit(struct ing_run *r, struct ing_file *f);
/* Record a file reported stored (the report, under cb_mu). */
void ing_cache_note(struct ing_run *r, const struct ing_file *f);

/* report.c: the end of the pipeline. Every stage hands finished or failed
 * files here; nothing here calls back into a stage. */
void ing_report(struct ing_run *r, struct ing_file *f); /* frees f */
void ing_file_fail(struct ing_run *r, struct ing_file *f, int err,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void ing_warn(struct ing_run *r, int kind, int code, const char *path,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void ing_progress(struct ing_run *r);
/* ing_progress when it is due (one thread only: the appender). */
void ing_progress_tick(struct ing_run *r);
double ing_now(void); /* monotonic seconds */

/* stream.c: one large file in chunks. */
struct ing_stream *ing_stream_new(struct ing_run *r, struct ing_file *f);
void ing_stream_push(struct ing_run *r, struct ing_stream *s,
		     struct ing_chunk *c);
void ing_stream_fail(struct ing_run *r, struct ing_stream *s, int err,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Wait until the stream may hold one more chunk; false if cancelled. */
bool ing_stream_room(struct ing_run *r, struct ing_stream *s, bool wait);
/* Appender side: the next chunk in order, compressed (NULL with *err set
 * when the stream failed); wait for the final hash; free the stream once
 * the reader and workers let go of it. */
struct ing_chunk *ing_stream_next_ready(struct ing_stream *s, int *err);
int ing_stream_wait_hash(struct ing_stream *s);
void ing_stream_free(struct ing_run *r, struct ing_stream *s);

/* append.c: the appender stage (owns the pack writer). */
int ing_append_open(struct ing_run *r);
/* Pop finished files until the queue is closed. */
void ing_append_run(struct ing_run *r);
/* Final commit, reports of what it made durable, writer closed. */
int ing_append_close(struct ing_run *r);
/* Workers hand a finished whole file on (pack: to the appender's queue;
 * loose: already durable, to the report). */
void ing_submit_whole(struct ing_run *r, struct ing_file *f);

/* source.c: path sources (udos_ingest_source_fn shape) */
struct argv_src {
	const char *const *paths;
	size_t n, i;
};
int ing_argv_next(void *ctx, const char **p);
struct fd_src {
	int fd;
	char sep;
	char *buf;     /* buffered input */
	size_t len, pos, cap;
	char *line;    /* current entry, NUL-terminated */
	size_t line_cap;
	bool eof;
};
int ing_fd_next(void *ctx, const char **p);

/* walk.c: feeds r->files, then closes it. */
typedef int (*ing_next_fn)(void *ctx, const char **path_out);
int ing_walk_run(struct ing_run *r, ing_next_fn next, void *ctx);

/* workers.c */
/* The codec decision and compression of a whole file, the same on any
 * thread: sets f->codec and, when compressed, f->out. 0 or negative. */
int ing_compress_whole(struct ing_run *r, udos__zenc **z, udos_buf *scratch,
		       struct ing_file *f);
/* Readers hand a fully read file to the workers. */
void ing_dispatch_whole(struct ing_run *r, struct ing_file *f);
void ing_stream_kick(struct ing_run *r, struct ing_stream *s);
void ing_stream_written(struct ing_run *r, struct ing_stream *s,
			struct ing_chunk *c);
int ing_workers_start(struct ing_run *r, pthread_t *tids, unsigned n);
void ing_workers_stop(struct ing_run *r, pthread_t *tids, unsigned n);

/* ring.c: the io_uring reader; threads.c: the pread pool. Both consume
 * r->files until closed and return 0 or a setup error. */
int ing_ring_probe(void);
int ing_ring_read(struct ing_run *r);
int ing_threads_read(struct ing_run *r, unsigned nthreads);

#endif
