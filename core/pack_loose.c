/* pack_loose.c - the pack command (loose -> pack); clean.c then removes the
 * loose copies. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pk {
	udos_store *st;
	udos_writer *w;
	int compress;
	udos_pack_result *res;
	const udos_pack_opts *opts;
	udos_progress prog;
};

static int count_cb(void *ctx, const char *rel, const udos_oid *oid)
{
	struct pk *p = ctx;
	struct stat sb;

	if (!oid)
		return 0;
	p->prog.total++;
	if (fstatat(p->st->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		p->prog.bytes_total += (uint64_t)sb.st_size;
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
	p->prog.done++;
	p->prog.bytes_done += before > 0 ? (uint64_t)before : 0;
	if (p->opts->progress)
		p->opts->progress(p->opts->ctx, &p->prog);
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
