/* ingest_run.c - benchmark driver: ingest paths into a container through
 * udos_ingest_paths and print one summary line (public API only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "udos/ingest.h"
#include "udos/udos.h"

static void warn(void *ctx, int kind, int code, const char *path,
		 const char *msg)
{
	(void)ctx, (void)kind, (void)code;
	fprintf(stderr, "ingest_run: %s '%s'\n", msg, path ? path : "");
}

static void on_file(void *ctx, const udos_ingest_file *f)
{
	(void)ctx;
	if (f->error)
		fprintf(stderr, "ingest_run: error %d: %s\n", f->error,
			f->detail);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: ingest_run [--init SPEC] [--to pack|loose] "
		"[--io auto|uring|threads]\n"
		"       [--compress auto|yes|no] [--no-sync] "
		"[--max-inflight BYTES]\n"
		"       [--workers N] [--queue-depth N] STORE PATH...\n");
	return 2;
}

int main(int argc, char **argv)
{
	udos_ingest_opts o = UDOS_INGEST_OPTS_INIT;
	udos_ingest_summary s;
	const char *init = NULL;
	udos_store *st = NULL;
	struct rusage ru;
	int i, rc;

	o.on_warning = warn;
	o.on_file = on_file;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";

		if (!strcmp(a, "--no-sync")) {
			o.no_sync = true;
			continue;
		}
		i++;
		if (!strcmp(a, "--init"))
			init = v;
		else if (!strcmp(a, "--to"))
			o.target = !strcmp(v, "loose") ? UDOS_INGEST_TO_LOOSE
						       : UDOS_INGEST_TO_PACK;
		else if (!strcmp(a, "--io"))
			o.io = !strcmp(v, "uring")     ? UDOS_INGEST_IO_URING
			       : !strcmp(v, "threads") ? UDOS_INGEST_IO_THREADS
						       : UDOS_INGEST_IO_AUTO;
		else if (!strcmp(a, "--compress"))
			o.compress = !strcmp(v, "no")    ? UDOS_COMPRESS_NO
				     : !strcmp(v, "yes") ? UDOS_COMPRESS_YES
							 : UDOS_COMPRESS_AUTO;
		else if (!strcmp(a, "--workers"))
			o.workers = (unsigned)atoi(v);
		else if (!strcmp(a, "--queue-depth"))
			o.queue_depth = (unsigned)atoi(v);
		else if (!strcmp(a, "--max-inflight"))
			udos_size_parse(&o.max_inflight, v);
		else
			return usage();
	}
	if (argc - i < 2)
		return usage();
	if (init) {
		udos_init_opts io = UDOS_INIT_OPTS_INIT;

		io.compression = init;
		rc = udos_store_init(argv[i], &io);
		if (rc < 0 && rc != UDOS_EEXIST) {
			fprintf(stderr, "ingest_run: init: %s\n",
				udos_error_detail());
			return 3;
		}
	}
	rc = udos_store_open(&st, argv[i], 0);
	if (rc < 0) {
		fprintf(stderr, "ingest_run: open: %s\n", udos_error_detail());
		return 3;
	}
	rc = udos_ingest_paths(&s, st, (const char *const *)argv + i + 1,
			       (size_t)(argc - i - 1), &o);
	udos_store_close(st);
	getrusage(RUSAGE_SELF, &ru);
	printf("files=%llu new=%llu dedup=%llu errors=%llu bytes_in=%llu "
	       "bytes_stored=%llu seconds=%.3f io=%s files_per_s=%.0f "
	       "mb_per_s=%.1f maxrss_kib=%ld\n",
	       (unsigned long long)s.files, (unsigned long long)s.new_objects,
	       (unsigned long long)s.dedup_hits, (unsigned long long)s.errors,
	       (unsigned long long)s.bytes_in,
	       (unsigned long long)s.bytes_stored, s.seconds,
	       s.io == UDOS_INGEST_IO_URING ? "uring" : "threads",
	       s.seconds > 0 ? s.files / s.seconds : 0,
	       s.seconds > 0 ? s.bytes_in / s.seconds / 1e6 : 0,
	       ru.ru_maxrss);
	if (rc < 0) {
		fprintf(stderr, "ingest_run: %s\n", udos_error_detail());
		return 3;
	}
	return 0;
}
