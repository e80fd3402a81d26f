/* remote.c - push sealed packs to the remote and publish a manifest
 * generation; evict pushed packs; status and validate of the remote
 * (docs/FORMAT.md "Remote layout", docs/DECISIONS.md "S3 remote"). */
#include "remote_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PARALLEL 8
#define DEFAULT_PART (16ull << 20)

/* UDOS_S3_PART_SIZE (tests), at least S3's minimum of 5 MiB */
static uint64_t part_size_env(void)
{
	const char *v = getenv("UDOS_S3_PART_SIZE");
	unsigned long long x = v ? strtoull(v, NULL, 10) : 0;

	return x >= (5ull << 20) ? x : DEFAULT_PART;
}

/* the container's remote and an S3 client for it; a clone cannot write */
int udos__remote_open(udos_remote_conf *conf, udos__s3 **s3, udos_store *st,
		      bool write)
{
	int rc = udos__remote_conf_read(conf, st->dirfd);

	*s3 = NULL;
	if (rc == UDOS_ENOTFOUND)
		return udos__err(UDOS_ENOTFOUND, "'%s' has no remote (run "
				 "'udos remote set')", st->path);
	if (rc < 0)
		return rc;
	if (write && conf->clone)
		return udos__err(-EPERM, "'%s' is a read-only clone of '%s'",
				 st->path, conf->url);
	return udos__remote_connect(s3, conf);
}

/* the local manifest, or an empty one (generation 0) */
static int local_manifest(udos__manifest *m, udos_store *st)
{
	int rc = udos__manifest_load(m, st);
	return rc == UDOS_ENOTFOUND ? 0 : rc;
}

/* SHA-256 and size of a file of the container */
static int hash_file(char sha[65], uint64_t *size, int *fd_out, udos_store *st,
		     const char *rel)
{
	struct stat sb;
	int fd = openat(st->dirfd, rel, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0 || fstat(fd, &sb) < 0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return udos__err(rc, "cannot open '%s/%s': %s", st->path, rel,
				 udos_strerror(rc));
	}
	*size = (uint64_t)sb.st_size;
	rc = sha ? udos__sha256_fd(sha, fd, 0, *size) : 0;
	if (rc < 0) {
		close(fd);
		return udos__err(rc, "cannot read '%s/%s': %s", st->path, rel,
				 udos_strerror(rc));
	}
	*fd_out = fd;
	return 0;
}

/* Whether manifest m describes packs of this container exactly (same ids,
 * same record files): what a push of ours published before it was killed
 * ahead of saving remote.manifest. */
static bool ours(udos_store *st, const udos__manifest *m)
{
	if (strcmp(m->container_id, st->info.container_id))
		return false;
	for (size_t i = 0; i < m->n; i++) {
		char rel[64], sha[65];
		uint64_t size;
		int fd = -1;
		udos__recs_relpath(rel, sizeof(rel), m->packs[i].id);
		if (hash_file(sha, &size, &fd, st, rel) < 0) {
			udos__err_clear();
			return false;
		}
		close(fd);
		if (size != m->packs[i].rec_size ||
		    strcmp(sha, m->packs[i].rec_sha))
			return false;
	}
	return true;
}

/* Fail unless the remote's newest generation is the one this container
 * holds (or one it published itself and did not record): another writer
 * moved it. l becomes the newest manifest when it is ours. */
static int fence(udos__s3 *s, udos_store *st, udos__manifest *l,
		 uint64_t newest)
{
	udos__manifest r = { 0 };
	int rc;

	if (newest == l->generation)
		return 0;
	if (newest > l->generation) {
		rc = udos__remote_fetch_manifest(&r, s, newest);
		if (rc < 0)
			return rc;
		if (ours(st, &r)) {
			rc = udos__manifest_save(st, &r);
			udos__manifest_release(l);
			*l = r;
			return rc;
		}
		udos__manifest_release(&r);
	}
	return udos__err(UDOS_ELOCKED,
			 "remote '%s' is at manifest generation %" PRIu64
			 ", '%s' last pushed or pulled %" PRIu64
			 ": another writer pushed there",
			 udos__s3_url(s), newest, st->path, l->generation);
}

