/* core/restore.c - rebuild a tree from a manifest: objects read once each in
 * storage order, written to every path that names them. */
#include "udos/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define BUF_SIZE (1u << 20)
#define GROUP_FDS 32     /* files of one id written in one pass */
#define NO_NEXT SIZE_MAX
#define WORKERS 4           /* writer threads besides the reading one */
#define SMALL_MAX (1u << 20) /* objects up to this go to the writers whole */
#define INFLIGHT (64u << 20) /* bytes of such objects queued at most */

/* An object read whole, for a writer thread. */
struct job {
	struct job *next;
	size_t u;
	udos_meta meta;
	uint8_t *data;
};

/* The run, shared by the reading thread and the writers. */
struct rs {
	udos_store *st;
	const udos_manifest *m;
	const udos_restore_opts *o;
	int root;
	/* ids, each once; the entries naming id u chain from first[u] */
	udos_oid *uoid;
	size_t nu;
	size_t *first, *next;
	bool *done;
	pthread_mutex_t mu; /* everything below; the callbacks */
	pthread_cond_t work, room;
	struct job *head, *tail;
	uint64_t inflight;  /* bytes of queued jobs */
	bool closing;
	udos_restore_summary sum;
	udos_progress prog; /* files (bytes not counted) */
	int fatal;
	char fatal_detail[512];
};

/* One writer's own state: each thread opens its own folders (a folder
 * made by two at once is fine: mkdirat's EEXIST). */
struct rw {
	struct rs *rs;
	udos__destdir dd; /* its folders; dd.norm: the entry at hand */
	udos__hash *h;
	uint8_t *buf;
	char detail[512];
};

/* Where an object's bytes come from: a reader, or memory (a job). */
struct src {
	udos_reader *r;
	const uint8_t *mem;
};

static int fail(struct rw *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct rw *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
	return code;
}


/* ---- files ------------------------------------------------------------- */

static void report(struct rw *s, size_t e, int status, int code,
		   uint64_t size)
{
	udos_restore_file f = {
		.path = udos_manifest_entry(s->rs->m, e, NULL, NULL),
		.index = e,
		.status = status,
		.error = code,
		.detail = code ? s->detail : NULL,
		.size = size,
	};

	pthread_mutex_lock(&s->rs->mu);
	if (status == UDOS_RESTORE_WRITTEN) {
		s->rs->sum.written++;
		s->rs->sum.bytes_written += size;
	} else if (status == UDOS_RESTORE_SAME) {
		s->rs->sum.same++;
	} else {
		s->rs->sum.failed++;
	}
	if (s->rs->o->on_file)
		s->rs->o->on_file(s->rs->o->ctx, &f);
	s->rs->prog.done++;
	s->rs->prog.total = s->rs->sum.files;
	if (s->rs->o->progress)
		s->rs->o->progress(s->rs->o->ctx, &s->rs->prog);
	pthread_mutex_unlock(&s->rs->mu);
}

/* Is the regular file at fd the object (size checked by the caller)? */
static bool same_content(struct rw *s, int fd, const udos_oid *oid)
{
	udos_oid got;

	if (!s->h && udos__hash_new(&s->h, s->rs->st->hash_type) < 0)
		return false;
	udos__hash_reset(s->h);
	if (udos__hash_fd(&got, NULL, s->h, fd, s->buf, BUF_SIZE) < 0)
		return false;
	return !udos_oid_cmp(&got, oid);
}

/*
 * The common case in one system call: a new file whose folders exist, its
 * path shorter than PATH_MAX and no symlink on it (RESOLVE_BENEATH keeps
 * it inside dest, as the careful way does). -1 otherwise, whatever the
 * reason (it exists, a folder is missing, a symlink, no openat2): the
 * careful way then sorts it out and says what went wrong.
 */
