/* tests/install/hello.c - a program built against an installed udos: it
 * creates a container, stores a file's content loose and in a pack, and
 * reads both back. Usage: hello CONTAINER FILE; prints the id and the
 * library's version. Built only with what the install provides (see
 * test_lib.py), so it must stay strict C11 using the public API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udos/udos.h>

#if !defined(UDOS_VERSION_NUMBER) || UDOS_VERSION_NUMBER < 100
#error "udos/version.h missing or wrong"
#endif

static int fail(const char *what, int rc)
{
	fprintf(stderr, "hello: %s: %s (%s)\n", what, udos_strerror(rc),
		udos_error_detail());
	return 1;
}

/* The whole file in a malloc'd buffer with at least one spare byte: the
 * loop ends on a read of 0 bytes into free room. */
static int slurp(char **out, size_t *len_out, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t cap = 0, len = 0, n;

	if (!f)
		return -1;
	do {
		if (len == cap) {
			char *bigger = realloc(data, cap = cap * 2 + 65536);

			if (!bigger) {
				free(data);
				fclose(f);
				return -1;
			}
			data = bigger;
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	*out = data;
	*len_out = len;
	return 0;
}

/* Read `oid` back and compare with the original bytes. */
static int check(udos_store *st, const udos_oid *oid, const char *data,
		 size_t len, int want_loc)
{
	udos_meta meta;
	void *back = NULL;
	size_t back_len = 0;
	int rc;

	rc = udos_object_stat(&meta, st, oid);
	if (rc < 0)
		return fail("stat", rc);
	if (meta.loc != want_loc || meta.size != len) {
		fprintf(stderr, "hello: stat says loc %d size %llu\n", meta.loc,
			(unsigned long long)meta.size);
		return 1;
	}
	rc = udos_object_read(&back, &back_len, st, oid, 0, UDOS_READ_VERIFY);
	if (rc < 0)
		return fail("read", rc);
	rc = back_len != len || memcmp(back, data, len) != 0;
	if (rc)
		fprintf(stderr, "hello: content read back differs\n");
	free(back);
	return rc;
}

int main(int argc, char **argv)
{
	udos_init_opts iopts = UDOS_INIT_OPTS_INIT;
	udos_store *st = NULL;
	udos_writer *w = NULL;
	udos_oid loose, packed;
	char hex[UDOS_OID_HEXSZ + 1];
	char *data = NULL;
	size_t len = 0;
	int rc, ret = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: hello CONTAINER FILE\n");
		return 2;
	}
	if (slurp(&data, &len, argv[2]) < 0) {
		perror(argv[2]);
		return 1;
	}
	rc = udos_store_init(argv[1], &iopts);
	if (rc < 0) {
		ret = fail("init", rc);
		goto done;
	}
	rc = udos_store_open(&st, argv[1], 0);
	if (rc < 0) {
		ret = fail("open", rc);
		goto done;
	}
	rc = udos_add_loose_buf(&loose, NULL, st, data, len, 0);
	if (rc < 0) {
		ret = fail("add loose", rc);
		goto done;
	}
	if (check(st, &loose, data, len, UDOS_LOC_LOOSE))
		goto done;
	/* the same bytes with one more: a second object, into a pack */
	data[len] = '\n';
	rc = udos_writer_open(&w, st, NULL);
	if (rc < 0) {
		ret = fail("writer open", rc);
		goto done;
	}
	rc = udos_writer_add_buf(&packed, NULL, w, data, len + 1);
	if (rc < 0) {
		ret = fail("writer add", rc);
		goto done;
	}
	rc = udos_writer_commit(w);
	if (rc < 0) {
		ret = fail("commit", rc);
		goto done;
	}
	if (check(st, &packed, data, len + 1, UDOS_LOC_PACKED))
		goto done;
	printf("%s %s\n", udos_oid_fmt(hex, &loose), udos_version());
	ret = 0;
done:
	udos_writer_close(w);
	udos_store_close(st);
	free(data);
	return ret;
}
