/* test_manifest.c - udos_manifest_parse: sha256sum lines (escaped or not,
 * binary marker) and `add --json` lines (every JSON escape, \udcXX bytes,
 * surrogate pairs), and what it refuses. */
#include "helpers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define H64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define H40 "a9993e364706816aba3e25717850c26c9cd0d89d"

static udos_manifest *parse(const char *text, size_t dsz, unsigned flags,
			    int want)
{
	udos_manifest *m = NULL;

	assert_ok(udos_manifest_new(&m, dsz));
	assert_int_equal(udos_manifest_parse(m, text, strlen(text), flags),
			 want);
	return m;
}

static void expect(const udos_manifest *m, size_t i, const char *path,
		   size_t len)
{
	size_t got_len = 0;
	const char *p = udos_manifest_entry(m, i, NULL, &got_len);

	assert_non_null(p);
	assert_int_equal(got_len, len);
	assert_memory_equal(p, path, len);
	assert_int_equal(p[len], '\0');
}

static void test_sum_lines(void **state)
{
	udos_manifest *m;
	udos_oid oid, want;

	(void)state;
	m = parse(H64 "  plain name\n"
		  "\\" H64 "  back\\\\slash\\nnew\\rcr\n"
		  "\n"
		  H64 " *binary marker\n"
		  H64 "  two  spaces  \n"
		  H64 "  no final newline",
		  32, 0, 0);
	assert_int_equal(udos_manifest_count(m), 5);
	expect(m, 0, "plain name", 10);
	expect(m, 1, "back\\slash\nnew\rcr", 17);
	expect(m, 2, "binary marker", 13);
	expect(m, 3, "two  spaces  ", 13);
	expect(m, 4, "no final newline", 16);
	udos_manifest_entry(m, 0, &oid, NULL);
	assert_ok(udos_oid_parse(&want, H64, 64));
	assert_memory_equal(&oid, &want, sizeof(oid));
	assert_null(udos_manifest_entry(m, 5, NULL, NULL));
	udos_manifest_free(m);

	m = parse(H40 "  sha1 id\n", 20, 0, 0);
	assert_int_equal(udos_manifest_count(m), 1);
	udos_manifest_free(m);
}

static void test_json_lines(void **state)
{
	udos_manifest *m;

	(void)state;
	m = parse("{\"hash\":\"" H64 "\",\"size\":3,\"path\":\"a\\udce9\\udcff"
		  "b\",\"stored\":true}\n"
		  "{ \"path\" : \"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d"
		  "\\ude00\", \"extra\": {\"x\": [1, \"}\"]}, \"hash\": \""
		  H64 "\" }\n"
		  "{\"hash\":\"" H64 "\",\"path\":\"caf\xc3\xa9\"}",
		  32, 0, 0);
	assert_int_equal(udos_manifest_count(m), 3);
	expect(m, 0, "a\xe9\xff" "b", 4);
	expect(m, 1, "\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80", 14);
	expect(m, 2, "caf\xc3\xa9", 5);
	udos_manifest_free(m);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"not a line\n",
		H64 " one space\n",
		H64 "  \n",                            /* no name */
		"\\" H64 "  bad\\escape\n",
		"zz" H64 "  x\n",
		"{\"hash\":\"" H64 "\"}\n",            /* no path */
		"{\"path\":\"x\"}\n",                  /* no hash */
		"{\"hash\":\"00\",\"path\":\"x\"}\n",  /* short id */
		"{\"hash\":\"" H64 "\",\"path\":\"\\ud800\"}\n", /* lone high */
		"{\"hash\":\"" H64 "\",\"path\":\"\\udc41\"}\n", /* not a byte */
		"{\"hash\":\"" H64 "\",\"path\":\"\\u0000\"}\n", /* NUL */
		"{\"hash\":\"" H64 "\",\"path\":\"\"}\n",        /* empty */
		"{\"hash\":\"" H64 "\",\"path\":\"x\"} trailing\n",
		"{\"hash\":\"" H64 "\",\"path\":\"x\"\n",
		H40 "  sha1 id in a sha256 manifest\n",
	};
	udos_manifest *m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = parse(bad[i], 32, 0, -EINVAL);
		assert_int_equal(udos_manifest_count(m), 0);
		assert_non_null(strstr(udos_error_detail(), "line 1"));
		udos_manifest_free(m);
	}
	/* entries before the bad line stay; the detail names the line */
	m = parse(H64 "  ok\n" H64 "  ok2\nbad\n", 32, 0, -EINVAL);
	assert_int_equal(udos_manifest_count(m), 2);
	assert_non_null(strstr(udos_error_detail(), "line 3"));
	udos_manifest_free(m);
	/* UDOS_MANIFEST_JSON: a sum line is not JSON */
	m = parse(H64 "  x\n", 32, UDOS_MANIFEST_JSON, -EINVAL);
	udos_manifest_free(m);
	assert_int_equal(udos_manifest_new(&m, 16), -EINVAL);
}

static void test_add(void **state)
{
	udos_manifest *m = NULL;
	udos_oid oid;

	(void)state;
	memset(&oid, 7, sizeof(oid));
	assert_ok(udos_manifest_new(&m, 32));
	for (int i = 0; i < 5000; i++) {
		char p[32];
		int n = snprintf(p, sizeof(p), "dir/file%d", i);

		assert_ok(udos_manifest_add(m, &oid, p, (size_t)n));
	}
	assert_int_equal(udos_manifest_add(m, &oid, "a\0b", 3), -EINVAL);
	assert_int_equal(udos_manifest_add(m, &oid, "", 0), -EINVAL);
	assert_int_equal(udos_manifest_count(m), 5000);
	expect(m, 4999, "dir/file4999", 12);
	udos_manifest_free(m);
	udos_manifest_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum_lines),
		cmocka_unit_test(test_json_lines),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_add),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
