/* uring/walk.c - parallel directory walker feeding the reader's file queue. */
#include "ingest_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_THREADS 3

struct wdir {
	struct wdir *next;
	uint64_t index;            /* input entry it came from */
	struct ing_dirref *parent; /* a long path: open path + name_off in
				      it (see ing_dirref) */
	size_t name_off;
	char path[];
};

struct walk {
	struct ing_run *r;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wdir *stack;    /* LIFO: depth first keeps the stack short */
	unsigned busy;
	bool source_done;
	int err;
	/* (dev, ino) of folders seen, only with follow_symlinks */
	uint64_t *seen;
	size_t seen_cap, seen_len;
};

static struct wdir *wdir_new(const char *p, size_t len)
{
	struct wdir *d = malloc(sizeof(*d) + len + 1);

	if (!d)
		return NULL;
	memcpy(d->path, p, len);
	d->path[len] = '\0';
	d->next = NULL;
	d->parent = NULL;
	return d;
}

static void wdir_free(struct wdir *d)
{
	ing_dirref_put(d->parent);
	free(d);
}

/*
 * The folder being read, as a reference for an entry whose path (dlen +
 * 1 + nl bytes) is too long to open whole; NULL for a shorter one, or
 * when no descriptor is left (the open then fails, and says so).
 */
static struct ing_dirref *long_ref(struct ing_dirref **self, DIR *dir,
				   size_t dlen, size_t nl)
{
	int fd;

	if (dlen + 1 + nl < ING_LONG_PATH)
		return NULL;
	if (!*self) {
		fd = fcntl(dirfd(dir), F_DUPFD_CLOEXEC, 0);
		if (fd < 0 || !(*self = ing_dirref_new(fd)))
			return NULL;
	}
	return ing_dirref_get(*self);
}

/* Record a folder; false if it was seen before (a symlink loop). */
static bool seen_add(struct walk *wk, dev_t dev, ino_t ino)
{
	uint64_t a = (uint64_t)dev + 1, b = (uint64_t)ino;
	size_t i, mask;

	pthread_mutex_lock(&wk->mu);
	if ((wk->seen_len + 1) * 2 > wk->seen_cap) {
		size_t ncap = wk->seen_cap ? wk->seen_cap * 2 : 1024;
		uint64_t *n = calloc(ncap, 2 * sizeof(uint64_t));

		if (!n) {
			pthread_mutex_unlock(&wk->mu);
			return true;
		}
		for (i = 0; i < wk->seen_cap; i++) {
			size_t j;

			if (!wk->seen[2 * i])
				continue;
			j = (size_t)(wk->seen[2 * i] * 31 + wk->seen[2 * i + 1]) &
			    (ncap - 1);
			while (n[2 * j])
				j = (j + 1) & (ncap - 1);
			n[2 * j] = wk->seen[2 * i];
			n[2 * j + 1] = wk->seen[2 * i + 1];
		}
		free(wk->seen);
		wk->seen = n;
		wk->seen_cap = ncap;
	}
	mask = wk->seen_cap - 1;
	i = (size_t)(a * 31 + b) & mask;
	while (wk->seen[2 * i]) {
		if (wk->seen[2 * i] == a && wk->seen[2 * i + 1] == b) {
			pthread_mutex_unlock(&wk->mu);
			return false;
		}
		i = (i + 1) & mask;
	}
	wk->seen[2 * i] = a;
	wk->seen[2 * i + 1] = b;
	wk->seen_len++;
	pthread_mutex_unlock(&wk->mu);
	return true;
}

static void push_dir(struct walk *wk, struct wdir *d)
{
	pthread_mutex_lock(&wk->mu);
	d->next = wk->stack;
	wk->stack = d;
	pthread_cond_signal(&wk->cv);
	pthread_mutex_unlock(&wk->mu);
}

static int type_of_mode(mode_t m)
{
	if (S_ISREG(m))
		return UDOS_INGEST_TYPE_FILE;
	if (S_ISDIR(m))
		return UDOS_INGEST_TYPE_DIR;
	if (S_ISLNK(m))
		return UDOS_INGEST_TYPE_SYMLINK;
	if (S_ISFIFO(m))
		return UDOS_INGEST_TYPE_FIFO;
	if (S_ISSOCK(m))
		return UDOS_INGEST_TYPE_SOCKET;
	if (S_ISCHR(m))
		return UDOS_INGEST_TYPE_CHARDEV;
	if (S_ISBLK(m))
		return UDOS_INGEST_TYPE_BLOCKDEV;
	return UDOS_INGEST_TYPE_UNKNOWN;
}

