/* backup.c - an incremental, consistent copy of a container into a folder.
 *
 * Packs are append-only under one id, so a pack already in the copy needs
 * only its new tail; loose objects are immutable files named by their id.
 * The writer lock, held throughout, keeps packs and index still; the index
 * is a RocksDB checkpoint switched in once the rest is synced.
 *
 * Nothing of the copy is trusted that a backup did not see synced: the
 * folder's backup.state (backup_state.c) says how far each pack was synced
 * by the last backup that finished, and whether every loose file was;
 * anything past it is checked against the source before it is kept. A
 * pack region the copy's current index may point into is never rewritten
 * before the new index is in place (docs/FORMAT.md, "Backup folders"). */
#include "internal.h"
#include "remote_manifest.h"
#include "udos/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)
/* loose copies waiting in sandbox/ to be synced, then named */
#define LOOSE_BATCH 1024
#define TMP_PREFIX "backup-"

struct bk {
	udos_store *st;
	const char *dest;
	int dfd;
	udos_backup_result *res;
	udos_progress_fn progress;
	void *ctx;
	udos_progress prog; /* files: packs/N, packs/N.rec, loose objects */
	uint8_t *buf;
	udos__hash *sha;
	udos__bk_state old;     /* what the last finished backup synced */
	udos__bk_state now;     /* what this one has */
	udos__bk_state swapped; /* packs copied whole into sandbox/ */
	bool have_index;        /* the copy has an index readers may use */
	char (*loose)[128];     /* loose paths of the sandbox/ copies */
	size_t n_loose;
	unsigned flags;         /* enum udos_backup_flags */
	udos__manifest man;     /* the container's remote.manifest */
	udos__bk_state keep;    /* packs whose data the copy holds though
				   they are evicted here */
};

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
		b->prog.bytes_done += (uint64_t)n;
		if (b->progress)
			b->progress(b->ctx, &b->prog);
	}
	return 0;
}

static bool same_entry(int src_rec, int dst_rec, uint64_t at, size_t len,
		       uint8_t *entry_out)
{
	uint8_t a[UDOS_REC_SIZE];

	return udos__pread_full(src_rec, a, len, at) == (ssize_t)len &&
	       udos__pread_full(dst_rec, entry_out, len, at) == (ssize_t)len &&
	       !memcmp(a, entry_out, len);
}

/*
 * How much of the copy's pack is good, in *vd bytes of packs/N and *vr of
 * packs/N.rec (both 0: none of it). What the last finished backup synced
 * (t) is taken as it is when its last entry still equals the source's (a
 * pack id used again after a repack does not); each record past it must
 * have the source's entry and stored bytes matching the entry's XXH3.
 */
static int good_prefix(struct bk *b, int sr, int dd, int dr, uint64_t size,
		       uint64_t rsize, const udos__bk_pack *t, uint64_t *vd,
		       uint64_t *vr)
{
	uint8_t c[UDOS_REC_SIZE];
	uint64_t d = 0, r = UDOS_RECS_HDR_SIZE, dsize, rs;
	struct stat ds, rst;
	udos__rec rec;

	*vd = *vr = 0;
	if (fstat(dd, &ds) < 0 || fstat(dr, &rst) < 0)
		return -errno;
	dsize = (uint64_t)ds.st_size;
	rs = (uint64_t)rst.st_size < rsize ? (uint64_t)rst.st_size : rsize;
	if (rs < UDOS_RECS_HDR_SIZE ||
	    !same_entry(sr, dr, 0, UDOS_RECS_HDR_SIZE, c))
		return 0;
	if (t && t->rec_end > r && t->rec_end <= rs && t->data_end <= dsize &&
	    t->data_end <= size && !((t->rec_end - r) % UDOS_REC_SIZE)) {
		if (!same_entry(sr, dr, t->rec_end - UDOS_REC_SIZE,
				UDOS_REC_SIZE, c) ||
		    udos__rec_decode(&rec, c) < 0 ||
		    rec.offset + rec.stored_len != t->data_end)
			return 0;
		d = t->data_end;
		r = t->rec_end;
	}
	/* past what was synced: record by record, against the source */
	while (r + UDOS_REC_SIZE <= rs) {
		int kind;

		if (!same_entry(sr, dr, r, UDOS_REC_SIZE, c) ||
		    udos__rec_decode(&rec, c) < 0 || rec.offset != d ||
		    udos__record_check(&rec, &kind, dd, dsize, false,
				       b->st->hash_type) < 0)
			break;
		d += rec.stored_len;
		r += UDOS_REC_SIZE;
		b->res->verified_bytes += rec.stored_len + UDOS_REC_SIZE;
	}
	udos__err_clear();
	*vd = d;
	*vr = r;
	return 0;
}

