/* core/backup_int.h - what backup.c (the run: loose objects, index, order
 * of the steps) and backup_pack.c (the packs) share. Internal to core/. */
#ifndef UDOS_BACKUP_INT_H
#define UDOS_BACKUP_INT_H

#include "internal.h"
#include "remote_manifest.h"
#include "udos/backup.h"

#define UDOS__BK_CHUNK (1u << 20)
#define UDOS__BK_TMP "backup-" /* prefix of its files in sandbox/ */

struct udos__bk {
	udos_store *st;
	const char *dest;
	int dfd;
	udos_backup_result *res;
	udos_progress_fn progress;
	void *ctx;
	udos_progress prog; /* files: packs/N, packs/N.rec, loose objects */
	uint8_t *buf;
	udos__hash *sha;
	udos__bk_state old;     /* what the last finished backup synced */
	udos__bk_state now;     /* what this one has */
	udos__bk_state swapped; /* packs copied whole into sandbox/ */
	bool have_index;        /* the copy has an index readers may use */
	char (*loose)[128];     /* loose paths of the sandbox/ copies */
	size_t n_loose;
	unsigned flags;         /* enum udos_backup_flags */
	udos__manifest man;     /* the container's remote.manifest */
	udos__bk_state keep;    /* packs whose data the copy holds though
				   they are evicted here */
};

/* the one-line detail for a failure on `rel` of the copy */
static inline int udos__bk_fail(struct udos__bk *b, int rc, const char *what,
				const char *rel)
{
	return udos__err(rc, "cannot %s '%s/%s': %s", what, b->dest, rel,
			 udos_strerror(rc));
}

/* bytes [from, to) of `in` to the same place in `out`, counted as progress */
int udos__bk_copy_range(struct udos__bk *b, int in, int out, uint64_t from,
			uint64_t to);
/* sandbox/ names of a pack copied whole, put in place after the index */
void udos__bk_tmp_names(char *data, char *rec, size_t cap, uint32_t id);
/* every committed pack of the container into the copy (b->now, b->swapped
 * and b->keep say what was done) */
int udos__bk_packs(struct udos__bk *b);

#endif
