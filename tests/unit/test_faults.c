/* test_faults.c - fault injection (STYLE 7): fail the N-th allocation,
 * write or fsync inside one operation, for N = 1, 2, ... until the
 * operation runs clean. Every failure must be a negative code with a
 * detail, and afterwards the store must open, return everything it
 * reported stored, and validate (full) without findings. Needs a library
 * built with -DUDOS_FAULT_INJECTION=ON; leaks show under ASan. */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_OBJ 50
#define MAX_ROUNDS 20000 /* a runaway loop is a failure, not a hang */

/* What one operation run left behind, for the checks that follow. */
struct run {
	char path[4096];        /* the container */
	udos_oid oids[N_OBJ];   /* every object the test made */
	size_t sizes[N_OBJ];
	bool stored[N_OBJ];     /* reported stored: must read back */
	int rc;                 /* first failure, or 0 */
	char detail[512];       /* its udos_error_detail() */
};

static void object_bytes(uint8_t *buf, size_t len, int i)
{
	fill_bytes(buf, len, (uint32_t)i + 1, i % 3 != 0);
}

static size_t object_size(int i)
{
	/* empty, small, and a few past the writer's buffer sizes */
	return i == 0 ? 0 : i % 10 == 9 ? 300000 + (size_t)i * 1000
					: 100 + (size_t)i * 37;
}

/* Record the first failure and its detail, right where it happened (the
 * detail is only valid until the next udos call). */
static int failed(struct run *r, int rc)
{
	if (rc < 0 && r->rc == 0) {
		r->rc = rc;
		snprintf(r->detail, sizeof(r->detail), "%s",
			 udos_error_detail());
	}
	return rc;
}

static int print_finding(void *ctx, const udos_finding *f)
{
	(void)ctx;
	print_message("finding %s: %s\n", udos_finding_name(f->kind),
		      f->message);
	return 0;
}

/* After the fault: open afresh, read back what was stored, validate. */
static void check_store(struct run *r, long n)
{
	udos_validate_result res;
	udos_store *st = NULL;
	uint8_t *want = malloc(400000);

	assert_non_null(want);
	assert_ok(udos_store_open(&st, r->path, 0));
	for (int i = 0; i < N_OBJ; i++) {
		void *d = NULL;
		size_t len = 0;
		int rc;

		if (!r->stored[i])
			continue;
		rc = udos_object_read(&d, &len, st, &r->oids[i], 0,
				      UDOS_READ_VERIFY);
		if (rc < 0)
			fail_msg("fault %ld: object %d reported stored is "
				 "lost: %s", n, i, udos_error_detail());
		object_bytes(want, r->sizes[i], i);
		assert_int_equal(len, r->sizes[i]);
		assert_memory_equal(d, want, len);
		free(d);
	}
	assert_ok(udos_store_validate(&res, st, UDOS_VALIDATE_FULL,
				      print_finding, NULL, NULL, NULL));
	if (res.findings)
		fail_msg("fault %ld: %llu findings after the failure", n,
			 (unsigned long long)res.findings);
	udos_store_close(st);
	free(want);
}

/* UDOS_FAULT_FROM=N starts the loop at N, to reproduce one failure */
static long first_fault(void)
{
	const char *s = getenv("UDOS_FAULT_FROM");

	return s && atol(s) > 0 ? atol(s) : 1;
}

typedef void (*prepare_fn)(struct run *r);
typedef void (*op_fn)(struct run *r);

/*
 * The loop: a fresh container per N (prepared without faults), the N-th
 * fault point of any kind armed during the operation only. It ends at the
 * first N the operation completes without reaching the fault. A fault that
 * fires but is absorbed (a best-effort folder fsync) may still succeed.
 */
