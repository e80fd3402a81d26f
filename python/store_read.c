/* python/store_read.c - Store methods that read objects: one at a time and in bulk. */
#include "udos_py.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udos/backup.h>
#include <udos/ingest.h>

/* ---- single-object reads ------------------------------------------------ */

PyObject *udos_py_store_get(udos_py_store *s, PyObject *key)
{
	udos_oid oid;
	void *data = NULL;
	size_t len = 0;
	PyObject *res;
	int rc;

	rc = udos_py_parse_key(&oid, s->dsz, key);
	if (rc == -2)
		return NULL;
	if (rc < 0)
		return PyErr_Format(udos_py_not_existent(),
				    "No object with hash key %U", key);
	if (udos_py_store_take(s) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_object_read(&data, &len, s->st, &oid, 0, 0);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	if (rc < 0) {
		if (rc == UDOS_ENOTFOUND)
			return PyErr_Format(udos_py_not_existent(),
					    "No object with hash key %U", key);
		return udos_py_raise(rc, PyUnicode_AsUTF8(key));
	}
	res = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
	free(data);
	return res;
}

static PyObject *meta_tuple(const udos_meta *m)
{
	if (m->loc == UDOS_LOC_PACKED)
		return Py_BuildValue("(iKkiKK)", m->loc,
				     (unsigned long long)m->size,
				     (unsigned long)m->pack_id, m->codec,
				     (unsigned long long)m->offset,
				     (unsigned long long)m->stored_size);
	if (m->loc == UDOS_LOC_LOOSE)
		return Py_BuildValue("(iKOOOO)", m->loc,
				     (unsigned long long)m->size, Py_None,
				     Py_None, Py_None, Py_None);
	return Py_BuildValue("(iOOOOO)", m->loc, Py_None, Py_None, Py_None,
			     Py_None, Py_None);
}

const char udos_py_stat_doc[] =
"stat(key) -> (loc, size, pack_id, codec, offset, stored_size)\n"
"loc is LOC_MISSING for a missing object (no exception).";

PyObject *udos_py_store_stat(udos_py_store *s, PyObject *key)
{
	udos_oid oid;
	udos_meta m;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = udos_py_parse_key(&oid, s->dsz, key);
	if (rc == -2)
		return NULL;
	if (rc < 0)
		return meta_tuple(&m);
	if (udos_py_store_take(s) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_object_stat(&m, s->st, &oid);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	if (rc < 0 && rc != UDOS_ENOTFOUND)
		return udos_py_raise(rc, PyUnicode_AsUTF8(key));
	if (rc == UDOS_ENOTFOUND)
		m.loc = UDOS_LOC_MISSING;
	return meta_tuple(&m);
}

PyObject *udos_py_store_has(udos_py_store *s, PyObject *key)
{
	udos_oid oid;
	int rc;

	rc = udos_py_parse_key(&oid, s->dsz, key);
	if (rc == -2)
		return NULL;
	if (rc < 0)
		Py_RETURN_FALSE;
	if (udos_py_store_take(s) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_object_has(s->st, &oid);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	if (rc < 0)
		return udos_py_raise(rc, PyUnicode_AsUTF8(key));
	return PyBool_FromLong(rc);
}

const char udos_py_open_doc[] = "open(key, verify=False) -> Reader";

PyObject *udos_py_store_open(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "key", "verify", NULL };
	PyObject *key;
	int verify = 0;
	udos_oid oid;
	udos_reader *r = NULL;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &key,
					 &verify))
		return NULL;
	rc = udos_py_parse_key(&oid, s->dsz, key);
	if (rc == -2)
		return NULL;
	if (rc < 0)
		return PyErr_Format(udos_py_not_existent(),
				    "No object with hash key %U", key);
	if (udos_py_store_take(s) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_reader_open(&r, s->st, &oid, verify ? UDOS_READ_VERIFY : 0);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		udos_py_store_drop(s);
		if (rc == UDOS_ENOTFOUND)
			return PyErr_Format(udos_py_not_existent(),
					    "No object with hash key %U", key);
		return udos_py_raise(rc, PyUnicode_AsUTF8(key));
	}
	{
		PyObject *res = udos_py_reader_new(s, r, &oid);

		udos_py_store_drop(s);
		return res;
	}
}

