/* test_import.c - udos_store_import: raw copies of zstd, zlib and raw
 * records and of loose objects, skips, re-encoding, imports across hash
 * types with their id mapping, missing ids and damaged source records; the
 * destination validates (full) after each. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOBJ 40
#define BIG (5u << 20) /* past the bulk-read window: read by a plain reader */

struct fx {
	char *dir;
	udos_store *src, *dst;
	udos_oid ids[NOBJ + 2];
	size_t n;
};

static udos_store *open_new(const char *dir, const char *name,
			    const char *compression, int hash_type)
{
	udos_init_opts o = UDOS_INIT_OPTS_INIT;
	udos_store *st = NULL;
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	o.compression = compression;
	o.hash_type = hash_type;
	assert_ok(udos_store_init(path, &o));
	assert_ok(udos_store_open(&st, path, 0));
	return st;
}

static void content(uint8_t *buf, size_t len, size_t i)
{
	fill_bytes(buf, len, (uint32_t)i + 7, (int)(i % 3 != 0));
}

static size_t obj_len(size_t i)
{
	return 100 + i * 997;
}

/* NOBJ packed objects (compressed with the container's codec) and one
 * loose one, ids in x->ids */
static void fill_src(struct fx *x, bool big)
{
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	udos_writer *w = NULL;
	uint8_t *buf = malloc(BIG);

	assert_non_null(buf);
	wo.compress = UDOS_COMPRESS_YES;
	wo.no_sync = true;
	assert_ok(udos_writer_open(&w, x->src, &wo));
	for (size_t i = 0; i < NOBJ; i++) {
		content(buf, obj_len(i), i);
		assert_ok(udos_writer_add_buf(&x->ids[i], NULL, w, buf,
					      obj_len(i)));
	}
	x->n = NOBJ;
	if (big) {
		fill_bytes(buf, BIG, 99, 0);
		assert_ok(udos_writer_add_buf(&x->ids[x->n++], NULL, w, buf,
					      BIG));
	}
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	assert_ok(udos_store_unlock_writer(x->src));
	content(buf, 5000, 1000);
	assert_ok(udos_add_loose_buf(&x->ids[x->n++], NULL, x->src, buf, 5000,
				     UDOS_ADD_NOSYNC));
	free(buf);
}

static int setup_with(void **state, const char *src_comp, int src_hash,
		      const char *dst_comp, int dst_hash)
{
	struct fx *x = calloc(1, sizeof(*x));

	x->dir = tmp_dir();
	x->src = open_new(x->dir, "src", src_comp, src_hash);
	x->dst = open_new(x->dir, "dst", dst_comp, dst_hash);
	*state = x;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, "zstd:3", UDOS_HASH_SHA256, "zstd:1",
			  UDOS_HASH_SHA256);
}

static int setup_zlib(void **state)
{
	return setup_with(state, "zlib:6", UDOS_HASH_SHA256, "zstd:1",
			  UDOS_HASH_SHA256);
}

static int setup_none(void **state)
{
	return setup_with(state, "none", UDOS_HASH_SHA256, "zstd:1",
			  UDOS_HASH_SHA256);
}

static int setup_sha1(void **state)
{
	return setup_with(state, "zstd:3", UDOS_HASH_SHA1, "zlib:1",
			  UDOS_HASH_SHA256);
}

static int teardown(void **state)
{
	struct fx *x = *state;

	udos_store_close(x->src);
	udos_store_close(x->dst);
	tmp_remove(x->dir);
	free(x);
	return 0;
}

static int count_finding(void *ctx, const udos_finding *f)
{
	(void)f;
	(*(int *)ctx)++;
	return 0;
}

static void assert_validates(udos_store *st)
{
	udos_validate_result r;
	int n = 0;

	assert_ok(udos_store_validate(&r, st, UDOS_VALIDATE_FULL,
				      count_finding, &n, NULL, NULL));
	assert_int_equal(n, 0);
	assert_int_equal(r.findings, 0);
}

/* same content, and (raw copy) the same codec and stored size */
static void assert_same(struct fx *x, const udos_oid *id, bool raw)
{
	udos_meta ms, md;
	void *a, *b;
	size_t la, lb;

	assert_ok(udos_object_stat(&ms, x->src, id));
	assert_ok(udos_object_stat(&md, x->dst, id));
	assert_int_equal(md.loc, UDOS_LOC_PACKED);
	if (raw && ms.loc == UDOS_LOC_PACKED) {
		assert_int_equal(md.codec, ms.codec);
		assert_int_equal(md.stored_size, ms.stored_size);
		assert_true(md.stored_xxh3 == ms.stored_xxh3);
	}
	assert_ok(udos_object_read(&a, &la, x->src, id, 0, UDOS_READ_VERIFY));
	assert_ok(udos_object_read(&b, &lb, x->dst, id, 0, UDOS_READ_VERIFY));
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
}

struct seen {
	size_t n[5];
	udos_oid src[NOBJ + 8], dst[NOBJ + 8];
	size_t nmap;
	uint64_t last_done, last_total, last_bytes, bytes_total;
};

