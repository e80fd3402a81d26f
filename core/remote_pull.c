/* remote_pull.c - readers elsewhere: clone a container from its remote
 * alone (record files downloaded and checked, the index built from them,
 * pack data read through) and pull newer manifest generations into it. */
#include "remote_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PARALLEL 8
#define BATCH 20000

/* Download the record files of `add` into sandbox temp files, checked
 * against the manifest (size, SHA-256), then move each to packs/N.rec. */
static int fetch_recs(udos__s3 *s, udos_store *st, const udos__mpack **add,
		      size_t n)
{
	udos__s3_req *reqs = udos__calloc(n ? n : 1, sizeof(*reqs));
	udos__s3_req **rv = udos__calloc(n ? n : 1, sizeof(*rv));
	int *fds = udos__calloc(n ? n : 1, sizeof(*fds));
	char (*tmp)[64] = udos__calloc(n ? n : 1, sizeof(*tmp));
	int rc = 0;

	if (!reqs || !rv || !fds || !tmp) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		snprintf(tmp[i], sizeof(tmp[i]), "sandbox/%ld-pull-%zu",
			 (long)getpid(), i);
		fds[i] = openat(st->dirfd, tmp[i],
				O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fds[i] < 0) {
			rc = udos__err(-errno, "cannot create '%s/%s'",
				       st->path, tmp[i]);
			break;
		}
		udos__s3_req_init(&reqs[i], "GET", "");
		udos__mpack_key(reqs[i].key, sizeof(reqs[i].key), add[i], true);
		reqs[i].out_fd = fds[i];
		rv[i] = &reqs[i];
	}
	if (rc == 0)
		rc = udos__s3_run(s, rv, n, PARALLEL);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char sha[65], rel[64];
		if (reqs[i].status != 200) {
			rc = udos__s3_status_err(s, &reqs[i]);
			break;
		}
		if (reqs[i].pos != add[i]->rec_size ||
		    udos__sha256_fd(sha, fds[i], 0, add[i]->rec_size) < 0 ||
		    strcmp(sha, add[i]->rec_sha)) {
			rc = udos__err(UDOS_ECORRUPT, "'%s/%s' does not match "
				       "its manifest entry (size or SHA-256)",
				       udos__s3_url(s), reqs[i].key);
			break;
		}
		rc = udos__fsync(fds[i]);
		udos__recs_relpath(rel, sizeof(rel), add[i]->id);
		if (rc == 0 && renameat(st->dirfd, tmp[i], st->dirfd, rel) < 0)
			rc = -errno;
		if (rc < 0)
			rc = udos__err(rc, "cannot write '%s/%s': %s", st->path,
				       rel, udos_strerror(rc));
	}
	if (rc == 0 && n)
		rc = udos__fsync_dir(st->dirfd, "packs");
out:
	for (size_t i = 0; fds && tmp && i < n; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
			unlinkat(st->dirfd, tmp[i], 0); /* ENOENT once moved */
		}
	}
	for (size_t i = 0; reqs && i < n; i++)
		udos__s3_req_release(&reqs[i]);
	free(reqs);
	free(rv);
	free(fds);
	free(tmp);
	return rc;
}

/* index every entry of packs/N.rec (a later pack's copy of an id wins) */
static int index_pack(udos__batch *b, uint64_t *count, udos_store *st,
		      uint32_t id)
{
	char rel[64];
	struct stat sb;
	uint64_t slots;
	int fd, rc = 0;

	udos__recs_relpath(rel, sizeof(rel), id);
	fd = openat(st->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return udos__err(rc, "cannot open '%s/%s'", st->path, rel);
	}
	slots = (uint64_t)sb.st_size < UDOS_RECS_HDR_SIZE
			? 0
			: ((uint64_t)sb.st_size - UDOS_RECS_HDR_SIZE) /
				  UDOS_REC_SIZE;
	for (uint64_t k = 0; k < slots && rc == 0; k++) {
		udos__rec rec;
		rc = udos__rec_read(&rec, fd, k);
		if (rc < 0)
			break;
		rec.pack_id = id;
		rec.slot = k;
		udos__batch_put(b, &rec.oid, &rec);
		(*count)++;
		if (udos__batch_count(b) >= BATCH) {
			rc = udos__store_index_write(st, b, false);
			udos__batch_clear(b);
		}
	}
	close(fd);
	return rc;
}