static void manifest_header(udos__manifest *m, udos_store *st)
{
	snprintf(m->container_id, sizeof(m->container_id), "%s",
		 st->info.container_id);
	snprintf(m->hash_type, sizeof(m->hash_type), "%s", st->info.hash_type);
	m->loose_prefix_len = st->info.loose_prefix_len;
	m->pack_size_target = st->info.pack_size_target;
	snprintf(m->compression, sizeof(m->compression), "%s",
		 st->info.compression);
}

/* what a push does for one pack */
struct job {
	udos__mpack p;
	int fd, rfd;
	bool upload;
};

/* Decide, for every sealed pack, whether it needs an upload; jobs get the
 * manifest entry of each. */
static int plan(struct job **jobs_out, size_t *n_out, udos_store *st,
		const udos__manifest *l, uint32_t tail_id)
{
	struct job *jobs = udos__calloc(tail_id ? tail_id : 1, sizeof(*jobs));
	size_t n = 0;
	int rc = 0;

	*jobs_out = NULL;
	*n_out = 0;
	if (!jobs)
		return udos__err(-ENOMEM, "out of memory");
	for (uint32_t id = 0; id < tail_id && rc == 0; id++) {
		struct job *j = &jobs[n];
		const udos__mpack *m = udos__manifest_find(l, id);
		char rel[64], rrel[64];
		struct stat sb;

		udos__pack_relpath(rel, sizeof(rel), id);
		udos__recs_relpath(rrel, sizeof(rrel), id);
		j->fd = j->rfd = -1;
		if (fstatat(st->dirfd, rrel, &sb, 0) < 0) {
			if (errno == ENOENT)
				continue; /* removed by a repack */
			rc = udos__err(-errno, "cannot stat '%s/%s'", st->path,
				       rrel);
			break;
		}
		j->p.id = id;
		rc = hash_file(j->p.rec_sha, &j->p.rec_size, &j->rfd, st, rrel);
		if (rc < 0)
			break;
		n++;
		if (fstatat(st->dirfd, rel, &sb, 0) < 0) {
			/* evicted: the remote has it, or nobody does */
			if (errno == ENOENT && m &&
			    !strcmp(m->rec_sha, j->p.rec_sha)) {
				j->p = *m;
				continue;
			}
			rc = udos__err(UDOS_ECORRUPT, "pack '%s/%s' is missing "
				       "and not on the remote", st->path, rel);
			break;
		}
		/* the same records over the same size: the pushed pack (a
		 * repack reusing the id writes other records) */
		if (m && m->size == (uint64_t)sb.st_size &&
		    m->rec_size == j->p.rec_size &&
		    !strcmp(m->rec_sha, j->p.rec_sha)) {
			j->p = *m;
			continue;
		}
		rc = hash_file(j->p.sha, &j->p.size, &j->fd, st, rel);
		j->upload = rc == 0;
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			if (jobs[i].fd >= 0)
				close(jobs[i].fd);
			if (jobs[i].rfd >= 0)
				close(jobs[i].rfd);
		}
		free(jobs);
		return rc;
	}
	*jobs_out = jobs;
	*n_out = n;
	return 0;
}

/* Upload what the plan says, skipping objects already there whole (a
 * resumed push): keys name content, so an object of the right size under
 * its key is that content. */
