/* test_object.c - round trips, codecs, dedup, streams with seek, bulk reads,
 * delete, for loose and packed objects. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct fx {
	char *dir;
	udos_store *st;
};

static int setup_with(void **state, const char *comp, uint64_t target)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tmp_dir();
	f->st = store_new(f->dir, comp, target);
	*state = f;
	return 0;
}

static int setup_zstd(void **state) { return setup_with(state, "zstd:3", 0); }
static int setup_zlib(void **state) { return setup_with(state, "zlib:6", 0); }
static int setup_none(void **state) { return setup_with(state, "none", 0); }
static int setup_small(void **state)
{
	return setup_with(state, "zstd:1", 64 * 1024);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	udos_store_close(f->st);
	tmp_remove(f->dir);
	free(f);
	return 0;
}

static void check_content(udos_store *st, const udos_oid *oid,
			  const uint8_t *want, size_t len)
{
	void *got = NULL;
	size_t glen = 0;

	assert_ok(udos_object_read(&got, &glen, st, oid, 0, UDOS_READ_VERIFY));
	assert_int_equal(glen, len);
	if (len)
		assert_memory_equal(got, want, len);
	free(got);
}

static const size_t sizes[] = { 0, 1, 63, 64, 4096, 1 << 20, 3 << 20 };

static void roundtrip_all(struct fx *f, int compress)
{
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	udos_writer *w = NULL;
	udos_oid oids[2][7];
	uint8_t *buf = malloc(3 << 20);

	wo.compress = compress;
	assert_ok(udos_writer_open(&w, f->st, &wo));
	for (int c = 0; c < 2; c++) {
		for (size_t i = 0; i < 7; i++) {
			bool is_new;
			fill_bytes(buf, sizes[i], (uint32_t)(i + 10 * c), c);
			assert_ok(udos_writer_add_buf(&oids[c][i], &is_new, w,
						      buf, sizes[i]));
		}
	}
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	for (int c = 0; c < 2; c++) {
		for (size_t i = 0; i < 7; i++) {
			udos_meta m;
			fill_bytes(buf, sizes[i], (uint32_t)(i + 10 * c), c);
			check_content(f->st, &oids[c][i], buf, sizes[i]);
			assert_ok(udos_object_stat(&m, f->st, &oids[c][i]));
			assert_int_equal(m.loc, UDOS_LOC_PACKED);
			assert_int_equal(m.size, sizes[i]);
			if (compress == UDOS_COMPRESS_NO)
				assert_int_equal(m.codec, UDOS_CODEC_NONE);
			/* random bytes are never worth compressing */
			if (compress == UDOS_COMPRESS_AUTO && c == 0)
				assert_int_equal(m.codec, UDOS_CODEC_NONE);
			if (compress == UDOS_COMPRESS_AUTO && c == 1 &&
			    sizes[i] >= 4096)
				assert_int_not_equal(m.codec, UDOS_CODEC_NONE);
		}
	}
	free(buf);
}

static void test_pack_roundtrip_yes(void **state)
{
	roundtrip_all(*state, UDOS_COMPRESS_YES);
}
static void test_pack_roundtrip_no(void **state)
{
	roundtrip_all(*state, UDOS_COMPRESS_NO);
}
static void test_pack_roundtrip_auto(void **state)
{
	roundtrip_all(*state, UDOS_COMPRESS_AUTO);
}

static void test_loose_roundtrip(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = malloc(1 << 20);

	for (size_t i = 0; i < 6; i++) {
		udos_oid oid, want;
		udos_meta m;
		bool is_new;

		fill_bytes(buf, sizes[i], (uint32_t)i, 0);
		udos_oid_hash(&want, buf, sizes[i]);
		assert_ok(udos_add_loose_buf(&oid, &is_new, f->st, buf,
					     sizes[i], 0));
		assert_true(is_new);
		assert_memory_equal(&oid, &want, sizeof(oid));
		check_content(f->st, &oid, buf, sizes[i]);
		assert_ok(udos_object_stat(&m, f->st, &oid));
		assert_int_equal(m.loc, UDOS_LOC_LOOSE);
		/* dedup: the same bytes again are not written */
		assert_ok(udos_add_loose_buf(&oid, &is_new, f->st, buf,
					     sizes[i], 0));
		assert_false(is_new);
	}
	free(buf);
}