/* ---- bulk reads --------------------------------------------------------- */

struct got {
	Py_ssize_t index; /* into the compacted oid array */
	int loc;
	bool has_data;
	uint32_t pack_id; /* storage order, to merge the halves */
	uint64_t offset;
	const uint8_t *data; /* in one of the arena's blocks */
	size_t len;
};

/* Contents go into an arena of large blocks rather than a malloc per
 * object (the callback runs without the GIL, the bytes objects are made
 * after); blocks never move, so nothing is copied as it grows. */
#define ARENA_BLOCK (4u << 20)

struct many {
	struct got *got;
	size_t n;
	uint8_t **blocks;
	size_t nblocks, capblocks;
	size_t used, cap; /* of the last block */
};

static int arena_reserve(struct many *m, uint64_t need)
{
	size_t size = need > ARENA_BLOCK ? (size_t)need : ARENA_BLOCK;
	uint8_t *b;

	if (need > SIZE_MAX / 2)
		return -ENOMEM;
	if (m->nblocks && m->cap - m->used >= need)
		return 0;
	if (m->nblocks == m->capblocks) {
		size_t nc = m->capblocks ? 2 * m->capblocks : 16;
		uint8_t **nb = realloc(m->blocks, nc * sizeof(*nb));

		if (!nb)
			return -ENOMEM;
		m->blocks = nb;
		m->capblocks = nc;
	}
	b = malloc(size ? size : 1);
	if (!b)
		return -ENOMEM;
	m->blocks[m->nblocks++] = b;
	m->used = 0;
	m->cap = size;
	return 0;
}

static void arena_release(struct many *m)
{
	for (size_t i = 0; i < m->nblocks; i++)
		free(m->blocks[i]);
	free(m->blocks);
	m->blocks = NULL;
	m->nblocks = m->capblocks = 0;
}

static int read_many_fn(void *ctx, size_t index, const udos_oid *oid,
			const udos_meta *meta, udos_reader *r)
{
	struct many *m = ctx;
	struct got *g = &m->got[m->n++];
	size_t len = 0;
	int rc;

	(void)oid;
	g->index = (Py_ssize_t)index;
	g->loc = meta->loc;
	g->pack_id = meta->pack_id;
	g->offset = meta->offset;
	g->has_data = false;
	g->data = NULL;
	g->len = 0;
	if (!r)
		return 0;
	rc = arena_reserve(m, meta->size);
	if (rc < 0)
		return rc;
	g->data = m->blocks[m->nblocks - 1] + m->used;
	/* the reader never gives more than the size its meta says */
	while (len < meta->size) {
		ssize_t k = udos_reader_read(r, (uint8_t *)g->data + len,
					     (size_t)meta->size - len);
		if (k < 0)
			return (int)k;
		if (k == 0)
			return UDOS_ECORRUPT;
		len += (size_t)k;
	}
	m->used += len;
	g->has_data = true;
	g->len = len;
	return 0;
}

/* Two halves of the ids are read by two threads (decoding is most of the
 * work); each comes in storage order, and merging them keeps that order. */
#define HALF_MIN 256

struct half {
	udos_store *st;
	const udos_oid *oids;
	size_t base, n;
	struct many m;
	int rc;
};

struct ordered {
	const struct got *g;
	const struct half *h;
};

static void *half_run(void *arg)
{
	struct half *h = arg;

	h->rc = h->n ? udos_object_read_many(h->st, h->oids, h->n, 0,
					     read_many_fn, &h->m)
		     : 0;
	return NULL;
}

/* read_many's order: loose, then packed by pack and offset, missing last */
static int storage_cmp(const struct got *a, const struct got *b)
{
	int ra = a->loc == UDOS_LOC_LOOSE ? 0 : a->loc == UDOS_LOC_PACKED ? 1
									  : 2;
	int rb = b->loc == UDOS_LOC_LOOSE ? 0 : b->loc == UDOS_LOC_PACKED ? 1
									  : 2;

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (a->pack_id != b->pack_id)
		return a->pack_id < b->pack_id ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return 0;
}

