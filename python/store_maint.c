/* python/store_maint.c - Store methods that keep a container: pack, clean, delete, repack, validate, status, list, lock, backup. */
#include "udos_py.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udos/backup.h>
#include <udos/ingest.h>

/* ---- maintenance -------------------------------------------------------- */

const char udos_py_pack_loose_doc[] =
"pack_loose(compress=False, clean=False, sync=True, progress=None) -> dict\n"
"Move loose objects into packs; the result counts packed, skipped,\n"
"cleaned, corrupt, bytes_in and bytes_out.";

PyObject *udos_py_store_pack_loose(udos_py_store *s, PyObject *args,
				  PyObject *kw)
{
	static char *kwlist[] = { "compress", "clean", "sync", "progress",
				  NULL };
	PyObject *compress_o = Py_False, *progress = Py_None;
	int clean = 0, sync = 1, rc;
	udos_pack_opts opts = UDOS_PACK_OPTS_INIT;
	udos_pack_result out;
	struct udos_py_progress pg = { NULL, { NULL, NULL, NULL } };

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OppO", kwlist,
					 &compress_o, &clean, &sync, &progress))
		return NULL;
	if (udos_py_compress_arg(compress_o, &opts.compress) < 0)
		return NULL;
	if (progress != Py_None)
		pg.cb = progress;
	opts.clean = clean;
	opts.no_sync = !sync;
	opts.progress = udos_py_count_progress;
	opts.ctx = &pg;
	memset(&out, 0, sizeof(out));
	if (udos_py_store_take(s) < 0)
		return NULL;
	udos_py_lock(s->wlock);
	Py_BEGIN_ALLOW_THREADS
	rc = udos_store_pack_loose(&out, s->st, &opts);
	udos_store_unlock_writer(s->st);
	Py_END_ALLOW_THREADS
	PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (udos_py_err_restore(&pg.err))
		return NULL;
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K}", "packed",
			     (unsigned long long)out.packed, "skipped",
			     (unsigned long long)out.skipped, "cleaned",
			     (unsigned long long)out.cleaned, "corrupt",
			     (unsigned long long)out.corrupt, "bytes_in",
			     (unsigned long long)out.bytes_in, "bytes_out",
			     (unsigned long long)out.bytes_out);
}

PyObject *udos_py_store_clean(udos_py_store *s, PyObject *args,
			     PyObject *kw)
{
	static char *kwlist[] = { "vacuum", NULL };
	udos_clean_opts co = UDOS_CLEAN_OPTS_INIT;
	udos_clean_result r;
	int vacuum = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &vacuum))
		return NULL;
	if (vacuum)
		co.flags |= UDOS_CLEAN_VACUUM;
	if (udos_py_store_take(s) < 0)
		return NULL;
	udos_py_lock(s->wlock);
	Py_BEGIN_ALLOW_THREADS
	rc = udos_store_clean_ex(&r, s->st, &co);
	udos_store_unlock_writer(s->st);
	Py_END_ALLOW_THREADS
	PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	return PyLong_FromUnsignedLongLong(r.removed);
}

const char udos_py_delete_doc[] =
"delete(keys) -> list of the keys that were there and are now gone";