static int create_beneath(struct rw *s, size_t nlen)
{
	struct open_how how = {
		.flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		.mode = 0666,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (nlen >= PATH_MAX)
		return -1;
	fd = syscall(SYS_openat2, s->rs->root, s->dd.norm, &how, sizeof(how));
	return fd >= 0 ? (int)fd : -1;
}

/*
 * Prepare entry e for writing: its folder open, its old file checked.
 * Returns 1 (with the new file's fd and the offset of its name in
 * s->dd.norm) when it must be written, 0 when it is done (SAME or
 * FAILED, reported).
 */
static int prepare(struct rw *s, size_t e, const udos_oid *oid,
		   const udos_meta *meta, int *fd_out, size_t *name_out)
{
	size_t plen, nlen = 0, name = 0;
	const char *p = udos_manifest_entry(s->rs->m, e, NULL, &plen);
	struct stat sb;
	int dfd, fd, rc;

	rc = udos__destdir_normalize(&s->dd, p, plen, &nlen, &name);
	if (rc < 0)
		goto failed;
	if (!meta || meta->loc == UDOS_LOC_MISSING) {
		rc = fail(s, UDOS_ENOTFOUND, "object not in the container");
		goto failed;
	}
	fd = create_beneath(s, nlen);
	if (fd >= 0) {
		*fd_out = fd;
		*name_out = name;
		return 1;
	}
	/* the careful way: the folder part norm[0..name-1) (name - 1 is its
	 * '/') one component at a time, then what is at the name */
	dfd = udos__destdir_get(&s->dd, s->dd.norm, name ? name - 1 : 0);
	if (dfd < 0) {
		rc = dfd;
		goto failed;
	}
	p = s->dd.norm + name;
	if (fstatat(dfd, p, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(sb.st_mode)) {
			rc = fail(s, -EISDIR, "a folder is in the way");
			goto failed;
		}
		if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == meta->size) {
			fd = openat(dfd, p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0) {
				bool same = same_content(s, fd, oid);

				close(fd);
				if (same) {
					report(s, e, UDOS_RESTORE_SAME, 0,
					       meta->size);
					return 0;
				}
			}
		}
		if (!S_ISREG(sb.st_mode) && unlinkat(dfd, p, 0) < 0) {
			rc = fail(s, -errno, "cannot replace: %s",
				  strerror(errno));
			goto failed;
		}
	}
	fd = openat(dfd, p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				    O_CLOEXEC, 0666);
	if (fd < 0) {
		rc = fail(s, -errno, "cannot create: %s", strerror(errno));
		goto failed;
	}
	*fd_out = fd;
	*name_out = name;
	return 1;
failed:
	report(s, e, UDOS_RESTORE_FAILED, rc, 0);
	return 0;
}

struct target {
	size_t e;
	int fd;
	int err; /* a write failed */
	char *name;   /* for unlink on failure (malloc'd file name) */
	char *dir;    /* normalized folder path, to find dfd again */
	size_t dlen;
};

static void target_release(struct target *t)
{
	if (t->fd >= 0)
		close(t->fd);
	free(t->name);
	free(t->dir);
	t->fd = -1;
	t->name = t->dir = NULL;
}

/* Remove a partly written file: its folder may have left the cache. */
static void target_unlink(struct rw *s, struct target *t)
{
	int dfd = udos__destdir_get(&s->dd, t->dir, t->dlen);

	if (dfd >= 0)
		unlinkat(dfd, t->name, 0);
}

/* Copy the object into every target's fd (one pass). */
static int copy_out(struct rw *s, const struct src *from,
		    const udos_meta *meta, struct target *t, size_t n)
{
	ssize_t got;

	if (from->mem) {
		for (size_t i = 0; i < n; i++)
			t[i].err = udos__write_all(t[i].fd, from->mem,
						   (size_t)meta->size);
		return 0;
	}
	while ((got = udos_reader_read(from->r, s->buf, BUF_SIZE)) > 0) {
		size_t live = 0;

		for (size_t i = 0; i < n; i++) {
			if (t[i].err)
				continue;
			t[i].err = udos__write_all(t[i].fd, s->buf,
						   (size_t)got);
			if (!t[i].err)
				live++;
		}
		if (!live)
			return 0;
	}
	return got < 0 ? (int)got : 0;
}

