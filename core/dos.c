/* dos.c - a disk-objectstore container's config.json and the mapping of
 * SQLite failures (its packs.idx) to udos codes. */
#include "dos_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONFIG 4096

static int bad(const char *path, const char *why)
{
	return udos__err(UDOS_ENOTSTORE, "'%s' is not a disk-objectstore "
			 "container: %s", path, why);
}

/* config.json is json.dump of a flat dict of strings and integers */
static int parse(udos__dos_config *c, const char *text, const char *path)
{
	const char *p = udos__json_ws(text);
	bool have_ver = false, have_hash = false, have_prefix = false;

	if (*p++ != '{')
		return bad(path, "config.json is not a JSON object");
	for (;;) {
		char key[64], sval[64];
		unsigned long long ival = 0;
		bool is_str;

		p = udos__json_ws(p);
		if (*p == '}')
			break;
		if (!(p = udos__json_str(p, key, sizeof(key))))
			return bad(path, "config.json is not valid");
		p = udos__json_ws(p);
		if (*p++ != ':')
			return bad(path, "config.json is not valid");
		p = udos__json_ws(p);
		is_str = *p == '"';
		if (is_str) {
			if (!(p = udos__json_str(p, sval, sizeof(sval))))
				return bad(path, "config.json holds a string "
					   "that is too long or escaped");
		} else {
			char *end;

			if (!isdigit((unsigned char)*p))
				return bad(path, "config.json holds a value "
					   "other than a string or integer");
			errno = 0;
			ival = strtoull(p, &end, 10);
			if (errno)
				return bad(path, "config.json holds a number "
					   "out of range");
			p = end;
		}
		if (!strcmp(key, "container_version") && !is_str) {
			c->container_version = ival > 1000 ? 1000 : (int)ival;
			have_ver = true;
		} else if (!strcmp(key, "hash_type") && is_str) {
			if (udos_hash_type_parse(&c->hash_type, sval) < 0)
				return udos__err(-EINVAL, "'%s' uses hash "
						 "type '%s', which udos does "
						 "not know", path, sval);
			have_hash = true;
		} else if (!strcmp(key, "loose_prefix_len") && !is_str) {
			if (ival > 60)
				return bad(path, "loose_prefix_len is too "
					   "large");
			c->loose_prefix_len = (int)ival;
			have_prefix = true;
		} else if (!strcmp(key, "pack_size_target") && !is_str) {
			c->pack_size_target = ival;
		} else if (!strcmp(key, "container_id") && is_str) {
			snprintf(c->container_id, sizeof(c->container_id),
				 "%s", sval);
		} else if (!strcmp(key, "compression_algorithm") && is_str) {
			snprintf(c->compression, sizeof(c->compression), "%s",
				 sval);
		}
		p = udos__json_ws(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p != '}')
			return bad(path, "config.json is not valid");
		break;
	}
	if (!have_ver || !have_hash || !have_prefix)
		return bad(path, "config.json lacks container_version, "
			   "hash_type or loose_prefix_len");
	if (c->container_version != 1)
		return udos__err(UDOS_EFORMAT, "'%s' is a disk-objectstore "
				 "container of version %d (udos reads "
				 "version 1)", path, c->container_version);
	return 0;
}

int udos__dos_config_read(udos__dos_config *out, int dirfd, const char *path)
{
	char text[MAX_CONFIG + 1];
	ssize_t n;
	int fd;

	memset(out, 0, sizeof(*out));
	fd = openat(dirfd, "config.json", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? bad(path, "it has no config.json")
				       : udos__err(-errno, "cannot read "
						   "'%s/config.json': %s",
						   path,
						   udos_strerror(-errno));
	n = udos__read_full(fd, text, MAX_CONFIG);
	close(fd);
	if (n < 0)
		return udos__err((int)n, "cannot read '%s/config.json': %s",
				 path, udos_strerror((int)n));
	if (n == MAX_CONFIG)
		return bad(path, "config.json is too large");
	text[n] = '\0';
	return parse(out, text, path);
}

int udos__dos_config_write(int dirfd, const char *path,
			   const udos__dos_config *c)
{
	char text[1024], tmp[] = "config.json.tmp";
	int len, fd, rc;

	/* Python's json.dump: ", " and ": " separators, no final newline */
	len = snprintf(text, sizeof(text),
		       "{\"container_version\": %d, \"loose_prefix_len\": %d, "
		       "\"pack_size_target\": %" PRIu64 ", \"hash_type\": "
		       "\"%s\", \"container_id\": \"%s\", "
		       "\"compression_algorithm\": \"%s\"}",
		       c->container_version, c->loose_prefix_len,
		       c->pack_size_target, udos_hash_type_name(c->hash_type),
		       c->container_id, c->compression);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	if (fd < 0)
		return udos__err(-errno, "cannot write '%s/%s': %s", path, tmp,
				 udos_strerror(-errno));
	rc = udos__write_all(fd, text, (size_t)len);
	if (rc == 0)
		rc = udos__fsync(fd);
	close(fd);
	if (rc == 0 && renameat(dirfd, tmp, dirfd, "config.json") < 0)
		rc = -errno;
	if (rc == 0)
		rc = udos__fsync_dir(dirfd, ".");
	if (rc < 0)
		return udos__err(rc, "cannot write '%s/config.json': %s", path,
				 udos_strerror(rc));
	return 0;
}

int udos__dos_sqlerr(sqlite3 *db, int src, const char *what,
		     const char *path)
{
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(src);
	int code;

	switch (src & 0xff) {
	case SQLITE_FULL:
		code = -ENOSPC;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
	case SQLITE_ERROR: /* no such table, no such column */
		code = UDOS_ECORRUPT;
		break;
	case SQLITE_IOERR:
		code = -EIO;
		break;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		code = -EACCES;
		break;
	case SQLITE_NOMEM:
		code = -ENOMEM;
		break;
	default:
		code = UDOS_EINDEX;
	}
	return udos__err(code, "cannot %s '%s': %s", what, path, msg);
}
