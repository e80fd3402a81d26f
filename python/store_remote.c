/*
 * python/store_remote.c - Store.push/evict/pull/refresh/remote_gc/
 * remote_set/remote_status and the module's clone(): the S3 remote
 * (include/udos/remote.h) for Python.
 * Writers take the Store's wlock, as the packing calls do, and give the
 * pack-writer lock back at the end.
 */
#include "udos_py.h"

#include <string.h>

/* run fn(st, arg) as a writer of s without the GIL */
#define WRITER_CALL(s, rc, call)                                          \
	do {                                                              \
		if (udos_py_store_take(s) < 0)                            \
			return NULL;                                      \
		udos_py_lock((s)->wlock);                                 \
		Py_BEGIN_ALLOW_THREADS                                    \
		rc = (call);                                              \
		udos_store_unlock_writer((s)->st);                        \
		Py_END_ALLOW_THREADS                                      \
		PyThread_release_lock((s)->wlock);                        \
		udos_py_store_drop(s);                                    \
	} while (0)

PyObject *udos_py_store_push(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "seal", "parallel", NULL };
	udos_push_opts o = UDOS_PUSH_OPTS_INIT;
	udos_push_result r;
	int seal = 0, par = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|pi", kwlist, &seal, &par))
		return NULL;
	o.seal = seal;
	o.parallel = par > 0 ? (unsigned)par : 0;
	WRITER_CALL(s, rc, udos_remote_push(&r, s->st, &o));
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "packs",
			     (unsigned long long)r.packs, "bytes",
			     (unsigned long long)r.bytes, "resumed",
			     (unsigned long long)r.resumed, "swept",
			     (unsigned long long)r.swept, "generation",
			     (unsigned long long)r.generation, "remote_packs",
			     (unsigned long long)r.remote_packs, "deletions",
			     (unsigned long long)r.deletions, "requests",
			     (unsigned long long)r.requests);
}

PyObject *udos_py_store_remote_gc(udos_py_store *s, PyObject *args,
				  PyObject *kw)
{
	static char *kwlist[] = { "grace", "dry_run", NULL };
	udos_remote_gc_opts o = UDOS_REMOTE_GC_OPTS_INIT;
	udos_remote_gc_result r;
	long long grace = UDOS_REMOTE_GC_GRACE;
	int dry = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|Lp", kwlist, &grace,
					 &dry))
		return NULL;
	if (grace < 0) {
		PyErr_SetString(PyExc_ValueError, "grace must not be negative");
		return NULL;
	}
	o.grace = (int64_t)grace;
	o.dry_run = dry;
	WRITER_CALL(s, rc, udos_remote_gc(&r, s->st, &o));
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}",
			     "generation", (unsigned long long)r.generation,
			     "manifests_kept",
			     (unsigned long long)r.manifests_kept,
			     "manifests_deleted",
			     (unsigned long long)r.manifests_deleted,
			     "objects_named", (unsigned long long)r.objects_named,
			     "objects_young", (unsigned long long)r.objects_young,
			     "objects_deleted",
			     (unsigned long long)r.objects_deleted,
			     "bytes_deleted", (unsigned long long)r.bytes_deleted,
			     "uploads_aborted",
			     (unsigned long long)r.uploads_aborted, "requests",
			     (unsigned long long)r.requests);
}

PyObject *udos_py_store_evict(udos_py_store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "keep", NULL };
	unsigned long long keep = 0;
	udos_evict_result r;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|K", kwlist, &keep))
		return NULL;
	WRITER_CALL(s, rc, udos_remote_evict(&r, s->st, keep));
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	return Py_BuildValue("{s:K,s:K,s:K}", "packs",
			     (unsigned long long)r.packs, "bytes",
			     (unsigned long long)r.bytes, "kept",
			     (unsigned long long)r.kept);
}

static PyObject *pull_dict(const udos_pull_result *r)
{
	return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K}", "generation",
			     (unsigned long long)r->generation, "packs_added",
			     (unsigned long long)r->packs_added,
			     "packs_removed",
			     (unsigned long long)r->packs_removed, "objects",
			     (unsigned long long)r->objects, "deletions",
			     (unsigned long long)r->deletions, "requests",
			     (unsigned long long)r->requests);
}

PyObject *udos_py_store_pull(udos_py_store *s, PyObject *unused)
{
	udos_pull_result r;
	int rc;

	(void)unused;
	WRITER_CALL(s, rc, udos_remote_pull(&r, s->st));
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	return pull_dict(&r);
}

