/* test_ingest.c - the bulk ingest engine (uring/): walk, read, hash, compress,
 * append; uring and thread paths; loose and pack targets; per-file errors. */
#include "helpers.h"

#include "udos/ingest.h"
#include "../../uring/ingest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the tree ----------------------------------------------------------- */

#define MAXF 512

struct tfile {
	char *path;     /* absolute */
	size_t len;
	bool expect_ok; /* a regular readable file */
};

struct tree {
	char *root;     /* dir/src */
	struct tfile f[MAXF];
	size_t n;
	size_t n_special; /* fifo + symlink */
};

static void put_file(struct tree *t, const char *rel, const uint8_t *data,
		     size_t len)
{
	char *p;
	int fd;

	assert_true(t->n < MAXF);
	if (asprintf(&p, "%s/%s", t->root, rel) < 0)
		fail_msg("asprintf");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (len)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	t->f[t->n].path = p;
	t->f[t->n].len = len;
	t->f[t->n].expect_ok = true;
	t->n++;
}

static void gen_file(struct tree *t, const char *rel, size_t len,
		     uint32_t seed, int comp)
{
	uint8_t *b = malloc(len ? len : 1);

	assert_non_null(b);
	fill_bytes(b, len, seed, comp);
	put_file(t, rel, b, len);
	free(b);
}

/* Large: alternating compressible and random 300 KiB regions. */
static void gen_mixed(struct tree *t, const char *rel, size_t len,
		      uint32_t seed)
{
	uint8_t *b = malloc(len);
	size_t off = 0;

	assert_non_null(b);
	for (int i = 0; off < len; i++) {
		size_t n = len - off < 300000 ? len - off : 300000;

		fill_bytes(b + off, n, seed + (uint32_t)i, i % 2 == 0);
		off += n;
	}
	put_file(t, rel, b, len);
	free(b);
}

static void make_tree(struct tree *t, const char *dir)
{
	char *p;
	uint8_t b[5000];

	memset(t, 0, sizeof(*t));
	if (asprintf(&t->root, "%s/src", dir) < 0)
		fail_msg("asprintf");
	assert_int_equal(mkdir(t->root, 0755), 0);
	if (asprintf(&p, "%s/a", t->root) < 0 || mkdir(p, 0755) < 0)
		fail_msg("mkdir a");
	free(p);
	if (asprintf(&p, "%s/a/b", t->root) < 0 || mkdir(p, 0755) < 0)
		fail_msg("mkdir a/b");
	free(p);
	if (asprintf(&p, "%s/c", t->root) < 0 || mkdir(p, 0755) < 0)
		fail_msg("mkdir c");
	free(p);

	put_file(t, "empty1", NULL, 0);
	put_file(t, "a/empty2", NULL, 0);
	for (int i = 0; i < 60; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "%s/s%03d",
			 i % 3 == 0 ? "a" : i % 3 == 1 ? "a/b" : "c", i);
		gen_file(t, rel, 10 + (size_t)i * 61, (uint32_t)i, i % 2);
	}
	/* duplicates */
	fill_bytes(b, sizeof(b), 7, 1);
	put_file(t, "dup1", b, sizeof(b));
	put_file(t, "a/dup2", b, sizeof(b));
	put_file(t, "a/b/dup3", b, sizeof(b));
	/* around the head and chunk boundaries */
	gen_file(t, "head_exact", 65536, 100, 1);
	gen_file(t, "head_plus1", 65537, 101, 0);
	gen_file(t, "c/medium", 300000, 102, 1);
	gen_file(t, "c/medium_rand", 1500000, 103, 0);
	gen_mixed(t, "large1", 6 * 1024 * 1024 + 12345, 104);
	gen_mixed(t, "a/large2", 4 * 1024 * 1024 + 1, 105);
	/* a duplicate of a large file */
	gen_mixed(t, "c/large1_copy", 6 * 1024 * 1024 + 12345, 104);

	/* fifo and symlink: skipped with a warning */
	if (asprintf(&p, "%s/fifo", t->root) < 0 || mkfifo(p, 0644) < 0)
		fail_msg("mkfifo");
	free(p);
	if (asprintf(&p, "%s/link", t->root) < 0 || symlink("dup1", p) < 0)
		fail_msg("symlink");
	free(p);
	t->n_special = 2;
}

