/* python/store_write.c - Store methods that add objects: loose, to packs, from paths, imports, ingest. */
#include "udos_py.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udos/backup.h>
#include <udos/ingest.h>

/* ---- loose writes ------------------------------------------------------- */

const char udos_py_add_loose_doc[] =
"add_loose(data, sync=True) -> key\n"
"Write a loose object (durable on return unless sync is False).";

PyObject *udos_py_store_add_loose(udos_py_store *s, PyObject *args,
				 PyObject *kw)
{
	static char *kwlist[] = { "data", "sync", NULL };
	Py_buffer view;
	int sync = 1, rc;
	udos_oid oid;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|p", kwlist, &view,
					 &sync))
		return NULL;
	if (udos_py_store_take(s) < 0) {
		PyBuffer_Release(&view);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	rc = udos_add_loose_buf(&oid, NULL, s->st, view.buf, (size_t)view.len,
				sync ? 0 : UDOS_ADD_NOSYNC);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	PyBuffer_Release(&view);
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	return udos_py_fmt_key(&oid, s->dsz);
}

const char udos_py_add_loose_stream_doc[] =
"add_loose_stream(stream, sync=True) -> key\n"
"Write a loose object read from stream.read(n) until it returns b''.";

PyObject *udos_py_store_add_loose_stream(udos_py_store *s, PyObject *args,
					PyObject *kw)
{
	static char *kwlist[] = { "stream", "sync", NULL };
	struct udos_py_stream ps;
	int sync = 1, rc;
	udos_oid oid;

	memset(&ps, 0, sizeof(ps));
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &ps.stream,
					 &sync))
		return NULL;
	if (udos_py_store_take(s) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_add_loose_cb(&oid, NULL, s->st, udos_py_stream_read, &ps,
			       sync ? 0 : UDOS_ADD_NOSYNC);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	udos_py_stream_release(&ps);
	if (udos_py_err_restore(&ps.err))
		return NULL;
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	return udos_py_fmt_key(&oid, s->dsz);
}

/* ---- pack writer helpers ------------------------------------------------ */

/* Lock the Store's writer mutex and open a udos_writer. GIL held on entry
 * and exit. */
static int writer_begin(udos_py_store *s, udos_writer **w, int compress,
			bool sync)
{
	udos_writer_opts opts = UDOS_WRITER_OPTS_INIT;
	int rc;

	opts.compress = compress;
	opts.no_sync = !sync;
	udos_py_lock(s->wlock);
	Py_BEGIN_ALLOW_THREADS
	rc = udos_writer_open(w, s->st, &opts);
	if (rc < 0)
		udos_store_unlock_writer(s->st);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		PyThread_release_lock(s->wlock);
		udos_py_raise(rc, NULL);
	}
	return rc;
}

/* Commit (if asked), close the writer, give the writer lock back. Returns
 * the commit's code. GIL released on entry and exit (call inside
 * Py_BEGIN_ALLOW_THREADS); the caller then releases wlock. */
static int writer_end_nogil(udos_py_store *s, udos_writer *w, bool commit)
{
	int rc = 0;

	if (commit)
		rc = udos_writer_commit(w);
	udos_writer_close(w);
	udos_store_unlock_writer(s->st);
	return rc;
}

static bool want_progress(uint64_t done, uint64_t total, uint64_t *last)
{
	uint64_t every = total ? (total / 400 ? total / 400 : 1) : 1000;

	if (done == total || done - *last >= every) {
		*last = done;
		return true;
	}
	return false;
}

/* ---- pack writes -------------------------------------------------------- */

const char udos_py_pack_add_doc[] =
"pack_add(items, compress=False, sync=True, open_streams=False,\n"
"         progress=None) -> list of keys\n"
"Add objects straight to packs. Each item is a bytes-like object or a\n"
"stream with read(n) (with open_streams, a context manager returning one).\n"
"Keys come back in input order. progress(done, total) is called now and\n"
"then. Everything added is committed (fsynced unless sync is False).";