static void test_empty_hash(void **state)
{
	struct fx *f = *state;
	char hex[65];
	udos_oid oid;

	assert_ok(udos_add_loose_buf(&oid, NULL, f->st, "", 0, 0));
	assert_string_equal(udos_oid_fmt(hex, &oid),
			    "e3b0c44298fc1c149afbf4c8996fb924"
			    "27ae41e4649b934ca495991b7852b855");
}

struct memsrc {
	const uint8_t *p;
	size_t len, at, step;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	struct memsrc *m = ctx;
	size_t n = m->len - m->at;

	if (n > len)
		n = len;
	if (n > m->step)
		n = m->step;
	memcpy(buf, m->p + m->at, n);
	m->at += n;
	return (ssize_t)n;
}

static void test_stream_add_and_seek(void **state)
{
	struct fx *f = *state;
	size_t len = 5u << 20;
	uint8_t *buf = malloc(len), tmp[4096];
	udos_writer *w = NULL;
	udos_reader *r = NULL;
	struct memsrc src = { buf, len, 0, 100000 };
	udos_oid oid, want;
	uint64_t pos;
	bool is_new;

	fill_bytes(buf, len, 7, 1);
	udos_oid_hash(&want, buf, len);
	assert_ok(udos_writer_open(&w, f->st, NULL));
	assert_ok(udos_writer_add_cb(&oid, &is_new, w, mem_read, &src));
	assert_true(is_new);
	assert_memory_equal(&oid, &want, sizeof(oid));
	/* not visible before commit */
	assert_int_equal(udos_object_has(f->st, &oid), 0);
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	assert_int_equal(udos_object_has(f->st, &oid), 1);

	assert_ok(udos_reader_open(&r, f->st, &oid, 0));
	assert_int_not_equal(udos_reader_meta(r)->codec, UDOS_CODEC_NONE);
	const int64_t offs[] = { 3000000, 10, 5000000, 0, (int64_t)len - 5 };
	for (size_t i = 0; i < 5; i++) {
		ssize_t n;
		assert_ok(udos_reader_seek(r, offs[i], SEEK_SET, &pos));
		assert_int_equal(pos, offs[i]);
		n = udos_reader_read(r, tmp, sizeof(tmp));
		size_t expect = len - (size_t)offs[i] < sizeof(tmp)
					? len - (size_t)offs[i] : sizeof(tmp);
		assert_int_equal(n, expect);
		assert_memory_equal(tmp, buf + offs[i], expect);
	}
	assert_ok(udos_reader_seek(r, -10, SEEK_END, &pos));
	assert_int_equal(pos, len - 10);
	assert_ok(udos_reader_seek(r, 5, SEEK_CUR, &pos));
	assert_int_equal(udos_reader_read(r, tmp, 100), 5);
	assert_memory_equal(tmp, buf + len - 5, 5);
	assert_int_equal(udos_reader_read(r, tmp, 100), 0);
	assert_ok(udos_reader_seek(r, 10, SEEK_END, &pos));
	assert_int_equal(udos_reader_read(r, tmp, 100), 0);
	assert_int_equal(udos_reader_seek(r, -1, SEEK_SET, NULL), -EINVAL);
	udos_reader_close(r);
	free(buf);
}

struct bulk {
	size_t seen;
	const udos_oid *oids;
	int last_loc;
	uint32_t last_pack;
	uint64_t last_off;
	size_t missing;
};

static int bulk_cb(void *ctx, size_t index, const udos_oid *oid,
		   const udos_meta *m, udos_reader *r)
{
	struct bulk *b = ctx;
	uint8_t buf[256];
	uint8_t want[256];

	assert_memory_equal(oid, &b->oids[index], sizeof(*oid));
	if (m->loc == UDOS_LOC_MISSING) {
		assert_null(r);
		b->missing++;
		return 0;
	}
	/* order: loose first, then by pack and offset */
	assert_true(m->loc >= b->last_loc);
	if (m->loc == UDOS_LOC_PACKED && b->last_loc == UDOS_LOC_PACKED)
		assert_true(m->pack_id > b->last_pack ||
			    (m->pack_id == b->last_pack &&
			     m->offset > b->last_off));
	b->last_loc = m->loc;
	b->last_pack = m->pack_id;
	b->last_off = m->offset;
	fill_bytes(want, 100 + index % 50, (uint32_t)index, 1);
	assert_int_equal(udos_reader_read(r, buf, sizeof(buf)),
			 100 + index % 50);
	assert_memory_equal(buf, want, 100 + index % 50);
	b->seen++;
	return 0;
}

