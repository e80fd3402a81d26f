/* cli/idlist.h - ids from the command line and from --files-from. */
#ifndef UDOS_CLI_IDLIST_H
#define UDOS_CLI_IDLIST_H

#include <stddef.h>

#include "cmd.h"

struct idlist {
	udos_oid *v;
	size_t n, cap;
	size_t dsz; /* digest size of the container the ids name */
	/* when set, an id shorter than 2 * dsz digits is a prefix of one
	 * (udos_object_resolve) of this container's objects */
	udos_store *resolve_in;
	size_t missing; /* prefixes that matched nothing (said, skipped) */
};

/* Parse and append one id (s[0..len)); EXIT_USAGE ("malformed hash", a
 * prefix too short or ambiguous) or EXIT_STORE (out of memory, store
 * error) after printing why, else 0. A prefix matching nothing is said
 * ("not found"), counted in l->missing and skipped. */
int idlist_push(struct cli *cli, struct idlist *l, const char *s, size_t len);
/* Append the ids of FILE ("-": stdin), one a line, blank lines skipped. */
int idlist_read(struct cli *cli, struct idlist *l, const char *file);

#endif