static int type_of_dtype(unsigned char t)
{
	switch (t) {
	case DT_REG: return UDOS_INGEST_TYPE_FILE;
	case DT_DIR: return UDOS_INGEST_TYPE_DIR;
	case DT_LNK: return UDOS_INGEST_TYPE_SYMLINK;
	case DT_FIFO: return UDOS_INGEST_TYPE_FIFO;
	case DT_SOCK: return UDOS_INGEST_TYPE_SOCKET;
	case DT_CHR: return UDOS_INGEST_TYPE_CHARDEV;
	case DT_BLK: return UDOS_INGEST_TYPE_BLOCKDEV;
	default: return UDOS_INGEST_TYPE_UNKNOWN;
	}
}

static void wstat_fill(struct ing_wstat *ws, const struct stat *sb)
{
	ws->valid = true;
	ws->mode = (uint32_t)sb->st_mode;
	ws->dev = (uint64_t)sb->st_dev;
	ws->ino = (uint64_t)sb->st_ino;
	ws->size = (uint64_t)sb->st_size;
	ws->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 +
		       sb->st_mtim.tv_nsec;
	ws->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 +
		       sb->st_ctim.tv_nsec;
}

/* A report for an input entry that is not a file to read: skipped (a
 * symlink, fifo, ...) or a folder given as a path (REPORT_ALL only). */
static void report_entry(struct ing_run *r, const char *path, int type,
			 bool skipped, uint64_t index, bool named,
			 const struct stat *sb)
{
	struct ing_file *f = ing_file_new(path, strlen(path), NULL);

	if (!f) {
		ing_set_fatal(r, -ENOMEM);
		return;
	}
	f->type = type;
	f->skipped = skipped;
	f->index = index;
	f->follow = named;
	if (sb)
		wstat_fill(&f->ws, sb);
	ing_report(r, f);
}

static void skip(struct ing_run *r, int type, const char *path,
		 uint64_t index, bool named, const struct stat *sb)
{
	atomic_fetch_add(&r->skipped, 1);
	if (r->o.flags & UDOS_INGEST_REPORT_ALL) {
		report_entry(r, path, type, true, index, named, sb);
		return;
	}
	if (type == UDOS_INGEST_TYPE_SYMLINK)
		ing_warn(r, UDOS_INGEST_WARN_SYMLINK, 0, path,
			 "symlink skipped");
	else
		ing_warn(r, UDOS_INGEST_WARN_SPECIAL, 0, path,
			 "not a regular file, skipped");
}

/* A file answered by the stat cache: done, unread. */
static void cached_done(struct ing_run *r, struct ing_file *f)
{
	atomic_fetch_add(&r->bytes_hashed, f->size);
	ing_report(r, f);
}

/* Join a folder's path and an entry's name (malloc'd, NULL if out of
 * memory). */
static char *join(const char *dir, size_t dlen, const char *nm)
{
	size_t nl = strlen(nm);
	char *p = malloc(dlen + nl + 2);

	if (p) {
		memcpy(p, dir, dlen);
		p[dlen] = '/';
		memcpy(p + dlen + 1, nm, nl + 1);
	}
	return p;
}

/* Classify one path by stat; push it as a file or folder. `arg`: it is
 * the input entry `index` itself. */
