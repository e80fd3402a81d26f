/* fuzz_pack.c - fuzz the pack scanner: the fuzzed bytes become packs/0.rec
 * and packs/0 of a real, empty container (made once per process), then
 * udos_store_validate walks them (full). Findings are expected; crashes and
 * leaks not. Input: u32 LE length of the packs/0.rec part, that part, then
 * packs/0. */
#include "fuzz.h"
#include "internal.h"

#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;
static udos_store *st;

static int rm_cb(const char *p, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

static void cleanup(void)
{
	udos_store_close(st);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static void setup(void)
{
	udos_init_opts o = UDOS_INIT_OPTS_INIT;
	const char *base = getenv("TMPDIR");

	if (asprintf(&dir, "%s/udos-fuzz-XXXXXX", base && *base ? base
							       : "/tmp") < 0 ||
	    !mkdtemp(dir))
		abort();
	/* small packs are the norm here; the target only matters to writers */
	o.pack_size_target = 1 << 20;
	if (udos_store_init(dir, &o) < 0 || udos_store_open(&st, dir, 0) < 0) {
		fprintf(stderr, "fuzz_pack: %s\n", udos_error_detail());
		abort();
	}
	atexit(cleanup);
}

static int on_finding(void *ctx, const udos_finding *f)
{
	(void)ctx;
	/* touch every field, so that a dangling pointer shows */
	if (!f->message || strlen(f->message) > 4096 ||
	    (f->path && strlen(f->path) > 4096))
		abort();
	return 0;
}

static void put_file(const char *name, const uint8_t *data, size_t size)
{
	char p[4096];
	int fd;

	/* rewritten in place: the store's cached read fd stays valid */
	snprintf(p, sizeof(p), "%s/packs/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || udos__write_all(fd, data, size) < 0)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	udos_validate_result res;
	uint8_t *recs;
	size_t nrec;

	if (!st)
		setup();
	if (size < 4)
		return 0;
	nrec = udos__get_le32(data);
	data += 4;
	size -= 4;
	if (nrec > size)
		nrec = size;
	recs = malloc(nrec ? nrec : 1);
	if (!recs)
		abort();
	memcpy(recs, data, nrec);
	/* Nothing can guess the random container id of the header, nor forge
	 * an entry's XXH3: the container's own id is written over bytes
	 * 16..31, and an entry whose flags byte is odd gets its checksum made
	 * (and the flag cleared), so that inputs get past both. */
	if (nrec >= UDOS_RECS_HDR_SIZE)
		memcpy(recs + 16, st->uuid, 16);
	for (size_t at = UDOS_RECS_HDR_SIZE; at + UDOS_REC_SIZE <= nrec;
	     at += UDOS_REC_SIZE)
		if (recs[at + 5] & 1) {
			recs[at + 5] = 0;
			udos__put_le64(recs + at + 72, udos__xxh3(recs + at, 72));
		}
	put_file("0.rec", recs, nrec);
	put_file("0", data + nrec, size - nrec);
	free(recs);
	/* full only: the fast checks are a prefix of it, and each walk
	 * costs index look-ups that dominate the run time */
	if (udos_store_validate(&res, st, UDOS_VALIDATE_FULL, on_finding, NULL,
				NULL, NULL) < 0)
		abort(); /* the walk itself must always complete */
	if (getenv("UDOS_FUZZ_VERBOSE"))
		fprintf(stderr, "%zu bytes: %" PRIu64 " records, %" PRIu64
			" findings\n", size, res.records_checked,
			res.findings);
	return 0;
}
