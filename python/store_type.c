/*
 * python/store_type.c - _udos.Store: one open container (its lifetime and
 * method table; the methods are in store_read.c, store_write.c,
 * store_maint.c, store_remote.c, store_dos.c, store_restore.c).
 *
 * Every method parses its Python arguments with the GIL held, then runs the
 * library calls (I/O, hashing, compression) with the GIL released. Bulk
 * methods release it once for the whole batch where they can. Pack writers
 * of one Store are serialised by `wlock`; at the end of each packing call
 * the store gives the writer lock back so that other processes can pack.
 */
#include "udos_py.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udos/backup.h>
#include <udos/ingest.h>

/* ---- lifetime ----------------------------------------------------------- */

int udos_py_store_take(udos_py_store *s)
{
	if (s->closed || !s->st) {
		PyErr_SetString(PyExc_ValueError,
				"operation on a closed udos store");
		return -1;
	}
	s->users++;
	return 0;
}

static void store_free_now(udos_py_store *s)
{
	udos_store *st = s->st;

	s->st = NULL;
	if (st) {
		Py_BEGIN_ALLOW_THREADS
		udos_store_close(st);
		Py_END_ALLOW_THREADS
	}
}

void udos_py_store_drop(udos_py_store *s)
{
	if (--s->users == 0 && s->closed)
		store_free_now(s);
}

static PyObject *store_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "path", NULL };
	PyObject *pathobj = NULL;
	udos_py_store *s;
	udos_store *st = NULL;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&", kwlist,
					 PyUnicode_FSConverter, &pathobj))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_store_open(&st, PyBytes_AS_STRING(pathobj), 0);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		udos_py_raise(rc, PyBytes_AS_STRING(pathobj));
		Py_DECREF(pathobj);
		return NULL;
	}
	s = (udos_py_store *)type->tp_alloc(type, 0);
	if (!s)
		goto fail;
	s->wlock = PyThread_allocate_lock();
	if (!s->wlock) {
		PyErr_NoMemory();
		goto fail;
	}
	s->path = PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(pathobj));
	if (!s->path)
		goto fail;
	s->st = st;
	s->dsz = udos_store_digest_size(st);
	Py_DECREF(pathobj);
	return (PyObject *)s;
fail:
	udos_store_close(st);
	Py_XDECREF((PyObject *)s);
	Py_DECREF(pathobj);
	return NULL;
}

static void store_dealloc(udos_py_store *s)
{
	/* readers hold a strong reference, so no use is left here */
	s->closed = true;
	store_free_now(s);
	if (s->wlock)
		PyThread_free_lock(s->wlock);
	Py_XDECREF(s->path);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *store_close(udos_py_store *s, PyObject *unused)
{
	(void)unused;
	if (!s->closed) {
		s->closed = true;
		if (s->users == 0)
			store_free_now(s);
	}
	Py_RETURN_NONE;
}

static PyObject *store_get_closed(udos_py_store *s, void *closure)
{
	(void)closure;
	return PyBool_FromLong(s->closed);
}

static PyObject *store_get_path(udos_py_store *s, void *closure)
{
	(void)closure;
	Py_INCREF(s->path);
	return s->path;
}

static PyObject *store_info(udos_py_store *s, PyObject *unused)
{
	udos_store_info info;

	(void)unused;
	if (udos_py_store_take(s) < 0)
		return NULL;
	udos_store_info_get(&info, s->st);
	udos_py_store_drop(s);
	return Py_BuildValue(
		"{s:s,s:s,s:s,s:i,s:i,s:K,s:s,s:i}", "container_id",
		info.container_id, "compression", info.compression,
		"hash_type", info.hash_type, "format_version",
		info.format_version, "loose_prefix_len", info.loose_prefix_len,
		"pack_size_target", (unsigned long long)info.pack_size_target,
		"default_codec", udos_codec_name(info.default_codec),
		"default_level", info.default_level);
}

static PyObject *store_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	Py_INCREF(self);
	return self;
}

static PyObject *store_exit(udos_py_store *s, PyObject *args)
{
	(void)args;
	return store_close(s, NULL);
}

#define KW (METH_VARARGS | METH_KEYWORDS)
#define KWFN(f) ((PyCFunction)(void (*)(void))(f))

