/* python/store_restore.c - Store.restore: a manifest's files written under a
 * folder (udos_restore), the GIL released throughout. */
#include "udos_py.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct failure {
	char *path;
	char *detail;
	int error;
};

struct rctx {
	struct failure *v;
	size_t n, cap;
	bool oom;
};

/* udos_restore_file_fn, without the GIL: failures kept for the result. */
static void on_file(void *ctx, const udos_restore_file *f)
{
	struct rctx *c = ctx;
	struct failure *e;

	if (f->status != UDOS_RESTORE_FAILED || c->oom)
		return;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		struct failure *nv = realloc(c->v, nc * sizeof(*nv));

		if (!nv) {
			c->oom = true;
			return;
		}
		c->v = nv;
		c->cap = nc;
	}
	e = &c->v[c->n];
	e->path = strdup(f->path);
	e->detail = strdup(f->detail ? f->detail : udos_strerror(f->error));
	e->error = f->error;
	if (!e->path || !e->detail) {
		free(e->path);
		free(e->detail);
		c->oom = true;
		return;
	}
	c->n++;
}

const char udos_py_restore_doc[] =
"restore(manifest: bytes, dest: path, verify=False) -> dict\n"
"Write the files the manifest text names (sha256sum lines or add --json\n"
"lines, see udos_manifest_parse) under dest. Returns {'files', 'written',\n"
"'same', 'failed', 'bytes_written', 'seconds', 'failures'}, failures\n"
"being a list of (path: bytes, errno-or-code: int, message: str).\n"
"A malformed manifest raises ValueError; a run that cannot start OSError.";

PyObject *udos_py_restore(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "manifest", "dest", "verify", NULL };
	udos_restore_opts ro = UDOS_RESTORE_OPTS_INIT;
	udos_restore_summary sum;
	udos_manifest *m = NULL;
	struct rctx c = { 0 };
	PyObject *dest = NULL, *res = NULL, *fl = NULL;
	Py_buffer text;
	int verify = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "y*O&|p", kwlist, &text,
					 PyUnicode_FSConverter, &dest,
					 &verify))
		return NULL;
	rc = udos_manifest_new(&m, s->dsz);
	if (rc == 0) {
		Py_BEGIN_ALLOW_THREADS
		rc = udos_manifest_parse(m, text.buf, (size_t)text.len, 0);
		Py_END_ALLOW_THREADS
	}
	if (rc == -EINVAL) {
		PyErr_Format(PyExc_ValueError, "manifest: %s",
			     udos_error_detail());
		goto done;
	}
	if (rc < 0) {
		udos_py_raise(rc, NULL);
		goto done;
	}
	if (udos_py_store_take(s) < 0)
		goto done;
	ro.on_file = on_file;
	ro.ctx = &c;
	ro.verify = verify;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_restore(&sum, s->st, m, PyBytes_AS_STRING(dest), &ro);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	if (rc < 0) {
		udos_py_raise(rc, PyBytes_AS_STRING(dest));
		goto done;
	}
	if (c.oom) {
		PyErr_NoMemory();
		goto done;
	}
	fl = PyList_New((Py_ssize_t)c.n);
	if (!fl)
		goto done;
	for (size_t i = 0; i < c.n; i++) {
		PyObject *item = Py_BuildValue("(yis)", c.v[i].path,
					       c.v[i].error, c.v[i].detail);

		if (!item)
			goto done;
		PyList_SET_ITEM(fl, (Py_ssize_t)i, item);
	}
	res = Py_BuildValue("{sKsKsKsKsKsdsO}", "files",
			    (unsigned long long)sum.files, "written",
			    (unsigned long long)sum.written, "same",
			    (unsigned long long)sum.same, "failed",
			    (unsigned long long)sum.failed, "bytes_written",
			    (unsigned long long)sum.bytes_written, "seconds",
			    sum.seconds, "failures", fl);
done:
	Py_XDECREF(fl);
	for (size_t i = 0; i < c.n; i++) {
		free(c.v[i].path);
		free(c.v[i].detail);
	}
	free(c.v);
	udos_manifest_free(m);
	Py_XDECREF(dest);
	PyBuffer_Release(&text);
	return res;
}
