/* index.c - the RocksDB index: object id -> pack location, through the C
 * API; turns errptr strings into our codes. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>

/* The only non-object key; object keys are exactly 32 bytes. */
#define TAIL_KEY "udos:tail"
#define TAIL_KEYLEN (sizeof(TAIL_KEY) - 1)
/* deletion marks: "udos:del:" then the 32-byte id, empty value */
#define DEL_PREFIX "udos:del:"
#define DEL_PREFIXLEN (sizeof(DEL_PREFIX) - 1)
#define DEL_KEYLEN (DEL_PREFIXLEN + 32)
/* the stamp of the writer's id filter (core/idfilter.c): u64 nonce */
#define FILTER_KEY "udos:filter"
#define FILTER_KEYLEN (sizeof(FILTER_KEY) - 1)

struct udos__index {
	rocksdb_t *db;
	rocksdb_column_family_handle_t *cf; /* "default", for batched gets */
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *topts;
	rocksdb_filterpolicy_t *bloom; /* owned by topts once set */
	rocksdb_readoptions_t *ropts, *scan_ropts;
	rocksdb_writeoptions_t *wsync, *wnosync;
	bool primary;
	bool wrote;    /* a batch was written through this handle */
	char *secdir; /* own temporary folder (secondary's, info log), removed
			 at close */
	char *store;  /* the container's path, for messages */
	pthread_mutex_t catchup_mu;
};

/*
 * RocksDB reports errors as text ("<Status>: <message>"). Only its own lock
 * failure on index/LOCK is a lock conflict (our writer lock is taken before
 * the index opens, so that one means another program holds the index);
 * "lock" alone also matches "block checksum mismatch". Damage (checksums,
 * bad magic, files that are gone) names the command that rebuilds the
 * index; a full disk keeps its errno, the one fact a user can act on.
 */
static int index_err(const udos__index *ix, char *err, const char *what)
{
	const char *store = ix && ix->store ? ix->store : "?";
	int rc;

	if (strstr(err, "While lock file") ||
	    strstr(err, "lock hold by current process"))
		rc = udos__err(UDOS_ELOCKED, "index of '%s' is locked by "
			       "another process (%s)", store, err);
	else if (strstr(err, "No space left on device"))
		rc = udos__err(-ENOSPC, "index %s in '%s': no space left on "
			       "device (%s)", what, store, err);
	else if (strstr(err, "Disk quota exceeded"))
		rc = udos__err(-EDQUOT, "index %s in '%s': disk quota "
			       "exceeded (%s)", what, store, err);
	else if (!strncmp(err, "Corruption:", 11) ||
		 strstr(err, "checksum mismatch") ||
		 strstr(err, "magic number") ||
		 (ix && ix->primary && strstr(err, "No such file")) ||
		 strstr(err, "does not exist (create_if_missing is false)"))
		rc = udos__err(UDOS_ECORRUPT, "index of '%s' is damaged, run "
			       "'udos repair' (%s: %s)", store, what, err);
	else
		rc = udos__err(UDOS_EINDEX, "index %s in '%s': %s", what,
			       store, err);
	rocksdb_free(err);
	return rc;
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

/* Secondary instances keep a folder of their own, named with their pid; a
 * killed process leaves its folder behind, removed here by the next one. */
static void remove_stale_secdirs(const char *tmp)
{
	DIR *d = opendir(tmp);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[4096], *end;
		long pid;

		if (strncmp(de->d_name, "udos-idx-", 9))
			continue;
		pid = strtol(de->d_name + 9, &end, 10);
		if (pid <= 0 || *end != '-' ||
		    !(kill((pid_t)pid, 0) < 0 && errno == ESRCH))
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmp, de->d_name);
		nftw(path, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	}
	closedir(d);
}

/* "<container>/index" -> "<container>", for messages. */
static char *store_of(const char *dir)
{
	size_t n = strlen(dir);

	if (n > 6 && !strcmp(dir + n - 6, "/index"))
		n -= 6;
	return strndup(dir, n);
}

/*
 * Before RocksDB sees it: a missing index/ would otherwise be made anew,
 * empty, by RocksDB's open (which then fails with its own text), and a
 * missing CURRENT is reported as an invalid argument.
 */