static void free_tree(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->f[i].path);
	free(t->root);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat sb;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	b = malloc((size_t)sb.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, (size_t)sb.st_size), sb.st_size);
	close(fd);
	*len = (size_t)sb.st_size;
	return b;
}

/* ---- callbacks ---------------------------------------------------------- */

struct result {
	char *path;
	int error;
	udos_oid oid;
	uint64_t size;
	bool is_new;
};

struct collect {
	struct result r[MAXF * 2];
	size_t n;
	unsigned warns[8];
	unsigned notices;
	unsigned progress_calls;
};

static void on_file(void *ctx, const udos_ingest_file *f)
{
	struct collect *c = ctx;

	assert_true(c->n < MAXF * 2);
	c->r[c->n].path = strdup(f->path);
	c->r[c->n].error = f->error;
	c->r[c->n].oid = f->oid;
	c->r[c->n].size = f->size;
	c->r[c->n].is_new = f->is_new;
	if (f->error)
		assert_true(f->detail && *f->detail);
	c->n++;
}

static void on_warn(void *ctx, int kind, int code, const char *path,
		    const char *msg)
{
	struct collect *c = ctx;

	(void)code, (void)path, (void)msg;
	if (kind > 0 && kind < 8)
		c->warns[kind]++;
	if (kind == UDOS_INGEST_WARN_NOTICE)
		c->notices++;
}

static void on_progress(void *ctx, const udos_ingest_progress *p)
{
	struct collect *c = ctx;

	assert_true(p->files_done <= p->files_total || !p->walk_done);
	c->progress_calls++;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->r[i].path);
	free(c);
}

static const struct result *find(const struct collect *c, const char *path)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->r[i].path, path))
			return &c->r[i];
	return NULL;
}

static struct collect *ingest(udos_ingest_summary *sum, udos_store *st,
			      const char *root, int io, int target)
{
	udos_ingest_opts o = UDOS_INGEST_OPTS_INIT;
	struct collect *c = calloc(1, sizeof(*c));
	const char *paths[1] = { root };

	assert_non_null(c);
	o.io = io;
	o.target = target;
	o.no_sync = true;
	o.on_file = on_file;
	o.on_warning = on_warn;
	o.progress = on_progress;
	o.progress_ms = 1;
	o.ctx = c;
	assert_ok(udos_ingest_paths(sum, st, paths, 1, &o));
	return c;
}

/* Every regular file reported once, with the right id, and reads back. */
static void check_all(const struct tree *t, const struct collect *c,
		      udos_store *st, int want_loc)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct result *res = find(c, t->f[i].path);
		udos_oid want;
		udos_meta m;
		size_t len, glen;
		uint8_t *data;
		void *got;

		if (!t->f[i].expect_ok)
			continue;
		if (!res)
			fail_msg("no result for %s", t->f[i].path);
		assert_int_equal(res->error, 0);
		data = slurp(t->f[i].path, &len);
		udos_oid_hash(&want, data, len);
		assert_memory_equal(want.id, res->oid.id, 32);
		assert_int_equal(res->size, len);
		assert_ok(udos_object_stat(&m, st, &res->oid));
		assert_int_equal(m.loc, want_loc);
		assert_ok(udos_object_read(&got, &glen, st, &res->oid, 0,
					   UDOS_READ_VERIFY));
		assert_int_equal(glen, len);
		assert_memory_equal(got, data, len);
		free(got);
		free(data);
	}
}

static bool ring_forced_off(void)
{
	const char *e = getenv("UDOS_INGEST_NO_URING");

	return e && *e && strcmp(e, "0");
}

/* ---- tests -------------------------------------------------------------- */

