/* python/store_dos.c - Store.import_dos and Store.export_dos: the
 * disk-objectstore copies of include/udos/dos.h, GIL released. */
#include "udos_py.h"

/* problems are collected (with the GIL) into a list of (subject, cause);
 * progress calls cb(done, total), a few hundred times per run at most */
struct dos_ctx {
	PyObject *problems;
	PyObject *cb;
	uint64_t last;
	bool failed; /* a Python error is pending: no more calls */
};

static void dos_problem(void *ctx, const char *subject, const char *cause)
{
	struct dos_ctx *d = ctx;
	PyGILState_STATE g = PyGILState_Ensure();

	if (!d->failed) {
		PyObject *t = Py_BuildValue("(ss)", subject, cause);

		if (!t || PyList_Append(d->problems, t) < 0)
			d->failed = true;
		Py_XDECREF(t);
	}
	PyGILState_Release(g);
}

static void dos_progress(void *ctx, const udos_progress *p)
{
	struct dos_ctx *d = ctx;
	uint64_t done = p->done, total = p->total;
	uint64_t every = total / 400 ? total / 400 : 1;
	PyGILState_STATE g;
	PyObject *r;

	if (!d->cb || (done != total && done - d->last < every))
		return;
	d->last = done;
	g = PyGILState_Ensure();
	if (!d->failed) {
		r = PyObject_CallFunction(d->cb, "KK", (unsigned long long)done,
					  (unsigned long long)total);
		if (!r)
			d->failed = true;
		Py_XDECREF(r);
	}
	PyGILState_Release(g);
}

static PyObject *result_dict(const udos_dos_result *r, PyObject *problems)
{
	return Py_BuildValue("{sKsKsKsKsKsKsO}",
			     "objects", (unsigned long long)r->objects,
			     "copied", (unsigned long long)r->copied,
			     "skipped", (unsigned long long)r->skipped,
			     "damaged", (unsigned long long)r->damaged,
			     "bytes", (unsigned long long)r->bytes,
			     "bytes_stored",
			     (unsigned long long)r->bytes_stored,
			     "problems", problems);
}

/* the common end: the Python error of a callback, the library's, or
 * the result */
static PyObject *finish(int rc, struct dos_ctx *d, const udos_dos_result *r,
			const char *path)
{
	PyObject *res = NULL;

	if (d->failed && PyErr_Occurred())
		goto done;
	if (rc == UDOS_ENOTSTORE) /* not "not a udos container" */
		PyErr_SetString(PyExc_ValueError, udos_error_detail());
	else if (rc < 0)
		udos_py_raise(rc, path);
	if (rc < 0)
		goto done;
	res = result_dict(r, d->problems);
done:
	Py_DECREF(d->problems);
	return res;
}

PyObject *udos_py_store_import_dos(udos_py_store *s, PyObject *args,
				   PyObject *kw)
{
	static char *kwlist[] = { "path", "compress", "sync", "progress",
				  NULL };
	udos_dos_import_opts o = UDOS_DOS_IMPORT_OPTS_INIT;
	struct dos_ctx d = { NULL, NULL, 0, false };
	PyObject *path_o, *progress = Py_None;
	udos_dos_result r;
	const char *path;
	int sync = 1, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|ipO", kwlist,
					 PyUnicode_FSConverter, &path_o,
					 &o.compress, &sync, &progress))
		return NULL;
	path = PyBytes_AS_STRING(path_o);
	d.cb = progress == Py_None ? NULL : progress;
	d.problems = PyList_New(0);
	if (!d.problems || udos_py_store_take(s) < 0) {
		Py_XDECREF(d.problems);
		Py_DECREF(path_o);
		return NULL;
	}
	o.no_sync = !sync;
	o.on_problem = dos_problem;
	o.progress = dos_progress;
	o.ctx = &d;
	udos_py_lock(s->wlock);
	Py_BEGIN_ALLOW_THREADS
	rc = udos_dos_import(&r, s->st, path, &o);
	udos_store_unlock_writer(s->st);
	Py_END_ALLOW_THREADS
	PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	{
		PyObject *res = finish(rc, &d, &r, path);

		Py_DECREF(path_o);
		return res;
	}
}

PyObject *udos_py_store_export_dos(udos_py_store *s, PyObject *args,
				   PyObject *kw)
{
	static char *kwlist[] = { "path", "compress", "loose", "zlib_level",
				  "sync", "progress", NULL };
	udos_dos_export_opts o = UDOS_DOS_EXPORT_OPTS_INIT;
	struct dos_ctx d = { NULL, NULL, 0, false };
	PyObject *path_o, *progress = Py_None, *res;
	udos_dos_result r;
	const char *path;
	int loose = 0, sync = 1, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|ipipO", kwlist,
					 PyUnicode_FSConverter, &path_o,
					 &o.compress, &loose, &o.zlib_level,
					 &sync, &progress))
		return NULL;
	path = PyBytes_AS_STRING(path_o);
	d.cb = progress == Py_None ? NULL : progress;
	d.problems = PyList_New(0);
	if (!d.problems || udos_py_store_take(s) < 0) {
		Py_XDECREF(d.problems);
		Py_DECREF(path_o);
		return NULL;
	}
	o.loose = loose;
	o.no_sync = !sync;
	o.on_problem = dos_problem;
	o.progress = dos_progress;
	o.ctx = &d;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_dos_export(&r, s->st, path, &o);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	res = finish(rc, &d, &r, path);
	Py_DECREF(path_o);
	return res;
}