static int open_pair(int fd[2], int dirfd, const char *a, const char *b,
		     int flags)
{
	fd[0] = openat(dirfd, a, flags | O_CLOEXEC, 0644);
	fd[1] = fd[0] < 0 ? -1 : openat(dirfd, b, flags | O_CLOEXEC, 0644);
	return fd[0] < 0 || fd[1] < 0 ? -errno : 0;
}

static void close_pair(int fd[2])
{
	for (int i = 0; i < 2; i++)
		if (fd[i] >= 0)
			close(fd[i]);
}

static void tmp_pack_names(char *data, char *rec, size_t cap, uint32_t id)
{
	snprintf(data, cap, "sandbox/" TMP_PREFIX "pack-%" PRIu32, id);
	snprintf(rec, cap, "sandbox/" TMP_PREFIX "pack-%" PRIu32 ".rec", id);
}

/* the whole pack into sandbox/, put in place once the new index is */
static int copy_aside(struct bk *b, uint32_t id, const int src[2],
		      uint64_t size, uint64_t rsize)
{
	char tmp[64], rtmp[64];
	int out[2] = { -1, -1 }, rc;

	tmp_pack_names(tmp, rtmp, sizeof(tmp), id);
	rc = open_pair(out, b->dfd, tmp, rtmp, O_RDWR | O_CREAT | O_TRUNC);
	if (rc == 0)
		rc = copy_range(b, src[0], out[0], 0, size);
	if (rc == 0)
		rc = copy_range(b, src[1], out[1], 0, rsize);
	if (rc == 0)
		rc = udos__bk_state_add(&b->swapped, id, size, rsize);
	else
		rc = fail(b, rc, "copy into", tmp);
	if (rc == 0) {
		b->res->pack_bytes += size + rsize;
		b->res->packs_recopied++;
	}
	close_pair(out);
	return rc;
}

/* src[0] (pack data) up to `size` bytes into packs/N and src[1] up to
 * `rsize` into packs/N.rec */
