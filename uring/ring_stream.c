/* uring/ring_stream.c - the io_uring reader's large files: chunk 0 is the
 * head already read, then up to RD_MAXR chunk reads in flight, within the
 * stream's quota of chunks held downstream, handed over in file order. */
#include "ring_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ring_stream_start(struct rr *x, struct rd *d)
{
	struct ing_run *r = x->r;
	struct ing_file *f = d->f;
	struct ing_chunk *c = calloc(1, sizeof(*c));
	struct io_uring_sqe *sqe;

	f->stat_size = d->size;
	d->s = c ? ing_stream_new(r, f) : NULL;
	if (!d->s) {
		free(c);
		ing_budget_give(&r->streams, 1);
		ing_file_fail(r, f, -ENOMEM, "'%s': out of memory", f->path);
		ring_rd_free(x, d);
		return;
	}
	/* chunk 0 is the head, already read */
	c->slot = f->slot;
	f->slot = -1;
	c->data = ing_slot_ptr(r, c->slot);
	c->len = ING_HEAD;
	ing_stream_push(r, d->s, c);

	d->off = ING_HEAD;
	d->state = RD_OPENING;
	d->fslot = slot_take(x);
	sqe = sqe_get(x);
	io_uring_prep_openat_direct(sqe, ing_file_dirfd(f), ing_file_rel(f),
				    open_flags(x, f), 0, (unsigned)d->fslot);
	set_data(sqe, d, OP_OPEN);
	x->ops++;
}

static unsigned stream_held(struct ing_stream *s)
{
	unsigned h;

	pthread_mutex_lock(&s->mu);
	h = s->held;
	pthread_mutex_unlock(&s->mu);
	return h;
}

/* A failed or cancelled stream: once no read is in flight any more, tell
 * the appender and close the file. */
static void stream_settle_err(struct rr *x, struct rd *d)
{
	struct ing_run *r = x->r;
	const char *p = d->f->path;

	if (d->nin)
		return;
	if (d->err == UDOS_ECHANGED)
		ing_stream_fail(r, d->s, UDOS_ECHANGED,
				"'%s' changed while being read (size %llu)", p,
				(unsigned long long)d->size);
	else if (d->err == -ECANCELED)
		ing_stream_fail(r, d->s, -ECANCELED, "'%s': %s", p,
				"ingest stopped");
	else if (d->err == -ENOMEM)
		ing_stream_fail(r, d->s, -ENOMEM, "'%s': out of memory", p);
	else
		ing_stream_fail(r, d->s, d->err, "read '%s': %s", p,
				strerror(-d->err));
	d->s = NULL;
	d->f = NULL;
	ring_submit_close(x, d);
}

/* The appender gave the stream up (a store error): stop reading it. */
static bool stream_cancelled(struct ing_stream *s)
{
	bool c;

	pthread_mutex_lock(&s->mu);
	c = s->err != 0;
	pthread_mutex_unlock(&s->mu);
	return c;
}

/*
 * Issue chunk reads while the stream has room: up to RD_MAXR in flight,
 * and chunks held downstream plus reads in flight within the stream's
 * quota. With nothing in flight and no room, the stream parks until
 * ing_wake says a chunk was freed.
 */
void ring_stream_fill(struct rr *x, struct rd *d)
{
	struct ing_run *r = x->r;
	unsigned held = stream_held(d->s);

	if (!d->err && (atomic_load(&r->stop) || stream_cancelled(d->s)))
		d->err = -ECANCELED;
	while (!d->err && d->off < d->size && d->nin < RD_MAXR &&
	       held + d->nin < ING_STREAM_QUOTA && need(x, 1, false)) {
		uint64_t left = d->size - d->off;
		size_t want = left < ING_CHUNK ? (size_t)left : ING_CHUNK;
		bool last = want == left;
		struct io_uring_sqe *sqe;
		struct ing_chunk *c = calloc(1, sizeof(*c));

		if (c)
			c->heap = malloc(want + 1);
		if (!c || !c->heap) {
			free(c);
			d->err = -ENOMEM;
			break;
		}
		c->slot = -1;
		c->data = c->heap;
		c->len = want;
		c->last = last;
		c->rd = d;
		c->next = NULL;
		if (d->fifo_tail)
			d->fifo_tail->next = c;
		else
			d->fifo_head = c;
		d->fifo_tail = c;
		d->nin++;
		sqe = sqe_get(x);
		io_uring_prep_read(sqe, d->fslot, c->heap,
				   (unsigned)(want + (last ? 1 : 0)), d->off);
		sqe->flags |= IOSQE_FIXED_FILE;
		set_data(sqe, c, OP_SREAD);
		x->ops++;
		d->off += want;
	}
	if (d->err) {
		stream_settle_err(x, d);
		return;
	}
	if (!d->nin) {
		d->state = RD_WANT_ROOM;
		park(x, d);
	} else {
		d->state = RD_READING;
	}
}

/* A chunk read completed: hand over the chunks that are complete in file
 * order, then read more. */
void ring_on_chunk_cqe(struct rr *x, struct ing_chunk *c, int res)
{
	struct ing_run *r = x->r;
	struct rd *d = c->rd;

	c->done = true;
	if (res < 0) {
		if (!d->err)
			d->err = res;
	} else if ((size_t)res != c->len) {
		if (!d->err)
			d->err = UDOS_ECHANGED;
	}
	if (!d->err && stream_cancelled(d->s))
		d->err = -ECANCELED;
	while ((c = d->fifo_head) && c->done) {
		bool last = c->last;

		d->fifo_head = c->next;
		if (!d->fifo_head)
			d->fifo_tail = NULL;
		d->nin--;
		if (d->err) {
			ing_chunk_free(r, c);
			continue;
		}
		c->rd = NULL;
		ing_stream_push(r, d->s, c);
		if (last) {
			/* the appender owns the file now */
			d->s = NULL;
			d->f = NULL;
			ring_submit_close(x, d);
			return;
		}
	}
	if (d->err) {
		stream_settle_err(x, d);
		return;
	}
	if (d->state != RD_WANT_ROOM)
		ring_stream_fill(x, d);
}
