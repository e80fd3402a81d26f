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
		return udos__err(-errno, "cannot remove '%s/%s': %s", dest, rel,
				 udos_strerror(-errno));
	return 0;
}

/* A small file of the container, as it is; UDOS_ENOTFOUND when absent */
static int read_small(udos_buf *b, udos_store *st, const char *rel)
{
	int fd = openat(st->dirfd, rel, O_RDONLY | O_CLOEXEC);
	char tmp[65536];
	ssize_t n = 0;
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT
			       ? UDOS_ENOTFOUND
			       : udos__err(-errno, "cannot open '%s/%s': %s",
					   st->path, rel,
					   udos_strerror(-errno));
	b->max = UDOS__MAN_MAX;
	while (rc == 0 && (n = udos__read_full(fd, tmp, sizeof(tmp))) > 0)
		rc = udos_buf_append(b, tmp, (size_t)n);
	if (rc == 0 && n < 0)
		rc = (int)n;
	close(fd);
	if (rc < 0)
		rc = udos__err(rc, "cannot read '%s/%s': %s", st->path, rel,
			       udos_strerror(rc));
	return rc;
}

/* rel of the container into the backup folder, byte for byte (a line
 * this udos does not know survives), or removed there when absent here */
static int copy_small(udos_buf *b, udos_store *st, int dfd, const char *dest,
		      const char *rel)
{
	int rc = read_small(b, st, rel);

	if (rc == UDOS_ENOTFOUND)
		return drop(dfd, dest, rel);
	if (rc == 0)
		rc = udos__write_file_atomic(dfd, rel, b->data, b->len);
	if (rc < 0 && !udos_error_detail()[0])
		rc = udos__err(rc, "cannot write '%s/%s': %s", dest, rel,
			       udos_strerror(rc));
	return rc;
}

int udos__remote_backup_files(udos__manifest *man_out, udos_store *st, int dfd,
			      const char *dest)
{
	udos_buf conf = UDOS_BUF_INIT, man = UDOS_BUF_INIT;
	int rc;

	memset(man_out, 0, sizeof(*man_out));
	udos__err_clear();
	rc = copy_small(&conf, st, dfd, dest, UDOS__REMOTE_CONF);
	/* the manifest, parsed to know the evicted packs */
	if (rc == 0)
		rc = copy_small(&man, st, dfd, dest, UDOS__REMOTE_MANIFEST);
	if (rc == 0 && man.len)
		rc = udos__manifest_parse(man_out, (const char *)man.data,
					  man.len, UDOS__REMOTE_MANIFEST);
	udos_buf_release(&conf);
	udos_buf_release(&man);
	if (rc < 0)
		udos__manifest_release(man_out);
	return rc;
}

const udos__mpack *udos__remote_evicted(const udos__manifest *m, udos_store *st,
					uint32_t id, uint64_t rec_size)
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
		rc = udos__err(UDOS_ECORRUPT,
			       "pack %" PRIu32 " of '%s' is "
			       "neither here nor readable through its remote",
			       p->id, st->path);
	if (rc == 0)
		rc = udos__packfile_need(pf, 0, p->size);
	if (rc == 0)
		rc = udos__sha256_fd(sha, pf->fd, 0, p->size);
	if (rc == 0 && strcmp(sha, p->sha))
		rc = udos__err(UDOS_ECORRUPT,
			       "remote pack %" PRIu32 " of '%s' "
			       "does not hash to its manifest entry",
			       p->id, st->path);
	if (rc < 0) {
		udos__packfile_put(pf);
		return rc;
	}
	*pf_out = pf;
	return 0;
}