static int backup_pack_fds(struct bk *b, uint32_t id, const int src[2],
			   uint64_t size, uint64_t rsize)
{
	const udos__bk_pack *t = b->old.synced ? udos__bk_state_find(&b->old, id)
					       : NULL;
	int dst[2] = { -1, -1 }, rc;
	uint64_t vd, vr, ud = 0, ur = 0;
	char rel[64], rrel[64];
	struct stat ds, rs;

	udos__pack_relpath(rel, sizeof(rel), id);
	udos__recs_relpath(rrel, sizeof(rrel), id);
	rc = open_pair(dst, b->dfd, rel, rrel, O_RDWR | O_CREAT);
	if (rc == 0 && (fstat(dst[0], &ds) < 0 || fstat(dst[1], &rs) < 0))
		rc = -errno;
	if (rc == 0)
		rc = good_prefix(b, src[1], dst[0], dst[1], size, rsize, t,
				 &vd, &vr);
	if (rc < 0) {
		rc = fail(b, rc, "read", rel);
		goto done;
	}
	/* what the copy's index may point into: what the last finished
	 * backup synced, else (it lists nothing) all the copy has */
	if (t) {
		ud = t->data_end;
		ur = t->rec_end;
	} else if (b->have_index) {
		ud = (uint64_t)ds.st_size;
		ur = (uint64_t)rs.st_size;
	}
	if (vd < ud || vr < ur) {
		rc = copy_aside(b, id, src, size, rsize);
		b->prog.done += 2;
		goto done;
	}
	if (vr < UDOS_RECS_HDR_SIZE)
		b->res->packs_recopied++; /* new, or nothing of it held */
	if (((uint64_t)ds.st_size > vd && ftruncate(dst[0], (off_t)vd) < 0) ||
	    ((uint64_t)rs.st_size > vr && ftruncate(dst[1], (off_t)vr) < 0)) {
		rc = fail(b, -errno, "truncate", rel);
		goto done;
	}
	b->prog.bytes_done += vd + vr;
	rc = copy_range(b, src[0], dst[0], vd, size);
	if (rc == 0)
		rc = copy_range(b, src[1], dst[1], vr, rsize);
	if (rc < 0) {
		rc = fail(b, rc, "copy into", rel);
		goto done;
	}
	b->res->pack_bytes += size - vd + rsize - vr;
	b->res->packs += 2;
	b->prog.done += 2;
	if (b->progress)
		b->progress(b->ctx, &b->prog);
	rc = udos__bk_state_add(&b->now, id, size, rsize);
done:
	close_pair(dst);
	return rc;
}

/* packs/N up to `size` bytes and packs/N.rec up to `rsize` */
static int backup_pack(struct bk *b, uint32_t id, uint64_t size,
		       uint64_t rsize)
{
	int src[2] = { -1, -1 }, rc;
	char rel[64], rrel[64];

	udos__pack_relpath(rel, sizeof(rel), id);
	udos__recs_relpath(rrel, sizeof(rrel), id);
	rc = open_pair(src, b->st->dirfd, rel, rrel, O_RDONLY);
	if (rc < 0)
		rc = udos__err(rc, "cannot read '%s/%s': %s", b->st->path,
			       src[0] < 0 ? rel : rrel, udos_strerror(rc));
	else
		rc = backup_pack_fds(b, id, src, size, rsize);
	close_pair(src);
	return rc;
}

/* The record file of an evicted pack alone, when the copy's differs: a
 * record file is sealed with its pack, so it is whole or another one. It
 * goes in beside the swapped packs, once the new index is in place. */
static int copy_recs(struct bk *b, uint32_t id, int sr, uint64_t rsize)
{
	char tmp[64], rtmp[64], rrel[64];
	uint8_t *x = NULL;
	struct stat sb;
	int fd, out = -1, rc = 0;
	bool same = false;

	udos__recs_relpath(rrel, sizeof(rrel), id);
	fd = openat(b->dfd, rrel, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &sb) == 0 && (uint64_t)sb.st_size == rsize) {
		x = udos__alloc(CHUNK);
		same = x != NULL;
		for (uint64_t at = 0; same && at < rsize; at += CHUNK) {
			size_t n = rsize - at < CHUNK ? (size_t)(rsize - at)
						      : CHUNK;
			same = udos__pread_full(fd, x, n, at) == (ssize_t)n &&
			       udos__pread_full(sr, b->buf, n, at) ==
				       (ssize_t)n &&
			       !memcmp(x, b->buf, n);
		}
		free(x);
	}
	if (fd >= 0)
		close(fd);
	b->prog.done += 1;
	if (same) {
		b->prog.bytes_done += rsize;
		return udos__bk_state_add(&b->now, id, 0, rsize);
	}
	tmp_pack_names(tmp, rtmp, sizeof(tmp), id);
	out = openat(b->dfd, rtmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		     0644);
	if (out < 0)
		rc = -errno;
	if (rc == 0)
		rc = copy_range(b, sr, out, 0, rsize);
	if (out >= 0)
		close(out);
	if (rc < 0)
		return fail(b, rc, "copy into", rtmp);
	b->res->pack_bytes += rsize;
	/* data end 0: nothing to move but the record file */
	rc = udos__bk_state_add(&b->swapped, id, 0, rsize);
	if (rc == 0)
		rc = udos__bk_state_add(&b->now, id, 0, rsize);
	return rc;
}