static void test_pack_tree(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 2 * 1024 * 1024);
	udos_ingest_summary sum;
	struct collect *c;
	struct tree t;
	size_t nfiles;

	(void)state;
	make_tree(&t, dir);
	nfiles = t.n;
	c = ingest(&sum, st, t.root, UDOS_INGEST_IO_AUTO, UDOS_INGEST_TO_PACK);
	assert_int_equal(c->n, nfiles);
	assert_int_equal(sum.files, nfiles);
	assert_int_equal(sum.errors, 0);
	assert_int_equal(sum.skipped, 2);
	assert_int_equal(c->warns[UDOS_INGEST_WARN_SYMLINK], 1);
	assert_int_equal(c->warns[UDOS_INGEST_WARN_SPECIAL], 1);
	/* two empty files, three dup copies, one large copy */
	assert_int_equal(sum.dedup_hits, 1 + 2 + 1);
	assert_int_equal(sum.new_objects, nfiles - 4);
	assert_true(sum.bytes_stored < sum.bytes_in);
	assert_true(c->progress_calls > 0);
	assert_int_equal(sum.io, ring_forced_off() ? UDOS_INGEST_IO_THREADS
						   : UDOS_INGEST_IO_URING);
	assert_int_equal(c->notices, ring_forced_off() ? 1 : 0);
	check_all(&t, c, st, UDOS_LOC_PACKED);
	collect_free(c);

	/* again: all dedup hits, nothing new */
	c = ingest(&sum, st, t.root, UDOS_INGEST_IO_AUTO, UDOS_INGEST_TO_PACK);
	assert_int_equal(sum.files, nfiles);
	assert_int_equal(sum.new_objects, 0);
	assert_int_equal(sum.dedup_hits, nfiles);
	for (size_t i = 0; i < c->n; i++)
		assert_false(c->r[i].is_new);
	collect_free(c);

	{
		udos_validate_result vr;

		assert_ok(udos_store_validate(&vr, st, UDOS_VALIDATE_FULL,
					      NULL, NULL, NULL, NULL));
		assert_int_equal(vr.findings, 0);
	}
	udos_store_close(st);
	free_tree(&t);
	tmp_remove(dir);
}

struct objinfo {
	udos_oid oid;
	udos_meta m;
};

struct objlist {
	struct objinfo o[MAXF];
	size_t n;
};

static int list_cb(void *ctx, const udos_oid *oid, const udos_meta *meta)
{
	struct objlist *l = ctx;

	assert_true(l->n < MAXF);
	l->o[l->n].oid = *oid;
	l->o[l->n].m = *meta;
	l->n++;
	return 0;
}

/* The same tree through io_uring and through the thread pool: the same
 * objects with the same codec, sizes and stored bytes. */