/* Write the targets t[0..n) of one id and report them. */
static void write_batch(struct rw *s, const struct src *from,
			const udos_meta *meta, struct target *t, size_t n)
{
	int rc = copy_out(s, from, meta, t, n);

	for (size_t i = 0; i < n; i++) {
		int code = rc < 0 ? rc : t[i].err;

		if (!code && close(t[i].fd) < 0)
			code = -errno;
		t[i].fd = -1;
		if (!code) {
			report(s, t[i].e, UDOS_RESTORE_WRITTEN, 0, meta->size);
			continue;
		}
		if (rc < 0) {
			const char *d = udos_error_detail();

			fail(s, code, "cannot read the object: %s",
			     d && d[0] ? d : udos_strerror(code));
		} else {
			fail(s, code, "write failed: %s", udos_strerror(code));
		}
		target_unlink(s, &t[i]);
		report(s, t[i].e, UDOS_RESTORE_FAILED, code, 0);
	}
}

static void set_fatal(struct rs *rs, int code, const char *detail)
{
	pthread_mutex_lock(&rs->mu);
	if (!rs->fatal) {
		rs->fatal = code;
		snprintf(rs->fatal_detail, sizeof(rs->fatal_detail), "%s",
			 detail);
	}
	pthread_mutex_unlock(&rs->mu);
}

/* Write a batch (rewinding the reader for every batch after the first),
 * then let its targets go. */
static void flush(struct rw *s, const struct src *from, const udos_meta *meta,
		  struct target *t, size_t n, bool rewind)
{
	int rc = rewind && from->r ? udos_reader_seek(from->r, 0, SEEK_SET,
						      NULL) : 0;

	for (size_t i = 0; rc < 0 && i < n; i++)
		t[i].err = rc;
	write_batch(s, from, meta, t, n);
	for (size_t i = 0; i < n; i++)
		target_release(&t[i]);
}

/* Every entry naming id u: check, then write those that need it, in
 * passes of GROUP_FDS files (the reader rewound between passes). */
static int do_id(struct rw *s, size_t u, const udos_meta *meta,
		 const struct src *from)
{
	struct target t[GROUP_FDS];
	size_t n = 0;
	bool rewind = false;

	for (size_t e = s->rs->first[u]; e != NO_NEXT; e = s->rs->next[e]) {
		size_t name = 0;
		int fd = -1;

		if (prepare(s, e, &s->rs->uoid[u],
			    from->r || from->mem ? meta : NULL, &fd,
			    &name) <= 0)
			continue;
		t[n] = (struct target){ .e = e, .fd = fd };
		t[n].name = strdup(s->dd.norm + name);
		t[n].dlen = name ? name - 1 : 0;
		t[n].dir = malloc(t[n].dlen + 1);
		if (!t[n].name || !t[n].dir) {
			target_release(&t[n]);
			set_fatal(s->rs, -ENOMEM, "out of memory");
			return -ENOMEM;
		}
		memcpy(t[n].dir, s->dd.norm, t[n].dlen);
		t[n].dir[t[n].dlen] = '\0';
		if (++n < GROUP_FDS)
			continue;
		flush(s, from, meta, t, n, rewind);
		n = 0;
		rewind = true;
	}
	if (n)
		flush(s, from, meta, t, n, rewind);
	return 0;
}

/* Every entry of id u fails with the same cause (its object unreadable). */
static void fail_id(struct rw *s, size_t u, int code)
{
	const char *d = udos_error_detail();

	fail(s, code, "cannot read the object: %s",
	     d && d[0] ? d : udos_strerror(code));
	for (size_t e = s->rs->first[u]; e != NO_NEXT; e = s->rs->next[e])
		report(s, e, UDOS_RESTORE_FAILED, code, 0);
}

/* The whole (small) object into a malloc'd buffer: 0, or a negative code
 * (the reader's: a damaged record is found here). */
static int slurp(uint8_t **out, udos_reader *r, uint64_t size)
{
	uint8_t *b = malloc((size_t)size + 1); /* +1: a longer content shows */
	size_t got = 0;
	ssize_t n;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	while ((n = udos_reader_read(r, b + got, (size_t)size - got + 1)) > 0) {
		got += (size_t)n;
		if (got > size)
			break;
	}
	if (n < 0 || got != size) {
		free(b);
		return n < 0 ? (int)n : udos__err(UDOS_ECORRUPT,
						  "size is not the indexed one");
	}
	*out = b;
	return 0;
}