static void test_bulk_read(void **state)
{
	struct fx *f = *state;
	udos_oid oids[301];
	udos_writer *w = NULL;
	uint8_t buf[256];
	struct bulk b = { 0 };

	assert_ok(udos_writer_open(&w, f->st, NULL));
	/* reverse order of ids vs. pack order, some loose */
	for (int i = 299; i >= 0; i--) {
		fill_bytes(buf, 100 + (size_t)i % 50, (uint32_t)i, 1);
		if (i % 7 == 0)
			assert_ok(udos_add_loose_buf(&oids[i], NULL, f->st,
						     buf, 100 + (size_t)i % 50,
						     UDOS_ADD_NOSYNC));
		else
			assert_ok(udos_writer_add_buf(&oids[i], NULL, w, buf,
						      100 + (size_t)i % 50));
	}
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	memset(&oids[300], 0xab, sizeof(oids[300]));
	b.oids = oids;
	assert_ok(udos_object_read_many(f->st, oids, 301, UDOS_READ_VERIFY,
					bulk_cb, &b));
	assert_int_equal(b.seen, 300);
	assert_int_equal(b.missing, 1);
}

/* read_many callback: read each object to its end, return the failure */
static int drain_cb(void *ctx, size_t index, const udos_oid *oid,
		    const udos_meta *meta, udos_reader *r)
{
	uint8_t buf[4096];
	ssize_t n;

	(void)ctx, (void)index, (void)oid, (void)meta;
	if (!r)
		return 0;
	while ((n = udos_reader_read(r, buf, sizeof(buf))) > 0)
		;
	return (int)n;
}

static void loose_file(char *out, size_t cap, udos_store *st,
		       const udos_oid *oid)
{
	char hex[65];

	udos_oid_fmt(hex, oid);
	snprintf(out, cap, "%s/loose/%.2s/%s", udos_store_path(st), hex,
		 hex + 2);
}

/* A loose file has no checksum: every read hashes it, without
 * UDOS_READ_VERIFY too, and an emptied file is refused at open. */
static void test_loose_damage(void **state)
{
	struct fx *f = *state;
	size_t len = 100000, got = 0, glen;
	uint8_t *buf = malloc(len), chunk[4096];
	udos_oid oid, empty;
	udos_reader *r = NULL;
	char path[512];
	void *data;
	ssize_t n;
	int fd;

	fill_bytes(buf, len, 7, 1);
	assert_ok(udos_add_loose_buf(&oid, NULL, f->st, buf, len, 0));
	assert_ok(udos_add_loose_buf(&empty, NULL, f->st, "", 0, 0));
	loose_file(path, sizeof(path), f->st, &oid);

	/* emptied, as after a power cut */
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(udos_reader_open(&r, f->st, &oid, 0), UDOS_ECORRUPT);
	assert_null(r);
	assert_non_null(strstr(udos_error_detail(), "is damaged: loose file"));
	assert_non_null(strstr(udos_error_detail(), path));
	assert_non_null(strstr(udos_error_detail(), "empty"));
	assert_int_equal(udos_object_read(&data, &glen, f->st, &oid, 0, 0),
			 UDOS_ECORRUPT);
	assert_int_equal(udos_object_read_many(f->st, &oid, 1, 0, drain_cb,
					       NULL),
			 UDOS_ECORRUPT);

	/* one byte changed: the stream fails at its end, and the chunk that
	 * reaches the end is not handed out */
	buf[len / 2] ^= 1;
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	assert_ok(udos_reader_open(&r, f->st, &oid, 0));
	while ((n = udos_reader_read(r, chunk, sizeof(chunk))) > 0)
		got += (size_t)n;
	assert_int_equal(n, UDOS_ECORRUPT);
	assert_true(got < len);
	udos_reader_close(r);
	assert_int_equal(udos_object_read(&data, &glen, f->st, &oid, 0, 0),
			 UDOS_ECORRUPT);
	assert_int_equal(udos_object_read_many(f->st, &oid, 1, 0, drain_cb,
					       NULL),
			 UDOS_ECORRUPT);

	/* the empty object itself is fine */
	assert_ok(udos_object_read(&data, &glen, f->st, &empty, 0, 0));
	assert_int_equal(glen, 0);
	free(data);
	assert_ok(udos_object_read_many(f->st, &empty, 1, 0, drain_cb, NULL));
	free(buf);
}

