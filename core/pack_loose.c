/* pack_loose.c - the pack command (loose -> pack), and cleaning loose copies
 * that are safely packed. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pk {
	udos_store *st;
	udos_writer *w;
	int compress;
	udos_pack_result *res;
	const udos_pack_opts *opts;
	uint64_t done, total;
};

static int count_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	(void)rel;
	if (oid)
		((struct pk *)ctx)->total++;
	return 0;
}

static int pack_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct pk *p = ctx;
	udos_oid got;
	bool is_new = false;
	off_t before;
	int fd, rc;

	if (!oid)
		return 0;
	fd = openat(p->st->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 /* cleaned by another process */
				       : udos__err(-errno, "cannot read '%s/%s'"
						   ": %s", p->st->path, rel,
						   udos_strerror(-errno));
	before = lseek(fd, 0, SEEK_END);
	lseek(fd, 0, SEEK_SET);
	rc = udos__writer_stream(&got, &is_new, p->w, udos__fd_read, &fd,
				 p->compress, oid);
	close(fd);
	if (rc == UDOS_EHASH) {
		p->res->corrupt++; /* left in place for validate to report */
		rc = 0;
	} else if (rc == 0 && is_new) {
		p->res->packed++;
		p->res->bytes_in += before > 0 ? (uint64_t)before : 0;
	} else if (rc == 0) {
		p->res->skipped++;
	}
	p->done++;
	if (p->opts->progress)
		p->opts->progress(p->opts->ctx, p->done, p->total);
	return rc;
}

int udos_store_pack_loose(udos_pack_result *out, udos_store *st,
			  const udos_pack_opts *popts)
{
	static const udos_pack_opts defaults = UDOS_PACK_OPTS_INIT;
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	udos_pack_result local;
	struct pk p = { 0 };
	int64_t cleaned;
	int rc;

	UDOS_ASSERT_ARG(st);
	if (!popts)
		popts = &defaults;
	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	p.st = st;
	p.res = out;
	p.opts = popts;
	p.compress = popts->compress == UDOS_COMPRESS_KEEP ? UDOS_COMPRESS_NO
							   : popts->compress;
	wo.compress = p.compress;
	wo.no_sync = popts->no_sync;
	rc = udos_writer_open(&p.w, st, &wo);
	if (rc < 0)
		return rc;
	if (popts->progress)
		rc = udos__loose_walk(st, count_cb, &p);
	else
		rc = 0;
	if (rc == 0)
		rc = udos__loose_walk(st, pack_cb, &p);
	if (rc == 0)
		rc = udos_writer_commit(p.w);
	out->bytes_out = udos__writer_stored(p.w);
	udos_writer_close(p.w);
	if (rc < 0)
		return rc;
	if (popts->clean) {
		cleaned = udos_store_clean(st);
		if (cleaned < 0)
			return (int)cleaned;
		out->cleaned = (uint64_t)cleaned;
	}
	return 0;
}

/* ---- clean ------------------------------------------------------------- */

struct cl {
	udos_store *st;
	int64_t removed;
};

static int clean_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct cl *c = ctx;
	udos__packfile *pf = NULL;
	struct stat sb;
	udos__rec l;
	int kind, rc;

	if (!oid)
		return 0;
	rc = udos__store_index_get(&l, c->st, oid);
	if (rc == UDOS_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	/* the packed copy must be readable and intact before the loose one
	 * goes */
	rc = udos__packfile_get(&pf, c->st, l.pack_id);
	if (rc == 0 && fstat(pf->fd, &sb) < 0)
		rc = -errno;
	if (rc == 0)
		rc = udos__packfile_need(pf, l.offset, l.stored_len);
	if (rc == 0)
		rc = udos__record_check(&l, &kind, pf->fd,
					(uint64_t)sb.st_size, false,
					c->st->hash_type);
	udos__packfile_put(pf);
	if (rc < 0)
		return 0;
	if (unlinkat(c->st->dirfd, rel, 0) == 0)
		c->removed++;
	else if (errno != ENOENT)
		return udos__err(-errno, "cannot remove '%s/%s': %s",
				 c->st->path, rel, udos_strerror(-errno));
	return 0;
}

/* sandbox files are named "<pid>-...": those of dead processes are litter */
static void clean_sandbox(udos_store *st)
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
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (de->d_name[0] == '.' || *end != '-' || pid <= 0)
			continue;
		if (!udos__pid_running(pid))
			unlinkat(fd, de->d_name, 0);
	}
	closedir(d);
}

int64_t udos_store_clean(udos_store *st)
{
	struct cl c = { st, 0 };
	int rc;

	UDOS_ASSERT_ARG(st);
	rc = udos__loose_walk(st, clean_cb, &c);
	if (rc < 0)
		return rc;
	clean_sandbox(st);
	return c.removed;
}
