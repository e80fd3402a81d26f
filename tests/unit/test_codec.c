/* test_codec.c - streaming codecs round trip in odd chunk sizes; the auto
 * heuristic's decisions. */
#include "helpers.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void roundtrip(int codec, int level, size_t len, size_t chunk)
{
	uint8_t *src = malloc(len + 1), *dst = malloc(len + 1);
	udos_buf out = UDOS_BUF_INIT;
	udos__zenc *z = NULL;
	udos__zdec *d = NULL;
	size_t got = 0;
	bool done = false;

	fill_bytes(src, len, (uint32_t)len, 1);
	assert_ok(udos__zenc_new(&z, codec, level));
	for (size_t at = 0; at < len || at == 0; at += chunk) {
		size_t n = len - at < chunk ? len - at : chunk;
		assert_ok(udos__zenc_run(z, &out, src + at, n,
					 at + n >= len));
		if (len == 0)
			break;
	}
	assert_ok(udos__zdec_new(&d, codec));
	const uint8_t *in = out.data;
	size_t in_len = out.len;
	while (!done) {
		size_t produced;
		size_t feed = in_len < 1000 ? in_len : 1000;
		size_t left = feed;
		assert_ok(udos__zdec_run(d, &in, &left, dst + got,
					 len + 1 - got, &produced, &done));
		in_len -= feed - left;
		got += produced;
		if (!feed && !produced && !done)
			fail_msg("decoder stalled");
	}
	assert_int_equal(got, len);
	assert_int_equal(in_len, 0);
	if (len)
		assert_memory_equal(src, dst, len);
	udos__zenc_free(z);
	udos__zdec_free(d);
	udos_buf_release(&out);
	free(src);
	free(dst);
}

static void test_codecs(void **state)
{
	(void)state;
	const size_t lens[] = { 0, 1, 1000, 300000 };
	for (size_t i = 0; i < 4; i++) {
		roundtrip(UDOS_CODEC_ZSTD, 3, lens[i], 7777);
		roundtrip(UDOS_CODEC_ZLIB, 6, lens[i], 7777);
	}
}

static void test_corrupt_input(void **state)
{
	uint8_t junk[100], out[100];
	const uint8_t *in = junk;
	size_t in_len = sizeof(junk), produced;
	udos__zdec *d = NULL;
	bool done;

	(void)state;
	memset(junk, 0x5a, sizeof(junk));
	assert_ok(udos__zdec_new(&d, UDOS_CODEC_ZSTD));
	assert_int_equal(udos__zdec_run(d, &in, &in_len, out, sizeof(out),
					&produced, &done),
			 UDOS_ECODEC);
	udos__zdec_free(d);
}

static void test_auto(void **state)
{
	uint8_t text[8192], rnd[8192];
	uint8_t gz[8192] = { 0x1f, 0x8b };

	(void)state;
	fill_bytes(text, sizeof(text), 1, 1);
	fill_bytes(rnd, sizeof(rnd), 1, 0);
	fill_bytes(gz + 2, sizeof(gz) - 2, 1, 1);
	assert_true(udos__worth_compressing(text, sizeof(text), sizeof(text)));
	assert_false(udos__worth_compressing(rnd, sizeof(rnd), sizeof(rnd)));
	/* tiny objects and known compressed formats stay raw */
	assert_false(udos__worth_compressing(text, 20, 20));
	assert_false(udos__worth_compressing(gz, sizeof(gz), sizeof(gz)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codecs),
		cmocka_unit_test(test_corrupt_input),
		cmocka_unit_test(test_auto),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