PyObject *udos_py_store_delete(udos_py_store *s, PyObject *keys)
{
	PyObject *seq, *res = NULL;
	udos_oid *oids = NULL;
	unsigned char *valid = NULL;
	Py_ssize_t n = 0, i;
	int rc = 0;

	seq = udos_py_parse_keys(keys, s->dsz, &oids, &valid, &n);
	if (!seq)
		return NULL;
	if (udos_py_store_take(s) < 0)
		goto done;
	udos_py_lock(s->wlock);
	Py_BEGIN_ALLOW_THREADS
	for (i = 0; i < n; i++) {
		if (!valid[i])
			continue;
		rc = udos_object_delete(s->st, &oids[i]);
		if (rc == UDOS_ENOTFOUND) {
			valid[i] = 0;
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
	}
	udos_store_unlock_writer(s->st);
	Py_END_ALLOW_THREADS
	PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (rc < 0) {
		udos_py_raise(rc, NULL);
		goto done;
	}
	res = PyList_New(0);
	if (!res)
		goto done;
	for (i = 0; i < n; i++) {
		if (!valid[i])
			continue;
		if (PyList_Append(res, PySequence_Fast_GET_ITEM(seq, i)) < 0) {
			Py_CLEAR(res);
			goto done;
		}
	}
done:
	PyMem_Free(oids);
	PyMem_Free(valid);
	Py_DECREF(seq);
	return res;
}

const char udos_py_repack_doc[] =
"repack(pack_id=None, compress=COMPRESS_KEEP, sync=True, progress=None)\n"
"Repack one pack (pack_id) or all of them.";

PyObject *udos_py_store_repack(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "pack_id", "compress", "sync", "progress",
				  NULL };
	PyObject *pack_o = Py_None, *progress = Py_None;
	PyObject *compress_o = NULL;
	int sync = 1, rc;
	unsigned long pack_id = 0;
	udos_repack_opts opts = UDOS_REPACK_OPTS_INIT;
	struct udos_py_progress pg = { NULL, { NULL, NULL, NULL } };

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOpO", kwlist, &pack_o,
					 &compress_o, &sync, &progress))
		return NULL;
	if (compress_o && udos_py_compress_arg(compress_o, &opts.compress) < 0)
		return NULL;
	if (pack_o != Py_None) {
		pack_id = PyLong_AsUnsignedLong(pack_o);
		if (PyErr_Occurred())
			return NULL;
		if (pack_id > UINT32_MAX) {
			PyErr_SetString(PyExc_ValueError, "invalid pack id");
			return NULL;
		}
	}
	if (progress != Py_None)
		pg.cb = progress;
	opts.no_sync = !sync;
	opts.progress = udos_py_byte_progress;
	opts.ctx = &pg;
	if (udos_py_store_take(s) < 0)
		return NULL;
	udos_py_lock(s->wlock);
	Py_BEGIN_ALLOW_THREADS
	if (pack_o == Py_None)
		rc = udos_store_repack(s->st, &opts);
	else
		rc = udos_store_repack_pack(s->st, (uint32_t)pack_id, &opts);
	udos_store_unlock_writer(s->st);
	Py_END_ALLOW_THREADS
	PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (udos_py_err_restore(&pg.err))
		return NULL;
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	Py_RETURN_NONE;
}

struct finding_copy {
	int kind;
	bool has_oid;
	udos_oid oid;
	char *path;
	uint64_t offset;
	char *message;
};

struct findings {
	struct finding_copy *v;
	size_t n, cap;
	int err;
};

static int finding_fn(void *ctx, const udos_finding *f)
{
	struct findings *fs = ctx;
	struct finding_copy *c;

	if (fs->n == fs->cap) {
		size_t ncap = fs->cap ? fs->cap * 2 : 16;
		struct finding_copy *nv = realloc(fs->v, ncap * sizeof(*nv));

		if (!nv) {
			fs->err = -ENOMEM;
			return 1;
		}
		fs->v = nv;
		fs->cap = ncap;
	}
	c = &fs->v[fs->n++];
	c->kind = f->kind;
	c->has_oid = f->has_oid;
	c->oid = f->oid;
	c->offset = f->offset;
	c->path = f->path ? strdup(f->path) : NULL;
	c->message = strdup(f->message ? f->message : "");
	return 0;
}

const char udos_py_validate_doc[] =
"validate(full=True, progress=None) -> (findings, result)\n"
"findings: list of (kind_name, key or None, path or None, offset, message);\n"
"result: dict of the counters.";