static size_t merge_halves(struct ordered *out, const struct half *h)
{
	size_t i = 0, j = 0, n = 0;

	while (i < h[0].m.n || j < h[1].m.n) {
		bool left = j == h[1].m.n ||
			    (i < h[0].m.n &&
			     storage_cmp(&h[0].m.got[i], &h[1].m.got[j]) <= 0);

		out[n].h = &h[left ? 0 : 1];
		out[n].g = left ? &h[0].m.got[i++] : &h[1].m.got[j++];
		n++;
	}
	return n;
}

const char udos_py_get_many_doc[] =
"get_many(keys, skip_if_missing=True) -> dict\n"
"Contents by key, read in storage order (loose, then by pack and offset);\n"
"the dict is in that order. Missing keys map to None unless skipped.";

PyObject *udos_py_store_get_many(udos_py_store *s, PyObject *args,
				PyObject *kw)
{
	static char *kwlist[] = { "keys", "skip_if_missing", NULL };
	PyObject *keys, *res = NULL;
	int skip = 1;
	struct udos_py_keyset k = UDOS_PY_KEYSET_INIT;
	struct half h[2];
	struct ordered *order = NULL;
	size_t nout = 0;
	pthread_t tid;
	bool started;
	int rc;

	memset(h, 0, sizeof(h));
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &keys,
					 &skip))
		return NULL;
	if (udos_py_keyset_load(&k, s->dsz, keys) < 0)
		goto done;
	for (int t = 0; t < 2; t++) {
		h[t].st = s->st;
		h[t].base = t ? k.nvalid / 2 : 0;
		h[t].n = t ? k.nvalid - k.nvalid / 2 : k.nvalid / 2;
		if (k.nvalid < HALF_MIN) { /* one thread */
			h[t].base = 0;
			h[t].n = t ? 0 : k.nvalid;
		}
		h[t].oids = k.oids + h[t].base;
		h[t].m.got = PyMem_Malloc(sizeof(*h[t].m.got) *
					  (h[t].n ? h[t].n : 1));
		if (!h[t].m.got) {
			PyErr_NoMemory();
			goto done;
		}
	}
	order = PyMem_Malloc(sizeof(*order) * (k.nvalid ? k.nvalid : 1));
	if (!order) {
		PyErr_NoMemory();
		goto done;
	}
	if (udos_py_store_take(s) < 0)
		goto done;
	Py_BEGIN_ALLOW_THREADS
	started = h[1].n && pthread_create(&tid, NULL, half_run, &h[1]) == 0;
	half_run(&h[0]);
	if (started)
		pthread_join(tid, NULL);
	else
		half_run(&h[1]);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	rc = h[0].rc < 0 ? h[0].rc : h[1].rc;
	if (rc < 0) {
		udos_py_raise(rc, NULL);
		goto done;
	}
	nout = merge_halves(order, h);
	res = PyDict_New();
	if (!res)
		goto done;
	for (size_t i = 0; i < nout; i++) {
		const struct got *g = order[i].g;
		PyObject *key = PySequence_Fast_GET_ITEM(
			k.seq, k.map[g->index + (Py_ssize_t)order[i].h->base]);
		PyObject *val;

		if (g->loc == UDOS_LOC_MISSING || !g->has_data) {
			if (skip)
				continue;
			val = Py_None;
			Py_INCREF(val);
		} else {
			val = PyBytes_FromStringAndSize(
				(const char *)g->data,
				(Py_ssize_t)g->len);
			if (!val)
				goto fail;
		}
		if (PyDict_SetItem(res, key, val) < 0) {
			Py_DECREF(val);
			goto fail;
		}
		Py_DECREF(val);
	}
	if (!skip) {
		for (Py_ssize_t i = 0; i < k.n; i++) {
			PyObject *key;

			if (k.valid[i])
				continue;
			key = PySequence_Fast_GET_ITEM(k.seq, i);
			if (PyDict_SetItem(res, key, Py_None) < 0)
				goto fail;
		}
	}
	goto done;
fail:
	Py_CLEAR(res);
done:
	for (int t = 0; t < 2; t++) {
		arena_release(&h[t].m);
		PyMem_Free(h[t].m.got);
	}
	PyMem_Free(order);
	udos_py_keyset_release(&k);
	return res;
}

struct statted {
	Py_ssize_t index;
	udos_meta meta;
};

struct stat_many {
	struct statted *v;
	size_t n;
};

