/* uring/report.c - the end of the ingest pipeline: every finished or failed
 * file, every warning and the progress counters go out to the caller's
 * callbacks from here, one call at a time. */
#include "ingest_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

void ing_report(struct ing_run *r, struct ing_file *f)
{
	udos_ingest_file info;
	/* a skipped entry or a walked folder is not a file of the run */
	bool entry_only =
		f->skipped || (f->type == UDOS_INGEST_TYPE_DIR && !f->err);

	if (!entry_only) {
		atomic_fetch_add(&r->files_done, 1);
		if (f->err) {
			atomic_fetch_add(&r->errors, 1);
		} else {
			atomic_fetch_add(&r->files_ok, 1);
			atomic_fetch_add(&r->bytes_in, f->size);
			atomic_fetch_add(
				f->is_new ? &r->new_objects : &r->dedup, 1);
			if (f->cached)
				atomic_fetch_add(&r->cached, 1);
		}
	}
	if (!r->o.on_file) {
		if (!f->err && !entry_only) {
			pthread_mutex_lock(&r->cb_mu);
			ing_cache_note(r, f);
			pthread_mutex_unlock(&r->cb_mu);
		}
	} else {
		memset(&info, 0, sizeof(info));
		info.path = f->path;
		info.error = f->err;
		info.detail = f->detail ? f->detail : "";
		info.oid = f->oid;
		info.size = f->size;
		info.is_new = f->is_new;
		info.index = f->index;
		info.named = f->follow;
		info.type = f->type;
		info.skipped = f->skipped;
		info.stopped = f->stopped;
		info.cached = f->cached;
		if (f->ws.valid) {
			info.mode = f->ws.mode;
			info.stat_size = f->ws.size;
			info.mtime_ns = f->ws.mtime_ns;
		} else {
			info.stat_size = UINT64_MAX;
		}
		pthread_mutex_lock(&r->cb_mu);
		if (!f->err && !entry_only)
			ing_cache_note(r, f);
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
	ing_file_drop_data(r, f);
	f->err = err < 0 ? err : -EIO;
	/* dropped because the run stopped, or failing with the error that
	 * stopped it: the store's problem, not this input file's */
	if (f->err == -ECANCELED || f->err == atomic_load(&r->fatal))
		f->stopped = true;
	free(f->detail);
	f->detail = strdup(msg);
	ing_report(r, f);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double ing_now(void)
{
	return now_s();
}

void ing_progress(struct ing_run *r)
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

void ing_progress_tick(struct ing_run *r)
{
	unsigned ms = r->o.progress_ms ? r->o.progress_ms : 200;
	double now;

	if (!r->o.progress)
		return;
	now = now_s();
	if (now < r->next_tick)
		return;
	ing_progress(r);
	r->next_tick = now + ms / 1000.0;
}
