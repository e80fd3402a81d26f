/* test_idfilter.c - the pack writer's id filter: never a false "absent",
 * a few false "maybe"s, and a file that is believed only while it matches
 * the index (after a crash, a later write, deletion or damage it is
 * rebuilt and dedup stays exact). */
#include "helpers.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

/* objects per session: more than the look-ups after which a writer
 * without a filter builds one (FILTER_AFTER in writer.c) */
#define N_OBJ 6000

static void rand_oid(udos_oid *o, uint64_t *s)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < 32; i += 8) {
		uint64_t v;

		*s ^= *s << 13;
		*s ^= *s >> 7;
		*s ^= *s << 17;
		v = *s * 0x2545F4914F6CDD1Dull;
		memcpy(o->id + i, &v, 8);
	}
}

static void test_no_false_absent(void **state)
{
	udos__idfilter *f = NULL;
	uint64_t s = 42, fp = 0;
	const uint64_t n = 600000, probes = 200000;
	udos_oid o;

	(void)state;
	assert_ok(udos__idfilter_new(&f, 1000));
	for (uint64_t i = 0; i < n; i++) {
		rand_oid(&o, &s);
		assert_ok(udos__idfilter_add(f, &o));
	}
	assert_int_equal(udos__idfilter_count(f), n);
	s = 42;
	for (uint64_t i = 0; i < n; i++) {
		rand_oid(&o, &s);
		assert_true(udos__idfilter_maybe(f, &o));
	}
	for (uint64_t i = 0; i < probes; i++) {
		rand_oid(&o, &s); /* continues past the added ones */
		fp += udos__idfilter_maybe(f, &o);
	}
	/* about 1% per full segment; segments double (64k .. 1M here) */
	assert_true(fp * 100 < probes * 5);
	/* capacity for twice what it holds at most: ~2.5 bytes an id */
	assert_true(udos__idfilter_bytes(f) <= n * 25 / 10 + 65536);
	udos__idfilter_free(f);
}

/* content of object i of a session */
static size_t obj(char *buf, size_t cap, int session, int i)
{
	return (size_t)snprintf(buf, cap, "filter test %d object %d\n",
				session, i);
}

static udos_store *open_path(const char *path)
{
	udos_store *st = NULL;

	assert_ok(udos_store_open(&st, path, 0));
	return st;
}

/* add N_OBJ objects of `session`; *news gets how many were new */
static void add_session(const char *path, int session, int *news,
			bool close_writer)
{
	udos_store *st = open_path(path);
	udos_writer *w = NULL;
	char buf[128];

	*news = 0;
	assert_ok(udos_writer_open(&w, st, NULL));
	for (int i = 0; i < N_OBJ; i++) {
		udos_oid oid;
		bool fresh = false;
		size_t len = obj(buf, sizeof(buf), session, i);

		assert_ok(udos_writer_add_buf(&oid, &fresh, w, buf, len));
		*news += fresh;
	}
	assert_ok(udos_writer_commit(w));
	if (!close_writer)
		_exit(0); /* a crash: committed, the filter never saved */
	udos_writer_close(w);
	udos_store_close(st);
}

/* 0 when index.filter is believed for this index, else the code */
static int load_rc(const char *path)
{
	udos_store *st = open_path(path);
	udos__idfilter *f = NULL;
	int rc;

	assert_ok(udos_store_lock_writer(st));
	rc = udos__idfilter_load(&f, st);
	if (rc == 0) {
		udos_oid o;
		char buf[128];
		size_t len = obj(buf, sizeof(buf), 1, 7);

		/* what the first session stored is a "maybe" */
		udos_oid_hash(&o, buf, len);
		assert_true(udos__idfilter_maybe(f, &o));
	}
	udos__idfilter_free(f);
	udos_store_close(st);
	return rc;
}

struct fx {
	char *dir;
	char path[4096];
	char filter[4200];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	udos_store *st;

	f->dir = tmp_dir();
	st = store_new(f->dir, "none", 0);
	snprintf(f->path, sizeof(f->path), "%s", udos_store_path(st));
	snprintf(f->filter, sizeof(f->filter), "%s/index.filter", f->path);
	udos_store_close(st);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tmp_remove(f->dir);
	free(f);
	return 0;
}