PyObject *udos_py_store_pack_add(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "items", "compress", "sync", "open_streams",
				  "progress", NULL };
	PyObject *items, *compress_o = Py_False, *progress = Py_None;
	PyObject *seq = NULL, *res = NULL;
	int sync = 1, open_streams = 0, compress, rc = 0, rc2;
	udos_writer *w = NULL;
	Py_buffer *views = NULL;
	udos_oid *oids = NULL;
	Py_ssize_t n, nviews = 0, i;
	bool all_buffers;
	uint64_t last = 0;
	struct udos_py_progress pg = { NULL, { NULL, NULL, NULL } };

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OppO", kwlist, &items,
					 &compress_o, &sync, &open_streams,
					 &progress))
		return NULL;
	if (udos_py_compress_arg(compress_o, &compress) < 0)
		return NULL;
	if (progress != Py_None)
		pg.cb = progress;
	seq = PySequence_Fast(items, "items must be a sequence");
	if (!seq)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	oids = PyMem_Malloc(sizeof(*oids) * (size_t)(n ? n : 1));
	if (!oids) {
		PyErr_NoMemory();
		goto done;
	}
	all_buffers = !open_streams;
	for (i = 0; all_buffers && i < n; i++)
		if (!PyObject_CheckBuffer(PySequence_Fast_GET_ITEM(seq, i)))
			all_buffers = false;
	if (all_buffers) {
		/* pin every buffer, then add them all without the GIL */
		views = PyMem_Malloc(sizeof(*views) * (size_t)(n ? n : 1));
		if (!views) {
			PyErr_NoMemory();
			goto done;
		}
		for (nviews = 0; nviews < n; nviews++)
			if (PyObject_GetBuffer(
				    PySequence_Fast_GET_ITEM(seq, nviews),
				    &views[nviews], PyBUF_SIMPLE) < 0)
				goto done;
	}
	if (udos_py_store_take(s) < 0)
		goto done;
	if (writer_begin(s, &w, compress, sync) < 0) {
		udos_py_store_drop(s);
		goto done;
	}
	if (all_buffers) {
		Py_BEGIN_ALLOW_THREADS
		for (i = 0; i < n; i++) {
			rc = udos_writer_add_buf(&oids[i], NULL, w,
						 views[i].buf,
						 (size_t)views[i].len);
			if (rc < 0)
				break;
			if (pg.cb && want_progress((uint64_t)i + 1,
						   (uint64_t)n, &last))
				udos_py_progress_fn(&pg, (uint64_t)i + 1,
					    (uint64_t)n);
		}
		rc2 = writer_end_nogil(s, w, true);
		Py_END_ALLOW_THREADS
	} else {
		for (i = 0; i < n; i++) {
			PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
			PyObject *src = item, *ex;
			struct udos_py_stream ps;
			Py_buffer view;

			if (open_streams) {
				src = PyObject_CallMethod(item, "__enter__",
							  NULL);
				if (!src)
					break;
			} else {
				Py_INCREF(src);
			}
			if (PyObject_CheckBuffer(src) &&
			    PyObject_GetBuffer(src, &view, PyBUF_SIMPLE) == 0) {
				Py_BEGIN_ALLOW_THREADS
				rc = udos_writer_add_buf(&oids[i], NULL, w,
							 view.buf,
							 (size_t)view.len);
				Py_END_ALLOW_THREADS
				PyBuffer_Release(&view);
			} else {
				memset(&ps, 0, sizeof(ps));
				ps.stream = src;
				Py_BEGIN_ALLOW_THREADS
				rc = udos_writer_add_cb(&oids[i], NULL, w,
							udos_py_stream_read, &ps);
				Py_END_ALLOW_THREADS
				udos_py_stream_release(&ps);
				udos_py_err_restore(&ps.err);
			}
			Py_DECREF(src);
			if (open_streams) {
				PyObject *et, *ev, *etb;

				PyErr_Fetch(&et, &ev, &etb);
				ex = PyObject_CallMethod(item, "__exit__",
							 "OOO", Py_None,
							 Py_None, Py_None);
				if (et) {
					Py_XDECREF(ex);
					PyErr_Restore(et, ev, etb);
				} else if (!ex) {
					break;
				} else {
					Py_DECREF(ex);
				}
			}
			if (PyErr_Occurred())
				break;
			if (rc < 0)
				break;
			if (pg.cb && want_progress((uint64_t)i + 1,
						   (uint64_t)n, &last)) {
				udos_py_progress_fn(&pg, (uint64_t)i + 1, (uint64_t)n);
				if (pg.err.type)
					break;
			}
		}
		Py_BEGIN_ALLOW_THREADS
		rc2 = writer_end_nogil(s, w, true);
		Py_END_ALLOW_THREADS
	}
	PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (PyErr_Occurred() || udos_py_err_restore(&pg.err))
		goto done;
	if (rc < 0 || rc2 < 0) {
		udos_py_raise(rc < 0 ? rc : rc2, NULL);
		goto done;
	}
	res = PyList_New(n);
	if (!res)
		goto done;
	for (i = 0; i < n; i++) {
		PyObject *k = udos_py_fmt_key(&oids[i], s->dsz);

		if (!k) {
			Py_CLEAR(res);
			goto done;
		}
		PyList_SET_ITEM(res, i, k);
	}