static void fault_loop(const char *name, prepare_fn prepare, op_fn op)
{
	long n, failures = 0;

	for (n = first_fault(); n <= MAX_ROUNDS; n++) {
		struct run r;
		char *dir = tmp_dir();
		bool fired;

		memset(&r, 0, sizeof(r));
		snprintf(r.path, sizeof(r.path), "%s/c", dir);
		for (int i = 0; i < N_OBJ; i++)
			r.sizes[i] = object_size(i);
		if (prepare)
			prepare(&r);
		udos__err_clear();
		udos__fault_arm("all", n);
		op(&r);
		fired = udos__fault_fired();
		udos__fault_arm("all", 0);
		if (r.rc < 0) {
			if (!fired)
				fail_msg("%s: failed with no fault (N=%ld): "
					 "%s", name, n, r.detail);
			if (!r.detail[0])
				fail_msg("%s: fault %ld: code %d (%s) without "
					 "a detail", name, n, r.rc,
					 udos_strerror(r.rc));
			failures++;
		} else if (fired && getenv("UDOS_FAULT_VERBOSE")) {
			print_message("%s: fault %ld absorbed\n", name, n);
		}
		check_store(&r, n);
		tmp_remove(dir);
		if (!fired)
			break;
	}
	if (n > MAX_ROUNDS)
		fail_msg("%s: still failing after %d faults", name,
			 MAX_ROUNDS);
	print_message("%s: %ld fault points, %ld failed cleanly\n", name,
		      n - 1, failures);
	assert_true(n > 1); /* the hooks are really there */
}

/* ---- the operations ---------------------------------------------------- */

static void init_store(struct run *r, const char *compression)
{
	udos_init_opts o = UDOS_INIT_OPTS_INIT;

	o.compression = compression;
	o.pack_size_target = 256 * 1024; /* some rollovers */
	assert_ok(udos_store_init(r->path, &o));
}

static void prepare_empty(struct run *r)
{
	init_store(r, "zstd:3");
}

struct commit_ctx {
	struct run *r;
	int added; /* adds that returned */
};

/* Everything added before the commit is durable now: auto-commits run
 * inside an add, before the object being added is counted. */
static void on_commit(void *ctx, uint64_t n)
{
	struct commit_ctx *c = ctx;

	(void)n;
	for (int i = 0; i < c->added; i++)
		c->r->stored[i] = true;
}

/* A writer adding N_OBJ objects, committing every 16 and at the end. */
static void op_writer(struct run *r)
{
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	struct commit_ctx c = { r, 0 };
	udos_writer *w = NULL;
	udos_store *st = NULL;
	uint8_t *buf = malloc(400000);

	assert_non_null(buf);
	wo.commit_every_objects = 16;
	wo.on_commit = on_commit;
	wo.ctx = &c;
	if (failed(r, udos_store_open(&st, r->path, 0)) < 0)
		goto out;
	if (failed(r, udos_writer_open(&w, st, &wo)) < 0)
		goto out;
	for (int i = 0; i < N_OBJ; i++) {
		object_bytes(buf, r->sizes[i], i);
		if (failed(r, udos_writer_add_buf(&r->oids[i], NULL, w, buf,
						  r->sizes[i])) < 0)
			goto out;
		c.added = i + 1;
	}
	if (failed(r, udos_writer_commit(w)) == 0)
		for (int i = 0; i < N_OBJ; i++)
			r->stored[i] = true;
out:
	udos_writer_close(w);
	udos_store_close(st);
	free(buf);
}

/* N_OBJ loose objects, added without faults. */
static void prepare_loose(struct run *r)
{
	uint8_t *buf = malloc(400000);
	udos_store *st = NULL;

	assert_non_null(buf);
	init_store(r, "zlib:1");
	assert_ok(udos_store_open(&st, r->path, 0));
	for (int i = 0; i < N_OBJ; i++) {
		object_bytes(buf, r->sizes[i], i);
		assert_ok(udos_add_loose_buf(&r->oids[i], NULL, st, buf,
					     r->sizes[i], UDOS_ADD_NOSYNC));
		r->stored[i] = true;
	}
	udos_store_close(st);
	free(buf);
}

/* Pack them all and clean: whatever fails, no loose copy may be removed
 * before its packed copy is durable. */
