/*
 * python/store_type.c - _udos.Store: one open container.
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

/* ---- Python callbacks run from library code ----------------------------- */

/*
 * An exception raised by Python code called back from the library is kept
 * here (the library may call from a thread that is not the caller's) and
 * restored on the calling thread when the library call returns.
 */
struct pyerr {
	PyObject *type, *value, *tb;
};

static void pyerr_keep(struct pyerr *e)
{
	if (e->type) {
		PyErr_Clear();
		return;
	}
	PyErr_Fetch(&e->type, &e->value, &e->tb);
}

/* GIL held. Returns true (exception restored) if one was kept. */
static bool pyerr_restore(struct pyerr *e)
{
	if (!e->type)
		return false;
	PyErr_Restore(e->type, e->value, e->tb);
	e->type = e->value = e->tb = NULL;
	return true;
}

/* progress: calls cb(done, total) with the GIL; errors are kept. */
struct progress {
	PyObject *cb; /* may be NULL */
	struct pyerr err;
};

static void progress_fn(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
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
			pyerr_keep(&p->err);
	}
	PyGILState_Release(g);
}

/* udos_progress_fn: cb(objects done, total) / cb(bytes done, total) */
static void count_progress_fn(void *ctx, const udos_progress *p)
{
	progress_fn(ctx, p->done, p->total);
}

static void byte_progress_fn(void *ctx, const udos_progress *p)
{
	progress_fn(ctx, p->bytes_done, p->bytes_total);
}

/* A pull source over a Python object with read(n). */
struct pystream {
	PyObject *stream;
	PyObject *pending; /* bytes returned beyond what was asked */
	Py_ssize_t pos;
	struct pyerr err;
};

#define PYSTREAM_FAILED (-ECANCELED)

static ssize_t pystream_read(void *ctx, void *buf, size_t len)
{
	struct pystream *p = ctx;
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
	pyerr_keep(&p->err);
	PyGILState_Release(g);
	return PYSTREAM_FAILED;
}

static void pystream_release(struct pystream *p)
{
	Py_CLEAR(p->pending);
}

/* ---- keys --------------------------------------------------------------- */

/* Parse a sequence of keys into oids; valid[i] says whether key i parsed.
 * Returns the PySequence_Fast (caller DECREFs) or NULL. */
