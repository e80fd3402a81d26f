/* test_habits.c - id prefixes (udos_object_resolve), clean with dry run and
 * vacuum (udos_store_clean_ex), waiting for the writer lock. */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static udos_store *store_prefix(const char *dir, int loose_prefix_len)
{
	udos_init_opts o = UDOS_INIT_OPTS_INIT;
	udos_store *st = NULL;
	char path[4096];

	snprintf(path, sizeof(path), "%s/c", dir);
	o.loose_prefix_len = loose_prefix_len;
	assert_ok(udos_store_init(path, &o));
	assert_ok(udos_store_open(&st, path, 0));
	return st;
}

/* n objects, the even ones packed, the odd ones loose */
static void fill(udos_store *st, udos_oid *oids, int n)
{
	udos_writer *w = NULL;
	uint8_t buf[700];

	assert_ok(udos_writer_open(&w, st, NULL));
	for (int i = 0; i < n; i++) {
		fill_bytes(buf, sizeof(buf), (uint32_t)i + 77, i % 3);
		if (i % 2 == 0)
			assert_ok(udos_writer_add_buf(&oids[i], NULL, w, buf,
						      sizeof(buf)));
		else
			assert_ok(udos_add_loose_buf(&oids[i], NULL, st, buf,
						     sizeof(buf),
						     UDOS_ADD_NOSYNC));
	}
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
}

static void check_resolve(int loose_prefix_len)
{
	char *dir = tmp_dir();
	udos_store *st = store_prefix(dir, loose_prefix_len);
	udos_oid oids[64], got[4];
	char hex[65];
	size_t n;

	fill(st, oids, 64);
	for (int i = 0; i < 64; i++) {
		udos_oid_fmt(hex, &oids[i]);
		/* even and odd digit counts, up to the whole id */
		for (size_t k = 8; k <= 64; k += (k < 12 ? 1 : 13)) {
			memset(got, 0, sizeof(got));
			assert_ok(udos_object_resolve(got, &n, st, hex, k, 4));
			assert_int_equal(n, 1);
			assert_memory_equal(&got[0], &oids[i], sizeof(got[0]));
		}
	}
	/* 7 digits: refused; not hex: refused; a miss */
	udos_oid_fmt(hex, &oids[0]);
	assert_int_equal(udos_object_resolve(got, &n, st, hex, 7, 4), -EINVAL);
	assert_non_null(strstr(udos_error_detail(), "too short"));
	assert_int_equal(udos_object_resolve(got, &n, st, "0123456g", 8, 4),
			 -EINVAL);
	hex[8] = hex[8] == 'f' ? '0' : 'f';
	hex[9] = hex[9] == 'f' ? '0' : 'f';
	/* 64 ids sharing 10 given digits by chance: 64 in 2^40 */
	assert_int_equal(udos_object_resolve(got, &n, st, hex, 10, 4),
			 UDOS_ENOTFOUND);
	assert_int_equal(n, 0);
	udos_store_close(st);
	tmp_remove(dir);
}

static void test_resolve_prefix2(void **state)
{
	(void)state;
	check_resolve(2);
}

static void test_resolve_prefix0(void **state)
{
	(void)state;
	check_resolve(0);
}

static void test_resolve_prefix8(void **state)
{
	(void)state;
	check_resolve(8);
}

/* a loose file named like an indexed id but one digit: the two share a
 * 63-digit prefix; an id both packed and loose counts once */
static void test_resolve_ambiguous(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_prefix(dir, 2);
	udos_oid oids[4], got[4], twin;
	udos_pack_opts po = UDOS_PACK_OPTS_INIT;
	char hex[65], path[4300];
	size_t n;
	FILE *f;

	(void)state;
	fill(st, oids, 4);
	po.clean = false;
	assert_ok(udos_store_pack_loose(NULL, st, &po)); /* 1, 3 both ways */
	udos_oid_fmt(hex, &oids[1]);
	assert_ok(udos_object_resolve(got, &n, st, hex, 8, 4));
	assert_int_equal(n, 1);
	hex[63] = hex[63] == '0' ? '1' : '0';
	assert_ok(udos_oid_parse(&twin, hex, 64));
	snprintf(path, sizeof(path), "%s/c/loose/%.2s/%s", dir, hex, hex + 2);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not its content", f);
	fclose(f);
	for (size_t k = 8; k <= 63; k += 11) {
		assert_int_equal(udos_object_resolve(got, &n, st, hex, k, 4),
				 UDOS_EAMBIGUOUS);
		assert_int_equal(n, 2);
		/* sorted */
		assert_true(udos_oid_cmp(&got[0], &got[1]) < 0);
		assert_true(!udos_oid_cmp(&got[0], &twin) ||
			    !udos_oid_cmp(&got[1], &twin));
	}
	/* cap 1: the count is still whole */
	assert_int_equal(udos_object_resolve(got, &n, st, hex, 8, 1),
			 UDOS_EAMBIGUOUS);
	assert_int_equal(n, 2);
	assert_ok(udos_object_resolve(got, &n, st, hex, 64, 4));
	assert_memory_equal(&got[0], &twin, sizeof(twin));
	udos_store_close(st);
	tmp_remove(dir);
}