static void classify(struct walk *wk, const char *path, size_t len, bool arg,
		     uint64_t index)
{
	struct ing_run *r = wk->r;
	struct stat sb;
	struct ing_file *f;
	struct wdir *d;

	if (lstat(path, &sb) < 0) {
		int e = -errno;

		if (arg) {
			f = ing_file_new(path, len, NULL);
			if (f) {
				f->follow = true;
				f->index = index;
				atomic_fetch_add(&r->files_total, 1);
				ing_file_fail(r, f, e, "stat '%s': %s", path,
					      strerror(-e));
			}
		} else {
			ing_warn(r, UDOS_INGEST_WARN_WALK, e, path,
				 "cannot stat: %s", strerror(-e));
		}
		return;
	}
	if (S_ISLNK(sb.st_mode)) {
		/* a symlink named by the caller is followed, like find -H;
		 * one met while walking only with follow_symlinks */
		if (!r->o.follow_symlinks && !arg) {
			skip(r, UDOS_INGEST_TYPE_SYMLINK, path, index, arg,
			     &sb);
			return;
		}
		if (stat(path, &sb) < 0) {
			int e = -errno;

			if (arg) {
				f = ing_file_new(path, len, NULL);
				if (f) {
					f->follow = true;
					f->index = index;
					f->type = UDOS_INGEST_TYPE_SYMLINK;
					atomic_fetch_add(&r->files_total, 1);
					ing_file_fail(r, f, e,
						      "dangling symlink '%s': "
						      "%s", path,
						      strerror(-e));
				}
				return;
			}
			ing_warn(r, UDOS_INGEST_WARN_WALK, e, path,
				 "dangling symlink: %s", strerror(-e));
			return;
		}
	}
	if (S_ISREG(sb.st_mode)) {
		f = ing_file_new(path, len, NULL);
		if (!f) {
			ing_set_fatal(r, -ENOMEM);
			return;
		}
		f->follow = arg;
		f->index = index;
		wstat_fill(&f->ws, &sb);
		atomic_fetch_add(&r->files_total, 1);
		atomic_fetch_add(&r->bytes_total, (uint64_t)sb.st_size);
		if (ing_cache_hit(r, f)) {
			cached_done(r, f);
			return;
		}
		if (!ing_queue_push(&r->files, &f->node))
			ing_file_free(r, f);
		ing_wake(r);
	} else if (S_ISDIR(sb.st_mode)) {
		if (arg && (r->o.flags & UDOS_INGEST_NO_RECURSE)) {
			f = ing_file_new(path, len, NULL);
			if (f) {
				f->follow = true;
				f->index = index;
				f->type = UDOS_INGEST_TYPE_DIR;
				wstat_fill(&f->ws, &sb);
				atomic_fetch_add(&r->files_total, 1);
				ing_file_fail(r, f, -EISDIR,
					      "'%s' is a directory", path);
			}
			return;
		}
		if (r->o.follow_symlinks && !seen_add(wk, sb.st_dev, sb.st_ino)) {
			ing_warn(r, UDOS_INGEST_WARN_LOOP, 0, path,
				 "folder already walked, skipped");
			if (arg && (r->o.flags & UDOS_INGEST_REPORT_ALL))
				report_entry(r, path, UDOS_INGEST_TYPE_DIR,
					     false, index, true, &sb);
			return;
		}
		d = wdir_new(path, len);
		if (!d) {
			ing_set_fatal(r, -ENOMEM);
			return;
		}
		d->index = index;
		if (arg && (r->o.flags & UDOS_INGEST_REPORT_ALL))
			report_entry(r, path, UDOS_INGEST_TYPE_DIR, false,
				     index, true, &sb);
		push_dir(wk, d);
	} else {
		skip(r, type_of_mode(sb.st_mode), path, index, arg, &sb);
	}
}

struct ent {
	ino_t ino;
	struct ing_file *f;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static void walk_dir(struct walk *wk, struct wdir *d)
{
	struct ing_run *r = wk->r;
	size_t dlen = strlen(d->path);
	struct ent *ents = NULL;
	size_t n = 0, cap = 0, i;
	uint64_t bytes = 0;
	struct ing_dirref *self = NULL;
	struct dirent *de;
	struct stat sb;
	DIR *dir;
	int fd;

