/* idfilter.c - the pack writer's filter of the ids the index holds: it
 * answers "surely absent" or "maybe present" (then the index decides), so
 * that new content costs no index look-up. A blocked Bloom filter keyed
 * by the id's own bits (SHA-256 and SHA-1 output is uniform): one 64-byte
 * block per look-up and IDF_K bits in it. Persisted in `index.filter` and
 * believed only when its stamp matches the index (see udos__idfilter_load).
 *
 * One thread adds (the writer's owner); any number may ask maybe() at the
 * same time: bits are set and read with atomic operations and a segment is
 * published (nseg) only once it is set up. A look-up racing the add of the
 * same id may answer "absent": callers beside the owner use it as a hint
 * checked again by the owner (see udos__writer_maybe_has). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDF_NAME "index.filter"
#define IDF_MAGIC "UDOSIDF1"
#define IDF_K 7           /* bits set per id, 9 bits of the id each */
#define IDF_BITS_PER_ID 10 /* at capacity: about 1% false "maybe" */
#define IDF_WORDS 8        /* 64-bit words per 64-byte block */
#define IDF_HDR 40
#define IDF_SEG_HDR 24
#define IDF_MAX_SEGS 64
/* a file larger than this is not ours (about 3 billion ids) */
#define IDF_MAX_FILE (4ull << 30)

struct seg {
	uint64_t nblocks, cap, n;
	uint64_t *w; /* nblocks * IDF_WORDS */
};

struct udos__idfilter {
	struct seg seg[IDF_MAX_SEGS];
	size_t nseg;
	uint64_t n;
};

static uint64_t get64(const udos_oid *oid, size_t at)
{
	return udos__get_le64(oid->id + at);
}

static const uint64_t *block_of(const struct seg *s, uint64_t h)
{
	return s->w + (uint64_t)(((unsigned __int128)h * s->nblocks) >> 64) *
			      IDF_WORDS;
}

static int seg_add(udos__idfilter *f, uint64_t cap)
{
	struct seg *s;

	if (f->nseg == IDF_MAX_SEGS)
		return udos__err(-ENOMEM, "id filter: too many segments");
	s = &f->seg[f->nseg];
	s->nblocks = (cap * IDF_BITS_PER_ID + 511) / 512;
	if (!s->nblocks)
		s->nblocks = 1;
	s->cap = cap;
	s->n = 0;
	s->w = calloc(s->nblocks, IDF_WORDS * 8);
	if (!s->w)
		return udos__err(-ENOMEM, "out of memory (id filter of %llu "
				 "ids)", (unsigned long long)cap);
	__atomic_store_n(&f->nseg, f->nseg + 1, __ATOMIC_RELEASE);
	return 0;
}

