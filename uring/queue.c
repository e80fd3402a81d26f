/* uring/queue.c - bounded job queue and byte budget between pipeline stages. */
#include "ingest_int.h"

#include <errno.h>
#include <time.h>

void ing_queue_init(struct ing_queue *q, size_t cap)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv_pop, &ca);
	pthread_cond_init(&q->cv_push, &ca);
	pthread_condattr_destroy(&ca);
	q->head = q->tail = NULL;
	q->len = 0;
	q->cap = cap;
	q->closed = false;
	q->waiters = q->push_waiters = 0;
}

void ing_queue_destroy(struct ing_queue *q)
{
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv_pop);
	pthread_cond_destroy(&q->cv_push);
}

/* A full queue's pushers wait until it is half empty, not for each pop:
 * one wake-up per cap/2 items instead of a hand-off per item. */
static void wait_room(struct ing_queue *q)
{
	q->push_waiters++;
	while (q->cap && q->len >= q->cap && !q->closed)
		pthread_cond_wait(&q->cv_push, &q->mu);
	q->push_waiters--;
}

static void room_made(struct ing_queue *q)
{
	if (q->push_waiters && q->len <= q->cap / 2)
		pthread_cond_broadcast(&q->cv_push);
}

static void link_tail(struct ing_queue *q, struct ing_node *first,
		      struct ing_node *last, size_t count)
{
	last->next = NULL;
	if (q->tail)
		q->tail->next = first;
	else
		q->head = first;
	q->tail = last;
	q->len += count;
}

bool ing_queue_push(struct ing_queue *q, struct ing_node *n)
{
	pthread_mutex_lock(&q->mu);
	wait_room(q);
	if (q->closed) {
		pthread_mutex_unlock(&q->mu);
		return false;
	}
	link_tail(q, n, n, 1);
	if (q->waiters)
		pthread_cond_signal(&q->cv_pop);
	pthread_mutex_unlock(&q->mu);
	return true;
}

bool ing_queue_push_list(struct ing_queue *q, struct ing_node *first,
			 struct ing_node *last, size_t count)
{
	if (!first)
		return true;
	pthread_mutex_lock(&q->mu);
	wait_room(q);
	if (q->closed) {
		pthread_mutex_unlock(&q->mu);
		return false;
	}
	link_tail(q, first, last, count);
	if (q->waiters)
		pthread_cond_broadcast(&q->cv_pop);
	pthread_mutex_unlock(&q->mu);
	return true;
}

void ing_queue_push_front(struct ing_queue *q, struct ing_node *n)
{
	pthread_mutex_lock(&q->mu);
	n->next = q->head;
	q->head = n;
	if (!q->tail)
		q->tail = n;
	q->len++;
	if (q->waiters)
		pthread_cond_signal(&q->cv_pop);
	pthread_mutex_unlock(&q->mu);
}

static void deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

struct ing_node *ing_queue_pop(struct ing_queue *q, int timeout_ms,
			       bool *closed_out)
{
	struct ing_node *n = NULL;
	struct timespec ts;

	pthread_mutex_lock(&q->mu);
	if (!q->head && !q->closed && timeout_ms != 0) {
		if (timeout_ms > 0)
			deadline(&ts, timeout_ms);
		q->waiters++;
		while (!q->head && !q->closed) {
			if (timeout_ms < 0) {
				pthread_cond_wait(&q->cv_pop, &q->mu);
			} else if (pthread_cond_timedwait(&q->cv_pop, &q->mu,
							  &ts) == ETIMEDOUT) {
				break;
			}
		}
		q->waiters--;
	}
	n = q->head;
	if (n) {
		q->head = n->next;
		if (!q->head)
			q->tail = NULL;
		q->len--;
		room_made(q);
	}
	if (closed_out)
		*closed_out = q->closed && !q->head;
	pthread_mutex_unlock(&q->mu);
	return n;
}

size_t ing_queue_pop_batch(struct ing_queue *q, size_t max, int timeout_ms,
			   struct ing_node **first_out, bool *closed_out)
{
	struct ing_node *n, *last = NULL;
	size_t k = 0;

	n = ing_queue_pop(q, timeout_ms, closed_out);
	*first_out = n;
	if (!n)
		return 0;
	k = 1;
	last = n;
	pthread_mutex_lock(&q->mu);
	while (k < max && q->head) {
		struct ing_node *m = q->head;

		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		q->len--;
		last->next = m;
		last = m;
		k++;
	}
	room_made(q);
	pthread_mutex_unlock(&q->mu);
	last->next = NULL;
	return k;
}

struct ing_node *ing_queue_take_all(struct ing_queue *q, bool *closed_out)
{
	struct ing_node *n;

	pthread_mutex_lock(&q->mu);
	n = q->head;
	q->head = q->tail = NULL;
	q->len = 0;
	room_made(q);
	if (closed_out)
		*closed_out = q->closed;
	pthread_mutex_unlock(&q->mu);
	return n;
}

void ing_queue_close(struct ing_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->closed = true;
	pthread_cond_broadcast(&q->cv_pop);
	pthread_cond_broadcast(&q->cv_push);
	pthread_mutex_unlock(&q->mu);
}

size_t ing_queue_len(struct ing_queue *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* ---- budget ------------------------------------------------------------ */

void ing_budget_init(struct ing_budget *b, uint64_t cap)
{
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->cap = cap;
	b->used = 0;
	b->cancelled = false;
}

void ing_budget_destroy(struct ing_budget *b)
{
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
}

/* A request larger than the whole cap is let through when nothing else is
 * held, so one huge buffer can never wait forever. */
static bool fits(const struct ing_budget *b, uint64_t n)
{
	return b->used + n <= b->cap || b->used == 0;
}

bool ing_budget_try(struct ing_budget *b, uint64_t n)
{
	bool ok;

	pthread_mutex_lock(&b->mu);
	ok = !b->cancelled && fits(b, n);
	if (ok)
		b->used += n;
	pthread_mutex_unlock(&b->mu);
	return ok;
}

bool ing_budget_take(struct ing_budget *b, uint64_t n)
{
	bool ok;

	pthread_mutex_lock(&b->mu);
	while (!b->cancelled && !fits(b, n))
		pthread_cond_wait(&b->cv, &b->mu);
	ok = !b->cancelled;
	if (ok)
		b->used += n;
	pthread_mutex_unlock(&b->mu);
	return ok;
}

void ing_budget_give(struct ing_budget *b, uint64_t n)
{
	if (!n)
		return;
	pthread_mutex_lock(&b->mu);
	b->used = b->used >= n ? b->used - n : 0;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

void ing_budget_cancel(struct ing_budget *b)
{
	pthread_mutex_lock(&b->mu);
	b->cancelled = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}