static void test_clean_dry_run_and_vacuum(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_prefix(dir, 2);
	udos_clean_opts co = UDOS_CLEAN_OPTS_INIT;
	udos_pack_opts po = UDOS_PACK_OPTS_INIT;
	udos_clean_result r;
	udos_oid oids[100], extra;
	udos_status s;

	(void)state;
	fill(st, oids, 100);
	po.clean = false;
	assert_ok(udos_store_pack_loose(NULL, st, &po));
	assert_ok(udos_add_loose_buf(&extra, NULL, st, "only loose", 10, 0));
	co.flags = UDOS_CLEAN_DRY_RUN | UDOS_CLEAN_VACUUM;
	assert_ok(udos_store_clean_ex(&r, st, &co));
	assert_int_equal(r.loose_checked, 51);
	assert_int_equal(r.removed, 50);
	assert_int_equal(r.removed_bytes, 50 * 700);
	assert_int_equal(r.index_bytes_before, 0); /* no vacuum in a dry run */
	assert_ok(udos_store_status(&s, st));
	assert_int_equal(s.loose_count, 51);
	for (int i = 0; i < 50; i++)
		assert_ok(udos_object_delete(st, &oids[2 * i]));
	co.flags = UDOS_CLEAN_VACUUM;
	assert_ok(udos_store_clean_ex(&r, st, &co));
	assert_int_equal(r.removed, 50);
	assert_true(r.index_bytes_before > 0 && r.index_bytes_after > 0);
	assert_ok(udos_store_status(&s, st));
	assert_int_equal(s.loose_count, 1);
	assert_int_equal(s.packed_count, 50);
	for (int i = 0; i < 50; i++)
		assert_int_equal(udos_object_has(st, &oids[2 * i + 1]), 1);
	assert_int_equal(udos_object_has(st, &extra), 1);
	/* the old entry point counts the same way */
	assert_int_equal(udos_store_clean(st), 0);
	udos_store_close(st);
	tmp_remove(dir);
}

struct waited {
	long pids[8];
	int n;
};

static void on_wait(void *ctx, long pid)
{
	struct waited *w = ctx;

	if (w->n < 8)
		w->pids[w->n++] = pid;
}

static void *release_later(void *arg)
{
	usleep(300 * 1000);
	udos_store_close(arg);
	return NULL;
}

static void test_lock_wait(void **state)
{
	char *dir = tmp_dir();
	udos_store *a = store_prefix(dir, 2), *b = NULL;
	struct waited w = { { 0 }, 0 };
	char path[4096];
	pthread_t t;

	(void)state;
	snprintf(path, sizeof(path), "%s/c", dir);
	assert_ok(udos_store_open(&b, path, 0));
	assert_ok(udos_store_lock_writer(a));
	/* fail fast, as udos_store_lock_writer */
	assert_int_equal(udos_store_lock_writer_wait(b, 0, on_wait, &w),
			 UDOS_ELOCKED);
	/* a bounded wait: told whom for, once */
	assert_int_equal(udos_store_lock_writer_wait(b, 150, on_wait, &w),
			 UDOS_ELOCKED);
	assert_non_null(strstr(udos_error_detail(), "(pid"));
	assert_int_equal(w.n, 1);
	assert_int_equal(w.pids[0], (long)getpid());
	/* no limit: taken once the holder closes */
	w.n = 0;
	assert_int_equal(pthread_create(&t, NULL, release_later, a), 0);
	assert_ok(udos_store_lock_writer_wait(b, -1, on_wait, &w));
	pthread_join(t, NULL);
	assert_int_equal(w.n, 1);
	udos_store_close(b);
	tmp_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_prefix2),
		cmocka_unit_test(test_resolve_prefix0),
		cmocka_unit_test(test_resolve_prefix8),
		cmocka_unit_test(test_resolve_ambiguous),
		cmocka_unit_test(test_clean_dry_run_and_vacuum),
		cmocka_unit_test(test_lock_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
