/* test_validate.c - validate finds every kind of damage, and reports all of
 * it, not only the first. */
#include "helpers.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
	char *dir;
	char root[4096];
	udos_store *st;
	udos_oid oids[20];
	int kinds[32];
	size_t n_kinds;
};

static int collect(void *ctx, const udos_finding *f)
{
	struct fx *x = ctx;

	if (x->n_kinds < 32)
		x->kinds[x->n_kinds++] = f->kind;
	return 0;
}

static bool has_kind(struct fx *x, int kind)
{
	for (size_t i = 0; i < x->n_kinds; i++)
		if (x->kinds[i] == kind)
			return true;
	return false;
}

static uint64_t run(struct fx *x, bool full)
{
	udos_validate_result r;

	x->n_kinds = 0;
	assert_ok(udos_store_validate(&r, x->st, full ? UDOS_VALIDATE_FULL : 0,
				      collect, x, NULL, NULL));
	return r.findings;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	udos_writer *w = NULL;
	uint8_t buf[3000];

	x->dir = tmp_dir();
	snprintf(x->root, sizeof(x->root), "%s/c", x->dir);
	x->st = store_new(x->dir, "zstd:3", 0);
	assert_ok(udos_writer_open(&w, x->st, NULL));
	for (int i = 0; i < 20; i++) {
		fill_bytes(buf, sizeof(buf), (uint32_t)i, i % 2);
		assert_ok(udos_writer_add_buf(&x->oids[i], NULL, w, buf,
					      sizeof(buf)));
	}
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	assert_int_equal(run(x, true), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	udos_store_close(x->st);
	tmp_remove(x->dir);
	free(x);
	return 0;
}

static char *path(struct fx *x, const char *rel)
{
	char *p;

	if (asprintf(&p, "%s/c/%s", x->dir, rel) < 0)
		fail_msg("asprintf");
	return p;
}

static void flip(const char *p, off_t off)
{
	int fd = open(p, O_RDWR);
	uint8_t b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x20;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void flip_everywhere(struct fx *x, const char *rel)
{
	char *p = path(x, rel);
	struct stat sb;

	assert_int_equal(stat(p, &sb), 0);
	/* a flipped byte anywhere in the file: always caught */
	for (off_t off = 0; off < sb.st_size; off += 37) {
		flip(p, off);
		udos_store_close(x->st);
		assert_ok(udos_store_open(&x->st, x->root, 0));
		assert_true(run(x, false) > 0);
		flip(p, off);
	}
	assert_int_equal(run(x, true), 0);
	free(p);
}

static void test_flipped_byte_everywhere(void **state)
{
	flip_everywhere(*state, "packs/0");
}

static void test_flipped_entry_byte_everywhere(void **state)
{
	flip_everywhere(*state, "packs/0.rec");
}

static void test_flip_in_data(void **state)
{
	struct fx *x = *state;
	char *p = path(x, "packs/0");
	struct stat sb;

	assert_int_equal(stat(p, &sb), 0);
	flip(p, sb.st_size - 10);
	assert_int_equal(run(x, false), 1);
	assert_true(has_kind(x, UDOS_FIND_RECORD_CHECKSUM));
	assert_true(run(x, true) >= 1);
	free(p);
}

/* Reads check the XXH3 of the stored bytes too: damage is never served. */
static void test_reads_check_stored_bytes(void **state)
{
	struct fx *x = *state;
	char *p = path(x, "packs/0");
	struct stat sb;
	udos_meta m;
	void *d;
	size_t n;

	/* oids[18] is stored raw (random bytes): only the checksum can tell;
	 * oids[19] compressed */
	assert_ok(udos_object_stat(&m, x->st, &x->oids[18]));
	assert_int_equal(m.codec, UDOS_CODEC_NONE);
	flip(p, (off_t)m.offset + 5);
	assert_int_equal(stat(p, &sb), 0);
	flip(p, sb.st_size - 10);
	udos_store_close(x->st);
	assert_ok(udos_store_open(&x->st, x->root, 0));
	for (int i = 18; i < 20; i++)
		assert_int_equal(udos_object_read(&d, &n, x->st, &x->oids[i],
						  0, 0),
				 UDOS_ECORRUPT);
	assert_ok(udos_object_read(&d, &n, x->st, &x->oids[17], 0, 0));
	free(d);
	free(p);
}

static void test_truncated_pack(void **state)
{
	struct fx *x = *state;
	char *p = path(x, "packs/0");
	struct stat sb;

	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(truncate(p, sb.st_size - 100), 0);
	udos_store_close(x->st);
	assert_ok(udos_store_open(&x->st, x->root, 0));
	assert_true(run(x, false) >= 1);
	assert_true(has_kind(x, UDOS_FIND_RECORD_TRUNCATED) ||
		    has_kind(x, UDOS_FIND_INDEX_DANGLING));
	free(p);
}

static void test_emptied_pack(void **state)
{
	struct fx *x = *state;
	char *p = path(x, "packs/0");

	assert_int_equal(truncate(p, 0), 0);
	udos_store_close(x->st);
	assert_ok(udos_store_open(&x->st, x->root, 0));
	/* the pack itself, and every object indexed in it */
	assert_true(run(x, false) >= 21);
	assert_true(has_kind(x, UDOS_FIND_RECORD_TRUNCATED));
	assert_true(has_kind(x, UDOS_FIND_INDEX_DANGLING));
	free(p);
}

static void test_missing_pack(void **state)
{
	struct fx *x = *state;
	char *p = path(x, "packs/0");

	assert_int_equal(unlink(p), 0);
	udos_store_close(x->st);
	assert_ok(udos_store_open(&x->st, x->root, 0));
	/* every indexed object is reported, not only the first */
	assert_int_equal(run(x, false), 20);
	assert_true(has_kind(x, UDOS_FIND_INDEX_DANGLING));
	free(p);
}

static void test_missing_or_cut_entries(void **state)
{
	struct fx *x = *state;
	char *p = path(x, "packs/0.rec");
	struct stat sb;

	/* entries cut: the index entries past the cut are checked on their
	 * own, the cut itself is reported */
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(truncate(p, sb.st_size - 100), 0);
	assert_true(run(x, false) >= 1);
	assert_true(has_kind(x, UDOS_FIND_RECORD_TRUNCATED));
	/* gone: reported, every object still checked through the index */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(run(x, false), 1);
	assert_true(has_kind(x, UDOS_FIND_PACK_HEADER));
	free(p);
}

static void test_loose_problems(void **state)
{
	struct fx *x = *state;
	char hex[65], rel[128], rel2[128];
	udos_oid oid;
	char *a, *b;

	assert_ok(udos_add_loose_buf(&oid, NULL, x->st, "abc", 3, 0));
	udos_oid_fmt(hex, &oid);
	snprintf(rel, sizeof(rel), "loose/%.2s/%s", hex, hex + 2);
	/* rename to another valid id: content no longer matches the name */
	snprintf(rel2, sizeof(rel2), "loose/%.2s/%.59s000", hex, hex + 2);
	a = path(x, rel);
	b = path(x, rel2);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(run(x, false), 1);
	assert_true(has_kind(x, UDOS_FIND_LOOSE_HASH));
	/* and a name that is no id at all */
	free(a);
	a = path(x, "loose/ab/not-a-hash");
	free(b);
	b = path(x, "loose/ab");
	mkdir(b, 0755);
	fclose(fopen(a, "w"));
	assert_int_equal(run(x, false), 2);
	assert_true(has_kind(x, UDOS_FIND_LOOSE_NAME));
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flip_in_data, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte_everywhere,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_flipped_entry_byte_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_or_cut_entries,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_check_stored_bytes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_pack, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_pack, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_emptied_pack, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_loose_problems, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