/* udos_bulk_fn, on the reading thread: small objects are read whole and
 * queued for the writers; large ones are streamed here. */
static int on_object(void *ctx, size_t index, const udos_oid *oid,
		     const udos_meta *meta, udos_reader *r)
{
	struct rw *s = ctx;
	struct rs *rs = s->rs;
	struct src from = { .r = r };
	struct job *j;
	int rc;

	(void)oid;
	rs->done[index] = true;
	if (!r || meta->size > SMALL_MAX || !WORKERS)
		return do_id(s, index, meta, &from);
	j = malloc(sizeof(*j));
	if (!j) {
		set_fatal(rs, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	rc = slurp(&j->data, r, meta->size);
	if (rc < 0) {
		free(j);
		if (rc == -ENOMEM) {
			set_fatal(rs, rc, "out of memory");
			return rc;
		}
		fail_id(s, index, rc);
		return 0;
	}
	j->u = index;
	j->meta = *meta;
	j->next = NULL;
	pthread_mutex_lock(&rs->mu);
	while (rs->inflight && rs->inflight + meta->size > INFLIGHT)
		pthread_cond_wait(&rs->room, &rs->mu);
	rs->inflight += meta->size;
	if (rs->tail)
		rs->tail->next = j;
	else
		rs->head = j;
	rs->tail = j;
	pthread_cond_signal(&rs->work);
	rc = rs->fatal;
	pthread_mutex_unlock(&rs->mu);
	return rc;
}

static void *writer(void *arg)
{
	struct rw *s = arg;
	struct rs *rs = s->rs;
	struct job *j;
	bool stop;

	pthread_setname_np(pthread_self(), "udos-restore");
	for (;;) {
		pthread_mutex_lock(&rs->mu);
		while (!rs->head && !rs->closing)
			pthread_cond_wait(&rs->work, &rs->mu);
		j = rs->head;
		if (j && !(rs->head = j->next))
			rs->tail = NULL;
		stop = rs->fatal != 0;
		pthread_mutex_unlock(&rs->mu);
		if (!j)
			break;
		if (!stop) {
			struct src from = { .mem = j->data };

			do_id(s, j->u, &j->meta, &from);
		}
		pthread_mutex_lock(&rs->mu);
		rs->inflight -= j->meta.size;
		pthread_cond_signal(&rs->room);
		pthread_mutex_unlock(&rs->mu);
		free(j->data);
		free(j);
	}
	return NULL;
}

static int rw_init(struct rw *w, struct rs *rs)
{
	memset(w, 0, sizeof(*w));
	w->rs = rs;
	w->buf = udos__alloc(BUF_SIZE);
	if (!w->buf)
		return udos__err(-ENOMEM, "out of memory");
	return udos__destdir_init(&w->dd, rs->root, w->detail,
				  sizeof(w->detail));
}

static void rw_release(struct rw *w)
{
	udos__destdir_release(&w->dd);
	udos__hash_free(w->h);
	free(w->buf);
}

/* ---- plan ---------------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b, void *ctx)
{
	const udos_manifest *m = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	udos_oid ox, oy;
	int c;

	udos_manifest_entry(m, x, &ox, NULL);
	udos_manifest_entry(m, y, &oy, NULL);
	c = udos_oid_cmp(&ox, &oy);
	return c ? c : (x < y ? -1 : x > y);
}

/* Group the entries by id. */
static int plan(struct rs *s)
{
	size_t n = udos_manifest_count(s->m), *ord;
	size_t prev = NO_NEXT;

	s->first = malloc((n ? n : 1) * sizeof(size_t));
	s->next = malloc((n ? n : 1) * sizeof(size_t));
	s->uoid = malloc((n ? n : 1) * sizeof(udos_oid));
	s->done = calloc(n ? n : 1, 1);
	ord = malloc((n ? n : 1) * sizeof(size_t));
	if (!s->first || !s->next || !s->uoid || !s->done || !ord) {
		free(ord);
		return udos__err(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		ord[i] = i;
	qsort_r(ord, n, sizeof(*ord), entry_cmp, (void *)s->m);
	for (size_t i = 0; i < n; i++) {
		udos_oid oid;

		udos_manifest_entry(s->m, ord[i], &oid, NULL);
		s->next[ord[i]] = NO_NEXT;
		if (!s->nu || udos_oid_cmp(&s->uoid[s->nu - 1], &oid)) {
			s->uoid[s->nu] = oid;
			s->first[s->nu++] = ord[i];
		} else {
			s->next[prev] = ord[i];
		}
		prev = ord[i];
	}
	free(ord);
	return 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int udos_restore(udos_restore_summary *out, udos_store *st,
		 const udos_manifest *m, const char *dest,
		 const udos_restore_opts *opts)
{
	static const udos_restore_opts defaults = UDOS_RESTORE_OPTS_INIT;
	unsigned flags = UDOS__READ_LAZY;
	struct rs s = { .st = st, .m = m, .root = -1 };
	struct rw w[WORKERS + 1];
	pthread_t tids[WORKERS];
	unsigned nw = 0, nt = 0;
	double t0 = now_s();
	int rc;

	UDOS_ASSERT_ARG(st && m && dest);
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.work, NULL);
	pthread_cond_init(&s.room, NULL);
	s.o = opts ? opts : &defaults;
	if (s.o->verify)
		flags |= UDOS_READ_VERIFY;
	s.sum.files = udos_manifest_count(m);
	rc = udos__mkdir_p(AT_FDCWD, dest, 0777);
	if (rc < 0) {
		rc = udos__err(rc, "cannot make folder '%s': %s", dest,
			       udos_strerror(rc));
		goto done;
	}
	s.root = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.root < 0) {
		rc = udos__err(-errno, "cannot open folder '%s': %s", dest,
			       strerror(errno));
		goto done;
	}
	for (; nw < WORKERS + 1; nw++) {
		rc = rw_init(&w[nw], &s);
		if (rc < 0) {
			nw++;
			goto done;
		}
	}
	rc = plan(&s);
	if (rc < 0)
		goto done;
	/* w[0] is the reading thread's, w[1..] the writers' */
	for (unsigned i = 1; i < nw; i++)
		if (pthread_create(&tids[nt], NULL, writer, &w[i]) == 0)
			nt++;
	rc = udos_object_read_many(st, s.uoid, s.nu, flags, on_object, &w[0]);
	pthread_mutex_lock(&s.mu);
	s.closing = true;
	pthread_cond_broadcast(&s.work);
	pthread_mutex_unlock(&s.mu);
	for (unsigned i = 0; i < nt; i++)
		pthread_join(tids[i], NULL);
	nt = 0;
	if (rc < 0 && !s.fatal) {
		/* the bulk walk stopped on one object (a pack file missing
		 * or unreadable): take the rest one by one, so that each
		 * failure is its own entries' */
		for (size_t u = 0; u < s.nu && !s.fatal; u++) {
			struct src from = { 0 };

			if (s.done[u])
				continue;
			s.done[u] = true;
			rc = udos_reader_open(&from.r, st, &s.uoid[u], flags);
			if (rc < 0 && rc != UDOS_ENOTFOUND) {
				fail_id(&w[0], u, rc);
				continue;
			}
			do_id(&w[0], u, from.r ? udos_reader_meta(from.r) : NULL,
			      &from);
			udos_reader_close(from.r);
		}
		rc = 0;
	}
	if (s.fatal)
		rc = udos__err(s.fatal, "%s", s.fatal_detail);
done:
	if (nt) { /* not started: only a failed plan gets here with threads */
		pthread_mutex_lock(&s.mu);
		s.closing = true;
		pthread_cond_broadcast(&s.work);
		pthread_mutex_unlock(&s.mu);
		for (unsigned i = 0; i < nt; i++)
			pthread_join(tids[i], NULL);
	}
	s.sum.seconds = now_s() - t0;
	if (out)
		*out = s.sum;
	for (unsigned i = 0; i < nw; i++)
		rw_release(&w[i]);
	if (s.root >= 0)
		close(s.root);
	free(s.first);
	free(s.next);
	free(s.uoid);
	free(s.done);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.work);
	pthread_cond_destroy(&s.room);
	return rc;
}