static void test_uring_vs_threads(void **state)
{
	char *dir = tmp_dir(), *d1, *d2;
	udos_store *s1, *s2;
	udos_ingest_summary a, b;
	struct collect *c1, *c2;
	struct objlist *l1 = calloc(1, sizeof(*l1));
	struct objlist *l2 = calloc(1, sizeof(*l2));
	struct tree t;

	(void)state;
	if (ring_forced_off()) {
		free(l1);
		free(l2);
		tmp_remove(dir);
		skip();
	}
	make_tree(&t, dir);
	if (asprintf(&d1, "%s/u", dir) < 0 || asprintf(&d2, "%s/t", dir) < 0)
		fail_msg("asprintf");
	mkdir(d1, 0755);
	mkdir(d2, 0755);
	s1 = store_new(d1, "zstd:3", 0);
	s2 = store_new(d2, "zstd:3", 0);
	c1 = ingest(&a, s1, t.root, UDOS_INGEST_IO_URING, UDOS_INGEST_TO_PACK);
	c2 = ingest(&b, s2, t.root, UDOS_INGEST_IO_THREADS,
		    UDOS_INGEST_TO_PACK);
	assert_int_equal(a.io, UDOS_INGEST_IO_URING);
	assert_int_equal(b.io, UDOS_INGEST_IO_THREADS);
	assert_int_equal(a.files, b.files);
	assert_int_equal(a.new_objects, b.new_objects);
	assert_int_equal(a.bytes_in, b.bytes_in);
	assert_int_equal(a.bytes_stored, b.bytes_stored);
	for (size_t i = 0; i < c1->n; i++) {
		const struct result *r2 = find(c2, c1->r[i].path);

		assert_non_null(r2);
		assert_memory_equal(c1->r[i].oid.id, r2->oid.id, 32);
	}
	assert_ok(udos_store_foreach(s1, UDOS_FOREACH_ALL, list_cb, l1));
	assert_ok(udos_store_foreach(s2, UDOS_FOREACH_ALL, list_cb, l2));
	assert_int_equal(l1->n, l2->n);
	for (size_t i = 0; i < l1->n; i++) {
		void *x, *y;
		size_t xl, yl;

		/* both lists are in id order */
		assert_memory_equal(l1->o[i].oid.id, l2->o[i].oid.id, 32);
		assert_int_equal(l1->o[i].m.codec, l2->o[i].m.codec);
		assert_int_equal(l1->o[i].m.size, l2->o[i].m.size);
		assert_int_equal(l1->o[i].m.stored_size,
				 l2->o[i].m.stored_size);
		assert_ok(udos_object_read(&x, &xl, s1, &l1->o[i].oid, 0,
					   UDOS_READ_VERIFY));
		assert_ok(udos_object_read(&y, &yl, s2, &l2->o[i].oid, 0,
					   UDOS_READ_VERIFY));
		assert_int_equal(xl, yl);
		assert_memory_equal(x, y, xl);
		free(x);
		free(y);
	}
	collect_free(c1);
	collect_free(c2);
	free(l1);
	free(l2);
	udos_store_close(s1);
	udos_store_close(s2);
	free(d1);
	free(d2);
	free_tree(&t);
	tmp_remove(dir);
}

static void test_loose_tree(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 0);
	udos_ingest_summary sum;
	struct collect *c;
	struct tree t;
	udos_status s;

	(void)state;
	make_tree(&t, dir);
	c = ingest(&sum, st, t.root, UDOS_INGEST_IO_AUTO,
		   UDOS_INGEST_TO_LOOSE);
	assert_int_equal(sum.files, t.n);
	assert_int_equal(sum.errors, 0);
	assert_int_equal(sum.new_objects, t.n - 4);
	check_all(&t, c, st, UDOS_LOC_LOOSE);
	assert_ok(udos_store_status(&s, st));
	assert_int_equal(s.loose_count, t.n - 4);
	assert_int_equal(s.packed_count, 0);
	collect_free(c);
	udos_store_close(st);
	free_tree(&t);
	tmp_remove(dir);
}

/* Per-file errors: a path that vanished and (not as root) a file without
 * read permission are reported with their code; the rest is stored. */
struct list_src {
	const char **p;
	size_t n, i;
};

static int list_next(void *ctx, const char **out)
{
	struct list_src *s = ctx;

	if (s->i >= s->n)
		return 0;
	*out = s->p[s->i++];
	return 1;
}