static PyObject *parse_keys(PyObject *keys, size_t dsz, udos_oid **oids_out,
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
static size_t compact_keys(udos_oid *oids, const unsigned char *valid,
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

/* Keys given to a bulk call: parsed, and the parsable ones compacted for
 * the library, with map[j] the input position of oids[j]. */
struct keyset {
	PyObject *seq;        /* the keys, as a fast sequence */
	udos_oid *oids;
	unsigned char *valid; /* by input position: parsable? */
	Py_ssize_t n, *map;
	size_t nvalid;
};

#define KEYSET_INIT { NULL, NULL, NULL, 0, NULL, 0 }

/* 0, or -1 with a Python exception set (release in any case). */
static int keyset_load(struct keyset *k, size_t dsz, PyObject *keys)
{
	k->seq = parse_keys(keys, dsz, &k->oids, &k->valid, &k->n);
	if (!k->seq)
		return -1;
	k->map = PyMem_Malloc(sizeof(*k->map) * (size_t)(k->n ? k->n : 1));
	if (!k->map) {
		PyErr_NoMemory();
		return -1;
	}
	k->nvalid = compact_keys(k->oids, k->valid, k->n, k->map);
	return 0;
}

static void keyset_release(struct keyset *k)
{
	PyMem_Free(k->map);
	PyMem_Free(k->oids);
	PyMem_Free(k->valid);
	Py_XDECREF(k->seq);
}

/* ---- single-object reads ------------------------------------------------ */

static PyObject *store_get(udos_py_store *s, PyObject *key)
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

PyDoc_STRVAR(stat_doc,
"stat(key) -> (loc, size, pack_id, codec, offset, stored_size)\n"
"loc is LOC_MISSING for a missing object (no exception).");

static PyObject *store_stat(udos_py_store *s, PyObject *key)
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

static PyObject *store_has(udos_py_store *s, PyObject *key)
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

PyDoc_STRVAR(open_doc, "open(key, verify=False) -> Reader");

static PyObject *store_open(udos_py_store *s, PyObject *args, PyObject *kw)
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

PyDoc_STRVAR(get_many_doc,
"get_many(keys, skip_if_missing=True) -> dict\n"
"Contents by key, read in storage order (loose, then by pack and offset);\n"
"the dict is in that order. Missing keys map to None unless skipped.");

static PyObject *store_get_many(udos_py_store *s, PyObject *args,
				PyObject *kw)
{
	static char *kwlist[] = { "keys", "skip_if_missing", NULL };
	PyObject *keys, *res = NULL;
	int skip = 1;
	struct keyset k = KEYSET_INIT;
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
	if (keyset_load(&k, s->dsz, keys) < 0)
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
	keyset_release(&k);
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

PyDoc_STRVAR(stat_many_doc,
"stat_many(keys, skip_if_missing=True) -> list of (key, loc, size, pack_id,\n"
"codec, offset, stored_size), in storage order (loose first, then by pack\n"
"and offset; missing keys last).");

static PyObject *store_stat_many(udos_py_store *s, PyObject *args,
				 PyObject *kw)
{
	static char *kwlist[] = { "keys", "skip_if_missing", NULL };
	PyObject *keys, *res = NULL;
	int skip = 1;
	struct keyset k = KEYSET_INIT;
	struct stat_many sm = { NULL, 0 };
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &keys,
					 &skip))
		return NULL;
	if (keyset_load(&k, s->dsz, keys) < 0)
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
	keyset_release(&k);
	return res;
}

PyDoc_STRVAR(has_many_doc, "has_many(keys) -> list of bool, in input order");

static PyObject *store_has_many(udos_py_store *s, PyObject *keys)
{
	PyObject *seq, *res = NULL;
	udos_oid *oids = NULL;
	unsigned char *valid = NULL;
	Py_ssize_t n = 0;
	int rc = 0;

	seq = parse_keys(keys, s->dsz, &oids, &valid, &n);
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

/* ---- loose writes ------------------------------------------------------- */

PyDoc_STRVAR(add_loose_doc,
"add_loose(data, sync=True) -> key\n"
"Write a loose object (durable on return unless sync is False).");

static PyObject *store_add_loose(udos_py_store *s, PyObject *args,
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

PyDoc_STRVAR(add_loose_stream_doc,
"add_loose_stream(stream, sync=True) -> key\n"
"Write a loose object read from stream.read(n) until it returns b''.");

static PyObject *store_add_loose_stream(udos_py_store *s, PyObject *args,
					PyObject *kw)
{
	static char *kwlist[] = { "stream", "sync", NULL };
	struct pystream ps;
	int sync = 1, rc;
	udos_oid oid;

	memset(&ps, 0, sizeof(ps));
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &ps.stream,
					 &sync))
		return NULL;
	if (udos_py_store_take(s) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_add_loose_cb(&oid, NULL, s->st, pystream_read, &ps,
			       sync ? 0 : UDOS_ADD_NOSYNC);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	pystream_release(&ps);
	if (pyerr_restore(&ps.err))
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

static int compress_arg(PyObject *o, int *out)
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

PyDoc_STRVAR(pack_add_doc,
"pack_add(items, compress=False, sync=True, open_streams=False,\n"
"         progress=None) -> list of keys\n"
"Add objects straight to packs. Each item is a bytes-like object or a\n"
"stream with read(n) (with open_streams, a context manager returning one).\n"
"Keys come back in input order. progress(done, total) is called now and\n"
"then. Everything added is committed (fsynced unless sync is False).");

static PyObject *store_pack_add(udos_py_store *s, PyObject *args, PyObject *kw)
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
	struct progress pg = { NULL, { NULL, NULL, NULL } };

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OppO", kwlist, &items,
					 &compress_o, &sync, &open_streams,
					 &progress))
		return NULL;
	if (compress_arg(compress_o, &compress) < 0)
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
				progress_fn(&pg, (uint64_t)i + 1,
					    (uint64_t)n);
		}
		rc2 = writer_end_nogil(s, w, true);
		Py_END_ALLOW_THREADS
	} else {
		for (i = 0; i < n; i++) {
			PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
			PyObject *src = item, *ex;
			struct pystream ps;
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
							pystream_read, &ps);
				Py_END_ALLOW_THREADS
				pystream_release(&ps);
				pyerr_restore(&ps.err);
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
				progress_fn(&pg, (uint64_t)i + 1, (uint64_t)n);
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
	if (PyErr_Occurred() || pyerr_restore(&pg.err))
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

static PyObject *keys_list(const udos_oid *oids, Py_ssize_t n, size_t dsz)
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

PyDoc_STRVAR(add_paths_doc,
"add_paths(paths, to_pack=True, compress=False, sync=True, progress=None)\n"
"-> list of keys (input order). Each path is a regular file, read by fd.\n"
"The first file that cannot be read raises OSError (with filename); what\n"
"was added before it is kept.");

static PyObject *store_add_paths(udos_py_store *s, PyObject *args,
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
	struct progress pg = { NULL, { NULL, NULL, NULL } };

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pOpO", kwlist, &paths,
					 &to_pack, &compress_o, &sync,
					 &progress))
		return NULL;
	if (compress_arg(compress_o, &compress) < 0)
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
			progress_fn(&pg, (uint64_t)i + 1, (uint64_t)n);
	}
	if (to_pack)
		rc2 = writer_end_nogil(s, w, true);
	Py_END_ALLOW_THREADS
	if (to_pack)
		PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (pyerr_restore(&pg.err))
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
	res = keys_list(oids, n, s->dsz);
