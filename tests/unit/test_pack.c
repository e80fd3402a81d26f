/* test_pack.c - packing loose objects, cleaning, pack rollover, repack,
 * crash recovery, the writer lock, and >4 GiB offsets. */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *cpath(const char *dir, const char *rel)
{
	char *p;

	if (asprintf(&p, "%s/c/%s", dir, rel) < 0)
		fail_msg("asprintf");
	return p;
}

static int print_finding(void *ctx, const udos_finding *f)
{
	(void)ctx;
	fprintf(stderr, "finding %s: %s\n", udos_finding_name(f->kind),
		f->message);
	return 0;
}

static uint64_t validate_findings(udos_store *st, bool full,
				  udos_validate_result *res)
{
	udos_validate_result local;

	if (!res)
		res = &local;
	assert_ok(udos_store_validate(res, st, full ? UDOS_VALIDATE_FULL : 0,
				      print_finding, NULL, NULL, NULL));
	return res->findings;
}

static void test_pack_loose_and_clean(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 16 * 1024);
	udos_pack_opts po = UDOS_PACK_OPTS_INIT;
	udos_pack_result res;
	udos_status s;
	udos_oid oids[200];
	uint8_t buf[2000];

	(void)state;
	for (int i = 0; i < 200; i++) {
		fill_bytes(buf, 500 + (size_t)i * 7, (uint32_t)i, i % 2);
		assert_ok(udos_add_loose_buf(&oids[i], NULL, st, buf,
					     500 + (size_t)i * 7,
					     UDOS_ADD_NOSYNC));
	}
	po.clean = false;
	assert_ok(udos_store_pack_loose(&res, st, &po));
	assert_int_equal(res.packed, 200);
	assert_ok(udos_store_status(&s, st));
	assert_int_equal(s.loose_count, 200);
	assert_int_equal(s.packed_count, 200);
	assert_int_equal(s.both_count, 200);
	/* rollover at 16 KiB: many packs, none far past the target */
	assert_true(s.pack_count > 5);
	assert_int_equal(udos_store_clean(st), 200);
	assert_ok(udos_store_status(&s, st));
	assert_int_equal(s.loose_count, 0);
	for (int i = 0; i < 200; i++) {
		void *d;
		size_t n;
		fill_bytes(buf, 500 + (size_t)i * 7, (uint32_t)i, i % 2);
		assert_ok(udos_object_read(&d, &n, st, &oids[i], 0,
					   UDOS_READ_VERIFY));
		assert_int_equal(n, 500 + (size_t)i * 7);
		assert_memory_equal(d, buf, n);
		free(d);
	}
	assert_int_equal(validate_findings(st, true, NULL), 0);
	/* packing again finds nothing to do */
	po.clean = true;
	assert_ok(udos_store_pack_loose(&res, st, &po));
	assert_int_equal(res.packed, 0);
	udos_store_close(st);
	tmp_remove(dir);
}

static void test_pack_skips_corrupt_loose(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 0);
	udos_pack_result res;
	char hex[65], rel[128], *p;
	udos_oid oid;
	FILE *fp;

	(void)state;
	assert_ok(udos_add_loose_buf(&oid, NULL, st, "hello", 5, 0));
	udos_oid_fmt(hex, &oid);
	snprintf(rel, sizeof(rel), "loose/%.2s/%s", hex, hex + 2);
	p = cpath(dir, rel);
	fp = fopen(p, "w");
	fputs("jello", fp);
	fclose(fp);
	assert_ok(udos_store_pack_loose(&res, st, NULL));
	assert_int_equal(res.corrupt, 1);
	assert_int_equal(res.packed, 0);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(validate_findings(st, false, NULL), 1);
	free(p);
	udos_store_close(st);
	tmp_remove(dir);
}

