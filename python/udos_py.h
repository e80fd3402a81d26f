/* python/udos_py.h - declarations shared by the C files of the _udos module. */
#ifndef UDOS_PY_H
#define UDOS_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>

#include <udos/udos.h>

/*
 * The Store type (store_type.c): one open udos_store.
 *
 * Lifetime: every call that uses `st` holds a "use" (users > 0) for its
 * duration, and so does every open Reader. close() only marks the object
 * closed; the udos_store is freed by whoever drops the last use, so a
 * close() from another thread never frees the store under a running call.
 * users/closed are only touched with the GIL held.
 */
typedef struct {
	PyObject_HEAD
	udos_store *st;
	long users;
	bool closed;
	PyThread_type_lock wlock; /* serialises pack writers of this object */
	PyObject *path;           /* str */
	size_t dsz;               /* digest bytes of the ids: 32, or 20 (sha1) */
} udos_py_store;

/* The Reader type (reader_type.c): a binary file-like object on one object. */
typedef struct {
	PyObject_HEAD
	udos_py_store *store; /* strong ref; holds a use while open */
	udos_reader *r;
	PyThread_type_lock lock; /* one thread at a time in r */
	udos_meta meta;
	char hex[UDOS_OID_HEXSZ + 1];
	/* bytes readline took from r past the line it returned: read next */
	char *ahead;
	Py_ssize_t ahead_off, ahead_len;
} udos_py_reader;

extern PyTypeObject udos_py_store_type;
extern PyTypeObject udos_py_reader_type;

/* _udos.c: set a Python exception for a negative udos/errno code and
 * return NULL. `what` (may be NULL) names the subject when the library left
 * no detail. */
PyObject *udos_py_raise(int code, const char *what);

/* The NotExistent class (borrowed). */
PyObject *udos_py_not_existent(void);

/* store_type.c: take/drop a use of the store (GIL held). take fails with
 * ValueError if the store is closed. */
int udos_py_store_take(udos_py_store *s);
void udos_py_store_drop(udos_py_store *s);

/* Parse a Python str (2 * dsz lowercase hex chars: 64 for sha256, 40 for
 * sha1) into an oid. Returns 0, or -1 with no exception set when the key is
 * not a valid id of that length (callers treat it as a missing object), or
 * -2 with TypeError set when not a str. */
int udos_py_parse_key(udos_oid *out, size_t dsz, PyObject *key);
/* The str key of an oid with dsz digest bytes (new reference or NULL). */
PyObject *udos_py_fmt_key(const udos_oid *oid, size_t dsz);

/* reader_type.c: wrap an open udos_reader (takes ownership; takes a use of
 * the store). */
PyObject *udos_py_reader_new(udos_py_store *s, udos_reader *r,
			     const udos_oid *oid);

/* store_dos.c: Store.import_dos(path, compress, sync, progress) and
 * Store.export_dos(path, compress, loose, zlib_level, sync, progress) ->
 * dict of counts plus 'problems', a list of (subject, cause). */
PyObject *udos_py_store_import_dos(udos_py_store *s, PyObject *args,
				   PyObject *kw);
PyObject *udos_py_store_export_dos(udos_py_store *s, PyObject *args,
				   PyObject *kw);