done:
	PyMem_Free(oids);
	PyMem_Free(v);
	Py_DECREF(conv);
	return res;
}

PyDoc_STRVAR(import_from_doc,
"import_from(source, keys, compress=False, sync=True, progress=None)\n"
"-> list of the keys copied (those present in source). source is another\n"
"Store of the same hash type (ValueError otherwise: the keys would\n"
"change); objects stream from its readers into this store's packs.");

/* the keys found in the source, whether copied now or already here */
struct import_ctx {
	udos_oid *found;
	size_t n;
	udos_oid bad; /* the first corrupt one */
	bool has_bad;
	uint64_t last;
	struct progress pg;
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
		progress_fn(&ic->pg, p->done, p->total);
}

static PyObject *store_import_from(udos_py_store *s, PyObject *args,
				   PyObject *kw)
{
	static char *kwlist[] = { "source", "keys", "compress", "sync",
				  "progress", NULL };
	udos_py_store *src;
	PyObject *keys, *compress_o = Py_False;
	PyObject *progress = Py_None, *res = NULL;
	int sync = 1, rc;
	struct keyset k = KEYSET_INIT;
	udos_import_opts opts = UDOS_IMPORT_OPTS_INIT;
	struct import_ctx ic;

	memset(&ic, 0, sizeof(ic));
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O|OpO", kwlist,
					 &udos_py_store_type, &src, &keys,
					 &compress_o, &sync, &progress))
		return NULL;
	if (compress_arg(compress_o, &opts.compress) < 0)
		return NULL;
	/* ids are kept as they are: both stores must name content alike
	 * (the digest size tells the two hash types apart) */
	if (src->dsz != s->dsz)
		return PyErr_Format(PyExc_ValueError, "cannot import between "
				    "containers of different hash types");
	if (progress != Py_None)
		ic.pg.cb = progress;
	if (keyset_load(&k, s->dsz, keys) < 0)
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
	if (pyerr_restore(&ic.pg.err))
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
	res = keys_list(ic.found, (Py_ssize_t)ic.n, s->dsz);
done:
	PyMem_Free(ic.found);
	keyset_release(&k);
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
	struct progress pg;
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

	progress_fn(&ic->pg, p->files_done, p->files_total);
}

PyDoc_STRVAR(ingest_doc,
"ingest(paths, to_pack=True, compress=False, sync=True, progress=None,\n"
"       io=INGEST_IO_AUTO, use_cache=True)\n"
"-> list of (path: bytes, key or None, error code, detail)\n"
"Store files and the regular files under folders with the io_uring ingest\n"
"engine (parallel read, hash and compress). Symlinks and special files are\n"
"skipped. Files the container's stat cache knows unchanged are not read\n"
"(use_cache=False reads all). Per-file failures are returned, not raised.");

static PyObject *store_ingest(udos_py_store *s, PyObject *args, PyObject *kw)
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
	if (compress_arg(compress_o, &opts.compress) < 0)
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
	if (pyerr_restore(&ic.pg.err))
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

