/* test_ingest_mix.c - the ingest readers under load: every size class
 * (empty, tiny, head-sized, medium, streamed) mixed in random orders and
 * proportions, at several queue depths and memory caps, through io_uring
 * and the pread pool, into packs and loose files; every id is checked
 * against the SHA-256 of its file and read back. */
#include "helpers.h"

#include "udos/ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reader's boundaries (uring/ingest_int.h): a 64 KiB head, whole
 * buffers up to 4 MiB, 1 MiB chunks beyond. */
#define HEAD (64u * 1024)
#define MED_MAX (4u * 1024 * 1024)
#define CHUNK (1024u * 1024)

struct mfile {
	char *path;
	size_t len;
	udos_oid want;
	unsigned seen;  /* on_file calls */
	int error;
	udos_oid got;
	uint64_t size;
};

struct mix {
	char *root;
	struct mfile *f;
	size_t n;
	unsigned stray;  /* on_file for a path not in the tree */
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One size of the given class; the classes follow the reader's paths. */
static size_t class_size(uint64_t *s, unsigned cls)
{
	switch (cls) {
	case 0: /* empty */
		return 0;
	case 1: /* tiny */
		return 1 + rnd(s) % 4096;
	case 2: /* around the head: short read, exact head, head + a bit */
		return HEAD - 2 + rnd(s) % 5;
	case 3: /* medium, read whole after the head */
		return HEAD + 1 + rnd(s) % (MED_MAX - HEAD);
	case 4: /* around the medium limit and the chunk boundaries */
		return MED_MAX - 1 + rnd(s) % 3;
	default: /* streamed: a few chunks, sometimes exactly on one */
		return rnd(s) % 2 ? MED_MAX + CHUNK * (1 + rnd(s) % 3)
				  : MED_MAX + 1 + rnd(s) % (3 * CHUNK);
	}
}

static void write_file(struct mfile *mf, uint64_t *s)
{
	uint8_t *b = malloc(mf->len ? mf->len : 1);
	int fd;

	assert_non_null(b);
	/* half compressible, half not: both codec decisions */
	fill_bytes(b, mf->len, (uint32_t)rnd(s), (int)(rnd(s) & 1));
	udos_oid_hash(&mf->want, b, mf->len);
	fd = open(mf->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (mf->len)
		assert_int_equal(write(fd, b, mf->len), (ssize_t)mf->len);
	close(fd);
	free(b);
}

/* n files under dir/name with sizes drawn by pick(); created in a shuffled
 * order so that the walk's inode order mixes the classes too. */
static void mix_make(struct mix *m, const char *dir, const char *name,
		     size_t n, uint64_t seed,
		     size_t (*pick)(uint64_t *, void *), void *arg)
{
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t *order = malloc(n * sizeof(*order));

	memset(m, 0, sizeof(*m));
	assert_non_null(order);
	if (asprintf(&m->root, "%s/%s", dir, name) < 0)
		fail_msg("asprintf");
	assert_int_equal(mkdir(m->root, 0755), 0);
	m->f = calloc(n, sizeof(*m->f));
	assert_non_null(m->f);
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		order[i] = i;
		if (asprintf(&m->f[i].path, "%s/f%05zu", m->root, i) < 0)
			fail_msg("asprintf");
		m->f[i].len = pick(&s, arg);
	}
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rnd(&s) % i), t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < n; i++)
		write_file(&m->f[order[i]], &s);
	free(order);
}

static void mix_free(struct mix *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->f[i].path);
	free(m->f);
	free(m->root);
}

static void on_file(void *ctx, const udos_ingest_file *f)
{
	struct mix *m = ctx;
	const char *b = strrchr(f->path, '/');
	size_t i;

	if (!b || sscanf(b, "/f%zu", &i) != 1 || i >= m->n ||
	    strcmp(m->f[i].path, f->path)) {
		m->stray++;
		return;
	}
	m->f[i].seen++;
	m->f[i].error = f->error;
	m->f[i].got = f->oid;
	m->f[i].size = f->size;
}

/* Every file reported once, without error, with the SHA-256 of its bytes;
 * the object reads back with that many bytes. */
static void mix_check(struct mix *m, udos_store *st,
		      const udos_ingest_summary *sum, const char *what)
{
	assert_int_equal(m->stray, 0);
	for (size_t i = 0; i < m->n; i++) {
		struct mfile *mf = &m->f[i];
		void *got = NULL;
		size_t glen = 0;

		if (mf->seen != 1 || mf->error)
			fail_msg("%s: %s reported %u times, error %d",
				 what, mf->path, mf->seen, mf->error);
		if (memcmp(mf->got.id, mf->want.id, 32))
			fail_msg("%s: %s (%zu bytes): wrong id", what,
				 mf->path, mf->len);
		assert_int_equal(mf->size, mf->len);
		assert_ok(udos_object_read(&got, &glen, st, &mf->got, 0,
					   UDOS_READ_VERIFY));
		assert_int_equal(glen, mf->len);
		free(got);
		mf->seen = 0;
	}
	assert_int_equal(sum->files, m->n);
	assert_int_equal(sum->errors, 0);
}

static bool have_ring(void)
{
	return udos_ingest_uring_probe() == 0;
}