/* The one rule of "pull and read again" (udos_remote_refresh): a clone
 * pulls, anything else says why not. */
PyObject *udos_py_store_refresh(udos_py_store *s, PyObject *unused)
{
	int rc;

	(void)unused;
	WRITER_CALL(s, rc, udos_remote_refresh(s->st));
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	Py_RETURN_NONE;
}

static int fill_conf(udos_remote_conf *c, const char *url,
		     const char *endpoint, const char *region,
		     unsigned long long cache, const char *ca_bundle)
{
	memset(c, 0, sizeof(*c));
	if (strlen(url) >= sizeof(c->url) ||
	    strlen(endpoint) >= sizeof(c->endpoint) ||
	    strlen(region) >= sizeof(c->region) ||
	    strlen(ca_bundle) >= sizeof(c->ca_bundle)) {
		PyErr_SetString(PyExc_ValueError, "url, endpoint, region or "
				"ca_bundle too long");
		return -1;
	}
	strcpy(c->url, url);
	strcpy(c->endpoint, endpoint);
	strcpy(c->region, region);
	strcpy(c->ca_bundle, ca_bundle);
	c->cache_size = cache;
	return 0;
}

PyObject *udos_py_store_remote_set(udos_py_store *s, PyObject *args,
				   PyObject *kw)
{
	static char *kwlist[] = { "url", "endpoint", "region", "cache_size",
				  "ca_bundle", NULL };
	const char *url, *endpoint, *region = "", *ca = "";
	unsigned long long cache = 0;
	udos_remote_conf c;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|sKs", kwlist, &url,
					 &endpoint, &region, &cache, &ca))
		return NULL;
	if (fill_conf(&c, url, endpoint, region, cache, ca) < 0)
		return NULL;
	if (udos_py_store_take(s) < 0)
		return NULL;
	rc = udos_remote_set(s->st, &c);
	udos_py_store_drop(s);
	if (rc < 0)
		return udos_py_raise(rc, url);
	Py_RETURN_NONE;
}

PyObject *udos_py_store_remote_status(udos_py_store *s, PyObject *unused)
{
	udos_remote_status r;
	udos_remote_conf c = { 0 };
	int rc;

	(void)unused;
	if (udos_py_store_take(s) < 0)
		return NULL;
	rc = udos_remote_status_get(&r, s->st);
	if (rc == 0 && r.has_remote)
		rc = udos_remote_get(&c, s->st);
	udos_py_store_drop(s);
	if (rc < 0)
		return udos_py_raise(rc, NULL);
	if (!r.has_remote)
		Py_RETURN_NONE;
	return Py_BuildValue("{s:s,s:s,s:s,s:O,s:K,s:K,s:K,s:K,s:K,s:K,s:K}",
			     "url", c.url, "endpoint", c.endpoint, "ca_bundle",
			     c.ca_bundle, "clone",
			     c.clone ? Py_True : Py_False, "generation",
			     (unsigned long long)r.generation, "packs_local",
			     (unsigned long long)r.packs_local, "bytes_local",
			     (unsigned long long)r.bytes_local, "packs_remote",
			     (unsigned long long)r.packs_remote,
			     "bytes_remote",
			     (unsigned long long)r.bytes_remote,
			     "bytes_cached",
			     (unsigned long long)r.bytes_cached, "cache_size",
			     (unsigned long long)r.cache_size);
}

PyObject *udos_py_clone(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "url", "path", "endpoint", "region",
				  "cache_size", "ca_bundle", NULL };
	const char *url, *endpoint, *region = "", *ca = "";
	unsigned long long cache = 0;
	PyObject *pathobj = NULL;
	udos_remote_conf c;
	udos_pull_result r;
	int rc;

	(void)self;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "sO&s|sKs", kwlist, &url,
					 PyUnicode_FSConverter, &pathobj,
					 &endpoint, &region, &cache, &ca))
		return NULL;
	if (fill_conf(&c, url, endpoint, region, cache, ca) < 0) {
		Py_DECREF(pathobj);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	rc = udos_remote_clone(&r, PyBytes_AS_STRING(pathobj), &c);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		udos_py_raise(rc, PyBytes_AS_STRING(pathobj));
		Py_DECREF(pathobj);
		return NULL;
	}
	Py_DECREF(pathobj);
	return pull_dict(&r);
}
