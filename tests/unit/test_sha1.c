/* test_sha1.c - containers of hash type sha1: ids, config, loose and pack
 * writes, pack of loose files, validate, repack and ingest all hash with
 * SHA-1 and name objects by 40 hex digits. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* SHA-1 ("abc"), FIPS 180-2 appendix A */
#define ABC_SHA1 "a9993e364706816aba3e25717850c26c9cd0d89d"

struct fx {
	char *dir;
	char root[4096];
	udos_store *st;
};

static udos_store *sha1_store(const char *root)
{
	udos_init_opts o = UDOS_INIT_OPTS_INIT;
	udos_store *st = NULL;

	o.hash_type = UDOS_HASH_SHA1;
	o.compression = "zstd:3";
	assert_ok(udos_store_init(root, &o));
	assert_ok(udos_store_open(&st, root, 0));
	return st;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	x->dir = tmp_dir();
	snprintf(x->root, sizeof(x->root), "%s/c", x->dir);
	x->st = sha1_store(x->root);
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

static char *path(const struct fx *x, const char *rel)
{
	char *p;

	if (asprintf(&p, "%s/%s", x->root, rel) < 0)
		fail_msg("asprintf");
	return p;
}

static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *buf = calloc(1, 4096);

	assert_non_null(f);
	assert_true(fread(buf, 1, 4095, f) > 0);
	fclose(f);
	return buf;
}