static int seen_fn(void *ctx, int status, const udos_oid *src,
		   const udos_oid *dst)
{
	struct seen *s = ctx;

	assert_true(status >= 1 && status <= 4);
	s->n[status]++;
	if (status == UDOS_IMPORT_COPIED || status == UDOS_IMPORT_PRESENT) {
		assert_non_null(dst);
		s->src[s->nmap] = *src;
		s->dst[s->nmap++] = *dst;
	} else {
		assert_null(dst);
	}
	return 0;
}

static void seen_progress(void *ctx, const udos_progress *p)
{
	struct seen *s = ctx;

	assert_true(p->done == s->last_done + 1);
	/* with ALL the bytes total is known; done grows up to it */
	assert_true(p->bytes_done <= p->bytes_total);
	s->last_done = p->done;
	s->last_total = p->total;
	s->last_bytes = p->bytes_done;
	s->bytes_total = p->bytes_total;
}

static void import_all(udos_import_result *r, struct fx *x, int compress,
		       struct seen *s)
{
	udos_import_opts o = UDOS_IMPORT_OPTS_INIT;

	o.flags = UDOS_IMPORT_ALL;
	o.compress = compress;
	o.no_sync = true;
	o.on_object = seen_fn;
	o.progress = seen_progress;
	o.ctx = s;
	assert_ok(udos_store_import(r, x->dst, x->src, NULL, 0, &o));
}

static void raw_copy_all(void **state, bool big)
{
	struct fx *x = *state;
	udos_import_result r;
	struct seen s = { 0 };

	fill_src(x, big);
	import_all(&r, x, UDOS_COMPRESS_KEEP, &s);
	assert_int_equal(r.copied, x->n);
	assert_int_equal(r.skipped + r.missing + r.corrupt, 0);
	assert_int_equal(s.n[UDOS_IMPORT_COPIED], x->n);
	assert_int_equal(s.last_done, x->n);
	assert_int_equal(s.last_total, x->n);
	/* every content byte counted, of a total known up front */
	assert_int_equal(s.last_bytes, r.bytes);
	assert_int_equal(s.bytes_total, r.bytes);
	assert_true(r.bytes > 0 && r.bytes_stored > 0);
	for (size_t i = 0; i < s.nmap; i++)
		assert_memory_equal(&s.src[i], &s.dst[i], sizeof(udos_oid));
	for (size_t i = 0; i < x->n; i++)
		assert_same(x, &x->ids[i], true);
	assert_validates(x->dst);
}

static void test_raw_copy(void **state)
{
	raw_copy_all(state, true);
}

static void test_raw_copy_small(void **state)
{
	raw_copy_all(state, false);
}

static void test_skip_present(void **state)
{
	struct fx *x = *state;
	udos_import_opts o = UDOS_IMPORT_OPTS_INIT;
	udos_import_result r;
	struct seen s = { 0 };

	fill_src(x, false);
	o.no_sync = true;
	assert_ok(udos_store_import(&r, x->dst, x->src, x->ids, 5, &o));
	assert_int_equal(r.copied, 5);
	import_all(&r, x, UDOS_COMPRESS_KEEP, &s);
	assert_int_equal(r.copied, x->n - 5);
	assert_int_equal(r.skipped, 5);
	assert_int_equal(s.n[UDOS_IMPORT_PRESENT], 5);
	memset(&s, 0, sizeof(s));
	import_all(&r, x, UDOS_COMPRESS_KEEP, &s);
	assert_int_equal(r.copied, 0);
	assert_int_equal(r.skipped, x->n);
	assert_int_equal(r.bytes_stored, 0);
	assert_validates(x->dst);
}

/* mode NO: compressed records are decoded and stored raw */
static void test_recode(void **state)
{
	struct fx *x = *state;
	udos_import_result r;
	struct seen s = { 0 };
	udos_meta m;

	fill_src(x, false);
	import_all(&r, x, UDOS_COMPRESS_NO, &s);
	assert_int_equal(r.copied, x->n);
	for (size_t i = 0; i < x->n; i++) {
		assert_ok(udos_object_stat(&m, x->dst, &x->ids[i]));
		assert_int_equal(m.codec, UDOS_CODEC_NONE);
		assert_same(x, &x->ids[i], false);
	}
	assert_validates(x->dst);
}

static void test_missing(void **state)
{
	struct fx *x = *state;
	udos_import_opts o = UDOS_IMPORT_OPTS_INIT;
	udos_import_result r;
	struct seen s = { 0 };
	udos_oid ids[4];

	fill_src(x, false);
	ids[0] = x->ids[0];
	memset(&ids[1], 0xab, sizeof(ids[1]));
	ids[2] = x->ids[3];
	memset(&ids[3], 0xcd, sizeof(ids[3]));
	o.no_sync = true;
	o.on_object = seen_fn;
	o.ctx = &s;
	assert_ok(udos_store_import(&r, x->dst, x->src, ids, 4, &o));
	assert_int_equal(r.copied, 2);
	assert_int_equal(r.missing, 2);
	assert_int_equal(s.n[UDOS_IMPORT_MISSING], 2);
	assert_int_equal(udos_object_has(x->dst, &ids[1]), 0);
	assert_validates(x->dst);
}

