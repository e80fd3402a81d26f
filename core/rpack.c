/* rpack.c - read-through of evicted packs: the pack layer's remote backend.
 *
 * An evicted pack (packs/N.rec here, packs/N only in the remote) opens as
 * a sparse cache file cache/<id>-<sha> of the pack's size, plus
 * cache/<id>-<sha>.map holding one byte per 64 KiB block (1 = cached).
 * Readers pread the cache file as they would packs/N, after
 * udos__packfile_need has fetched the blocks they are about to read: the
 * missing ones, each run of neighbours in one ranged GET, runs in
 * parallel. A block's map byte is set only after its bytes are written,
 * so a reader in another process never takes a hole for data; readers
 * check the XXH3 of every record read to its end, as for local packs.
 * The cache is bounded: past its size, whole pack files are removed,
 * least recently fetched first (a process holding one keeps reading its
 * unlinked copy). */
#include "remote_manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK (64u << 10)
#define PARALLEL 4

struct udos__rpack {
	udos_store *st;
	udos__remote *rm;
	udos__mpack p;
	int fd, mapfd;
	char name[96];
};

void udos__remote_free(udos__remote *rm)
{
	if (!rm)
		return;
	udos__s3_free(rm->s3);
	udos__manifest_release(&rm->man);
	if (rm->cachefd >= 0)
		close(rm->cachefd);
	pthread_mutex_destroy(&rm->mu);
	free(rm);
}

static udos__remote *remote_of(udos_store *st)
{
	udos__remote *rm;

	pthread_mutex_lock(&st->mu);
	rm = st->remote;
	if (!rm) {
		rm = udos__calloc(1, sizeof(*rm));
		if (rm) {
			pthread_mutex_init(&rm->mu, NULL);
			rm->cachefd = -1;
			st->remote = rm;
		}
	}
	pthread_mutex_unlock(&st->mu);
	return rm;
}

void udos__remote_reset(udos_store *st)
{
	udos__remote *rm = remote_of(st);

	if (!rm)
		return;
	pthread_mutex_lock(&rm->mu);
	udos__manifest_release(&rm->man);
	udos__s3_free(rm->s3);
	rm->s3 = NULL;
	rm->loaded = rm->have = false;
	pthread_mutex_unlock(&rm->mu);
}

