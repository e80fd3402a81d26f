/* gen_seeds.c - writes the seed corpora in tests/fuzz/corpus/<target>/:
 * valid inputs made by the library itself, and a few broken ones.
 * Usage: fuzz_gen_seeds CORPUS_DIR (the output is committed to git). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *out_dir;

static void die(const char *what)
{
	fprintf(stderr, "gen_seeds: %s: %s\n", what, udos_error_detail());
	exit(1);
}

static void put(const char *target, const char *name, const void *data,
		size_t len)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", out_dir, target);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/%s/%s", out_dir, target, name);
	f = fopen(p, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f))
		die(p);
}

static void put_str(const char *target, const char *name, const char *s)
{
	put(target, name, s, strlen(s));
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0)
		die(path);
	rewind(f);
	d = malloc((size_t)n + 1);
	if (!d || fread(d, 1, (size_t)n, f) != (size_t)n)
		die(path);
	fclose(f);
	*len = (size_t)n;
	return d;
}

/* A container with a dozen small objects in packs/0 of `compression`;
 * writes the pack and its config.json as seeds. */
static void make_pack(const char *compression, const char *tag)
{
	udos_init_opts o = UDOS_INIT_OPTS_INIT;
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	char tmpl[] = "/tmp/udos-seeds-XXXXXX", p[4096], name[64];
	udos_store *st;
	udos_writer *w;
	udos_oid oid;
	uint8_t obj[1500], *pack, *recs, *data, *cfg;
	size_t len, rlen, dlen, clen;

	if (!mkdtemp(tmpl))
		die("mkdtemp");
	snprintf(p, sizeof(p), "%s/c", tmpl);
	o.compression = compression;
	if (udos_store_init(p, &o) < 0 || udos_store_open(&st, p, 0) < 0)
		die("init");
	wo.compress = UDOS_COMPRESS_YES;
	wo.no_sync = true;
	if (udos_writer_open(&w, st, &wo) < 0)
		die("writer");
	for (int i = 0; i < 12; i++) {
		/* empty, tiny, text-like and random-ish contents */
		size_t n = i == 0 ? 0 : (size_t)(i * 117) % sizeof(obj);
		for (size_t k = 0; k < n; k++)
			obj[k] = i & 1 ? (uint8_t)"udos pack "[k % 10]
				       : (uint8_t)((k * 2654435761u) >> 13);
		if (udos_writer_add_buf(&oid, NULL, w, obj, n) < 0)
			die("add");
	}
	if (udos_writer_commit(w) < 0)
		die("commit");
	udos_writer_close(w);
	udos_store_close(st);

	/* fuzz_pack input: u32 length of packs/0.rec, it, then packs/0 */
	snprintf(p, sizeof(p), "%s/c/packs/0.rec", tmpl);
	recs = slurp(p, &rlen);
	snprintf(p, sizeof(p), "%s/c/packs/0", tmpl);
	data = slurp(p, &dlen);
	len = 4 + rlen + dlen;
	pack = malloc(len);
	if (!pack)
		die("malloc");
	udos__put_le32(pack, (uint32_t)rlen);
	memcpy(pack + 4, recs, rlen);
	memcpy(pack + 4 + rlen, data, dlen);
	snprintf(name, sizeof(name), "valid_%s", tag);
	put("pack", name, pack, len);
	/* the first record entry, checksum intact (trailing 0: keep it) */
	recs[UDOS_RECS_HDR_SIZE + UDOS_REC_SIZE] = 0;
	put("rec_header", name, recs + UDOS_RECS_HDR_SIZE, UDOS_REC_SIZE + 1);
	/* broken packs: data cut short, one flipped stored byte, one flipped
	 * entry byte */
	snprintf(name, sizeof(name), "truncated_%s", tag);
	put("pack", name, pack, 4 + rlen + dlen * 2 / 3);
	pack[4 + rlen + 20] ^= 0x10;
	snprintf(name, sizeof(name), "flipped_%s", tag);
	put("pack", name, pack, len);
	pack[4 + rlen + 20] ^= 0x10;
	pack[4 + UDOS_RECS_HDR_SIZE + 9] ^= 0x01;
	snprintf(name, sizeof(name), "bad_entry_%s", tag);
	put("pack", name, pack, len);
	free(pack);
	free(recs);
	free(data);

	snprintf(p, sizeof(p), "%s/c/config.json", tmpl);
	cfg = slurp(p, &clen);
	snprintf(name, sizeof(name), "valid_%s", tag);
	put("config", name, cfg, clen);
	free(cfg);
	nftw(tmpl, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void rec_seeds(void)
{
	uint8_t h[UDOS_REC_SIZE + 1];
	udos__rec r = { 0 };

	r.codec = UDOS_CODEC_ZSTD;
	r.raw_len = 1000;
	r.stored_len = 100;
	udos_oid_hash(&r.oid, "x", 1);
	r.data_xxh = 42;
	udos__rec_encode(h, &r);
	h[UDOS_REC_SIZE] = 0;
	put("rec_header", "zstd", h, sizeof(h));
	h[0] = 'X';
	put("rec_header", "bad_magic", h, sizeof(h));
	/* the trailing odd byte asks the target to fix the checksum */
	udos__rec_encode(h, &r);
	h[4] = 7;
	h[UDOS_REC_SIZE] = 1;
	put("rec_header", "bad_codec_fixsum", h, sizeof(h));
	r.codec = UDOS_CODEC_NONE;
	udos__rec_encode(h, &r);
	h[UDOS_REC_SIZE] = 0;
	put("rec_header", "raw_len_mismatch", h, sizeof(h));
	put("rec_header", "short", h, 40);
}

static void loc_seeds(void)
{
	uint8_t v[UDOS_IDX_VAL_SIZE + 1] = { 0 };
	udos__rec l = { .codec = UDOS_CODEC_ZLIB, .pack_id = 3,
			.offset = 4096, .stored_len = 100, .raw_len = 1000,
			.data_xxh = 42, .slot = 7 };

	udos__loc_encode(v, &l);
	put("loc_value", "valid", v, UDOS_IDX_VAL_SIZE);
	put("loc_value", "short", v, UDOS_IDX_VAL_SIZE - 1);
	put("loc_value", "long", v, UDOS_IDX_VAL_SIZE + 1);
	put("loc_value", "empty", v, 0);
	v[0] = 1;
	put("loc_value", "version1", v, UDOS_IDX_VAL_SIZE);
	v[0] = 2;
	v[1] = 3;
	put("loc_value", "codec3", v, UDOS_IDX_VAL_SIZE);
	/* the tail value: 20 bytes */
	put("loc_value", "tail", v, 20);
}

static void oid_seeds(void)
{
	static const char *ok =
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
	char s[80];

	put_str("oid_parse", "valid", ok);
	for (size_t i = 0; i < 64; i++)
		s[i] = (char)(ok[i] >= 'a' ? ok[i] - 32 : ok[i]);
	put("oid_parse", "upper", s, 64);
	put("oid_parse", "short", ok, 63);
	snprintf(s, sizeof(s), "%s0", ok);
	put_str("oid_parse", "long", s);
	snprintf(s, sizeof(s), "%s", ok);
	s[30] = 'g';
	put_str("oid_parse", "nonhex", s);
	put("oid_parse", "empty", "", 0);
}

static void config_seeds(void)
{
	put_str("config", "empty", "");
	put_str("config", "not_object", "[1, 2]");
	put_str("config", "no_version",
		"{\"container_id\": \"0b7e6f50-3d8f-4ad8-9c1e-5f3c0a9d2e11\"}");
	put_str("config", "version3",
		"{\"udos_format_version\": 3, \"container_id\": "
		"\"0b7e6f50-3d8f-4ad8-9c1e-5f3c0a9d2e11\"}");
	put_str("config", "bad_uuid",
		"{\"udos_format_version\": 2, \"container_id\": "
		"\"0b7e6f50-3d8f-4ad8-9c1e\"}");
	put_str("config", "escape",
		"{\"udos_format_version\": 2, \"container_id\": \"a\\\"b\"}");
	put_str("config", "huge_numbers",
		"{\"udos_format_version\": 99999999999999999999999, "
		"\"container_id\": \"0b7e6f50-3d8f-4ad8-9c1e-5f3c0a9d2e11\", "
		"\"loose_prefix_len\": 18446744073709551615, "
		"\"pack_size_target\": 0, \"compression\": \"zstd:99\"}");
	put_str("config", "minimal_ok",
		"{\"udos_format_version\":2,\"container_id\":"
		"\"0b7e6f50-3d8f-4ad8-9c1e-5f3c0a9d2e11\",\"extra\":\"x\"}");
	put_str("config", "unterminated",
		"{\"udos_format_version\": 2, \"container_id\": \"0b7e");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_gen_seeds CORPUS_DIR\n");
		return 2;
	}
	out_dir = argv[1];
	mkdir(out_dir, 0755);
	make_pack("zstd:3", "zstd");
	make_pack("zlib:6", "zlib");
	make_pack("none", "none");
	rec_seeds();
	loc_seeds();
	oid_seeds();
	config_seeds();
	/* an empty pack and a lone header (no records) */
	put("pack", "empty", "", 0);
	put("pack", "header_only", "\x20\0\0\0UDOSRECS\2\0\0\0\0\0\0\0"
	    "0123456789abcdef", 4 + UDOS_RECS_HDR_SIZE);
	return 0;
}