static void test_saved_and_believed(void **state)
{
	struct fx *f = *state;
	struct stat sb;
	int news;

	add_session(f->path, 1, &news, true);
	assert_int_equal(news, N_OBJ);
	assert_int_equal(stat(f->filter, &sb), 0);
	assert_int_equal(load_rc(f->path), 0);
	/* again: everything already there, nothing new */
	add_session(f->path, 1, &news, true);
	assert_int_equal(news, 0);
	assert_int_equal(load_rc(f->path), 0);
}

static void test_crash_leaves_it_stale(void **state)
{
	struct fx *f = *state;
	pid_t pid;
	int news, status;

	add_session(f->path, 1, &news, true);
	assert_int_equal(load_rc(f->path), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		add_session(f->path, 2, &news, false); /* exits */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the old file no longer matches the index: not believed */
	assert_int_equal(load_rc(f->path), UDOS_ENOTFOUND);
	/* and dedup of what the crashed run stored stays exact */
	add_session(f->path, 2, &news, true);
	assert_int_equal(news, 0);
	assert_int_equal(load_rc(f->path), 0);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[9000];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

static void test_old_file_put_back(void **state)
{
	struct fx *f = *state;
	char old[4300];
	int news;

	add_session(f->path, 1, &news, true);
	snprintf(old, sizeof(old), "%s.old", f->filter);
	copy_file(f->filter, old);
	add_session(f->path, 2, &news, true);
	assert_int_equal(news, N_OBJ);
	assert_int_equal(rename(old, f->filter), 0);
	assert_int_equal(load_rc(f->path), UDOS_ENOTFOUND);
	add_session(f->path, 2, &news, true);
	assert_int_equal(news, 0);
}

static void test_index_write_makes_it_stale(void **state)
{
	struct fx *f = *state;
	udos_store *st;
	udos_oid o;
	char buf[128];
	size_t len = obj(buf, sizeof(buf), 1, 3);
	int news;

	add_session(f->path, 1, &news, true);
	st = open_path(f->path);
	udos_oid_hash(&o, buf, len);
	assert_ok(udos_object_delete(st, &o));
	udos_store_close(st);
	assert_int_equal(load_rc(f->path), UDOS_ENOTFOUND);
	/* the deleted one is new again, the others are not */
	add_session(f->path, 1, &news, true);
	assert_int_equal(news, 1);
}

static void test_deleted_file(void **state)
{
	struct fx *f = *state;
	int news;

	add_session(f->path, 1, &news, true);
	assert_int_equal(unlink(f->filter), 0);
	assert_int_equal(load_rc(f->path), UDOS_ENOTFOUND);
	add_session(f->path, 1, &news, true);
	assert_int_equal(news, 0);
	assert_int_equal(load_rc(f->path), 0);
}

static void flip_byte(const char *p, off_t at)
{
	int fd = open(p, O_RDWR);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 0x10;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
	close(fd);
}

static void test_damaged_file(void **state)
{
	struct fx *f = *state;
	struct stat sb;
	int news;

	add_session(f->path, 1, &news, true);
	assert_int_equal(stat(f->filter, &sb), 0);
	/* a bit of the blocks, then of the header, then a cut file */
	flip_byte(f->filter, sb.st_size / 2);
	assert_int_equal(load_rc(f->path), UDOS_ENOTFOUND);
	add_session(f->path, 1, &news, true);
	assert_int_equal(news, 0);
	assert_int_equal(load_rc(f->path), 0);
	flip_byte(f->filter, 20);
	assert_int_equal(load_rc(f->path), UDOS_ENOTFOUND);
	assert_int_equal(truncate(f->filter, 100), 0);
	assert_int_equal(load_rc(f->path), UDOS_ENOTFOUND);
	add_session(f->path, 1, &news, true);
	assert_int_equal(news, 0);
	assert_int_equal(load_rc(f->path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_false_absent),
		cmocka_unit_test_setup_teardown(test_saved_and_believed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_crash_leaves_it_stale,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_file_put_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_index_write_makes_it_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_damaged_file, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
