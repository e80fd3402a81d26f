/* python/store_common.c - what the Store methods share: errors raised in callbacks, progress and stream callbacks, key lists. */
#include "udos_py.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udos/backup.h>
#include <udos/ingest.h>

/* ---- Python callbacks run from library code ----------------------------- */


void udos_py_err_keep(struct udos_py_err *e)
{
	if (e->type) {
		PyErr_Clear();
		return;
	}
	PyErr_Fetch(&e->type, &e->value, &e->tb);
}

/* GIL held. Returns true (exception restored) if one was kept. */
bool udos_py_err_restore(struct udos_py_err *e)
{
	if (!e->type)
		return false;
	PyErr_Restore(e->type, e->value, e->tb);
	e->type = e->value = e->tb = NULL;
	return true;
}


void udos_py_progress_fn(void *ctx, uint64_t done, uint64_t total)
{
	struct udos_py_progress *p = ctx;
	PyGILState_STATE g;
	PyObject *r;

	if (!p->cb)
		return;
	g = PyGILState_Ensure();
	if (!p->err.type) {
		r = PyObject_CallFunction(p->cb, "KK",
					  (unsigned long long)done,
					  (unsigned long long)total);
		if (r)
			Py_DECREF(r);
		else
			udos_py_err_keep(&p->err);
	}
	PyGILState_Release(g);
}

/* udos_progress_fn: cb(objects done, total) / cb(bytes done, total) */
void udos_py_count_progress(void *ctx, const udos_progress *p)
{
	udos_py_progress_fn(ctx, p->done, p->total);
}

void udos_py_byte_progress(void *ctx, const udos_progress *p)
{
	udos_py_progress_fn(ctx, p->bytes_done, p->bytes_total);
}



ssize_t udos_py_stream_read(void *ctx, void *buf, size_t len)
{
	struct udos_py_stream *p = ctx;
	PyGILState_STATE g;
	ssize_t n = 0;

	if (len == 0)
		return 0;
	g = PyGILState_Ensure();
	if (!p->pending) {
		Py_ssize_t want = len > (size_t)PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX
							       : (Py_ssize_t)len;
		PyObject *b = PyObject_CallMethod(p->stream, "read", "n", want);

		if (!b)
			goto fail;
		if (b == Py_None) { /* non-blocking stream with no data */
			Py_DECREF(b);
			PyErr_SetString(PyExc_ValueError,
					"stream.read() returned None");
			goto fail;
		}
		if (!PyBytes_Check(b)) {
			PyObject *bb = PyBytes_FromObject(b);

			Py_DECREF(b);
			if (!bb)
				goto fail;
			b = bb;
		}
		p->pending = b;
		p->pos = 0;
	}
	{
		Py_ssize_t avail = PyBytes_GET_SIZE(p->pending) - p->pos;

		n = avail < (Py_ssize_t)len ? avail : (Py_ssize_t)len;
		memcpy(buf, PyBytes_AS_STRING(p->pending) + p->pos, (size_t)n);
		p->pos += n;
		if (p->pos >= PyBytes_GET_SIZE(p->pending))
			Py_CLEAR(p->pending);
	}
	PyGILState_Release(g);
	return n;
fail:
	udos_py_err_keep(&p->err);
	PyGILState_Release(g);
	return UDOS_PY_STREAM_FAILED;
}

void udos_py_stream_release(struct udos_py_stream *p)
{
	Py_CLEAR(p->pending);
}

/* ---- keys --------------------------------------------------------------- */

/* Parse a sequence of keys into oids; valid[i] says whether key i parsed.
 * Returns the PySequence_Fast (caller DECREFs) or NULL. */
PyObject *udos_py_parse_keys(PyObject *keys, size_t dsz, udos_oid **oids_out,
			    unsigned char **valid_out, Py_ssize_t *n_out)
{
	PyObject *seq;
	Py_ssize_t n;
	udos_oid *oids;
	unsigned char *valid;

	seq = PySequence_Fast(keys, "hash keys must be a sequence of str");
	if (!seq)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	oids = PyMem_Malloc(sizeof(*oids) * (size_t)(n ? n : 1));
	valid = PyMem_Malloc((size_t)(n ? n : 1));
	if (!oids || !valid) {
		PyMem_Free(oids);
		PyMem_Free(valid);
		Py_DECREF(seq);
		PyErr_NoMemory();
		return NULL;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		int rc = udos_py_parse_key(&oids[i], dsz,
					   PySequence_Fast_GET_ITEM(seq, i));
		if (rc == -2) {
			PyMem_Free(oids);
			PyMem_Free(valid);
			Py_DECREF(seq);
			return NULL;
		}
		valid[i] = rc == 0;
	}
	*oids_out = oids;
	*valid_out = valid;
	*n_out = n;
	return seq;
}

/* Keep only the parsable keys: compact oids and fill map[j] = i. */
size_t udos_py_compact_keys(udos_oid *oids, const unsigned char *valid,
			   Py_ssize_t n, Py_ssize_t *map)
{
	size_t j = 0;

	for (Py_ssize_t i = 0; i < n; i++) {
		if (!valid[i])
			continue;
		if ((Py_ssize_t)j != i)
			oids[j] = oids[i];
		map[j++] = i;
	}
	return j;
}



/* 0, or -1 with a Python exception set (release in any case). */
int udos_py_keyset_load(struct udos_py_keyset *k, size_t dsz, PyObject *keys)
{
	k->seq = udos_py_parse_keys(keys, dsz, &k->oids, &k->valid, &k->n);
	if (!k->seq)
		return -1;
	k->map = PyMem_Malloc(sizeof(*k->map) * (size_t)(k->n ? k->n : 1));
	if (!k->map) {
		PyErr_NoMemory();
		return -1;
	}
	k->nvalid = udos_py_compact_keys(k->oids, k->valid, k->n, k->map);
	return 0;
}

void udos_py_keyset_release(struct udos_py_keyset *k)
{
	PyMem_Free(k->map);
	PyMem_Free(k->oids);
	PyMem_Free(k->valid);
	Py_XDECREF(k->seq);
}

int udos_py_compress_arg(PyObject *o, int *out)
{
	long v;

	if (o == Py_True || o == Py_False) {
		*out = o == Py_True ? UDOS_COMPRESS_YES : UDOS_COMPRESS_NO;
		return 0;
	}
	v = PyLong_AsLong(o);
	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v < UDOS_COMPRESS_NO || v > UDOS_COMPRESS_KEEP) {
		PyErr_SetString(PyExc_ValueError, "invalid compress mode");
		return -1;
	}
	*out = (int)v;
	return 0;
}

PyObject *udos_py_keys_list(const udos_oid *oids, Py_ssize_t n, size_t dsz)
{
	PyObject *res = PyList_New(n);

	if (!res)
		return NULL;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *k = udos_py_fmt_key(&oids[i], dsz);

		if (!k) {
			Py_DECREF(res);
			return NULL;
		}
		PyList_SET_ITEM(res, i, k);
	}
	return res;
}
