/* test_rpack.c - reads of evicted packs from several threads at once: the
 * read-through cache's per-pack block claims (core/rpack.c), with the
 * remote replaced by a fetch hook that copies from a side copy of each
 * pack. Every byte read must be right, every block fetched exactly once
 * in the process, and fetches of different packs must overlap. Run it
 * under TSan (-DUDOS_TSAN=ON) too. */
#include "helpers.h"
#include "remote_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_OBJ 240
#define N_THREADS 8
#define MAX_PACKS 64
#define MAX_BLOCKS 64 /* per pack: 64 KiB blocks of a 1 MiB target */
#define OBJ_LEN(i) (3000 + (size_t)(i)*37)

static char side[4096];
static _Atomic unsigned fetched[MAX_PACKS][MAX_BLOCKS];
static _Atomic int inflight, max_inflight;

static int hook(const udos__mpack *p, int fd, uint64_t off, uint64_t len)
{
	char path[4200];
	uint8_t *buf = malloc(len ? len : 1);
	int in, rc = 0, now;

	if (!buf || p->id >= MAX_PACKS ||
	    (off + len + 65535) / 65536 > MAX_BLOCKS) {
		free(buf);
		return -EINVAL;
	}
	now = atomic_fetch_add(&inflight, 1) + 1;
	for (int m = atomic_load(&max_inflight);
	     now > m && !atomic_compare_exchange_weak(&max_inflight, &m, now);)
		;
	for (uint64_t b = off / 65536; b < (off + len + 65535) / 65536; b++)
		atomic_fetch_add(&fetched[p->id][b], 1);
	usleep(3000); /* a request's latency: lets others overlap */
	snprintf(path, sizeof(path), "%s/%" PRIu32, side, p->id);
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || pread(in, buf, len, (off_t)off) != (ssize_t)len ||
	    pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		rc = -EIO;
	if (in >= 0)
		close(in);
	free(buf);
	atomic_fetch_sub(&inflight, 1);
	return rc;
}

struct world {
	udos_store *st;
	udos_oid oids[N_OBJ];
	_Atomic int bad;
	_Atomic int next;
};

static void expect(uint8_t *buf, size_t i)
{
	fill_bytes(buf, OBJ_LEN(i), (uint32_t)i, 0);
}

