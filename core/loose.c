/* loose.c - loose objects: written in sandbox/, renamed into loose/ab/cd...
 * without overwriting; read back by path. */
#include "internal.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOOSE_CHUNK (256 * 1024)

int udos__loose_tmp(int *fd_out, char *name_out, size_t cap, udos_store *st)
{
	static atomic_uint_fast64_t counter;
	uint64_t n = atomic_fetch_add(&counter, 1);
	int fd;

	snprintf(name_out, cap, "sandbox/%d-%" PRIu64 "-%08lx", (int)getpid(),
		 n, (unsigned long)random());
	fd = openat(st->dirfd, name_out,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return udos__err(-errno, "cannot create '%s/%s': %s", st->path,
				 name_out, udos_strerror(-errno));
	*fd_out = fd;
	return 0;
}

static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* file systems without RENAME_NOREPLACE: link refuses to replace */
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -errno;
	unlinkat(dirfd, from, 0);
	return 0;
}

/*
 * Make loose/<prefix>/ exist with a durable entry in loose/, or the object
 * reported stored can vanish with its folder. A folder we find already
 * made may be one whose maker died before its fsync of loose/, so it is
 * synced too, once per store handle and prefix (bits in loose_synced; a
 * longer prefix is synced every time). If the fsync fails, a folder we
 * just made goes, so that a retry makes (and syncs) it again.
 */
static int prefix_dir(udos_store *st, const char *dir, bool nosync)
{
	int plen = st->info.loose_prefix_len;
	unsigned long bit = 0;
	bool made, known = false;
	int rc;

	if (plen == 0)
		return 0;
	made = mkdirat(st->dirfd, dir, 0755) == 0;
	if (!made && errno != EEXIST)
		return udos__err(-errno, "cannot create '%s/%s': %s", st->path,
				 dir, udos_strerror(-errno));
	if (nosync)
		return 0;
	if (plen <= 3) {
		bit = strtoul(dir + strlen("loose/"), NULL, 16);
		known = !made && (__atomic_load_n(&st->loose_synced[bit / 64],
						  __ATOMIC_ACQUIRE) >>
				  (bit % 64) & 1);
	}
	if (known)
		return 0;
	rc = udos__fsync_dir(st->dirfd, "loose");
	if (rc < 0) {
		if (made)
			unlinkat(st->dirfd, dir, AT_REMOVEDIR);
		return udos__err(rc, "cannot sync '%s/loose': %s", st->path,
				 udos_strerror(rc));
	}
	if (plen <= 3)
		__atomic_fetch_or(&st->loose_synced[bit / 64],
				  (uint64_t)1 << (bit % 64), __ATOMIC_RELEASE);
	return 0;
}

int udos__loose_commit(udos_store *st, int fd, const char *tmpname,
		       const udos_oid *oid, bool nosync, bool *new_out)
{
	char rel[128], dir[128];
	struct stat a, b;
	int rc = 0;

	if (new_out)
		*new_out = false;
	if (!nosync)
		rc = udos__fsync(fd);
	if (rc == 0 && fstat(fd, &a) < 0)
		rc = -errno;
	close(fd);
	if (rc < 0) {
		unlinkat(st->dirfd, tmpname, 0);
		return udos__err(rc, "cannot write '%s/%s': %s", st->path,
				 tmpname, udos_strerror(rc));
	}
	udos__loose_relpath(rel, sizeof(rel), st, oid);
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(rel, '/') - rel),
		 rel);
	rc = prefix_dir(st, dir, nosync);
	if (rc < 0) {
		unlinkat(st->dirfd, tmpname, 0);
		return rc;
	}

	rc = rename_noreplace(st->dirfd, tmpname, rel);
	if (rc == -EEXIST) {
		/* Content-addressed: same name, same bytes, unless the file
		 * there is damaged. A wrong size is damage we can repair
		 * with the bytes we just verified; anything subtler is for
		 * validate to report. */
		if (fstatat(st->dirfd, rel, &b, 0) == 0 &&
		    b.st_size == a.st_size) {
			unlinkat(st->dirfd, tmpname, 0);
			return 0;
		}
		rc = renameat(st->dirfd, tmpname, st->dirfd, rel) < 0 ? -errno
								       : 0;
	}
	if (rc < 0) {
		unlinkat(st->dirfd, tmpname, 0);
		return udos__err(rc, "cannot store '%s/%s': %s", st->path, rel,
				 udos_strerror(rc));
	}
	if (!nosync) {
		rc = udos__fsync_dir(st->dirfd, dir);
		if (rc < 0)
			return udos__err(rc, "cannot sync '%s/%s': %s",
					 st->path, dir, udos_strerror(rc));
	}
	if (new_out)
		*new_out = true;
	return 0;
}

