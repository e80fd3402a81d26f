/* backup.c - an incremental, consistent copy of a container into a folder.
 *
 * Packs are append-only under one id, so a pack already in the copy needs
 * only its new tail; loose objects are immutable files named by their id.
 * The writer lock, held throughout, keeps packs and index still; the index
 * is a RocksDB checkpoint switched in atomically once the rest is synced. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)

struct bk {
	udos_store *st;
	const char *dest;
	int dfd;
	udos_backup_result *res;
	udos_progress_fn progress;
	void *ctx;
	uint64_t done, total;
	uint8_t *buf;
};

static int rm_cb(const char *p, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

static void rm_rf(const char *dir, const char *rel)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int fail(struct bk *b, int rc, const char *what, const char *rel)
{
	return udos__err(rc, "cannot %s '%s/%s': %s", what, b->dest, rel,
			 udos_strerror(rc));
}

/* bytes [from, to) of `in` to the same place in `out` */
static int copy_range(struct bk *b, int in, int out, uint64_t from,
		      uint64_t to)
{
	loff_t ioff = (loff_t)from, ooff = (loff_t)from;
	bool plain = false;

	while ((uint64_t)ioff < to) {
		size_t want = to - (uint64_t)ioff < CHUNK
				      ? (size_t)(to - (uint64_t)ioff)
				      : CHUNK;
		ssize_t n = -1;
		int rc;

		if (!plain) {
			n = copy_file_range(in, &ioff, out, &ooff, want, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS ||
				      errno == EINVAL || errno == EOPNOTSUPP))
				plain = true;
			else if (n < 0)
				return -errno;
		}
		if (plain) {
			n = udos__pread_full(in, b->buf, want, (uint64_t)ioff);
			if (n < 0)
				return (int)n;
			if (n > 0) {
				rc = udos__pwrite_all(out, b->buf, (size_t)n,
						      (uint64_t)ooff);
				if (rc < 0)
					return rc;
			}
			ioff += n;
			ooff += n;
		}
		if (n == 0)
			return UDOS_ECORRUPT; /* the source shrank */
		b->done += (uint64_t)n;
		if (b->progress)
			b->progress(b->ctx, b->done, b->total);
	}
	return 0;
}

/*
 * How much of the copy's pack can stay: all of it when its record file is
 * a prefix of the source's (same header, same last entry) and its data
 * ends where that entry says; else nothing (a pack id used again after a
 * repack, or damage).
 */
static bool prefix_ok(int src_rec, int dst_rec, int dst_data,
		      uint64_t rsize, uint64_t size)
{
	uint8_t a[UDOS_REC_SIZE], c[UDOS_REC_SIZE];
	struct stat rs, ds;
	udos__rec r;
	uint64_t n, at;

	if (fstat(dst_rec, &rs) < 0 || fstat(dst_data, &ds) < 0 ||
	    (uint64_t)rs.st_size < UDOS_RECS_HDR_SIZE ||
	    (uint64_t)rs.st_size > rsize || (uint64_t)ds.st_size > size ||
	    ((uint64_t)rs.st_size - UDOS_RECS_HDR_SIZE) % UDOS_REC_SIZE)
		return false;
	if (udos__pread_full(src_rec, a, UDOS_RECS_HDR_SIZE, 0) !=
		    UDOS_RECS_HDR_SIZE ||
	    udos__pread_full(dst_rec, c, UDOS_RECS_HDR_SIZE, 0) !=
		    UDOS_RECS_HDR_SIZE ||
	    memcmp(a, c, UDOS_RECS_HDR_SIZE))
		return false;
	n = ((uint64_t)rs.st_size - UDOS_RECS_HDR_SIZE) / UDOS_REC_SIZE;
	if (!n)
		return ds.st_size == 0;
	at = udos__rec_pos(n - 1);
	return udos__pread_full(src_rec, a, sizeof(a), at) == sizeof(a) &&
	       udos__pread_full(dst_rec, c, sizeof(c), at) == sizeof(c) &&
	       !memcmp(a, c, sizeof(a)) && udos__rec_decode(&r, c) == 0 &&
	       r.offset + r.stored_len == (uint64_t)ds.st_size;
}

