/* fsutil.c - retrying read/write loops, fsync helpers, *at() utilities. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int udos__write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (UDOS_FAULT(UDOS_FAULT_WRITE)) { /* fault hook: a full disk */
		errno = ENOSPC;
		return -ENOSPC;
	}
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int udos__pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	if (UDOS_FAULT(UDOS_FAULT_WRITE)) { /* fault hook: a full disk */
		errno = ENOSPC;
		return -ENOSPC;
	}
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* read until len bytes or end of file; at `off`, or at the file position
 * when off is UINT64_MAX */
static ssize_t read_loop(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = off == UINT64_MAX
				    ? read(fd, p + got, len - got)
				    : pread(fd, p + got, len - got,
					    (off_t)(off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t udos__pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	return read_loop(fd, buf, len, off);
}

ssize_t udos__read_full(int fd, void *buf, size_t len)
{
	return read_loop(fd, buf, len, UINT64_MAX);
}

int udos__fsync(int fd)
{
	if (UDOS_FAULT(UDOS_FAULT_SYNC)) { /* fault hook */
		errno = EIO;
		return -EIO;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

int udos__fdatasync(int fd)
{
	if (UDOS_FAULT(UDOS_FAULT_SYNC)) { /* fault hook */
		errno = EIO;
		return -EIO;
	}
	return fdatasync(fd) < 0 ? -errno : 0;
}

int udos__fsync_dir(int dirfd, const char *rel)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	rc = udos__fsync(fd);
	close(fd);
	return rc;
}

int udos__fsync_parent(const char *path)
{
	char parent[4096];
	size_t len = strlen(path);
	char *slash;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len >= sizeof(parent))
		return -ENAMETOOLONG;
	memcpy(parent, path, len);
	parent[len] = '\0';
	slash = strrchr(parent, '/');
	if (!slash)
		return udos__fsync_dir(AT_FDCWD, ".");
	slash[slash == parent] = '\0'; /* "/x" -> "/" */
	return udos__fsync_dir(AT_FDCWD, parent);
}

int udos__mkdir_p(int dirfd, const char *rel, mode_t mode)
{
	char path[4096];
	size_t len = strlen(rel);

	if (len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, rel, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char c = path[i];
		path[i] = '\0';
		if (mkdirat(dirfd, path, mode) < 0 && errno != EEXIST)
			return -errno;
		path[i] = c;
	}
	return 0;
}

int udos__dir_within(int inner, int outer)
{
	struct stat o, at, up;
	int fd, rc = 0;

	if (fstat(outer, &o) < 0)
		return -errno;
	fd = dup(inner);
	if (fd < 0)
		return -errno;
	for (int depth = 0; depth < 4096; depth++) {
		int parent;

		if (fstat(fd, &at) < 0) {
			rc = -errno;
			break;
		}
		if (at.st_dev == o.st_dev && at.st_ino == o.st_ino) {
			rc = 1;
			break;
		}
		parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0 || fstat(parent, &up) < 0) {
			rc = -errno;
			if (parent >= 0)
				close(parent);
			break;
		}
		close(fd);
		fd = parent;
		if (up.st_dev == at.st_dev && up.st_ino == at.st_ino)
			break; /* the root */
	}
	close(fd);
	return rc;
}

ssize_t udos__fd_read(void *ctx, void *buf, size_t len)
{
	int fd = *(int *)ctx;

	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return udos__err(-errno, "read error: %s",
					 udos_strerror(-errno));
	}
}

int udos__rm_tree(int dirfd, const char *rel)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	struct dirent *de;
	int rc = 0;
	DIR *d;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ENOTDIR)
			return -errno;
		return unlinkat(dirfd, rel, 0) < 0 ? -errno : 0;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0 || errno == ENOENT)
			continue;
		rc = errno == EISDIR || errno == EPERM ? udos__rm_tree(fd, de->d_name)
						       : -errno;
	}
	closedir(d);
	if (rc == 0 && unlinkat(dirfd, rel, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

int udos__dir_check_empty(int dirfd, const char *path)
{
	struct dirent *de;
	DIR *d = fdopendir(dup(dirfd));
	int rc = 0;

	if (!d)
		return udos__err(-errno, "cannot list '%s'", path);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			rc = udos__err(UDOS_EEXIST, "folder '%s' is not "
				       "empty", path);
			break;
		}
	}
	closedir(d);
	return rc;
}

int udos__write_file_atomic(int dirfd, const char *rel, const void *data,
			    size_t len)
{
	char tmp[512];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", rel);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	if (fd < 0)
		return -errno;
	rc = udos__write_all(fd, data, len);
	if (rc == 0)
		rc = udos__fsync(fd);
	close(fd);
	if (rc == 0 && renameat(dirfd, tmp, dirfd, rel) < 0)
		rc = -errno;
	if (rc == 0)
		rc = udos__fsync_dir(dirfd, ".");
	if (rc < 0)
		unlinkat(dirfd, tmp, 0);
	return rc;
}