static int check_present(const udos__index *ix, const char *dir)
{
	char cur[4096];
	struct stat sb;
	int e = stat(dir, &sb) < 0 ? errno : S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;

	if (e == ENOENT || e == ENOTDIR)
		return udos__err(UDOS_ECORRUPT, "index missing in '%s', run "
				 "'udos repair'", ix->store);
	if (e)
		return udos__err(-e, "cannot open index '%s': %s", dir,
				 udos_strerror(-e));
	snprintf(cur, sizeof(cur), "%s/CURRENT", dir);
	if (stat(cur, &sb) < 0 && errno == ENOENT)
		return udos__err(UDOS_ECORRUPT, "index of '%s' is damaged, run "
				 "'udos repair' (no file '%s')", ix->store,
				 cur);
	return 0;
}

/* A folder of our own in $TMPDIR (a secondary's, and where the info log
 * goes), named with our pid: if we die, the next process removes it. */
static int make_tmpdir(udos__index *ix)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[4096];

	tmp = tmp && *tmp ? tmp : "/tmp";
	remove_stale_secdirs(tmp);
	snprintf(tmpl, sizeof(tmpl), "%s/udos-idx-%d-XXXXXX", tmp,
		 (int)getpid());
	if (!mkdtemp(tmpl))
		return udos__err(-errno, "cannot make a temporary folder '%s'",
				 tmpl);
	ix->secdir = strdup(tmpl);
	if (!ix->secdir) {
		rmdir(tmpl);
		return udos__err(-ENOMEM, "out of memory");
	}
	return 0;
}

#define FLUSH_START_MIN (4u << 20)

void udos__index_flush_start(udos__index *ix)
{
	rocksdb_flushoptions_t *fo;
	uint64_t mem = 0;
	char *err = NULL;

	/* only a memtable worth a table file of its own: a process that
	 * opens many small writers on one store must not leave a file each */
	if (!ix->db || !ix->wrote ||
	    rocksdb_property_int(ix->db, "rocksdb.cur-size-active-mem-table",
				 &mem) != 0 ||
	    mem < FLUSH_START_MIN)
		return;
	fo = rocksdb_flushoptions_create();
	rocksdb_flushoptions_set_wait(fo, 0);
	rocksdb_flush(ix->db, fo, &err);
	rocksdb_flushoptions_destroy(fo);
	rocksdb_free(err); /* close flushes again, and waits */
}