static PyMethodDef store_methods[] = {
	{ "close", (PyCFunction)store_close, METH_NOARGS,
	  "Close (idempotent; freed once running calls and readers end)." },
	{ "info", (PyCFunction)store_info, METH_NOARGS,
	  "The container's configuration as a dict." },
	{ "get", (PyCFunction)udos_py_store_get, METH_O,
	  "get(key) -> bytes (NotExistent if missing)" },
	{ "stat", (PyCFunction)udos_py_store_stat, METH_O, udos_py_stat_doc },
	{ "has", (PyCFunction)udos_py_store_has, METH_O, "has(key) -> bool" },
	{ "open", KWFN(udos_py_store_open), KW, udos_py_open_doc },
	{ "get_many", KWFN(udos_py_store_get_many), KW, udos_py_get_many_doc },
	{ "stat_many", KWFN(udos_py_store_stat_many), KW, udos_py_stat_many_doc },
	{ "has_many", (PyCFunction)udos_py_store_has_many, METH_O, udos_py_has_many_doc },
	{ "add_loose", KWFN(udos_py_store_add_loose), KW, udos_py_add_loose_doc },
	{ "add_loose_stream", KWFN(udos_py_store_add_loose_stream), KW,
	  udos_py_add_loose_stream_doc },
	{ "pack_add", KWFN(udos_py_store_pack_add), KW, udos_py_pack_add_doc },
	{ "add_paths", KWFN(udos_py_store_add_paths), KW, udos_py_add_paths_doc },
	{ "import_from", KWFN(udos_py_store_import_from), KW, udos_py_import_from_doc },
	{ "import_dos", KWFN(udos_py_store_import_dos), KW,
	  "import_dos(path, compress=KEEP, sync=True, progress=None) -> dict" },
	{ "export_dos", KWFN(udos_py_store_export_dos), KW,
	  "export_dos(path, compress=KEEP, loose=False, zlib_level=0, "
	  "sync=True, progress=None) -> dict" },
	{ "ingest", KWFN(udos_py_store_ingest), KW, udos_py_ingest_doc },
	{ "restore", KWFN(udos_py_restore), KW, udos_py_restore_doc },
	{ "pack_loose", KWFN(udos_py_store_pack_loose), KW, udos_py_pack_loose_doc },
	{ "clean", KWFN(udos_py_store_clean), KW,
	  "clean(vacuum=False) -> number of loose files removed (packed "
	  "copies checked); vacuum also compacts the index" },
	{ "delete", (PyCFunction)udos_py_store_delete, METH_O, udos_py_delete_doc },
	{ "repack", KWFN(udos_py_store_repack), KW, udos_py_repack_doc },
	{ "validate", KWFN(udos_py_store_validate), KW, udos_py_validate_doc },
	{ "status", (PyCFunction)udos_py_store_status, METH_NOARGS,
	  "status() -> dict of counts and sizes" },
	{ "list_all", KWFN(udos_py_store_list_all), KW, udos_py_list_all_doc },
	{ "lock_writer", (PyCFunction)udos_py_store_lock_writer, METH_NOARGS,
	  "lock_writer(): take the pack-writer lock now (LockedError if held)" },
	{ "backup", KWFN(udos_py_store_backup), KW, udos_py_backup_doc },
	{ "push", KWFN(udos_py_store_push), KW,
	  "push(seal=False, parallel=0) -> dict: sealed packs to the remote" },
	{ "evict", KWFN(udos_py_store_evict), KW,
	  "evict(keep=0) -> dict: drop local copies of pushed packs" },
	{ "pull", (PyCFunction)udos_py_store_pull, METH_NOARGS,
	  "pull() -> dict: bring a clone to the remote's newest manifest" },
	{ "refresh", (PyCFunction)udos_py_store_refresh, METH_NOARGS,
	  "refresh(): pull a clone after a read met a pack the remote no "
	  "longer has (raises if this is not a clone)" },
	{ "remote_gc", KWFN(udos_py_store_remote_gc), KW,
	  "remote_gc(grace=86400, dry_run=False) -> dict: delete what no "
	  "reader needs" },
	{ "remote_set", KWFN(udos_py_store_remote_set), KW,
	  "remote_set(url, endpoint, region='', cache_size=0)" },
	{ "remote_status", (PyCFunction)udos_py_store_remote_status,
	  METH_NOARGS, "remote_status() -> dict, or None without a remote" },
	{ "unlock_writer", (PyCFunction)udos_py_store_unlock_writer, METH_NOARGS,
	  "Give the pack-writer lock back to other processes." },
	{ "__enter__", store_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)store_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef store_getset[] = {
	{ "closed", (getter)store_get_closed, NULL, "True once closed", NULL },
	{ "path", (getter)store_get_path, NULL, "the container folder", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject udos_py_store_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "udos._udos.Store",
	.tp_basicsize = sizeof(udos_py_store),
	.tp_dealloc = (destructor)store_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Store(path): an open udos container (thread-safe).",
	.tp_methods = store_methods,
	.tp_getset = store_getset,
	.tp_new = store_new,
};