int udos__idfilter_new(udos__idfilter **out, uint64_t cap)
{
	udos__idfilter *f = udos__calloc(1, sizeof(*f));
	int rc;

	*out = NULL;
	if (!f)
		return udos__err(-ENOMEM, "out of memory");
	rc = seg_add(f, cap < 65536 ? 65536 : cap);
	if (rc < 0) {
		free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void udos__idfilter_free(udos__idfilter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nseg; i++)
		free(f->seg[i].w);
	free(f);
}

int udos__idfilter_add(udos__idfilter *f, const udos_oid *oid)
{
	struct seg *s = &f->seg[f->nseg - 1];
	uint64_t h = get64(oid, 0), b = get64(oid, 8);
	uint64_t *blk;

	if (s->n >= s->cap) {
		/* full: a new segment three times as large as all before
		 * it (capacity quadruples): a look-up of new content visits
		 * every segment (a cache miss each) and each full one adds
		 * its ~1% of false "maybe"s, so few segments; at 10M ids
		 * three instead of five */
		uint64_t total = 0;
		int rc;

		for (size_t i = 0; i < f->nseg; i++)
			total += f->seg[i].cap;
		rc = seg_add(f, 3 * total);
		if (rc < 0)
			return rc;
		s = &f->seg[f->nseg - 1];
	}
	blk = (uint64_t *)block_of(s, h);
	for (int j = 0; j < IDF_K; j++) {
		unsigned bit = (unsigned)(b >> (9 * j)) & 511;

		__atomic_fetch_or(&blk[bit >> 6], 1ull << (bit & 63),
				  __ATOMIC_RELAXED);
	}
	s->n++;
	f->n++;
	return 0;
}

bool udos__idfilter_maybe(const udos__idfilter *f, const udos_oid *oid)
{
	uint64_t h = get64(oid, 0), b = get64(oid, 8);

	for (size_t i = __atomic_load_n(&f->nseg, __ATOMIC_ACQUIRE); i-- > 0;) {
		const uint64_t *blk = block_of(&f->seg[i], h);
		int j;

		for (j = 0; j < IDF_K; j++) {
			unsigned bit = (unsigned)(b >> (9 * j)) & 511;

			if (!(__atomic_load_n(&blk[bit >> 6], __ATOMIC_RELAXED) &
			      (1ull << (bit & 63))))
				break;
		}
		if (j == IDF_K)
			return true;
	}
	return false;
}

uint64_t udos__idfilter_count(const udos__idfilter *f)
{
	return f->n;
}

uint64_t udos__idfilter_bytes(const udos__idfilter *f)
{
	uint64_t b = 0;

	for (size_t i = 0; i < f->nseg; i++)
		b += f->seg[i].nblocks * IDF_WORDS * 8;
	return b;
}

/* ---- built from the index -------------------------------------------- */

static int add_cb(void *ctx, const udos_oid *oid, const void *val,
		  size_t len)
{
	(void)val;
	(void)len;
	return udos__idfilter_add(ctx, oid);
}

int udos__idfilter_build(udos__idfilter **out, udos_store *st)
{
	udos__idfilter *f = NULL;
	uint64_t cap;
	int rc;

	*out = NULL;
	pthread_rwlock_rdlock(&st->ixlock);
	if (!st->ix) {
		rc = udos__err(UDOS_EINDEX, "index is not open");
		goto out;
	}
	/* room for twice what is there: segments are added as it grows */
	cap = 2 * udos__index_estimate_keys(st->ix);
	rc = udos__idfilter_new(&f, cap < (1u << 20) ? (1u << 20) : cap);
	if (rc == 0)
		rc = udos__index_foreach_raw(st->ix, add_cb, f);
out:
	pthread_rwlock_unlock(&st->ixlock);
	if (rc < 0) {
		udos__idfilter_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

/* ---- persisted ---------------------------------------------------------
 *
 * index.filter: "UDOSIDF1", u64 nonce, u64 index sequence, u64 ids, u32
 * segments, u8 K, u8 bits per id, u16 0; per segment u64 blocks, u64
 * capacity, u64 ids; the blocks of each segment; u64 XXH3 of all before.
 *
 * The stamp: saving writes a fresh random nonce into the index (key
 * "udos:filter") first, then the file with that nonce and the index's
 * sequence number after that write. Every later index write moves the
 * sequence; a rebuilt index lacks the nonce; a crash between the two
 * leaves the old file's nonce unmatched. So a file is believed only when
 * nothing was indexed since it was made, and a false "absent" cannot come
 * from a stale, damaged or foreign file.
 */

int udos__idfilter_save(const udos__idfilter *f, udos_store *st, bool sync)
{
	uint8_t *p = NULL, *at;
	uint64_t nonce, seq, len = IDF_HDR + 8;
	udos__batch *b = NULL;
	int rc;

	for (size_t i = 0; i < f->nseg; i++)
		len += IDF_SEG_HDR + f->seg[i].nblocks * IDF_WORDS * 8;
	if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
		return udos__err(-EIO, "id filter: no random nonce");
	b = udos__batch_new();
	p = malloc(len);
	if (!b || !p) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto done;
	}
	udos__batch_set_filter(b, nonce);
	pthread_rwlock_rdlock(&st->ixlock);
	rc = st->ix && st->primary
		     ? udos__index_write(st->ix, b, sync)
		     : udos__err(UDOS_EINDEX, "index write without the "
				 "writer lock");
	seq = rc == 0 ? udos__index_seq(st->ix) : 0;
	pthread_rwlock_unlock(&st->ixlock);
	if (rc < 0)
		goto done;
	memcpy(p, IDF_MAGIC, 8);
	udos__put_le64(p + 8, nonce);
	udos__put_le64(p + 16, seq);
	udos__put_le64(p + 24, f->n);
	udos__put_le32(p + 32, (uint32_t)f->nseg);
	p[36] = IDF_K;
	p[37] = IDF_BITS_PER_ID;
	p[38] = p[39] = 0;
	at = p + IDF_HDR;
	for (size_t i = 0; i < f->nseg; i++, at += IDF_SEG_HDR) {
		udos__put_le64(at, f->seg[i].nblocks);
		udos__put_le64(at + 8, f->seg[i].cap);
		udos__put_le64(at + 16, f->seg[i].n);
	}
	for (size_t i = 0; i < f->nseg; i++) {
		size_t n = f->seg[i].nblocks * IDF_WORDS * 8;

		for (size_t j = 0; j < n / 8; j++)
			udos__put_le64(at + 8 * j, f->seg[i].w[j]);
		at += n;
	}
	udos__put_le64(at, udos__xxh3(p, (size_t)(at - p)));
	rc = udos__write_file_atomic(st->dirfd, IDF_NAME, p, len);
	if (rc < 0)
		rc = udos__err(rc, "cannot write '%s/%s': %s", st->path,
			       IDF_NAME, udos_strerror(rc));
done:
	udos__batch_free(b);
	free(p);
	return rc;
}

/* The file's filter if it is whole and matches the index, else NULL */
static udos__idfilter *parse(const uint8_t *p, size_t len, uint64_t nonce,
			     uint64_t seq)
{
	udos__idfilter *f;
	const uint8_t *at;
	uint64_t need = IDF_HDR + 8, total = 0;
	uint32_t nseg;

	if (len < IDF_HDR + 8 || memcmp(p, IDF_MAGIC, 8) ||
	    udos__get_le64(p + len - 8) != udos__xxh3(p, len - 8) ||
	    udos__get_le64(p + 8) != nonce || udos__get_le64(p + 16) != seq ||
	    p[36] != IDF_K || p[37] != IDF_BITS_PER_ID)
		return NULL;
	nseg = udos__get_le32(p + 32);
	if (!nseg || nseg > IDF_MAX_SEGS ||
	    len < IDF_HDR + 8 + (uint64_t)nseg * IDF_SEG_HDR)
		return NULL;
	at = p + IDF_HDR;
	for (uint32_t i = 0; i < nseg; i++, at += IDF_SEG_HDR) {
		uint64_t nb = udos__get_le64(at);

		if (!nb || nb > IDF_MAX_FILE / 64 ||
		    udos__get_le64(at + 16) > udos__get_le64(at + 8) ||
		    udos__get_le64(at + 8) > nb * 512 / IDF_BITS_PER_ID + 1)
			return NULL;
		need += IDF_SEG_HDR + nb * 64;
		total += udos__get_le64(at + 16);
	}
	if (need != len || total != udos__get_le64(p + 24))
		return NULL;
	f = udos__calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	at = p + IDF_HDR;
	for (uint32_t i = 0; i < nseg; i++, at += IDF_SEG_HDR) {
		struct seg *s = &f->seg[i];

		s->nblocks = udos__get_le64(at);
		s->cap = udos__get_le64(at + 8);
		s->n = udos__get_le64(at + 16);
	}
	f->nseg = nseg;
	f->n = total;
	for (uint32_t i = 0; i < nseg; i++) {
		struct seg *s = &f->seg[i];
		size_t n = s->nblocks * IDF_WORDS * 8;

		s->w = malloc(n);
		if (!s->w) {
			udos__idfilter_free(f);
			return NULL;
		}
		for (size_t j = 0; j < n / 8; j++)
			s->w[j] = udos__get_le64(at + 8 * j);
		at += n;
	}
	return f;
}

int udos__idfilter_load(udos__idfilter **out, udos_store *st)
{
	uint8_t *p = NULL;
	uint64_t nonce = 0, seq = 0;
	struct stat sb;
	ssize_t got;
	int fd, rc;

	*out = NULL;
	pthread_rwlock_rdlock(&st->ixlock);
	rc = st->ix ? udos__index_get_filter(st->ix, &nonce)
		    : udos__err(UDOS_EINDEX, "index is not open");
	if (rc == 0)
		seq = udos__index_seq(st->ix);
	pthread_rwlock_unlock(&st->ixlock);
	if (rc < 0)
		return rc; /* UDOS_ENOTFOUND: never saved for this index */
	fd = openat(st->dirfd, IDF_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UDOS_ENOTFOUND;
	if (fstat(fd, &sb) < 0 || sb.st_size < IDF_HDR + 8 ||
	    (uint64_t)sb.st_size > IDF_MAX_FILE) {
		close(fd);
		return UDOS_ENOTFOUND;
	}
	p = malloc((size_t)sb.st_size);
	if (!p) {
		close(fd);
		return udos__err(-ENOMEM, "out of memory");
	}
	got = udos__pread_full(fd, p, (size_t)sb.st_size, 0);
	close(fd);
	if (got == sb.st_size)
		*out = parse(p, (size_t)got, nonce, seq);
	free(p);
	return *out ? 0 : UDOS_ENOTFOUND;
}

int udos__idfilter_remove(udos_store *st)
{
	if (unlinkat(st->dirfd, IDF_NAME, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}