int udos__loose_put(udos_store *st, const udos_oid *oid, const void *data,
		    size_t len, bool nosync, bool *new_out)
{
	char tmp[128];
	int fd, rc;

	rc = udos__loose_tmp(&fd, tmp, sizeof(tmp), st);
	if (rc < 0)
		return rc;
	rc = udos__write_all(fd, data, len);
	if (rc < 0) {
		close(fd);
		unlinkat(st->dirfd, tmp, 0);
		return udos__err(rc, "cannot write '%s/%s': %s", st->path, tmp,
				 udos_strerror(rc));
	}
	return udos__loose_commit(st, fd, tmp, oid, nosync, new_out);
}

int udos__loose_open(udos_store *st, const udos_oid *oid)
{
	char rel[128];
	int fd;

	udos__loose_relpath(rel, sizeof(rel), st, oid);
	fd = openat(st->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENOTDIR)
		return UDOS_ENOTFOUND;
	return udos__err(-errno, "cannot open '%s/%s': %s", st->path, rel,
			 udos_strerror(-errno));
}

/* present loose or packed? */
static int present(udos_store *st, const udos_oid *oid)
{
	char rel[128];
	udos__rec l;
	int rc;

	udos__loose_relpath(rel, sizeof(rel), st, oid);
	if (faccessat(st->dirfd, rel, F_OK, 0) == 0)
		return 1;
	rc = udos__store_index_get(&l, st, oid);
	if (rc == UDOS_ENOTFOUND)
		return 0;
	return rc < 0 ? rc : 1;
}

int udos_add_loose_buf(udos_oid *out, bool *new_out, udos_store *st,
		       const void *data, size_t len, unsigned flags)
{
	udos_oid oid;
	int rc;

	UDOS_ASSERT_ARG(out && st && (data || !len));
	if (new_out)
		*new_out = false;
	rc = udos_oid_hash_as(&oid, st->hash_type, data, len);
	if (rc < 0)
		return rc;
	rc = present(st, &oid);
	if (rc < 0)
		return rc;
	if (rc == 0)
		rc = udos__loose_put(st, &oid, data, len,
				     flags & UDOS_ADD_NOSYNC, new_out);
	if (rc < 0)
		return rc;
	*out = oid;
	return 0;
}

int udos_add_loose_cb(udos_oid *out, bool *new_out, udos_store *st,
		      udos_read_fn fn, void *ctx, unsigned flags)
{
	udos__hash *h = NULL;
	uint8_t *buf = NULL;
	char tmp[128];
	udos_oid oid;
	int fd = -1, rc;

	UDOS_ASSERT_ARG(out && st && fn);
	if (new_out)
		*new_out = false;
	buf = udos__alloc(LOOSE_CHUNK);
	if (!buf)
		return udos__err(-ENOMEM, "out of memory");
	rc = udos__hash_new(&h, st->hash_type);
	if (rc < 0)
		goto done;
	rc = udos__loose_tmp(&fd, tmp, sizeof(tmp), st);
	if (rc < 0)
		goto done;
	for (;;) {
		ssize_t n = fn(ctx, buf, LOOSE_CHUNK);
		if (n < 0) {
			rc = (int)n;
			goto fail;
		}
		if (n == 0)
			break;
		udos__hash_update(h, buf, (size_t)n);
		rc = udos__write_all(fd, buf, (size_t)n);
		if (rc < 0) {
			udos__err(rc, "cannot write '%s/%s': %s", st->path,
				  tmp, udos_strerror(rc));
			goto fail;
		}
	}
	udos__hash_final(&oid, h);
	rc = present(st, &oid);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		close(fd);
		unlinkat(st->dirfd, tmp, 0);
		rc = 0;
	} else {
		rc = udos__loose_commit(st, fd, tmp, &oid,
					flags & UDOS_ADD_NOSYNC, new_out);
	}
	fd = -1;
	if (rc == 0)
		*out = oid;
	goto done;
