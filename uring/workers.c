/* uring/workers.c - hash and compress threads fed by the task queue. */
#include "ingest_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct worker {
	struct ing_run *r;
	udos__hash *sha;
	udos__zenc *z;
	udos_buf scratch;        /* compressor output, reused */
	/* finished files for the appender, handed over in batches */
	struct ing_node *out_first, *out_last;
	size_t out_n;
};

#define OUT_BATCH 32
#define TASK_BATCH 8

/* loose files are stored raw; packs follow the one decision of core */
static int codec_for(struct ing_run *r, const void *head, size_t head_len,
		     uint64_t total, bool *once)
{
	if (once)
		*once = false;
	if (r->o.target == UDOS_INGEST_TO_LOOSE)
		return UDOS_CODEC_NONE;
	return udos__codec_choose(r->o.compress, r->codec, head, head_len,
				  total, once);
}

static void hand_over(struct worker *wk, struct ing_file *f)
{
	f->node.next = NULL;
	if (wk->out_last)
		wk->out_last->next = &f->node;
	else
		wk->out_first = &f->node;
	wk->out_last = &f->node;
	wk->out_n++;
}

static void flush_out(struct worker *wk)
{
	if (!wk->out_n)
		return;
	ing_queue_push_list(&wk->r->app, wk->out_first, wk->out_last,
			    wk->out_n);
	wk->out_first = wk->out_last = NULL;
	wk->out_n = 0;
}

static int zenc_for(struct ing_run *r, udos__zenc **z, int codec)
{
	int rc;

	if (*z && udos__zenc_codec(*z) == codec)
		return 0;
	udos__zenc_free(*z);
	*z = NULL;
	rc = udos__zenc_new(z, codec, r->level);
	return rc < 0 ? rc : 0;
}

int ing_compress_whole(struct ing_run *r, udos__zenc **z, udos_buf *scratch,
		       struct ing_file *f)
{
	bool once = false;
	int rc;

	f->codec = codec_for(r, f->data, f->len, f->len, &once);
	if (f->codec == UDOS_CODEC_NONE)
		return 0;
	rc = zenc_for(r, z, f->codec);
	if (rc < 0)
		return rc;
	scratch->len = 0;
	rc = udos__zenc_run(*z, scratch, f->data, f->len, true);
	if (rc < 0) {
		/* leave no half frame behind in the encoder */
		udos__zenc_free(*z);
		*z = NULL;
		return rc;
	}
	if (once && !UDOS_AUTO_WORTH(scratch->len, f->len)) {
		f->codec = UDOS_CODEC_NONE;
	} else {
		/* an exact-size copy: the scratch buffer is sized for the
		 * compressor's worst case */
		rc = udos_buf_append(&f->out, scratch->data, scratch->len);
	}
	if (scratch->cap > 8u * ING_MED_MAX)
		udos_buf_release(scratch);
	return rc < 0 ? rc : 0;
}

void ing_dispatch_whole(struct ing_run *r, struct ing_file *f)
{
	f->kind = ING_WHOLE;
	f->task.type = ING_T_WHOLE;
	f->task.obj = f;
	ing_queue_push(&r->tasks, &f->task.node);
}

/* Seen earlier in this run? Records the id either way. Lossy (one id per
 * slot, racy by design): a wrong answer only costs work, never
 * correctness - the appender decides with exact sets. */
static bool seen_before(struct ing_run *r, const udos_oid *oid)
{
	uint64_t v;
	_Atomic uint64_t *slot;

	if (!r->seen)
		return false;
	memcpy(&v, oid->id, 8);
	v |= 1;
	slot = &r->seen[(v >> 8) & r->seen_mask];
	if (atomic_load_explicit(slot, memory_order_relaxed) == v)
		return true;
	atomic_store_explicit(slot, v, memory_order_relaxed);
	return false;
}

/* Whole file: hash, decide, compress, then hand to the appender (pack) or
 * write the loose file here (loose writes may run on any thread). */