/*
 * A pack evicted here (its data only on the remote). A whole copy of its
 * data that the copy already holds is kept; with
 * UDOS_BACKUP_FETCH_EVICTED the data is read whole through the
 * read-through cache, checked against its manifest SHA-256 and copied as
 * a local pack's would be; otherwise the copy takes the record file alone
 * and reads the data through the same remote (remote.conf and
 * remote.manifest are copied), and a partial copy of the data is removed
 * with what the source no longer has.
 */
static int backup_evicted(struct bk *b, const udos__mpack *p, uint64_t rsize)
{
	const udos__bk_pack *t = b->old.synced
					 ? udos__bk_state_find(&b->old, p->id)
					 : NULL;
	int dst[2] = { -1, -1 }, src[2] = { -1, -1 }, rc = 0;
	udos__packfile *pf = NULL;
	uint64_t vd = 0, vr = 0;
	char rel[64], rrel[64];

	udos__pack_relpath(rel, sizeof(rel), p->id);
	udos__recs_relpath(rrel, sizeof(rrel), p->id);
	src[1] = openat(b->st->dirfd, rrel, O_RDONLY | O_CLOEXEC);
	if (src[1] < 0)
		return udos__err(-errno, "cannot read '%s/%s': %s",
				 b->st->path, rrel, udos_strerror(-errno));
	if (open_pair(dst, b->dfd, rel, rrel, O_RDONLY) == 0)
		rc = good_prefix(b, src[1], dst[0], dst[1], p->size, rsize, t,
				 &vd, &vr);
	close_pair(dst);
	if (rc < 0) {
		rc = fail(b, rc, "read", rel);
		goto done;
	}
	if (vd == p->size && vr == rsize) {
		/* the copy holds it whole */
		b->res->packs += 2;
		b->prog.done += 2;
		b->prog.bytes_done += p->size + rsize;
		rc = udos__bk_state_add(&b->now, p->id, p->size, rsize);
	} else if (b->flags & UDOS_BACKUP_FETCH_EVICTED) {
		rc = udos__remote_pack_whole(&pf, b->st, p);
		if (rc == 0) {
			src[0] = dup(pf->fd);
			if (src[0] < 0)
				rc = fail(b, -errno, "read", rel);
		}
		if (rc == 0)
			rc = backup_pack_fds(b, p->id, src, p->size, rsize);
		if (rc == 0)
			b->res->evicted_fetched++;
	} else {
		rc = copy_recs(b, p->id, src[1], rsize);
		if (rc == 0)
			b->res->evicted++;
		goto done;
	}
	/* its data stays in the copy, though not here */
	if (rc == 0)
		rc = udos__bk_state_add(&b->keep, p->id, p->size, rsize);
done:
	close_pair(src);
	udos__packfile_put(pf);
	return rc;
}

/* The committed sizes of packs/N and packs/N.rec: 0, 1 when the pack is
 * gone (repacked), 2 when it is evicted (*ev its manifest entry), or
 * negative. */