static int upload(udos_push_result *out, udos__s3 *s, struct job *jobs,
		  size_t n, const udos_push_opts *o)
{
	unsigned par = o->parallel ? o->parallel : DEFAULT_PARALLEL;
	uint64_t part = o->part_size ? o->part_size : part_size_env();
	udos__s3_req *heads = NULL, **hv = NULL;
	udos_progress prog = { 0, 0, 0, 0 }; /* packs and their bytes */
	size_t nu = 0, k = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if (jobs[i].upload) {
			nu++;
			prog.bytes_total += jobs[i].p.size + jobs[i].p.rec_size;
		}
	prog.total = nu;
	if (!nu)
		return 0;
	heads = udos__calloc(2 * nu, sizeof(*heads));
	hv = udos__calloc(2 * nu, sizeof(*hv));
	if (!heads || !hv) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!jobs[i].upload)
			continue;
		for (int rec = 0; rec < 2; rec++, k++) {
			udos__s3_req_init(&heads[k], "HEAD", "");
			udos__mpack_key(heads[k].key, sizeof(heads[k].key),
					&jobs[i].p, rec);
			hv[k] = &heads[k];
		}
	}
	rc = udos__s3_run(s, hv, 2 * nu, par);
	if (rc < 0)
		goto out;
	k = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct job *j = &jobs[i];
		bool have[2];
		if (!j->upload)
			continue;
		for (int rec = 0; rec < 2; rec++, k++) {
			udos__s3_req *h = &heads[k];
			uint64_t want = rec ? j->p.rec_size : j->p.size;
			if (h->status != 200 && h->status != 404)
				rc = udos__s3_status_err(s, h);
			have[rec] = udos__remote_resumable(h, want);
		}
		if (rc < 0)
			break;
		if (have[0] && have[1]) {
			out->resumed++;
		} else {
			if (!have[0])
				rc = udos__s3_upload_fd(s, heads[k - 2].key,
							j->fd, 0, j->p.size,
							part, par);
			if (rc == 0 && !have[1])
				rc = udos__s3_upload_fd(s, heads[k - 1].key,
							j->rfd, 0,
							j->p.rec_size, part,
							par);
			if (rc == 0) {
				out->packs++;
				out->bytes += (have[0] ? 0 : j->p.size) +
					      (have[1] ? 0 : j->p.rec_size);
			}
		}
		prog.done++;
		prog.bytes_done += j->p.size + j->p.rec_size;
		if (o->progress)
			o->progress(o->ctx, &prog);
	}
out:
	for (size_t i = 0; heads && i < 2 * nu; i++)
		udos__s3_req_release(&heads[i]);
	free(heads);
	free(hv);
	return rc;
}

/* Create manifest generation m->generation, only if absent: the commit
 * point, and the fence against a second writer. */
static int publish(udos__s3 *s, const udos__manifest *m)
{
	udos_buf b = UDOS_BUF_INIT;
	udos__s3_req r;
	udos_oid o;
	char sha[65];
	int rc = udos__manifest_format(&b, m);

	if (rc < 0)
		return rc;
	udos_oid_hash_as(&o, UDOS_HASH_SHA256, b.data, b.len);
	udos_oid_fmt(sha, &o);
	udos__s3_req_init(&r, "PUT", "");
	udos__manifest_key(r.key, sizeof(r.key), m->generation);
	r.body = b.data;
	r.body_len = b.len;
	r.body_sha256 = sha;
	r.if_none_match = true;
	rc = udos__s3_do(s, &r);
	if (rc == 0 && (r.status == 412 || r.status == 409))
		rc = udos__err(UDOS_ELOCKED,
			       "manifest generation %" PRIu64 " of '%s' was "
			       "published by another writer first",
			       m->generation, udos__s3_url(s));
	else if (rc == 0 && r.status != 200)
		rc = udos__s3_status_err(s, &r);
	udos__s3_req_release(&r);
	udos_buf_release(&b);
	return rc;
}

