/* uring/ingest.c - the ingest run: setup, the single appender, reporting. */
#include "udos/ingest.h"

#include "ingest_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILES_QUEUE_CAP 16384
#define STREAM_RESERVE \
	((uint64_t)ING_MAX_STREAMS * ING_STREAM_QUOTA * (ING_CHUNK + 1) * 2)

/* ---- files ------------------------------------------------------------- */

struct ing_file *ing_file_new(const char *dir, size_t dlen, const char *name)
{
	size_t nl = name ? strlen(name) + 1 : 0;
	struct ing_file *f = malloc(sizeof(*f) + dlen + nl + 1);

	if (!f)
		return NULL;
	memset(f, 0, sizeof(*f));
	memcpy(f->path, dir, dlen);
	if (name) {
		f->path[dlen] = '/';
		memcpy(f->path + dlen + 1, name, nl);
	} else {
		f->path[dlen] = '\0';
	}
	f->slot = -1;
	f->fslot = -1;
	f->stat_size = UINT64_MAX;
	f->task.type = ING_T_WHOLE;
	f->task.obj = f;
	return f;
}

uint64_t ing_charge(const struct ing_run *r, uint64_t n)
{
	/* the compressed copy lives next to the input until written */
	if (r->o.target == UDOS_INGEST_TO_PACK &&
	    r->o.compress != UDOS_COMPRESS_NO)
		return 2 * n;
	return n;
}

/* Drop the file's data (slot, heap buffer, compressed bytes), keep the
 * rest for reporting. */
static void file_drop_data(struct ing_run *r, struct ing_file *f)
{
	if (f->slot >= 0)
		ing_slot_put(r, f->slot);
	f->slot = -1;
	free(f->heap);
	f->heap = NULL;
	f->data = NULL;
	udos_buf_release(&f->out);
	if (f->charged) {
		ing_budget_give(&r->budget, f->charged);
		ing_wake(r);
	}
	f->charged = 0;
}

void ing_file_free(struct ing_run *r, struct ing_file *f)
{
	if (!f)
		return;
	file_drop_data(r, f);
	ing_dirref_put(f->dref);
	free(f->detail);
	free(f);
}

struct ing_dirref *ing_dirref_new(int fd)
{
	struct ing_dirref *d = malloc(sizeof(*d));

	if (!d) {
		close(fd);
		return NULL;
	}
	atomic_init(&d->refs, 1);
	d->fd = fd;
	return d;
}

struct ing_dirref *ing_dirref_get(struct ing_dirref *d)
{
	atomic_fetch_add(&d->refs, 1);
	return d;
}

void ing_dirref_put(struct ing_dirref *d)
{
	if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
		close(d->fd);
		free(d);
	}
}

void ing_chunk_free(struct ing_run *r, struct ing_chunk *c)
{
	if (c->slot >= 0)
		ing_slot_put(r, c->slot);
	free(c->heap);
	udos_buf_release(&c->out);
	free(c);
}

/* ---- slots ------------------------------------------------------------- */

int ing_slot_get(struct ing_run *r, bool wait)
{
	int s = -1;

	pthread_mutex_lock(&r->slot_mu);
	while (wait && !r->n_slot_free && !atomic_load(&r->stop))
		pthread_cond_wait(&r->slot_cv, &r->slot_mu);
	if (r->n_slot_free)
		s = r->slot_free[--r->n_slot_free];
	pthread_mutex_unlock(&r->slot_mu);
	return s;
}

void ing_slot_put(struct ing_run *r, int slot)
{
	pthread_mutex_lock(&r->slot_mu);
	r->slot_free[r->n_slot_free++] = slot;
	pthread_cond_signal(&r->slot_cv);
	pthread_mutex_unlock(&r->slot_mu);
	ing_wake(r);
}

void ing_wake(struct ing_run *r)
{
	atomic_fetch_add(&r->wake_gen, 1);
	if (atomic_load(&r->rd_waiting) &&
	    atomic_exchange(&r->rd_waiting, false)) {
		uint64_t one = 1;
		ssize_t n = write(r->wake_fd, &one, sizeof(one));

		(void)n;
	}
}