void udos__index_close(udos__index *ix)
{
	if (!ix)
		return;
	if (ix->db && ix->wrote) {
		/* Leave no memtable behind: otherwise every later open (each
		 * reader process) replays the log into a memtable of its own,
		 * half a second after 100k adds, and looks keys up in a
		 * skiplist instead of indexed, bloom-filtered tables. */
		rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
		char *err = NULL;

		rocksdb_flushoptions_set_wait(fo, 1);
		rocksdb_flush(ix->db, fo, &err);
		rocksdb_flushoptions_destroy(fo);
		rocksdb_free(err); /* the log still has it all: not fatal */
	}
	if (ix->cf)
		rocksdb_column_family_handle_destroy(ix->cf);
	if (ix->db)
		rocksdb_close(ix->db);
	rocksdb_readoptions_destroy(ix->ropts);
	rocksdb_readoptions_destroy(ix->scan_ropts);
	rocksdb_writeoptions_destroy(ix->wsync);
	rocksdb_writeoptions_destroy(ix->wnosync);
	rocksdb_options_destroy(ix->opts);
	rocksdb_block_based_options_destroy(ix->topts);
	if (ix->secdir) {
		nftw(ix->secdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
		free(ix->secdir);
	}
	free(ix->store);
	pthread_mutex_destroy(&ix->catchup_mu);
	free(ix);
}

int udos__index_open(udos__index **out, const char *dir, bool primary,
		     bool create)
{
	udos__index *ix = udos__calloc(1, sizeof(*ix));
	const char *cf_names[1] = { "default" };
	const rocksdb_options_t *cf_opts[1];
	char *err = NULL;
	int rc;

	*out = NULL;
	if (!ix)
		return udos__err(-ENOMEM, "out of memory (index)");
	pthread_mutex_init(&ix->catchup_mu, NULL);
	ix->primary = primary;
	ix->store = store_of(dir);
	if (!ix->store) {
		rc = udos__err(-ENOMEM, "out of memory (index)");
		goto fail;
	}
	if (!create) {
		rc = check_present(ix, dir);
		if (rc < 0)
			goto fail;
	}
	ix->opts = rocksdb_options_create();
	ix->topts = rocksdb_block_based_options_create();
	/* 10 bits per key: ~1% false positives, so a miss (the common case
	 * for dedup of new content) rarely touches a data block */
	ix->bloom = rocksdb_filterpolicy_create_bloom_full(10);
	rocksdb_block_based_options_set_filter_policy(ix->topts, ix->bloom);
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(
		ix->topts, 0);
	rocksdb_options_set_block_based_table_factory(ix->opts, ix->topts);
	rocksdb_options_set_create_if_missing(ix->opts, create);
	/* keys are random hashes: compressing blocks buys nothing */
	rocksdb_options_set_compression(ix->opts, rocksdb_no_compression);
	rocksdb_options_set_write_buffer_size(ix->opts, 64 << 20);
	rocksdb_options_set_max_write_buffer_number(ix->opts, 3);
	rocksdb_options_set_target_file_size_base(ix->opts, 64 << 20);
	rocksdb_options_set_max_background_jobs(ix->opts, 2);
	/* Universal compaction: random keys make leveled compaction rewrite
	 * everything several times; measured on 10M tiny objects through the
	 * writer, 164k objects/s against 101k/s (bench/RESULTS.md). */
	rocksdb_options_optimize_universal_style_compaction(ix->opts, 64 << 20);
	/* Preallocation (fallocate) takes disk space before it is needed, and
	 * a failed fallocate may keep what it got (ext4): by default 4 MiB
	 * for each writer's new MANIFEST and 1.1 x write buffer (70 MiB) for
	 * the WAL, so on a nearly full disk a writer could not even open,
	 * nor `delete` + `repack` win space back. None for the MANIFEST
	 * (written a few times per session), 64 KiB steps for the WAL: with
	 * one column family max_total_wal_size forces no flush, it only caps
	 * the WAL's preallocation block. */
	rocksdb_options_set_manifest_preallocation_size(ix->opts, 0);
	rocksdb_options_set_max_total_wal_size(ix->opts, 64 << 10);
	rocksdb_options_set_keep_log_file_num(ix->opts, 2);
	rocksdb_options_set_info_log_level(ix->opts, 3 /* error */);
	/* required for secondary instances, and keeps reads fd-cheap */
	rocksdb_options_set_max_open_files(ix->opts, -1);
	/* A bloom filter on the memtable too: a dedup check of new content (a
	 * miss) then skips the skiplist search that otherwise dominates bulk
	 * adds. Keys are random hashes, so 8 bytes of prefix are as good as
	 * the whole key. */
	rocksdb_options_set_prefix_extractor(
		ix->opts, rocksdb_slicetransform_create_fixed_prefix(8));
	rocksdb_options_set_memtable_prefix_bloom_size_ratio(ix->opts, 0.1);
	ix->ropts = rocksdb_readoptions_create();
	/* scans cross prefixes: they must not be cut short by the extractor */
	ix->scan_ropts = rocksdb_readoptions_create();
	rocksdb_readoptions_set_total_order_seek(ix->scan_ropts, 1);
	ix->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(ix->wsync, 1);
	ix->wnosync = rocksdb_writeoptions_create();

	cf_opts[0] = ix->opts;
	rc = make_tmpdir(ix);
	if (rc < 0 && !primary)
		goto fail;
	if (primary) {
		/* RocksDB's info log would sit in index/, on the container's
		 * disk, and Debian's build keeps asserts: a log line written
		 * after one that failed for want of space aborts the
		 * process. It goes to our temporary folder instead (errors
		 * only, so it is mostly empty); without one (a full or
		 * read-only $TMPDIR), in index/ as before. */
		if (ix->secdir)
			rocksdb_options_set_db_log_dir(ix->opts, ix->secdir);
		ix->db = rocksdb_open_column_families(ix->opts, dir, 1, cf_names,
						      cf_opts, &ix->cf, &err);
	} else {
		ix->db = rocksdb_open_as_secondary_column_families(
			ix->opts, dir, ix->secdir, 1, cf_names, cf_opts,
			&ix->cf, &err);
	}
	if (err) {
		rc = index_err(ix, err, primary ? "open" : "open (read-only)");
		goto fail;
	}
	*out = ix;
	return 0;
fail:
	udos__index_close(ix);
	return rc;
}

int udos__index_catch_up(udos__index *ix)
{
	char *err = NULL;

	if (ix->primary)
		return 0;
	pthread_mutex_lock(&ix->catchup_mu);
	rocksdb_try_catch_up_with_primary(ix->db, &err);
	pthread_mutex_unlock(&ix->catchup_mu);
	if (err)
		return index_err(ix, err, "catch-up");
	return 0;
}

int udos__index_get(udos__rec *out, udos__index *ix, const udos_oid *oid)
{
	char *err = NULL;
	size_t len = 0;
	char *val = rocksdb_get(ix->db, ix->ropts, (const char *)oid->id, 32,
				&len, &err);
	int rc;

	if (err)
		return index_err(ix, err, "read");
	if (!val)
		return UDOS_ENOTFOUND;
	rc = udos__loc_decode(out, val, len);
	out->oid = *oid;
	rocksdb_free(val);
	return rc;
}

int udos__index_get_sure(udos__rec *out, udos__index *ix, const udos_oid *oid)
{
	rocksdb_iterator_t *it;
	const char *k, *v;
	size_t klen, vlen;
	char *err = NULL;
	int rc = udos__index_get(out, ix, oid);

	if (rc != UDOS_ENOTFOUND)
		return rc;
	/* a seek in key order reads no filter: a table whose filter or
	 * properties block is damaged cannot hide a key from it */
	it = rocksdb_create_iterator(ix->db, ix->scan_ropts);
	rocksdb_iter_seek(it, (const char *)oid->id, 32);
	if (rocksdb_iter_valid(it)) {
		k = rocksdb_iter_key(it, &klen);
		if (klen == 32 && !memcmp(k, oid->id, 32)) {
			v = rocksdb_iter_value(it, &vlen);
			rc = udos__loc_decode(out, v, vlen);
			out->oid = *oid;
		}
	}
	rocksdb_iter_get_error(it, &err);
	if (err)
		rc = index_err(ix, err, "read");
	rocksdb_iter_destroy(it);
	return rc;
}

void udos__index_get_many(udos__index *ix, const udos_oid *const *oids,
			  size_t n, udos__rec *out, int *rcs)
{
	enum { BATCH = 256 };
	rocksdb_pinnableslice_t *vals[BATCH];
	const char *keys[BATCH];
	size_t lens[BATCH];
	char *errs[BATCH];

	for (size_t at = 0; at < n; at += BATCH) {
		size_t m = n - at < BATCH ? n - at : BATCH;
		for (size_t i = 0; i < m; i++) {
			keys[i] = (const char *)oids[at + i]->id;
			lens[i] = 32;
		}
		rocksdb_batched_multi_get_cf(ix->db, ix->ropts, ix->cf, m, keys,
					     lens, vals, errs, true);
		for (size_t i = 0; i < m; i++) {
			int *rc = &rcs[at + i];
			size_t len = 0;
			const char *v = vals[i] ? rocksdb_pinnableslice_value(
							  vals[i], &len)
						: NULL;
			if (errs[i])
				*rc = index_err(ix, errs[i], "read");
			else if (!v)
				*rc = UDOS_ENOTFOUND;
			else
				*rc = udos__loc_decode(&out[at + i], v, len);
			if (*rc == 0)
				out[at + i].oid = *oids[at + i];
			rocksdb_pinnableslice_destroy(vals[i]);
		}
	}
}

int udos__index_checkpoint(udos__index *ix, const char *dir)
{
	rocksdb_checkpoint_t *cp;
	char *err = NULL;

	cp = rocksdb_checkpoint_object_create(ix->db, &err);
	if (!err)
		rocksdb_checkpoint_create(cp, dir, 0, &err);
	if (cp)
		rocksdb_checkpoint_object_destroy(cp);
	return err ? index_err(ix, err, "checkpoint") : 0;
}

bool udos__index_is_primary(const udos__index *ix)
{
	return ix->primary;
}

struct udos__batch {
	rocksdb_writebatch_t *wb;
};

udos__batch *udos__batch_new(void)
{
	udos__batch *b = udos__alloc(sizeof(*b));

	if (!b)
		return NULL;
	b->wb = rocksdb_writebatch_create();
	return b;
}

void udos__batch_put(udos__batch *b, const udos_oid *oid, const udos__rec *l)
{
	uint8_t v[UDOS_IDX_VAL_SIZE];

	udos__loc_encode(v, l);
	rocksdb_writebatch_put(b->wb, (const char *)oid->id, 32,
			       (const char *)v, sizeof(v));
}

void udos__batch_del(udos__batch *b, const udos_oid *oid)
{
	rocksdb_writebatch_delete(b->wb, (const char *)oid->id, 32);
}

static void del_key(char k[DEL_KEYLEN], const udos_oid *oid)
{
	memcpy(k, DEL_PREFIX, DEL_PREFIXLEN);
	memcpy(k + DEL_PREFIXLEN, oid->id, 32);
}

void udos__batch_mark_deleted(udos__batch *b, const udos_oid *oid, bool on)
{
	char k[DEL_KEYLEN];

	del_key(k, oid);
	if (on)
		rocksdb_writebatch_put(b->wb, k, DEL_KEYLEN, "", 0);
	else
		rocksdb_writebatch_delete(b->wb, k, DEL_KEYLEN);
}

int udos__index_is_deleted(udos__index *ix, const udos_oid *oid)
{
	char k[DEL_KEYLEN], *err = NULL, *val;
	size_t len = 0;

	del_key(k, oid);
	val = rocksdb_get(ix->db, ix->ropts, k, DEL_KEYLEN, &len, &err);
	if (err)
		return index_err(ix, err, "read");
	if (!val)
		return 0;
	rocksdb_free(val);
	return 1;
}

int udos__index_foreach_deleted(udos__index *ix,
				int (*fn)(void *ctx, const udos_oid *oid),
				void *ctx)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(ix->db,
							 ix->scan_ropts);
	char *err = NULL;
	int rc = 0;

	for (rocksdb_iter_seek(it, DEL_PREFIX, DEL_PREFIXLEN);
	     rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen;
		const char *k = rocksdb_iter_key(it, &klen);
		udos_oid oid;

		if (klen != DEL_KEYLEN || memcmp(k, DEL_PREFIX, DEL_PREFIXLEN))
			break;
		memcpy(oid.id, k + DEL_PREFIXLEN, 32);
		rc = fn(ctx, &oid);
	}
	rocksdb_iter_get_error(it, &err);
	if (err && rc == 0)
		rc = index_err(ix, err, "read");
	else
		rocksdb_free(err);
	rocksdb_iter_destroy(it);
	return rc;
}