fail:
	close(fd);
	unlinkat(st->dirfd, tmp, 0);
done:
	udos__hash_free(h);
	free(buf);
	return rc;
}

int udos_add_loose_fd(udos_oid *out, bool *new_out, udos_store *st, int fd,
		      unsigned flags)
{
	return udos_add_loose_cb(out, new_out, st, udos__fd_read, &fd, flags);
}

/* n lowercase hex digits (what may follow them does not matter) */
static bool all_hex_n(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* exactly n lowercase hex digits */
static bool all_hex(const char *s, size_t n)
{
	return all_hex_n(s, n) && s[n] == '\0';
}

static int walk_dir(const udos__loose_layout *ly, const char *reldir,
		    const char *prefix, udos__loose_fn fn, void *ctx)
{
	size_t hexsz = 2 * ly->digest_size;
	size_t plen = strlen(prefix), want = hexsz - plen;
	int fd = openat(ly->dirfd, reldir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0
				       : udos__err(-errno, "cannot list '%s/%s'"
						   ": %s", ly->path, reldir,
						   udos_strerror(-errno));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while (rc == 0 && (de = readdir(d))) {
		char rel[512], hex[UDOS_OID_HEXSZ + 1];
		udos_oid oid;
		bool ok;

		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "%s/%s", reldir, de->d_name);
		ok = strlen(de->d_name) == want && all_hex(de->d_name, want);
		if (ok) {
			memcpy(hex, prefix, plen);
			memcpy(hex + plen, de->d_name, want);
			ok = udos_oid_parse_sz(&oid, hex, hexsz,
					       ly->digest_size) == 0;
		}
		rc = fn(ctx, rel, ok ? &oid : NULL);
	}
	closedir(d);
	return rc;
}

int udos__loose_walk_at(const udos__loose_layout *ly, udos__loose_fn fn,
			void *ctx)
{
	int plen = ly->prefix_len;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (plen == 0)
		return walk_dir(ly, "loose", "", fn, ctx);
	fd = openat(ly->dirfd, "loose", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return udos__err(-errno, "cannot list '%s/loose': %s",
				 ly->path, udos_strerror(-errno));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while (rc == 0 && (de = readdir(d))) {
		char rel[300];

		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "loose/%s", de->d_name);
		if (strlen(de->d_name) != (size_t)plen ||
		    !all_hex(de->d_name, (size_t)plen)) {
			rc = fn(ctx, rel, NULL);
			continue;
		}
		rc = walk_dir(ly, rel, de->d_name, fn, ctx);
	}
	closedir(d);
	return rc;
}

int udos__loose_walk(udos_store *st, udos__loose_fn fn, void *ctx)
{
	udos__loose_layout ly = { st->dirfd, st->path,
				  st->info.loose_prefix_len,
				  st->digest_size };

	return udos__loose_walk_at(&ly, fn, ctx);
}

int udos__loose_walk_prefix(udos_store *st, const char *hex,
			    udos__loose_fn fn, void *ctx)
{
	udos__loose_layout ly = { st->dirfd, st->path,
				  st->info.loose_prefix_len,
				  st->digest_size };
	int plen = ly.prefix_len;
	char rel[32], prefix[16];

	if (plen == 0)
		return walk_dir(&ly, "loose", "", fn, ctx);
	if (strlen(hex) < (size_t)plen || !all_hex_n(hex, (size_t)plen))
		return udos__err(-EINVAL, "invalid loose prefix '%s'", hex);
	snprintf(prefix, sizeof(prefix), "%.*s", plen, hex);
	snprintf(rel, sizeof(rel), "loose/%s", prefix);
	return walk_dir(&ly, rel, prefix, fn, ctx);
}