/* ---- callbacks --------------------------------------------------------- */

void ing_warn(struct ing_run *r, int kind, int code, const char *path,
	      const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!r->o.on_warning)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&r->cb_mu);
	r->o.on_warning(r->o.ctx, kind, code, path, msg);
	pthread_mutex_unlock(&r->cb_mu);
}

void ing_set_fatal(struct ing_run *r, int code)
{
	int zero = 0;

	if (atomic_compare_exchange_strong(&r->fatal, &zero, code)) {
		atomic_store(&r->stop, true);
		ing_budget_cancel(&r->budget);
		ing_budget_cancel(&r->streams);
		pthread_mutex_lock(&r->slot_mu);
		pthread_cond_broadcast(&r->slot_cv);
		pthread_mutex_unlock(&r->slot_mu);
		ing_queue_close(&r->files);
		ing_wake(r);
	}
}

/* Report one file (ok or failed) and free it. */
static void report(struct ing_run *r, struct ing_file *f)
{
	udos_ingest_file info;

	atomic_fetch_add(&r->files_done, 1);
	if (f->err) {
		atomic_fetch_add(&r->errors, 1);
	} else {
		atomic_fetch_add(&r->files_ok, 1);
		atomic_fetch_add(&r->bytes_in, f->size);
		atomic_fetch_add(f->is_new ? &r->new_objects : &r->dedup, 1);
	}
	if (r->o.on_file) {
		memset(&info, 0, sizeof(info));
		info.path = f->path;
		info.error = f->err;
		info.detail = f->detail ? f->detail : "";
		info.oid = f->oid;
		info.size = f->size;
		info.is_new = f->is_new;
		pthread_mutex_lock(&r->cb_mu);
		r->o.on_file(r->o.ctx, &info);
		pthread_mutex_unlock(&r->cb_mu);
	}
	ing_file_free(r, f);
}

void ing_file_fail(struct ing_run *r, struct ing_file *f, int err,
		   const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	file_drop_data(r, f);
	f->err = err < 0 ? err : -EIO;
	free(f->detail);
	f->detail = strdup(msg);
	report(r, f);
}

/* Pack target: a file whose object went into the writer waits here for
 * the commit that makes it durable. */
static void pend(struct ing_run *r, struct ing_file *f)
{
	f->cnext = NULL;
	if (r->pend_tail)
		r->pend_tail->cnext = f;
	else
		r->pend_head = f;
	r->pend_tail = f;
}

static void deliver_pending(struct ing_run *r, int err)
{
	struct ing_file *f = r->pend_head, *next;

	r->pend_head = r->pend_tail = NULL;
	for (; f; f = next) {
		next = f->cnext;
		if (err) {
			ing_file_fail(r, f, err,
				      "'%s': not committed: %s", f->path,
				      udos_strerror(err));
		} else {
			report(r, f);
		}
	}
}

/* ---- ids added since the last commit ---------------------------------- */

/*
 * Is this id in the container or added by this run? The worker looked in
 * the index at commit_seq == f->check_seq; anything added since is either
 * still uncommitted (the writer's pending set) or was committed after the
 * look (ask again). Runs on the appender thread, the writer's owner.
 */
static int known(struct ing_run *r, struct ing_file *f)
{
	if (f->known || udos__writer_pending(r->w, &f->oid))
		return 1;
	if (f->check_seq != atomic_load(&r->commit_seq))
		return udos__writer_has(r->w, &f->oid);
	return 0;
}

/* The writer's on_commit: runs on the appender thread inside a put or a
 * commit, after the pack bytes and the index batch are durable. */
static void on_commit(void *ctx, uint64_t n)
{
	struct ing_run *r = ctx;

	(void)n;
	atomic_fetch_add(&r->commit_seq, 1);
	deliver_pending(r, 0);
}

/* ---- hand-over points -------------------------------------------------- */

void ing_dispatch_whole(struct ing_run *r, struct ing_file *f)
{
	f->kind = ING_WHOLE;
	f->task.type = ING_T_WHOLE;
	f->task.obj = f;
	ing_queue_push(&r->tasks, &f->task.node);
}

