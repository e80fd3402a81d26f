/* core/dos_int.h - what dos_import.c and dos_export.c share: a
 * disk-objectstore container's config.json and its SQLite index. */
#ifndef UDOS_DOS_INT_H
#define UDOS_DOS_INT_H

#include "internal.h"

#include <sqlite3.h>

#include "udos/dos.h"

/* config.json of a disk-objectstore container (1.x writes these keys) */
typedef struct udos__dos_config {
	int container_version;     /* 1 */
	int hash_type;             /* enum udos_hash_type */
	int loose_prefix_len;
	uint64_t pack_size_target;
	char container_id[64];     /* 32 hex digits */
	char compression[64];      /* "zlib+N" */
} udos__dos_config;

/* Read `path`/config.json (dirfd open on path). UDOS_ENOTSTORE with a
 * detail naming path and cause when it is missing or not such a config. */
int udos__dos_config_read(udos__dos_config *out, int dirfd, const char *path);

/* Write config.json as disk-objectstore writes it (json.dump of its keys,
 * in its order): temp file, fsync, rename, fsync of the folder. */
int udos__dos_config_write(int dirfd, const char *path,
			   const udos__dos_config *c);

/* packs.idx: the table disk-objectstore 1.x creates, and its index */
#define UDOS__DOS_INDEX "packs.idx"

/* Map an SQLite failure to a udos code, with a detail naming what was
 * done and the file: full disk -ENOSPC, damage UDOS_ECORRUPT, a file that
 * cannot be opened -errno when known, the rest UDOS_EINDEX. */
int udos__dos_sqlerr(sqlite3 *db, int src, const char *what,
		     const char *path);

#endif