static int pack_sizes(struct bk *b, const udos__tail *t, uint32_t id,
		      uint64_t *size, uint64_t *rsize, const udos__mpack **ev)
{
	char rel[64], rrel[64];
	struct stat ds, rs;

	udos__pack_relpath(rel, sizeof(rel), id);
	udos__recs_relpath(rrel, sizeof(rrel), id);
	if (fstatat(b->st->dirfd, rel, &ds, 0) < 0) {
		if (errno != ENOENT ||
		    fstatat(b->st->dirfd, rrel, &rs, 0) < 0 || !b->man.n)
			return 1; /* removed by a repack */
		*ev = udos__remote_evicted(&b->man, b->st, id,
					   (uint64_t)rs.st_size);
		if (!*ev)
			return udos__err(UDOS_ECORRUPT, "'%s/%s' is missing "
					 "and its remote does not list it",
					 b->st->path, rel);
		*size = (*ev)->size;
		*rsize = (uint64_t)rs.st_size;
		return 2;
	}
	if (fstatat(b->st->dirfd, rrel, &rs, 0) < 0)
		return udos__err(UDOS_ECORRUPT, "'%s/%s' is missing",
				 b->st->path, rrel);
	*size = (uint64_t)ds.st_size;
	*rsize = (uint64_t)rs.st_size;
	if (id == t->pack_id) {
		*size = t->end;
		*rsize = udos__rec_pos(t->slots);
	}
	return 0;
}

static int backup_packs(struct bk *b)
{
	udos__tail t = { 0 };
	uint64_t size, rsize;
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
	for (int64_t id = 0; b->progress && id <= max; id++) {
		const udos__mpack *ev = NULL;
		int k = pack_sizes(b, &t, (uint32_t)id, &size, &rsize, &ev);
		if (k == 0 || k == 2) {
			b->prog.total += 2;
			b->prog.bytes_total += size + rsize;
		}
	}
	udos__err_clear();
	for (int64_t id = 0; id <= max && rc == 0; id++) {
		const udos__mpack *ev = NULL;
		rc = pack_sizes(b, &t, (uint32_t)id, &size, &rsize, &ev);
		if (rc == 0)
			rc = backup_pack(b, (uint32_t)id, size, rsize);
		else if (rc == 2)
			rc = backup_evicted(b, ev, rsize);
		else if (rc == 1)
			rc = 0;
	}
	return rc;
}

