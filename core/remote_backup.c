/* remote_backup.c - what a backup takes of a container's remote: its
 * remote.conf and remote.manifest (so that the copy reads evicted packs
 * through the same remote), which packs are evicted, and, to make a copy
 * that stands alone, an evicted pack's data read whole through the
 * read-through cache and checked against its manifest SHA-256. */
#include "remote_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int drop(int dfd, const char *dest, const char *rel)
{
	if (unlinkat(dfd, rel, 0) < 0 && errno != ENOENT)
		return udos__err(-errno, "cannot remove '%s/%s': %s", dest,
				 rel, udos_strerror(-errno));
	return 0;
}

int udos__remote_backup_files(udos__manifest *man_out, udos_store *st,
			      int dfd, const char *dest)
{
	udos_remote_conf conf;
	udos_buf b = UDOS_BUF_INIT;
	int rc;

	memset(man_out, 0, sizeof(*man_out));
	rc = udos__remote_conf_read(&conf, st->dirfd);
	if (rc == UDOS_ENOTFOUND) {
		/* no remote (any more): nor has the copy */
		rc = drop(dfd, dest, UDOS__REMOTE_MANIFEST);
		return rc < 0 ? rc : drop(dfd, dest, UDOS__REMOTE_CONF);
	}
	if (rc == 0)
		rc = udos__remote_conf_write(dfd, &conf);
	if (rc < 0)
		return rc;
	rc = udos__manifest_load(man_out, st);
	if (rc == UDOS_ENOTFOUND)
		return drop(dfd, dest, UDOS__REMOTE_MANIFEST);
	if (rc == 0)
		rc = udos__manifest_format(&b, man_out);
	if (rc == 0)
		rc = udos__write_file_atomic(dfd, UDOS__REMOTE_MANIFEST, b.data,
					     b.len);
	if (rc < 0 && rc != UDOS_ECORRUPT)
		rc = udos__err(rc, "cannot write '%s/%s': %s", dest,
			       UDOS__REMOTE_MANIFEST, udos_strerror(rc));
	udos_buf_release(&b);
	if (rc < 0)
		udos__manifest_release(man_out);
	return rc;
}

const udos__mpack *udos__remote_evicted(const udos__manifest *m,
					udos_store *st, uint32_t id,
					uint64_t rec_size)
{
	const udos__mpack *p = udos__manifest_find(m, id);
	char rel[64];

	if (!p || p->rec_size != rec_size)
		return NULL;
	udos__pack_relpath(rel, sizeof(rel), id);
	if (faccessat(st->dirfd, rel, F_OK, 0) == 0 || errno != ENOENT)
		return NULL;
	return p;
}

int udos__remote_pack_whole(udos__packfile **pf_out, udos_store *st,
			    const udos__mpack *p)
{
	udos__packfile *pf = NULL;
	struct stat sb;
	char sha[65];
	int rc;

	*pf_out = NULL;
	rc = udos__packfile_get(&pf, st, p->id);
	if (rc == 0 && (!pf->remote || fstat(pf->fd, &sb) < 0 ||
			(uint64_t)sb.st_size != p->size))
		rc = udos__err(UDOS_ECORRUPT, "pack %" PRIu32 " of '%s' is "
			       "neither here nor readable through its remote",
			       p->id, st->path);
	if (rc == 0)
		rc = udos__packfile_need(pf, 0, p->size);
	if (rc == 0)
		rc = udos__sha256_fd(sha, pf->fd, 0, p->size);
	if (rc == 0 && strcmp(sha, p->sha))
		rc = udos__err(UDOS_ECORRUPT, "remote pack %" PRIu32 " of '%s' "
			       "does not hash to its manifest entry", p->id,
			       st->path);
	if (rc < 0) {
		udos__packfile_put(pf);
		return rc;
	}
	*pf_out = pf;
	return 0;
}
