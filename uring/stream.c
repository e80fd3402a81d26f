/* uring/stream.c - a large file in chunks: the reader pushes them, the
 * workers hash and compress them, the appender writes them in order. */
#include "ingest_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	/* the appender takes streams in the order they begin and waits on
	 * their chunks */
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

void ing_stream_free(struct ing_run *r, struct ing_stream *s)
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

struct ing_chunk *ing_stream_next_ready(struct ing_stream *s, int *err)
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

int ing_stream_wait_hash(struct ing_stream *s)
{
	int err;

	pthread_mutex_lock(&s->mu);
	while (!s->hash_done && !s->err)
		pthread_cond_wait(&s->cv, &s->mu);
	err = s->hash_done ? 0 : s->err;
	pthread_mutex_unlock(&s->mu);
	return err;
}