done:
	for (i = 0; i < nviews; i++)
		PyBuffer_Release(&views[i]);
	PyMem_Free(views);
	PyMem_Free(oids);
	Py_DECREF(seq);
	return res;
}

/* Paths as a list of bytes (fs-encoded) with their C strings. */
static PyObject *fs_paths(PyObject *paths, const char ***out, Py_ssize_t *n)
{
	PyObject *seq, *conv;
	const char **v;
	Py_ssize_t i, len;

	seq = PySequence_Fast(paths, "paths must be a sequence");
	if (!seq)
		return NULL;
	len = PySequence_Fast_GET_SIZE(seq);
	conv = PyList_New(len);
	v = PyMem_Malloc(sizeof(*v) * (size_t)(len ? len : 1));
	if (!conv || !v)
		goto fail;
	for (i = 0; i < len; i++) {
		PyObject *b = NULL;

		if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, i),
					   &b))
			goto fail;
		PyList_SET_ITEM(conv, i, b);
		v[i] = PyBytes_AS_STRING(b);
	}
	Py_DECREF(seq);
	*out = v;
	*n = len;
	return conv;
fail:
	if (!PyErr_Occurred())
		PyErr_NoMemory();
	PyMem_Free(v);
	Py_XDECREF(conv);
	Py_DECREF(seq);
	return NULL;
}

const char udos_py_add_paths_doc[] =
"add_paths(paths, to_pack=True, compress=False, sync=True, progress=None)\n"
"-> list of keys (input order). Each path is a regular file, read by fd.\n"
"The first file that cannot be read raises OSError (with filename); what\n"
"was added before it is kept.";

PyObject *udos_py_store_add_paths(udos_py_store *s, PyObject *args,
				 PyObject *kw)
{
	static char *kwlist[] = { "paths", "to_pack", "compress", "sync",
				  "progress", NULL };
	PyObject *paths, *conv = NULL, *compress_o = Py_False;
	PyObject *progress = Py_None, *res = NULL;
	int to_pack = 1, sync = 1, compress, rc = 0, rc2 = 0, fail_errno = 0;
	const char **v = NULL;
	Py_ssize_t n = 0, i, failed = -1;
	udos_oid *oids = NULL;
	udos_writer *w = NULL;
	uint64_t last = 0;
	struct udos_py_progress pg = { NULL, { NULL, NULL, NULL } };

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pOpO", kwlist, &paths,
					 &to_pack, &compress_o, &sync,
					 &progress))
		return NULL;
	if (udos_py_compress_arg(compress_o, &compress) < 0)
		return NULL;
	if (progress != Py_None)
		pg.cb = progress;
	conv = fs_paths(paths, &v, &n);
	if (!conv)
		return NULL;
	oids = PyMem_Malloc(sizeof(*oids) * (size_t)(n ? n : 1));
	if (!oids) {
		PyErr_NoMemory();
		goto done;
	}
	if (udos_py_store_take(s) < 0)
		goto done;
	if (to_pack && writer_begin(s, &w, compress, sync) < 0) {
		udos_py_store_drop(s);
		goto done;
	}
	Py_BEGIN_ALLOW_THREADS
	for (i = 0; i < n; i++) {
		int fd = open(v[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			fail_errno = errno;
			failed = i;
			break;
		}
		if (to_pack)
			rc = udos_writer_add_fd(&oids[i], NULL, w, fd);
		else
			rc = udos_add_loose_fd(&oids[i], NULL, s->st, fd,
					       sync ? 0 : UDOS_ADD_NOSYNC);
		close(fd);
		if (rc < 0) {
			failed = i;
			break;
		}
		if (pg.cb && want_progress((uint64_t)i + 1, (uint64_t)n,
					   &last))
			udos_py_progress_fn(&pg, (uint64_t)i + 1, (uint64_t)n);
	}
	if (to_pack)
		rc2 = writer_end_nogil(s, w, true);
	Py_END_ALLOW_THREADS
	if (to_pack)
		PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (udos_py_err_restore(&pg.err))
		goto done;
	if (fail_errno) {
		errno = fail_errno;
		PyErr_SetFromErrnoWithFilename(PyExc_OSError, v[failed]);
		goto done;
	}
	if (rc < 0) {
		if (rc > -5000) {
			errno = -rc;
			PyErr_SetFromErrnoWithFilename(PyExc_OSError,
						       v[failed]);
		} else {
			udos_py_raise(rc, v[failed]);
		}
		goto done;
	}
	if (rc2 < 0) {
		udos_py_raise(rc2, NULL);
		goto done;
	}
	res = udos_py_keys_list(oids, n, s->dsz);
done:
	PyMem_Free(oids);
	PyMem_Free(v);
	Py_DECREF(conv);
	return res;
}