static void do_whole(struct worker *wk, struct ing_file *f)
{
	struct ing_run *r = wk->r;
	int rc;

	udos__hash_update(wk->sha, f->data, f->len);
	udos__hash_final(&f->oid, wk->sha);
	f->size = f->len;
	atomic_fetch_add(&r->bytes_hashed, f->len);

	if (r->o.target == UDOS_INGEST_TO_LOOSE) {
		/* already packed: stored, nothing to write (as a loose add
		 * through the library) */
		rc = ing_is_packed(r, &f->oid);
		if (rc == 0)
			rc = udos__loose_put(r->st, &f->oid, f->data, f->len,
					     r->o.no_sync, &f->is_new);
		else if (rc == 1)
			f->is_new = false, rc = 0;
		if (rc < 0) {
			/* a store write failing (ENOSPC...) is not a
			 * per-file problem */
			ing_set_fatal(r, rc);
			ing_file_fail(r, f, rc, "%s", udos_error_detail());
			return;
		}
		f->codec = UDOS_CODEC_NONE;
		ing_submit_whole(r, f); /* reports and frees */
		return;
	}

	/* A duplicate of an earlier file of this run: nothing to look up
	 * or compress here (see known() in the appender). */
	if (seen_before(r, &f->oid)) {
		f->dup_hint = true;
		f->check_seq = UINT64_MAX;
		f->codec = UDOS_CODEC_NONE;
		hand_over(wk, f);
		return;
	}
	/* Already indexed: nothing to compress or write. The writer's
	 * filter answers "surely not" for new content without a look-up. */
	f->check_seq = atomic_load(&r->commit_seq);
	if (udos__writer_maybe_has(r->w, &f->oid)) {
		udos__rec loc;

		rc = udos__store_index_get(&loc, r->st, &f->oid);
		if (rc == 0) {
			f->known = true;
			hand_over(wk, f);
			return;
		}
		if (rc != UDOS_ENOTFOUND)
			f->check_seq = UINT64_MAX; /* let the appender ask */
	}
	rc = ing_compress_whole(r, &wk->z, &wk->scratch, f);
	if (rc < 0) {
		ing_file_fail(r, f, rc, "compress '%s': %s", f->path,
			      udos_error_detail());
		return;
	}
	hand_over(wk, f);
}

static struct ing_chunk *find_chunk(struct ing_stream *s, uint64_t seq)
{
	struct ing_chunk *c;

	for (c = s->head; c; c = c->next) {
		if (c->seq == seq)
			return c;
		if (c->seq > seq)
			break;
	}
	return NULL;
}

/* Free chunks from the head that every consumer is done with. Called with
 * s->mu held. */
static void reap_chunks(struct ing_run *r, struct ing_stream *s)
{
	while (s->head && s->head->hashed && s->head->written) {
		struct ing_chunk *c = s->head;

		s->head = c->next;
		if (!s->head)
			s->tail = NULL;
		s->held--;
		ing_chunk_free(r, c);
		pthread_cond_broadcast(&s->cv);
		ing_wake(r);
	}
}