static int stat_many_fn(void *ctx, size_t index, const udos_oid *oid,
			const udos_meta *meta)
{
	struct stat_many *sm = ctx;

	(void)oid;
	sm->v[sm->n].index = (Py_ssize_t)index;
	sm->v[sm->n].meta = *meta;
	sm->n++;
	return 0;
}

const char udos_py_stat_many_doc[] =
"stat_many(keys, skip_if_missing=True) -> list of (key, (loc, size,\n"
"pack_id, codec, offset, stored_size)), in storage order (loose first,\n"
"then by pack and offset; missing keys last).";

PyObject *udos_py_store_stat_many(udos_py_store *s, PyObject *args,
				 PyObject *kw)
{
	static char *kwlist[] = { "keys", "skip_if_missing", NULL };
	PyObject *keys, *res = NULL;
	int skip = 1;
	struct udos_py_keyset k = UDOS_PY_KEYSET_INIT;
	struct stat_many sm = { NULL, 0 };
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &keys,
					 &skip))
		return NULL;
	if (udos_py_keyset_load(&k, s->dsz, keys) < 0)
		goto done;
	sm.v = PyMem_Malloc(sizeof(*sm.v) * (size_t)(k.n ? k.n : 1));
	if (!sm.v) {
		PyErr_NoMemory();
		goto done;
	}
	if (udos_py_store_take(s) < 0)
		goto done;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_object_stat_many(s->st, k.oids, k.nvalid, stat_many_fn, &sm);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	if (rc < 0) {
		udos_py_raise(rc, NULL);
		goto done;
	}
	res = PyList_New(0);
	if (!res)
		goto done;
	for (size_t i = 0; i < sm.n; i++) {
		PyObject *key = PySequence_Fast_GET_ITEM(k.seq,
							 k.map[sm.v[i].index]);
		PyObject *mt, *item;

		if (sm.v[i].meta.loc == UDOS_LOC_MISSING && skip)
			continue;
		mt = meta_tuple(&sm.v[i].meta);
		if (!mt)
			goto fail;
		item = PyTuple_Pack(2, key, mt);
		Py_DECREF(mt);
		if (!item || PyList_Append(res, item) < 0) {
			Py_XDECREF(item);
			goto fail;
		}
		Py_DECREF(item);
	}
	if (!skip) {
		udos_meta miss;

		memset(&miss, 0, sizeof(miss));
		for (Py_ssize_t i = 0; i < k.n; i++) {
			PyObject *mt, *item;

			if (k.valid[i])
				continue;
			mt = meta_tuple(&miss);
			if (!mt)
				goto fail;
			item = PyTuple_Pack(
				2, PySequence_Fast_GET_ITEM(k.seq, i), mt);
			Py_DECREF(mt);
			if (!item || PyList_Append(res, item) < 0) {
				Py_XDECREF(item);
				goto fail;
			}
			Py_DECREF(item);
		}
	}
	goto done;
fail:
	Py_CLEAR(res);
done:
	PyMem_Free(sm.v);
	udos_py_keyset_release(&k);
	return res;
}

const char udos_py_has_many_doc[] = "has_many(keys) -> list of bool, in input order";

PyObject *udos_py_store_has_many(udos_py_store *s, PyObject *keys)
{
	PyObject *seq, *res = NULL;
	udos_oid *oids = NULL;
	unsigned char *valid = NULL;
	Py_ssize_t n = 0;
	int rc = 0;

	seq = udos_py_parse_keys(keys, s->dsz, &oids, &valid, &n);
	if (!seq)
		return NULL;
	if (udos_py_store_take(s) < 0)
		goto done;
	Py_BEGIN_ALLOW_THREADS
	for (Py_ssize_t i = 0; i < n; i++) {
		if (!valid[i])
			continue;
		rc = udos_object_has(s->st, &oids[i]);
		if (rc < 0)
			break;
		valid[i] = rc > 0;
	}
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	if (rc < 0) {
		udos_py_raise(rc, NULL);
		goto done;
	}
	res = PyList_New(n);
	if (!res)
		goto done;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *b = valid[i] ? Py_True : Py_False;

		Py_INCREF(b);
		PyList_SET_ITEM(res, i, b);
	}
done:
	PyMem_Free(oids);
	PyMem_Free(valid);
	Py_DECREF(seq);
	return res;
}
