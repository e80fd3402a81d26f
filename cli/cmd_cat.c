/* cli/cmd_cat.c - `udos cat`: stream objects to stdout, verified. */
#include "cmd.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "idlist.h"
#include "opt.h"

struct cat_args {
	const char *files_from;
	uint64_t window;
};

#define A(f) offsetof(struct cat_args, f)
static const struct opt cat_opts[] = {
	{ 0, "files-from", OPT_STR, A(files_from), "FILE|-", NULL,
	  "also write the ids listed in FILE, one a line" },
	{ 0, "window", OPT_SIZE, A(window), "SIZE", NULL,
	  "memory for reordering small objects (default 64M)" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd cat_cmd = {
	"cat", "[--files-from FILE|-] [--window SIZE] HASH... | -",
	"Write the content of each object to stdout, in order.",
	"Every object is hashed and checked against its id before any of it\n"
	"is written, or while it is streamed (objects over 1 MiB): a corrupt\n"
	"object fails with exit status 3 after the ones before it. An id has\n"
	"64 hex digits (40 in a sha1 container), or is a unique prefix of at\n"
	"least 8. A malformed id, a shorter prefix or one that matches several\n"
	"objects (they are listed) is a usage error (2) and nothing is\n"
	"printed; a missing object is reported, the others are still written,\n"
	"and the exit status is 1. '-' as a HASH is '--files-from -'.\n\n"
	"Many ids are read in storage order (by pack and offset), a window of\n"
	"them at a time, and written in the order given: small objects wait in\n"
	"at most --window bytes of memory, larger ones are streamed in turn.\n",
	cat_opts,
};

/* objects above this are streamed when their turn comes, never buffered */
#define CAT_LARGE (1u << 20)
#define CAT_WINDOW_DEFAULT (64u << 20)

static int write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int writev_all(struct iovec *v, int n)
{
	while (n > 0) {
		ssize_t w = writev(STDOUT_FILENO, v, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (char *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int stdout_failed(struct cli *cli, int rc)
{
	if (rc != -EPIPE)
		cli_msg(cli, strerror(-rc), "<stdout>");
	return EXIT_STORE;
}

/* One object through a stream reader: the path of large objects and of
 * whatever the bulk read could not hand over whole (it says why). */
static int cat_one(struct cli *cli, const udos_oid *oid, const char *hex,
		   char *buf, size_t len)
{
	udos_reader *r = NULL;
	bool refreshed = false;
	uint64_t written = 0;
	ssize_t got;
	int rc;

again:
	rc = udos_reader_open(&r, cli->st, oid, UDOS_READ_VERIFY);
	if (rc == UDOS_ENOTFOUND) {
		cli_msg(cli, "not found", hex);
		return EXIT_NO;
	}
	if (rc == -ESTALE && !refreshed) {
		got = rc;
		goto stale;
	}
	if (rc < 0)
		return cli_err(cli, rc, hex);
	while ((got = udos_reader_read(r, buf, len)) > 0) {
		written += (uint64_t)got;
		rc = write_all(buf, (size_t)got);
		if (rc < 0) {
			udos_reader_close(r);
			return stdout_failed(cli, rc);
		}
	}
	udos_reader_close(r);
	r = NULL;
stale:
	if (got == -ESTALE && !written && !refreshed) {
		/* a clone reading a pack gc removed: pull, look again once
		 * (on failure, the read's own message says what to do) */
		char keep[1024];
		snprintf(keep, sizeof(keep), "%s", udos_error_detail());
		refreshed = true;
		if (udos_remote_refresh(cli->st) == 0)
			goto again;
		cli_msg(cli, keep, NULL);
		return EXIT_STORE;
	}
	if (got < 0) {
		/* corrupt or unreadable mid-stream: part was written */
		cli_err(cli, (int)got, hex);
		return EXIT_STORE;
	}
	return 0;
}

/* ---- many ids: read a chunk in storage order, write it in input order -- */

enum part_state {
	PART_STREAM = 0, /* not read whole: stream it in turn */
	PART_HAVE,       /* verified bytes in the arena */
	PART_MISSING,
};

struct part {
	size_t off, len;
	int state; /* enum part_state */
};

struct chunk {
	struct part *p;
	uint8_t *arena;
	size_t alen, acap;
	uint64_t seen_bytes; /* of the objects found, each capped at LARGE */
	size_t seen;
};

/* read_many callback: the whole object into the arena, verified, or left
 * for the stream path */
static int chunk_fn(void *ctx, size_t index, const udos_oid *oid,
		    const udos_meta *meta, udos_reader *r)
{
	struct chunk *c = ctx;
	struct part *p = &c->p[index];
	size_t len = 0;
	ssize_t k;

	(void)oid;
	if (!r) {
		p->state = PART_MISSING;
		return 0;
	}
	c->seen++;
	c->seen_bytes += meta->size < CAT_LARGE ? meta->size : CAT_LARGE;
	if (meta->size > CAT_LARGE || meta->size >= c->acap - c->alen)
		return 0;
	/* read to the end (a byte to spare: a read of 0 bytes proves
	 * nothing): the read that returns 0 has checked the hash */
	do {
		k = udos_reader_read(r, c->arena + c->alen + len,
				     c->acap - c->alen - len);
		if (k > 0)
			len += (size_t)k;
	} while (k > 0 && len <= meta->size);
	if (k != 0 || len != meta->size)
		return 0; /* the stream path reads it again and says why */
	p->off = c->alen;
	p->len = len;
	p->state = PART_HAVE;
	c->alen += len;
	return 0;
}

/* Write v[0..n) in order; EXIT_* status (the worst of them) */
static int chunk_write(struct cli *cli, struct chunk *c, const udos_oid *v,
		       size_t n, char *buf, size_t blen)
{
	struct iovec iov[IOV_MAX < 1024 ? IOV_MAX : 1024];
	int niov = 0, rc, ret = 0;

	for (size_t i = 0; i < n; i++) {
		const struct part *p = &c->p[i];
		char hex[UDOS_OID_HEXSZ + 1];

		if (p->state == PART_HAVE) {
			if (!p->len)
				continue;
			iov[niov].iov_base = c->arena + p->off;
			iov[niov].iov_len = p->len;
			if (++niov < (int)(sizeof(iov) / sizeof(iov[0])))
				continue;
		}
		rc = writev_all(iov, niov);
		niov = 0;
		if (rc < 0)
			return stdout_failed(cli, rc);
		if (p->state == PART_HAVE)
			continue;
		cli_fmt_oid(cli, hex, &v[i]);
		if (p->state == PART_MISSING) {
			cli_msg(cli, "not found", hex);
			ret = EXIT_NO;
			continue;
		}
		rc = cat_one(cli, &v[i], hex, buf, blen);
		if (rc == EXIT_STORE)
			return rc;
		if (rc)
			ret = rc;
	}
	rc = writev_all(iov, niov);
	if (rc < 0)
		return stdout_failed(cli, rc);
	return ret;
}

/* One piece of a chunk, read by its own thread into its part of the
 * window (a store may be read by several threads at once). */
struct piece {
	pthread_t tid;
	udos_store *st;
	const udos_oid *ids;
	size_t n;
	struct chunk c;
	int rc;
	bool started;
};

static void *piece_run(void *arg)
{
	struct piece *pc = arg;

	pc->c.alen = 0;
	pc->c.seen = 0;
	pc->c.seen_bytes = 0;
	memset(pc->c.p, 0, pc->n * sizeof(*pc->c.p));
	pc->rc = udos_object_read_many(pc->st, pc->ids, pc->n,
				       UDOS_READ_VERIFY, chunk_fn, &pc->c);
	if (pc->rc < 0) /* each id on its own, which says what failed */
		memset(pc->c.p, 0, pc->n * sizeof(*pc->c.p));
	return NULL;
}

/* Ids per chunk: as many as the window holds at the sizes seen so far. */
static size_t next_count(const struct piece *pc, size_t nt, size_t window,
			 size_t cur)
{
	uint64_t seen = 0, bytes = 0, avg;
	size_t n;

	for (size_t t = 0; t < nt; t++) {
		seen += pc[t].c.seen;
		bytes += pc[t].c.seen_bytes;
	}
	if (!seen)
		return cur;
	avg = bytes / seen + 1;
	n = (size_t)(window / avg);
	if (n < 256)
		n = 256;
	if (n > (1u << 20))
		n = 1u << 20;
	return n;
}

/* CAT_THREADS pieces per chunk: decompressing and hashing are most of the
 * work, and they run in parallel; output stays in input order. */
#define CAT_THREADS 2

static int cat_many(struct cli *cli, const struct idlist *l, size_t window,
		    char *buf, size_t blen)
{
	struct piece pc[CAT_THREADS];
	struct part *parts = NULL;
	uint8_t *arena;
	size_t count = 4096, at = 0, nt = CAT_THREADS, share;
	int rc = 0, ret = 0;

	arena = malloc(window);
	if (!arena)
		return cli_err(cli, -ENOMEM, NULL);
	share = window / nt;
	memset(pc, 0, sizeof(pc));
	for (size_t t = 0; t < nt; t++) {
		pc[t].st = cli->st;
		pc[t].c.arena = arena + t * share;
		pc[t].c.acap = share;
	}
	while (at < l->n) {
		size_t n = l->n - at < count ? l->n - at : count;
		struct part *np = realloc(parts, n * sizeof(*np));
		size_t off = 0;

		if (!np) {
			rc = cli_err(cli, -ENOMEM, NULL);
			break;
		}
		parts = np;
		for (size_t t = 0; t < nt; t++) {
			size_t k = n / nt + (t < n % nt);

			pc[t].ids = l->v + at + off;
			pc[t].n = k;
			pc[t].c.p = parts + off;
			pc[t].started = t > 0 && k &&
				pthread_create(&pc[t].tid, NULL, piece_run,
					       &pc[t]) == 0;
			off += k;
		}
		for (size_t t = 0; t < nt; t++)
			if (!pc[t].started)
				piece_run(&pc[t]);
		for (size_t t = 0; t < nt; t++)
			if (pc[t].started)
				pthread_join(pc[t].tid, NULL);
		for (size_t t = 0; t < nt && rc != EXIT_STORE; t++) {
			rc = chunk_write(cli, &pc[t].c, pc[t].ids, pc[t].n,
					 buf, blen);
			if (rc && rc != EXIT_STORE)
				ret = rc;
		}
		if (rc == EXIT_STORE)
			break;
		rc = 0;
		at += n;
		count = next_count(pc, nt, window, count);
	}
	free(parts);
	free(arena);
	return rc ? rc : ret;
}

int cmd_cat(struct cli *cli, int argc, char **argv)
{
	struct cat_args a = { 0 };
	struct idlist l = { 0 };
	size_t blen = 1 << 20;
	char *buf = NULL;
	int n, i, rc, ret = 0;

	n = opt_parse(&cat_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (!n && !a.files_from)
		return opt_usage_error(&cat_cmd, "missing HASH", NULL);
	for (i = 0; i < n; i++) {
		if (strcmp(argv[i], "-"))
			continue;
		if (a.files_from && strcmp(a.files_from, "-"))
			return opt_usage_error(&cat_cmd,
					       "'-' and --files-from FILE",
					       NULL);
		a.files_from = "-";
	}
	if (a.window > SIZE_MAX / 2)
		return opt_usage_error(&cat_cmd, "--window too large", NULL);
	/* the id length is the container's: open first, then check every
	 * id before writing anything */
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	l.dsz = udos_store_digest_size(cli->st);
	l.resolve_in = cli->st;
	for (i = 0; i < n && !rc; i++)
		if (strcmp(argv[i], "-"))
			rc = idlist_push(cli, &l, argv[i], strlen(argv[i]));
	if (!rc && a.files_from)
		rc = idlist_read(cli, &l, a.files_from);
	if (!rc) {
		buf = malloc(blen);
		if (!buf)
			rc = cli_err(cli, -ENOMEM, NULL);
	}
	if (l.missing)
		ret = EXIT_NO;
	if (!rc)
		rc = cat_many(cli, &l,
			      a.window ? (size_t)a.window : CAT_WINDOW_DEFAULT,
			      buf, blen);
	free(buf);
	free(l.v);
	if (rc == EXIT_STORE || rc == EXIT_USAGE)
		return rc;
	return rc ? rc : ret;
}