	/* no O_NOFOLLOW: a folder named by the caller may be a symlink */
	if (d->parent)
		fd = openat(d->parent->fd, d->path + d->name_off,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else
		fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		ing_warn(r, UDOS_INGEST_WARN_WALK, -e, d->path,
			 "cannot read folder: %s", strerror(e));
		return;
	}
	while (dlen > 1 && d->path[dlen - 1] == '/')
		dlen--;
	while (!atomic_load(&r->stop) && (errno = 0, de = readdir(dir))) {
		const char *nm = de->d_name;
		unsigned char t = de->d_type;

		if (nm[0] == '.' &&
		    (!nm[1] || (nm[1] == '.' && !nm[2])))
			continue;
		if (t == DT_UNKNOWN || (t == DT_LNK && r->o.follow_symlinks) ||
		    (t == DT_DIR && r->o.follow_symlinks)) {
			char *p = join(d->path, dlen, nm);

			if (!p) {
				ing_set_fatal(r, -ENOMEM);
				break;
			}
			classify(wk, p, strlen(p), false, d->index);
			free(p);
			continue;
		}
		if (t == DT_DIR) {
			size_t nl = strlen(nm);
			struct wdir *sub = malloc(sizeof(*sub) + dlen + nl + 2);

			if (!sub) {
				ing_set_fatal(r, -ENOMEM);
				break;
			}
			memcpy(sub->path, d->path, dlen);
			sub->path[dlen] = '/';
			memcpy(sub->path + dlen + 1, nm, nl + 1);
			sub->parent = long_ref(&self, dir, dlen, nl);
			sub->name_off = dlen + 1;
			sub->index = d->index;
			push_dir(wk, sub);
			continue;
		}
		if (t != DT_REG) {
			/* the kind is in the folder entry: no stat */
			char *p = join(d->path, dlen, nm);

			skip(r, type_of_dtype(t), p ? p : nm, d->index, false,
			     NULL);
			free(p);
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			struct ent *ne = realloc(ents, nc * sizeof(*ents));

			if (!ne) {
				ing_set_fatal(r, -ENOMEM);
				break;
			}
			ents = ne;
			cap = nc;
		}
		ents[n].ino = de->d_ino;
		ents[n].f = ing_file_new(d->path, dlen, nm);
		if (!ents[n].f) {
			ing_set_fatal(r, -ENOMEM);
			break;
		}
		ents[n].f->index = d->index;
		/* for the progress total, the report and the stat cache (the
		 * reader takes its own size): a file gone meanwhile counts
		 * 0 */
		if (fstatat(dirfd(dir), nm, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			wstat_fill(&ents[n].f->ws, &sb);
			if (ing_cache_hit(r, ents[n].f)) {
				/* known unchanged: straight to the report */
				atomic_fetch_add(&r->files_total, 1);
				atomic_fetch_add(&r->bytes_total,
						 (uint64_t)sb.st_size);
				cached_done(r, ents[n].f);
				ents[n].f = NULL;
				continue;
			}
			bytes += (uint64_t)sb.st_size;
		}
		ents[n].f->dref = long_ref(&self, dir, dlen, strlen(nm));
		ents[n].f->name_off = dlen + 1;
		n++;
	}
	if (errno && !atomic_load(&r->stop))
		ing_warn(r, UDOS_INGEST_WARN_WALK, -errno, d->path,
			 "error reading folder: %s", strerror(errno));
	closedir(dir);
	ing_dirref_put(self); /* the entries hold their own references */
	/* Inode order: on ext4 and xfs it is close to disk order, which is
	 * what a cold read wants. */
	if (n > 1)
		qsort(ents, n, sizeof(*ents), ent_cmp);
	for (i = 0; i + 1 < n; i++)
		ents[i].f->node.next = &ents[i + 1].f->node;
	if (n && !atomic_load(&r->stop)) {
		atomic_fetch_add(&r->files_total, n);
		atomic_fetch_add(&r->bytes_total, bytes);
		if (!ing_queue_push_list(&r->files, &ents[0].f->node,
					 &ents[n - 1].f->node, n)) {
			for (i = 0; i < n; i++)
				ing_file_free(r, ents[i].f);
		}
		ing_wake(r);
	} else {
		for (i = 0; i < n; i++)
			ing_file_free(r, ents[i].f);
	}
	free(ents);
}

static void *walk_thread(void *arg)
{
	struct walk *wk = arg;
	struct wdir *d;

	pthread_setname_np(pthread_self(), "udos-walk");

	pthread_mutex_lock(&wk->mu);
	for (;;) {
		while (!wk->stack && !(wk->source_done && !wk->busy))
			pthread_cond_wait(&wk->cv, &wk->mu);
		if (!wk->stack)
			break;
		d = wk->stack;
		wk->stack = d->next;
		wk->busy++;
		pthread_mutex_unlock(&wk->mu);
		if (!atomic_load(&wk->r->stop))
			walk_dir(wk, d);
		wdir_free(d);
		pthread_mutex_lock(&wk->mu);
		wk->busy--;
		if (!wk->stack && !wk->busy)
			pthread_cond_broadcast(&wk->cv);
	}
	pthread_mutex_unlock(&wk->mu);
	return NULL;
}

int ing_walk_run(struct ing_run *r, ing_next_fn next, void *ctx)
{
	struct walk wk = { .r = r };
	pthread_t tids[WALK_THREADS];
	unsigned nt = 0, i;
	uint64_t index = 0;
	const char *p;
	int rc = 0;

	pthread_mutex_init(&wk.mu, NULL);
	pthread_cond_init(&wk.cv, NULL);
	for (i = 0; i < WALK_THREADS; i++) {
		if (pthread_create(&tids[nt], NULL, walk_thread, &wk) == 0)
			nt++;
	}
	if (!nt) {
		rc = -EAGAIN;
		goto done;
	}
	while (!atomic_load(&r->stop)) {
		rc = next(ctx, &p);
		if (rc <= 0)
			break;
		rc = 0;
		classify(&wk, p, strlen(p), true, index++);
	}
done:
	pthread_mutex_lock(&wk.mu);
	wk.source_done = true;
	pthread_cond_broadcast(&wk.cv);
	pthread_mutex_unlock(&wk.mu);
	for (i = 0; i < nt; i++)
		pthread_join(tids[i], NULL);
	while (wk.stack) {
		struct wdir *d = wk.stack;

		wk.stack = d->next;
		wdir_free(d);
	}
	free(wk.seen);
	pthread_mutex_destroy(&wk.mu);
	pthread_cond_destroy(&wk.cv);
	atomic_store(&r->walk_done, true);
	ing_queue_close(&r->files);
	ing_wake(r);
	return rc;
}