static void write_file(const char *p, const void *data, size_t len)
{
	if (len == SIZE_MAX)
		len = strlen(data);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* the object reads back, verified, with exactly these bytes */
static void check_read(udos_store *st, const udos_oid *oid, const void *data,
		       size_t len)
{
	void *got = NULL;
	size_t glen = 0;

	assert_ok(udos_object_read(&got, &glen, st, oid, 0, UDOS_READ_VERIFY));
	assert_int_equal(glen, len);
	assert_memory_equal(got, data, len);
	free(got);
}

static void check_sha1_id(const udos_oid *oid, const void *data, size_t len)
{
	static const uint8_t zero[12];
	udos_oid want;

	assert_ok(udos_oid_hash_as(&want, UDOS_HASH_SHA1, data, len));
	assert_memory_equal(oid->id, want.id, 32);
	assert_memory_equal(oid->id + 20, zero, 12);
}

static uint64_t validate(udos_store *st, bool full, int *kind_out)
{
	udos_validate_result r;

	*kind_out = 0;
	assert_ok(udos_store_validate(&r, st, full ? UDOS_VALIDATE_FULL : 0,
				      NULL, NULL, NULL, NULL));
	return r.findings;
}

static int first_kind(void *ctx, const udos_finding *f)
{
	int *k = ctx;

	if (!*k)
		*k = f->kind;
	return 0;
}

static uint64_t validate_kind(udos_store *st, bool full, int *kind_out)
{
	udos_validate_result r;

	*kind_out = 0;
	assert_ok(udos_store_validate(&r, st, full ? UDOS_VALIDATE_FULL : 0,
				      first_kind, kind_out, NULL, NULL));
	return r.findings;
}

/* ---- ids and hash types ------------------------------------------------- */

static void test_hash_types(void **state)
{
	int t = -1;

	(void)state;
	assert_ok(udos_hash_type_parse(&t, "sha1"));
	assert_int_equal(t, UDOS_HASH_SHA1);
	assert_ok(udos_hash_type_parse(&t, "sha256"));
	assert_int_equal(t, UDOS_HASH_SHA256);
	assert_int_equal(udos_hash_type_parse(&t, "md5"), -EINVAL);
	assert_int_equal(udos_hash_type_parse(&t, "SHA1"), -EINVAL);
	assert_int_equal(udos_hash_type_parse(&t, NULL), -EINVAL);
	assert_string_equal(udos_hash_type_name(UDOS_HASH_SHA1), "sha1");
	assert_string_equal(udos_hash_type_name(UDOS_HASH_SHA256), "sha256");
	assert_null(udos_hash_type_name(7));
	assert_int_equal(udos_hash_digest_size(UDOS_HASH_SHA1), 20);
	assert_int_equal(udos_hash_digest_size(UDOS_HASH_SHA256), 32);
	assert_int_equal(udos_hash_digest_size(-1), 0);
}

static void test_oid_sz(void **state)
{
	static const uint8_t zero[12];
	char hex[UDOS_OID_HEXSZ + 1], sha256_hex[UDOS_OID_HEXSZ + 1];
	udos_oid o, h;

	(void)state;
	assert_ok(udos_oid_hash_as(&h, UDOS_HASH_SHA1, "abc", 3));
	assert_string_equal(udos_oid_fmt_sz(hex, &h, 20), ABC_SHA1);
	assert_int_equal(strlen(hex), UDOS_OID_HEXSZ_SHA1);
	assert_memory_equal(h.id + 20, zero, 12);

	/* parse: exactly 40 digits, either case, padding zeroed */
	memset(&o, 0xff, sizeof(o));
	assert_ok(udos_oid_parse_sz(&o, ABC_SHA1, 40, 20));
	assert_int_equal(udos_oid_cmp(&o, &h), 0);
	assert_ok(udos_oid_parse_sz(&o, "A9993E364706816ABA3E25717850C26C9CD0D89D",
				    40, 20));
	assert_int_equal(udos_oid_cmp(&o, &h), 0);
	assert_int_equal(udos_oid_parse_sz(&o, ABC_SHA1, 39, 20), -EINVAL);
	assert_int_equal(udos_oid_parse_sz(&o, "g993e364706816aba3e25717850c26c9cd0d89d",
					   40, 20), -EINVAL);
	assert_int_equal(udos_oid_parse_sz(&o, ABC_SHA1, 40, 16), -EINVAL);

	/* a 64-digit id is no sha1 id, and a 40-digit one no sha256 id */
	udos_oid_hash(&o, "abc", 3);
	udos_oid_fmt(sha256_hex, &o);
	assert_int_equal(udos_oid_parse_sz(&o, sha256_hex, 64, 20), -EINVAL);
	assert_int_equal(udos_oid_parse_sz(&o, ABC_SHA1, 40, 32), -EINVAL);
	assert_int_equal(udos_oid_parse(&o, ABC_SHA1, 40), -EINVAL);
	assert_ok(udos_oid_parse_sz(&o, sha256_hex, 64, 32));
	assert_string_equal(udos_oid_fmt_sz(hex, &o, 32), sha256_hex);

	assert_int_equal(udos_oid_hash_as(&o, 9, "abc", 3), -EINVAL);
}

/* ---- config ------------------------------------------------------------- */

static void test_config(void **state)
{
	struct fx *x = *state;
	udos_store_info inf;
	udos_store *st = NULL;
	char *p = path(x, "config.json"), *text;

	assert_int_equal(udos_store_hash_type(x->st), UDOS_HASH_SHA1);
	assert_int_equal(udos_store_digest_size(x->st), 20);
	udos_store_info_get(&inf, x->st);
	assert_string_equal(inf.hash_type, "sha1");
	text = slurp(p);
	assert_non_null(strstr(text, "\"hash_type\": \"sha1\""));
	free(text);

	/* reopened, still sha1 */
	udos_store_close(x->st);
	assert_ok(udos_store_open(&x->st, x->root, 0));
	assert_int_equal(udos_store_hash_type(x->st), UDOS_HASH_SHA1);

	/* a hash type this udos does not know: not a container it can use */
	write_file(p, "{\"udos_format_version\": 2, \"container_id\": "
		   "\"01234567-89ab-4cde-8f01-23456789abcd\", \"hash_type\": "
		   "\"md5\"}\n", SIZE_MAX);
	assert_int_equal(udos_store_open(&st, x->root, 0), UDOS_ENOTSTORE);
	assert_null(st);

	/* no hash_type key: sha256, as every container made before sha1 */
	write_file(p, "{\"udos_format_version\": 2, \"container_id\": "
		   "\"01234567-89ab-4cde-8f01-23456789abcd\"}\n", SIZE_MAX);
	assert_ok(udos_store_open(&st, x->root, 0));
	assert_int_equal(udos_store_hash_type(st), UDOS_HASH_SHA256);
	assert_int_equal(udos_store_digest_size(st), 32);
	udos_store_close(st);
	free(p);
}

static void test_init_opts(void **state)
{
	struct fx *x = *state;
	udos_init_opts o = UDOS_INIT_OPTS_INIT;
	udos_store *st = NULL;
	char *p;

	assert_int_equal(o.hash_type, UDOS_HASH_SHA256);
	p = path(x, "bad");
	o.hash_type = 5;
	assert_int_equal(udos_store_init(p, &o), -EINVAL);
	free(p);

	/* a version-1 caller has no hash_type field: sha256 whatever it holds */
	p = path(x, "v1");
	o.version = 1;
	o.hash_type = UDOS_HASH_SHA1;
	assert_ok(udos_store_init(p, &o));
	assert_ok(udos_store_open(&st, p, 0));
	assert_int_equal(udos_store_hash_type(st), UDOS_HASH_SHA256);
	udos_store_close(st);
	free(p);
}

/* ---- writes and reads --------------------------------------------------- */

static void test_loose(void **state)
{
	struct fx *x = *state;
	char rel[128], *p;
	uint8_t buf[200000];
	udos_oid oid, oid2;
	struct stat sb;
	bool is_new;
	int fd;

	assert_ok(udos_add_loose_buf(&oid, &is_new, x->st, "abc", 3, 0));
	assert_true(is_new);
	check_sha1_id(&oid, "abc", 3);
	/* named by the 40-digit hex under its 2-digit folder */
	p = path(x, "loose/a9/993e364706816aba3e25717850c26c9cd0d89d");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_size, 3);
	free(p);
	check_read(x->st, &oid, "abc", 3);
	assert_ok(udos_add_loose_buf(&oid2, &is_new, x->st, "abc", 3, 0));
	assert_false(is_new);
	assert_int_equal(udos_oid_cmp(&oid, &oid2), 0);

	/* streamed from a file descriptor (several read chunks) */
	fill_bytes(buf, sizeof(buf), 7, 0);
	snprintf(rel, sizeof(rel), "%s/src", x->dir);
	write_file(rel, buf, sizeof(buf));
	fd = open(rel, O_RDONLY);
	assert_true(fd >= 0);
	assert_ok(udos_add_loose_fd(&oid, &is_new, x->st, fd, 0));
	close(fd);
	assert_true(is_new);
	check_sha1_id(&oid, buf, sizeof(buf));
	check_read(x->st, &oid, buf, sizeof(buf));
}

