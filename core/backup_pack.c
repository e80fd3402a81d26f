/* backup_pack.c - the packs of a backup: for each committed pack, what of
 * the copy's pack is good (what the last finished backup synced, then
 * record by record against the source), its new tail appended, or the
 * whole pack copied aside when the copy's index may point into what
 * differs; an evicted pack's record file alone, or its data fetched
 * through the remote (docs/FORMAT.md "Backup folders"). */
#include "backup_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* bytes [from, to) of `in` to the same place in `out` */
int udos__bk_copy_range(struct udos__bk *b, int in, int out, uint64_t from,
		      uint64_t to)
{
	loff_t ioff = (loff_t)from, ooff = (loff_t)from;
	bool plain = false;

	while ((uint64_t)ioff < to) {
		size_t want = to - (uint64_t)ioff < UDOS__BK_CHUNK
				      ? (size_t)(to - (uint64_t)ioff)
				      : UDOS__BK_CHUNK;
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
static int good_prefix(struct udos__bk *b, int sr, int dd, int dr,
		       uint64_t size, uint64_t rsize, const udos__bk_pack *t, uint64_t *vd,
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

void udos__bk_tmp_names(char *data, char *rec, size_t cap, uint32_t id)
{
	snprintf(data, cap, "sandbox/" UDOS__BK_TMP "pack-%" PRIu32, id);
	snprintf(rec, cap, "sandbox/" UDOS__BK_TMP "pack-%" PRIu32 ".rec", id);
}

/* the whole pack into sandbox/, put in place once the new index is */
static int copy_aside(struct udos__bk *b, uint32_t id, const int src[2],
		      uint64_t size, uint64_t rsize)
{
	char tmp[64], rtmp[64];
	int out[2] = { -1, -1 }, rc;

	udos__bk_tmp_names(tmp, rtmp, sizeof(tmp), id);
	rc = open_pair(out, b->dfd, tmp, rtmp, O_RDWR | O_CREAT | O_TRUNC);
	if (rc == 0)
		rc = udos__bk_copy_range(b, src[0], out[0], 0, size);
	if (rc == 0)
		rc = udos__bk_copy_range(b, src[1], out[1], 0, rsize);
	if (rc == 0)
		rc = udos__bk_state_add(&b->swapped, id, size, rsize);
	else
		rc = udos__bk_fail(b, rc, "copy into", tmp);
	if (rc == 0) {
		b->res->pack_bytes += size + rsize;
		b->res->packs_recopied++;
	}
	close_pair(out);
	return rc;
}

/* src[0] (pack data) up to `size` bytes into packs/N and src[1] up to
 * `rsize` into packs/N.rec */
static int backup_pack_fds(struct udos__bk *b, uint32_t id, const int src[2],
			   uint64_t size, uint64_t rsize)
{
	const udos__bk_pack *t =
		b->old.synced ? udos__bk_state_find(&b->old, id) : NULL;
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
		rc = udos__bk_fail(b, rc, "read", rel);
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
		rc = udos__bk_fail(b, -errno, "truncate", rel);
		goto done;
	}
	b->prog.bytes_done += vd + vr;
	rc = udos__bk_copy_range(b, src[0], dst[0], vd, size);
	if (rc == 0)
		rc = udos__bk_copy_range(b, src[1], dst[1], vr, rsize);
	if (rc < 0) {
		rc = udos__bk_fail(b, rc, "copy into", rel);
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
static int backup_pack(struct udos__bk *b, uint32_t id, uint64_t size,
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
static int copy_recs(struct udos__bk *b, uint32_t id, int sr, uint64_t rsize)
{
	char tmp[64], rtmp[64], rrel[64];
	uint8_t *x = NULL;
	struct stat sb;
	int fd, out = -1, rc = 0;
	bool same = false;

	udos__recs_relpath(rrel, sizeof(rrel), id);
	fd = openat(b->dfd, rrel, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &sb) == 0 && (uint64_t)sb.st_size == rsize) {
		x = udos__alloc(UDOS__BK_CHUNK);
		same = x != NULL;
		for (uint64_t at = 0; same && at < rsize;
		     at += UDOS__BK_CHUNK) {
			size_t n = rsize - at < UDOS__BK_CHUNK
					   ? (size_t)(rsize - at)
					   : UDOS__BK_CHUNK;
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
	udos__bk_tmp_names(tmp, rtmp, sizeof(tmp), id);
	out = openat(b->dfd, rtmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		     0644);
	if (out < 0)
		rc = -errno;
	if (rc == 0)
		rc = udos__bk_copy_range(b, sr, out, 0, rsize);
	if (out >= 0)
		close(out);
	if (rc < 0)
		return udos__bk_fail(b, rc, "copy into", rtmp);
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
static int backup_evicted(struct udos__bk *b, const udos__mpack *p,
			  uint64_t rsize)
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
		rc = udos__bk_fail(b, rc, "read", rel);
		goto done;
	}
	if (vd == p->size && vr == rsize) {
		/* the copy holds it whole: nothing to copy (its data is in
		 * the progress total only when fetching) */
		bool fetch = b->flags & UDOS_BACKUP_FETCH_EVICTED;
		b->res->packs += 2;
		b->prog.done += fetch ? 2 : 1;
		b->prog.bytes_done += (fetch ? p->size : 0) + rsize;
		rc = udos__bk_state_add(&b->now, p->id, p->size, rsize);
	} else if (b->flags & UDOS_BACKUP_FETCH_EVICTED) {
		rc = udos__remote_pack_whole(&pf, b->st, p);
		if (rc == 0) {
			src[0] = dup(pf->fd);
			if (src[0] < 0)
				rc = udos__bk_fail(b, -errno, "read", rel);
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
static int pack_sizes(struct udos__bk *b, const udos__tail *t, uint32_t id,
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

int udos__bk_packs(struct udos__bk *b)
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
		bool data = k == 0 || b->flags & UDOS_BACKUP_FETCH_EVICTED;
		if (k == 0 || k == 2) {
			b->prog.total += data ? 2 : 1;
			b->prog.bytes_total += (data ? size : 0) + rsize;
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