static void test_errors(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 0);
	udos_ingest_opts o = UDOS_INGEST_OPTS_INIT;
	udos_ingest_summary sum;
	struct collect *c = calloc(1, sizeof(*c));
	struct tree t;
	const char *paths[4];
	struct list_src src;
	char *gone, *denied;
	const struct result *r;
	bool root = geteuid() == 0;

	(void)state;
	make_tree(&t, dir);
	if (asprintf(&gone, "%s/vanished", t.root) < 0)
		fail_msg("asprintf");
	/* the head read and the big-file path both see the chmod */
	denied = t.f[t.n - 3].path; /* c/medium_rand */
	assert_int_equal(chmod(denied, 0), 0);
	paths[0] = t.f[2].path;
	paths[1] = gone;
	paths[2] = denied;
	paths[3] = t.f[t.n - 1].path;
	src = (struct list_src){ paths, 4, 0 };
	o.no_sync = true;
	o.on_file = on_file;
	o.on_warning = on_warn;
	o.ctx = c;
	assert_ok(udos_ingest_source(&sum, st, list_next, &src, &o));
	assert_int_equal(c->n, 4);
	r = find(c, gone);
	assert_non_null(r);
	assert_int_equal(r->error, -ENOENT);
	r = find(c, denied);
	assert_non_null(r);
	if (!root) {
		assert_int_equal(r->error, -EACCES);
		assert_int_equal(sum.errors, 2);
		assert_int_equal(sum.files, 2);
	} else {
		assert_int_equal(r->error, 0);
		assert_int_equal(sum.errors, 1);
	}
	r = find(c, paths[0]);
	assert_int_equal(r->error, 0);
	assert_int_equal(udos_object_has(st, &r->oid), 1);
	r = find(c, paths[3]);
	assert_int_equal(r->error, 0);
	assert_int_equal(udos_object_has(st, &r->oid), 1);
	chmod(denied, 0644);
	collect_free(c);
	free(gone);
	udos_store_close(st);
	free_tree(&t);
	tmp_remove(dir);
}

/* follow_symlinks ingests the symlink's target; a list on an fd works. */
static void test_follow_and_fd(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "none", 0);
	udos_ingest_opts o = UDOS_INGEST_OPTS_INIT;
	udos_ingest_summary sum;
	struct collect *c = calloc(1, sizeof(*c));
	struct tree t;
	char *link;
	int pfd[2];
	FILE *w;

	(void)state;
	make_tree(&t, dir);
	if (asprintf(&link, "%s/link", t.root) < 0)
		fail_msg("asprintf");
	assert_int_equal(pipe(pfd), 0);
	w = fdopen(pfd[1], "w");
	fprintf(w, "%s%c%c%s%c", t.f[0].path, 0, 0, link, 0);
	fclose(w);
	o.no_sync = true;
	o.follow_symlinks = true;
	o.on_file = on_file;
	o.ctx = c;
	assert_ok(udos_ingest_fd(&sum, st, pfd[0], '\0', &o));
	close(pfd[0]);
	assert_int_equal(sum.files, 2);
	assert_int_equal(sum.skipped, 0);
	assert_non_null(find(c, link));
	assert_int_equal(find(c, link)->size, 5000);
	collect_free(c);
	free(link);
	udos_store_close(st);
	free_tree(&t);
	tmp_remove(dir);
}

/* A small in-flight cap with big files still completes (and does not
 * deadlock between streams and whole files). */
static void test_small_inflight(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:1", 0);
	udos_ingest_opts o = UDOS_INGEST_OPTS_INIT;
	udos_ingest_summary sum;
	struct tree t;
	const char *paths[1];

	(void)state;
	make_tree(&t, dir);
	for (int i = 0; i < 6; i++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "big%d", i);
		gen_mixed(&t, rel, 9 * 1024 * 1024 + (size_t)i, 200 + (uint32_t)i);
	}
	paths[0] = t.root;
	o.no_sync = true;
	o.max_inflight = 1;    /* raised to the 16 MiB minimum */
	o.queue_depth = 4;
	o.workers = 1;
	assert_ok(udos_ingest_paths(&sum, st, paths, 1, &o));
	assert_int_equal(sum.files, t.n);
	assert_int_equal(sum.errors, 0);
	udos_store_close(st);
	free_tree(&t);
	tmp_remove(dir);
}

