/* scale.c - ingest rate at scale: N tiny objects (default 10 million)
 * through udos_writer_add_buf, printing the rate of every 100k slice, and
 * whether the last slice keeps >= 80% of the first one's rate. Each slice
 * also gets its rate per CPU second of the whole process (RocksDB's
 * background threads included), which a machine shared with other work
 * disturbs far less than the wall-clock rate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "udos/udos.h"

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	udos_init_opts io = UDOS_INIT_OPTS_INIT;
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	unsigned long long n = argc > 2 ? strtoull(argv[2], NULL, 0) : 10000000;
	const unsigned long long slice = 100000;
	double t0, ts, first = 0, last = 0, worst = 1e18;
	double c0, cs, cfirst = 0, clast = 0;
	udos_writer *w = NULL;
	udos_store *st = NULL;
	char buf[128];
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: scale STORE [N]\n");
		return 2;
	}
	io.compression = "none";
	if (udos_store_init(argv[1], &io) < 0 ||
	    udos_store_open(&st, argv[1], 0) < 0) {
		fprintf(stderr, "scale: %s\n", udos_error_detail());
		return 3;
	}
	wo.compress = UDOS_COMPRESS_NO;
	wo.no_sync = getenv("SCALE_SYNC") == NULL;
	if (udos_writer_open(&w, st, &wo) < 0) {
		fprintf(stderr, "scale: %s\n", udos_error_detail());
		return 3;
	}
	t0 = ts = now_s();
	c0 = cs = cpu_s();
	printf("slice_end objects_per_s objects_per_cpu_s\n");
	for (unsigned long long i = 0; i < n; i++) {
		udos_oid oid;
		int len = snprintf(buf, sizeof(buf), "tiny object %llu\n", i);

		rc = udos_writer_add_buf(&oid, NULL, w, buf, (size_t)len);
		if (rc < 0) {
			fprintf(stderr, "scale: %s\n", udos_error_detail());
			return 3;
		}
		if ((i + 1) % slice == 0) {
			double t = now_s(), rate = slice / (t - ts);
			double c = cpu_s(), crate = slice / (c - cs);

			if (!first)
				first = rate;
			last = rate;
			if (rate < worst)
				worst = rate;
			if (!cfirst)
				cfirst = crate;
			clast = crate;
			printf("%llu %.0f %.0f\n", i + 1, rate, crate);
			fflush(stdout);
			ts = t;
			cs = c;
		}
	}
	rc = udos_writer_commit(w);
	udos_writer_close(w);
	udos_store_close(st);
	printf("total %.1f s, %.0f objects/s; first slice %.0f/s, last %.0f/s "
	       "(%.0f%%), worst %.0f/s; per CPU second: first %.0f, last %.0f "
	       "(%.0f%%), %.1f CPU s in all\n",
	       now_s() - t0, n / (now_s() - t0), first, last,
	       first ? 100.0 * last / first : 0, worst, cfirst, clast,
	       cfirst ? 100.0 * clast / cfirst : 0, cpu_s() - c0);
	return rc < 0 ? 3 : 0;
}