/* ---- maintenance -------------------------------------------------------- */

PyDoc_STRVAR(pack_loose_doc,
"pack_loose(compress=False, clean=False, sync=True, progress=None) -> dict\n"
"Move loose objects into packs; the result counts packed, skipped,\n"
"cleaned, corrupt, bytes_in and bytes_out.");

static PyObject *store_pack_loose(udos_py_store *s, PyObject *args,
				  PyObject *kw)
{
	static char *kwlist[] = { "compress", "clean", "sync", "progress",
				  NULL };
	PyObject *compress_o = Py_False, *progress = Py_None;
	int clean = 0, sync = 1, rc;
	udos_pack_opts opts = UDOS_PACK_OPTS_INIT;
	udos_pack_result out;
	struct progress pg = { NULL, { NULL, NULL, NULL } };

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OppO", kwlist,
					 &compress_o, &clean, &sync, &progress))
		return NULL;
	if (compress_arg(compress_o, &opts.compress) < 0)
		return NULL;
	if (progress != Py_None)
		pg.cb = progress;
	opts.clean = clean;
	opts.no_sync = !sync;
	opts.progress = count_progress_fn;
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
	if (pyerr_restore(&pg.err))
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

static PyObject *store_clean(udos_py_store *s, PyObject *args,
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

PyDoc_STRVAR(delete_doc,
"delete(keys) -> list of the keys that were there and are now gone");

static PyObject *store_delete(udos_py_store *s, PyObject *keys)
{
	PyObject *seq, *res = NULL;
	udos_oid *oids = NULL;
	unsigned char *valid = NULL;
	Py_ssize_t n = 0, i;
	int rc = 0;

	seq = parse_keys(keys, s->dsz, &oids, &valid, &n);
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

PyDoc_STRVAR(repack_doc,
"repack(pack_id=None, compress=COMPRESS_KEEP, sync=True, progress=None)\n"
"Repack one pack (pack_id) or all of them.");

static PyObject *store_repack(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "pack_id", "compress", "sync", "progress",
				  NULL };
	PyObject *pack_o = Py_None, *progress = Py_None;
	PyObject *compress_o = NULL;
	int sync = 1, rc;
	unsigned long pack_id = 0;
	udos_repack_opts opts = UDOS_REPACK_OPTS_INIT;
	struct progress pg = { NULL, { NULL, NULL, NULL } };

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOpO", kwlist, &pack_o,
					 &compress_o, &sync, &progress))
		return NULL;
	if (compress_o && compress_arg(compress_o, &opts.compress) < 0)
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
	opts.progress = byte_progress_fn;
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
	if (pyerr_restore(&pg.err))
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

PyDoc_STRVAR(validate_doc,
"validate(full=True, progress=None) -> (findings, result)\n"
"findings: list of (kind_name, key or None, path or None, offset, message);\n"
"result: dict of the counters.");

static PyObject *store_validate(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "full", "progress", NULL };
	PyObject *progress = Py_None, *list = NULL, *res = NULL;
	int full = 1, rc;
	udos_validate_result out;
	struct findings fs = { NULL, 0, 0, 0 };
	struct progress pg = { NULL, { NULL, NULL, NULL } };

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
				 finding_fn, &fs, byte_progress_fn, &pg);
	Py_END_ALLOW_THREADS
	udos_py_store_drop(s);
	if (pyerr_restore(&pg.err))
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

static PyObject *store_status(udos_py_store *s, PyObject *unused)
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

PyDoc_STRVAR(list_all_doc,
"list_all(loose=True, packed=True) -> list of keys, each once\n"
"(packed ones first, in id order; then loose ones not packed).");

static PyObject *store_list_all(udos_py_store *s, PyObject *args, PyObject *kw)
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
	res = keys_list(ov.v, (Py_ssize_t)ov.n, s->dsz);
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

static PyObject *store_lock_writer(udos_py_store *s, PyObject *unused)
{
	(void)unused;
	return writer_lock_call(s, udos_store_lock_writer);
}

static const char backup_doc[] =
	"backup(dest, progress=None, fetch_evicted=False) -> dict of counts\n\n"
	"Make the folder dest an incremental, consistent copy of the container\n"
	"(udos_store_backup_ex). Evicted packs stay on the remote (dest reads\n"
	"them through it) unless fetch_evicted. A writer lock taken with\n"
	"lock_writer() stays held.";