struct drop {
	const udos__manifest *gone; /* packs removed from the manifest */
	udos__batch *b;
	uint64_t n;
};

static int drop_fn(void *ctx, const udos_oid *oid, const udos__rec *l)
{
	struct drop *d = ctx;

	if (udos__manifest_find(d->gone, l->pack_id)) {
		udos__batch_del(d->b, oid);
		d->n++;
	}
	return 0;
}

/*
 * Bring st (writer lock held, primary index) from local manifest l to m:
 * record files of new packs fetched and indexed, removed packs' files and
 * index entries dropped, the tail set past the last pack, then
 * remote.manifest replaced. Each step is redone by a pull that follows a
 * crash: the manifest is written last.
 */
static int apply(udos_pull_result *out, udos__s3 *s, udos_store *st,
		 const udos__manifest *l, const udos__manifest *m)
{
	const udos__mpack **add = udos__calloc(m->n ? m->n : 1, sizeof(*add));
	udos__manifest gone = { 0 };
	udos__batch *b = udos__batch_new();
	udos__tail t = { 0 };
	size_t na = 0;
	int rc = 0;

	if (!add || !b) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->n; i++) {
		const udos__mpack *o = udos__manifest_find(l, m->packs[i].id);
		if (!o || strcmp(o->sha, m->packs[i].sha) ||
		    strcmp(o->rec_sha, m->packs[i].rec_sha))
			add[na++] = &m->packs[i];
	}
	for (size_t i = 0; i < l->n && rc == 0; i++) {
		const udos__mpack *o = udos__manifest_find(m, l->packs[i].id);
		if (!o || strcmp(o->sha, l->packs[i].sha))
			rc = udos__manifest_add(&gone, &l->packs[i]);
	}
	if (rc == 0)
		rc = fetch_recs(s, st, add, na);
	for (size_t i = 0; i < na && rc == 0; i++) {
		/* a cached copy of a replaced pack id must not be read */
		udos__packfile_evict(st, add[i]->id);
		rc = index_pack(b, &out->objects, st, add[i]->id);
	}
	if (rc == 0)
		rc = udos__store_index_write(st, b, true);
	udos__batch_clear(b);
	if (rc == 0 && gone.n) {
		struct drop d = { &gone, b, 0 };
		rc = udos__store_index_foreach(st, drop_fn, &d);
		if (rc == 0)
			rc = udos__store_index_write(st, b, true);
		udos__batch_clear(b);
		for (size_t i = 0; i < gone.n && rc == 0; i++)
			if (!udos__manifest_find(m, gone.packs[i].id))
				rc = udos__packfile_remove(st,
							   gone.packs[i].id);
	}
	/* after the new packs: their records may hold deleted ids */
	if (rc == 0 && (na || m->dels != l->dels ||
			strcmp(m->dels_sha, l->dels_sha)))
		rc = udos__dels_apply(&out->deletions, s, st, m);
	if (rc == 0) {
		t.pack_id = m->n ? m->packs[m->n - 1].id + 1 : 0;
		udos__batch_set_tail(b, &t);
		rc = udos__store_index_write(st, b, true);
	}
	if (rc == 0)
		rc = udos__manifest_save(st, m);
	if (rc == 0) {
		out->packs_added = na;
		out->packs_removed = gone.n;
		out->generation = m->generation;
	}
	udos__remote_reset(st);
out:
	udos__batch_free(b);
	udos__manifest_release(&gone);
	free(add);
	return rc;
}

