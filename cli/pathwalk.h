/* cli/pathwalk.h - where `add` gets its files: named paths, recursive walk,
 * --files-from lists. Kept apart from the store-writing step so that another
 * ingest engine can consume the same sources. */
#ifndef UDOS_CLI_PATHWALK_H
#define UDOS_CLI_PATHWALK_H

#include <stdbool.h>
#include <stdint.h>

struct cli;

/*
 * Called once per regular file, in a stable order (directory entries sorted
 * bytewise). `walked` is true for files found inside a directory (open them
 * with O_NOFOLLOW: they were regular files, not symlinks, when listed).
 * A non-zero return stops everything and is passed up.
 */
typedef int (*pathwalk_fn)(void *ctx, const char *path, bool walked);

struct pathwalk {
	const struct cli *cli; /* for messages */
	bool recursive;
	pathwalk_fn fn;
	void *ctx;
	uint64_t errors;  /* paths reported missing/unreadable/unusable */
	uint64_t skipped; /* symlinks and special files skipped in a walk */
};

/* One named path: a file (symlinks followed, like sha256sum), or with
 * recursive a directory. Problems are reported on stderr and counted. */
int pathwalk_one(struct pathwalk *w, const char *path);

/* Each path in `file` ("-" is stdin), separated by '\n' or, with nul, by
 * '\0'. Empty entries are ignored. Returns 0, fn's stop value, or
 * -errno if the list itself cannot be read (reported). */
int pathwalk_list(struct pathwalk *w, const char *file, bool nul);

#endif