int udos_remote_push(udos_push_result *out, udos_store *st,
		     const udos_push_opts *opts)
{
	static const udos_push_opts defaults = UDOS_PUSH_OPTS_INIT;
	udos_push_result local;
	udos_remote_conf conf;
	udos__manifest l = { 0 }, m = { 0 };
	udos__s3 *s = NULL;
	struct job *jobs = NULL;
	size_t n = 0, swept = 0;
	udos__tail t = { 0 };
	uint64_t newest;
	bool changed;
	int rc;

	UDOS_ASSERT_ARG(st);
	if (!out)
		out = &local;
	if (!opts)
		opts = &defaults;
	memset(out, 0, sizeof(*out));
	rc = udos__remote_open(&conf, &s, st, true);
	if (rc == 0)
		rc = udos_store_lock_writer(st);
	if (rc == 0 && opts->seal) {
		udos_writer *w = NULL;
		rc = udos_writer_open(&w, st, NULL);
		if (rc == 0)
			rc = udos__writer_seal(w);
		udos_writer_close(w);
	}
	if (rc < 0)
		goto out;
	pthread_rwlock_rdlock(&st->ixlock);
	rc = udos__index_get_tail(st->ix, &t);
	pthread_rwlock_unlock(&st->ixlock);
	if (rc == UDOS_ENOTFOUND)
		rc = 0; /* nothing packed yet */
	/* interrupted multipart uploads of earlier pushes */
	if (rc == 0)
		rc = udos__s3_sweep_uploads(s, "packs/", INT64_MAX, false,
					    &swept);
	out->swept = swept;
	if (rc == 0)
		rc = udos__remote_newest(&newest, s);
	if (rc == 0)
		rc = local_manifest(&l, st);
	if (rc == 0)
		rc = fence(s, st, &l, newest);
	if (rc == 0)
		rc = plan(&jobs, &n, st, &l, t.pack_id);
	if (rc == 0)
		rc = upload(out, s, jobs, n, opts);
	if (rc < 0)
		goto out;
	manifest_header(&m, st);
	m.generation = newest + 1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = udos__manifest_add(&m, &jobs[i].p);
	if (rc == 0)
		rc = udos__dels_publish(&m, s, st, &l,
					opts->part_size ? opts->part_size
							: part_size_env(),
					opts->parallel ? opts->parallel
						       : DEFAULT_PARALLEL);
	if (rc < 0)
		goto out;
	out->deletions = m.dels;
	changed = m.n != l.n || m.dels != l.dels ||
		  strcmp(m.dels_sha, l.dels_sha) != 0;
	for (size_t i = 0; !changed && i < m.n; i++)
		changed = m.packs[i].id != l.packs[i].id ||
			  strcmp(m.packs[i].sha, l.packs[i].sha) != 0 ||
			  strcmp(m.packs[i].rec_sha, l.packs[i].rec_sha) != 0;
	out->remote_packs = m.n;
	if (!changed && l.generation) {
		out->generation = l.generation; /* nothing new to publish */
		goto out;
	}
	rc = publish(s, &m);
	if (rc == 0)
		rc = udos__manifest_save(st, &m);
	if (rc == 0)
		out->generation = m.generation;
	udos__remote_reset(st);
out:
	if (s)
		out->requests = udos__s3_requests(s);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].fd >= 0)
			close(jobs[i].fd);
		if (jobs[i].rfd >= 0)
			close(jobs[i].rfd);
	}
	free(jobs);
	udos__manifest_release(&l);
	udos__manifest_release(&m);
	udos__s3_free(s);
	return rc;
}

/* ---- evict ---------------------------------------------------------------- */

int udos_remote_evict(udos_evict_result *out, udos_store *st, uint64_t keep)
{
	udos_evict_result local;
	udos_remote_conf conf;
	udos__manifest l = { 0 };
	udos__s3_list ls = { 0 };
	udos__s3 *s = NULL;
	uint64_t kept = 0;
	int rc;

	UDOS_ASSERT_ARG(st);
	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	rc = udos__remote_open(&conf, &s, st, false);
	if (rc == 0)
		rc = udos_store_lock_writer(st);
	if (rc == 0)
		rc = local_manifest(&l, st);
	/* the objects must be there, whole, before the local copy goes */
	if (rc == 0 && l.n)
		rc = udos__s3_list_objects(&ls, s, "packs/");
	for (size_t i = l.n; rc == 0 && i-- > 0;) {
		const udos__mpack *p = &l.packs[i];
		char rel[64], key[UDOS__S3_MAX_KEY];
		struct stat sb;
		bool there = false;

		udos__pack_relpath(rel, sizeof(rel), p->id);
		if (fstatat(st->dirfd, rel, &sb, 0) < 0)
			continue; /* evicted already */
		if ((uint64_t)sb.st_size != p->size)
			continue; /* not the pushed pack */
		if (kept + p->size <= keep) {
			kept += p->size;
			out->kept++;
			continue;
		}
		udos__mpack_key(key, sizeof(key), p, false);
		for (size_t k = 0; k < ls.n && !there; k++)
			there = !strcmp(ls.v[k].key, key) &&
				ls.v[k].size == p->size;
		if (!there) {
			rc = udos__err(UDOS_ECORRUPT, "pack %" PRIu32 " is not "
				       "on '%s' as the manifest says: kept "
				       "(run 'udos push')",
				       p->id, udos__s3_url(s));
			break;
		}
		rc = udos__packfile_evict(st, p->id);
		if (rc == 0) {
			out->packs++;
			out->bytes += p->size;
		}
	}
	if (rc == 0 && out->packs)
		rc = udos__fsync_dir(st->dirfd, "packs");
	udos__s3_list_release(&ls);
	udos__manifest_release(&l);
	udos__s3_free(s);
	return rc;
}