static void flip_record(struct fx *x, const udos_oid *id)
{
	char path[4096];
	udos_meta m;
	uint8_t b;
	off_t at;
	int fd;

	assert_ok(udos_object_stat(&m, x->src, id));
	assert_int_equal(m.loc, UDOS_LOC_PACKED);
	snprintf(path, sizeof(path), "%s/packs/%u", udos_store_path(x->src),
		 m.pack_id);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	at = (off_t)(m.offset + m.stored_size / 2);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

/* a damaged record (windowed, and one read by a plain reader) is reported
 * and not copied; the rest is */
static void test_corrupt_source(void **state)
{
	struct fx *x = *state;
	udos_import_result r;
	struct seen s = { 0 };

	fill_src(x, true);
	flip_record(x, &x->ids[7]);
	flip_record(x, &x->ids[NOBJ]); /* the big one */
	import_all(&r, x, UDOS_COMPRESS_KEEP, &s);
	assert_int_equal(r.corrupt, 2);
	assert_int_equal(s.n[UDOS_IMPORT_CORRUPT], 2);
	assert_int_equal(r.copied, x->n - 2);
	assert_int_equal(udos_object_has(x->dst, &x->ids[7]), 0);
	assert_int_equal(udos_object_has(x->dst, &x->ids[NOBJ]), 0);
	assert_validates(x->dst);
}

/* the same when re-encoding (the decoder or the id check catches it) */
static void test_corrupt_source_recode(void **state)
{
	struct fx *x = *state;
	udos_import_result r;
	struct seen s = { 0 };

	fill_src(x, false);
	flip_record(x, &x->ids[4]);
	import_all(&r, x, UDOS_COMPRESS_NO, &s);
	assert_int_equal(r.corrupt, 1);
	assert_int_equal(r.copied, x->n - 1);
	assert_int_equal(udos_object_has(x->dst, &x->ids[4]), 0);
	assert_validates(x->dst);
}

/* sha1 -> sha256: content hashed again, the mapping reported */
static void test_other_hash(void **state)
{
	struct fx *x = *state;
	udos_import_result r;
	struct seen s = { 0 };

	fill_src(x, false);
	import_all(&r, x, UDOS_COMPRESS_KEEP, &s);
	assert_int_equal(r.copied, x->n);
	assert_int_equal(s.nmap, x->n);
	for (size_t i = 0; i < s.nmap; i++) {
		udos_oid want;
		void *a;
		size_t la;

		assert_ok(udos_object_read(&a, &la, x->src, &s.src[i], 0,
					   UDOS_READ_VERIFY));
		assert_ok(udos_oid_hash_as(&want, UDOS_HASH_SHA256, a, la));
		assert_memory_equal(&want, &s.dst[i], sizeof(want));
		free(a);
		assert_ok(udos_object_read(&a, &la, x->dst, &s.dst[i], 0,
					   UDOS_READ_VERIFY));
		free(a);
	}
	/* again: everything is there already (found only by hashing) */
	memset(&s, 0, sizeof(s));
	import_all(&r, x, UDOS_COMPRESS_KEEP, &s);
	assert_int_equal(r.copied, 0);
	assert_int_equal(r.skipped, x->n);
	assert_int_equal(s.nmap, x->n);
	assert_validates(x->dst);
}

static void test_into_itself(void **state)
{
	struct fx *x = *state;

	assert_int_equal(udos_store_import(NULL, x->src, x->src, NULL, 0,
					   NULL),
			 -EINVAL);
}

static int stop_fn(void *ctx, int status, const udos_oid *src,
		   const udos_oid *dst)
{
	(void)ctx, (void)status, (void)src, (void)dst;
	return 42;
}

/* a stop from the callback comes back; what was written is committed */
static void test_stop(void **state)
{
	struct fx *x = *state;
	udos_import_opts o = UDOS_IMPORT_OPTS_INIT;
	udos_import_result r;

	fill_src(x, false);
	o.no_sync = true;
	assert_ok(udos_store_import(&r, x->dst, x->src, x->ids, 5, &o));
	/* the loose one comes first (pending), then ids[0], present: stop */
	o.flags = UDOS_IMPORT_ALL;
	o.on_object = stop_fn;
	assert_int_equal(udos_store_import(&r, x->dst, x->src, NULL, 0, &o),
			 42);
	assert_int_equal(r.copied, 1);
	assert_int_equal(udos_object_has(x->dst, &x->ids[x->n - 1]), 1);
	assert_validates(x->dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_raw_copy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_raw_copy_small,
						setup_zlib, teardown),
		cmocka_unit_test_setup_teardown(test_raw_copy_small,
						setup_none, teardown),
		cmocka_unit_test_setup_teardown(test_skip_present, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_source, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_source_recode,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_hash, setup_sha1,
						teardown),
		cmocka_unit_test_setup_teardown(test_into_itself, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