/* Ingest the tree into a new container dir/c<k> and check it. */
static void run_one(struct mix *m, const char *dir, unsigned k, int io,
		    int target, unsigned qd, uint64_t inflight)
{
	udos_ingest_opts o = UDOS_INGEST_OPTS_INIT;
	udos_ingest_summary sum;
	const char *paths[1] = { m->root };
	char sub[64], what[128];
	udos_store *st;
	char *d;

	snprintf(sub, sizeof(sub), "%s/s%u", dir, k);
	assert_int_equal(mkdir(sub, 0755), 0);
	d = strdup(sub);
	assert_non_null(d);
	st = store_new(d, "zstd:1", 8u << 20);
	snprintf(what, sizeof(what), "%s %s qd %u inflight %llu MiB",
		 io == UDOS_INGEST_IO_URING ? "uring" : "threads",
		 target == UDOS_INGEST_TO_PACK ? "pack" : "loose", qd,
		 (unsigned long long)(inflight >> 20));
	o.io = io;
	o.target = target;
	o.no_sync = true;
	o.queue_depth = qd;
	o.max_inflight = inflight;
	o.on_file = on_file;
	o.ctx = m;
	assert_ok(udos_ingest_paths(&sum, st, paths, 1, &o));
	assert_int_equal(sum.io, io);
	mix_check(m, st, &sum, what);
	udos_store_close(st);
	free(d);
}

static size_t pick_100k(uint64_t *s, void *arg)
{
	(void)s, (void)arg;
	return 100 * 1000;
}

static size_t pick_medium(uint64_t *s, void *arg)
{
	(void)arg;
	return HEAD + rnd(s) % (MED_MAX - HEAD + 1);
}

/* Proportions of the six classes, per mille of the draw; once the tree
 * holds `left` bytes only files up to a head are drawn. */
struct weights {
	unsigned w[6];
	uint64_t left;
};

static size_t pick_weighted(uint64_t *s, void *arg)
{
	struct weights *wt = arg;
	unsigned x = (unsigned)(rnd(s) % 1000), cls = 0;
	size_t len;

	while (cls < 5 && x >= wt->w[cls])
		x -= wt->w[cls++];
	len = class_size(s, cls);
	if (len > wt->left)
		len = class_size(s, cls % 3);
	wt->left = len < wt->left ? wt->left - len : 0;
	return len;
}

/*
 * Regression (issue 8): more medium files than the ring has fixed-file
 * slots (queue depth + 16) crashed the io_uring reader, which took a slot
 * that was not there. 300 files of 100 kB at the default depth, and a mix
 * of 64 KiB..4 MiB at a small one.
 */
static void test_many_medium(void **state)
{
	char *dir = tmp_dir();
	int ios[2] = { UDOS_INGEST_IO_URING, UDOS_INGEST_IO_THREADS };
	struct mix m100, mmed;
	unsigned k = 0;

	(void)state;
	mix_make(&m100, dir, "t100k", 300, 1, pick_100k, NULL);
	mix_make(&mmed, dir, "tmed", 40, 2, pick_medium, NULL);
	for (int i = 0; i < 2; i++) {
		if (ios[i] == UDOS_INGEST_IO_URING && !have_ring())
			continue;
		for (int t = 0; t < 2; t++) {
			int target = t ? UDOS_INGEST_TO_LOOSE
				       : UDOS_INGEST_TO_PACK;

			run_one(&m100, dir, k++, ios[i], target, 0, 0);
			run_one(&mmed, dir, k++, ios[i], target, 4, 0);
		}
	}
	mix_free(&m100);
	mix_free(&mmed);
	tmp_remove(dir);
}

/*
 * Random mixes of every class at queue depths from 1 to 512 and with the
 * smallest memory cap (16 MiB, where medium files wait for budget and
 * streams for room). UDOS_MIX_SEED picks another series, UDOS_MIX_ROUNDS
 * runs more of them.
 */
static void test_random_mix(void **state)
{
	static const unsigned qds[] = { 1, 2, 3, 8, 32, 512 };
	const char *es = getenv("UDOS_MIX_SEED");
	const char *er = getenv("UDOS_MIX_ROUNDS");
	uint64_t seed = es ? strtoull(es, NULL, 0) : 20260812;
	unsigned rounds = er ? (unsigned)atoi(er) : 6;
	char *dir = tmp_dir();
	bool ring = have_ring();
	unsigned k = 0;

	(void)state;
	for (unsigned i = 0; i < rounds; i++) {
		uint64_t s = seed + i * 7919;
		unsigned left = 1000;
		struct weights wt = { .left = 40u << 20 };
		struct mix m;
		char name[32];
		size_t n;
		/* what the first five classes leave is streamed files,
		 * until the tree holds 40 MiB */
		static const unsigned wmax[5] = { 100, 500, 200, 400, 40 };

		for (int c = 0; c < 5; c++) {
			wt.w[c] = (unsigned)(rnd(&s) % (wmax[c] + 1));
			if (wt.w[c] > left)
				wt.w[c] = left;
			left -= wt.w[c];
		}
		wt.w[5] = left; /* the rest: streams */
		n = 40 + (size_t)(rnd(&s) % 160);
		snprintf(name, sizeof(name), "mix%u", i);
		mix_make(&m, dir, name, n, s, pick_weighted, &wt);
		print_message("round %u: seed %llu, %zu files, weights "
			      "%u/%u/%u/%u/%u/%u\n", i,
			      (unsigned long long)(seed + i * 7919), n, wt.w[0],
			      wt.w[1], wt.w[2], wt.w[3], wt.w[4], wt.w[5]);
		for (int io = 0; io < 2; io++) {
			unsigned qd = qds[(i + (unsigned)io) % 6];
			uint64_t cap = (i + (unsigned)io) % 3 == 0 ? 16u << 20
								    : 0;
			int target = (i + (unsigned)io) % 2
					     ? UDOS_INGEST_TO_LOOSE
					     : UDOS_INGEST_TO_PACK;

			if (!io && !ring)
				continue;
			run_one(&m, dir, k++,
				io ? UDOS_INGEST_IO_THREADS
				   : UDOS_INGEST_IO_URING,
				target, qd, cap);
		}
		mix_free(&m);
	}
	tmp_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_medium),
		cmocka_unit_test(test_random_mix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