void ing_submit_whole(struct ing_run *r, struct ing_file *f)
{
	if (r->o.target == UDOS_INGEST_TO_LOOSE) {
		/* durable already (udos__loose_put synced it) */
		if (f->is_new)
			atomic_fetch_add(&r->bytes_stored, f->size);
		report(r, f);
		return;
	}
	ing_queue_push(&r->app, &f->node);
}

int ing_is_packed(struct ing_run *r, const udos_oid *oid)
{
	udos__rec l;
	int rc = udos__store_index_get(&l, r->st, oid);

	if (rc == UDOS_ENOTFOUND)
		return 0;
	return rc < 0 ? rc : 1;
}

struct ing_stream *ing_stream_new(struct ing_run *r, struct ing_file *f)
{
	struct ing_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (udos__hash_new(&s->sha, r->st->hash_type) < 0) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->f = f;
	s->t_hash.type = ING_T_HASH;
	s->t_hash.obj = s;
	s->t_comp.type = ING_T_COMP;
	s->t_comp.obj = s;
	f->kind = ING_STREAM;
	f->stream = s;
	ing_queue_push(&r->app, &f->node);
	return s;
}

bool ing_stream_room(struct ing_run *r, struct ing_stream *s, bool wait)
{
	bool ok;

	pthread_mutex_lock(&s->mu);
	while (wait && s->held >= ING_STREAM_QUOTA && !atomic_load(&r->stop) &&
	       !s->err)
		pthread_cond_wait(&s->cv, &s->mu);
	ok = s->held < ING_STREAM_QUOTA && !atomic_load(&r->stop) && !s->err;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void ing_stream_push(struct ing_run *r, struct ing_stream *s,
		     struct ing_chunk *c)
{
	pthread_mutex_lock(&s->mu);
	c->next = NULL;
	c->seq = s->nchunks++;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->held++;
	if (c->last)
		s->read_done = true;
	ing_stream_kick(r, s);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void ing_stream_fail(struct ing_run *r, struct ing_stream *s, int err,
		     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	(void)r;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&s->mu);
	if (!s->err) {
		s->err = err < 0 ? err : -EIO;
		free(s->f->detail);
		s->f->detail = strdup(msg);
	}
	s->read_done = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- the appender ------------------------------------------------------ */

static void stream_free(struct ing_run *r, struct ing_stream *s)
{
	struct ing_chunk *c;

	/* The reader and the workers may still hold the stream (the appender
	 * gives up early on a store error): tell the reader to stop, and wait
	 * for all of them to let go. */
	pthread_mutex_lock(&s->mu);
	if (!s->err)
		s->err = -ECANCELED;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	ing_wake(r);
	pthread_mutex_lock(&s->mu);
	while (s->hash_sched || s->comp_sched || !s->read_done)
		pthread_cond_wait(&s->cv, &s->mu);
	while ((c = s->head)) {
		s->head = c->next;
		ing_chunk_free(r, c);
	}
	pthread_mutex_unlock(&s->mu);
	udos__hash_free(s->sha);
	udos__zenc_free(s->z);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	s->f->stream = NULL;
	free(s);
	ing_budget_give(&r->streams, 1);
	ing_wake(r);
}

/* Wait for the next chunk in order, compressed. NULL with *err set when
 * the stream failed. */
static struct ing_chunk *next_ready(struct ing_stream *s, int *err)
{
	struct ing_chunk *c = NULL;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (s->err) {
			*err = s->err;
			c = NULL;
			break;
		}
		for (c = s->head; c && c->seq != s->next_write; c = c->next)
			;
		if (c && c->compressed)
			break;
		pthread_cond_wait(&s->cv, &s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return c;
}

static int wait_hash(struct ing_stream *s)
{
	int err;

	pthread_mutex_lock(&s->mu);
	while (!s->hash_done && !s->err)
		pthread_cond_wait(&s->cv, &s->mu);
	err = s->hash_done ? 0 : s->err;
	pthread_mutex_unlock(&s->mu);
	return err;
}

static void progress_tick(struct ing_run *r);

static void append_stream(struct ing_run *r, struct ing_file *f)
{
	struct ing_stream *s = f->stream;
	uint64_t raw = 0, stored = 0;
	char tmpname[256];
	struct ing_chunk *c;
	bool loose = r->o.target == UDOS_INGEST_TO_LOOSE;
	bool last = false, begun = false;
	int fd = -1, rc = 0, err = 0;
	char *d;

	if (atomic_load(&r->stop)) {
		err = atomic_load(&r->fatal);
		if (!err)
			err = -ECANCELED;
		goto fail;
	}
	if (loose)
		rc = udos__loose_tmp(&fd, tmpname, sizeof(tmpname), r->st);
	else
		rc = udos__writer_begin(r->w);
	if (rc < 0)
		goto fail_store;
	begun = true;
	while (!last) {
		const void *p;
		size_t n;

		c = next_ready(s, &err);
		if (!c)
			goto fail;
		if (s->codec == UDOS_CODEC_NONE) {
			p = c->data;
			n = c->len;
		} else {
			p = c->out.data;
			n = c->out.len;
		}
		if (loose)
			rc = udos__write_all(fd, p, n);
		else
			rc = udos__writer_write(r->w, p, n);
		if (rc < 0)
			goto fail_store;
		raw += c->len;
		stored += n;
		last = c->last;
		ing_stream_written(r, s, c);
		progress_tick(r);
	}
	err = wait_hash(s);
	if (err)
		goto fail;
	f->size = raw;
	begun = false;
	if (loose) {
		rc = ing_is_packed(r, &f->oid);
		if (rc == 0) {
			rc = udos__loose_commit(r->st, fd, tmpname, &f->oid,
						r->o.no_sync, &f->is_new);
		} else {
			close(fd);
			unlinkat(r->st->dirfd, tmpname, 0);
			f->is_new = false;
			rc = rc == 1 ? 0 : rc;
		}
		fd = -1;
	} else {
		f->check_seq = UINT64_MAX;
		rc = known(r, f);
		if (rc == 1) {
			udos__writer_abort(r->w);
			f->is_new = false;
			rc = 0;
		} else if (rc == 0) {
			rc = udos__writer_end(r->w, &f->oid, s->codec, raw,
					      &f->is_new);
		}
	}
	if (rc < 0)
		goto fail_store;
	if (f->is_new)
		atomic_fetch_add(&r->bytes_stored, stored);
	stream_free(r, s);
	if (loose)
		report(r, f);
	else
		pend(r, f);
	return;

fail_store:
	/* the store could not take the bytes (ENOSPC...): stop the run */
	ing_set_fatal(r, rc);
	err = rc;
	free(f->detail);
	f->detail = strdup(udos_error_detail());
fail:
	if (begun) {
		if (loose) {
			close(fd);
			unlinkat(r->st->dirfd, tmpname, 0);
		} else {
			udos__writer_abort(r->w);
		}
	}
	d = f->detail;
	f->detail = NULL;
	stream_free(r, s);
	ing_file_fail(r, f, err, "%s", d ? d : "ingest stopped");
	free(d);
}

static void append_whole(struct ing_run *r, struct ing_file *f)
{
	const void *p = f->codec == UDOS_CODEC_NONE ? f->data : f->out.data;
	size_t n = f->codec == UDOS_CODEC_NONE ? f->len : f->out.len;
	int rc;

	if (atomic_load(&r->stop)) {
		rc = atomic_load(&r->fatal);
		ing_file_fail(r, f, rc ? rc : -ECANCELED, "'%s': %s", f->path,
			      "ingest stopped");
		return;
	}
	rc = known(r, f);
	if (rc == 0 && f->dup_hint) {
		/* the worker skipped compression for an id it had seen, but
		 * the first copy is not in yet (or failed): decide and
		 * compress here, the same way */
		rc = ing_compress_whole(r, &r->app_z, &r->app_buf, f);
		if (rc < 0) {
			ing_file_fail(r, f, rc, "compress '%s': %s", f->path,
				      udos_error_detail());
			return;
		}
		p = f->codec == UDOS_CODEC_NONE ? f->data : f->out.data;
		n = f->codec == UDOS_CODEC_NONE ? f->len : f->out.len;
	}
	if (rc == 0)
		rc = udos__writer_put(r->w, &f->oid, f->codec, f->len, p, n,
				      &f->is_new);
	else if (rc == 1)
		rc = 0, f->is_new = false;
	if (rc < 0) {
		ing_set_fatal(r, rc);
		ing_file_fail(r, f, rc, "%s", udos_error_detail());
		return;
	}
	if (f->is_new)
		atomic_fetch_add(&r->bytes_stored, n);
	file_drop_data(r, f);
	pend(r, f);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(struct ing_run *r)
{
	udos_ingest_progress p;

	if (!r->o.progress)
		return;
	p.files_done = atomic_load(&r->files_done);
	p.bytes_done = atomic_load(&r->bytes_hashed);
	p.files_total = atomic_load(&r->files_total);
	p.bytes_total = atomic_load(&r->bytes_total);
	p.errors = atomic_load(&r->errors);
	p.walk_done = atomic_load(&r->walk_done);
	pthread_mutex_lock(&r->cb_mu);
	r->o.progress(r->o.ctx, &p);
	pthread_mutex_unlock(&r->cb_mu);
}

/* Call progress when it is due (appender thread only: also between the
 * chunks of a large file). */
static void progress_tick(struct ing_run *r)
{
	unsigned ms = r->o.progress_ms ? r->o.progress_ms : 200;
	double now;

	if (!r->o.progress)
		return;
	now = now_s();
	if (now < r->next_tick)
		return;
	progress(r);
	r->next_tick = now + ms / 1000.0;
}

static void appender(struct ing_run *r)
{
	unsigned ms = r->o.progress_ms ? r->o.progress_ms : 200;
	struct ing_node *n;
	bool closed = false;

	while (!closed) {
		struct ing_node *next;

		ing_queue_pop_batch(&r->app, 256, (int)ms, &n, &closed);
		for (; n; n = next) {
			struct ing_file *f = (struct ing_file *)n;

			next = n->next;
			if (f->kind == ING_STREAM)
				append_stream(r, f);
			else
				append_whole(r, f);
		}
		progress_tick(r);
	}
}

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
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	struct driver_arg da = { 0 };
	struct walk_arg wa = { 0 };
	pthread_t dtid, wtid, *wtids = NULL;
	bool d_started = false, w_started = false;
	double t0 = now_s();
	uint64_t general;
	struct ing_run *r;
	unsigned i;
	long ncpu;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	UDOS_ASSERT_ARG(st && next);
	if (!opts)
		opts = &defaults;
	UDOS_ASSERT_ARG(opts->version == UDOS_INGEST_OPTS_VERSION);
	UDOS_ASSERT_ARG(opts->target == UDOS_INGEST_TO_PACK ||
			opts->target == UDOS_INGEST_TO_LOOSE);
	UDOS_ASSERT_ARG(opts->io >= UDOS_INGEST_IO_AUTO &&
			opts->io <= UDOS_INGEST_IO_THREADS);

	r = calloc(1, sizeof(*r));
	if (!r)
		return udos__err(-ENOMEM, "out of memory (ingest)");
	r->st = st;
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

	if (r->o.target == UDOS_INGEST_TO_PACK) {
		wo.compress = r->o.compress;
		wo.no_sync = r->o.no_sync;
		wo.on_commit = on_commit;
		wo.ctx = r;
		rc = udos_writer_open(&r->w, st, &wo);
		if (rc < 0) {
			run_free(r);
			return rc;
		}
		/* the run dedups itself (see known()) */
		udos__writer_set_dedup(r->w, false);
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

	appender(r);

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
	if (r->w) {
		int crc = udos_writer_commit(r->w);

		deliver_pending(r, crc < 0 ? crc : 0);
		if (crc < 0 && rc == 0)
			rc = crc;
		udos_writer_close(r->w);
		r->w = NULL;
	}
	progress(r);
	if (out) {
		out->files = atomic_load(&r->files_ok);
		out->new_objects = atomic_load(&r->new_objects);
		out->dedup_hits = atomic_load(&r->dedup);
		out->errors = atomic_load(&r->errors);
		out->skipped = atomic_load(&r->skipped);
		out->bytes_in = atomic_load(&r->bytes_in);
		out->bytes_stored = atomic_load(&r->bytes_stored);
		out->seconds = now_s() - t0;
		out->io = r->io_used;
	}
	free(wtids);
	run_free(r);
	if (rc < 0 && !*udos_error_detail())
		udos__err(rc, "ingest failed: %s", udos_strerror(rc));
	return rc;
}

/* ---- sources ----------------------------------------------------------- */

struct argv_src {
	const char *const *paths;
	size_t n, i;
};

static int argv_next(void *ctx, const char **p)
{
	struct argv_src *a = ctx;

	if (a->i >= a->n)
		return 0;
	*p = a->paths[a->i++];
	return 1;
}

int udos_ingest_paths(udos_ingest_summary *out, udos_store *st,
		      const char *const *paths, size_t n_paths,
		      const udos_ingest_opts *opts)
{
	struct argv_src a = { paths, n_paths, 0 };

	UDOS_ASSERT_ARG(paths || !n_paths);
	return run(out, st, argv_next, &a, opts);
}

int udos_ingest_source(udos_ingest_summary *out, udos_store *st,
		       udos_ingest_source_fn next, void *src_ctx,
		       const udos_ingest_opts *opts)
{
	return run(out, st, next, src_ctx, opts);
}

struct fd_src {
	int fd;
	char sep;
	char *buf;     /* buffered input */
	size_t len, pos, cap;
	char *line;    /* current entry, NUL-terminated */
	size_t line_cap;
	bool eof;
};

static int fd_next(void *ctx, const char **p)
{
	struct fd_src *s = ctx;

	for (;;) {
		char *e = s->pos < s->len ?
			  memchr(s->buf + s->pos, s->sep, s->len - s->pos) :
			  NULL;
		size_t n;

		if (e || (s->eof && s->pos < s->len)) {
			n = e ? (size_t)(e - (s->buf + s->pos)) : s->len - s->pos;
			if (n + 1 > s->line_cap) {
				char *nl = realloc(s->line, n + 1);

				if (!nl)
					return udos__err(-ENOMEM,
							 "out of memory");
				s->line = nl;
				s->line_cap = n + 1;
			}
			memcpy(s->line, s->buf + s->pos, n);
			s->line[n] = '\0';
			s->pos += n + (e ? 1 : 0);
			if (!n)
				continue;
			*p = s->line;
			return 1;
		}
		if (s->eof)
			return 0;
		/* compact, grow, read more */
		if (s->pos) {
			memmove(s->buf, s->buf + s->pos, s->len - s->pos);
			s->len -= s->pos;
			s->pos = 0;
		}
		if (s->len == s->cap) {
			size_t nc = s->cap ? s->cap * 2 : 65536;
			char *nb = realloc(s->buf, nc);

			if (!nb)
				return udos__err(-ENOMEM, "out of memory");
			s->buf = nb;
			s->cap = nc;
		}
		{
			ssize_t got = read(s->fd, s->buf + s->len,
					   s->cap - s->len);

			if (got < 0) {
				if (errno == EINTR)
					continue;
				return udos__err(-errno, "read path list: %s",
						 strerror(errno));
			}
			if (got == 0)
				s->eof = true;
			s->len += (size_t)got;
		}
	}
}

int udos_ingest_fd(udos_ingest_summary *out, udos_store *st, int fd, char sep,
		   const udos_ingest_opts *opts)
{
	struct fd_src s = { .fd = fd, .sep = sep };
	int rc;

	UDOS_ASSERT_ARG(fd >= 0);
	rc = run(out, st, fd_next, &s, opts);
	free(s.buf);
	free(s.line);
	return rc;
}

int udos_ingest_uring_probe(void)
{
	return ing_ring_probe();
}