const char udos_py_import_from_doc[] =
"import_from(source, keys, compress=False, sync=True, progress=None)\n"
"-> list of the keys copied (those present in source). source is another\n"
"Store of the same hash type (ValueError otherwise: the keys would\n"
"change); objects stream from its readers into this store's packs.";

/* the keys found in the source, whether copied now or already here */
struct import_ctx {
	udos_oid *found;
	size_t n;
	udos_oid bad; /* the first corrupt one */
	bool has_bad;
	uint64_t last;
	struct udos_py_progress pg;
};

static int import_object_fn(void *ctx, int status, const udos_oid *src_oid,
			    const udos_oid *dst_oid)
{
	struct import_ctx *ic = ctx;

	(void)dst_oid;
	if (status == UDOS_IMPORT_COPIED || status == UDOS_IMPORT_PRESENT)
		ic->found[ic->n++] = *src_oid;
	else if (status == UDOS_IMPORT_CORRUPT && !ic->has_bad) {
		ic->bad = *src_oid;
		ic->has_bad = true;
	}
	return 0;
}

static void import_progress_fn(void *ctx, const udos_progress *p)
{
	struct import_ctx *ic = ctx;

	if (want_progress(p->done, p->total, &ic->last))
		udos_py_progress_fn(&ic->pg, p->done, p->total);
}

PyObject *udos_py_store_import_from(udos_py_store *s, PyObject *args,
				   PyObject *kw)
{
	static char *kwlist[] = { "source", "keys", "compress", "sync",
				  "progress", NULL };
	udos_py_store *src;
	PyObject *keys, *compress_o = Py_False;
	PyObject *progress = Py_None, *res = NULL;
	int sync = 1, rc;
	struct udos_py_keyset k = UDOS_PY_KEYSET_INIT;
	udos_import_opts opts = UDOS_IMPORT_OPTS_INIT;
	struct import_ctx ic;

	memset(&ic, 0, sizeof(ic));
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O|OpO", kwlist,
					 &udos_py_store_type, &src, &keys,
					 &compress_o, &sync, &progress))
		return NULL;
	if (udos_py_compress_arg(compress_o, &opts.compress) < 0)
		return NULL;
	/* ids are kept as they are: both stores must name content alike
	 * (the digest size tells the two hash types apart) */
	if (src->dsz != s->dsz)
		return PyErr_Format(PyExc_ValueError, "cannot import between "
				    "containers of different hash types");
	if (progress != Py_None)
		ic.pg.cb = progress;
	if (udos_py_keyset_load(&k, s->dsz, keys) < 0)
		goto done;
	/* a key given twice is reported twice */
	ic.found = PyMem_Malloc(sizeof(*ic.found) *
				(k.nvalid ? k.nvalid : 1));
	if (!ic.found) {
		PyErr_NoMemory();
		goto done;
	}
	opts.no_sync = !sync;
	opts.on_object = import_object_fn;
	opts.progress = import_progress_fn;
	opts.ctx = &ic;
	if (udos_py_store_take(src) < 0)
		goto done;
	if (udos_py_store_take(s) < 0) {
		udos_py_store_drop(src);
		goto done;
	}
	udos_py_lock(s->wlock);
	Py_BEGIN_ALLOW_THREADS
	rc = udos_store_import(NULL, s->st, src->st, k.oids, k.nvalid, &opts);
	udos_store_unlock_writer(s->st);
	Py_END_ALLOW_THREADS
	PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	udos_py_store_drop(src);
	if (udos_py_err_restore(&ic.pg.err))
		goto done;
	if (rc < 0) {
		udos_py_raise(rc, NULL);
		goto done;
	}
	if (ic.has_bad) {
		char hex[UDOS_OID_HEXSZ + 1];

		udos_py_raise(UDOS_ECORRUPT, udos_oid_fmt_sz(hex, &ic.bad,
							      s->dsz));
		goto done;
	}
	res = udos_py_keys_list(ic.found, (Py_ssize_t)ic.n, s->dsz);
done:
	PyMem_Free(ic.found);
	udos_py_keyset_release(&k);
	return res;
}

/* ---- ingest (uring/) ---------------------------------------------------- */

struct ingested {
	char *path;
	char *detail;
	int error;
	udos_oid oid;
};

struct ingest_ctx {
	struct ingested *v;
	size_t n, cap;
	int err;
	struct udos_py_progress pg;
};

