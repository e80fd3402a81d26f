/*
 * python/_udos.c - the _udos extension module: init, error mapping, helpers.
 *
 * The pure-Python package udos/ wraps the types defined here (Store in
 * store_type.c, Reader in reader_type.c) into a disk-objectstore compatible
 * Container. Exceptions are the classes of udos.exceptions, looked up once
 * at import.
 */
#include "udos_py.h"

#include <udos/ingest.h>

#include <errno.h>
#include <string.h>

static PyObject *exc_not_existent;  /* UDOS_ENOTFOUND */
static PyObject *exc_inconsistent;  /* UDOS_ECORRUPT, EHASH, ECODEC */
static PyObject *exc_not_init;      /* UDOS_ENOTSTORE */
static PyObject *exc_locked;        /* UDOS_ELOCKED */
static PyObject *exc_udos;          /* the rest of the udos range */

PyObject *udos_py_raise(int code, const char *what)
{
	const char *detail = udos_error_detail();
	char msg[1024];
	PyObject *type = exc_udos;

	if (!detail || !*detail)
		detail = what ? what : "";
	if (*detail)
		snprintf(msg, sizeof(msg), "%s: %s", udos_strerror(code),
			 detail);
	else
		snprintf(msg, sizeof(msg), "%s", udos_strerror(code));

	if (code > -5000 && code < 0) {
		PyObject *args;

		if (code == -EINVAL) {
			PyErr_SetString(PyExc_ValueError, msg);
			return NULL;
		}
		if (code == -ENOMEM) {
			PyErr_NoMemory();
			return NULL;
		}
		/* OSError(errno, msg) picks the matching subclass itself */
		args = Py_BuildValue("(is)", -code, msg);
		if (args) {
			PyErr_SetObject(PyExc_OSError, args);
			Py_DECREF(args);
		}
		return NULL;
	}
	switch (code) {
	case UDOS_ENOTFOUND:
		type = exc_not_existent;
		break;
	case UDOS_ECORRUPT:
	case UDOS_EHASH:
	case UDOS_ECODEC:
		type = exc_inconsistent;
		break;
	case UDOS_ENOTSTORE:
		type = exc_not_init;
		break;
	case UDOS_ELOCKED:
		type = exc_locked;
		break;
	case UDOS_EEXIST:
		type = PyExc_FileExistsError;
		break;
	default:
		break;
	}
	PyErr_SetString(type ? type : PyExc_RuntimeError, msg);
	return NULL;
}

PyObject *udos_py_not_existent(void)
{
	return exc_not_existent;
}

int udos_py_parse_key(udos_oid *out, size_t dsz, PyObject *key)
{
	const char *s;
	Py_ssize_t len;

	if (!PyUnicode_Check(key)) {
		PyErr_Format(PyExc_TypeError,
			     "hash key must be str, not %.100s",
			     Py_TYPE(key)->tp_name);
		return -2;
	}
	s = PyUnicode_AsUTF8AndSize(key, &len);
	if (!s) {
		PyErr_Clear();
		return -1;
	}
	if ((size_t)len != 2 * dsz)
		return -1;
	/* keys are lowercase, as disk-objectstore writes them */
	for (Py_ssize_t i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'F')
			return -1;
	if (udos_oid_parse_sz(out, s, (size_t)len, dsz) < 0)
		return -1;
	return 0;
}

PyObject *udos_py_fmt_key(const udos_oid *oid, size_t dsz)
{
	char hex[UDOS_OID_HEXSZ + 1];

	udos_oid_fmt_sz(hex, oid, dsz);
	return PyUnicode_FromString(hex);
}

void udos_py_lock(PyThread_type_lock l)
{
	if (PyThread_acquire_lock(l, NOWAIT_LOCK))
		return;
	Py_BEGIN_ALLOW_THREADS
	PyThread_acquire_lock(l, WAIT_LOCK);
	Py_END_ALLOW_THREADS
}

/* ---- module functions ------------------------------------------------- */

PyDoc_STRVAR(init_store_doc,
"init_store(path, pack_size_target=0, loose_prefix_len=-1, compression=None,\n"
"           hash_type='sha256')\n"
"Create a new container in `path`; hash_type 'sha256' or 'sha1'\n"
"(ValueError otherwise).");

