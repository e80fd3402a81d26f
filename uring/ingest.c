/* uring/ingest.c - the ingest run: builds the pipeline (source -> walker
 * -> reader -> workers -> appender -> report), starts its threads, waits
 * for them and sums up. The stages only hand work forward; none of them
 * calls into this file. */
#include "udos/ingest.h"

#include "ingest_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILES_QUEUE_CAP 16384
#define STREAM_RESERVE \
	((uint64_t)ING_MAX_STREAMS * ING_STREAM_QUOTA * (ING_CHUNK + 1) * 2)

/* ---- the run ----------------------------------------------------------- */

struct driver_arg {
	struct ing_run *r;
	pthread_t *wtids;
	int rc;
};

/* Reads every file, then lets the workers drain and closes the appender's
 * queue. */
static void *driver(void *arg)
{
	struct driver_arg *d = arg;
	struct ing_run *r = d->r;
	int rc = 0;

	pthread_setname_np(pthread_self(), "udos-read");

	if (r->io_used == UDOS_INGEST_IO_URING) {
		rc = ing_ring_read(r);
		if (rc < 0 && r->o.io == UDOS_INGEST_IO_AUTO &&
		    !atomic_load(&r->stop)) {
			ing_warn(r, UDOS_INGEST_WARN_NOTICE, rc, NULL,
				 "io_uring unavailable (%s), reading with "
				 "threads", udos_strerror(rc));
			r->io_used = UDOS_INGEST_IO_THREADS;
			rc = 0;
		}
	}
	if (rc == 0 && r->io_used == UDOS_INGEST_IO_THREADS)
		rc = ing_threads_read(r, 0);
	if (rc < 0)
		ing_set_fatal(r, rc);
	/* nothing more will be read: drain the files queue (after a stop) */
	ing_queue_close(&r->files);
	{
		struct ing_node *n;

		while ((n = ing_queue_pop(&r->files, 0, NULL)))
			ing_file_free(r, (struct ing_file *)n);
	}
	ing_workers_stop(r, d->wtids, r->n_workers);
	ing_queue_close(&r->app);
	d->rc = rc;
	return NULL;
}

struct walk_arg {
	struct ing_run *r;
	ing_next_fn next;
	void *ctx;
	int rc;
};