static void test_writer_lock(void **state)
{
	char *dir = tmp_dir();
	udos_store *a = store_new(dir, "zstd:3", 0), *b = NULL;
	udos_writer *wa = NULL, *wb = NULL;
	char *path = cpath(dir, "");

	(void)state;
	assert_ok(udos_store_open(&b, path, 0));
	assert_ok(udos_writer_open(&wa, a, NULL));
	assert_int_equal(udos_writer_open(&wb, b, NULL), UDOS_ELOCKED);
	assert_non_null(strstr(udos_error_detail(),
			       "another process is writing packs (pid"));
	/* a reader in the other handle still works and sees commits */
	udos_oid oid;
	assert_ok(udos_writer_add_buf(&oid, NULL, wa, "x", 1));
	assert_ok(udos_writer_commit(wa));
	assert_int_equal(udos_object_has(b, &oid), 1);
	udos_writer_close(wa);
	assert_ok(udos_store_unlock_writer(a));
	assert_ok(udos_writer_open(&wb, b, NULL));
	udos_writer_close(wb);
	udos_store_close(a);
	udos_store_close(b);
	free(path);
	tmp_remove(dir);
}

/* A child that commits some objects, writes more, and is killed. */
static void test_crash_recovery(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 256 * 1024);
	char *path = cpath(dir, "");
	udos_validate_result vr;
	int pfd[2], status;
	pid_t pid;

	(void)state;
	udos_store_close(st);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		udos_writer *w = NULL;
		uint8_t buf[5000];
		close(pfd[0]);
		if (udos_store_open(&st, path, 0) < 0 ||
		    udos_writer_open(&w, st, NULL) < 0)
			_exit(1);
		for (int i = 0;; i++) {
			udos_oid oid;
			fill_bytes(buf, sizeof(buf), (uint32_t)i, 1);
			if (udos_writer_add_buf(&oid, NULL, w, buf,
						sizeof(buf)) < 0)
				_exit(1);
			if (i == 499) {
				if (udos_writer_commit(w) < 0)
					_exit(1);
				/* report: 500 objects durable */
				if (write(pfd[1], "k", 1) != 1)
					_exit(1);
			}
			if (i == 900) {
				/* 400 uncommitted, flushed past the tail */
				udos__writer_roll(w);
				pause();
			}
		}
	}
	close(pfd[1]);
	char c;
	assert_int_equal(read(pfd[0], &c, 1), 1);
	usleep(300000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(pfd[0]);

	assert_ok(udos_store_open(&st, path, 0));
	/* the flushed, uncommitted records are intact: residue of a writer
	 * that died, no fault */
	assert_int_equal(validate_findings(st, true, &vr), 0);
	assert_int_equal(vr.unindexed_records, 401);
	for (int i = 0; i < 500; i++) {
		uint8_t buf[5000];
		udos_oid oid;
		fill_bytes(buf, sizeof(buf), (uint32_t)i, 1);
		udos_oid_hash(&oid, buf, sizeof(buf));
		assert_int_equal(udos_object_has(st, &oid), 1);
	}
	/* the next writer indexes them rather than cutting them */
	udos_writer *w = NULL;
	udos_recovery rec;
	assert_ok(udos_writer_open(&w, st, NULL));
	udos_writer_close(w);
	udos_store_recovery(&rec, st);
	assert_int_equal(rec.adopted, 401);
	assert_int_equal(rec.cut_bytes, 0);
	assert_int_equal(validate_findings(st, true, &vr), 0);
	assert_int_equal(vr.tail_bytes, 0);
	assert_int_equal(vr.index_checked, 901);
	udos_store_close(st);
	free(path);
	tmp_remove(dir);
}

/* bulk callback: read the object to its end, count it */
static int read_whole(void *ctx, size_t index, const udos_oid *oid,
		      const udos_meta *meta, udos_reader *r)
{
	uint8_t buf[4096];
	ssize_t got;

	(void)index, (void)oid;
	if (!r || meta->pack_id == 0)
		return -EIO;
	while ((got = udos_reader_read(r, buf, sizeof(buf))) > 0)
		;
	if (got < 0)
		return (int)got;
	++*(size_t *)ctx;
	return 0;
}

/* A reader whose index found an object in a pack that a repack in another
 * handle (process) then removed: the read follows the object. */