static int bulk_cb(void *ctx, size_t index, const udos_oid *oid,
		   const udos_meta *meta, udos_reader *r)
{
	struct world *w = ctx;
	uint8_t want[OBJ_LEN(N_OBJ)], got[OBJ_LEN(N_OBJ)];
	size_t n = 0;

	(void)oid;
	(void)meta;
	expect(want, index);
	while (r && n < sizeof(got)) {
		ssize_t k = udos_reader_read(r, got + n, sizeof(got) - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	if (!r || n != OBJ_LEN(index) || memcmp(want, got, n))
		atomic_fetch_add(&w->bad, 1);
	return 0;
}

static void *reader(void *arg)
{
	struct world *w = arg;
	int me = atomic_fetch_add(&w->next, 1);
	uint8_t want[OBJ_LEN(N_OBJ)];

	if (me % 2) {
		/* bulk: windows of neighbouring records */
		if (udos_object_read_many(w->st, w->oids, N_OBJ, 0, bulk_cb,
					  w) < 0)
			atomic_fetch_add(&w->bad, 1);
		return NULL;
	}
	/* one by one, each thread starting in another pack */
	for (size_t k = 0; k < N_OBJ; k++) {
		size_t i = (k + (size_t)me * N_OBJ / N_THREADS) % N_OBJ;
		void *data = NULL;
		size_t len = 0;
		expect(want, i);
		if (udos_object_read(&data, &len, w->st, &w->oids[i], 0,
				     UDOS_READ_VERIFY) < 0 ||
		    len != OBJ_LEN(i) || memcmp(data, want, len))
			atomic_fetch_add(&w->bad, 1);
		free(data);
	}
	return NULL;
}

/* sha256 and size of a file of the container */
static void hash_rel(char sha[65], uint64_t *size, udos_store *st,
		     const char *rel)
{
	struct stat sb;
	int fd = openat(st->dirfd, rel, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0 && fstat(fd, &sb) == 0);
	*size = (uint64_t)sb.st_size;
	assert_ok(udos__sha256_fd(sha, fd, 0, *size));
	close(fd);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[9000];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

static void test_threads_read_evicted_packs(void **state)
{
	char *dir = tmp_dir();
	struct world w = { 0 };
	udos_writer *wr = NULL;
	udos_remote_conf conf = { 0 };
	udos__manifest m = { 0 };
	udos__tail t = { 0 };
	pthread_t th[N_THREADS];
	uint8_t buf[OBJ_LEN(N_OBJ)];
	uint32_t npacks;

	(void)state;
	w.st = store_new(dir, "none", 128 * 1024);
	assert_ok(udos_writer_open(&wr, w.st, NULL));
	for (size_t i = 0; i < N_OBJ; i++) {
		expect(buf, i);
		assert_ok(udos_writer_add_buf(&w.oids[i], NULL, wr, buf,
					      OBJ_LEN(i)));
	}
	assert_ok(udos_writer_commit(wr));
	assert_ok(udos__writer_seal(wr));
	udos_writer_close(wr);
	assert_ok(udos__index_get_tail(w.st->ix, &t));
	npacks = t.pack_id;
	assert_true(npacks >= 3 && npacks <= MAX_PACKS);

	/* a remote that lists every sealed pack, then the packs evicted */
	snprintf(side, sizeof(side), "%s/side", dir);
	assert_int_equal(mkdir(side, 0755), 0);
	m.generation = 1;
	snprintf(m.container_id, sizeof(m.container_id), "%s",
		 w.st->info.container_id);
	snprintf(m.hash_type, sizeof(m.hash_type), "%s", w.st->info.hash_type);
	snprintf(m.compression, sizeof(m.compression), "none");
	m.pack_size_target = 128 * 1024;
	for (uint32_t id = 0; id < npacks; id++) {
		udos__mpack p = { .id = id };
		char rel[64], from[4200], to[4200];
		udos__pack_relpath(rel, sizeof(rel), id);
		hash_rel(p.sha, &p.size, w.st, rel);
		assert_true(p.size <= (uint64_t)MAX_BLOCKS * 65536);
		snprintf(from, sizeof(from), "%s/c/%s", dir, rel);
		snprintf(to, sizeof(to), "%s/%" PRIu32, side, id);
		copy_file(from, to);
		udos__recs_relpath(rel, sizeof(rel), id);
		hash_rel(p.rec_sha, &p.rec_size, w.st, rel);
		assert_ok(udos__manifest_add(&m, &p));
	}
	assert_ok(udos__manifest_save(w.st, &m));
	snprintf(conf.url, sizeof(conf.url), "s3://bucket/prefix");
	snprintf(conf.endpoint, sizeof(conf.endpoint), "http://127.0.0.1:9");
	assert_ok(udos__remote_conf_write(w.st->dirfd, &conf));
	for (uint32_t id = 0; id < npacks; id++)
		assert_ok(udos__packfile_evict(w.st, id));

	udos__rpack_fetch_hook = hook;
	for (int i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, &w), 0);
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(th[i], NULL);
	udos__rpack_fetch_hook = NULL;

	assert_int_equal(atomic_load(&w.bad), 0);
	/* every block of every pack fetched, none twice */
	for (uint32_t id = 0; id < npacks; id++) {
		uint64_t nblk = (m.packs[id].size + 65535) / 65536;
		for (uint64_t b = 0; b < MAX_BLOCKS; b++)
			assert_int_equal(atomic_load(&fetched[id][b]),
					 b < nblk ? 1 : 0);
	}
	/* fetches of several threads overlapped */
	assert_true(atomic_load(&max_inflight) >= 2);
	udos__manifest_release(&m);
	udos_store_close(w.st);
	tmp_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_read_evicted_packs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