static void test_pack(void **state)
{
	struct fx *x = *state;
	udos_writer *w = NULL;
	uint8_t buf[300000];
	udos_oid oids[6];
	udos_meta m;
	int kind;

	assert_ok(udos_writer_open(&w, x->st, NULL));
	for (int i = 0; i < 6; i++) {
		size_t len = i < 3 ? 100 + (size_t)i : sizeof(buf) - (size_t)i;
		fill_bytes(buf, len, (uint32_t)i, i % 2);
		assert_ok(udos_writer_add_buf(&oids[i], NULL, w, buf, len));
		check_sha1_id(&oids[i], buf, len);
	}
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	for (int i = 0; i < 6; i++) {
		size_t len = i < 3 ? 100 + (size_t)i : sizeof(buf) - (size_t)i;
		fill_bytes(buf, len, (uint32_t)i, i % 2);
		assert_ok(udos_object_stat(&m, x->st, &oids[i]));
		assert_int_equal(m.loc, UDOS_LOC_PACKED);
		check_read(x->st, &oids[i], buf, len);
	}
	/* full validate re-hashes with SHA-1: a SHA-256 re-hash would flag
	 * every record */
	assert_int_equal(validate(x->st, true, &kind), 0);

	/* repack re-reads every record through the writer's hasher */
	assert_ok(udos_store_repack(x->st, NULL));
	assert_int_equal(validate(x->st, true, &kind), 0);
	fill_bytes(buf, 101, 1, 1);
	check_read(x->st, &oids[1], buf, 101);
}

static void test_pack_loose(void **state)
{
	struct fx *x = *state;
	udos_pack_result r;
	udos_oid oids[5];
	char data[5][32], *a, *b, *dir;
	udos_meta m;
	int kind;

	for (int i = 0; i < 5; i++) {
		snprintf(data[i], sizeof(data[i]), "loose object %d", i);
		assert_ok(udos_add_loose_buf(&oids[i], NULL, x->st, data[i],
					     strlen(data[i]), 0));
	}
	/* object 4's file renamed to another valid sha1 name: its content no
	 * longer matches, and pack_loose must notice (SHA-1 verify) */
	a = path(x, "loose/a9/993e364706816aba3e25717850c26c9cd0d89d");
	{
		char hex[UDOS_OID_HEXSZ + 1], rel[128];

		udos_oid_fmt_sz(hex, &oids[4], 20);
		snprintf(rel, sizeof(rel), "loose/%.2s/%s", hex, hex + 2);
		b = path(x, rel);
	}
	dir = path(x, "loose/a9");
	mkdir(dir, 0755);
	free(dir);
	assert_int_equal(rename(b, a), 0);

	assert_ok(udos_store_pack_loose(&r, x->st, NULL));
	assert_int_equal(r.packed, 4);
	assert_int_equal(r.corrupt, 1);
	for (int i = 0; i < 4; i++) {
		assert_ok(udos_object_stat(&m, x->st, &oids[i]));
		assert_int_equal(m.loc, UDOS_LOC_PACKED);
		check_read(x->st, &oids[i], data[i], strlen(data[i]));
	}
	/* the misnamed file stays loose, and validate reports it */
	assert_int_equal(validate_kind(x->st, false, &kind), 1);
	assert_int_equal(kind, UDOS_FIND_LOOSE_HASH);
	assert_int_equal(unlink(a), 0);
	assert_int_equal(validate(x->st, true, &kind), 0);
	free(a);
	free(b);
}