static void test_read_during_repack(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 0), *rd = NULL;
	udos_writer *w = NULL;
	udos_oid oids[20];
	uint8_t buf[2000];
	udos_meta m;
	void *d;
	size_t n;
	char *root = cpath(dir, "");

	(void)state;
	assert_ok(udos_writer_open(&w, st, NULL));
	for (int i = 0; i < 20; i++) {
		fill_bytes(buf, sizeof(buf), (uint32_t)i, 1);
		assert_ok(udos_writer_add_buf(&oids[i], NULL, w, buf,
					      sizeof(buf)));
	}
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	assert_ok(udos_store_unlock_writer(st));
	assert_ok(udos_store_open(&rd, root, 0));
	assert_ok(udos_object_stat(&m, rd, &oids[0])); /* rd: pack 0 */
	assert_int_equal(m.pack_id, 0);
	assert_ok(udos_object_delete(st, &oids[19]));
	assert_ok(udos_store_repack(st, NULL));      /* pack 0 is gone */
	assert_ok(udos_store_unlock_writer(st));
	/* one read, then every object in one bulk read, none from pack 0 */
	assert_ok(udos_object_read(&d, &n, rd, &oids[0], 0, UDOS_READ_VERIFY));
	free(d);
	n = 0;
	assert_ok(udos_object_read_many(rd, oids, 19, UDOS_READ_VERIFY,
					read_whole, &n));
	assert_int_equal(n, 19);
	udos_store_close(rd);
	udos_store_close(st);
	free(root);
	tmp_remove(dir);
}

/* Open `path` (a file of other bytes) n times: whatever descriptor
 * numbers the store let go of are taken by it. */
static void take_fds(int *fds, int n, const char *path)
{
	for (int i = 0; i < n; i++) {
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
}

/*
 * A stream opened on a packed object, read in part, then held across a
 * repack in the same process (same handle) that removes its pack, while
 * other files take the freed descriptor numbers: the rest of the stream
 * is still the object's bytes, and its checksums verify.
 */
static void stream_across_repack(const char *compression, const uint8_t *obj,
				 size_t len)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, compression, 0);
	char *decoy = cpath(dir, "../decoy"), *pack0 = cpath(dir, "packs/0");
	uint8_t *got = malloc(len), *junk = malloc(len + (1u << 20));
	udos_writer *w = NULL;
	udos_reader *r = NULL;
	udos_oid oid, other;
	udos_meta m;
	size_t at = 0, head = len / 3;
	int fds[32], fd;

	assert_non_null(got);
	assert_non_null(junk);
	assert_ok(udos_writer_open(&w, st, NULL));
	assert_ok(udos_writer_add_buf(&oid, NULL, w, obj, len));
	fill_bytes(junk, 4096, 7, 0);
	assert_ok(udos_writer_add_buf(&other, NULL, w, junk, 4096));
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);

	assert_ok(udos_reader_open(&r, st, &oid, UDOS_READ_VERIFY));
	m = *udos_reader_meta(r);
	assert_int_equal(m.pack_id, 0);
	/* most of the stored bytes are read after the repack */
	assert_true(m.stored_size > (1u << 20));
	while (at < head) {
		ssize_t n = udos_reader_read(r, got + at, head - at);
		assert_ok(n);
		assert_true(n > 0);
		at += (size_t)n;
	}
	/* pack 0 goes: its live object moves to a new pack */
	assert_ok(udos_object_delete(st, &other));
	assert_ok(udos_store_repack(st, NULL));
	assert_int_equal(access(pack0, F_OK), -1);
	/* a decoy as large as the pack, of other bytes, on every free fd */
	memset(junk, 0x5a, len + (1u << 20));
	fd = open(decoy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, len + (1u << 20)),
			 (ssize_t)(len + (1u << 20)));
	close(fd);
	take_fds(fds, 32, decoy);
	while (at < len) {
		ssize_t n = udos_reader_read(r, got + at, len - at);
		assert_ok(n);
		assert_true(n > 0);
		at += (size_t)n;
	}
	assert_int_equal(udos_reader_read(r, got, 1), 0);
	assert_memory_equal(got, obj, len);
	udos_reader_close(r);
	for (int i = 0; i < 32; i++)
		close(fds[i]);
	/* the same handle reads the object where it went */
	assert_ok(udos_object_stat(&m, st, &oid));
	assert_true(m.pack_id > 0);
	{
		void *d;
		size_t n;
		assert_ok(udos_object_read(&d, &n, st, &oid, 0,
					   UDOS_READ_VERIFY));
		assert_int_equal(n, len);
		assert_memory_equal(d, obj, len);
		free(d);
	}
	assert_int_equal(validate_findings(st, true, NULL), 0);
	udos_store_close(st);
	free(got);
	free(junk);
	free(decoy);
	free(pack0);
	tmp_remove(dir);
}