/* ---- status ------------------------------------------------------------- */

int udos_remote_status_get(udos_remote_status *out, udos_store *st)
{
	udos_remote_conf conf;
	udos__manifest l = { 0 };
	int64_t max;
	int rc;

	UDOS_ASSERT_ARG(out && st);
	memset(out, 0, sizeof(*out));
	rc = udos__remote_conf_read(&conf, st->dirfd);
	if (rc < 0 && rc != UDOS_ENOTFOUND)
		return rc;
	out->has_remote = rc == 0;
	out->cache_size = rc == 0 && conf.cache_size ? conf.cache_size
						     : UDOS__DEFAULT_CACHE;
	max = udos__packs_max_id(st);
	if (max < -1)
		return (int)max;
	for (int64_t id = 0; id <= max; id++) {
		char rel[64];
		struct stat sb;
		udos__pack_relpath(rel, sizeof(rel), (uint32_t)id);
		if (fstatat(st->dirfd, rel, &sb, 0) == 0) {
			out->packs_local++;
			out->bytes_local += (uint64_t)sb.st_size;
		}
	}
	if (!out->has_remote)
		return 0;
	rc = local_manifest(&l, st);
	if (rc < 0)
		return rc;
	out->generation = l.generation;
	out->packs_remote = l.n;
	for (size_t i = 0; i < l.n; i++)
		out->bytes_remote += l.packs[i].size + l.packs[i].rec_size;
	udos__manifest_release(&l);
	out->bytes_cached = udos__rpack_cached(st);
	return 0;
}

/* ---- validate --remote --------------------------------------------------- */

