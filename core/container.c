/* container.c - on-disk layout, config.json, open/close, writer lock. */
#include "internal.h"
#include "remote_manifest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_NAME "config.json"
#define DEFAULT_PACK_TARGET (4ull << 30)
#define DEFAULT_COMPRESSION "zstd:1"
#define MAX_CONFIG_SIZE 65536
#define GEN_NAME "index.gen"

int udos_size_parse(uint64_t *out, const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return udos__err(-EINVAL, "bad size '%s'", s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return udos__err(-EINVAL, "bad size '%s'", s);
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return udos__err(-EINVAL, "bad size '%s'", s);
	*out = (uint64_t)v << shift;
	return 0;
}

static uint64_t read_gen(udos_store *st);
static void release_lock(udos_store *st);
static void bump_gen(udos_store *st);

/* ---- config.json ------------------------------------------------------- */

static void uuid_fmt(char out[37], const uint8_t u[16])
{
	static const char d[] = "0123456789abcdef";
	int j = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[j++] = '-';
		out[j++] = d[u[i] >> 4];
		out[j++] = d[u[i] & 15];
	}
	out[j] = '\0';
}

int udos__uuid4(uint8_t u[16])
{
	if (getrandom(u, 16, 0) != 16)
		return udos__err(-EIO, "no random bytes for a container id");
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* variant 1 */
	return 0;
}