static int count_cb(void *ctx, const udos_oid *oid, const udos_meta *m)
{
	(void)oid, (void)m;
	(*(size_t *)ctx)++;
	return 0;
}

static void test_delete_and_list(void **state)
{
	struct fx *f = *state;
	udos_writer *w = NULL;
	udos_oid a, b, c;
	size_t n = 0;

	assert_ok(udos_add_loose_buf(&a, NULL, f->st, "loose one", 9, 0));
	assert_ok(udos_writer_open(&w, f->st, NULL));
	assert_ok(udos_writer_add_buf(&b, NULL, w, "packed one", 10));
	/* also loose and packed at once: listed once */
	assert_ok(udos_writer_add_buf(&c, NULL, w, "both", 4));
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	assert_ok(udos_add_loose_buf(&c, NULL, f->st, "both", 4, 0));
	assert_ok(udos_store_foreach(f->st, UDOS_FOREACH_ALL, count_cb, &n));
	assert_int_equal(n, 3);

	assert_ok(udos_object_delete(f->st, &a));
	assert_ok(udos_object_delete(f->st, &b));
	assert_ok(udos_object_delete(f->st, &c));
	assert_int_equal(udos_object_delete(f->st, &a), UDOS_ENOTFOUND);
	assert_int_equal(udos_object_has(f->st, &b), 0);
	n = 0;
	assert_ok(udos_store_foreach(f->st, UDOS_FOREACH_ALL, count_cb, &n));
	assert_int_equal(n, 0);
}

static void test_oid_parse(void **state)
{
	udos_oid o;
	char hex[65];
	const char *good = "E3B0C44298FC1C149AFBF4C8996FB924"
			   "27AE41E4649B934CA495991B7852B855";

	(void)state;
	assert_ok(udos_oid_parse(&o, good, 64));
	assert_string_equal(udos_oid_fmt(hex, &o),
			    "e3b0c44298fc1c149afbf4c8996fb924"
			    "27ae41e4649b934ca495991b7852b855");
	assert_int_equal(udos_oid_parse(&o, good, 63), -EINVAL);
	assert_int_equal(udos_oid_parse(&o, "zz", 2), -EINVAL);
	hex[5] = 'g';
	assert_int_equal(udos_oid_parse(&o, hex, 64), -EINVAL);
}

#define RT_OBJS 24
#define RT_SIZE (300u * 1024)

struct rt {
	udos_store *st;
	const udos_oid *oids;
	atomic_int *stop;
	bool bulk;
	int err;          /* first failure, 0 if none */
	long streams;     /* objects read to the end */
};

static int rt_check(struct rt *t, udos_reader *r, size_t i)
{
	static _Thread_local uint8_t want[RT_SIZE], got[RT_SIZE];
	size_t at = 0;

	fill_bytes(want, RT_SIZE, (uint32_t)i, i % 2);
	while (at < RT_SIZE) {
		/* small reads: a repack runs while the stream is held */
		ssize_t n = udos_reader_read(r, got + at, 4096);
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		at += (size_t)n;
	}
	if (udos_reader_read(r, got, 1) != 0 || memcmp(got, want, RT_SIZE))
		return -EIO;
	t->streams++;
	return 0;
}

static int rt_bulk_fn(void *ctx, size_t index, const udos_oid *oid,
		      const udos_meta *meta, udos_reader *r)
{
	(void)oid, (void)meta;
	return r ? rt_check(ctx, r, index) : UDOS_ENOTFOUND;
}

