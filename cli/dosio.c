/* cli/dosio.c - problem lines, progress and summary of the dos copies. */
#include "dosio.h"

#include <stdio.h>

void dosio_init(struct dosio *d, struct cli *cli, const char *label)
{
	d->cli = cli;
	progress_init(&d->prog, label, "objects", cli->quiet);
	clock_gettime(CLOCK_MONOTONIC, &d->t0);
}

void dosio_problem(void *ctx, const char *subject, const char *cause)
{
	struct dosio *d = ctx;

	progress_end(&d->prog);
	cli_msg(d->cli, cause, subject);
}

void dosio_progress(void *ctx, const udos_progress *p)
{
	progress_cb(&((struct dosio *)ctx)->prog, p);
}

int dosio_summary(struct dosio *d, const udos_dos_result *r, bool json)
{
	struct timespec t1;
	double secs;
	char a[32], b[32];

	progress_end(&d->prog);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - d->t0.tv_sec) +
	       (double)(t1.tv_nsec - d->t0.tv_nsec) / 1e9;
	if (json) {
		printf("{\"objects\":%llu,\"copied\":%llu,\"skipped\":%llu,"
		       "\"damaged\":%llu,\"bytes\":%llu,\"bytes_stored\":%llu,"
		       "\"seconds\":%.3f}\n",
		       (unsigned long long)r->objects,
		       (unsigned long long)r->copied,
		       (unsigned long long)r->skipped,
		       (unsigned long long)r->damaged,
		       (unsigned long long)r->bytes,
		       (unsigned long long)r->bytes_stored, secs);
	} else if (!d->cli->quiet) {
		fprintf(stderr, "udos %s: %llu objects, %llu copied (%s, %s "
			"stored), %llu already there, %llu damaged, %.2f s, "
			"%.0f objects/s\n", d->cli->cmd->name,
			(unsigned long long)r->objects,
			(unsigned long long)r->copied,
			human_size(a, sizeof(a), r->bytes),
			human_size(b, sizeof(b), r->bytes_stored),
			(unsigned long long)r->skipped,
			(unsigned long long)r->damaged, secs,
			secs > 0 ? (double)r->objects / secs : 0.0);
	}
	return r->damaged ? EXIT_NO : EXIT_OK;
}
