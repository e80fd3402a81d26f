/* core/statcache.c - the stat cache: (device, inode, size, mtime, ctime)
 * of a file read before -> its object id, so that `add` can skip reading
 * files it has seen unchanged. A hint only: a missing, damaged or foreign
 * cache file is an empty cache. Format and rules: docs/FORMAT.md. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SC_NAME "stat.cache"
#define SC_MAGIC "UDOSSTC1"
#define SC_HDR 64
#define SC_REC 80
#define SC_TRAILER 8
/* Bounds: entries not seen in the last SC_KEEP_RUNS runs are dropped, and
 * never more than SC_MAX entries are kept (those seen last first). */
#define SC_KEEP_RUNS 16
#define SC_MAX (1u << 20)

struct sc_rec {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	uint64_t run; /* the run that last saw it */
	udos_oid oid;
};

struct udos__statcache {
	/* as loaded: read-only during the run, so lookups need no lock */
	struct sc_rec *old;
	size_t n_old;
	uint32_t *slots; /* open addressing: index + 1 into old, 0 empty */
	size_t mask;
	uint64_t run;		 /* this run's number */
	int64_t trust_before_ns; /* only stats with mtime and ctime older
				    than this are looked up or recorded */
	/* seen by this run (one writer at a time: the caller serialises) */
	struct sc_rec *cur;
	size_t n_cur, cap_cur;
	bool dirty;
};

static size_t sc_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h =
		ino * 0x9E3779B97F4A7C15ull ^ (dev + 0x632BE59BD9B4E019ull);

	return (size_t)(h ^ (h >> 29));
}

static void rec_decode(struct sc_rec *r, const uint8_t *p)
{
	r->dev = udos__get_le64(p);
	r->ino = udos__get_le64(p + 8);
	r->size = udos__get_le64(p + 16);
	r->mtime_ns = (int64_t)udos__get_le64(p + 24);
	r->ctime_ns = (int64_t)udos__get_le64(p + 32);
	r->run = udos__get_le64(p + 40);
	memcpy(r->oid.id, p + 48, 32);
}

static void rec_encode(uint8_t *p, const struct sc_rec *r)
{
	udos__put_le64(p, r->dev);
	udos__put_le64(p + 8, r->ino);
	udos__put_le64(p + 16, r->size);
	udos__put_le64(p + 24, (uint64_t)r->mtime_ns);
	udos__put_le64(p + 32, (uint64_t)r->ctime_ns);
	udos__put_le64(p + 40, r->run);
	memcpy(p + 48, r->oid.id, 32);
}

/* Read the file: 0 with the records (possibly none), never an error for a
 * bad file. */
static int load_file(udos__statcache *c, udos_store *st, uint64_t *last_run)
{
	uint8_t *buf = NULL;
	struct stat sb;
	uint64_t n, sum;
	size_t len;
	int fd, rc = 0;

	*last_run = 0;
	fd = openat(st->dirfd, SC_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) < 0 || sb.st_size < SC_HDR + SC_TRAILER ||
	    (uint64_t)sb.st_size >
		    SC_HDR + (uint64_t)SC_MAX * SC_REC + SC_TRAILER)
		goto done;
	len = (size_t)sb.st_size;
	buf = malloc(len);
	if (!buf) {
		rc = -ENOMEM;
		goto done;
	}
	if (pread(fd, buf, len, 0) != (ssize_t)len)
		goto done;
	n = udos__get_le64(buf + 40);
	sum = udos__get_le64(buf + len - SC_TRAILER);
	if (memcmp(buf, SC_MAGIC, 8) || udos__get_le32(buf + 8) != 1 ||
	    udos__get_le32(buf + 12) != SC_REC ||
	    memcmp(buf + 16, st->uuid, 16) ||
	    udos__get_le32(buf + 48) != (uint32_t)st->hash_type || n > SC_MAX ||
	    len != SC_HDR + n * SC_REC + SC_TRAILER ||
	    udos__xxh3(buf, len - SC_TRAILER) != sum)
		goto done;
	*last_run = udos__get_le64(buf + 32);
	c->old = malloc((n ? n : 1) * sizeof(*c->old));
	if (!c->old) {
		rc = -ENOMEM;
		goto done;
	}
	for (uint64_t i = 0; i < n; i++)
		rec_decode(&c->old[i], buf + SC_HDR + i * SC_REC);
	c->n_old = (size_t)n;
done:
	free(buf);
	close(fd);
	return rc;
}

int udos__statcache_open(udos__statcache **out, udos_store *st,
			 int64_t run_start_ns)
{
	udos__statcache *c = calloc(1, sizeof(*c));
	uint64_t last = 0;
	size_t cap = 16;
	int rc;

	*out = NULL;
	if (!c)
		return udos__err(-ENOMEM, "out of memory (stat cache)");
	c->trust_before_ns =
		run_start_ns - (int64_t)UDOS_STATCACHE_WINDOW_S * 1000000000;
	rc = load_file(c, st, &last);
	if (rc < 0)
		goto fail;
	c->run = last + 1;
	while (cap < 2 * c->n_old)
		cap *= 2;
	c->slots = calloc(cap, sizeof(*c->slots));
	if (!c->slots) {
		rc = -ENOMEM;
		goto fail;
	}
	c->mask = cap - 1;
	for (size_t i = 0; i < c->n_old; i++) {
		size_t j = sc_hash(c->old[i].dev, c->old[i].ino) & c->mask;

		while (c->slots[j])
			j = (j + 1) & c->mask;
		c->slots[j] = (uint32_t)i + 1;
	}
	*out = c;
	return 0;
fail:
	udos__statcache_free(c);
	return udos__err(rc, "out of memory (stat cache)");
}

