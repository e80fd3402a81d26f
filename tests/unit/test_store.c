/* test_store.c - init and open: options, refusals, config round trip. */
#include "helpers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_init_and_info(void **state)
{
	char *dir = tmp_dir(), path[4096];
	udos_init_opts o = UDOS_INIT_OPTS_INIT;
	udos_store_info info;
	udos_store *st = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/c", dir);
	o.compression = "zlib+1"; /* disk-objectstore's spelling */
	o.loose_prefix_len = 3;
	o.pack_size_target = 1 << 20;
	assert_ok(udos_store_init(path, &o));
	assert_ok(udos_store_open(&st, path, 0));
	udos_store_info_get(&info, st);
	assert_string_equal(info.compression, "zlib:1");
	assert_int_equal(info.default_codec, UDOS_CODEC_ZLIB);
	assert_int_equal(info.loose_prefix_len, 3);
	assert_int_equal(info.pack_size_target, 1 << 20);
	assert_int_equal(strlen(info.container_id), 36);
	assert_string_equal(udos_store_path(st), path);
	/* loose layout follows the prefix length */
	udos_oid oid;
	char hex[65], rel[4200];
	assert_ok(udos_add_loose_buf(&oid, NULL, st, "abc", 3, 0));
	udos_oid_fmt(hex, &oid);
	snprintf(rel, sizeof(rel), "%s/loose/%.3s/%s", path, hex, hex + 3);
	assert_int_equal(access(rel, F_OK), 0);
	udos_store_close(st);
	/* twice: refused */
	assert_int_equal(udos_store_init(path, NULL), UDOS_EEXIST);
	tmp_remove(dir);
}

static void test_refusals(void **state)
{
	char *dir = tmp_dir(), path[4096];
	udos_init_opts o = UDOS_INIT_OPTS_INIT;
	udos_store *st = NULL;
	FILE *f;

	(void)state;
	/* a folder with files in it */
	snprintf(path, sizeof(path), "%s/full", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/full/x", dir);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/full", dir);
	assert_int_equal(udos_store_init(path, NULL), UDOS_EEXIST);
	assert_non_null(strstr(udos_error_detail(), "not empty"));
	/* not a container */
	assert_int_equal(udos_store_open(&st, path, 0), UDOS_ENOTSTORE);
	assert_null(st);
	assert_non_null(strstr(udos_error_detail(), path));
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(udos_store_open(&st, path, 0), UDOS_ENOTSTORE);
	/* bad options */
	snprintf(path, sizeof(path), "%s/new", dir);
	o.compression = "lz4:1";
	assert_int_equal(udos_store_init(path, &o), -EINVAL);
	o.compression = "zstd:99";
	assert_int_equal(udos_store_init(path, &o), -EINVAL);
	o.compression = NULL;
	o.loose_prefix_len = 9;
	assert_int_equal(udos_store_init(path, &o), -EINVAL);
	/* a newer format */
	o.loose_prefix_len = -1;
	assert_ok(udos_store_init(path, &o));
	snprintf(path, sizeof(path), "%s/new/config.json", dir);
	f = fopen(path, "w");
	fputs("{\"udos_format_version\": 3, \"container_id\": "
	      "\"47519cd8-e83f-49c4-87b2-3bd033448a76\"}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/new", dir);
	assert_int_equal(udos_store_open(&st, path, 0), UDOS_EFORMAT);
	/* garbage config */
	snprintf(path, sizeof(path), "%s/new/config.json", dir);
	f = fopen(path, "w");
	fputs("{not json", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/new", dir);
	assert_int_equal(udos_store_open(&st, path, 0), UDOS_ENOTSTORE);
	tmp_remove(dir);
}

static void test_parsers(void **state)
{
	uint64_t v;
	int c, l;

	(void)state;
	assert_ok(udos_size_parse(&v, "512M"));
	assert_int_equal(v, 512ull << 20);
	assert_ok(udos_size_parse(&v, "4GiB"));
	assert_int_equal(v, 4ull << 30);
	assert_ok(udos_size_parse(&v, "123"));
	assert_int_equal(v, 123);
	assert_int_equal(udos_size_parse(&v, "12X"), -EINVAL);
	assert_int_equal(udos_size_parse(&v, "-1"), -EINVAL);
	assert_int_equal(udos_size_parse(&v, "99999999999T"), -EINVAL);
	assert_ok(udos_codec_parse(&c, &l, "zstd:19"));
	assert_int_equal(c, UDOS_CODEC_ZSTD);
	assert_int_equal(l, 19);
	assert_ok(udos_codec_parse(&c, &l, "none"));
	assert_int_equal(c, UDOS_CODEC_NONE);
	assert_int_equal(udos_codec_parse(&c, &l, "zlib:0"), -EINVAL);
	assert_int_equal(udos_codec_parse(&c, &l, "zlib:"), -EINVAL);
	assert_int_equal(udos_codec_parse(&c, &l, "zstd:3x"), -EINVAL);
	assert_string_equal(udos_strerror(UDOS_ENOTFOUND), "not found");
	assert_string_equal(udos_strerror(-ENOSPC), "no space left on device");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_info),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
