/* uring/append.c - the appender: the one stage that writes, owning the
 * store's pack writer (or committing loose files of large streams). It
 * takes finished files from its queue, decides "already stored?", writes,
 * and hands each file to the report once its object is durable. */
#include "ingest_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
			f->stopped = true;
			ing_file_fail(r, f, err, "'%s': not committed: %s",
				      f->path, udos_strerror(err));
		} else {
			ing_report(r, f);
		}
	}
}

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

int ing_append_open(struct ing_run *r)
{
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	int rc;

	if (r->o.target != UDOS_INGEST_TO_PACK)
		return 0;
	wo.compress = r->o.compress;
	wo.no_sync = r->o.no_sync;
	wo.on_commit = on_commit;
	wo.ctx = r;
	rc = udos_writer_open(&r->w, r->st, &wo);
	if (rc < 0)
		return rc;
	/* the run dedups itself (see known()) */
	udos__writer_set_dedup(r->w, false);
	return 0;
}

int ing_append_close(struct ing_run *r)
{
	int crc;

	if (!r->w)
		return 0;
	crc = udos_writer_commit(r->w);
	deliver_pending(r, crc < 0 ? crc : 0);
	udos_writer_close(r->w);
	r->w = NULL;
	return crc < 0 ? crc : 0;
}

void ing_submit_whole(struct ing_run *r, struct ing_file *f)
{
	if (r->o.target == UDOS_INGEST_TO_LOOSE) {
		/* durable already (udos__loose_put synced it) */
		if (f->is_new)
			atomic_fetch_add(&r->bytes_stored, f->size);
		ing_report(r, f);
		return;
	}
	ing_queue_push(&r->app, &f->node);
}

/* The store could not take a file's bytes: the run stops with it. */
static void fail_store(struct ing_run *r, struct ing_file *f, int rc)
{
	ing_set_fatal(r, rc);
	f->stopped = true;
}

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
		f->stopped = true;
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

		c = ing_stream_next_ready(s, &err);
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
		ing_progress_tick(r);
	}
	err = ing_stream_wait_hash(s);
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
	ing_stream_free(r, s);
	if (loose)
		ing_report(r, f);
	else
		pend(r, f);
	return;

fail_store:
	fail_store(r, f, rc);
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
	ing_stream_free(r, s);
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
		f->stopped = true;
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
		fail_store(r, f, rc);
		ing_file_fail(r, f, rc, "%s", udos_error_detail());
		return;
	}
	if (f->is_new)
		atomic_fetch_add(&r->bytes_stored, n);
	ing_file_drop_data(r, f);
	pend(r, f);
}

void ing_append_run(struct ing_run *r)
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
		ing_progress_tick(r);
	}
}