void udos__batch_set_tail(udos__batch *b, const udos__tail *t)
{
	uint8_t v[20];

	udos__put_le32(v, t->pack_id);
	udos__put_le64(v + 4, t->end);
	udos__put_le64(v + 12, t->slots);
	rocksdb_writebatch_put(b->wb, TAIL_KEY, TAIL_KEYLEN, (const char *)v,
			       sizeof(v));
}

size_t udos__batch_count(const udos__batch *b)
{
	return (size_t)rocksdb_writebatch_count(b->wb);
}

void udos__batch_clear(udos__batch *b)
{
	rocksdb_writebatch_clear(b->wb);
}

void udos__batch_free(udos__batch *b)
{
	if (!b)
		return;
	rocksdb_writebatch_destroy(b->wb);
	free(b);
}

int udos__index_write(udos__index *ix, udos__batch *b, bool sync)
{
	char *err = NULL;

	if (!ix->primary)
		return udos__err(UDOS_EINDEX, "index is open read-only");
	rocksdb_write(ix->db, sync ? ix->wsync : ix->wnosync, b->wb, &err);
	if (err)
		return index_err(ix, err, "write");
	ix->wrote = true;
	return 0;
}

void udos__batch_set_filter(udos__batch *b, uint64_t nonce)
{
	uint8_t v[8];

	udos__put_le64(v, nonce);
	rocksdb_writebatch_put(b->wb, FILTER_KEY, FILTER_KEYLEN,
			       (const char *)v, sizeof(v));
}

