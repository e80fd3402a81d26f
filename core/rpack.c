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
 * unlinked copy).
 *
 * Threads of one process fetch at once: each claims the missing blocks it
 * needs in the pack's `busy` table (under the pack's mutex, never held
 * across a request), fetches them on an S3 client of its own, and waits
 * only for blocks another thread has claimed. Processes do not coordinate:
 * two may fetch the same block and write the same bytes, which is
 * harmless (keys name content, and readers check what they read). */
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
	pthread_mutex_t mu; /* guards busy */
	pthread_cond_t cv;  /* a claim was released */
	uint8_t *busy;      /* per block: 1 while a thread here fetches it */
	uint64_t nblk;
};

static void drop_idle(udos__remote *rm)
{
	while (rm->n_idle)
		udos__s3_free(rm->idle[--rm->n_idle]);
}

void udos__remote_free(udos__remote *rm)
{
	if (!rm)
		return;
	drop_idle(rm);
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
	drop_idle(rm);
	rm->epoch++;
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
	pthread_mutex_init(&rp->mu, NULL);
	pthread_cond_init(&rp->cv, NULL);
	snprintf(rp->name, sizeof(rp->name), "%" PRIu32 "-%.16s", id, p->sha);
	snprintf(mapname, sizeof(mapname), "%s.map", rp->name);
	nblk = (p->size + BLOCK - 1) / BLOCK;
	rp->nblk = nblk;
	rp->busy = udos__calloc(nblk ? nblk : 1, 1);
	if (!rp->busy) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto out;
	}
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
	pthread_mutex_destroy(&rp->mu);
	pthread_cond_destroy(&rp->cv);
	free(rp->busy);
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

int udos__rpack_peek(int *fd_out, uint8_t **map_out, uint64_t *nblk_out,
		     udos_store *st, const udos__mpack *p)
{
	char name[96], map[128];
	uint64_t nblk = (p->size + BLOCK - 1) / BLOCK;
	uint8_t *m = NULL;
	ssize_t got;
	int dfd, fd = -1, mfd = -1, rc = UDOS_ENOTFOUND;

	*fd_out = -1;
	*map_out = NULL;
	*nblk_out = 0;
	snprintf(name, sizeof(name), "%" PRIu32 "-%.16s", p->id, p->sha);
	snprintf(map, sizeof(map), "%s.map", name);
	dfd = openat(st->dirfd, UDOS__CACHE_DIR,
		     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return UDOS_ENOTFOUND;
	/* the map first: a block it says is cached is in whatever data file
	 * is opened after it (data is written before its map byte) */
	mfd = openat(dfd, map, O_RDONLY | O_CLOEXEC);
	if (mfd >= 0)
		fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	close(dfd);
	if (fd < 0 || !nblk)
		goto out;
	m = udos__calloc(nblk, 1);
	if (!m) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto out;
	}
	got = udos__pread_full(mfd, m, nblk, 0);
	if (got < 0) {
		rc = UDOS_ENOTFOUND;
		goto out;
	}
	*fd_out = fd;
	*map_out = m;
	*nblk_out = nblk;
	fd = -1;
	m = NULL;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (mfd >= 0)
		close(mfd);
	free(m);
	return rc;
}

bool udos__rpack_peek_has(const uint8_t *map, uint64_t nblk, uint64_t off,
			  uint64_t len)
{
	uint64_t b1;

	if (!len)
		return true;
	b1 = (off + len - 1) / BLOCK;
	if (b1 >= nblk)
		return false;
	for (uint64_t b = off / BLOCK; b <= b1; b++)
		if (map[b] != 1)
			return false;
	return true;
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

udos__rpack_fetch_fn udos__rpack_fetch_hook;

/* An S3 client for this thread: an idle one, or a new one (remote.conf
 * read again after a reset). *epoch_out tells put_client whether it is
 * still current. */
static int take_client(udos__s3 **out, uint64_t *epoch_out,
		       struct udos__rpack *rp)
{
	udos__remote *rm = rp->rm;
	udos_remote_conf conf;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&rm->mu);
	if (!rm->loaded)
		rc = load(rp->st, rm);
	if (rc == 0 && !rm->have)
		rc = udos__err(UDOS_ECORRUPT, "pack %" PRIu32 " of '%s' is "
			       "evicted but the container has no remote any "
			       "more", rp->p.id, rp->st->path);
	*epoch_out = rm->epoch;
	if (rc == 0 && rm->n_idle)
		*out = rm->idle[--rm->n_idle];
	conf = rm->conf;
	pthread_mutex_unlock(&rm->mu);
	if (rc < 0 || *out)
		return rc;
	return udos__remote_connect(out, &conf);
}

