/* uring/workers.c - hash and compress threads fed by the task queue. */
#include "ingest_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct worker {
	struct ing_run *r;
	udos__sha256 *sha;
	udos__zenc *z;
};

static int pick_codec(struct ing_run *r, const void *head, size_t head_len,
		      uint64_t total)
{
	if (r->o.target == UDOS_INGEST_TO_LOOSE ||
	    r->o.compress == UDOS_COMPRESS_NO ||
	    r->o.compress == UDOS_COMPRESS_KEEP || r->codec == UDOS_CODEC_NONE)
		return UDOS_CODEC_NONE;
	if (r->o.compress == UDOS_COMPRESS_YES)
		return r->codec;
	return udos__worth_compressing(head, head_len, total) ? r->codec
							     : UDOS_CODEC_NONE;
}

/* Whole file: hash, decide, compress, then hand to the appender (pack) or
 * write the loose file here (loose writes may run on any thread). */
static void do_whole(struct worker *wk, struct ing_file *f)
{
	struct ing_run *r = wk->r;
	int rc;

	udos__sha256_update(wk->sha, f->data, f->len);
	udos__sha256_final(&f->oid, wk->sha);
	f->size = f->len;

	if (r->o.target == UDOS_INGEST_TO_LOOSE) {
		rc = udos__loose_put(r->st, &f->oid, f->data, f->len,
				     r->o.no_sync, &f->is_new);
		if (rc < 0) {
			/* a store write failing (ENOSPC...) is not a
			 * per-file problem */
			if (rc != -EACCES)
				ing_set_fatal(r, rc);
			ing_file_fail(r, f, rc, "%s", udos_error_detail());
			return;
		}
		f->codec = UDOS_CODEC_NONE;
		ing_submit_whole(r, f); /* reports and frees */
		return;
	}

	f->codec = pick_codec(r, f->data, f->len < UDOS_AUTO_SAMPLE ?
				  f->len : UDOS_AUTO_SAMPLE, f->len);
	if (f->codec != UDOS_CODEC_NONE) {
		if (!wk->z || udos__zenc_codec(wk->z) != f->codec) {
			udos__zenc_free(wk->z);
			wk->z = NULL;
			rc = udos__zenc_new(&wk->z, f->codec, r->level);
			if (rc < 0) {
				ing_set_fatal(r, rc);
				ing_file_fail(r, f, rc, "%s",
					      udos_error_detail());
				return;
			}
		}
		f->out.len = 0;
		rc = udos__zenc_run(wk->z, &f->out, f->data, f->len, true);
		if (rc < 0) {
			/* leave the encoder in a clean state */
			udos__zenc_free(wk->z);
			wk->z = NULL;
			ing_file_fail(r, f, rc, "compress '%s': %s", f->path,
				      udos_error_detail());
			return;
		}
	}
	ing_submit_whole(r, f);
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
		udos__sha256_update(s->sha, c->data, c->len);
		pthread_mutex_lock(&s->mu);
		c->hashed = true;
		s->next_hash++;
		if (c->last) {
			udos__sha256_final(&s->f->oid, s->sha);
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
			s->codec = pick_codec(r, c->data, c->len,
					      s->f->stat_size);
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
	struct ing_node *n;

	while ((n = ing_queue_pop(&r->tasks, -1, NULL))) {
		struct ing_task *t = (struct ing_task *)n;

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
	udos__sha256_free(wk->sha);
	udos__zenc_free(wk->z);
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
		rc = udos__sha256_new(&wk->sha);
		if (rc < 0) {
			free(wk);
			goto fail;
		}
		if (pthread_create(&tids[i], NULL, worker_main, wk) != 0) {
			udos__sha256_free(wk->sha);
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