int udos_remote_pull(udos_pull_result *out, udos_store *st)
{
	udos_pull_result local;
	udos_remote_conf conf;
	udos__manifest l = { 0 }, m = { 0 };
	udos__s3 *s = NULL;
	uint64_t newest = 0;
	int rc;

	UDOS_ASSERT_ARG(st);
	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	rc = udos__remote_conf_read(&conf, st->dirfd);
	if (rc == UDOS_ENOTFOUND)
		return udos__err(UDOS_ENOTFOUND, "'%s' has no remote",
				 st->path);
	if (rc == 0 && !conf.clone)
		rc = udos__err(-EPERM, "'%s' is not a clone: its packs are "
			       "its own (pull fills clones)", st->path);
	if (rc == 0)
		rc = udos__remote_connect(&s, &conf);
	if (rc == 0)
		rc = udos_store_lock_writer(st);
	if (rc == 0)
		rc = udos__manifest_load(&l, st);
	if (rc == UDOS_ENOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = udos__remote_newest(&newest, s);
	if (rc == 0 && newest < l.generation)
		rc = udos__err(UDOS_ECORRUPT, "remote '%s' is at generation %"
			       PRIu64 ", older than this clone's %" PRIu64,
			       udos__s3_url(s), newest, l.generation);
	if (rc == 0 && newest == l.generation) {
		out->generation = newest;
		goto out;
	}
	if (rc == 0)
		rc = udos__remote_fetch_manifest(&m, s, newest);
	if (rc == 0 && strcmp(m.container_id, st->info.container_id))
		rc = udos__err(UDOS_ECORRUPT, "remote '%s' holds container "
			       "%s, not %s", udos__s3_url(s), m.container_id,
			       st->info.container_id);
	if (rc == 0)
		rc = apply(out, s, st, &l, &m);
out:
	if (s)
		out->requests = udos__s3_requests(s);
	udos__manifest_release(&l);
	udos__manifest_release(&m);
	udos__s3_free(s);
	return rc;
}

int udos_remote_refresh(udos_store *st)
{
	udos_remote_conf conf;
	udos_pull_result r;
	bool held;
	int rc;

	UDOS_ASSERT_ARG(st);
	rc = udos__remote_conf_read(&conf, st->dirfd);
	if (rc == 0 && !conf.clone)
		rc = udos__err(-EPERM, "'%s' is not a clone", st->path);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&st->mu);
	held = st->primary;
	pthread_mutex_unlock(&st->mu);
	rc = udos_remote_pull(&r, st);
	if (!held) {
		int u = udos_store_unlock_writer(st);
		if (rc == 0)
			rc = u;
	}
	return rc;
}

int udos_remote_clone(udos_pull_result *out, const char *dir,
		      const udos_remote_conf *conf)
{
	udos_init_opts io = UDOS_INIT_OPTS_INIT;
	udos_remote_conf c = *conf;
	udos__manifest m = { 0 };
	udos_store *st = NULL;
	udos__s3 *s = NULL;
	uint64_t newest = 0;
	int rc, hash;

	UDOS_ASSERT_ARG(out && dir && conf);
	memset(out, 0, sizeof(*out));
	rc = udos__remote_connect(&s, &c);
	if (rc == 0)
		rc = udos__remote_newest(&newest, s);
	if (rc == 0 && !newest)
		rc = udos__err(UDOS_ENOTFOUND, "'%s' holds no manifest (run "
			       "'udos push' where the container is)",
			       udos__s3_url(s));
	if (rc == 0)
		rc = udos__remote_fetch_manifest(&m, s, newest);
	if (rc == 0)
		rc = udos_hash_type_parse(&hash, m.hash_type);
	if (rc < 0)
		goto out;
	io.hash_type = hash;
	io.loose_prefix_len = m.loose_prefix_len;
	io.pack_size_target = m.pack_size_target;
	io.compression = m.compression;
	rc = udos_store_init(dir, &io);
	if (rc == 0)
		rc = udos_store_open(&st, dir, UDOS_OPEN_NO_INDEX);
	if (rc < 0)
		goto out;
	/* the source's id: its record files name it in their headers */
	snprintf(st->info.container_id, sizeof(st->info.container_id), "%s",
		 m.container_id);
	c.clone = true;
	rc = udos__config_write(st->dirfd, &st->info);
	if (rc == 0)
		rc = udos__remote_conf_write(st->dirfd, &c);
	udos_store_close(st);
	st = NULL;
	udos__manifest_release(&m);
	udos__s3_free(s);
	s = NULL;
	if (rc == 0)
		rc = udos_store_open(&st, dir, 0);
	if (rc == 0)
		rc = udos_remote_pull(out, st);
out:
	udos_store_close(st);
	udos__manifest_release(&m);
	udos__s3_free(s);
	return rc;
}