static int uuid_parse(uint8_t u[16], const char *s)
{
	int j = 0;

	for (int i = 0; i < 36; i++) {
		int hi, lo;
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
			continue;
		}
		if (!isxdigit((unsigned char)s[i]) ||
		    !isxdigit((unsigned char)s[i + 1]))
			return -1;
		hi = isdigit((unsigned char)s[i]) ? s[i] - '0'
						   : (tolower(s[i]) - 'a' + 10);
		lo = isdigit((unsigned char)s[i + 1])
			     ? s[i + 1] - '0'
			     : (tolower(s[i + 1]) - 'a' + 10);
		u[j++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return s[36] == '\0' && j == 16 ? 0 : -1;
}

int udos__config_write(int dirfd, const udos_store_info *in)
{
	char text[1024], tmp[] = "config.json.tmp";
	int len, fd, rc;

	len = snprintf(text, sizeof(text),
		       "{\n"
		       "  \"udos_format_version\": %d,\n"
		       "  \"container_id\": \"%s\",\n"
		       "  \"hash_type\": \"%s\",\n"
		       "  \"loose_prefix_len\": %d,\n"
		       "  \"pack_size_target\": %" PRIu64 ",\n"
		       "  \"compression\": \"%s\"\n"
		       "}\n",
		       in->format_version, in->container_id, in->hash_type,
		       in->loose_prefix_len, in->pack_size_target,
		       in->compression);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	if (fd < 0)
		return udos__err(-errno, "cannot write '%s': %s", tmp,
				 udos_strerror(-errno));
	rc = udos__write_all(fd, text, (size_t)len);
	if (rc == 0)
		rc = udos__fsync(fd);
	close(fd);
	if (rc == 0 && renameat(dirfd, tmp, dirfd, CONFIG_NAME) < 0)
		rc = -errno;
	if (rc == 0)
		rc = udos__fsync_dir(dirfd, ".");
	if (rc < 0)
		return udos__err(rc, "cannot write config.json: %s",
				 udos_strerror(rc));
	return 0;
}

static bool copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/*
 * Parse config.json's text into *info (defaults already there). On failure
 * returns UDOS_ENOTSTORE with `why` saying what is wrong, without the path
 * (config_load adds it).
 */
static int config_parse(udos_store_info *info, const char *text, char *why,
			size_t cap)
{
	const char *p = udos__json_ws(text), *q, *start = text;
	bool have_ver = false, have_id = false;

	if (!*p) {
		snprintf(why, cap, " is empty");
		return UDOS_ENOTSTORE;
	}
	if (*p != '{')
		goto syntax;
	p++;
	for (;;) {
		char key[64], sval[128];
		unsigned long long ival = 0;
		const char *want = NULL;
		bool is_str;

		p = udos__json_ws(p);
		if (*p == '}')
			break;
		if (!(q = udos__json_str(p, key, sizeof(key))))
			goto syntax;
		p = q;
		p = udos__json_ws(p);
		if (*p++ != ':')
			goto syntax;
		p = udos__json_ws(p);
		is_str = *p == '"';
		if (is_str) {
			if (!(q = udos__json_str(p, sval, sizeof(sval))))
				goto syntax;
			p = q;
		} else {
			char *end;
			if (!isdigit((unsigned char)*p))
				goto syntax;
			ival = strtoull(p, &end, 10);
			p = end;
		}
		if (!strcmp(key, "udos_format_version")) {
			want = is_str ? "an integer" : NULL;
			info->format_version = (int)(ival > 1000000 ? 1000000
								   : ival);
			have_ver = !is_str;
		} else if (!strcmp(key, "container_id")) {
			want = !is_str ? "a string" : NULL;
			if (is_str && !copy_str(info->container_id,
						sizeof(info->container_id),
						sval))
				want = "a UUID";
			have_id = is_str;
		} else if (!strcmp(key, "hash_type")) {
			want = !is_str ? "a string" : NULL;
			if (is_str && !copy_str(info->hash_type,
						sizeof(info->hash_type), sval))
				want = "a hash name";
		} else if (!strcmp(key, "loose_prefix_len")) {
			want = is_str ? "an integer" : NULL;
			info->loose_prefix_len = (int)(ival > 99 ? 99 : ival);
		} else if (!strcmp(key, "pack_size_target")) {
			want = is_str ? "an integer" : NULL;
			info->pack_size_target = ival;
		} else if (!strcmp(key, "compression")) {
			want = !is_str ? "a string" : NULL;
			if (is_str && !copy_str(info->compression,
						sizeof(info->compression),
						sval))
				want = "a codec name";
		}
		/* unknown keys are ignored: later minor versions may add */
		if (want) {
			snprintf(why, cap, ": %s is not %s", key, want);
			return UDOS_ENOTSTORE;
		}
		p = udos__json_ws(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '}')
			break;
		goto syntax;
	}
	if (*udos__json_ws(p + 1)) {
		p = udos__json_ws(p + 1);
		goto syntax;
	}
	if (!have_ver || !have_id) {
		snprintf(why, cap, " has no %s", have_ver ? "container_id"
						      : "udos_format_version");
		return UDOS_ENOTSTORE;
	}
	return 0;
syntax:
	/* a flat object of strings and non-negative integers is all a
	 * config holds: anything else is damage */
	if (!*p || (*p == '"' && !strchr(p + 1, '"')))
		snprintf(why, cap, " is not valid JSON: it ends early (%zu "
			 "bytes)", strlen(start));
	else if (*p == '"')
		snprintf(why, cap, " is not a udos config: string at byte %zu "
			 "is unterminated, too long or escaped",
			 (size_t)(p - start));
	else
		snprintf(why, cap, " is not valid JSON: unexpected '%c' at "
			 "byte %zu", *p, (size_t)(p - start));
	return UDOS_ENOTSTORE;
}

static int config_load(udos_store *st)
{
	char text[MAX_CONFIG_SIZE + 1], why[160];
	udos_store_info *in = &st->info;
	int fd = openat(st->dirfd, CONFIG_NAME, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int rc;

	if (fd < 0) {
		if (errno == ENOENT)
			return udos__err(UDOS_ENOTSTORE, "'%s' is not a udos "
					 "container (no config.json)",
					 st->path);
		return udos__err(-errno, "cannot read '%s/config.json': %s",
				 st->path, udos_strerror(-errno));
	}
	n = udos__read_full(fd, text, sizeof(text));
	close(fd);
	if (n < 0)
		return udos__err((int)n, "cannot read '%s/config.json': %s",
				 st->path, udos_strerror((int)n));
	if (n > MAX_CONFIG_SIZE)
		return udos__err(UDOS_ENOTSTORE, "'%s/config.json' is over "
				 "%d bytes: not a udos config", st->path,
				 MAX_CONFIG_SIZE);
	text[n] = '\0';
	if (memchr(text, '\0', (size_t)n))
		return udos__err(UDOS_ENOTSTORE, "'%s/config.json' is not "
				 "valid JSON: it holds NUL bytes", st->path);
	memset(in, 0, sizeof(*in));
	snprintf(in->hash_type, sizeof(in->hash_type), "sha256");
	snprintf(in->compression, sizeof(in->compression), "%s",
		 DEFAULT_COMPRESSION);
	in->loose_prefix_len = 2;
	in->pack_size_target = DEFAULT_PACK_TARGET;
	rc = config_parse(in, text, why, sizeof(why));
	if (rc < 0)
		return udos__err(rc, "'%s/config.json'%s", st->path, why);
	if (in->format_version != UDOS_FORMAT_VERSION)
		return udos__err(UDOS_EFORMAT, "container '%s' has format "
				 "version %d; this udos reads version %d",
				 st->path, in->format_version,
				 UDOS_FORMAT_VERSION);
	if (udos_hash_type_parse(&st->hash_type, in->hash_type) < 0)
		return udos__err(UDOS_ENOTSTORE, "'%s/config.json': unknown "
				 "hash_type '%s'", st->path, in->hash_type);
	if (udos_codec_parse(&in->default_codec, &in->default_level,
			     in->compression) < 0)
		return udos__err(UDOS_ENOTSTORE, "'%s/config.json': unknown "
				 "compression '%s'", st->path,
				 in->compression);
	if (in->loose_prefix_len > 8)
		return udos__err(UDOS_ENOTSTORE, "'%s/config.json': "
				 "loose_prefix_len %d is out of range 0..8",
				 st->path, in->loose_prefix_len);
	if (in->pack_size_target == 0)
		return udos__err(UDOS_ENOTSTORE, "'%s/config.json': "
				 "pack_size_target is 0", st->path);
	if (uuid_parse(st->uuid, in->container_id) < 0)
		return udos__err(UDOS_ENOTSTORE, "'%s/config.json': "
				 "container_id '%s' is not a UUID", st->path,
				 in->container_id);
	st->digest_size = udos_hash_digest_size(st->hash_type);
	return 0;
}

/* ---- init -------------------------------------------------------------- */

int udos_store_init(const char *path, const udos_init_opts *opts)
{
	static const udos_init_opts defaults = UDOS_INIT_OPTS_INIT;
	udos_store_info info;
	udos__index *ix = NULL;
	uint8_t uuid[16];
	char idx[4096];
	int dirfd = -1, hash, rc;

	UDOS_ASSERT_ARG(path);
	if (!opts)
		opts = &defaults;
	memset(&info, 0, sizeof(info));
	info.format_version = UDOS_FORMAT_VERSION;
	hash = opts->version >= 2 ? opts->hash_type : UDOS_HASH_SHA256;
	if (!udos_hash_type_name(hash))
		return udos__err(-EINVAL, "unknown hash type %d", hash);
	snprintf(info.hash_type, sizeof(info.hash_type), "%s",
		 udos_hash_type_name(hash));
	info.loose_prefix_len = opts->loose_prefix_len < 0
					? 2 : opts->loose_prefix_len;
	if (info.loose_prefix_len > 8)
		return udos__err(-EINVAL, "loose prefix length %d is out of "
				 "range 0..8", opts->loose_prefix_len);
	info.pack_size_target = opts->pack_size_target ? opts->pack_size_target
						       : DEFAULT_PACK_TARGET;
	snprintf(info.compression, sizeof(info.compression), "%s",
		 opts->compression ? opts->compression : DEFAULT_COMPRESSION);
	rc = udos_codec_parse(&info.default_codec, &info.default_level,
			      info.compression);
	if (rc < 0)
		return rc;
	/* store the canonical spelling ("zlib+1" -> "zlib:1") */
	if (info.default_codec == UDOS_CODEC_NONE)
		snprintf(info.compression, sizeof(info.compression), "none");
	else
		snprintf(info.compression, sizeof(info.compression), "%s:%d",
			 udos_codec_name(info.default_codec),
			 info.default_level);

	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return udos__err(-errno, "cannot create '%s': %s", path,
				 udos_strerror(-errno));
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return udos__err(-errno, "cannot open '%s': %s", path,
				 udos_strerror(-errno));
	if (faccessat(dirfd, CONFIG_NAME, F_OK, 0) == 0) {
		rc = udos__err(UDOS_EEXIST, "'%s' is already a udos "
			       "container", path);
		goto done;
	}
	rc = udos__dir_check_empty(dirfd, path);
	if (rc < 0)
		goto done;

	rc = udos__uuid4(uuid);
	if (rc < 0)
		goto done;
	uuid_fmt(info.container_id, uuid);

	const char *dirs[] = { "loose", "sandbox", "packs" };
	for (size_t i = 0; i < 3; i++) {
		if (mkdirat(dirfd, dirs[i], 0755) < 0) {
			rc = udos__err(-errno, "cannot create '%s/%s': %s",
				       path, dirs[i], udos_strerror(-errno));
			goto done;
		}
	}
	snprintf(idx, sizeof(idx), "%s/index", path);
	rc = udos__index_open(&ix, idx, true, true);
	udos__index_close(ix);
	if (rc < 0)
		goto done;
	/* each new folder's own entries, then (with config.json) the
	 * container's, then the container's entry in its parent: until that
	 * last one, a power cut can take the whole folder away */
	const char *synced[] = { "loose", "sandbox", "packs", "index" };
	for (size_t i = 0; i < 4; i++) {
		rc = udos__fsync_dir(dirfd, synced[i]);
		if (rc < 0) {
			rc = udos__err(rc, "cannot sync '%s/%s': %s", path,
				       synced[i], udos_strerror(rc));
			goto done;
		}
	}
	/* config.json last: a folder without it is not a container, so a
	 * crash during init never leaves a half-made one that opens */
	rc = udos__config_write(dirfd, &info);
	if (rc == 0 && (rc = udos__fsync_parent(path)) < 0)
		rc = udos__err(rc, "cannot sync the folder holding '%s': %s",
			       path, udos_strerror(rc));
done:
	close(dirfd);
	return rc;
}

/* ---- open / close ------------------------------------------------------ */

/* docs/FORMAT.md, "Backup folders": without RENAME_EXCHANGE a backup moves
 * index/ to index.old/, then index.new/ to index/. Cut between the two, the
 * previous index is the one to use: it and the packs, which only grew, are
 * the previous backup. A read-only folder is left as it is (the open then
 * fails on the missing index). */
void udos__index_recover(int dirfd)
{
	if (faccessat(dirfd, "index", F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT)
		return;
	if (renameat(dirfd, "index.old", dirfd, "index") == 0)
		(void)udos__fsync_dir(dirfd, "."); /* else done again next time */
}

static int index_dir(char *out, size_t cap, const udos_store *st)
{
	if ((size_t)snprintf(out, cap, "%s/index", st->path) >= cap)
		return udos__err(-ENAMETOOLONG, "path too long '%s'", st->path);
	return 0;
}

int udos_store_open(udos_store **out, const char *path, unsigned flags)
{
	udos_store *st;
	char idx[4096];
	int rc;

	UDOS_ASSERT_ARG(out && path);
	*out = NULL;
	st = udos__calloc(1, sizeof(*st));
	if (!st)
		return udos__err(-ENOMEM, "out of memory");
	st->lockfd = -1;
	st->dirfd = -1;
	st->genfd = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_rwlock_init(&st->ixlock, NULL);
	udos__packcache_init(&st->packs);
	st->path = strdup(path);
	if (!st->path) {
		rc = -ENOMEM;
		goto fail;
	}
	st->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		if (errno == ENOENT)
			rc = udos__err(UDOS_ENOTSTORE, "'%s' does not exist",
				       path);
		else if (errno == ENOTDIR)
			rc = udos__err(UDOS_ENOTSTORE, "'%s' is not a folder",
				       path);
		else
			rc = udos__err(-errno, "cannot open '%s': %s", path,
				       udos_strerror(-errno));
		goto fail;
	}
	rc = config_load(st);
	if (rc < 0)
		goto fail;
	udos__index_recover(st->dirfd);
	st->genfd = openat(st->dirfd, GEN_NAME, O_RDWR | O_CREAT | O_CLOEXEC,
			   0644);
	if (st->genfd < 0) /* a read-only container: readers need no more */
		st->genfd = openat(st->dirfd, GEN_NAME, O_RDONLY | O_CLOEXEC);
	/* read before the index opens: whatever is written later is seen */
	st->seen_gen = read_gen(st);
	if (flags & UDOS_OPEN_NO_INDEX) {
		rc = 0;
	} else if (flags & UDOS_OPEN_WRITER) {
		rc = udos_store_lock_writer(st);
	} else {
		rc = index_dir(idx, sizeof(idx), st);
		if (rc == 0)
			rc = udos__index_open(&st->ix, idx, false, false);
	}
	if (rc < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	udos_store_close(st);
	return rc;
}

void udos_store_close(udos_store *st)
{
	if (!st)
		return;
	udos__index_close(st->ix);
	if (st->lockfd >= 0)
		release_lock(st); /* and the flock */
	if (st->genfd >= 0)
		close(st->genfd);
	udos__packcache_release(&st->packs);
	udos__remote_free(st->remote);
	if (st->dirfd >= 0)
		close(st->dirfd);
	pthread_mutex_destroy(&st->mu);
	pthread_rwlock_destroy(&st->ixlock);
	free(st->path);
	free(st);
}

/* take writer.lock (flock, pid written in it); called with st->mu held */
static int take_lock(udos_store *st)
{
	char pidbuf[32];
	int fd, len;

	fd = openat(st->dirfd, UDOS__LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC,
		    0644);
	if (fd < 0)
		return udos__err(-errno, "cannot open '%s/%s': %s", st->path,
				 UDOS__LOCK_NAME, udos_strerror(-errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		ssize_t n = udos__pread_full(fd, pidbuf, sizeof(pidbuf) - 1, 0);
		pidbuf[n > 0 ? n : 0] = '\0';
		pidbuf[strcspn(pidbuf, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK)
			return udos__err(UDOS_ELOCKED, "another process is "
					 "writing packs (pid %s) in '%s'",
					 pidbuf[0] ? pidbuf : "unknown",
					 st->path);
		return udos__err(-e, "cannot lock '%s/%s': %s", st->path,
				 UDOS__LOCK_NAME, udos_strerror(-e));
	}
	/* the pid, synced: after a power cut it still tells that a writer
	 * was at work (validate then calls what it left residue) */
	len = snprintf(pidbuf, sizeof(pidbuf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0 &&
	    udos__pwrite_all(fd, pidbuf, (size_t)len, 0) == 0)
		udos__fdatasync(fd);
	st->lockfd = fd;
	return 0;
}

bool udos__pid_running(long pid)
{
	return pid > 0 && !(kill((pid_t)pid, 0) < 0 && errno == ESRCH);
}

long udos__sandbox_owner(const char *name)
{
	char *end;
	long pid;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	pid = strtol(name, &end, 10);
	return *end == '-' && pid > 0 ? pid : 0;
}

int udos__store_last_writer(udos_store *st)
{
	char buf[32];
	ssize_t n;
	long pid;
	int fd;

	if (st->lockfd >= 0)
		return UDOS__WRITER_RUNNING; /* the caller */
	fd = openat(st->dirfd, UDOS__LOCK_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UDOS__WRITER_UNKNOWN;
	n = udos__pread_full(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n == 0)
		return UDOS__WRITER_CLOSED;
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid == (long)getpid() || udos__pid_running(pid))
		return UDOS__WRITER_RUNNING;
	return UDOS__WRITER_DIED;
}

/* a writer that closes says so: writer.lock emptied (no sync needed: a
 * lost truncate reads as a writer that died, the cautious answer) */
static void release_lock(udos_store *st)
{
	if (ftruncate(st->lockfd, 0) < 0) {
		/* read-only or full: it then reads as a writer that died */
	}
	close(st->lockfd);
	st->lockfd = -1;
}

int udos__store_lock_only(udos_store *st)
{
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	if (st->lockfd < 0)
		rc = take_lock(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int udos_store_lock_writer(udos_store *st)
{
	char idx[4096];
	udos__index *ix = NULL;
	int rc;

	pthread_mutex_lock(&st->mu);
	if (st->primary) {
		pthread_mutex_unlock(&st->mu);
		return 0;
	}
	if (st->lockfd < 0) {
		rc = take_lock(st);
		if (rc < 0)
			goto out;
	}
	rc = index_dir(idx, sizeof(idx), st);
	if (rc == 0)
		rc = udos__index_open(&ix, idx, true, false);
	if (rc < 0) {
		close(st->lockfd);
		st->lockfd = -1;
		goto out;
	}
	pthread_rwlock_wrlock(&st->ixlock);
	udos__index_close(st->ix);
	st->ix = ix;
	st->primary = true;
	pthread_rwlock_unlock(&st->ixlock);
	bump_gen(st);
	rc = 0;
out:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int udos_store_unlock_writer(udos_store *st)
{
	char idx[4096];
	udos__index *ix = NULL;
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	if (st->lockfd < 0)
		goto out;
	if (st->writer) {
		rc = udos__err(-EBUSY, "a pack writer is still open");
		goto out;
	}
	pthread_rwlock_wrlock(&st->ixlock);
	udos__index_close(st->ix);
	bump_gen(st); /* still the lock holder */
	st->ix = NULL;
	st->primary = false;
	rc = index_dir(idx, sizeof(idx), st);
	if (rc == 0)
		rc = udos__index_open(&ix, idx, false, false);
	st->ix = ix;
	pthread_rwlock_unlock(&st->ixlock);
	release_lock(st);
out:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

void udos_store_info_get(udos_store_info *out, const udos_store *st)
{
	*out = st->info;
}

void udos_store_recovery(udos_recovery *out, const udos_store *st)
{
	*out = st->recovery; /* written only while a writer opens */
}

int udos_store_hash_type(const udos_store *st)
{
	return st->hash_type;
}

size_t udos_store_digest_size(const udos_store *st)
{
	return st->digest_size;
}

const char *udos_store_path(const udos_store *st)
{
	return st->path;
}

/* ---- index access under the store lock --------------------------------- */

static uint64_t read_gen(udos_store *st)
{
	uint8_t b[8];
	ssize_t n;

	if (st->genfd < 0)
		return UINT64_MAX; /* unknown: always catch up */
	n = udos__pread_full(st->genfd, b, 8, 0);
	if (n == 0)
		return 0; /* no writer has written yet */
	return n == 8 ? udos__get_le64(b) : UINT64_MAX;
}

/* Tell readers in other processes that the index moved: after each batch,
 * and when a writer opens or closes it (RocksDB then writes a new manifest,
 * which a read-only instance opening at that moment can miss). Only the lock
 * holder writes it; no fsync, as it only matters to processes running now. */
static void bump_gen(udos_store *st)
{
	uint64_t gen = read_gen(st);
	uint8_t g[8];

	if (st->genfd < 0)
		return;
	udos__put_le64(g, gen == UINT64_MAX ? 1 : gen + 1);
	udos__pwrite_all(st->genfd, g, 8, 0);
}

/* A read-only handle catches up with the writer when the generation moved
 * (or is unknown). Called with ixlock read-held. */
static bool catch_up_if_stale(udos_store *st)
{
	uint64_t gen;

	if (!st->ix || st->primary)
		return false;
	gen = read_gen(st);
	if (gen == st->seen_gen && gen != UINT64_MAX)
		return false;
	if (udos__index_catch_up(st->ix) < 0)
		return false;
	st->seen_gen = gen;
	return true;
}

/*
 * Open the read-only index afresh. Catching up follows the writer's log and
 * manifest, but a writer that closes (flushing its memtable) and another
 * that opens (starting a new manifest) in between can leave a catching-up
 * instance without the new tables; a fresh open always sees them.
 */
static int reopen_secondary(udos_store *st)
{
	udos__index *ix = NULL;
	uint64_t gen;
	char idx[4096];
	int rc = 0;

	pthread_rwlock_wrlock(&st->ixlock);
	if (st->primary) /* became the writer meanwhile: sees everything */
		goto out;
	rc = index_dir(idx, sizeof(idx), st);
	/* open again if a writer moved on during the open (bounded: a
	 * writer at work is caught up with later anyway) */
	for (int tries = 0; rc == 0 && tries < 3; tries++) {
		gen = read_gen(st); /* before the open: later writes are
				       caught up */
		rc = udos__index_open(&ix, idx, false, false);
		if (rc < 0)
			break;
		udos__index_close(st->ix);
		st->ix = ix;
		st->seen_gen = gen;
		if (read_gen(st) == gen)
			break;
	}
out:
	pthread_rwlock_unlock(&st->ixlock);
	return rc;
}

static int get_locked(udos__rec *out, udos_store *st, const udos_oid *oid,
		      bool *caught_up)
{
	int rc;

	pthread_rwlock_rdlock(&st->ixlock);
	if (!st->ix) {
		rc = udos__err(UDOS_EINDEX, "index is not open");
	} else {
		rc = udos__index_get(out, st->ix, oid);
		/* a writer in another process may have indexed it since */
		if (caught_up) {
			*caught_up = rc == UDOS_ENOTFOUND &&
				     catch_up_if_stale(st);
			if (*caught_up)
				rc = udos__index_get(out, st->ix, oid);
		}
	}
	pthread_rwlock_unlock(&st->ixlock);
	return rc;
}

/*
 * A miss can be believed only from an index that has its tail: every
 * writer commits one before its first record. Without it while packs hold
 * records, the index lost its entries (a damaged or missing table reads
 * as keys that are not there): say so rather than "not found". Called
 * with ixlock read-held, after a miss; the common case is one look-up.
 */
static int miss_is_sound(udos_store *st)
{
	udos__tail t;
	char rel[64];
	struct stat sb;
	int rc = udos__index_get_tail(st->ix, &t);

	if (rc != UDOS_ENOTFOUND)
		return rc < 0 ? rc : UDOS_ENOTFOUND;
	for (int64_t id = udos__packs_max_id(st); id >= 0; id--) {
		udos__recs_relpath(rel, sizeof(rel), (uint32_t)id);
		if (fstatat(st->dirfd, rel, &sb, 0) == 0 &&
		    (uint64_t)sb.st_size > UDOS_RECS_HDR_SIZE)
			return udos__err(UDOS_ECORRUPT, "index of '%s' is "
					 "damaged, run 'udos repair' (it has "
					 "lost its entries: '%s' holds records "
					 "it does not know)", st->path, rel);
	}
	return UDOS_ENOTFOUND;
}

int udos__store_index_get(udos__rec *out, udos_store *st, const udos_oid *oid)
{
	bool caught_up = false;
	int rc = get_locked(out, st, oid, &caught_up);

	if (rc == UDOS_ENOTFOUND && caught_up) {
		/* still missing although the writer moved on: make sure */
		rc = reopen_secondary(st);
		if (rc == 0)
			rc = get_locked(out, st, oid, NULL);
	}
	if (rc != UDOS_ENOTFOUND)
		return rc;
	pthread_rwlock_rdlock(&st->ixlock);
	rc = st->ix ? udos__index_get_sure(out, st->ix, oid)
		    : udos__err(UDOS_EINDEX, "index is not open");
	if (rc == UDOS_ENOTFOUND)
		rc = miss_is_sound(st);
	pthread_rwlock_unlock(&st->ixlock);
	return rc;
}

int udos__store_is_deleted(udos_store *st, const udos_oid *oid)
{
	int rc;

	pthread_rwlock_rdlock(&st->ixlock);
	rc = st->ix ? udos__index_is_deleted(st->ix, oid)
		    : udos__err(UDOS_EINDEX, "index is not open");
	pthread_rwlock_unlock(&st->ixlock);
	return rc;
}

int udos__store_index_probe(udos__rec *out, udos_store *st,
			    const udos_oid *oid)
{
	return get_locked(out, st, oid, NULL);
}

int udos__store_index_get_many(udos_store *st, const udos_oid *const *oids,
			       size_t n, udos__rec *out, int *rcs)
{
	int rc = 0;

	pthread_rwlock_rdlock(&st->ixlock);
	if (st->ix)
		udos__index_get_many(st->ix, oids, n, out, rcs);
	else
		rc = udos__err(UDOS_EINDEX, "index is not open");
	pthread_rwlock_unlock(&st->ixlock);
	return rc;
}

int udos__store_refresh(udos_store *st)
{
	return st->primary ? 0 : reopen_secondary(st);
}

int udos__store_refresh_if_stale(udos_store *st)
{
	uint64_t gen = read_gen(st);

	if (st->primary || (gen == st->seen_gen && gen != UINT64_MAX))
		return 0;
	return reopen_secondary(st);
}

int udos__store_index_foreach(udos_store *st, udos__index_fn fn, void *ctx)
{
	uint64_t gen = read_gen(st);
	int rc;

	/* a listing must hold everything committed before it started: open
	 * afresh when a writer moved on (see reopen_secondary) */
	if (!st->primary && (gen != st->seen_gen || gen == UINT64_MAX)) {
		rc = reopen_secondary(st);
		if (rc < 0)
			return rc;
	}
	pthread_rwlock_rdlock(&st->ixlock);
	rc = st->ix ? udos__index_foreach(st->ix, fn, ctx)
		    : udos__err(UDOS_EINDEX, "index is not open");
	pthread_rwlock_unlock(&st->ixlock);
	return rc;
}

void udos__store_index_flush_start(udos_store *st)
{
	pthread_rwlock_rdlock(&st->ixlock);
	if (st->ix && st->primary)
		udos__index_flush_start(st->ix);
	pthread_rwlock_unlock(&st->ixlock);
}

int udos__store_index_write(udos_store *st, udos__batch *b, bool sync)
{
	int rc;

	pthread_rwlock_rdlock(&st->ixlock);
	rc = st->ix && st->primary
		     ? udos__index_write(st->ix, b, sync)
		     : udos__err(UDOS_EINDEX, "index write without the "
				 "writer lock");
	pthread_rwlock_unlock(&st->ixlock);
	/* after the batch, never before: a reader that sees the new value
	 * finds the batch */
	if (rc == 0)
		bump_gen(st);
	return rc;
}