static PyObject *store_backup(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "dest", "progress", "fetch_evicted", NULL };
	PyObject *dest_o = NULL, *progress = Py_None;
	struct progress pg = { NULL, { NULL, NULL, NULL } };
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
				  byte_progress_fn, &pg);
	Py_END_ALLOW_THREADS
	PyThread_release_lock(s->wlock);
	udos_py_store_drop(s);
	if (pyerr_restore(&pg.err)) {
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

static PyObject *store_unlock_writer(udos_py_store *s, PyObject *unused)
{
	(void)unused;
	return writer_lock_call(s, udos_store_unlock_writer);
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
	{ "get", (PyCFunction)store_get, METH_O,
	  "get(key) -> bytes (NotExistent if missing)" },
	{ "stat", (PyCFunction)store_stat, METH_O, stat_doc },
	{ "has", (PyCFunction)store_has, METH_O, "has(key) -> bool" },
	{ "open", KWFN(store_open), KW, open_doc },
	{ "get_many", KWFN(store_get_many), KW, get_many_doc },
	{ "stat_many", KWFN(store_stat_many), KW, stat_many_doc },
	{ "has_many", (PyCFunction)store_has_many, METH_O, has_many_doc },
	{ "add_loose", KWFN(store_add_loose), KW, add_loose_doc },
	{ "add_loose_stream", KWFN(store_add_loose_stream), KW,
	  add_loose_stream_doc },
	{ "pack_add", KWFN(store_pack_add), KW, pack_add_doc },
	{ "add_paths", KWFN(store_add_paths), KW, add_paths_doc },
	{ "import_from", KWFN(store_import_from), KW, import_from_doc },
	{ "import_dos", KWFN(udos_py_store_import_dos), KW,
	  "import_dos(path, compress=KEEP, sync=True, progress=None) -> dict" },
	{ "export_dos", KWFN(udos_py_store_export_dos), KW,
	  "export_dos(path, compress=KEEP, loose=False, zlib_level=0, "
	  "sync=True, progress=None) -> dict" },
	{ "ingest", KWFN(store_ingest), KW, ingest_doc },
	{ "restore", KWFN(udos_py_restore), KW, udos_py_restore_doc },
	{ "pack_loose", KWFN(store_pack_loose), KW, pack_loose_doc },
	{ "clean", KWFN(store_clean), KW,
	  "clean(vacuum=False) -> number of loose files removed (packed "
	  "copies checked); vacuum also compacts the index" },
	{ "delete", (PyCFunction)store_delete, METH_O, delete_doc },
	{ "repack", KWFN(store_repack), KW, repack_doc },
	{ "validate", KWFN(store_validate), KW, validate_doc },
	{ "status", (PyCFunction)store_status, METH_NOARGS,
	  "status() -> dict of counts and sizes" },
	{ "list_all", KWFN(store_list_all), KW, list_all_doc },
	{ "lock_writer", (PyCFunction)store_lock_writer, METH_NOARGS,
	  "lock_writer(): take the pack-writer lock now (LockedError if held)" },
	{ "backup", KWFN(store_backup), KW, backup_doc },
	{ "push", KWFN(udos_py_store_push), KW,
	  "push(seal=False, parallel=0) -> dict: sealed packs to the remote" },
	{ "evict", KWFN(udos_py_store_evict), KW,
	  "evict(keep=0) -> dict: drop local copies of pushed packs" },
	{ "pull", (PyCFunction)udos_py_store_pull, METH_NOARGS,
	  "pull() -> dict: bring a clone to the remote's newest manifest" },
	{ "remote_gc", KWFN(udos_py_store_remote_gc), KW,
	  "remote_gc(grace=86400, dry_run=False) -> dict: delete what no "
	  "reader needs" },
	{ "remote_set", KWFN(udos_py_store_remote_set), KW,
	  "remote_set(url, endpoint, region='', cache_size=0)" },
	{ "remote_status", (PyCFunction)udos_py_store_remote_status,
	  METH_NOARGS, "remote_status() -> dict, or None without a remote" },
	{ "unlock_writer", (PyCFunction)store_unlock_writer, METH_NOARGS,
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
