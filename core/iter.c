/* iter.c - listing every object once, and container statistics. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fe {
	udos_store *st;
	unsigned flags;
	udos_foreach_fn fn;
	void *ctx;
};

static int fe_packed(void *ctx, const udos_oid *oid, const udos__rec *l)
{
	struct fe *f = ctx;
	udos_meta m = { 0 };

	m.loc = UDOS_LOC_PACKED;
	m.codec = l->codec;
	m.pack_id = l->pack_id;
	m.offset = l->offset;
	m.size = l->raw_len;
	m.stored_size = l->stored_len;
	return f->fn(f->ctx, oid, &m);
}

static int fe_loose(void *ctx, const char *rel, const udos_oid *oid)
{
	struct fe *f = ctx;
	udos_meta m = { 0 };
	struct stat sb;
	udos__rec l;

	if (!oid)
		return 0;
	if (f->flags & UDOS_FOREACH_PACKED) {
		int rc = udos__store_index_get(&l, f->st, oid);
		if (rc == 0)
			return 0; /* listed with the packed ones */
		if (rc != UDOS_ENOTFOUND)
			return rc;
	}
	if (fstatat(f->st->dirfd, rel, &sb, 0) < 0)
		return errno == ENOENT ? 0 : udos__err(-errno, "cannot stat "
						       "'%s/%s': %s",
						       f->st->path, rel,
						       udos_strerror(-errno));
	m.loc = UDOS_LOC_LOOSE;
	m.size = m.stored_size = (uint64_t)sb.st_size;
	return f->fn(f->ctx, oid, &m);
}

int udos_store_foreach(udos_store *st, unsigned flags, udos_foreach_fn fn,
		       void *ctx)
{
	struct fe f = { st, flags, fn, ctx };
	int rc = 0;

	UDOS_ASSERT_ARG(st && fn);
	if (flags & UDOS_FOREACH_PACKED)
		rc = udos__store_index_foreach(st, fe_packed, &f);
	if (rc == 0 && (flags & UDOS_FOREACH_LOOSE))
		rc = udos__loose_walk(st, fe_loose, &f);
	return rc;
}

struct stat_ctx {
	udos_store *st;
	udos_status *s;
};

static int st_packed(void *ctx, const udos_oid *oid, const udos__rec *l)
{
	udos_status *s = ((struct stat_ctx *)ctx)->s;

	(void)oid;
	s->packed_count++;
	s->packed_size += l->raw_len;
	s->packed_stored_size += l->stored_len;
	return 0;
}

static int st_loose(void *ctx, const char *rel, const udos_oid *oid)
{
	struct stat_ctx *c = ctx;
	struct stat sb;
	udos__rec l;

	if (!oid || fstatat(c->st->dirfd, rel, &sb, 0) < 0)
		return 0;
	c->s->loose_count++;
	c->s->loose_size += (uint64_t)sb.st_size;
	if (udos__store_index_get(&l, c->st, oid) == 0)
		c->s->both_count++;
	return 0;
}

/* Regular files directly in a folder: count and bytes. With `recs`, the
 * record files ("N.rec") go to *recs instead. */
int udos__dir_usage(udos_store *st, const char *rel, uint64_t *count,
		    uint64_t *bytes, uint64_t *recs)
{
	int fd = openat(st->dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return udos__err(-errno, "cannot list '%s/%s': %s", st->path,
				 rel, udos_strerror(-errno));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		const char *dot = strchr(de->d_name, '.');
		struct stat sb;
		if (de->d_name[0] == '.' ||
		    fstatat(fd, de->d_name, &sb, 0) < 0 || !S_ISREG(sb.st_mode))
			continue;
		if (recs && dot && !strcmp(dot, ".rec")) {
			*recs += (uint64_t)sb.st_size;
			continue;
		}
		if (count)
			(*count)++;
		*bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	return 0;
}

int udos_store_status(udos_status *out, udos_store *st)
{
	struct stat_ctx c = { st, out };
	int rc;

	UDOS_ASSERT_ARG(out && st);
	memset(out, 0, sizeof(*out));
	rc = udos__store_index_foreach(st, st_packed, &c);
	if (rc == 0)
		rc = udos__loose_walk(st, st_loose, &c);
	if (rc == 0)
		rc = udos__dir_usage(st, "packs", &out->pack_count,
				     &out->pack_files_size, &out->index_size);
	if (rc == 0)
		rc = udos__dir_usage(st, "index", NULL, &out->index_size,
				     NULL);
	return rc;
}

/* ---- every object in storage order (import, export-dos) ------------------ */

struct listed {
	udos_oid oid;
	int loc;
	uint32_t pack_id;
	uint64_t offset;
};

struct listing {
	struct listed *v;
	size_t n, cap;
	uint64_t bytes; /* content bytes of all */
};

static int list_fn(void *ctx, const udos_oid *oid, const udos_meta *m)
{
	struct listing *l = ctx;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4096;
		struct listed *nv;

		if (ncap > SIZE_MAX / sizeof(*nv))
			return udos__err(-ENOMEM, "out of memory");
		nv = realloc(l->v, ncap * sizeof(*nv));
		if (!nv)
			return udos__err(-ENOMEM, "out of memory");
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n].oid = *oid;
	l->v[l->n].loc = m->loc;
	l->v[l->n].pack_id = m->pack_id;
	l->v[l->n].offset = m->offset;
	l->n++;
	l->bytes += m->size;
	return 0;
}

/* loose first, then by pack and offset: the order read_many reads in */
static int listed_cmp(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;

	if (x->loc != y->loc)
		return x->loc < y->loc ? -1 : 1;
	if (x->pack_id != y->pack_id)
		return x->pack_id < y->pack_id ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return 0;
}

int udos__store_list_sorted(udos_oid **ids_out, size_t *n_out,
			    uint64_t *bytes_out, udos_store *st)
{
	struct listing l = { NULL, 0, 0, 0 };
	udos_oid *ids = NULL;
	int rc;

	*ids_out = NULL;
	*n_out = 0;
	rc = udos_store_foreach(st, UDOS_FOREACH_ALL, list_fn, &l);
	if (rc < 0)
		goto done;
	qsort(l.v, l.n, sizeof(*l.v), listed_cmp);
	/* the ids alone, in place: an id is the first field of its entry */
	ids = (udos_oid *)l.v;
	for (size_t i = 0; i < l.n; i++)
		memmove(&ids[i], &l.v[i].oid, sizeof(*ids));
	*ids_out = ids;
	*n_out = l.n;
	if (bytes_out)
		*bytes_out = l.bytes;
	l.v = NULL;
done:
	free(l.v);
	return rc;
}
