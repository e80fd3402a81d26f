/* cli/transfer.h - what `udos import` and `udos export` share: the ids to
 * copy, the copy itself (udos_store_import) and its output. */
#ifndef UDOS_CLI_TRANSFER_H
#define UDOS_CLI_TRANSFER_H

#include <stdbool.h>

#include "cmd.h"

struct transfer_args {
	const char *compress;   /* keep|no|yes|auto */
	const char *files_from; /* FILE or "-", or NULL */
	bool json;
	const char *wait;       /* import's --wait */
};

/* The option specs both commands take (fields of struct transfer_args). */
#define TRANSFER_OPTS                                                        \
	{ 0, "compress", OPT_STR, offsetof(struct transfer_args, compress),  \
	  NULL, "keep|no|yes|auto",                                          \
	  "compression of the copies (default: keep the stored bytes)" },    \
	{ 0, "files-from", OPT_STR,                                          \
	  offsetof(struct transfer_args, files_from), "FILE|-", NULL,        \
	  "also copy the ids listed in FILE, one a line (- is stdin)" },     \
	{ 0, "json", OPT_BOOL, offsetof(struct transfer_args, json), NULL,   \
	  NULL, "one JSON object per id on stdout" }

/*
 * Copy from src into dst the ids ids[0..n) and those of a->files_from (in
 * src's hash), or every object of src when there are none. Prints one line
 * per object copied (`<hash>`, or `<src hash> <new hash>` between hash
 * types), a summary on stderr unless -q, progress on a terminal. Returns
 * the exit status: 0, 1 (some ids missing or damaged in src), 2 (a
 * malformed id: nothing copied), 3 (store error).
 */
int transfer_run(struct cli *cli, udos_store *dst, udos_store *src,
		 char **ids, int n, const struct transfer_args *a);

#endif