PyObject *udos_py_store_validate(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "full", "progress", NULL };
	PyObject *progress = Py_None, *list = NULL, *res = NULL;
	int full = 1, rc;
	udos_validate_result out;
	struct findings fs = { NULL, 0, 0, 0 };
	struct udos_py_progress pg = { NULL, { NULL, NULL, NULL } };

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|pO", kwlist, &full,
					 &progress))
		return NULL;
	if (progress != Py_None)
		pg.cb = progress;
	memset(&out, 0, sizeof(out));
	if (udos_py_store_take(s) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_store_validate(&out, s->st, full ? UDOS_VALIDATE_FULL : 0,
				 finding_fn, &fs, udos_py_byte_progress, &pg);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	if (udos_py_err_restore(&pg.err))
		goto done;
	if (rc < 0 || fs.err < 0) {
		udos_py_raise(rc < 0 ? rc : fs.err, NULL);
		goto done;
	}
	list = PyList_New(0);
	if (!list)
		goto done;
	for (size_t i = 0; i < fs.n; i++) {
		struct finding_copy *c = &fs.v[i];
		PyObject *key, *item;

		if (c->has_oid) {
			key = udos_py_fmt_key(&c->oid, s->dsz);
			if (!key)
				goto done;
		} else {
			key = Py_None;
			Py_INCREF(key);
		}
		item = Py_BuildValue("(sNzKs)", udos_finding_name(c->kind),
				     key, c->path,
				     (unsigned long long)c->offset,
				     c->message ? c->message : "");
		if (!item || PyList_Append(list, item) < 0) {
			Py_XDECREF(item);
			goto done;
		}
		Py_DECREF(item);
	}
	res = Py_BuildValue(
		"(O{s:K,s:K,s:K,s:K,s:K,s:K})", list, "findings",
		(unsigned long long)out.findings, "loose_checked",
		(unsigned long long)out.loose_checked, "records_checked",
		(unsigned long long)out.records_checked, "index_checked",
		(unsigned long long)out.index_checked, "bytes_checked",
		(unsigned long long)out.bytes_checked, "unreferenced_records",
		(unsigned long long)out.unreferenced_records);
done:
	Py_XDECREF(list);
	for (size_t i = 0; i < fs.n; i++) {
		free(fs.v[i].path);
		free(fs.v[i].message);
	}
	free(fs.v);
	return res;
}

PyObject *udos_py_store_status(udos_py_store *s, PyObject *unused)
{
	udos_status st;
	int rc;

	(void)unused;
	if (udos_py_store_take(s) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_store_status(&st, s->st);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	return Py_BuildValue(
		"{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "loose_count",
		(unsigned long long)st.loose_count, "loose_size",
		(unsigned long long)st.loose_size, "packed_count",
		(unsigned long long)st.packed_count, "packed_size",
		(unsigned long long)st.packed_size, "packed_stored_size",
		(unsigned long long)st.packed_stored_size, "pack_count",
		(unsigned long long)st.pack_count, "pack_files_size",
		(unsigned long long)st.pack_files_size, "index_size",
		(unsigned long long)st.index_size, "both_count",
		(unsigned long long)st.both_count);
}

struct oidvec {
	udos_oid *v;
	size_t n, cap;
};

static int foreach_fn(void *ctx, const udos_oid *oid, const udos_meta *meta)
{
	struct oidvec *ov = ctx;

	(void)meta;
	if (ov->n == ov->cap) {
		size_t ncap = ov->cap ? ov->cap * 2 : 1024;
		udos_oid *nv = realloc(ov->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		ov->v = nv;
		ov->cap = ncap;
	}
	ov->v[ov->n++] = *oid;
	return 0;
}

const char udos_py_list_all_doc[] =
"list_all(loose=True, packed=True) -> list of keys, each once\n"
"(packed ones first, in id order; then loose ones not packed).";

PyObject *udos_py_store_list_all(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "loose", "packed", NULL };
	int loose = 1, packed = 1, rc;
	unsigned flags = 0;
	struct oidvec ov = { NULL, 0, 0 };
	PyObject *res;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|pp", kwlist, &loose,
					 &packed))
		return NULL;
	if (loose)
		flags |= UDOS_FOREACH_LOOSE;
	if (packed)
		flags |= UDOS_FOREACH_PACKED;
	if (!flags)
		return PyList_New(0);
	if (udos_py_store_take(s) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_store_foreach(s->st, flags, foreach_fn, &ov);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	if (rc < 0) {
		free(ov.v);
		return udos_py_raise(rc, NULL);
	}
	res = udos_py_keys_list(ov.v, (Py_ssize_t)ov.n, s->dsz);
	free(ov.v);
	return res;
}