static void test_forced_fallback(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 0);
	udos_ingest_opts o = UDOS_INGEST_OPTS_INIT;
	const char *old = getenv("UDOS_INGEST_NO_URING");
	const char *paths[1];
	struct collect *c = calloc(1, sizeof(*c));
	udos_ingest_summary sum;

	(void)state;
	paths[0] = dir;
	setenv("UDOS_INGEST_NO_URING", "1", 1);
	assert_int_equal(udos_ingest_uring_probe(), -ENOSYS);
	o.io = UDOS_INGEST_IO_URING;
	o.no_sync = true;
	assert_int_equal(udos_ingest_paths(&sum, st, paths, 1, &o), -ENOSYS);
	o.io = UDOS_INGEST_IO_AUTO;
	o.on_warning = on_warn;
	o.ctx = c;
	assert_ok(udos_ingest_paths(&sum, st, paths, 1, &o));
	assert_int_equal(sum.io, UDOS_INGEST_IO_THREADS);
	assert_int_equal(c->notices, 1);
	if (old)
		setenv("UDOS_INGEST_NO_URING", old, 1);
	else
		unsetenv("UDOS_INGEST_NO_URING");
	collect_free(c);
	udos_store_close(st);
	tmp_remove(dir);
}

/* ---- the rich per-file report (REPORT_ALL) ------------------------------ */

struct entry {
	char *path;
	int error;
	uint64_t index;
	bool named, skipped, stopped, cached;
	int type;
	uint32_t mode;
	uint64_t stat_size, size;
	int64_t mtime_ns;
};

struct entries {
	struct entry e[MAXF];
	size_t n;
};

static void on_entry(void *ctx, const udos_ingest_file *f)
{
	struct entries *c = ctx;
	struct entry *e;

	assert_true(c->n < MAXF);
	e = &c->e[c->n++];
	e->path = strdup(f->path);
	e->error = f->error;
	e->index = f->index;
	e->named = f->named;
	e->skipped = f->skipped;
	e->stopped = f->stopped;
	e->cached = f->cached;
	e->type = f->type;
	e->mode = f->mode;
	e->stat_size = f->stat_size;
	e->size = f->size;
	e->mtime_ns = f->mtime_ns;
}

static const struct entry *entry_find(const struct entries *c,
				      const char *path)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->e[i].path, path))
			return &c->e[i];
	fail_msg("no report for %s", path);
	return NULL;
}

static void entries_free(struct entries *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i].path);
	free(c);
}

static void put(const char *dir, const char *rel, const char *text)
{
	char *p;
	int fd;

	if (asprintf(&p, "%s/%s", dir, rel) < 0)
		fail_msg("asprintf");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	free(p);
}

static struct entries *ingest_entries(udos_ingest_summary *sum,
				      udos_store *st, const char **paths,
				      size_t n, unsigned flags, int io)
{
	udos_ingest_opts o = UDOS_INGEST_OPTS_INIT;
	struct entries *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	o.io = io;
	o.no_sync = true;
	o.flags = flags;
	o.on_file = on_entry;
	o.ctx = c;
	assert_ok(udos_ingest_paths(sum, st, paths, n, &o));
	return c;
}

