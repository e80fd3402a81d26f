/* clean.c - remove loose copies of objects that are safely packed, the
 * litter of dead writers in sandbox/, and (vacuum) compact the index. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cl {
	udos_store *st;
	const udos_clean_opts *opts;
	udos_clean_result *res;
	udos_progress prog; /* loose objects checked (bytes not counted) */
};

static int count_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	(void)rel;
	if (oid)
		((struct cl *)ctx)->prog.total++;
	return 0;
}

/* 0 when the packed record of `l` is readable and its stored bytes pass
 * their XXH3: only then is the loose copy not the last one */
static int packed_intact(udos_store *st, const udos__rec *l)
{
	udos__packfile *pf = NULL;
	struct stat sb;
	int kind, rc;

	rc = udos__packfile_get(&pf, st, l->pack_id);
	if (rc == 0 && fstat(pf->fd, &sb) < 0)
		rc = -errno;
	if (rc == 0) /* an evicted pack: its record fetched from the remote */
		rc = udos__packfile_need(pf, l->offset, l->stored_len);
	if (rc == 0)
		rc = udos__record_check(l, &kind, pf->fd, (uint64_t)sb.st_size,
					false, st->hash_type);
	udos__packfile_put(pf);
	return rc;
}

static int clean_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct cl *c = ctx;
	struct stat sb;
	udos__rec l;
	int rc;

	if (!oid)
		return 0;
	c->res->loose_checked++;
	c->prog.done++;
	if (c->opts->progress)
		c->opts->progress(c->opts->ctx, &c->prog);
	rc = udos__store_index_get(&l, c->st, oid);
	if (rc == UDOS_ENOTFOUND)
		return 0; /* loose only: the one copy */
	if (rc < 0)
		return rc;
	if (packed_intact(c->st, &l) < 0) {
		c->res->kept_damaged++; /* validate reports the record */
		return 0;
	}
	if (fstatat(c->st->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return 0; /* removed meanwhile (another clean, a delete) */
	if (c->opts->flags & UDOS_CLEAN_DRY_RUN) {
		c->res->removed++;
		c->res->removed_bytes += (uint64_t)sb.st_size;
		return 0;
	}
	if (unlinkat(c->st->dirfd, rel, 0) == 0) {
		c->res->removed++;
		c->res->removed_bytes += (uint64_t)sb.st_size;
	} else if (errno != ENOENT) {
		return udos__err(-errno, "cannot remove '%s/%s': %s",
				 c->st->path, rel, udos_strerror(-errno));
	}
	return 0;
}

/* sandbox files are named "<pid>-...": those of dead processes are litter */
static void clean_sandbox(udos_store *st, bool dry_run, uint64_t *removed)
{
	int fd = openat(st->dirfd, "sandbox", O_RDONLY | O_DIRECTORY |
					      O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		long pid = udos__sandbox_owner(de->d_name);

		if (!pid || udos__pid_running(pid))
			continue;
		if (dry_run || unlinkat(fd, de->d_name, 0) == 0)
			(*removed)++;
	}
	closedir(d);
}

static int vacuum(udos_clean_result *out, udos_store *st)
{
	int rc;

	rc = udos__dir_usage(st, "index", NULL, &out->index_bytes_before,
			     NULL);
	if (rc == 0)
		rc = udos_store_lock_writer(st);
	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&st->ixlock);
	rc = st->ix ? udos__index_compact(st->ix)
		    : udos__err(UDOS_EINDEX, "index is not open");
	pthread_rwlock_unlock(&st->ixlock);
	if (rc == 0)
		rc = udos__dir_usage(st, "index", NULL,
				     &out->index_bytes_after, NULL);
	return rc;
}

int udos_store_clean_ex(udos_clean_result *out, udos_store *st,
			const udos_clean_opts *opts)
{
	static const udos_clean_opts defaults = UDOS_CLEAN_OPTS_INIT;
	udos_clean_result local;
	struct cl c = { 0 };
	bool dry = false;
	int rc = 0;

	UDOS_ASSERT_ARG(st);
	if (!opts)
		opts = &defaults;
	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	dry = opts->flags & UDOS_CLEAN_DRY_RUN;
	c.st = st;
	c.opts = opts;
	c.res = out;
	if (opts->progress)
		rc = udos__loose_walk(st, count_cb, &c);
	if (rc == 0)
		rc = udos__loose_walk(st, clean_cb, &c);
	if (rc < 0)
		return rc;
	clean_sandbox(st, dry, &out->sandbox_removed);
	if ((opts->flags & UDOS_CLEAN_VACUUM) && !dry)
		rc = vacuum(out, st);
	return rc;
}

int64_t udos_store_clean(udos_store *st)
{
	udos_clean_result r;
	int rc = udos_store_clean_ex(&r, st, NULL);

	return rc < 0 ? rc : (int64_t)r.removed;
}