/* lock_writer / unlock_writer: the same call with the GIL released */
static PyObject *writer_lock_call(udos_py_store *s, int (*fn)(udos_store *))
{
	int rc;

	if (udos_py_store_take(s) < 0)
		return NULL;
	udos_py_lock(s->wlock);
	Py_BEGIN_ALLOW_THREADS
	rc = fn(s->st);
	Py_END_ALLOW_THREADS
	PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	Py_RETURN_NONE;
}

PyObject *udos_py_store_lock_writer(udos_py_store *s, PyObject *unused)
{
	(void)unused;
	return writer_lock_call(s, udos_store_lock_writer);
}

const char udos_py_backup_doc[] =
	"backup(dest, progress=None, fetch_evicted=False) -> dict of counts\n\n"
	"Make the folder dest an incremental, consistent copy of the container\n"
	"(udos_store_backup_ex). Evicted packs stay on the remote (dest reads\n"
	"them through it) unless fetch_evicted. A writer lock taken with\n"
	"lock_writer() stays held.";

PyObject *udos_py_store_backup(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "dest", "progress", "fetch_evicted", NULL };
	PyObject *dest_o = NULL, *progress = Py_None;
	struct udos_py_progress pg = { NULL, { NULL, NULL, NULL } };
	udos_backup_result r;
	const char *dest;
	int fetch = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|Op", kwlist,
					 PyUnicode_FSConverter, &dest_o,
					 &progress, &fetch))
		return NULL;
	if (progress != Py_None)
		pg.cb = progress;
	dest = PyBytes_AS_STRING(dest_o);
	memset(&r, 0, sizeof(r));
	if (udos_py_store_take(s) < 0) {
		Py_DECREF(dest_o);
		return NULL;
	}
	udos_py_lock(s->wlock);
	Py_BEGIN_ALLOW_THREADS
	rc = udos_store_backup_ex(&r, s->st, dest,
				  fetch ? UDOS_BACKUP_FETCH_EVICTED : 0,
				  udos_py_byte_progress, &pg);
	Py_END_ALLOW_THREADS
	PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (udos_py_err_restore(&pg.err)) {
		Py_DECREF(dest_o);
		return NULL;
	}
	if (rc < 0) {
		udos_py_raise(rc, dest);
		Py_DECREF(dest_o);
		return NULL;
	}
	Py_DECREF(dest_o);
	return Py_BuildValue(
		"{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "pack_files",
		(unsigned long long)r.packs, "pack_bytes",
		(unsigned long long)r.pack_bytes, "packs_recopied",
		(unsigned long long)r.packs_recopied, "loose_copied",
		(unsigned long long)r.loose_copied, "loose_bytes",
		(unsigned long long)r.loose_bytes, "removed",
		(unsigned long long)r.removed, "verified_bytes",
		(unsigned long long)r.verified_bytes, "evicted",
		(unsigned long long)r.evicted, "evicted_fetched",
		(unsigned long long)r.evicted_fetched);
}

PyObject *udos_py_store_unlock_writer(udos_py_store *s, PyObject *unused)
{
	(void)unused;
	return writer_lock_call(s, udos_store_unlock_writer);
}
