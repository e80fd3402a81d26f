/* remote_gc.c - garbage collection of the remote after a grace period:
 * old manifest generations, pack and deletions objects no kept generation
 * names (a repack's leftovers, a lost race's uploads), and incomplete
 * multipart uploads (docs/DECISIONS.md "Remote garbage collection"). */
#include "remote_manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_PARALLEL 4

/* a sorted set of keys */
typedef struct keyset {
	char **v;
	size_t n, cap;
} keyset;

static int keyset_add(keyset *k, const char *key)
{
	if (k->n == k->cap) {
		size_t c = k->cap ? 2 * k->cap : 64;
		char **v = realloc(k->v, c * sizeof(*v));
		if (!v)
			return udos__err(-ENOMEM, "out of memory");
		k->v = v;
		k->cap = c;
	}
	k->v[k->n] = strdup(key);
	if (!k->v[k->n])
		return udos__err(-ENOMEM, "out of memory");
	k->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool keyset_has(const keyset *k, const char *key)
{
	return k->n && bsearch(&key, k->v, k->n, sizeof(*k->v), cmp_str);
}

static void keyset_release(keyset *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	memset(k, 0, sizeof(*k));
}

/* every key manifest m names */
static int name_all(keyset *k, const udos__manifest *m)
{
	char key[UDOS__S3_MAX_KEY];
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < m->n; i++) {
		udos__mpack_key(key, sizeof(key), &m->packs[i], false);
		rc = keyset_add(k, key);
		udos__mpack_key(key, sizeof(key), &m->packs[i], true);
		if (rc == 0)
			rc = keyset_add(k, key);
	}
	if (rc == 0 && m->dels) {
		udos__manifest_dels_key(key, sizeof(key), m);
		rc = keyset_add(k, key);
	}
	return rc;
}

struct gen {
	uint64_t g;
	int64_t mtime;
};

static int by_gen(const void *a, const void *b)
{
	const struct gen *x = a, *y = b;
	return (x->g > y->g) - (x->g < y->g);
}