static void test_report_all(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 2 * 1024 * 1024);
	udos_ingest_summary sum;
	struct entries *c;
	const struct entry *e;
	char *d, *x, *missing, *fifo, *p;
	const char *paths[5];
	struct stat sb;

	(void)state;
	if (asprintf(&d, "%s/d", dir) < 0 || mkdir(d, 0755) < 0 ||
	    asprintf(&x, "%s/x", dir) < 0 ||
	    asprintf(&missing, "%s/missing", dir) < 0 ||
	    asprintf(&fifo, "%s/ff", dir) < 0 || mkfifo(fifo, 0644) < 0)
		fail_msg("setup");
	put(dir, "x", "named file");
	put(d, "a", "under the folder");
	if (asprintf(&p, "%s/lnk", d) < 0 || symlink("a", p) < 0)
		fail_msg("symlink");
	free(p);
	if (asprintf(&p, "%s/fifo2", d) < 0 || mkfifo(p, 0600) < 0)
		fail_msg("mkfifo");
	free(p);
	paths[0] = x;
	paths[1] = missing;
	paths[2] = d;
	paths[3] = fifo;
	paths[4] = x; /* the same file twice: two entries */
	c = ingest_entries(&sum, st, paths, 5, UDOS_INGEST_REPORT_ALL,
			   UDOS_INGEST_IO_AUTO);
	/* x twice, missing, d, d/a, d/lnk, d/fifo2, ff */
	assert_int_equal(c->n, 8);
	assert_int_equal(sum.files, 3);
	assert_int_equal(sum.errors, 1);
	assert_int_equal(sum.skipped, 3);
	for (size_t i = 0; i < c->n; i++) {
		e = &c->e[i];
		if (!strcmp(e->path, x)) {
			assert_true(e->named);
			assert_true(e->index == 0 || e->index == 4);
			assert_int_equal(e->error, 0);
			assert_int_equal(e->type, UDOS_INGEST_TYPE_FILE);
			assert_int_equal(stat(x, &sb), 0);
			assert_int_equal(e->mode, sb.st_mode);
			assert_int_equal(e->stat_size, 10);
			assert_int_equal(e->size, 10);
			assert_true(e->mtime_ns ==
				    (int64_t)sb.st_mtim.tv_sec * 1000000000 +
					    sb.st_mtim.tv_nsec);
		}
	}
	e = entry_find(c, missing);
	assert_true(e->named && e->index == 1);
	assert_int_equal(e->error, -ENOENT);
	assert_false(e->stopped);
	assert_int_equal(e->mode, 0);
	e = entry_find(c, d);
	assert_true(e->named && e->index == 2 && !e->skipped && !e->error);
	assert_int_equal(e->type, UDOS_INGEST_TYPE_DIR);
	assert_true(S_ISDIR(e->mode));
	if (asprintf(&p, "%s/a", d) < 0)
		fail_msg("asprintf");
	e = entry_find(c, p);
	free(p);
	assert_true(!e->named && e->index == 2 && !e->error);
	assert_int_equal(e->type, UDOS_INGEST_TYPE_FILE);
	assert_true(S_ISREG(e->mode) && (e->mode & 0777) == 0640);
	if (asprintf(&p, "%s/lnk", d) < 0)
		fail_msg("asprintf");
	e = entry_find(c, p);
	free(p);
	assert_true(!e->named && e->skipped && e->index == 2);
	assert_int_equal(e->type, UDOS_INGEST_TYPE_SYMLINK);
	if (asprintf(&p, "%s/fifo2", d) < 0)
		fail_msg("asprintf");
	e = entry_find(c, p);
	free(p);
	assert_true(!e->named && e->skipped);
	assert_int_equal(e->type, UDOS_INGEST_TYPE_FIFO);
	e = entry_find(c, fifo);
	assert_true(e->named && e->skipped && e->index == 3);
	assert_int_equal(e->type, UDOS_INGEST_TYPE_FIFO);
	assert_true(S_ISFIFO(e->mode));
	entries_free(c);

	/* a folder given as a path, without recursion: an error */
	paths[0] = d;
	c = ingest_entries(&sum, st, paths, 1,
			   UDOS_INGEST_REPORT_ALL | UDOS_INGEST_NO_RECURSE,
			   UDOS_INGEST_IO_THREADS);
	assert_int_equal(c->n, 1);
	assert_true(c->e[0].named && c->e[0].index == 0);
	assert_int_equal(c->e[0].error, -EISDIR);
	assert_int_equal(c->e[0].type, UDOS_INGEST_TYPE_DIR);
	entries_free(c);

	free(d), free(x), free(missing), free(fifo);
	udos_store_close(st);
	tmp_remove(dir);
}

/* The stat cache: a second run over files old enough answers every file
 * from the cache (walker threads report at once), the same ids; with
 * UDOS_INGEST_NO_CACHE every file is read again. */