static void ingest_file_fn(void *ctx, const udos_ingest_file *f)
{
	struct ingest_ctx *ic = ctx;
	struct ingested *e;

	if (ic->err)
		return;
	if (ic->n == ic->cap) {
		size_t ncap = ic->cap ? ic->cap * 2 : 256;
		struct ingested *nv = realloc(ic->v, ncap * sizeof(*nv));

		if (!nv) {
			ic->err = -ENOMEM;
			return;
		}
		ic->v = nv;
		ic->cap = ncap;
	}
	e = &ic->v[ic->n];
	e->path = strdup(f->path);
	e->detail = f->error ? strdup(f->detail ? f->detail : "") : NULL;
	if (!e->path) {
		free(e->detail);
		ic->err = -ENOMEM;
		return;
	}
	e->error = f->error;
	e->oid = f->oid;
	ic->n++;
}

static void ingest_progress_fn(void *ctx, const udos_ingest_progress *p)
{
	struct ingest_ctx *ic = ctx;

	udos_py_progress_fn(&ic->pg, p->files_done, p->files_total);
}

const char udos_py_ingest_doc[] =
"ingest(paths, to_pack=True, compress=False, sync=True, progress=None,\n"
"       io=INGEST_IO_AUTO, use_cache=True)\n"
"-> list of (path: bytes, key or None, error code, detail)\n"
"Store files and the regular files under folders with the io_uring ingest\n"
"engine (parallel read, hash and compress). Symlinks and special files are\n"
"skipped. Files the container's stat cache knows unchanged are not read\n"
"(use_cache=False reads all). Per-file failures are returned, not raised.";

PyObject *udos_py_store_ingest(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "paths", "to_pack", "compress", "sync",
				  "progress", "io", "use_cache", NULL };
	PyObject *paths, *conv = NULL, *compress_o = Py_False;
	PyObject *progress = Py_None, *res = NULL;
	int to_pack = 1, sync = 1, io = UDOS_INGEST_IO_AUTO, use_cache = 1, rc;
	const char **v = NULL;
	Py_ssize_t n = 0;
	udos_ingest_opts opts = UDOS_INGEST_OPTS_INIT;
	udos_ingest_summary sum;
	struct ingest_ctx ic;

	memset(&ic, 0, sizeof(ic));
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pOpOip", kwlist, &paths,
					 &to_pack, &compress_o, &sync,
					 &progress, &io, &use_cache))
		return NULL;
	if (udos_py_compress_arg(compress_o, &opts.compress) < 0)
		return NULL;
	if (progress != Py_None)
		ic.pg.cb = progress;
	opts.io = io;
	opts.target = to_pack ? UDOS_INGEST_TO_PACK : UDOS_INGEST_TO_LOOSE;
	opts.no_sync = !sync;
	if (!use_cache)
		opts.flags |= UDOS_INGEST_NO_CACHE;
	opts.on_file = ingest_file_fn;
	opts.progress = ic.pg.cb ? ingest_progress_fn : NULL;
	opts.ctx = &ic;
	conv = fs_paths(paths, &v, &n);
	if (!conv)
		return NULL;
	if (udos_py_store_take(s) < 0)
		goto done;
	if (to_pack)
		udos_py_lock(s->wlock);
	Py_BEGIN_ALLOW_THREADS
	rc = udos_ingest_paths(&sum, s->st, v, (size_t)n, &opts);
	if (to_pack)
		udos_store_unlock_writer(s->st);
	Py_END_ALLOW_THREADS
	if (to_pack)
		PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (udos_py_err_restore(&ic.pg.err))
		goto done;
	if (rc < 0 || ic.err < 0) {
		udos_py_raise(rc < 0 ? rc : ic.err, NULL);
		goto done;
	}
	res = PyList_New((Py_ssize_t)ic.n);
	if (!res)
		goto done;
	for (size_t i = 0; i < ic.n; i++) {
		struct ingested *e = &ic.v[i];
		PyObject *key, *item;

		if (e->error) {
			key = Py_None;
			Py_INCREF(key);
		} else if (!(key = udos_py_fmt_key(&e->oid, s->dsz))) {
			Py_CLEAR(res);
			goto done;
		}
		item = Py_BuildValue("(yNis)", e->path, key, e->error,
				     e->detail ? e->detail : "");
		if (!item) {
			Py_CLEAR(res);
			goto done;
		}
		PyList_SET_ITEM(res, (Py_ssize_t)i, item);
	}
done:
	for (size_t i = 0; i < ic.n; i++) {
		free(ic.v[i].path);
		free(ic.v[i].detail);
	}
	free(ic.v);
	PyMem_Free(v);
	Py_DECREF(conv);
	return res;
}
