/* cli/dosio.h - what `udos import-dos` and `udos export-dos` share: the
 * problem lines, the progress line and the summary. */
#ifndef UDOS_CLI_DOSIO_H
#define UDOS_CLI_DOSIO_H

#include <stdbool.h>

#include "cmd.h"
#include "output.h"

struct dosio {
	struct cli *cli;
	struct progress prog;
	struct timespec t0;
};

/* Start the clock and the progress line ("importing", "exporting"). */
void dosio_init(struct dosio *d, struct cli *cli, const char *label);

/* udos_dos_problem_fn: `udos <cmd>: <cause> '<subject>'` on stderr. */
void dosio_problem(void *ctx, const char *subject, const char *cause);

/* udos_progress_fn on d->prog */
void dosio_progress(void *ctx, const udos_progress *p);

/*
 * End the progress line and print the summary: with json one object on
 * stdout ({objects, copied, skipped, damaged, bytes, bytes_stored,
 * seconds}), else one line on stderr unless -q. Returns the exit status:
 * 0, or 1 when objects were damaged.
 */
int dosio_summary(struct dosio *d, const udos_dos_result *r, bool json);

#endif