/* The loose bytes loose_cb will read (copy or check), for the total. */
static int loose_size_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct bk *b = ctx;
	struct stat sb;

	if (oid && !(b->old.synced &&
		     faccessat(b->dfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0) &&
	    fstatat(b->st->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		b->prog.total++;
		b->prog.bytes_total += (uint64_t)sb.st_size;
	}
	return 0;
}

/* Put the sandbox/ copies in place, synced first: a loose file of the copy
 * is whole, so a later backup takes one it finds as it is. */
static int loose_flush(struct bk *b)
{
	if (!b->n_loose)
		return 0;
	if (syncfs(b->dfd) < 0)
		return fail(b, -errno, "sync", ".");
	for (size_t i = 0; i < b->n_loose; i++) {
		char tmp[64], dir[128];
		int rc;

		snprintf(tmp, sizeof(tmp), "sandbox/" TMP_PREFIX "loose-%zu",
			 i);
		snprintf(dir, sizeof(dir), "%s", b->loose[i]);
		*strrchr(dir, '/') = '\0';
		rc = udos__mkdir_p(b->dfd, dir, 0755);
		if (rc == 0 && renameat(b->dfd, tmp, b->dfd, b->loose[i]) < 0)
			rc = -errno;
		if (rc < 0)
			return fail(b, rc, "write", b->loose[i]);
	}
	b->n_loose = 0;
	return 0;
}

/* 1 when the copy's loose file holds the object, 0 when not */
static int loose_good(struct bk *b, const char *rel, const udos_oid *oid)
{
	uint64_t size = 0;
	udos_oid got;
	int fd, rc;

	fd = openat(b->dfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	rc = udos__hash_fd(&got, &size, b->sha, fd, b->buf, CHUNK);
	close(fd);
	if (rc < 0)
		return fail(b, rc, "read", rel);
	b->res->verified_bytes += size;
	b->prog.bytes_done += size;
	return !udos_oid_cmp(&got, oid);
}

static int loose_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct bk *b = ctx;
	char tmp[64];
	struct stat sb;
	int in, out = -1, rc;
	bool there;

	if (!oid)
		return 0;
	there = faccessat(b->dfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (there && b->old.synced)
		return 0;
	b->prog.done++; /* counted in the total by loose_size_cb */
	if (there) {
		rc = loose_good(b, rel, oid);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	in = udos__loose_open(b->st, oid);
	if (in < 0) /* UDOS_ENOTFOUND: packed and cleaned meanwhile */
		return in == UDOS_ENOTFOUND ? 0 : in;
	snprintf(tmp, sizeof(tmp), "sandbox/" TMP_PREFIX "loose-%zu",
		 b->n_loose);
	out = openat(b->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		     0644);
	if (out < 0 || fstat(in, &sb) < 0) {
		rc = fail(b, -errno, "write", tmp);
		goto done;
	}
	rc = copy_range(b, in, out, 0, (uint64_t)sb.st_size);
	if (rc < 0) {
		rc = fail(b, rc, "copy into", tmp);
		goto done;
	}
	snprintf(b->loose[b->n_loose++], sizeof(b->loose[0]), "%s", rel);
	b->res->loose_copied++;
	b->res->loose_bytes += (uint64_t)sb.st_size;
	if (b->n_loose == LOOSE_BATCH)
		rc = loose_flush(b);
done:
	close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* An empty folder, or one with config.json and no backup.state (made by a
 * udos before backup.state), is marked as this container's backup before
 * anything is written into it; one with anything else is refused. */
static int check_dest(struct bk *b)
{
	udos_store *d = NULL;
	udos_store_info info;
	int rc;

	rc = udos__bk_state_read(&b->old, b->dfd, b->dest);
	if (rc == 0) {
		if (strcmp(b->old.container_id, b->st->info.container_id))
			return udos__err(UDOS_EEXIST, "'%s' holds a backup of "
					 "another container (%s)", b->dest,
					 b->old.container_id);
		return 0;
	}
	if (rc != UDOS_ENOTFOUND)
		return rc;
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
		if (!empty)
			return udos__err(UDOS_EEXIST, "'%s' is not empty and "
					 "holds no udos container", b->dest);
	} else {
		rc = udos_store_open(&d, b->dest, 0);
		if (rc < 0)
			return rc;
		udos_store_info_get(&info, d);
		udos_store_close(d);
		if (strcmp(info.container_id, b->st->info.container_id))
			return udos__err(UDOS_EEXIST, "'%s' holds another "
					 "container (%s)", b->dest,
					 info.container_id);
	}
	return udos__bk_state_write(b->dfd, b->dest, &b->now); /* "started" */
}

/* sandbox/ files and index folders an interrupted backup left */
static void clean_leftovers(struct bk *b)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	udos__index_recover(b->dfd);
	b->have_index = faccessat(b->dfd, "index", F_OK, 0) == 0;
	if (b->have_index)
		udos__rm_tree(b->dfd, "index.old");
	udos__rm_tree(b->dfd, "index.new");
	fd = openat(b->dfd, "sandbox", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)))
		if (!strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
			unlinkat(dirfd(dir), de->d_name, 0);
	closedir(dir);
}

/*
 * Switch the copy's index to the checkpoint in index.new. Where
 * RENAME_EXCHANGE is missing (NFS, CIFS, most FUSE file systems): index to
 * index.old, then index.new to index; cut between the two, opening the
 * copy renames index.old back (udos__index_recover).
 */
static int switch_index(struct bk *b)
{
	int rc = 0;

	if (renameat2(b->dfd, "index.new", b->dfd, "index", RENAME_EXCHANGE) ==
	    0) {
		udos__rm_tree(b->dfd, "index.new"); /* now the previous index */
		return udos__fsync_dir(b->dfd, ".");
	}
	if (errno != ENOENT && errno != EINVAL && errno != ENOSYS &&
	    errno != EOPNOTSUPP)
		return fail(b, -errno, "switch", "index");
	if (renameat(b->dfd, "index", b->dfd, "index.old") < 0) {
		if (errno != ENOENT)
			return fail(b, -errno, "move aside", "index");
	} else {
		rc = udos__fsync_dir(b->dfd, ".");
	}
	if (rc == 0 && renameat(b->dfd, "index.new", b->dfd, "index") < 0)
		rc = -errno;
	if (rc == 0)
		rc = udos__fsync_dir(b->dfd, ".");
	if (rc < 0)
		return fail(b, rc, "switch", "index");
	udos__rm_tree(b->dfd, "index.old");
	return 0;
}

/* the packs copied whole, in place now that the index is the new one */
static int swap_packs(struct bk *b)
{
	int rc = 0;

	for (size_t i = 0; i < b->swapped.n && rc == 0; i++) {
		const udos__bk_pack *p = &b->swapped.packs[i];
		char tmp[64], rtmp[64], rel[64], rrel[64];

		tmp_pack_names(tmp, rtmp, sizeof(tmp), p->id);
		udos__pack_relpath(rel, sizeof(rel), p->id);
		udos__recs_relpath(rrel, sizeof(rrel), p->id);
		if (!p->data_end) {
			/* an evicted pack's record file alone (in b->now) */
			if (renameat(b->dfd, rtmp, b->dfd, rrel) < 0)
				rc = fail(b, -errno, "write", rrel);
			b->res->packs++;
			continue;
		}
		if (renameat(b->dfd, tmp, b->dfd, rel) < 0 ||
		    renameat(b->dfd, rtmp, b->dfd, rrel) < 0)
			rc = fail(b, -errno, "write", rel);
		if (rc == 0)
			rc = udos__bk_state_add(&b->now, p->id, p->data_end,
						p->rec_end);
		b->res->packs += 2;
	}
	if (rc == 0 && b->swapped.n)
		rc = udos__fsync_dir(b->dfd, "packs");
	if (rc == 0 && b->swapped.n)
		rc = udos__bk_state_write(b->dfd, b->dest, &b->now);
	return rc;
}

/* packs/N of a pack evicted here whose data the copy keeps */
static bool is_kept_data(struct bk *b, const char *rel)
{
	char *end;
	unsigned long id;

	if (strncmp(rel, "packs/", 6) || rel[6] < '0' || rel[6] > '9')
		return false;
	id = strtoul(rel + 6, &end, 10);
	return !*end && id <= UINT32_MAX &&
	       udos__bk_state_find(&b->keep, (uint32_t)id) != NULL;
}

/* remove from the copy what the source no longer has */
static int prune_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct bk *b = ctx;

	(void)oid;
	if (!oid && is_kept_data(b, rel))
		return 0;
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

/*
 * The order is what makes a cut anywhere safe: backup.state marks the
 * folder first; the index checkpoint is taken before packs and loose files
 * are copied (they then hold at least what it points at); one syncfs, then
 * backup.state says what is synced, then the index is switched; only then
 * are packs copied whole put in place and what the source dropped removed.
 */
static int run(struct bk *b)
{
	char p[4096];
	int rc;

	rc = check_dest(b);
	if (rc < 0)
		return rc;
	clean_leftovers(b);
	rc = udos__mkdir_p(b->dfd, "packs", 0755);
	if (rc == 0)
		rc = udos__mkdir_p(b->dfd, "loose", 0755);
	if (rc == 0)
		rc = udos__mkdir_p(b->dfd, "sandbox", 0755);
	if (rc < 0)
		return fail(b, rc, "write", ".");
	/* before any pack: the copy reads evicted packs through them */
	rc = udos__remote_backup_files(&b->man, b->st, b->dfd, b->dest);
	if (rc < 0)
		return rc;
	snprintf(p, sizeof(p), "%s/index.new", b->dest);
	pthread_rwlock_rdlock(&b->st->ixlock);
	rc = udos__index_checkpoint(b->st->ix, p);
	pthread_rwlock_unlock(&b->st->ixlock);
	/* the loose part of the progress total first: the packs' part is
	 * added as they are listed */
	if (rc == 0 && b->progress)
		rc = udos__loose_walk(b->st, loose_size_cb, b);
	if (rc == 0)
		rc = backup_packs(b);
	if (rc == 0)
		rc = udos__loose_walk(b->st, loose_cb, b);
	if (rc == 0)
		rc = loose_flush(b);
	if (rc == 0 && syncfs(b->dfd) < 0)
		rc = fail(b, -errno, "sync", ".");
	b->now.synced = true;
	if (rc == 0)
		rc = udos__bk_state_write(b->dfd, b->dest, &b->now);
	if (rc == 0)
		rc = switch_index(b);
	if (rc == 0)
		rc = swap_packs(b);
	if (rc == 0) /* last: from here on the folder is a container */
		rc = udos__config_write(b->dfd, &b->st->info);
	if (rc == 0)
		rc = prune(b);
	if (rc < 0) /* the old index stands (or comes back from index.old):
		       the checkpoint only takes space, which may be short */
		udos__rm_tree(b->dfd, "index.new");
	return rc;
}

/* DEST is the container or inside it, or the container is inside DEST */
static int check_nesting(udos_store *st, const char *dest)
{
	char parent[4096];
	bool exists = true;
	int fd, rc = 0;

	fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) { /* where it is to be made */
		snprintf(parent, sizeof(parent), "%s", dest);
		fd = open(dirname(parent), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		exists = false;
	}
	if (fd < 0)
		return 0; /* the mkdir or open that follows says why */
	if (udos__dir_within(fd, st->dirfd) == 1)
		rc = udos__err(-EINVAL, "cannot back up '%s' into '%s': it is "
			       "the container or a folder inside it", st->path,
			       dest);
	else if (exists && udos__dir_within(st->dirfd, fd) == 1)
		rc = udos__err(-EINVAL, "cannot back up '%s' into '%s': the "
			       "container is inside it", st->path, dest);
	close(fd);
	return rc;
}

int udos_store_backup(udos_backup_result *out, udos_store *st,
		      const char *dest, udos_progress_fn progress, void *ctx)
{
	return udos_store_backup_ex(out, st, dest, 0, progress, ctx);
}

int udos_store_backup_ex(udos_backup_result *out, udos_store *st,
			 const char *dest, unsigned flags,
			 udos_progress_fn progress, void *ctx)
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
	b.flags = flags;
	snprintf(b.now.container_id, sizeof(b.now.container_id), "%s",
		 st->info.container_id);
	rc = check_nesting(st, dest);
	if (rc < 0)
		return rc;
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
	if (b.dfd < 0) {
		rc = udos__err(-errno, "cannot open '%s': %s", dest,
			       udos_strerror(-errno));
		goto out;
	}
	b.buf = udos__alloc(CHUNK);
	b.loose = udos__calloc(LOOSE_BATCH, sizeof(*b.loose));
	rc = udos__hash_new(&b.sha, st->hash_type);
	if (rc == 0 && (!b.buf || !b.loose))
		rc = udos__err(-ENOMEM, "out of memory");
	if (rc == 0)
		rc = run(&b);
out:
	if (b.dfd >= 0)
		close(b.dfd);
	free(b.buf);
	free(b.loose);
	udos__hash_free(b.sha);
	udos__bk_state_release(&b.old);
	udos__bk_state_release(&b.now);
	udos__bk_state_release(&b.swapped);
	udos__bk_state_release(&b.keep);
	udos__manifest_release(&b.man);
	if (!had_lock) {
		int urc = udos_store_unlock_writer(st);
		if (rc == 0)
			rc = urc;
	}
	return rc;
}
