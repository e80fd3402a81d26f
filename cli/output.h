/* cli/output.h - human and --json printers, and the stderr progress line. */
#ifndef UDOS_CLI_OUTPUT_H
#define UDOS_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "udos/maint.h"

/* Write s as a JSON string literal (quotes included). A byte that is not
 * part of valid UTF-8 (file names are bytes) is written as \udcXX, the
 * lone surrogate Python's surrogateescape maps it to: json.loads then
 * os.fsencode gives the bytes back; udos_manifest_parse decodes it. */
void json_str(FILE *f, const char *s);

/* "1.5 MiB", "512 B": into buf, returned. */
const char *human_size(char *buf, size_t len, uint64_t n);

/*
 * A one-line progress display on stderr: done/total of the operation's
 * counted things (files, objects) and of its bytes, the percentage, the
 * rate (smoothed over the last seconds) and the time left. Enabled only
 * when stderr is a tty and not --quiet; redraws at most 10 times a second;
 * progress_end() clears the line so that what follows starts at column 0
 * (the next update draws it again).
 */
struct progress {
	const char *label;
	const char *unit; /* counted things ("objects") or NULL: bytes only */
	bool enabled;
	bool drawn;
	struct timespec t0, last;
	/* smoothed rate of the measure the ETA uses */
	double rate, rate_at;
	uint64_t rate_done;
};

/* One snapshot. A total of 0 is unknown; `growing`: the totals are still
 * being found (shown with a '+'). */
struct progress_counts {
	uint64_t done, total;             /* in p->unit */
	uint64_t bytes_done, bytes_total; /* 0/0: not counted */
	uint64_t failed;
	bool growing;
};

void progress_init(struct progress *p, const char *label, const char *unit,
		   bool quiet);
void progress_show(struct progress *p, const struct progress_counts *c);
void progress_end(struct progress *p);
/* An udos_progress_fn showing on ctx, a struct progress. */
void progress_cb(void *ctx, const udos_progress *p);

#endif
