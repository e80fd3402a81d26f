/* packfile.c - the one owner of pack files: their names, the store's cache of
 * open packs (reference counted) and their removal.
 *
 * As git's packfile.c and libgit2's pack.h/mwindow.h do, every user of a
 * pack holds a counted reference to it, never a bare descriptor: the cache
 * holds one reference per open pack, each reader one more. Removing a pack
 * unlinks its files and drops the cache's reference; the descriptor closes
 * when the last reader puts its own, so a stream held across a repack goes
 * on reading the (unlinked) file it started on, never a file that reused
 * the descriptor's number. */
#include "internal.h"
#include "remote_manifest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void udos__pack_relpath(char *out, size_t cap, uint32_t pack_id)
{
	snprintf(out, cap, "packs/%" PRIu32, pack_id);
}

void udos__recs_relpath(char *out, size_t cap, uint32_t pack_id)
{
	snprintf(out, cap, "packs/%" PRIu32 ".rec", pack_id);
}

int64_t udos__packs_max_id(udos_store *st)
{
	int fd = openat(st->dirfd, "packs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t max = -1;
	struct dirent *de;
	DIR *d;

	if (fd < 0) {
		int rc = -errno;
		return udos__err(rc, "cannot open '%s/packs': %s", st->path,
				 udos_strerror(rc));
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return udos__err(-ENOMEM, "out of memory");
	}
	while ((de = readdir(d))) {
		char *end;
		unsigned long v;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		v = strtoul(de->d_name, &end, 10);
		/* an evicted pack leaves only N.rec */
		if ((*end && strcmp(end, ".rec")) || v > UINT32_MAX)
			continue;
		if ((int64_t)v > max)
			max = (int64_t)v;
	}
	closedir(d);
	return max;
}

/* ---- the cache of open packs ------------------------------------------- */

void udos__packcache_init(udos__packcache *c)
{
	pthread_mutex_init(&c->mu, NULL);
	c->by_id = NULL;
	c->n = 0;
}

void udos__packcache_release(udos__packcache *c)
{
	for (size_t i = 0; i < c->n; i++)
		udos__packfile_put(c->by_id[i]);
	free(c->by_id);
	c->by_id = NULL;
	c->n = 0;
	pthread_mutex_destroy(&c->mu);
}

/* Open packs/N and enter it in the cache; called with the cache locked. The
 * file is opened before the table grows, so an id read from a damaged
 * index never sizes an allocation. */
static int cache_open(udos__packfile **out, udos_store *st, uint32_t id)
{
	udos__packcache *c = &st->packs;
	udos__packfile *pf = NULL;
	struct udos__rpack *rp = NULL;
	char rel[64];
	int fd, rc;

	udos__pack_relpath(rel, sizeof(rel), id);
	fd = openat(st->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* evicted: read through the remote, when it lists the pack */
		rc = udos__rpack_open(&rp, &fd, st, id);
		if (rc < 0 && rc != UDOS_ENOTFOUND)
			return rc;
		if (rc == UDOS_ENOTFOUND)
			errno = ENOENT;
	}
	if (fd < 0) {
		rc = -errno;
		/* a pack the index names is missing: corruption, unless a
		 * repack moved its objects (the reader looks again) */
		return udos__err(rc == -ENOENT ? UDOS_ECORRUPT : rc,
				 "cannot open pack '%s/%s': %s", st->path, rel,
				 udos_strerror(rc));
	}
	if (id >= c->n) {
		size_t n = (size_t)id + 16;
		udos__packfile **p = realloc(c->by_id, n * sizeof(*p));
		if (!p) {
			rc = udos__err(-ENOMEM, "out of memory");
			goto fail;
		}
		memset(p + c->n, 0, (n - c->n) * sizeof(*p));
		c->by_id = p;
		c->n = n;
	}
	pf = udos__alloc(sizeof(*pf));
	if (!pf) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto fail;
	}
	atomic_init(&pf->refs, 1); /* the cache's */
	pf->fd = fd;
	pf->id = id;
	pf->remote = rp;
	c->by_id[id] = pf;
	*out = pf;
	return 0;
fail:
	close(fd);
	udos__rpack_close(rp);
	return rc;
}

int udos__packfile_get(udos__packfile **out, udos_store *st, uint32_t id)
{
	udos__packcache *c = &st->packs;
	udos__packfile *pf = NULL;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&c->mu);
	if (id < c->n && c->by_id[id])
		pf = c->by_id[id];
	else
		rc = cache_open(&pf, st, id);
	/* under the lock: the cache's own reference keeps refs above zero,
	 * so no put can free pf before this one counts */
	if (rc == 0)
		atomic_fetch_add(&pf->refs, 1);
	pthread_mutex_unlock(&c->mu);
	if (rc == 0)
		*out = pf;
	return rc;
}

void udos__packfile_put(udos__packfile *pf)
{
	/* seq_cst: every read through pf->fd by another holder happens
	 * before the close by the last one */
	if (pf && atomic_fetch_sub(&pf->refs, 1) == 1) {
		close(pf->fd);
		udos__rpack_close(pf->remote);
		free(pf);
	}
}

static int unlink_rel(udos_store *st, const char *rel)
{
	if (unlinkat(st->dirfd, rel, 0) < 0 && errno != ENOENT) {
		int rc = -errno;
		return udos__err(rc, "cannot remove '%s/%s': %s", st->path,
				 rel, udos_strerror(rc));
	}
	return 0;
}

int udos__packfile_remove(udos_store *st, uint32_t id)
{
	udos__packcache *c = &st->packs;
	udos__packfile *pf = NULL;
	char rel[64], rrel[64];
	int rc;

	udos__pack_relpath(rel, sizeof(rel), id);
	udos__recs_relpath(rrel, sizeof(rrel), id);
	/* Unlink and uncache under the cache lock: a get that opened the file
	 * between the two would leave an entry naming an unlinked file, to be
	 * read in place of a later pack with the same id. */
	pthread_mutex_lock(&c->mu);
	rc = unlink_rel(st, rel);
	if (rc == 0)
		rc = unlink_rel(st, rrel);
	if (id < c->n) {
		pf = c->by_id[id];
		c->by_id[id] = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	udos__packfile_put(pf); /* readers holding it keep the file open */
	return rc;
}

int udos__packfile_evict(udos_store *st, uint32_t id)
{
	udos__packcache *c = &st->packs;
	udos__packfile *pf = NULL;
	char rel[64];
	int rc;

	udos__pack_relpath(rel, sizeof(rel), id);
	pthread_mutex_lock(&c->mu);
	rc = unlink_rel(st, rel);
	if (id < c->n) {
		pf = c->by_id[id];
		c->by_id[id] = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	udos__packfile_put(pf);
	return rc;
}
