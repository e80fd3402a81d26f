/* uring/pipeline.c - pieces every stage of the ingest pipeline shares:
 * files and chunks, head slots, the memory charge, waking the reader and
 * stopping the run. Nothing here calls a stage. */
#include "ingest_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

void ing_file_drop_data(struct ing_run *r, struct ing_file *f)
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
	ing_file_drop_data(r, f);
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

/* ---- stopping ---------------------------------------------------------- */

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

int ing_is_packed(struct ing_run *r, const udos_oid *oid)
{
	udos__rec l;
	int rc = udos__store_index_get(&l, r->st, oid);

	if (rc == UDOS_ENOTFOUND)
		return 0;
	return rc < 0 ? rc : 1;
}

static void cache_key(udos__statkey *k, const struct ing_file *f)
{
	k->dev = f->ws.dev;
	k->ino = f->ws.ino;
	k->size = f->ws.size;
	k->mtime_ns = f->ws.mtime_ns;
	k->ctime_ns = f->ws.ctime_ns;
}

bool ing_cache_hit(struct ing_run *r, struct ing_file *f)
{
	udos__statkey k;
	udos_oid oid;

	if (!r->cache || (r->o.flags & UDOS_INGEST_NO_CACHE) || !f->ws.valid ||
	    !S_ISREG(f->ws.mode))
		return false;
	cache_key(&k, f);
	if (!udos__statcache_get(&oid, r->cache, &k))
		return false;
	/* only an id still stored (not deleted, not lost) counts */
	if (udos_object_has(r->st, &oid) != 1)
		return false;
	f->oid = oid;
	f->size = f->ws.size;
	f->is_new = false;
	f->cached = true;
	return true;
}

void ing_cache_note(struct ing_run *r, const struct ing_file *f)
{
	udos__statkey k;

	/* the walker stat'ed before the read: a file changed since has
	 * another mtime or ctime next time, unless it changed within the
	 * window, which is never recorded */
	if (!r->cache || !f->ws.valid || !S_ISREG(f->ws.mode) ||
	    f->size != f->ws.size)
		return;
	cache_key(&k, f);
	(void)udos__statcache_put(r->cache, &k, &f->oid);
}