/* The generations listed, ascending; *now_out the server's clock. */
static int list_gens(struct gen **out, size_t *n_out, int64_t *now_out,
		     udos__s3 *s)
{
	udos__s3_list l;
	struct gen *v;
	size_t n = 0;
	int rc = udos__s3_list_objects(&l, s, UDOS__MANIFESTS);

	*out = NULL;
	*n_out = 0;
	if (rc < 0)
		return rc;
	*now_out = l.date ? l.date : (int64_t)time(NULL);
	v = udos__calloc(l.n ? l.n : 1, sizeof(*v));
	if (!v) {
		udos__s3_list_release(&l);
		return udos__err(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < l.n; i++) {
		const char *k = l.v[i].key + strlen(UDOS__MANIFESTS);
		char *end;
		unsigned long long g = strtoull(k, &end, 10);
		if (strlen(k) != 16 || *end || !g)
			continue; /* not a generation of ours: left alone */
		v[n].g = g;
		v[n++].mtime = l.v[i].mtime;
		/* some servers cache their Date for a second: no object of
		 * theirs is younger than their clock */
		if (l.v[i].mtime > *now_out)
			*now_out = l.v[i].mtime;
	}
	udos__s3_list_release(&l);
	qsort(v, n, sizeof(*v), by_gen);
	*out = v;
	*n_out = n;
	return 0;
}

/* Plan and (unless dry) delete: kept generations, named objects. */
static int collect(udos_remote_gc_result *out, udos__s3 *s, udos_store *st,
		   const udos_remote_gc_opts *o)
{
	static const char *const dirs[] = { "packs/", UDOS__DELS };
	struct gen *gens = NULL;
	keyset named = { 0 }, doomed = { 0 }, dead_gens = { 0 };
	udos__manifest l = { 0 };
	size_t ng = 0;
	int64_t now = 0, cutoff;
	int rc;

	rc = list_gens(&gens, &ng, &now, s);
	if (rc < 0)
		goto out;
	cutoff = now - o->grace;
	out->generation = ng ? gens[ng - 1].g : 0;
	/* G is kept while newest, or newest less than `grace` ago: its
	 * successor appeared after the cutoff (an unknown age is young) */
	for (size_t i = 0; i < ng && rc == 0; i++) {
		bool keep = i + 1 == ng || !gens[i + 1].mtime ||
			    gens[i + 1].mtime > cutoff;
		char key[UDOS__S3_MAX_KEY];
		if (keep) {
			udos__manifest m;
			rc = udos__remote_fetch_manifest(&m, s, gens[i].g);
			if (rc == 0)
				rc = name_all(&named, &m);
			udos__manifest_release(&m);
			out->manifests_kept++;
		} else {
			udos__manifest_key(key, sizeof(key), gens[i].g);
			rc = keyset_add(&dead_gens, key);
		}
	}
	/* what this container holds evicted or last pushed stays too */
	if (rc == 0 && (rc = udos__manifest_load(&l, st)) == 0)
		rc = name_all(&named, &l);
	else if (rc == UDOS_ENOTFOUND)
		rc = 0;
	if (rc < 0)
		goto out;
	qsort(named.v, named.n, sizeof(*named.v), cmp_str);
	for (size_t d = 0; d < 2 && rc == 0; d++) {
		udos__s3_list ls;
		rc = udos__s3_list_objects(&ls, s, dirs[d]);
		for (size_t i = 0; rc == 0 && i < ls.n; i++) {
			const udos__s3_obj *ob = &ls.v[i];
			if (keyset_has(&named, ob->key)) {
				out->objects_named++;
			} else if (!ob->mtime || ob->mtime > cutoff) {
				out->objects_young++;
			} else {
				rc = keyset_add(&doomed, ob->key);
				out->objects_deleted++;
				out->bytes_deleted += ob->size;
			}
		}
		udos__s3_list_release(&ls);
	}
	out->manifests_deleted = dead_gens.n;
	if (rc < 0 || o->dry_run)
		goto out;
	/* generations first: a listed manifest never names a deleted
	 * object, even an old one */
	rc = udos__s3_delete_keys(s, dead_gens.v, dead_gens.n,
				  o->parallel ? o->parallel : DEFAULT_PARALLEL);
	if (rc == 0)
		rc = udos__s3_delete_keys(s, doomed.v, doomed.n,
					  o->parallel ? o->parallel
						      : DEFAULT_PARALLEL);
out:
	if (rc == 0) {
		for (size_t d = 0; d < 2 && rc == 0; d++) {
			size_t n = 0;
			rc = udos__s3_sweep_uploads(s, dirs[d], cutoff + 1,
						    o->dry_run, &n);
			out->uploads_aborted += n;
		}
	}
	udos__manifest_release(&l);
	keyset_release(&named);
	keyset_release(&doomed);
	keyset_release(&dead_gens);
	free(gens);
	return rc;
}

int udos_remote_gc(udos_remote_gc_result *out, udos_store *st,
		   const udos_remote_gc_opts *opts)
{
	static const udos_remote_gc_opts defaults = UDOS_REMOTE_GC_OPTS_INIT;
	udos_remote_gc_result local;
	udos_remote_conf conf;
	udos__s3 *s = NULL;
	int rc;

	UDOS_ASSERT_ARG(st);
	if (!out)
		out = &local;
	if (!opts)
		opts = &defaults;
	memset(out, 0, sizeof(*out));
	if (opts->grace < 0)
		return udos__err(-EINVAL, "grace must not be negative");
	rc = udos__remote_open(&conf, &s, st, true);
	if (rc == 0)
		rc = udos_store_lock_writer(st);
	if (rc == 0)
		rc = collect(out, s, st, opts);
	if (s)
		out->requests = udos__s3_requests(s);
	udos__s3_free(s);
	return rc;
}