static void *rt_main(void *arg)
{
	struct rt *t = arg;

	while (!atomic_load(t->stop) && !t->err) {
		for (size_t i = 0; i < RT_OBJS && !t->err; i++) {
			udos_reader *r = NULL;
			int rc;

			if (t->bulk) {
				t->err = udos_object_read_many(
					t->st, t->oids, RT_OBJS,
					UDOS_READ_VERIFY, rt_bulk_fn, t);
				break;
			}
			rc = udos_reader_open(&r, t->st, &t->oids[i],
					      UDOS_READ_VERIFY);
			/* opening follows a moved object once: two repacks
			 * between its look-up and its open may beat it */
			if (rc == UDOS_ECORRUPT)
				continue;
			t->err = rc < 0 ? rc : rt_check(t, r, i);
			udos_reader_close(r);
		}
	}
	return NULL;
}

/* Streams and bulk reads on threads sharing the handle that repacks: no
 * held stream ever fails or returns other bytes (the pack a stream reads
 * is not closed under it). Run under TSan by scripts/test.sh. */
static void test_threads_read_during_repack(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:1", 1u << 20);
	static uint8_t buf[RT_SIZE];
	struct rt t[3] = { 0 };
	pthread_t th[3];
	udos_writer *w = NULL;
	udos_oid oids[RT_OBJS];
	udos_validate_result vr;
	atomic_int stop = 0;

	(void)state;
	assert_ok(udos_writer_open(&w, st, NULL));
	for (size_t i = 0; i < RT_OBJS; i++) {
		fill_bytes(buf, RT_SIZE, (uint32_t)i, i % 2);
		assert_ok(udos_writer_add_buf(&oids[i], NULL, w, buf,
					      RT_SIZE));
	}
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	for (int k = 0; k < 3; k++) {
		t[k] = (struct rt){ st, oids, &stop, k == 2, 0, 0 };
		assert_int_equal(pthread_create(&th[k], NULL, rt_main, &t[k]),
				 0);
	}
	for (int k = 0; k < 4; k++) {
		udos_repack_opts ro = UDOS_REPACK_OPTS_INIT;
		ro.compress = k % 2 ? UDOS_COMPRESS_NO : UDOS_COMPRESS_KEEP;
		ro.no_sync = true;
		assert_ok(udos_store_repack(st, &ro));
	}
	atomic_store(&stop, 1);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(pthread_join(th[k], NULL), 0);
		if (t[k].err)
			fail_msg("thread %d: %d (%s)", k, t[k].err,
				 udos_strerror(t[k].err));
		assert_true(t[k].streams > 0);
	}
	assert_ok(udos_store_validate(&vr, st, UDOS_VALIDATE_FULL, NULL, NULL,
				      NULL, NULL));
	assert_int_equal(vr.findings, 0);
	udos_store_close(st);
	tmp_remove(dir);
}

static void count_commit(void *ctx, uint64_t n)
{
	uint64_t *c = ctx;

	c[0]++;
	c[1] += n;
}

static void add_one(udos_writer *w, uint32_t seed)
{
	uint8_t buf[100];
	udos_oid oid;
	bool is_new;

	fill_bytes(buf, sizeof(buf), seed, 1);
	assert_ok(udos_writer_add_buf(&oid, &is_new, w, buf, sizeof(buf)));
	assert_true(is_new);
}

/* Large records are written partly with O_DIRECT (core/writer.c), two
 * after a small object in each of two writers, read back byte for byte.
 * The first writer starts a new pack, so its flushes fall on aligned
 * offsets; the second starts at the first's committed end (odd), so its
 * first direct flush writes the bytes up to the next 4 KiB boundary
 * through the page cache. Compression off, then on. */
static void test_large_direct(void **state)
{
	struct fx *f = *state;
	const size_t big = (40u << 20) + 12345;
	uint8_t *buf = malloc(big);
	udos_oid small, large[2];
	bool is_new;

	assert_non_null(buf);
	for (int mode = 0; mode < 2; mode++) {
		udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
		udos_writer *w = NULL;

		wo.compress = mode ? UDOS_COMPRESS_YES : UDOS_COMPRESS_NO;
		assert_ok(udos_writer_open(&w, f->st, &wo));
		fill_bytes(buf, 777, (uint32_t)(100 + mode), 1);
		assert_ok(udos_writer_add_buf(&small, &is_new, w, buf, 777));
		for (int i = 0; i < 2; i++) {
			fill_bytes(buf, big, (uint32_t)(200 + 10 * mode + i),
				   i);
			assert_ok(udos_writer_add_buf(&large[i], &is_new, w,
						      buf, big));
			assert_true(is_new);
		}
		assert_ok(udos_writer_commit(w));
		udos_writer_close(w);
		fill_bytes(buf, 777, (uint32_t)(100 + mode), 1);
		check_content(f->st, &small, buf, 777);
		for (int i = 0; i < 2; i++) {
			fill_bytes(buf, big, (uint32_t)(200 + 10 * mode + i),
				   i);
			check_content(f->st, &large[i], buf, big);
		}
	}
	free(buf);
}