static PyObject *init_store(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "path", "pack_size_target",
				  "loose_prefix_len", "compression",
				  "hash_type", NULL };
	PyObject *pathobj = NULL;
	unsigned long long target = 0;
	int prefix = -1;
	const char *compression = NULL, *hash = "sha256";
	udos_init_opts opts = UDOS_INIT_OPTS_INIT;
	int rc;

	(void)self;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|Kizs", kwlist,
					 PyUnicode_FSConverter, &pathobj,
					 &target, &prefix, &compression,
					 &hash))
		return NULL;
	if (udos_hash_type_parse(&opts.hash_type, hash) < 0) {
		Py_DECREF(pathobj);
		return PyErr_Format(PyExc_ValueError,
				    "Unknown hash type \"%s\"", hash);
	}
	opts.pack_size_target = target;
	opts.loose_prefix_len = prefix;
	opts.compression = compression;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_store_init(PyBytes_AS_STRING(pathobj), &opts);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		udos_py_raise(rc, PyBytes_AS_STRING(pathobj));
		Py_DECREF(pathobj);
		return NULL;
	}
	Py_DECREF(pathobj);
	Py_RETURN_NONE;
}

PyDoc_STRVAR(codec_parse_doc,
"codec_parse(spec) -> (codec, level)\n"
"Parse 'zstd:N', 'zlib:N', 'zlib+N' or 'none'; ValueError if invalid.");

static PyObject *codec_parse(PyObject *self, PyObject *arg)
{
	const char *spec;
	int codec = 0, level = 0;

	(void)self;
	spec = PyUnicode_AsUTF8(arg);
	if (!spec)
		return NULL;
	if (udos_codec_parse(&codec, &level, spec) < 0) {
		PyErr_Format(PyExc_ValueError,
			     "Unknown or unsupported compression algorithm '%s'",
			     spec);
		return NULL;
	}
	return Py_BuildValue("(si)", udos_codec_name(codec), level);
}

PyDoc_STRVAR(repair_doc,
"repair(path, dry_run=False, full=False) -> dict\n"
"Rebuild the index of the container at `path` from its packs\n"
"(udos_store_repair): the counts of udos_repair_result, and 'problems',\n"
"a list of (kind, path, offset, message) for what was left out.");

static int repair_problem(void *ctx, const udos_finding *f)
{
	PyObject *t;
	int rc;

	if (PyErr_Occurred())
		return 1;
	t = Py_BuildValue("(ssKs)", udos_finding_name(f->kind),
			  f->path ? f->path : "",
			  (unsigned long long)f->offset,
			  f->message ? f->message : "");
	rc = t ? PyList_Append((PyObject *)ctx, t) : -1;
	Py_XDECREF(t);
	return rc < 0;
}

static PyObject *repair(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "path", "dry_run", "full", NULL };
	udos_repair_opts opts = UDOS_REPAIR_OPTS_INIT;
	udos_repair_result r;
	PyObject *pathobj = NULL, *problems;
	int dry = 0, full = 0, rc;

	(void)self;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|pp", kwlist,
					 PyUnicode_FSConverter, &pathobj,
					 &dry, &full))
		return NULL;
	problems = PyList_New(0);
	if (!problems) {
		Py_DECREF(pathobj);
		return NULL;
	}
	opts.flags = (dry ? UDOS_REPAIR_DRY_RUN : 0) |
		     (full ? UDOS_REPAIR_FULL : 0);
	opts.on_problem = repair_problem;
	opts.ctx = problems;
	/* the GIL stays held: problems are appended from the callback */
	rc = udos_store_repair(&r, PyBytes_AS_STRING(pathobj), &opts);
	if (rc < 0 || PyErr_Occurred()) {
		if (!PyErr_Occurred())
			udos_py_raise(rc, PyBytes_AS_STRING(pathobj));
		Py_DECREF(pathobj);
		Py_DECREF(problems);
		return NULL;
	}
	Py_DECREF(pathobj);
	return Py_BuildValue(
		"{sKsKsKsKsKsKsKsKsKsOsOsN}", "packs",
		(unsigned long long)r.packs, "bad_packs",
		(unsigned long long)r.bad_packs, "records",
		(unsigned long long)r.records, "damaged",
		(unsigned long long)r.damaged, "deleted",
		(unsigned long long)r.deleted, "objects",
		(unsigned long long)r.objects, "adopted",
		(unsigned long long)r.adopted, "lost",
		(unsigned long long)r.lost, "bytes",
		(unsigned long long)r.bytes, "old_index",
		r.old_index ? Py_True : Py_False, "dry_run",
		dry ? Py_True : Py_False, "problems", problems);
}

static PyObject *lib_version(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return PyUnicode_FromString(udos_version());
}

PyDoc_STRVAR(hash_doc, "sha256_hex(data) -> str\nThe object id of `data`.");

static PyObject *sha256_hex(PyObject *self, PyObject *arg)
{
	Py_buffer view;
	udos_oid oid;

	(void)self;
	if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	udos_oid_hash(&oid, view.buf, (size_t)view.len);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&view);
	return udos_py_fmt_key(&oid, 32);
}

