/* core/restore_dir.c - the folders a restore writes into: opened one
 * component at a time below the destination (no path length limit, no
 * symlink followed), kept open in a small cache per writer. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_CACHE 128 /* open folder descriptors kept per writer: with
		       * 32 files open per pass, 5 writers stay well
		       * under the usual 1024 descriptors */

/* A folder of dest, open, keyed by its normalized relative path. */
struct udos__dslot {
	char *key; /* NULL: free */
	size_t len;
	int fd;
};

static int fail(udos__destdir *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(udos__destdir *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->detail, s->detail_size, fmt, ap);
	va_end(ap);
	return code;
}

int udos__destdir_init(udos__destdir *s, int root, char *detail,
		       size_t detail_size)
{
	memset(s, 0, sizeof(*s));
	s->root = root;
	s->spare = -1;
	s->detail = detail;
	s->detail_size = detail_size;
	s->dcap = DIR_CACHE * 2;
	s->dc = calloc(s->dcap, sizeof(*s->dc));
	if (!s->dc)
		return udos__err(-ENOMEM, "out of memory");
	return 0;
}

static size_t key_hash(const char *k, size_t len)
{
	size_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
	return h;
}

static struct udos__dslot *dc_find(udos__destdir *s, const char *k, size_t len)
{
	size_t i = key_hash(k, len) & (s->dcap - 1);

	for (; s->dc[i].key; i = (i + 1) & (s->dcap - 1))
		if (s->dc[i].len == len && !memcmp(s->dc[i].key, k, len))
			return &s->dc[i];
	return &s->dc[i]; /* the free slot where it would go */
}

static void dc_clear(udos__destdir *s)
{
	for (size_t i = 0; i < s->dcap; i++) {
		if (s->dc[i].key) {
			free(s->dc[i].key);
			close(s->dc[i].fd);
			s->dc[i].key = NULL;
		}
	}
	s->dn = 0;
}

/* Keep fd for key (takes it); false when full (the caller closes it). */
static bool dc_put(udos__destdir *s, const char *k, size_t len, int fd)
{
	struct udos__dslot *d;

	if (s->dn >= DIR_CACHE)
		return false;
	d = dc_find(s, k, len);
	d->key = malloc(len + 1);
	if (!d->key)
		return false;
	memcpy(d->key, k, len);
	d->key[len] = '\0';
	d->len = len;
	d->fd = fd;
	s->dn++;
	return true;
}

/* Open (making it if missing) one folder below parent, never through a
 * symlink. */
static int open_sub(udos__destdir *s, int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					      O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(parent, name, 0777) < 0 && errno != EEXIST)
			return fail(s, -errno, "cannot make folder '%s': %s",
				    name, strerror(errno));
		fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						  O_CLOEXEC);
	}
	if (fd < 0) {
		int e = errno;

		if (e == ELOOP || e == ENOTDIR)
			return fail(s, -ENOTDIR, "'%s' on the path is not a "
				    "folder (a symlink or a file)", name);
		return fail(s, -e, "cannot open folder '%s': %s", name,
			    strerror(e));
	}
	return fd;
}

/*
 * The descriptor of folder `dir` (normalized, dlen bytes, "" for dest
 * itself), borrowed from the cache. Walks down from the deepest folder
 * already open, one component at a time, so that no path length limit
 * applies and no symlink is followed.
 */
int udos__destdir_get(udos__destdir *s, char *dir, size_t dlen)
{
	size_t at = dlen;
	int fd = s->root;

	if (!dlen)
		return s->root;
	/* the deepest cached ancestor (or dir itself) */
	for (;;) {
		struct udos__dslot *d = dc_find(s, dir, at);

		if (d->key) {
			if (at == dlen)
				return d->fd;
			fd = d->fd;
			break;
		}
		while (at > 0 && dir[at - 1] != '/')
			at--;
		if (at == 0)
			break;
		at--; /* the '/' */
	}
	if (s->dn >= DIR_CACHE) {
		/* full: start again from dest (cheap: a few openat) */
		dc_clear(s);
		fd = s->root;
		at = 0;
	}
	/* down from `at` (0, or the index of the '/' after a cached one) */
	while (at < dlen) {
		size_t start = at ? at + 1 : 0, end = start;
		int sub;
		char c;

		while (end < dlen && dir[end] != '/')
			end++;
		c = dir[end];
		dir[end] = '\0';
		sub = open_sub(s, fd, dir + start);
		dir[end] = c;
		if (fd != s->root && !dc_find(s, dir, at)->key)
			close(fd); /* an uncached intermediate */
		if (sub < 0)
			return sub;
		fd = sub;
		at = end;
		if (!dc_put(s, dir, end, fd) && end == dlen) {
			/* lent until the next call */
			if (s->spare >= 0)
				close(s->spare);
			s->spare = fd;
		}
	}
	return fd;
}

/*
 * Normalize entry path p into s->norm: no empty or "." components; refuse
 * absolute paths and "..". *name_out is the offset of the file name.
 */
int udos__destdir_normalize(udos__destdir *s, const char *p, size_t len,
		     size_t *nlen_out, size_t *name_out)
{
	size_t o = 0, i = 0, last = 0;

	if (p[0] == '/')
		return fail(s, -EPERM, "absolute path refused");
	if (len + 1 > s->ncap) {
		char *n = realloc(s->norm, len + 1);

		if (!n)
			return fail(s, -ENOMEM, "out of memory");
		s->norm = n;
		s->ncap = len + 1;
	}
	while (i < len) {
		size_t j = i;

		while (j < len && p[j] != '/')
			j++;
		if (j - i == 2 && p[i] == '.' && p[i + 1] == '.')
			return fail(s, -EPERM, "'..' in a path refused");
		if (j > i && !(j - i == 1 && p[i] == '.')) {
			if (o)
				s->norm[o++] = '/';
			last = o;
			memcpy(s->norm + o, p + i, j - i);
			o += j - i;
		}
		i = j + 1;
	}
	if (!o || p[len - 1] == '/')
		return fail(s, -EINVAL, "no file name");
	s->norm[o] = '\0';
	*nlen_out = o;
	*name_out = last;
	return 0;
}

void udos__destdir_release(udos__destdir *s)
{
	if (s->dc)
		dc_clear(s);
	free(s->dc);
	s->dc = NULL;
	if (s->spare >= 0)
		close(s->spare);
	s->spare = -1;
	free(s->norm);
	s->norm = NULL;
}