static void do_hash(struct worker *wk, struct ing_stream *s)
{
	struct ing_run *r = wk->r;
	struct ing_chunk *c;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (s->err || !(c = find_chunk(s, s->next_hash)))
			break;
		pthread_mutex_unlock(&s->mu);
		udos__hash_update(s->sha, c->data, c->len);
		atomic_fetch_add(&r->bytes_hashed, c->len);
		pthread_mutex_lock(&s->mu);
		c->hashed = true;
		s->next_hash++;
		if (c->last) {
			udos__hash_final(&s->f->oid, s->sha);
			s->hash_done = true;
		}
		reap_chunks(r, s);
		pthread_cond_broadcast(&s->cv);
	}
	s->hash_sched = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void do_comp(struct worker *wk, struct ing_stream *s)
{
	struct ing_run *r = wk->r;
	struct ing_chunk *c;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (s->err || !(c = find_chunk(s, s->next_comp)))
			break;
		pthread_mutex_unlock(&s->mu);
		if (!s->codec_known) {
			/* chunk 0 is the head (ING_HEAD >= the auto sample) */
			s->codec = codec_for(r, c->data, c->len,
					     s->f->stat_size, NULL);
			s->codec_known = true;
			if (s->codec != UDOS_CODEC_NONE)
				rc = udos__zenc_new(&s->z, s->codec, r->level);
		}
		if (rc == 0 && s->codec != UDOS_CODEC_NONE)
			rc = udos__zenc_run(s->z, &c->out, c->data, c->len,
					    c->last);
		pthread_mutex_lock(&s->mu);
		if (rc < 0) {
			if (!s->err)
				s->err = rc;
			break;
		}
		c->compressed = true;
		s->next_comp++;
		pthread_cond_broadcast(&s->cv);
	}
	s->comp_sched = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct ing_run *r = wk->r;
	struct ing_node *n, *next;
	bool closed = false;

	pthread_setname_np(pthread_self(), "udos-work");

	for (;;) {
		/* do not sit on finished files while waiting for work */
		if (!ing_queue_pop_batch(&r->tasks, TASK_BATCH,
					 wk->out_n ? 0 : -1, &n, &closed)) {
			flush_out(wk);
			if (closed)
				break;
			continue;
		}
		for (; n; n = next) {
			struct ing_task *t = (struct ing_task *)n;

			next = n->next;
			switch (t->type) {
			case ING_T_WHOLE:
				do_whole(wk, t->obj);
				break;
			case ING_T_HASH:
				do_hash(wk, t->obj);
				break;
			case ING_T_COMP:
				do_comp(wk, t->obj);
				break;
			}
		}
		if (wk->out_n >= OUT_BATCH)
			flush_out(wk);
	}
	flush_out(wk);
	udos__hash_free(wk->sha);
	udos__zenc_free(wk->z);
	udos_buf_release(&wk->scratch);
	free(wk);
	return NULL;
}

/* Schedule the hash and compress tasks of a stream that has new chunks.
 * Called with s->mu held. */
void ing_stream_kick(struct ing_run *r, struct ing_stream *s)
{
	if (!s->hash_sched && find_chunk(s, s->next_hash)) {
		s->hash_sched = true;
		ing_queue_push_front(&r->tasks, &s->t_hash.node);
	}
	if (!s->comp_sched && find_chunk(s, s->next_comp)) {
		s->comp_sched = true;
		ing_queue_push_front(&r->tasks, &s->t_comp.node);
	}
}

/* Mark chunk written by the appender; frees what can be freed. */
void ing_stream_written(struct ing_run *r, struct ing_stream *s,
			struct ing_chunk *c)
{
	pthread_mutex_lock(&s->mu);
	c->written = true;
	s->next_write++;
	reap_chunks(r, s);
	pthread_mutex_unlock(&s->mu);
}

int ing_workers_start(struct ing_run *r, pthread_t *tids, unsigned n)
{
	unsigned i;
	int rc;

	for (i = 0; i < n; i++) {
		struct worker *wk = calloc(1, sizeof(*wk));

		if (!wk)
			goto fail_nomem;
		wk->r = r;
		rc = udos__hash_new(&wk->sha, r->st->hash_type);
		if (rc < 0) {
			free(wk);
			goto fail;
		}
		if (pthread_create(&tids[i], NULL, worker_main, wk) != 0) {
			udos__hash_free(wk->sha);
			free(wk);
			rc = -EAGAIN;
			goto fail;
		}
	}
	return 0;
fail_nomem:
	rc = -ENOMEM;
fail:
	ing_workers_stop(r, tids, i);
	return udos__err(rc, "cannot start ingest workers");
}

/* Close the task queue (after the readers are done) and join. */
void ing_workers_stop(struct ing_run *r, pthread_t *tids, unsigned n)
{
	unsigned i;

	ing_queue_close(&r->tasks);
	for (i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
}
