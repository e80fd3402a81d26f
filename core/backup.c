/* backup.c - an incremental, consistent copy of a container into a folder.
 *
 * Packs are append-only under one id, so a pack already in the copy needs
 * only its new tail; loose objects are immutable files named by their id.
 * The writer lock, held throughout, keeps packs and index still; the index
 * is a RocksDB checkpoint switched in once the rest is synced.
 *
 * Nothing of the copy is trusted that a backup did not see synced: the
 * folder's backup.state (backup_state.c) says how far each pack was synced
 * by the last backup that finished, and whether every loose file was;
 * anything past it is checked against the source before it is kept. A
 * pack region the copy's current index may point into is never rewritten
 * before the new index is in place (docs/FORMAT.md, "Backup folders").
 * The packs' part, evicted packs included, is backup_pack.c. */
#include "backup_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* loose copies waiting in sandbox/ to be synced, then named */
#define LOOSE_BATCH 1024

/* The loose bytes loose_cb will read (copy or check), for the total. */
static int loose_size_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct udos__bk *b = ctx;
	struct stat sb;

	if (oid && !(b->old.synced &&
		     faccessat(b->dfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0) &&
	    fstatat(b->st->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		b->prog.total++;
		b->prog.bytes_total += (uint64_t)sb.st_size;
	}
	return 0;
}

/* Put the sandbox/ copies in place, synced first: a loose file of the copy
 * is whole, so a later backup takes one it finds as it is. */
static int loose_flush(struct udos__bk *b)
{
	if (!b->n_loose)
		return 0;
	if (syncfs(b->dfd) < 0)
		return udos__bk_fail(b, -errno, "sync", ".");
	for (size_t i = 0; i < b->n_loose; i++) {
		char tmp[64], dir[128];
		int rc;

		snprintf(tmp, sizeof(tmp), "sandbox/" UDOS__BK_TMP "loose-%zu",
			 i);
		snprintf(dir, sizeof(dir), "%s", b->loose[i]);
		*strrchr(dir, '/') = '\0';
		rc = udos__mkdir_p(b->dfd, dir, 0755);
		if (rc == 0 && renameat(b->dfd, tmp, b->dfd, b->loose[i]) < 0)
			rc = -errno;
		if (rc < 0)
			return udos__bk_fail(b, rc, "write", b->loose[i]);
	}
	b->n_loose = 0;
	return 0;
}

/* 1 when the copy's loose file holds the object, 0 when not */
static int loose_good(struct udos__bk *b, const char *rel, const udos_oid *oid)
{
	uint64_t size = 0;
	udos_oid got;
	int fd, rc;

	fd = openat(b->dfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	rc = udos__hash_fd(&got, &size, b->sha, fd, b->buf, UDOS__BK_CHUNK);
	close(fd);
	if (rc < 0)
		return udos__bk_fail(b, rc, "read", rel);
	b->res->verified_bytes += size;
	b->prog.bytes_done += size;
	return !udos_oid_cmp(&got, oid);
}

static int loose_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct udos__bk *b = ctx;
	char tmp[64];
	struct stat sb;
	int in, out = -1, rc;
	bool there;

	if (!oid)
		return 0;
	there = faccessat(b->dfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (there && b->old.synced)
		return 0;
	b->prog.done++; /* counted in the total by loose_size_cb */
	if (there) {
		rc = loose_good(b, rel, oid);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	in = udos__loose_open(b->st, oid);
	if (in < 0) /* UDOS_ENOTFOUND: packed and cleaned meanwhile */
		return in == UDOS_ENOTFOUND ? 0 : in;
	snprintf(tmp, sizeof(tmp), "sandbox/" UDOS__BK_TMP "loose-%zu",
		 b->n_loose);
	out = openat(b->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		     0644);
	if (out < 0 || fstat(in, &sb) < 0) {
		rc = udos__bk_fail(b, -errno, "write", tmp);
		goto done;
	}
	rc = udos__bk_copy_range(b, in, out, 0, (uint64_t)sb.st_size);
	if (rc < 0) {
		rc = udos__bk_fail(b, rc, "copy into", tmp);
		goto done;
	}
	snprintf(b->loose[b->n_loose++], sizeof(b->loose[0]), "%s", rel);
	b->res->loose_copied++;
	b->res->loose_bytes += (uint64_t)sb.st_size;
	if (b->n_loose == LOOSE_BATCH)
		rc = loose_flush(b);
done:
	close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* An empty folder, or one with config.json and no backup.state (made by a
 * udos before backup.state), is marked as this container's backup before
 * anything is written into it; one with anything else is refused. */
static int check_dest(struct udos__bk *b)
{
	udos_store *d = NULL;
	udos_store_info info;
	int rc;

	rc = udos__bk_state_read(&b->old, b->dfd, b->dest);
	if (rc == 0) {
		if (strcmp(b->old.container_id, b->st->info.container_id))
			return udos__err(UDOS_EEXIST, "'%s' holds a backup of "
					 "another container (%s)", b->dest,
					 b->old.container_id);
		return 0;
	}
	if (rc != UDOS_ENOTFOUND)
		return rc;
	if (faccessat(b->dfd, "config.json", F_OK, 0) < 0) {
		DIR *dir = fdopendir(dup(b->dfd));
		struct dirent *de;
		bool empty = true;

		if (!dir)
			return udos__err(-errno, "cannot list '%s'", b->dest);
		while ((de = readdir(dir)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = false;
		closedir(dir);
		if (!empty)
			return udos__err(UDOS_EEXIST, "'%s' is not empty and "
					 "holds no udos container", b->dest);
	} else {
		rc = udos_store_open(&d, b->dest, 0);
		if (rc < 0)
			return rc;
		udos_store_info_get(&info, d);
		udos_store_close(d);
		if (strcmp(info.container_id, b->st->info.container_id))
			return udos__err(UDOS_EEXIST, "'%s' holds another "
					 "container (%s)", b->dest,
					 info.container_id);
	}
	return udos__bk_state_write(b->dfd, b->dest, &b->now); /* "started" */
}

/* sandbox/ files and index folders an interrupted backup left */
static void clean_leftovers(struct udos__bk *b)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	udos__index_recover(b->dfd);
	b->have_index = faccessat(b->dfd, "index", F_OK, 0) == 0;
	if (b->have_index)
		udos__rm_tree(b->dfd, "index.old");
	udos__rm_tree(b->dfd, "index.new");
	fd = openat(b->dfd, "sandbox", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)))
		if (!strncmp(de->d_name, UDOS__BK_TMP, strlen(UDOS__BK_TMP)))
			unlinkat(dirfd(dir), de->d_name, 0);
	closedir(dir);
}

/*
 * Switch the copy's index to the checkpoint in index.new. Where
 * RENAME_EXCHANGE is missing (NFS, CIFS, most FUSE file systems): index to
 * index.old, then index.new to index; cut between the two, opening the
 * copy renames index.old back (udos__index_recover).
 */
static int switch_index(struct udos__bk *b)
{
	int rc = 0;

	if (renameat2(b->dfd, "index.new", b->dfd, "index", RENAME_EXCHANGE) ==
	    0) {
		udos__rm_tree(b->dfd, "index.new"); /* now the previous index */
		return udos__fsync_dir(b->dfd, ".");
	}
	if (errno != ENOENT && errno != EINVAL && errno != ENOSYS &&
	    errno != EOPNOTSUPP)
		return udos__bk_fail(b, -errno, "switch", "index");
	if (renameat(b->dfd, "index", b->dfd, "index.old") < 0) {
		if (errno != ENOENT)
			return udos__bk_fail(b, -errno, "move aside", "index");
	} else {
		rc = udos__fsync_dir(b->dfd, ".");
	}
	if (rc == 0 && renameat(b->dfd, "index.new", b->dfd, "index") < 0)
		rc = -errno;
	if (rc == 0)
		rc = udos__fsync_dir(b->dfd, ".");
	if (rc < 0)
		return udos__bk_fail(b, rc, "switch", "index");
	udos__rm_tree(b->dfd, "index.old");
	return 0;
}

/* the packs copied whole, in place now that the index is the new one */
static int swap_packs(struct udos__bk *b)
{
	int rc = 0;

	for (size_t i = 0; i < b->swapped.n && rc == 0; i++) {
		const udos__bk_pack *p = &b->swapped.packs[i];
		char tmp[64], rtmp[64], rel[64], rrel[64];

		udos__bk_tmp_names(tmp, rtmp, sizeof(tmp), p->id);
		udos__pack_relpath(rel, sizeof(rel), p->id);
		udos__recs_relpath(rrel, sizeof(rrel), p->id);
		if (!p->data_end) {
			/* an evicted pack's record file alone (in b->now) */
			if (renameat(b->dfd, rtmp, b->dfd, rrel) < 0)
				rc = udos__bk_fail(b, -errno, "write", rrel);
			b->res->packs++;
			continue;
		}
		if (renameat(b->dfd, tmp, b->dfd, rel) < 0 ||
		    renameat(b->dfd, rtmp, b->dfd, rrel) < 0)
			rc = udos__bk_fail(b, -errno, "write", rel);
		if (rc == 0)
			rc = udos__bk_state_add(&b->now, p->id, p->data_end,
						p->rec_end);
		b->res->packs += 2;
	}
	if (rc == 0 && b->swapped.n)
		rc = udos__fsync_dir(b->dfd, "packs");
	if (rc == 0 && b->swapped.n)
		rc = udos__bk_state_write(b->dfd, b->dest, &b->now);
	return rc;
}

/* packs/N of a pack evicted here whose data the copy keeps */
static bool is_kept_data(struct udos__bk *b, const char *rel)
{
	char *end;
	unsigned long id;

	if (strncmp(rel, "packs/", 6) || rel[6] < '0' || rel[6] > '9')
		return false;
	id = strtoul(rel + 6, &end, 10);
	return !*end && id <= UINT32_MAX &&
	       udos__bk_state_find(&b->keep, (uint32_t)id) != NULL;
}

/* remove from the copy what the source no longer has */
static int prune_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct udos__bk *b = ctx;

	(void)oid;
	if (!oid && is_kept_data(b, rel))
		return 0;
	if (faccessat(b->st->dirfd, rel, F_OK, 0) < 0 && errno == ENOENT &&
	    unlinkat(b->dfd, rel, 0) == 0)
		b->res->removed++;
	return 0;
}

static int prune(struct udos__bk *b)
{
	udos_store *d = NULL;
	struct dirent *de;
	DIR *dir;
	int fd, rc;

	fd = openat(b->dfd, "packs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir)
		return udos__bk_fail(b, -errno, "list", "packs");
	while ((de = readdir(dir))) {
		char rel[300];

		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "packs/%s", de->d_name);
		prune_cb(b, rel, NULL);
	}
	closedir(dir);
	/* the copy is a container now: walk its loose objects */
	rc = udos_store_open(&d, b->dest, 0);
	if (rc == 0) {
		rc = udos__loose_walk(d, prune_cb, b);
		udos_store_close(d);
	}
	return rc;
}

/*
 * The order is what makes a cut anywhere safe: backup.state marks the
 * folder first; the index checkpoint is taken before packs and loose files
 * are copied (they then hold at least what it points at); one syncfs, then
 * backup.state says what is synced, then the index is switched; only then
 * are packs copied whole put in place and what the source dropped removed.
 */
static int run(struct udos__bk *b)
{
	char p[4096];
	int rc;

	rc = check_dest(b);
	if (rc < 0)
		return rc;
	clean_leftovers(b);
	rc = udos__mkdir_p(b->dfd, "packs", 0755);
	if (rc == 0)
		rc = udos__mkdir_p(b->dfd, "loose", 0755);
	if (rc == 0)
		rc = udos__mkdir_p(b->dfd, "sandbox", 0755);
	if (rc < 0)
		return udos__bk_fail(b, rc, "write", ".");
	/* before any pack: the copy reads evicted packs through them */
	rc = udos__remote_backup_files(&b->man, b->st, b->dfd, b->dest);
	if (rc < 0)
		return rc;
	snprintf(p, sizeof(p), "%s/index.new", b->dest);
	pthread_rwlock_rdlock(&b->st->ixlock);
	rc = udos__index_checkpoint(b->st->ix, p);
	pthread_rwlock_unlock(&b->st->ixlock);
	/* the loose part of the progress total first: the packs' part is
	 * added as they are listed */
	if (rc == 0 && b->progress)
		rc = udos__loose_walk(b->st, loose_size_cb, b);
	if (rc == 0)
		rc = udos__bk_packs(b);
	if (rc == 0)
		rc = udos__loose_walk(b->st, loose_cb, b);
	if (rc == 0)
		rc = loose_flush(b);
	if (rc == 0 && syncfs(b->dfd) < 0)
		rc = udos__bk_fail(b, -errno, "sync", ".");
	b->now.synced = true;
	if (rc == 0)
		rc = udos__bk_state_write(b->dfd, b->dest, &b->now);
	if (rc == 0)
		rc = switch_index(b);
	if (rc == 0)
		rc = swap_packs(b);
	if (rc == 0) /* last: from here on the folder is a container */
		rc = udos__config_write(b->dfd, &b->st->info);
	if (rc == 0)
		rc = prune(b);
	if (rc < 0) /* the old index stands (or comes back from index.old):
		       the checkpoint only takes space, which may be short */
		udos__rm_tree(b->dfd, "index.new");
	return rc;
}

/* DEST is the container or inside it, or the container is inside DEST */
static int check_nesting(udos_store *st, const char *dest)
{
	char parent[4096];
	bool exists = true;
	int fd, rc = 0;

	fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) { /* where it is to be made */
		snprintf(parent, sizeof(parent), "%s", dest);
		fd = open(dirname(parent), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		exists = false;
	}
	if (fd < 0)
		return 0; /* the mkdir or open that follows says why */
	if (udos__dir_within(fd, st->dirfd) == 1)
		rc = udos__err(-EINVAL, "cannot back up '%s' into '%s': it is "
			       "the container or a folder inside it", st->path,
			       dest);
	else if (exists && udos__dir_within(st->dirfd, fd) == 1)
		rc = udos__err(-EINVAL, "cannot back up '%s' into '%s': the "
			       "container is inside it", st->path, dest);
	close(fd);
	return rc;
}

int udos_store_backup(udos_backup_result *out, udos_store *st,
		      const char *dest, udos_progress_fn progress, void *ctx)
{
	return udos_store_backup_ex(out, st, dest, 0, progress, ctx);
}

int udos_store_backup_ex(udos_backup_result *out, udos_store *st,
			 const char *dest, unsigned flags,
			 udos_progress_fn progress, void *ctx)
{
	udos_backup_result local;
	struct udos__bk b = { 0 };
	bool had_lock;
	int rc;

	UDOS_ASSERT_ARG(st && dest);
	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	b.st = st;
	b.dest = dest;
	b.dfd = -1;
	b.res = out;
	b.progress = progress;
	b.ctx = ctx;
	b.flags = flags;
	snprintf(b.now.container_id, sizeof(b.now.container_id), "%s",
		 st->info.container_id);
	rc = check_nesting(st, dest);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&st->mu);
	had_lock = st->lockfd >= 0;
	pthread_mutex_unlock(&st->mu);
	rc = udos_store_lock_writer(st);
	if (rc < 0)
		return rc;
	if (mkdir(dest, 0755) < 0 && errno != EEXIST) {
		rc = udos__err(-errno, "cannot create '%s': %s", dest,
			       udos_strerror(-errno));
		goto out;
	}
	b.dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b.dfd < 0) {
		rc = udos__err(-errno, "cannot open '%s': %s", dest,
			       udos_strerror(-errno));
		goto out;
	}
	b.buf = udos__alloc(UDOS__BK_CHUNK);
	b.loose = udos__calloc(LOOSE_BATCH, sizeof(*b.loose));
	rc = udos__hash_new(&b.sha, st->hash_type);
	if (rc == 0 && (!b.buf || !b.loose))
		rc = udos__err(-ENOMEM, "out of memory");
	if (rc == 0)
		rc = run(&b);
out:
	if (b.dfd >= 0)
		close(b.dfd);
	free(b.buf);
	free(b.loose);
	udos__hash_free(b.sha);
	udos__bk_state_release(&b.old);
	udos__bk_state_release(&b.now);
	udos__bk_state_release(&b.swapped);
	udos__bk_state_release(&b.keep);
	udos__manifest_release(&b.man);
	if (!had_lock) {
		int urc = udos_store_unlock_writer(st);
		if (rc == 0)
			rc = urc;
	}
	return rc;
}
