/* recscan.c - walk the record entries of one pack from a given entry on,
 * checking each entry and its stored bytes: how the writer adopts records
 * its index has not seen, how repair rebuilds the index, and how validate
 * finds an index behind its packs. Packs are the source of truth; this is
 * the one place that decides which of their records are intact. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_ro(int *fd_out, uint64_t *size_out, udos_store *st,
		   const char *rel)
{
	struct stat sb;
	int fd = openat(st->dirfd, rel, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return udos__err(errno == ENOENT ? UDOS_ECORRUPT : -errno,
				 "cannot open '%s/%s': %s", st->path, rel,
				 udos_strerror(-errno));
	if (fstat(fd, &sb) < 0) {
		int rc = -errno;
		close(fd);
		return udos__err(rc, "cannot stat '%s/%s': %s", st->path, rel,
				 udos_strerror(rc));
	}
	*fd_out = fd;
	*size_out = (uint64_t)sb.st_size;
	return 0;
}

int udos__pack_scan(udos__scan *out, udos_store *st, uint32_t id,
		    uint64_t from_slot, uint64_t from_off, unsigned flags,
		    udos__scan_fn fn, void *ctx)
{
	uint8_t h[UDOS_RECS_HDR_SIZE], want[UDOS_RECS_HDR_SIZE];
	udos__packfile *pf = NULL;
	char rrel[64];
	uint64_t expect = from_off;
	bool in_run = true;
	struct stat sb;
	int dfd = -1, rfd = -1, rc;

	memset(out, 0, sizeof(*out));
	udos__recs_relpath(rrel, sizeof(rrel), id);
	rc = udos__packfile_get(&pf, st, id);
	if (rc == 0) {
		dfd = pf->fd;
		if (fstat(dfd, &sb) < 0)
			rc = udos__err(-errno, "cannot stat pack %u of '%s': %s",
				       id, st->path, udos_strerror(-errno));
		out->data_size = (uint64_t)sb.st_size;
		if (rc == 0)
			rc = udos__packfile_need(pf, 0, out->data_size);
	}
	if (rc == 0)
		rc = open_ro(&rfd, &out->recs_size, st, rrel);
	if (rc == UDOS_ECORRUPT && pf) { /* packs/N.rec missing */
		out->no_header = true;
		out->run_end = from_off;
		out->run_slots = from_slot;
		rc = 0;
		goto done;
	}
	if (rc < 0)
		goto done;
	udos__recs_header(want, st->uuid, id);
	if (out->recs_size < UDOS_RECS_HDR_SIZE ||
	    udos__pread_full(rfd, h, sizeof(h), 0) != sizeof(h)) {
		out->no_header = true; /* created, never synced: no records */
		out->run_end = from_off;
		out->run_slots = from_slot;
		goto done;
	}
	if (memcmp(h, want, sizeof(h))) {
		rc = udos__err(UDOS_ECORRUPT, "'%s/%s' has a bad header (or "
			       "belongs to another container)", st->path,
			       rrel);
		goto done;
	}
	out->slots = (out->recs_size - UDOS_RECS_HDR_SIZE) / UDOS_REC_SIZE;
	out->run_end = from_off;
	out->run_slots = from_slot;
	for (uint64_t k = from_slot; k < out->slots; k++) {
		udos__rec rec;
		int kind;

		memset(&rec, 0, sizeof(rec));
		kind = UDOS_FIND_RECORD_HEADER;
		rc = udos__rec_read(&rec, rfd, k);
		rec.pack_id = id;
		rec.slot = k;
		if (rc == 0)
			rc = udos__record_check(&rec, &kind, dfd,
						out->data_size,
						flags & UDOS__SCAN_FULL,
						st->hash_type);
		if (rc == UDOS_ECORRUPT) {
			out->bad++;
			in_run = false;
			rc = fn ? fn(ctx, &rec, kind) : 0;
			if (rc)
				goto done;
			continue;
		}
		if (rc < 0)
			goto done;
		if (in_run && rec.offset != expect)
			in_run = false;
		if (!in_run)
			out->stray++;
		out->intact++;
		expect = rec.offset + rec.stored_len;
		if (in_run) {
			out->run_end = expect;
			out->run_slots = k + 1;
		}
		if (fn) {
			rc = fn(ctx, &rec, 0);
			if (rc)
				goto done;
		}
	}
	rc = 0;
done:
	udos__packfile_put(pf);
	if (rfd >= 0)
		close(rfd);
	return rc;
}