/* Read a whole file of this machine, or NULL. */
static uint8_t *slurp(const char *path, size_t *len_out)
{
	struct stat sb;
	uint8_t *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size < (1 << 20)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	p = malloc((size_t)sb.st_size);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)sb.st_size), sb.st_size);
	close(fd);
	*len_out = (size_t)sb.st_size;
	return p;
}

static void test_stream_across_repack_raw(void **state)
{
	size_t len = 3u << 20;
	uint8_t *obj = malloc(len);

	(void)state;
	assert_non_null(obj);
	fill_bytes(obj, len, 42, 0);
	stream_across_repack("none", obj, len);
	free(obj);
}

/* compressed, on a real file: the decoder's input comes from the pack in
 * 128 KiB reads, most of them after the repack */
static void test_stream_across_repack_zstd(void **state)
{
	static const char *const paths[] = {
		"/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
		"/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		"/usr/bin/cmake",
	};
	uint8_t *obj = NULL;
	size_t len = 0;

	(void)state;
	for (size_t i = 0; !obj && i < sizeof(paths) / sizeof(*paths); i++)
		obj = slurp(paths[i], &len);
	if (!obj) {
		len = 4u << 20;
		obj = malloc(len);
		assert_non_null(obj);
		fill_bytes(obj, len, 43, 1);
	}
	stream_across_repack("zstd:3", obj, len);
	free(obj);
}

/*
 * An id missing from the index is not a deleted id: a damaged table reads
 * as keys that are not there. Repack keeps (and indexes again) an intact
 * record whose id the index neither has nor marks deleted; it drops the
 * records of a deleted object; validate reports the first, not the second.
 */
static void test_repack_keeps_unmarked_records(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 0);
	udos_repack_opts ro = UDOS_REPACK_OPTS_INIT;
	udos_writer *w = NULL;
	udos__batch *b;
	udos_oid oids[10];
	uint8_t buf[3000];
	udos_recovery rec;
	int n = 0;

	(void)state;
	assert_ok(udos_writer_open(&w, st, NULL));
	for (int i = 0; i < 10; i++) {
		fill_bytes(buf, sizeof(buf), (uint32_t)i, 1);
		assert_ok(udos_writer_add_buf(&oids[i], NULL, w, buf,
					      sizeof(buf)));
	}
	assert_ok(udos_writer_commit(w));
	/* ids 0..2 lose their key as a damaged index would lose them */
	b = udos__batch_new();
	for (int i = 0; i < 3; i++)
		udos__batch_del(b, &oids[i]);
	assert_ok(udos__store_index_write(st, b, true));
	udos__batch_free(b);
	udos_writer_close(w);
	/* 3 is deleted, as users delete */
	assert_ok(udos_object_delete(st, &oids[3]));
	assert_int_equal(udos__store_is_deleted(st, &oids[3]), 1);
	assert_int_equal(validate_findings(st, false, NULL), 3);
	assert_ok(udos_store_repack(st, &ro));
	udos_store_recovery(&rec, st);
	assert_int_equal(rec.adopted, 3);
	for (int i = 0; i < 10; i++)
		n += udos_object_has(st, &oids[i]) == 1;
	assert_int_equal(n, 9);
	assert_int_equal(udos_object_has(st, &oids[3]), 0);
	/* a full repack leaves no record of 3 behind, nor its mark */
	assert_int_equal(udos__store_is_deleted(st, &oids[3]), 0);
	assert_int_equal(validate_findings(st, true, NULL), 0);
	udos_store_close(st);
	tmp_remove(dir);
}