int udos__index_get_filter(udos__index *ix, uint64_t *nonce)
{
	char *err = NULL;
	size_t len = 0;
	char *val = rocksdb_get(ix->db, ix->ropts, FILTER_KEY, FILTER_KEYLEN,
				&len, &err);

	if (err)
		return index_err(ix, err, "read");
	if (!val)
		return UDOS_ENOTFOUND;
	if (len != 8) {
		rocksdb_free(val);
		return UDOS_ENOTFOUND; /* not ours to trust: rebuild */
	}
	*nonce = udos__get_le64((uint8_t *)val);
	rocksdb_free(val);
	return 0;
}

uint64_t udos__index_seq(udos__index *ix)
{
	return rocksdb_get_latest_sequence_number(ix->db);
}

uint64_t udos__index_estimate_keys(udos__index *ix)
{
	uint64_t v = 0;

	if (rocksdb_property_int(ix->db, "rocksdb.estimate-num-keys", &v))
		return 0;
	return v;
}

int udos__index_get_tail(udos__index *ix, udos__tail *t)
{
	char *err = NULL;
	size_t len = 0;
	char *val = rocksdb_get(ix->db, ix->ropts, TAIL_KEY, TAIL_KEYLEN, &len,
				&err);

	if (err)
		return index_err(ix, err, "read");
	if (!val)
		return UDOS_ENOTFOUND;
	if (len != 20) {
		rocksdb_free(val);
		return udos__err(UDOS_ECORRUPT, "index: bad tail record");
	}
	t->pack_id = udos__get_le32((uint8_t *)val);
	t->end = udos__get_le64((uint8_t *)val + 4);
	t->slots = udos__get_le64((uint8_t *)val + 12);
	rocksdb_free(val);
	return 0;
}