static void put_client(udos__remote *rm, udos__s3 *s, uint64_t epoch)
{
	if (!s)
		return;
	pthread_mutex_lock(&rm->mu);
	if (epoch == rm->epoch && rm->n_idle < UDOS__RPACK_CLIENTS) {
		rm->idle[rm->n_idle++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&rm->mu);
	udos__s3_free(s);
}

/* GET the claimed runs of blocks [s, e) into the cache file, then set their
 * map bytes: data first, so that no reader takes a hole for data. */
static int fetch_runs(struct udos__rpack *rp, const uint64_t *runs, size_t nr)
{
	udos__remote *rm = rp->rm;
	udos__s3_req *reqs = udos__calloc(nr, sizeof(*reqs));
	udos__s3_req **rv = udos__calloc(nr, sizeof(*rv));
	uint8_t ones[256];
	udos__s3 *s3 = NULL;
	uint64_t epoch = 0, fetched = 0;
	int rc;

	if (!reqs || !rv) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto out;
	}
	if (udos__rpack_fetch_hook) { /* tests: no S3 */
		rc = 0;
		for (size_t k = 0; rc == 0 && k < nr; k++) {
			uint64_t s = runs[2 * k] * BLOCK;
			uint64_t e = runs[2 * k + 1] * BLOCK;
			e = e > rp->p.size ? rp->p.size : e;
			rc = udos__rpack_fetch_hook(&rp->p, rp->fd, s, e - s);
			reqs[k].range_len = e - s;
		}
		goto mark;
	}
	rc = take_client(&s3, &epoch, rp);
	if (rc < 0)
		goto out;
	for (size_t k = 0; k < nr; k++) {
		uint64_t s = runs[2 * k] * BLOCK, e = runs[2 * k + 1] * BLOCK;
		if (e > rp->p.size)
			e = rp->p.size;
		udos__s3_req_init(&reqs[k], "GET", "");
		udos__mpack_key(reqs[k].key, sizeof(reqs[k].key), &rp->p,
				false);
		reqs[k].range_off = s;
		reqs[k].range_len = e - s;
		reqs[k].out_fd = rp->fd;
		reqs[k].out_off = s;
		rv[k] = &reqs[k];
	}
	rc = udos__s3_run(s3, rv, nr, PARALLEL);
	for (size_t k = 0; rc == 0 && k < nr; k++)
		if (reqs[k].status == 404)
			rc = gone_err(rp);
		else if (reqs[k].status != 206 && reqs[k].status != 200)
			rc = udos__s3_status_err(s3, &reqs[k]);
mark:
	memset(ones, 1, sizeof(ones));
	for (size_t k = 0; rc == 0 && k < nr; k++) {
		uint64_t end = runs[2 * k + 1];
		for (uint64_t b = runs[2 * k]; rc == 0 && b < end;) {
			uint64_t n = end - b;
			if (n > sizeof(ones))
				n = sizeof(ones);
			rc = udos__pwrite_all(rp->mapfd, ones, (size_t)n, b);
			b += n;
		}
		if (rc < 0)
			rc = udos__err(rc, "cannot write the cache map of "
				       "pack %" PRIu32, rp->p.id);
		fetched += reqs[k].range_len;
	}
	if (rc == 0)
		futimens(rp->mapfd, NULL);
out:
	put_client(rm, s3, epoch);
	for (size_t k = 0; reqs && k < nr; k++)
		udos__s3_req_release(&reqs[k]);
	free(reqs);
	free(rv);
	if (rc == 0 && fetched) {
		uint64_t bound;
		bool trim;
		pthread_mutex_lock(&rm->mu);
		bound = rm->conf.cache_size ? rm->conf.cache_size
					    : UDOS__DEFAULT_CACHE;
		rm->since_trim += fetched;
		trim = rm->since_trim > bound / 8 && rm->cachefd >= 0;
		if (trim) {
			cache_walk(rm->cachefd, bound, rp->name);
			rm->since_trim = 0;
		}
		pthread_mutex_unlock(&rm->mu);
	}
	return rc;
}

int udos__rpack_fetch(struct udos__rpack *rp, uint64_t off, uint64_t len)
{
	uint8_t *map = NULL;
	uint64_t *runs = NULL;
	uint64_t b0, b1, nb;
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
	/* at most one run per two blocks, and one more */
	runs = udos__calloc(nb + 2, sizeof(*runs));
	if (!map || !runs) {
		free(map);
		free(runs);
		return udos__err(-ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&rp->mu);
	for (;;) {
		ssize_t got = udos__pread_full(rp->mapfd, map, nb, b0);
		bool waiting = false;
		size_t nr = 0;

		if (got < 0) {
			rc = udos__err((int)got, "cannot read the cache map "
				       "of pack %" PRIu32, rp->p.id);
			break;
		}
		if ((uint64_t)got < nb)
			memset(map + got, 0, nb - (uint64_t)got);
		/* claim the runs of missing blocks nobody here fetches */
		for (uint64_t i = 0; i < nb; i++) {
			bool want = map[i] != 1 && !rp->busy[b0 + i];
			if (map[i] != 1 && rp->busy[b0 + i])
				waiting = true;
			if (!want)
				continue;
			if (!nr || runs[2 * nr - 1] != b0 + i) {
				runs[2 * nr] = b0 + i;
				nr++;
			}
			runs[2 * nr - 1] = b0 + i + 1;
			rp->busy[b0 + i] = 1;
		}
		if (!nr && !waiting)
			break; /* all cached */
		if (!nr) {
			pthread_cond_wait(&rp->cv, &rp->mu);
			continue;
		}
		pthread_mutex_unlock(&rp->mu);
		rc = fetch_runs(rp, runs, nr);
		pthread_mutex_lock(&rp->mu);
		for (size_t k = 0; k < nr; k++)
			memset(rp->busy + runs[2 * k], 0,
			       runs[2 * k + 1] - runs[2 * k]);
		pthread_cond_broadcast(&rp->cv);
		if (rc < 0)
			break;
		/* look again: blocks others were fetching may have failed */
	}
	pthread_mutex_unlock(&rp->mu);
	free(map);
	free(runs);
	return rc;
}
