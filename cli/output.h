/* cli/output.h - human and --json printers, and the stderr progress line. */
#ifndef UDOS_CLI_OUTPUT_H
#define UDOS_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Write s as a JSON string literal (quotes included). A byte that is not
 * part of valid UTF-8 (file names are bytes) is written as \udcXX, the
 * lone surrogate Python's surrogateescape maps it to: json.loads then
 * os.fsencode gives the bytes back; udos_manifest_parse decodes it. */
void json_str(FILE *f, const char *s);

/* "1.5 MiB", "512 B": into buf, returned. */
const char *human_size(char *buf, size_t len, uint64_t n);

/*
 * A one-line progress display on stderr. Enabled only when stderr is a tty
 * and not --quiet; redraws at most 10 times a second; progress_end() clears
 * the line so that what follows starts at column 0.
 */
struct progress {
	const char *label;
	const char *unit; /* "objects" or NULL for bytes */
	bool enabled;
	bool drawn;
	struct timespec last;
};

void progress_init(struct progress *p, const char *label, const char *unit,
		   bool quiet);
void progress_update(struct progress *p, uint64_t done, uint64_t total);
void progress_end(struct progress *p);
/* An udos_progress_fn calling progress_update on ctx. */
void progress_cb(void *ctx, uint64_t done, uint64_t total);

#endif