static PyMethodDef module_methods[] = {
	{ "init_store", (PyCFunction)(void (*)(void))init_store,
	  METH_VARARGS | METH_KEYWORDS, init_store_doc },
	{ "codec_parse", codec_parse, METH_O, codec_parse_doc },
	{ "repair", (PyCFunction)(void (*)(void))repair,
	  METH_VARARGS | METH_KEYWORDS, repair_doc },
	{ "version", lib_version, METH_NOARGS, "The C library's version." },
	{ "clone", (PyCFunction)(void (*)(void))udos_py_clone,
	  METH_VARARGS | METH_KEYWORDS,
	  "clone(url, path, endpoint, region='', cache_size=0) -> dict" },
	{ "sha256_hex", sha256_hex, METH_O, hash_doc },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef udos_module = {
	PyModuleDef_HEAD_INIT, "_udos",
	"C core of the udos package (use udos.Container).", -1,
	module_methods, NULL, NULL, NULL, NULL,
};

static int get_exc(PyObject *mod, const char *name, PyObject **out)
{
	*out = PyObject_GetAttrString(mod, name);
	return *out ? 0 : -1;
}

PyMODINIT_FUNC PyInit__udos(void);

PyMODINIT_FUNC PyInit__udos(void)
{
	PyObject *m = NULL, *excmod = NULL;

	excmod = PyImport_ImportModule("udos.exceptions");
	if (!excmod)
		return NULL;
	if (get_exc(excmod, "NotExistent", &exc_not_existent) < 0 ||
	    get_exc(excmod, "InconsistentContent", &exc_inconsistent) < 0 ||
	    get_exc(excmod, "_NotInitialisedError", &exc_not_init) < 0 ||
	    get_exc(excmod, "LockedError", &exc_locked) < 0 ||
	    get_exc(excmod, "UdosError", &exc_udos) < 0)
		goto fail;
	Py_CLEAR(excmod);

	if (PyType_Ready(&udos_py_store_type) < 0 ||
	    PyType_Ready(&udos_py_reader_type) < 0)
		goto fail;
	m = PyModule_Create(&udos_module);
	if (!m)
		goto fail;
	Py_INCREF(&udos_py_store_type);
	if (PyModule_AddObject(m, "Store", (PyObject *)&udos_py_store_type) <
	    0) {
		Py_DECREF(&udos_py_store_type);
		goto fail;
	}
	Py_INCREF(&udos_py_reader_type);
	if (PyModule_AddObject(m, "Reader",
			       (PyObject *)&udos_py_reader_type) < 0) {
		Py_DECREF(&udos_py_reader_type);
		goto fail;
	}
	if (PyModule_AddIntConstant(m, "LOC_MISSING", UDOS_LOC_MISSING) < 0 ||
	    PyModule_AddIntConstant(m, "LOC_LOOSE", UDOS_LOC_LOOSE) < 0 ||
	    PyModule_AddIntConstant(m, "LOC_PACKED", UDOS_LOC_PACKED) < 0 ||
	    PyModule_AddIntConstant(m, "COMPRESS_NO", UDOS_COMPRESS_NO) < 0 ||
	    PyModule_AddIntConstant(m, "COMPRESS_YES", UDOS_COMPRESS_YES) < 0 ||
	    PyModule_AddIntConstant(m, "COMPRESS_AUTO", UDOS_COMPRESS_AUTO) <
		    0 ||
	    PyModule_AddIntConstant(m, "COMPRESS_KEEP", UDOS_COMPRESS_KEEP) <
		    0 ||
	    PyModule_AddIntConstant(m, "CODEC_NONE", UDOS_CODEC_NONE) < 0 ||
	    PyModule_AddIntConstant(m, "CODEC_ZLIB", UDOS_CODEC_ZLIB) < 0 ||
	    PyModule_AddIntConstant(m, "CODEC_ZSTD", UDOS_CODEC_ZSTD) < 0 ||
	    PyModule_AddIntConstant(m, "INGEST_IO_AUTO", UDOS_INGEST_IO_AUTO) <
		    0 ||
	    PyModule_AddIntConstant(m, "INGEST_IO_URING", UDOS_INGEST_IO_URING) <
		    0 ||
	    PyModule_AddIntConstant(m, "INGEST_IO_THREADS",
				    UDOS_INGEST_IO_THREADS) < 0 ||
	    PyModule_AddStringConstant(m, "HEADER_VERSION",
				       UDOS_VERSION_STRING) < 0)
		goto fail;
	return m;
fail:
	Py_XDECREF(excmod);
	Py_XDECREF(m);
	return NULL;
}