/* packs/N up to `size` bytes and packs/N.rec up to `rsize` */
static int backup_pack(struct bk *b, uint32_t id, uint64_t size,
		       uint64_t rsize)
{
	char rel[64], rrel[64];
	int sd = -1, sr = -1, dd = -1, dr = -1, rc = 0;
	struct stat ds, rs;

	udos__pack_relpath(rel, sizeof(rel), id);
	udos__recs_relpath(rrel, sizeof(rrel), id);
	sd = openat(b->st->dirfd, rel, O_RDONLY | O_CLOEXEC);
	sr = openat(b->st->dirfd, rrel, O_RDONLY | O_CLOEXEC);
	if (sd < 0 || sr < 0) {
		rc = udos__err(-errno, "cannot read '%s/%s': %s", b->st->path,
			       sd < 0 ? rel : rrel, udos_strerror(-errno));
		goto done;
	}
	dd = openat(b->dfd, rel, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	dr = openat(b->dfd, rrel, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (dd < 0 || dr < 0) {
		rc = fail(b, -errno, "write", dd < 0 ? rel : rrel);
		goto done;
	}
	if (!prefix_ok(sr, dr, dd, rsize, size)) {
		if (ftruncate(dd, 0) < 0 || ftruncate(dr, 0) < 0) {
			rc = fail(b, -errno, "truncate", rel);
			goto done;
		}
		b->res->packs_recopied++;
	}
	if (fstat(dd, &ds) < 0 || fstat(dr, &rs) < 0) {
		rc = fail(b, -errno, "stat", rel);
		goto done;
	}
	b->done += (uint64_t)ds.st_size + (uint64_t)rs.st_size;
	rc = copy_range(b, sd, dd, (uint64_t)ds.st_size, size);
	if (rc == 0)
		rc = copy_range(b, sr, dr, (uint64_t)rs.st_size, rsize);
	if (rc < 0) {
		rc = fail(b, rc, "copy into", rel);
		goto done;
	}
	b->res->pack_bytes += size - (uint64_t)ds.st_size + rsize -
			      (uint64_t)rs.st_size;
	b->res->packs += 2;
done:
	if (sd >= 0)
		close(sd);
	if (sr >= 0)
		close(sr);
	if (dd >= 0)
		close(dd);
	if (dr >= 0)
		close(dr);
	return rc;
}

static int backup_packs(struct bk *b)
{
	udos__tail t = { 0 };
	int64_t max;
	int rc;

	pthread_rwlock_rdlock(&b->st->ixlock);
	rc = udos__index_get_tail(b->st->ix, &t);
	pthread_rwlock_unlock(&b->st->ixlock);
	if (rc == UDOS_ENOTFOUND)
		return 0; /* never written: no packs yet */
	if (rc < 0)
		return rc;
	max = udos__packs_max_id(b->st);
	if (max < -1)
		return (int)max;
	/* what lies past the tail was never committed: not copied */
	if (max > (int64_t)t.pack_id)
		max = t.pack_id;
	for (int64_t id = 0; id <= max && rc == 0; id++) {
		char rel[64], rrel[64];
		struct stat ds, rs;

		udos__pack_relpath(rel, sizeof(rel), (uint32_t)id);
		udos__recs_relpath(rrel, sizeof(rrel), (uint32_t)id);
		if (fstatat(b->st->dirfd, rel, &ds, 0) < 0)
			continue; /* removed by a repack */
		if (fstatat(b->st->dirfd, rrel, &rs, 0) < 0)
			return udos__err(UDOS_ECORRUPT, "'%s/%s' is missing",
					 b->st->path, rrel);
		if (id == t.pack_id) {
			ds.st_size = (off_t)t.end;
			rs.st_size = (off_t)udos__rec_pos(t.slots);
		}
		rc = backup_pack(b, (uint32_t)id, (uint64_t)ds.st_size,
				 (uint64_t)rs.st_size);
	}
	return rc;
}

static int loose_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct bk *b = ctx;
	char tmp[64], dir[128];
	struct stat sb;
	int in, out, rc;

	if (!oid || faccessat(b->dfd, rel, F_OK, 0) == 0)
		return 0;
	in = udos__loose_open(b->st, oid);
	if (in < 0) /* UDOS_ENOTFOUND: packed and cleaned meanwhile */
		return in == UDOS_ENOTFOUND ? 0 : in;
	snprintf(tmp, sizeof(tmp), "sandbox/%d-backup", (int)getpid());
	out = openat(b->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		     0644);
	if (out < 0 || fstat(in, &sb) < 0) {
		rc = fail(b, -errno, "write", tmp);
		goto done;
	}
	rc = copy_range(b, in, out, 0, (uint64_t)sb.st_size);
	snprintf(dir, sizeof(dir), "%s", rel);
	*strrchr(dir, '/') = '\0';
	if (rc == 0)
		rc = udos__mkdir_p(b->dfd, dir, 0755);
	if (rc == 0 && renameat(b->dfd, tmp, b->dfd, rel) < 0)
		rc = -errno;
	if (rc < 0) {
		rc = fail(b, rc, "copy into", rel);
		goto done;
	}
	b->res->loose_copied++;
	b->res->loose_bytes += (uint64_t)sb.st_size;
done:
	close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* The copy is refused unless it is new, empty, or of this container. */
static int check_dest(struct bk *b)
{
	udos_store *d = NULL;
	udos_store_info info;
	int rc;

	if (faccessat(b->dfd, "config.json", F_OK, 0) < 0) {
		DIR *dir = fdopendir(dup(b->dfd));
		struct dirent *de;
		bool empty = true;

		if (!dir)
			return udos__err(-errno, "cannot list '%s'", b->dest);
		while ((de = readdir(dir)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = false;
		closedir(dir);
		return empty ? 0 : udos__err(UDOS_EEXIST, "'%s' is not empty "
					     "and holds no udos container",
					     b->dest);
	}
	rc = udos_store_open(&d, b->dest, 0);
	if (rc < 0)
		return rc;
	udos_store_info_get(&info, d);
	udos_store_close(d);
	if (strcmp(info.container_id, b->st->info.container_id))
		return udos__err(UDOS_EEXIST, "'%s' holds another container "
				 "(%s)", b->dest, info.container_id);
	return 0;
}

/* switch the copy's index to the checkpoint in index.new, atomically */
static int switch_index(struct bk *b)
{
	if (renameat2(b->dfd, "index.new", b->dfd, "index",
		      RENAME_EXCHANGE) == 0)
		rm_rf(b->dest, "index.new"); /* now the previous index */
	else if (errno != ENOENT ||
		 renameat(b->dfd, "index.new", b->dfd, "index") < 0)
		return fail(b, -errno, "switch", "index");
	return udos__fsync_dir(b->dfd, ".");
}

/* remove from the copy what the source no longer has */
static int prune_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct bk *b = ctx;

	(void)oid;
	if (faccessat(b->st->dirfd, rel, F_OK, 0) < 0 && errno == ENOENT &&
	    unlinkat(b->dfd, rel, 0) == 0)
		b->res->removed++;
	return 0;
}

static int prune(struct bk *b)
{
	udos_store *d = NULL;
	struct dirent *de;
	DIR *dir;
	int fd, rc;

	fd = openat(b->dfd, "packs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir)
		return fail(b, -errno, "list", "packs");
	while ((de = readdir(dir))) {
		char rel[300];

		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "packs/%s", de->d_name);
		prune_cb(b, rel, NULL);
	}
	closedir(dir);
	/* the copy is a container now: walk its loose objects */
	rc = udos_store_open(&d, b->dest, 0);
	if (rc == 0) {
		rc = udos__loose_walk(d, prune_cb, b);
		udos_store_close(d);
	}
	return rc;
}

static int run(struct bk *b)
{
	char p[4096];
	int rc;

	rc = check_dest(b);
	if (rc == 0)
		rc = udos__mkdir_p(b->dfd, "packs", 0755);
	if (rc == 0)
		rc = udos__mkdir_p(b->dfd, "loose", 0755);
	if (rc == 0)
		rc = udos__mkdir_p(b->dfd, "sandbox", 0755);
	if (rc < 0)
		return rc;
	/* the index first: packs and loose files copied after it hold at
	 * least what it points at */
	rm_rf(b->dest, "index.new");
	snprintf(p, sizeof(p), "%s/index.new", b->dest);
	pthread_rwlock_rdlock(&b->st->ixlock);
	rc = udos__index_checkpoint(b->st->ix, p);
	pthread_rwlock_unlock(&b->st->ixlock);
	if (rc == 0)
		rc = backup_packs(b);
	if (rc == 0)
		rc = udos__loose_walk(b->st, loose_cb, b);
	if (rc == 0)
		rc = udos__config_write(b->dfd, &b->st->info);
	if (rc == 0 && syncfs(b->dfd) < 0)
		rc = fail(b, -errno, "sync", ".");
	if (rc == 0)
		rc = switch_index(b);
	if (rc == 0)
		rc = prune(b);
	return rc;
}

int udos_store_backup(udos_backup_result *out, udos_store *st,
		      const char *dest, udos_progress_fn progress, void *ctx)
{
	udos_backup_result local;
	struct bk b = { 0 };
	bool had_lock;
	int rc;

	UDOS_ASSERT_ARG(st && dest);
	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	b.st = st;
	b.dest = dest;
	b.dfd = -1;
	b.res = out;
	b.progress = progress;
	b.ctx = ctx;
	pthread_mutex_lock(&st->mu);
	had_lock = st->lockfd >= 0;
	pthread_mutex_unlock(&st->mu);
	rc = udos_store_lock_writer(st);
	if (rc < 0)
		return rc;
	if (mkdir(dest, 0755) < 0 && errno != EEXIST) {
		rc = udos__err(-errno, "cannot create '%s': %s", dest,
			       udos_strerror(-errno));
		goto out;
	}
	b.dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	b.buf = udos__alloc(CHUNK);
	if (b.dfd < 0 || !b.buf) {
		rc = b.dfd < 0 ? udos__err(-errno, "cannot open '%s': %s",
					   dest, udos_strerror(-errno))
			       : udos__err(-ENOMEM, "out of memory");
		goto out;
	}
	rc = run(&b);
out:
	if (b.dfd >= 0)
		close(b.dfd);
	free(b.buf);
	if (!had_lock) {
		int urc = udos_store_unlock_writer(st);
		if (rc == 0)
			rc = urc;
	}
	return rc;
}