/* Auto-commit by age: the put after the oldest uncommitted object turned
 * commit_every_ms old commits both; with "never" nothing is committed
 * before an explicit commit; a version 1 caller gets the default. */
static void test_commit_by_age(void **state)
{
	struct fx *f = *state;
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	udos_writer *w = NULL;
	uint64_t c[2] = { 0, 0 };
	struct timespec pause = { 0, 200 * 1000000 };

	wo.on_commit = count_commit;
	wo.ctx = c;
	wo.commit_every_ms = 100;
	assert_ok(udos_writer_open(&w, f->st, &wo));
	add_one(w, 1);
	assert_int_equal(c[0], 0);
	nanosleep(&pause, NULL);
	add_one(w, 2);
	assert_int_equal(c[0], 1);
	assert_int_equal(c[1], 2);
	add_one(w, 3); /* the clock starts again with this one */
	assert_int_equal(c[0], 1);
	assert_ok(udos_writer_commit(w));
	assert_int_equal(c[0], 2);
	assert_int_equal(c[1], 3);
	udos_writer_close(w);

	wo.commit_every_ms = UINT64_MAX;
	assert_ok(udos_writer_open(&w, f->st, &wo));
	add_one(w, 4);
	nanosleep(&pause, NULL);
	add_one(w, 5);
	assert_int_equal(c[0], 2);
	udos_writer_close(w); /* uncommitted: discarded */

	/* version 1 struct: commit_every_ms is not read */
	wo.version = 1;
	wo.commit_every_ms = 1;
	assert_ok(udos_writer_open(&w, f->st, &wo));
	add_one(w, 6);
	nanosleep(&pause, NULL);
	add_one(w, 7);
	assert_int_equal(c[0], 2);
	assert_ok(udos_writer_commit(w));
	assert_int_equal(c[0], 3);
	assert_int_equal(c[1], 5);
	udos_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oid_parse),
		cmocka_unit_test_setup_teardown(test_pack_roundtrip_yes,
						setup_zstd, teardown),
		cmocka_unit_test_setup_teardown(test_pack_roundtrip_yes,
						setup_zlib, teardown),
		cmocka_unit_test_setup_teardown(test_pack_roundtrip_no,
						setup_zstd, teardown),
		cmocka_unit_test_setup_teardown(test_pack_roundtrip_auto,
						setup_zstd, teardown),
		cmocka_unit_test_setup_teardown(test_pack_roundtrip_auto,
						setup_zlib, teardown),
		cmocka_unit_test_setup_teardown(test_pack_roundtrip_yes,
						setup_none, teardown),
		cmocka_unit_test_setup_teardown(test_pack_roundtrip_yes,
						setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_loose_roundtrip,
						setup_zstd, teardown),
		cmocka_unit_test_setup_teardown(test_empty_hash, setup_zstd,
						teardown),
		cmocka_unit_test_setup_teardown(test_loose_damage, setup_zstd,
						teardown),
		cmocka_unit_test_setup_teardown(test_stream_add_and_seek,
						setup_zstd, teardown),
		cmocka_unit_test_setup_teardown(test_stream_add_and_seek,
						setup_zlib, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_read, setup_small,
						teardown),
		cmocka_unit_test(test_threads_read_during_repack),
		cmocka_unit_test_setup_teardown(test_commit_by_age, setup_zstd,
						teardown),
		cmocka_unit_test_setup_teardown(test_large_direct, setup_zstd,
						teardown),
		cmocka_unit_test_setup_teardown(test_delete_and_list,
						setup_zstd, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