static void test_stat_cache(void **state)
{
	char *dir = tmp_dir();
	udos_store *st = store_new(dir, "zstd:3", 2 * 1024 * 1024);
	udos_ingest_summary sum;
	struct entries *c;
	const char *paths[1];
	struct tree t;
	int io = ring_forced_off() ? UDOS_INGEST_IO_THREADS
				   : UDOS_INGEST_IO_AUTO;

	(void)state;
	make_tree(&t, dir);
	paths[0] = t.root;
	/* out of the racy window (UDOS_STATCACHE_WINDOW_S) */
	usleep(3300 * 1000);
	c = ingest_entries(&sum, st, paths, 1, 0, io);
	assert_int_equal(sum.files, t.n);
	assert_int_equal(sum.cached, 0);
	entries_free(c);
	for (int round = 0; round < 2; round++) {
		c = ingest_entries(&sum, st, paths, 1, 0,
				   round ? UDOS_INGEST_IO_THREADS : io);
		assert_int_equal(sum.files, t.n);
		assert_int_equal(sum.cached, t.n);
		assert_int_equal(sum.new_objects, 0);
		for (size_t i = 0; i < c->n; i++) {
			const struct entry *e = &c->e[i];

			if (e->skipped)
				continue;
			assert_true(e->cached);
			assert_int_equal(e->size, e->stat_size);
		}
		entries_free(c);
	}
	c = ingest_entries(&sum, st, paths, 1, UDOS_INGEST_NO_CACHE, io);
	assert_int_equal(sum.files, t.n);
	assert_int_equal(sum.cached, 0);
	entries_free(c);
	udos_store_close(st);
	free_tree(&t);
	tmp_remove(dir);
}

/* The bounded queue between the walker and the reader: a full queue's
 * pusher sleeps until it is half empty. Every item arrives, in order,
 * whether taken one by one or in batches, and nobody waits for ever. */
struct qitem {
	struct ing_node node;
	unsigned v;
};

#define Q_ITEMS 20000

static void *q_producer(void *arg)
{
	struct ing_queue *q = arg;
	unsigned v = 0;

	while (v < Q_ITEMS) {
		/* lists of 1..7 items, as the walker pushes a folder */
		unsigned n = 1 + v % 7, i;
		struct qitem *it[7];

		if (n > Q_ITEMS - v)
			n = Q_ITEMS - v;
		for (i = 0; i < n; i++) {
			it[i] = calloc(1, sizeof(*it[i]));
			assert_non_null(it[i]);
			it[i]->v = v++;
			if (i)
				it[i - 1]->node.next = &it[i]->node;
		}
		if (n == 1)
			assert_true(ing_queue_push(q, &it[0]->node));
		else
			assert_true(ing_queue_push_list(q, &it[0]->node,
							&it[n - 1]->node, n));
	}
	ing_queue_close(q);
	return NULL;
}

static void test_queue_half_empty_wake(void **state)
{
	struct ing_queue q;
	pthread_t t;
	unsigned want = 0, round = 0;
	bool closed = false;

	(void)state;
	ing_queue_init(&q, 16);
	assert_int_equal(pthread_create(&t, NULL, q_producer, &q), 0);
	while (!closed) {
		struct ing_node *n;

		if (round++ % 2) {
			ing_queue_pop_batch(&q, 5, 1000, &n, &closed);
		} else {
			n = ing_queue_pop(&q, 1000, &closed);
			if (n)
				n->next = NULL; /* one node, still linked */
		}
		while (n) {
			struct ing_node *next = n->next;

			assert_int_equal(((struct qitem *)n)->v, want);
			want++;
			free(n);
			n = next;
		}
		/* a list may pass the cap once */
		assert_true(ing_queue_len(&q) <= 16 + 7);
	}
	assert_int_equal(want, Q_ITEMS);
	pthread_join(t, NULL);
	ing_queue_destroy(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pack_tree),
		cmocka_unit_test(test_report_all),
		cmocka_unit_test(test_stat_cache),
		cmocka_unit_test(test_uring_vs_threads),
		cmocka_unit_test(test_loose_tree),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_follow_and_fd),
		cmocka_unit_test(test_small_inflight),
		cmocka_unit_test(test_forced_fallback),
		cmocka_unit_test(test_queue_half_empty_wake),
	};
	int rc;

	if (!ring_forced_off() && (rc = udos_ingest_uring_probe()) < 0) {
		fprintf(stderr, "no io_uring ring (%s): skipping\n",
			udos_strerror(rc));
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