void udos__statcache_free(udos__statcache *c)
{
	if (!c)
		return;
	free(c->old);
	free(c->slots);
	free(c->cur);
	free(c);
}

static bool trusted(const udos__statcache *c, const udos__statkey *k)
{
	return k->mtime_ns < c->trust_before_ns &&
	       k->ctime_ns < c->trust_before_ns;
}

bool udos__statcache_get(udos_oid *out, const udos__statcache *c,
			 const udos__statkey *k)
{
	size_t j;

	if (!c || !c->n_old || !trusted(c, k))
		return false;
	for (j = sc_hash(k->dev, k->ino) & c->mask; c->slots[j];
	     j = (j + 1) & c->mask) {
		const struct sc_rec *r = &c->old[c->slots[j] - 1];

		if (r->dev != k->dev || r->ino != k->ino)
			continue;
		if (r->size != k->size || r->mtime_ns != k->mtime_ns ||
		    r->ctime_ns != k->ctime_ns)
			return false;
		*out = r->oid;
		return true;
	}
	return false;
}

int udos__statcache_put(udos__statcache *c, const udos__statkey *k,
			const udos_oid *oid)
{
	struct sc_rec *r;

	if (!c || !trusted(c, k))
		return 0;
	if (c->n_cur == c->cap_cur) {
		size_t nc = c->cap_cur ? c->cap_cur * 2 : 1024;
		struct sc_rec *n;

		if (c->n_cur >= SC_MAX)
			return 0;
		n = realloc(c->cur, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->cur = n;
		c->cap_cur = nc;
	}
	r = &c->cur[c->n_cur++];
	r->dev = k->dev;
	r->ino = k->ino;
	r->size = k->size;
	r->mtime_ns = k->mtime_ns;
	r->ctime_ns = k->ctime_ns;
	r->run = c->run;
	r->oid = *oid;
	c->dirty = true;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	const struct sc_rec *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	/* the newest first */
	return x->run > y->run ? -1 : x->run < y->run;
}

static int cmp_run(const void *a, const void *b)
{
	const struct sc_rec *x = a, *y = b;

	return x->run > y->run ? -1 : x->run < y->run;
}

int udos__statcache_save(udos__statcache *c, udos_store *st)
{
	struct sc_rec *all = NULL;
	uint8_t *buf = NULL;
	size_t n = 0, i, len;
	int rc = 0;

	if (!c || !c->dirty)
		return 0;
	all = malloc((c->n_old + c->n_cur + 1) * sizeof(*all));
	if (!all)
		return udos__err(-ENOMEM, "out of memory (stat cache)");
	/* entries of recent runs, then what this run saw; one per (dev, ino),
	 * the newest */
	for (i = 0; i < c->n_old; i++)
		if (c->old[i].run + SC_KEEP_RUNS > c->run)
			all[n++] = c->old[i];
	memcpy(all + n, c->cur, c->n_cur * sizeof(*all));
	n += c->n_cur;
	qsort(all, n, sizeof(*all), cmp_key);
	len = 0;
	for (i = 0; i < n; i++) {
		if (len && all[len - 1].dev == all[i].dev &&
		    all[len - 1].ino == all[i].ino)
			continue;
		all[len++] = all[i];
	}
	n = len;
	if (n > SC_MAX) {
		qsort(all, n, sizeof(*all), cmp_run);
		n = SC_MAX;
	}
	len = SC_HDR + n * SC_REC + SC_TRAILER;
	buf = calloc(1, len);
	if (!buf) {
		rc = udos__err(-ENOMEM, "out of memory (stat cache)");
		goto done;
	}
	memcpy(buf, SC_MAGIC, 8);
	udos__put_le32(buf + 8, 1);
	udos__put_le32(buf + 12, SC_REC);
	memcpy(buf + 16, st->uuid, 16);
	udos__put_le64(buf + 32, c->run);
	udos__put_le64(buf + 40, n);
	udos__put_le32(buf + 48, (uint32_t)st->hash_type);
	for (i = 0; i < n; i++)
		rec_encode(buf + SC_HDR + i * SC_REC, &all[i]);
	udos__put_le64(buf + len - SC_TRAILER,
		       udos__xxh3(buf, len - SC_TRAILER));
	/* temp file, fsync, rename: a reader sees the old cache or the new
	 * one (and the checksum guards against anything else) */
	rc = udos__write_file_atomic(st->dirfd, SC_NAME, buf, len);
	if (rc < 0)
		rc = udos__err(rc, "cannot write '%s/%s': %s", st->path,
			       SC_NAME, strerror(-rc));
	else
		c->dirty = false;
done:
	free(buf);
	free(all);
	return rc;
}

int udos__statcache_drop(udos_store *st)
{
	if (unlinkat(st->dirfd, SC_NAME, 0) < 0 && errno != ENOENT)
		return udos__err(-errno, "cannot remove '%s/%s': %s", st->path,
				 SC_NAME, strerror(errno));
	return 0;
}