static void test_repack(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 0);
	udos_repack_opts ro = UDOS_REPACK_OPTS_INIT;
	udos_writer *w = NULL;
	udos_oid oids[100];
	uint8_t buf[10000];
	udos_status s0, s1;

	(void)state;
	assert_ok(udos_writer_open(&w, st, NULL));
	for (int i = 0; i < 100; i++) {
		fill_bytes(buf, sizeof(buf), (uint32_t)i, i % 2);
		assert_ok(udos_writer_add_buf(&oids[i], NULL, w, buf,
					      sizeof(buf)));
	}
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	for (int i = 0; i < 100; i += 2)
		assert_ok(udos_object_delete(st, &oids[i]));
	assert_ok(udos_store_status(&s0, st));
	assert_ok(udos_store_repack(st, &ro));
	assert_ok(udos_store_status(&s1, st));
	assert_true(s1.pack_files_size < s0.pack_files_size);
	assert_int_equal(s1.packed_count, 50);
	assert_int_equal(validate_findings(st, true, NULL), 0);
	/* recompress everything raw */
	ro.compress = UDOS_COMPRESS_NO;
	assert_ok(udos_store_repack(st, &ro));
	for (int i = 1; i < 100; i += 2) {
		udos_meta m;
		void *d;
		size_t n;
		assert_ok(udos_object_stat(&m, st, &oids[i]));
		assert_int_equal(m.codec, UDOS_CODEC_NONE);
		fill_bytes(buf, sizeof(buf), (uint32_t)i, i % 2);
		assert_ok(udos_object_read(&d, &n, st, &oids[i], 0,
					   UDOS_READ_VERIFY));
		assert_memory_equal(d, buf, sizeof(buf));
		free(d);
	}
	assert_int_equal(validate_findings(st, true, NULL), 0);
	udos_store_close(st);
	tmp_remove(dir);
}

/* A record past 4 GiB in a sparse pack: offsets survive the index and the
 * reader without writing 4 GiB. */
static void test_offset_past_4g(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 0);
	uint8_t rh[UDOS_REC_SIZE];
	const uint64_t off = (5ull << 30) + 12345;
	const char *msg = "far away content";
	udos__tail t = { 0, 0, 1 };
	udos__batch *b;
	udos__rec rec = { 0 }, back;
	udos_writer *w = NULL;
	void *d;
	size_t n;
	char *p;
	int fd;

	(void)state;
	/* take the writer lock and make pack 0 exist, then extend it */
	assert_ok(udos_writer_open(&w, st, NULL));
	udos_writer_close(w);
	p = cpath(dir, "packs/0");
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, msg, strlen(msg), (off_t)off),
			 (ssize_t)strlen(msg));
	close(fd);
	free(p);
	udos_oid_hash(&rec.oid, msg, strlen(msg));
	rec.codec = UDOS_CODEC_NONE;
	rec.offset = off;
	rec.raw_len = rec.stored_len = strlen(msg);
	rec.data_xxh = udos__xxh3(msg, strlen(msg));
	udos__rec_encode(rh, &rec);
	p = cpath(dir, "packs/0.rec");
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, rh, sizeof(rh), UDOS_RECS_HDR_SIZE),
			 sizeof(rh));
	close(fd);
	b = udos__batch_new();
	udos__batch_put(b, &rec.oid, &rec);
	t.end = off + strlen(msg);
	udos__batch_set_tail(b, &t);
	assert_ok(udos__store_index_write(st, b, true));
	udos__batch_free(b);
	assert_ok(udos__store_index_get(&back, st, &rec.oid));
	assert_int_equal(back.offset, off);
	assert_ok(udos_object_read(&d, &n, st, &rec.oid, 0, UDOS_READ_VERIFY));
	assert_int_equal(n, strlen(msg));
	assert_memory_equal(d, msg, n);
	free(d);
	free(p);
	udos_store_close(st);
	tmp_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pack_loose_and_clean),
		cmocka_unit_test(test_pack_skips_corrupt_loose),
		cmocka_unit_test(test_writer_lock),
		cmocka_unit_test(test_crash_recovery),
		cmocka_unit_test(test_read_during_repack),
		cmocka_unit_test(test_stream_across_repack_raw),
		cmocka_unit_test(test_stream_across_repack_zstd),
		cmocka_unit_test(test_repack),
		cmocka_unit_test(test_repack_keeps_unmarked_records),
		cmocka_unit_test(test_offset_past_4g),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