static void op_pack_loose(struct run *r)
{
	udos_pack_opts po = UDOS_PACK_OPTS_INIT;
	udos_store *st = NULL;

	po.clean = true;
	if (failed(r, udos_store_open(&st, r->path, 0)) == 0)
		failed(r, udos_store_pack_loose(NULL, st, &po));
	udos_store_close(st);
}

/* Loose adds with fsync, each durable once it returns. */
static void op_add_loose(struct run *r)
{
	uint8_t *buf = malloc(400000);
	udos_store *st = NULL;

	assert_non_null(buf);
	if (failed(r, udos_store_open(&st, r->path, 0)) < 0)
		goto out;
	for (int i = 0; i < 12; i++) {
		object_bytes(buf, r->sizes[i], i);
		if (failed(r, udos_add_loose_buf(&r->oids[i], NULL, st, buf,
						 r->sizes[i], 0)) < 0)
			goto out;
		r->stored[i] = true;
	}
out:
	udos_store_close(st);
	free(buf);
}

/* The source of an import: <dir>/src next to the container <dir>/c. */
static void src_path(char *out, size_t cap, const struct run *r)
{
	snprintf(out, cap, "%.*s/src", (int)(strlen(r->path) - 2), r->path);
}

/* A source with the objects packed (zstd) but every fourth one loose; an
 * empty destination. */
static void prepare_import(struct run *r)
{
	udos_init_opts o = UDOS_INIT_OPTS_INIT;
	udos_writer *w = NULL;
	udos_store *st = NULL;
	uint8_t *buf = malloc(400000);
	char src[4096];

	assert_non_null(buf);
	init_store(r, "zlib:1");
	src_path(src, sizeof(src), r);
	o.compression = "zstd:3";
	o.pack_size_target = 256 * 1024;
	assert_ok(udos_store_init(src, &o));
	assert_ok(udos_store_open(&st, src, 0));
	assert_ok(udos_writer_open(&w, st, NULL));
	for (int i = 0; i < N_OBJ; i++) {
		object_bytes(buf, r->sizes[i], i);
		if (i % 4)
			assert_ok(udos_writer_add_buf(&r->oids[i], NULL, w,
						      buf, r->sizes[i]));
		else
			assert_ok(udos_add_loose_buf(&r->oids[i], NULL, st,
						     buf, r->sizes[i],
						     UDOS_ADD_NOSYNC));
	}
	assert_ok(udos_writer_commit(w));
	udos_writer_close(w);
	udos_store_close(st);
	free(buf);
}

/* COPIED comes once durable: from then on the object must read back. */
static int import_fn(void *ctx, int status, const udos_oid *src,
		     const udos_oid *dst)
{
	struct run *r = ctx;

	(void)dst;
	for (int i = 0; i < N_OBJ && status == UDOS_IMPORT_COPIED; i++)
		if (!udos_oid_cmp(&r->oids[i], src))
			r->stored[i] = true;
	return 0;
}

static void op_import(struct run *r)
{
	udos_import_opts io = UDOS_IMPORT_OPTS_INIT;
	udos_store *dst = NULL, *src = NULL;
	char path[4096];

	src_path(path, sizeof(path), r);
	io.flags = UDOS_IMPORT_ALL;
	io.on_object = import_fn;
	io.ctx = r;
	if (failed(r, udos_store_open(&dst, r->path, 0)) == 0 &&
	    failed(r, udos_store_open(&src, path, 0)) == 0)
		failed(r, udos_store_import(NULL, dst, src, NULL, 0, &io));
	udos_store_close(src);
	udos_store_close(dst);
}

static void test_import(void **state)
{
	(void)state;
	fault_loop("import", prepare_import, op_import);
}

static void test_writer(void **state)
{
	(void)state;
	fault_loop("writer", prepare_empty, op_writer);
}

static void test_pack_loose(void **state)
{
	(void)state;
	fault_loop("pack_loose", prepare_loose, op_pack_loose);
}

static void test_add_loose(void **state)
{
	(void)state;
	fault_loop("add_loose", prepare_empty, op_add_loose);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_pack_loose),
		cmocka_unit_test(test_add_loose),
		cmocka_unit_test(test_import),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