int udos__index_foreach_raw(udos__index *ix,
			    int (*fn)(void *ctx, const udos_oid *oid,
				      const void *val, size_t len),
			    void *ctx)
{
	return udos__index_foreach_from(ix, NULL, 0, fn, ctx);
}

int udos__index_foreach_from(udos__index *ix, const void *start,
			     size_t start_len,
			     int (*fn)(void *ctx, const udos_oid *oid,
				       const void *val, size_t len),
			     void *ctx)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(ix->db,
							 ix->scan_ropts);
	char *err = NULL;
	int rc = 0;

	if (start)
		rocksdb_iter_seek(it, start, start_len);
	else
		rocksdb_iter_seek_to_first(it);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);
		udos_oid oid;

		if (klen != 32)
			continue;
		memcpy(oid.id, k, 32);
		rc = fn(ctx, &oid, v, vlen);
		if (rc)
			break;
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	if (err && !rc)
		return index_err(ix, err, "scan");
	if (err)
		rocksdb_free(err);
	return rc;
}

struct decode_ctx {
	udos__index_fn fn;
	void *ctx;
};

static int decode_cb(void *ctx, const udos_oid *oid, const void *val,
		     size_t len)
{
	struct decode_ctx *d = ctx;
	udos__rec l;
	char hex[65];

	if (udos__loc_decode(&l, val, len) < 0)
		return udos__err(UDOS_ECORRUPT, "index: bad value for '%s'",
				 udos_oid_fmt(hex, oid));
	l.oid = *oid;
	return d->fn(d->ctx, oid, &l);
}

int udos__index_foreach(udos__index *ix, udos__index_fn fn, void *ctx)
{
	struct decode_ctx d = { fn, ctx };

	return udos__index_foreach_raw(ix, decode_cb, &d);
}

int udos__index_compact(udos__index *ix)
{
	if (!ix->primary)
		return udos__err(UDOS_EINDEX, "index compaction without the "
				 "writer lock");
	/* the whole key range, down to the bottom level: tombstones of
	 * deleted and repacked ids are dropped, tables rewritten whole */
	rocksdb_compact_range(ix->db, NULL, 0, NULL, 0);
	return 0;
}
