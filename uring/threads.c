/* uring/threads.c - the pread thread-pool reader, used where io_uring is not.
 *
 * Same boundaries as ring.c: a head of ING_HEAD bytes into a slot, then a
 * whole buffer up to ING_MED_MAX or a stream of ING_CHUNK pieces; the last
 * read asks for one byte more than fstat said to catch a growing file.
 */
#include "ingest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_THREADS 16

static void changed(struct ing_run *r, struct ing_file *f, uint64_t expect,
		    uint64_t got)
{
	ing_file_fail(r, f, UDOS_ECHANGED,
		      "'%s' changed while being read (size %llu, read %llu)",
		      f->path, (unsigned long long)expect,
		      (unsigned long long)got);
}

static void read_stream(struct ing_run *r, struct ing_file *f, int fd,
			uint64_t size)
{
	struct ing_stream *s;
	struct ing_chunk *c;
	uint64_t off = ING_HEAD;

	if (!ing_budget_take(&r->streams, 1)) {
		ing_file_fail(r, f, -ECANCELED, "'%s': ingest stopped",
			      f->path);
		return;
	}
	f->stat_size = size;
	c = calloc(1, sizeof(*c));
	s = c ? ing_stream_new(r, f) : NULL;
	if (!s) {
		free(c);
		ing_budget_give(&r->streams, 1);
		ing_file_fail(r, f, -ENOMEM, "'%s': out of memory", f->path);
		return;
	}
	/* from here on the appender owns f */
	c->slot = f->slot;
	f->slot = -1;
	c->data = ing_slot_ptr(r, c->slot);
	c->len = ING_HEAD;
	ing_stream_push(r, s, c);
	for (;;) {
		uint64_t left = size - off;
		size_t want = left < ING_CHUNK ? (size_t)left : ING_CHUNK;
		bool last = want == left;
		ssize_t n;

		if (!ing_stream_room(r, s, true)) {
			ing_stream_fail(r, s, -ECANCELED, "ingest stopped");
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->heap = malloc(want + 1);
		if (!c || !c->heap) {
			free(c);
			ing_stream_fail(r, s, -ENOMEM, "out of memory");
			return;
		}
		c->slot = -1;
		c->data = c->heap;
		c->last = last;
		n = udos__pread_full(fd, c->heap, want + (last ? 1 : 0), off);
		if (n < 0 || (size_t)n != want) {
			const char *p = f->path;

			ing_chunk_free(r, c);
			if (n < 0)
				ing_stream_fail(r, s, (int)n, "read '%s': %s",
						p, strerror((int)-n));
			else
				ing_stream_fail(r, s, UDOS_ECHANGED,
						"'%s' changed while being "
						"read (size %llu)",
						p, (unsigned long long)size);
			return;
		}
		c->len = want;
		off += want;
		ing_stream_push(r, s, c);
		if (last)
			return;
	}
}

static void read_one(struct ing_run *r, struct ing_file *f)
{
	struct stat sb;
	uint8_t *head;
	ssize_t n;
	int fd;

	f->slot = ing_slot_get(r, true);
	if (f->slot < 0) {
		ing_file_free(r, f);
		return;
	}
	head = ing_slot_ptr(r, f->slot);
	/* O_NONBLOCK: a fifo swapped in after the walk must not hang us (it
	 * has no effect on regular files) */
	fd = openat(ing_file_dirfd(f), ing_file_rel(f),
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK |
				   (r->o.follow_symlinks || f->follow ?
				    0 : O_NOFOLLOW));
	if (fd < 0) {
		ing_file_fail(r, f, -errno, "open '%s': %s", f->path,
			      strerror(errno));
		return;
	}
	n = udos__pread_full(fd, head, ING_HEAD, 0);
	if (n < 0) {
		ing_file_fail(r, f, (int)n, "read '%s': %s", f->path,
			      strerror((int)-n));
		goto done;
	}
	if (n < ING_HEAD) {
		f->data = head;
		f->len = (size_t)n;
		f->size = f->len;
		ing_dispatch_whole(r, f);
		goto done;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		ing_file_fail(r, f, -EINVAL, "'%s' is not a regular file",
			      f->path);
		goto done;
	}
	if ((uint64_t)sb.st_size < ING_HEAD) {
		changed(r, f, (uint64_t)sb.st_size, ING_HEAD);
		goto done;
	}
	if ((uint64_t)sb.st_size <= ING_MED_MAX) {
		uint64_t size = (uint64_t)sb.st_size;
		uint64_t ch = ing_charge(r, size + 1);

		if (!ing_budget_take(&r->budget, ch)) {
			ing_file_fail(r, f, -ECANCELED, "'%s': ingest stopped",
				      f->path);
			goto done;
		}
		f->charged = ch;
		f->heap = malloc(size + 1);
		if (!f->heap) {
			ing_file_fail(r, f, -ENOMEM, "'%s': out of memory",
				      f->path);
			goto done;
		}
		memcpy(f->heap, head, ING_HEAD);
		ing_slot_put(r, f->slot);
		f->slot = -1;
		n = udos__pread_full(fd, f->heap + ING_HEAD,
				     size - ING_HEAD + 1, ING_HEAD);
		if (n < 0) {
			ing_file_fail(r, f, (int)n, "read '%s': %s", f->path,
				      strerror((int)-n));
			goto done;
		}
		if ((uint64_t)n != size - ING_HEAD) {
			changed(r, f, size, ING_HEAD + (uint64_t)n);
			goto done;
		}
		f->data = f->heap;
		f->len = size;
		f->size = size;
		f->stat_size = size;
		ing_dispatch_whole(r, f);
		goto done;
	}
	read_stream(r, f, fd, (uint64_t)sb.st_size);
done:
	close(fd);
}

static void *reader_main(void *arg)
{
	struct ing_run *r = arg;
	struct ing_node *n;

	pthread_setname_np(pthread_self(), "udos-pread");

	while ((n = ing_queue_pop(&r->files, -1, NULL))) {
		if (atomic_load(&r->stop)) {
			ing_file_free(r, (struct ing_file *)n);
			continue;
		}
		read_one(r, (struct ing_file *)n);
	}
	return NULL;
}

int ing_threads_read(struct ing_run *r, unsigned nthreads)
{
	pthread_t *tids;
	const char *e = getenv("UDOS_INGEST_THREADS");
	unsigned i, started = 0;

	if (!nthreads)
		nthreads = e ? (unsigned)atoi(e) : DEFAULT_THREADS;
	if (!nthreads)
		nthreads = DEFAULT_THREADS;
	tids = calloc(nthreads, sizeof(*tids));
	if (!tids)
		return udos__err(-ENOMEM, "out of memory (reader threads)");
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&tids[started], NULL, reader_main, r) == 0)
			started++;
	}
	if (!started) {
		free(tids);
		return udos__err(-EAGAIN, "cannot start reader threads");
	}
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	return 0;
}