/* store_restore.c: Store.restore (a METH_VARARGS | METH_KEYWORDS method). */
extern const char udos_py_restore_doc[];
PyObject *udos_py_restore(udos_py_store *s, PyObject *args, PyObject *kw);
/* store_remote.c: the S3 remote methods of Store, and _udos.clone */
PyObject *udos_py_store_push(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_evict(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_pull(udos_py_store *s, PyObject *unused);
PyObject *udos_py_store_refresh(udos_py_store *s, PyObject *unused);
PyObject *udos_py_store_remote_gc(udos_py_store *s, PyObject *args,
				  PyObject *kw);
PyObject *udos_py_store_remote_set(udos_py_store *s, PyObject *args,
				   PyObject *kw);
PyObject *udos_py_store_remote_status(udos_py_store *s, PyObject *unused);
PyObject *udos_py_clone(PyObject *self, PyObject *args, PyObject *kw);

/* Acquire a PyThread lock, releasing the GIL while waiting. */
void udos_py_lock(PyThread_type_lock l);

/* store_common.c: what the Store methods share. */
/*
 * An exception raised by Python code called back from the library is kept
 * here (the library may call from a thread that is not the caller's) and
 * restored on the calling thread when the library call returns.
 */
struct udos_py_err {
	PyObject *type, *value, *tb;
};

/* progress: calls cb(done, total) with the GIL; errors are kept. */
struct udos_py_progress {
	PyObject *cb; /* may be NULL */
	struct udos_py_err err;
};

/* A pull source over a Python object with read(n). */
struct udos_py_stream {
	PyObject *stream;
	PyObject *pending; /* bytes returned beyond what was asked */
	Py_ssize_t pos;
	struct udos_py_err err;
};

#define UDOS_PY_STREAM_FAILED (-ECANCELED)

/* Keys given to a bulk call: parsed, and the parsable ones compacted for
 * the library, with map[j] the input position of oids[j]. */
struct udos_py_keyset {
	PyObject *seq;        /* the keys, as a fast sequence */
	udos_oid *oids;
	unsigned char *valid; /* by input position: parsable? */
	Py_ssize_t n, *map;
	size_t nvalid;
};

#define UDOS_PY_KEYSET_INIT { NULL, NULL, NULL, 0, NULL, 0 }

void udos_py_err_keep(struct udos_py_err *e);
bool udos_py_err_restore(struct udos_py_err *e);
void udos_py_progress_fn(void *ctx, uint64_t done, uint64_t total);
void udos_py_count_progress(void *ctx, const udos_progress *p);
void udos_py_byte_progress(void *ctx, const udos_progress *p);
ssize_t udos_py_stream_read(void *ctx, void *buf, size_t len);
void udos_py_stream_release(struct udos_py_stream *p);
PyObject *udos_py_parse_keys(PyObject *keys, size_t dsz, udos_oid **oids_out,
			    unsigned char **valid_out, Py_ssize_t *n_out);
size_t udos_py_compact_keys(udos_oid *oids, const unsigned char *valid,
			   Py_ssize_t n, Py_ssize_t *map);
int udos_py_keyset_load(struct udos_py_keyset *k, size_t dsz, PyObject *keys);
void udos_py_keyset_release(struct udos_py_keyset *k);
PyObject *udos_py_keys_list(const udos_oid *oids, Py_ssize_t n, size_t dsz);
int udos_py_compress_arg(PyObject *o, int *out);

/* store_read.c, store_write.c, store_maint.c: the Store methods (and
 * their docstrings) that store_type.c lists in its method table. */
PyObject *udos_py_store_add_loose(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_add_loose_stream(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_add_paths(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_backup(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_clean(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_delete(udos_py_store *s, PyObject *keys);
PyObject *udos_py_store_get(udos_py_store *s, PyObject *key);
PyObject *udos_py_store_get_many(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_has(udos_py_store *s, PyObject *key);
PyObject *udos_py_store_has_many(udos_py_store *s, PyObject *keys);
PyObject *udos_py_store_import_from(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_ingest(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_list_all(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_lock_writer(udos_py_store *s, PyObject *unused);
PyObject *udos_py_store_open(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_pack_add(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_pack_loose(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_repack(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_stat(udos_py_store *s, PyObject *key);
PyObject *udos_py_store_stat_many(udos_py_store *s, PyObject *args, PyObject *kw);
PyObject *udos_py_store_status(udos_py_store *s, PyObject *unused);
PyObject *udos_py_store_unlock_writer(udos_py_store *s, PyObject *unused);
PyObject *udos_py_store_validate(udos_py_store *s, PyObject *args, PyObject *kw);
extern const char udos_py_add_loose_doc[];
extern const char udos_py_add_loose_stream_doc[];
extern const char udos_py_add_paths_doc[];
extern const char udos_py_delete_doc[];
extern const char udos_py_get_many_doc[];
extern const char udos_py_has_many_doc[];
extern const char udos_py_import_from_doc[];
extern const char udos_py_ingest_doc[];
extern const char udos_py_list_all_doc[];
extern const char udos_py_open_doc[];
extern const char udos_py_pack_add_doc[];
extern const char udos_py_pack_loose_doc[];
extern const char udos_py_repack_doc[];
extern const char udos_py_stat_doc[];
extern const char udos_py_stat_many_doc[];
extern const char udos_py_validate_doc[];
extern const char udos_py_backup_doc[];

#endif