/* download key into a sandbox temp file, checking size and SHA-256 */
static int fetch_checked(int *fd_out, udos__s3 *s, udos_store *st,
			 const char *key, uint64_t size, const char *sha)
{
	char tmp[128], got[65];
	udos__s3_req r;
	int fd, rc;

	*fd_out = -1;
	snprintf(tmp, sizeof(tmp), "sandbox/%ld-remote-check", (long)getpid());
	fd = openat(st->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return udos__err(-errno, "cannot create '%s/%s'", st->path,
				 tmp);
	unlinkat(st->dirfd, tmp, 0);
	udos__s3_req_init(&r, "GET", key);
	r.out_fd = fd;
	rc = udos__s3_do(s, &r);
	if (rc == 0 && r.status != 200)
		rc = udos__s3_status_err(s, &r);
	if (rc == 0 && r.pos != size)
		rc = udos__err(UDOS_ECORRUPT, "'%s/%s' is %" PRIu64 " bytes, "
			       "the manifest says %" PRIu64, udos__s3_url(s),
			       key, r.pos, size);
	if (rc == 0)
		rc = udos__sha256_fd(got, fd, 0, size);
	if (rc == 0 && strcmp(got, sha))
		rc = udos__err(UDOS_ECORRUPT, "'%s/%s' does not hash to its "
			       "manifest entry", udos__s3_url(s), key);
	udos__s3_req_release(&r);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

/* every record of a downloaded pack: entry checksum, XXH3, content hash */
static int check_records(udos_remote_check *out, udos_store *st, int fd,
			 int rfd, const udos__mpack *p)
{
	uint64_t slots = p->rec_size < UDOS_RECS_HDR_SIZE
				 ? 0
				 : (p->rec_size - UDOS_RECS_HDR_SIZE) /
					   UDOS_REC_SIZE;
	for (uint64_t k = 0; k < slots; k++) {
		udos__rec rec;
		int kind, rc = udos__rec_read(&rec, rfd, k);
		if (rc == 0)
			rc = udos__record_check(&rec, &kind, fd, p->size, true,
						st->hash_type);
		out->records++;
		if (rc < 0) {
			out->bad++;
			udos__err(UDOS_ECORRUPT, "record %" PRIu64 " of remote "
				  "pack %" PRIu32 ": %s", k, p->id,
				  udos_error_detail());
		}
	}
	return 0;
}

/* the deletions object the manifest names: there, of its size */
static int check_dels(udos_remote_check *out, char *last, size_t cap,
		      udos__s3 *s, const udos__manifest *m)
{
	uint64_t want = UDOS__DELS_HDR + 32 * m->dels;
	udos__s3_req h;
	int rc;

	udos__s3_req_init(&h, "HEAD", "");
	udos__manifest_dels_key(h.key, sizeof(h.key), m);
	rc = udos__s3_do(s, &h);
	if (rc == 0 && h.status == 404) {
		out->missing++;
		snprintf(last, cap, "'%s/%s' is missing", udos__s3_url(s),
			 h.key);
	} else if (rc == 0 && h.status != 200) {
		rc = udos__s3_status_err(s, &h);
	} else if (rc == 0 && h.length != want) {
		out->bad_size++;
		snprintf(last, cap, "'%s/%s' is %" PRIu64 " bytes, not %" PRIu64,
			 udos__s3_url(s), h.key, h.length, want);
	}
	udos__s3_req_release(&h);
	return rc;
}

int udos_remote_validate(udos_remote_check *out, udos_store *st, bool full)
{
	udos_remote_conf conf;
	udos__manifest m = { 0 };
	udos__s3_list ls = { 0 };
	udos__s3 *s = NULL;
	uint64_t newest = 0;
	char last[3072] = "";
	int rc;

	UDOS_ASSERT_ARG(out && st);
	memset(out, 0, sizeof(*out));
	rc = udos__remote_open(&conf, &s, st, false);
	if (rc == 0)
		rc = udos__remote_newest(&newest, s);
	if (rc == 0 && !newest)
		rc = udos__err(UDOS_ENOTFOUND, "'%s' holds no manifest",
			       udos__s3_url(s));
	if (rc == 0)
		rc = udos__remote_fetch_manifest(&m, s, newest);
	if (rc == 0)
		rc = udos__s3_list_objects(&ls, s, "packs/");
	if (rc == 0 && m.dels)
		rc = check_dels(out, last, sizeof(last), s, &m);
	for (size_t i = 0; rc == 0 && i < m.n; i++) {
		const udos__mpack *p = &m.packs[i];
		bool ok = true;
		out->packs++;
		for (int rec = 0; rec < 2; rec++) {
			char key[UDOS__S3_MAX_KEY];
			uint64_t want = rec ? p->rec_size : p->size;
			size_t k;
			udos__mpack_key(key, sizeof(key), p, rec);
			for (k = 0; k < ls.n && strcmp(ls.v[k].key, key); k++)
				;
			if (k == ls.n) {
				out->missing++;
				ok = false;
				snprintf(last, sizeof(last), "'%s/%s' is missing",
					 udos__s3_url(s), key);
			} else if (ls.v[k].size != want) {
				out->bad_size++;
				ok = false;
				snprintf(last, sizeof(last), "'%s/%s' is %" PRIu64
					 " bytes, not %" PRIu64, udos__s3_url(s),
					 key, ls.v[k].size, want);
			}
		}
		if (ok && full) {
			char key[UDOS__S3_MAX_KEY], rkey[UDOS__S3_MAX_KEY];
			int fd = -1, rfd = -1, c;
			udos__mpack_key(key, sizeof(key), p, false);
			udos__mpack_key(rkey, sizeof(rkey), p, true);
			c = fetch_checked(&fd, s, st, key, p->size, p->sha);
			if (c == 0)
				c = fetch_checked(&rfd, s, st, rkey,
						  p->rec_size, p->rec_sha);
			if (c == 0) {
				uint64_t bad = out->bad;
				check_records(out, st, fd, rfd, p);
				if (out->bad != bad)
					snprintf(last, sizeof(last), "%s",
						 udos_error_detail());
			} else if (c == UDOS_ECORRUPT) {
				out->bad++;
				snprintf(last, sizeof(last), "%s",
					 udos_error_detail());
			} else {
				rc = c;
			}
			if (fd >= 0)
				close(fd);
			if (rfd >= 0)
				close(rfd);
		}
	}
	if (rc == 0 && *last)
		udos__err(UDOS_ECORRUPT, "%s", last);
	udos__s3_list_release(&ls);
	udos__manifest_release(&m);
	udos__s3_free(s);
	return rc;
}