/* A loose file rewritten in place is caught by re-hashing it with SHA-1;
 * a flipped byte in a pack by a full validate of the sha1 store. */
static void test_validate_detects(void **state)
{
	struct fx *x = *state;
	char hex[UDOS_OID_HEXSZ + 1], rel[128], *p;
	uint8_t buf[4000];
	udos_writer *w = NULL;
	udos_oid oid, packed;
	int fd, kind;
	uint8_t c;

	assert_ok(udos_add_loose_buf(&oid, NULL, x->st, "loose!", 6, 0));
	fill_bytes(buf, sizeof(buf), 3, 0);
	assert_ok(udos_writer_open(&w, x->st, NULL));
	assert_ok(udos_writer_add_buf(&packed, NULL, w, buf, sizeof(buf)));
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	assert_int_equal(validate(x->st, true, &kind), 0);

	/* same length, other content */
	udos_oid_fmt_sz(hex, &oid, 20);
	snprintf(rel, sizeof(rel), "loose/%.2s/%s", hex, hex + 2);
	p = path(x, rel);
	write_file(p, "LOOSE!", 6);
	free(p);
	assert_int_equal(validate_kind(x->st, false, &kind), 1);
	assert_int_equal(kind, UDOS_FIND_LOOSE_HASH);
	p = path(x, rel);
	write_file(p, "loose!", 6);
	free(p);
	assert_int_equal(validate(x->st, true, &kind), 0);

	/* a flipped byte in the pack's last record */
	p = path(x, "packs/0");
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, lseek(fd, 0, SEEK_END) - 10), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, lseek(fd, 0, SEEK_END) - 10), 1);
	close(fd);
	free(p);
	assert_true(validate_kind(x->st, true, &kind) >= 1);
	assert_true(kind == UDOS_FIND_RECORD_CHECKSUM ||
		    kind == UDOS_FIND_RECORD_HASH);
}

/* ---- ingest (uring/, or its threads fallback) ---------------------------- */

struct ing {
	char paths[3][4096];
	udos_oid oids[3];
	int errors;
};

static void on_file(void *ctx, const udos_ingest_file *f)
{
	struct ing *g = ctx;

	if (f->error) {
		g->errors++;
		return;
	}
	for (int i = 0; i < 3; i++)
		if (!strcmp(f->path, g->paths[i]))
			g->oids[i] = f->oid;
}

static void ingest_check(struct fx *x, int target, int want_loc)
{
	/* small (one slot), medium and streamed (above 4 MiB) files */
	static const size_t sizes[3] = { 1000, 300000, 5u << 20 };
	udos_ingest_opts o = UDOS_INGEST_OPTS_INIT;
	udos_ingest_summary sum;
	struct ing g = { 0 };
	const char *paths[3];
	uint8_t *buf = malloc(sizes[2]);
	udos_meta m;

	assert_non_null(buf);
	for (int i = 0; i < 3; i++) {
		snprintf(g.paths[i], sizeof(g.paths[i]), "%s/in%d-%d", x->dir,
			 target, i);
		fill_bytes(buf, sizes[i], (uint32_t)(10 * target + i), i & 1);
		write_file(g.paths[i], buf, sizes[i]);
		paths[i] = g.paths[i];
	}
	o.target = target;
	o.no_sync = true;
	o.on_file = on_file;
	o.ctx = &g;
	assert_ok(udos_ingest_paths(&sum, x->st, paths, 3, &o));
	assert_int_equal(g.errors, 0);
	for (int i = 0; i < 3; i++) {
		fill_bytes(buf, sizes[i], (uint32_t)(10 * target + i), i & 1);
		check_sha1_id(&g.oids[i], buf, sizes[i]);
		assert_ok(udos_object_stat(&m, x->st, &g.oids[i]));
		assert_int_equal(m.loc, want_loc);
		check_read(x->st, &g.oids[i], buf, sizes[i]);
	}
	free(buf);
}

static void test_ingest(void **state)
{
	struct fx *x = *state;
	int kind;

	ingest_check(x, UDOS_INGEST_TO_PACK, UDOS_LOC_PACKED);
	ingest_check(x, UDOS_INGEST_TO_LOOSE, UDOS_LOC_LOOSE);
	assert_int_equal(validate(x->st, true, &kind), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_types),
		cmocka_unit_test(test_oid_sz),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_opts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_loose, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack_loose, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_validate_detects, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ingest, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