/* with rm->mu held */
static int load(udos_store *st, udos__remote *rm)
{
	int rc;

	if (rm->loaded)
		return 0;
	rc = udos__remote_conf_read(&rm->conf, st->dirfd);
	if (rc == 0)
		rc = udos__manifest_load(&rm->man, st);
	if (rc == UDOS_ENOTFOUND) {
		rm->loaded = true;
		rm->have = false;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (rm->cachefd < 0) {
		if (mkdirat(st->dirfd, UDOS__CACHE_DIR, 0755) < 0 &&
		    errno != EEXIST)
			return udos__err(-errno, "cannot create '%s/%s'",
					 st->path, UDOS__CACHE_DIR);
		rm->cachefd = openat(st->dirfd, UDOS__CACHE_DIR,
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rm->cachefd < 0)
			return udos__err(-errno, "cannot open '%s/%s'",
					 st->path, UDOS__CACHE_DIR);
	}
	rm->loaded = rm->have = true;
	return 0;
}

int udos__rpack_open(struct udos__rpack **rp_out, int *fd_out, udos_store *st,
		     uint32_t id)
{
	udos__remote *rm = remote_of(st);
	struct udos__rpack *rp = NULL;
	const udos__mpack *p;
	char mapname[128];
	struct stat sb;
	uint64_t nblk;
	int rc;

	*rp_out = NULL;
	*fd_out = -1;
	if (!rm)
		return udos__err(-ENOMEM, "out of memory");
	pthread_mutex_lock(&rm->mu);
	rc = load(st, rm);
	if (rc < 0)
		goto out;
	p = rm->have ? udos__manifest_find(&rm->man, id) : NULL;
	/* evicted means packs/N.rec here and the data there; a pack a repack
	 * removed since the push is gone, whatever the manifest says */
	udos__recs_relpath(mapname, sizeof(mapname), id);
	if (p && faccessat(st->dirfd, mapname, F_OK, 0) < 0)
		p = NULL;
	if (!p) {
		rc = UDOS_ENOTFOUND;
		goto out;
	}
	rp = udos__calloc(1, sizeof(*rp));
	if (!rp) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto out;
	}
	rp->st = st;
	rp->rm = rm;
	rp->p = *p;
	rp->fd = rp->mapfd = -1;
	snprintf(rp->name, sizeof(rp->name), "%" PRIu32 "-%.16s", id, p->sha);
	snprintf(mapname, sizeof(mapname), "%s.map", rp->name);
	nblk = (p->size + BLOCK - 1) / BLOCK;
	rp->fd = openat(rm->cachefd, rp->name, O_RDWR | O_CREAT | O_CLOEXEC,
			0644);
	if (rp->fd >= 0)
		rp->mapfd = openat(rm->cachefd, mapname,
				   O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (rp->fd < 0 || rp->mapfd < 0 || fstat(rp->fd, &sb) < 0 ||
	    ((uint64_t)sb.st_size != p->size &&
	     ftruncate(rp->fd, (off_t)p->size) < 0) ||
	    fstat(rp->mapfd, &sb) < 0 ||
	    ((uint64_t)sb.st_size != nblk &&
	     ftruncate(rp->mapfd, (off_t)nblk) < 0)) {
		rc = udos__err(-errno, "cannot open the cache of pack %" PRIu32
			       " in '%s/%s': %s", id, st->path,
			       UDOS__CACHE_DIR, udos_strerror(-errno));
		goto out;
	}
	futimens(rp->mapfd, NULL);
	*fd_out = rp->fd;
	*rp_out = rp;
	rp = NULL;
	rc = 0;
out:
	pthread_mutex_unlock(&rm->mu);
	udos__rpack_close(rp);
	return rc;
}

void udos__rpack_close(struct udos__rpack *rp)
{
	if (!rp)
		return;
	/* rp->fd belongs to the packfile (closed with it) once opened */
	if (rp->mapfd >= 0)
		close(rp->mapfd);
	free(rp);
}

struct centry {
	char name[128];
	uint64_t bytes;
	int64_t mtime;
};

static int by_mtime(const void *a, const void *b)
{
	const struct centry *x = a, *y = b;
	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Sum the cache (and, with `bound`, remove the least recently fetched
 * packs until it is under 3/4 of it, `keep` excepted). */
static uint64_t cache_walk(int cachefd, uint64_t bound, const char *keep)
{
	struct centry *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *de;
	DIR *d;
	int fd = dup(cachefd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		struct stat sb, ms;
		char map[160];
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || (l > 4 && !strcmp(de->d_name + l - 4,
							      ".map")))
			continue;
		/* cache files are named by pack: a longer name is not one */
		if (l >= sizeof(v->name) || l + sizeof(".map") > sizeof(map) ||
		    fstatat(cachefd, de->d_name, &sb, 0) < 0)
			continue;
		memcpy(map, de->d_name, l);
		memcpy(map + l, ".map", sizeof(".map"));
		if (fstatat(cachefd, map, &ms, 0) < 0)
			ms = sb;
		total += (uint64_t)sb.st_blocks * 512;
		if (!bound)
			continue;
		if (n == cap) {
			size_t c = cap ? 2 * cap : 32;
			struct centry *nv = realloc(v, c * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
			cap = c;
		}
		memcpy(v[n].name, de->d_name, l + 1);
		v[n].bytes = (uint64_t)sb.st_blocks * 512;
		v[n].mtime = (int64_t)ms.st_mtim.tv_sec * 1000000000 +
			     ms.st_mtim.tv_nsec;
		n++;
	}
	closedir(d);
	if (bound && total > bound) {
		qsort(v, n, sizeof(*v), by_mtime);
		for (size_t i = 0; i < n && total > bound / 4 * 3; i++) {
			char map[160];
			if (keep && !strcmp(v[i].name, keep))
				continue;
			snprintf(map, sizeof(map), "%s.map", v[i].name);
			/* the map first: a block is never "cached" in a file
			 * that is going away */
			unlinkat(cachefd, map, 0);
			unlinkat(cachefd, v[i].name, 0);
			total -= v[i].bytes;
		}
	}
	free(v);
	return total;
}

uint64_t udos__rpack_cached(udos_store *st)
{
	int fd = openat(st->dirfd, UDOS__CACHE_DIR,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint64_t total;

	if (fd < 0)
		return 0;
	total = cache_walk(fd, 0, NULL);
	close(fd);
	return total;
}

/* The pack's object is gone: a newer generation dropped it (a repack) and
 * 'remote gc' deleted it. A clone catches up by pulling. */
static int gone_err(const struct udos__rpack *rp)
{
	const udos__remote *rm = rp->rm;

	if (rm->conf.clone)
		return udos__err(-ESTALE, "pack %" PRIu32 " is no longer on "
				 "'%s' (a newer manifest generation dropped "
				 "it): run 'udos pull' in '%s'", rp->p.id,
				 rm->conf.url, rp->st->path);
	return udos__err(-ESTALE, "pack %" PRIu32 " of manifest generation %"
			 PRIu64 " is no longer on '%s' (deleted by another "
			 "writer's 'remote gc')", rp->p.id,
			 rm->man.generation, rm->conf.url);
}

int udos__rpack_fetch(struct udos__rpack *rp, uint64_t off, uint64_t len)
{
	udos__remote *rm = rp->rm;
	udos__s3_req *reqs = NULL, **rv = NULL;
	uint8_t *map = NULL;
	uint64_t b0, b1, nb, fetched = 0;
	size_t nr = 0;
	ssize_t got;
	int rc = 0;

	if (!len)
		return 0;
	if (off > rp->p.size || len > rp->p.size - off)
		return udos__err(UDOS_ECORRUPT, "range %" PRIu64 "+%" PRIu64
				 " lies past the end of remote pack %" PRIu32
				 " (%" PRIu64 " bytes)", off, len, rp->p.id,
				 rp->p.size);
	b0 = off / BLOCK;
	b1 = (off + len - 1) / BLOCK;
	nb = b1 - b0 + 1;
	map = udos__alloc(nb);
	if (!map)
		return udos__err(-ENOMEM, "out of memory");
	pthread_mutex_lock(&rm->mu);
	got = udos__pread_full(rp->mapfd, map, nb, b0);
	if (got < 0) {
		rc = udos__err((int)got, "cannot read the cache map of pack %"
			       PRIu32, rp->p.id);
		goto out;
	}
	if ((uint64_t)got < nb)
		memset(map + got, 0, nb - (uint64_t)got);
	/* runs of missing blocks, one GET each */
	for (uint64_t i = 0; i < nb; i++)
		if (map[i] != 1 && (i == 0 || map[i - 1] == 1))
			nr++;
	if (!nr)
		goto out;
	reqs = udos__calloc(nr, sizeof(*reqs));
	rv = udos__calloc(nr, sizeof(*rv));
	if (!reqs || !rv) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto out;
	}
	/* remote set or pull reset it: read remote.conf again */
	if (!rm->loaded && (rc = load(rp->st, rm)) < 0)
		goto out;
	if (!rm->s3 && (rc = udos__remote_connect(&rm->s3, &rm->conf)) < 0)
		goto out;
	nr = 0;
	for (uint64_t i = 0; i < nb;) {
		uint64_t j = i, s, e;
		if (map[i] == 1) {
			i++;
			continue;
		}
		while (j < nb && map[j] != 1)
			j++;
		s = (b0 + i) * BLOCK;
		e = (b0 + j) * BLOCK;
		if (e > rp->p.size)
			e = rp->p.size;
		udos__s3_req_init(&reqs[nr], "GET", "");
		udos__mpack_key(reqs[nr].key, sizeof(reqs[nr].key), &rp->p,
				false);
		reqs[nr].range_off = s;
		reqs[nr].range_len = e - s;
		reqs[nr].out_fd = rp->fd;
		reqs[nr].out_off = s;
		rv[nr] = &reqs[nr];
		nr++;
		i = j;
	}
	rc = udos__s3_run(rm->s3, rv, nr, PARALLEL);
	for (size_t k = 0; rc == 0 && k < nr; k++)
		if (reqs[k].status == 404)
			rc = gone_err(rp);
		else if (reqs[k].status != 206 && reqs[k].status != 200)
			rc = udos__s3_status_err(rm->s3, &reqs[k]);
	if (rc < 0)
		goto out;
	for (size_t k = 0; k < nr; k++) {
		uint64_t s = reqs[k].range_off / BLOCK;
		uint64_t e = (reqs[k].range_off + reqs[k].range_len + BLOCK -
			      1) / BLOCK;
		for (uint64_t i = s; i < e; i++)
			map[i - b0] = 1;
		fetched += reqs[k].range_len;
	}
	/* data first (written above), then the map */
	rc = udos__pwrite_all(rp->mapfd, map, nb, b0);
	if (rc < 0) {
		rc = udos__err(rc, "cannot write the cache map of pack %" PRIu32,
			       rp->p.id);
		goto out;
	}
	futimens(rp->mapfd, NULL);
	rm->since_trim += fetched;
	{
		uint64_t bound = rm->conf.cache_size ? rm->conf.cache_size
						     : UDOS__DEFAULT_CACHE;
		if (rm->since_trim > bound / 8) {
			cache_walk(rm->cachefd, bound, rp->name);
			rm->since_trim = 0;
		}
	}
out:
	pthread_mutex_unlock(&rm->mu);
	for (size_t k = 0; reqs && k < nr; k++)
		udos__s3_req_release(&reqs[k]);
	free(reqs);
	free(rv);
	free(map);
	return rc;
}