static void *walker(void *arg)
{
	struct walk_arg *a = arg;

	pthread_setname_np(pthread_self(), "udos-src");

	a->rc = ing_walk_run(a->r, a->next, a->ctx);
	if (a->rc < 0)
		ing_set_fatal(a->r, a->rc);
	return NULL;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void run_free(struct ing_run *r)
{
	ing_queue_destroy(&r->files);
	ing_queue_destroy(&r->tasks);
	ing_queue_destroy(&r->app);
	ing_budget_destroy(&r->budget);
	ing_budget_destroy(&r->streams);
	pthread_mutex_destroy(&r->slot_mu);
	pthread_cond_destroy(&r->slot_cv);
	pthread_mutex_destroy(&r->cb_mu);
	free(r->slot_free);
	udos__statcache_free(r->cache);
	free(r->arena);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	free((void *)r->seen);
	udos__zenc_free(r->app_z);
	udos_buf_release(&r->app_buf);
	free(r);
}

static int run(udos_ingest_summary *out, udos_store *st, ing_next_fn next,
	       void *src_ctx, const udos_ingest_opts *opts)
{
	udos_ingest_opts defaults = UDOS_INGEST_OPTS_INIT;
	struct driver_arg da = { 0 };
	struct walk_arg wa = { 0 };
	pthread_t dtid, wtid, *wtids = NULL;
	bool d_started = false, w_started = false;
	double t0 = ing_now();
	uint64_t general;
	struct ing_run *r;
	unsigned i;
	bool v1;
	int crc;
	long ncpu;
	int rc;

	if (!opts)
		opts = &defaults;
	/* a version 1 caller's structs end before `flags` and `cached` */
	v1 = opts->version == 1;
	if (out)
		memset(out, 0, v1 ? offsetof(udos_ingest_summary, cached)
				  : sizeof(*out));
	UDOS_ASSERT_ARG(st && next);
	UDOS_ASSERT_ARG(opts->version == 1 ||
			opts->version == UDOS_INGEST_OPTS_VERSION);
	UDOS_ASSERT_ARG(opts->target == UDOS_INGEST_TO_PACK ||
			opts->target == UDOS_INGEST_TO_LOOSE);
	UDOS_ASSERT_ARG(opts->io >= UDOS_INGEST_IO_AUTO &&
			opts->io <= UDOS_INGEST_IO_THREADS);

	r = calloc(1, sizeof(*r));
	if (!r)
		return udos__err(-ENOMEM, "out of memory (ingest)");
	r->st = st;
	if (v1)
		memcpy(&r->o, opts, offsetof(udos_ingest_opts, flags));
	else
		r->o = *opts;
	r->wake_fd = -1;
	r->codec = st->info.default_codec;
	r->level = st->info.default_level;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	r->n_workers = r->o.workers ? r->o.workers : (ncpu > 0 ? (unsigned)ncpu : 2);
	if (r->n_workers > 256)
		r->n_workers = 256;
	if (!r->o.queue_depth)
		r->o.queue_depth = 256;
	if (r->o.queue_depth > 4096)
		r->o.queue_depth = 4096;
	if (!r->o.max_inflight)
		r->o.max_inflight = 256ull << 20;
	if (r->o.max_inflight < (16ull << 20))
		r->o.max_inflight = 16ull << 20;

	ing_queue_init(&r->files, FILES_QUEUE_CAP);
	ing_queue_init(&r->tasks, 0);
	ing_queue_init(&r->app, 0);
	pthread_mutex_init(&r->slot_mu, NULL);
	pthread_cond_init(&r->slot_cv, NULL);
	pthread_mutex_init(&r->cb_mu, NULL);

	/* Head slots: twice the queue depth so that reads keep going while
	 * finished heads wait for the workers, at most a quarter of the
	 * budget. */
	r->n_slots = 2 * r->o.queue_depth;
	if ((uint64_t)r->n_slots * ING_HEAD > r->o.max_inflight / 4)
		r->n_slots = (unsigned)(r->o.max_inflight / 4 / ING_HEAD);
	general = r->o.max_inflight - (uint64_t)r->n_slots * ING_HEAD;
	general = general > STREAM_RESERVE + (8ull << 20) ?
		  general - STREAM_RESERVE : (8ull << 20);
	ing_budget_init(&r->budget, general);
	ing_budget_init(&r->streams, ING_MAX_STREAMS);
	r->arena = aligned_alloc(4096, (size_t)r->n_slots * ING_HEAD);
	r->slot_free = calloc(r->n_slots, sizeof(int));
	if (r->o.target == UDOS_INGEST_TO_PACK) {
		/* 256k ids, 2 MiB: a hint only, so no failure if it is not
		 * there */
		r->seen_mask = (1u << 18) - 1;
		r->seen = calloc(r->seen_mask + 1, sizeof(uint64_t));
	}
	if (!r->arena || !r->slot_free) {
		run_free(r);
		return udos__err(-ENOMEM, "out of memory (ingest buffers)");
	}
	for (i = 0; i < r->n_slots; i++)
		r->slot_free[i] = (int)(r->n_slots - 1 - i);
	r->n_slot_free = r->n_slots;

	r->io_used = r->o.io == UDOS_INGEST_IO_THREADS ? UDOS_INGEST_IO_THREADS
						       : UDOS_INGEST_IO_URING;
	if (r->io_used == UDOS_INGEST_IO_URING) {
		rc = ing_ring_probe();
		if (rc < 0) {
			if (r->o.io == UDOS_INGEST_IO_URING) {
				run_free(r);
				return udos__err(rc, "cannot set up io_uring: %s",
						 udos_strerror(rc));
			}
			ing_warn(r, UDOS_INGEST_WARN_NOTICE, rc, NULL,
				 "io_uring unavailable (%s), reading with "
				 "threads", udos_strerror(rc));
			r->io_used = UDOS_INGEST_IO_THREADS;
		}
	}

	rc = ing_append_open(r);
	if (rc == 0)
		rc = udos__statcache_open(&r->cache, st, realtime_ns());
	if (rc < 0) {
		ing_append_close(r);
		run_free(r);
		return rc;
	}

	wtids = calloc(r->n_workers, sizeof(*wtids));
	if (!wtids) {
		rc = udos__err(-ENOMEM, "out of memory (ingest)");
		goto done;
	}
	rc = ing_workers_start(r, wtids, r->n_workers);
	if (rc < 0)
		goto done;

	wa.r = r;
	wa.next = next;
	wa.ctx = src_ctx;
	if (pthread_create(&wtid, NULL, walker, &wa) != 0) {
		ing_queue_close(&r->files);
		ing_workers_stop(r, wtids, r->n_workers);
		rc = udos__err(-EAGAIN, "cannot start the walker");
		goto done;
	}
	w_started = true;
	da.r = r;
	da.wtids = wtids;
	if (pthread_create(&dtid, NULL, driver, &da) != 0) {
		ing_set_fatal(r, -EAGAIN);
		pthread_join(wtid, NULL);
		w_started = false;
		ing_workers_stop(r, wtids, r->n_workers);
		rc = udos__err(-EAGAIN, "cannot start the reader");
		goto done;
	}
	d_started = true;

	ing_append_run(r);

	pthread_join(dtid, NULL);
	d_started = false;
	pthread_join(wtid, NULL);
	w_started = false;
	rc = atomic_load(&r->fatal);
	if (!rc)
		rc = da.rc < 0 ? da.rc : (wa.rc < 0 ? wa.rc : 0);

done:
	(void)d_started;
	(void)w_started;
	crc = ing_append_close(r);
	if (crc < 0 && rc == 0)
		rc = crc;
	/* every file recorded was reported stored; the cache is a hint, so
	 * failing to keep it only costs reading next time */
	crc = udos__statcache_save(r->cache, st);
	if (crc < 0)
		ing_warn(r, UDOS_INGEST_WARN_NOTICE, crc, NULL,
			 "stat cache not saved: %s", udos_error_detail());
	ing_progress(r);
	if (out) {
		out->files = atomic_load(&r->files_ok);
		out->new_objects = atomic_load(&r->new_objects);
		out->dedup_hits = atomic_load(&r->dedup);
		out->errors = atomic_load(&r->errors);
		out->skipped = atomic_load(&r->skipped);
		out->bytes_in = atomic_load(&r->bytes_in);
		out->bytes_stored = atomic_load(&r->bytes_stored);
		out->seconds = ing_now() - t0;
		out->io = r->io_used;
		if (!v1)
			out->cached = atomic_load(&r->cached);
	}
	free(wtids);
	run_free(r);
	if (rc < 0 && !*udos_error_detail())
		udos__err(rc, "ingest failed: %s", udos_strerror(rc));
	return rc;
}

/* ---- entry points ------------------------------------------------------ */

int udos_ingest_paths(udos_ingest_summary *out, udos_store *st,
		      const char *const *paths, size_t n_paths,
		      const udos_ingest_opts *opts)
{
	struct argv_src a = { paths, n_paths, 0 };

	UDOS_ASSERT_ARG(paths || !n_paths);
	return run(out, st, ing_argv_next, &a, opts);
}

int udos_ingest_source(udos_ingest_summary *out, udos_store *st,
		       udos_ingest_source_fn next, void *src_ctx,
		       const udos_ingest_opts *opts)
{
	return run(out, st, next, src_ctx, opts);
}

int udos_ingest_fd(udos_ingest_summary *out, udos_store *st, int fd, char sep,
		   const udos_ingest_opts *opts)
{
	struct fd_src s = { .fd = fd, .sep = sep };
	int rc;

	UDOS_ASSERT_ARG(fd >= 0);
	rc = run(out, st, ing_fd_next, &s, opts);
	free(s.buf);
	free(s.line);
	return rc;
}

int udos_ingest_uring_probe(void)
{
	return ing_ring_probe();
}
