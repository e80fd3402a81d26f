/* test_remote_manifest.c - the remote's manifest text (docs/FORMAT.md
 * "Remote layout"): version 1 without deletion marks, version 2 with its
 * `deletions` line, round trips, and what readers refuse. */
#include "helpers.h"

#include <string.h>

#include "remote_manifest.h"

#define S64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define HEAD(v)                                                            \
	"udos-remote " v "\ngeneration 7\n"                                \
	"container 0a1b2c3d-0000-4000-8000-000000000001\n"                \
	"hash_type sha256\nloose_prefix_len 2\n"                           \
	"pack_size_target 4194304\ncompression zstd:1\n"
#define PACK "pack 3 100 " S64 " 112 " S64 "\n"
#define DELS "deletions 5 " S64 "\n"

static int parse(udos__manifest *m, const char *text)
{
	return udos__manifest_parse(m, text, strlen(text), "test");
}

static void roundtrip(const char *text)
{
	udos__manifest m;
	udos_buf b = UDOS_BUF_INIT;

	assert_ok(parse(&m, text));
	assert_ok(udos__manifest_format(&b, &m));
	assert_int_equal(b.len, strlen(text));
	assert_memory_equal(b.data, text, b.len);
	udos_buf_release(&b);
	udos__manifest_release(&m);
}

static void test_versions(void **state)
{
	udos__manifest m;

	(void)state;
	roundtrip(HEAD("1") PACK "end\n");
	roundtrip(HEAD("2") DELS PACK "end\n");
	assert_ok(parse(&m, HEAD("2") DELS PACK "end\n"));
	assert_int_equal(m.dels, 5);
	assert_string_equal(m.dels_sha, S64);
	assert_int_equal(m.n, 1);
	udos__manifest_release(&m);
	/* no marks: written as version 1, for readers that know only it */
	assert_ok(parse(&m, HEAD("2") PACK "end\n"));
	assert_int_equal(m.dels, 0);
	{
		udos_buf b = UDOS_BUF_INIT;
		assert_ok(udos__manifest_format(&b, &m));
		assert_memory_equal(b.data, "udos-remote 1\n", 14);
		udos_buf_release(&b);
	}
	udos__manifest_release(&m);
}

static void test_refused(void **state)
{
	udos__manifest m;

	(void)state;
	/* a version 1 text cannot carry marks */
	assert_int_equal(parse(&m, HEAD("1") DELS PACK "end\n"),
			 UDOS_ECORRUPT);
	/* after the packs, twice, zero, or a bad hash */
	assert_int_equal(parse(&m, HEAD("2") PACK DELS "end\n"),
			 UDOS_ECORRUPT);
	assert_int_equal(parse(&m, HEAD("2") DELS DELS PACK "end\n"),
			 UDOS_ECORRUPT);
	assert_int_equal(parse(&m, HEAD("2") "deletions 0 " S64 "\nend\n"),
			 UDOS_ECORRUPT);
	assert_int_equal(parse(&m, HEAD("2") "deletions 5 xyz\nend\n"),
			 UDOS_ECORRUPT);
	/* cut */
	assert_int_equal(parse(&m, HEAD("2") DELS PACK), UDOS_ECORRUPT);
	/* newer: says so */
	assert_int_equal(parse(&m, HEAD("3") PACK "end\n"), UDOS_EFORMAT);
	assert_non_null(strstr(udos_error_detail(), "format version 3"));
	assert_int_equal(parse(&m, HEAD("0") PACK "end\n"), UDOS_ECORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
