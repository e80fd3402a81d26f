/*
 * python/reader_type.c - _udos.Reader: a read-only binary file on one object.
 *
 * read/readinto/seek/tell like io.RawIOBase, readline/readlines/iteration
 * like io.IOBase, a context manager, usable with shutil.copyfileobj and
 * under io.TextIOWrapper. Seeking in a compressed packed object decompresses
 * in the library (no loose copy is written). Reads run without the GIL; a
 * per-reader lock keeps one thread at a time in the udos_reader.
 */
#include "udos_py.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

PyObject *udos_py_reader_new(udos_py_store *s, udos_reader *r,
			     const udos_oid *oid)
{
	udos_py_reader *rd;

	rd = PyObject_New(udos_py_reader, &udos_py_reader_type);
	if (!rd) {
		udos_reader_close(r);
		return NULL;
	}
	rd->store = NULL;
	rd->r = NULL;
	rd->ahead = NULL;
	rd->ahead_off = rd->ahead_len = 0;
	rd->lock = PyThread_allocate_lock();
	if (!rd->lock) {
		udos_reader_close(r);
		Py_DECREF(rd);
		return PyErr_NoMemory();
	}
	if (udos_py_store_take(s) < 0) {
		udos_reader_close(r);
		Py_DECREF(rd);
		return NULL;
	}
	Py_INCREF(s);
	rd->store = s;
	rd->r = r;
	rd->meta = *udos_reader_meta(r);
	udos_oid_fmt_sz(rd->hex, oid, s->dsz);
	return (PyObject *)rd;
}

/* Close the udos_reader and give the store use back. GIL held. */
static void reader_release(udos_py_reader *rd)
{
	udos_reader *r = rd->r;

	if (!r)
		return;
	udos_py_lock(rd->lock);
	r = rd->r;
	rd->r = NULL;
	PyMem_Free(rd->ahead);
	rd->ahead = NULL;
	rd->ahead_off = rd->ahead_len = 0;
	PyThread_release_lock(rd->lock);
	if (!r)
		return;
	udos_reader_close(r);
	udos_py_store_drop(rd->store);
}

static void reader_dealloc(udos_py_reader *rd)
{
	reader_release(rd);
	Py_CLEAR(rd->store);
	if (rd->lock)
		PyThread_free_lock(rd->lock);
	PyObject_Free(rd);
}

static int check_open(udos_py_reader *rd)
{
	if (!rd->r) {
		PyErr_SetString(PyExc_ValueError, "I/O operation on closed file.");
		return -1;
	}
	return 0;
}

/* Read up to len bytes into buf, looping until len or EOF. GIL held on
 * entry; the lock is taken and the GIL released inside. */
static Py_ssize_t read_into(udos_py_reader *rd, char *buf, Py_ssize_t len,
			    bool fill)
{
	Py_ssize_t got = 0;
	ssize_t k = 0;

	udos_py_lock(rd->lock);
	if (!rd->r) {
		PyThread_release_lock(rd->lock);
		check_open(rd);
		return -1;
	}
	if (rd->ahead_off < rd->ahead_len) {
		got = rd->ahead_len - rd->ahead_off;
		if (got > len)
			got = len;
		memcpy(buf, rd->ahead + rd->ahead_off, (size_t)got);
		rd->ahead_off += got;
		if (!fill)
			len = got;
	}
	Py_BEGIN_ALLOW_THREADS
	while (got < len) {
		k = udos_reader_read(rd->r, buf + got, (size_t)(len - got));
		if (k <= 0)
			break;
		got += k;
		if (!fill)
			break;
	}
	Py_END_ALLOW_THREADS
	PyThread_release_lock(rd->lock);
	if (k < 0) {
		udos_py_raise((int)k, rd->hex);
		return -1;
	}
	return got;
}

static uint64_t reader_pos(udos_py_reader *rd)
{
	uint64_t pos;

	udos_py_lock(rd->lock);
	pos = rd->r ? udos_reader_tell(rd->r) -
			      (uint64_t)(rd->ahead_len - rd->ahead_off)
		    : 0;
	PyThread_release_lock(rd->lock);
	return pos;
}

static PyObject *read_all(udos_py_reader *rd)
{
	uint64_t pos = reader_pos(rd);
	Py_ssize_t cap, len = 0;
	PyObject *b;

	/* one byte more than expected, so the end shows without a resize */
	cap = rd->meta.size > pos ? (Py_ssize_t)(rd->meta.size - pos) : 0;
	b = PyBytes_FromStringAndSize(NULL, cap + 1);
	if (!b)
		return NULL;
	for (;;) {
		Py_ssize_t want = PyBytes_GET_SIZE(b) - len, got;

		got = read_into(rd, PyBytes_AS_STRING(b) + len, want, true);
		if (got < 0) {
			Py_DECREF(b);
			return NULL;
		}
		len += got;
		if (got < want)
			break;
		/* longer than the meta said: grow */
		if (_PyBytes_Resize(&b, PyBytes_GET_SIZE(b) * 2) < 0)
			return NULL;
	}
	if (_PyBytes_Resize(&b, len) < 0)
		return NULL;
	return b;
}

static PyObject *reader_read(udos_py_reader *rd, PyObject *args)
{
	Py_ssize_t size = -1, got;
	PyObject *sizeo = Py_None, *b;

	if (!PyArg_ParseTuple(args, "|O:read", &sizeo))
		return NULL;
	if (sizeo != Py_None) {
		size = PyNumber_AsSsize_t(sizeo, PyExc_OverflowError);
		if (size == -1 && PyErr_Occurred())
			return NULL;
	}
	if (check_open(rd) < 0)
		return NULL;
	if (size < 0)
		return read_all(rd);
	{
		uint64_t pos = reader_pos(rd);
		uint64_t left = rd->meta.size > pos ? rd->meta.size - pos : 0;

		/* do not allocate a huge buffer for a short object */
		if ((uint64_t)size > left + 1)
			size = (Py_ssize_t)left + 1;
	}
	b = PyBytes_FromStringAndSize(NULL, size);
	if (!b)
		return NULL;
	got = read_into(rd, PyBytes_AS_STRING(b), size, true);
	if (got < 0) {
		Py_DECREF(b);
		return NULL;
	}
	if (got != size && _PyBytes_Resize(&b, got) < 0)
		return NULL;
	return b;
}

static PyObject *reader_readall(udos_py_reader *rd, PyObject *unused)
{
	(void)unused;
	if (check_open(rd) < 0)
		return NULL;
	return read_all(rd);
}

static PyObject *reader_readinto(udos_py_reader *rd, PyObject *arg)
{
	Py_buffer view;
	Py_ssize_t got;

	if (PyObject_GetBuffer(arg, &view, PyBUF_WRITABLE) < 0)
		return NULL;
	got = read_into(rd, view.buf, view.len, true);
	PyBuffer_Release(&view);
	if (got < 0)
		return NULL;
	return PyLong_FromSsize_t(got);
}

/* readline's read-ahead: one library read, then lines are cut from it */
#define AHEAD_SIZE (64 * 1024)

/* Refill rd->ahead when it is used up. 1: bytes there, 0: end of object,
 * -1: error set. Lock held, GIL held. */
static int fill_ahead(udos_py_reader *rd)
{
	ssize_t n;

	if (rd->ahead_off < rd->ahead_len)
		return 1;
	if (!rd->ahead) {
		rd->ahead = PyMem_Malloc(AHEAD_SIZE);
		if (!rd->ahead) {
			PyErr_NoMemory();
			return -1;
		}
	}
	Py_BEGIN_ALLOW_THREADS
	n = udos_reader_read(rd->r, rd->ahead, AHEAD_SIZE);
	Py_END_ALLOW_THREADS
	if (n < 0) {
		udos_py_raise((int)n, rd->hex);
		return -1;
	}
	rd->ahead_off = 0;
	rd->ahead_len = n;
	return n > 0;
}

/* One line (up to and with b'\n'), at most `limit` bytes if limit >= 0;
 * b'' at the end. */
static PyObject *read_line(udos_py_reader *rd, Py_ssize_t limit)
{
	char *line = NULL;
	Py_ssize_t len = 0;
	PyObject *b = NULL;

	while (limit < 0 || len < limit) {
		Py_ssize_t take;
		char *start, *nl, *grown;
		int rc;

		udos_py_lock(rd->lock);
		if (!rd->r) {
			PyThread_release_lock(rd->lock);
			check_open(rd);
			goto done;
		}
		rc = fill_ahead(rd);
		if (rc <= 0) {
			PyThread_release_lock(rd->lock);
			if (rc < 0)
				goto done;
			break;
		}
		start = rd->ahead + rd->ahead_off;
		take = rd->ahead_len - rd->ahead_off;
		if (limit >= 0 && take > limit - len)
			take = limit - len;
		nl = memchr(start, '\n', (size_t)take);
		if (nl)
			take = nl - start + 1;
		grown = PyMem_Realloc(line, (size_t)(len + take));
		if (!grown) {
			PyThread_release_lock(rd->lock);
			PyErr_NoMemory();
			goto done;
		}
		line = grown;
		memcpy(line + len, start, (size_t)take);
		len += take;
		rd->ahead_off += take;
		PyThread_release_lock(rd->lock);
		if (nl)
			break;
	}
	b = PyBytes_FromStringAndSize(line, len);
done:
	PyMem_Free(line);
	return b;
}

static int size_arg(PyObject *o, Py_ssize_t *out)
{
	*out = -1;
	if (o == Py_None)
		return 0;
	*out = PyNumber_AsSsize_t(o, PyExc_OverflowError);
	return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

static PyObject *reader_readline(udos_py_reader *rd, PyObject *args)
{
	PyObject *o = Py_None;
	Py_ssize_t limit;

	if (!PyArg_ParseTuple(args, "|O:readline", &o) || size_arg(o, &limit))
		return NULL;
	if (check_open(rd) < 0)
		return NULL;
	return read_line(rd, limit);
}

static PyObject *reader_readlines(udos_py_reader *rd, PyObject *args)
{
	PyObject *o = Py_None, *lines, *line;
	Py_ssize_t hint, total = 0;

	if (!PyArg_ParseTuple(args, "|O:readlines", &o) || size_arg(o, &hint))
		return NULL;
	if (check_open(rd) < 0)
		return NULL;
	lines = PyList_New(0);
	if (!lines)
		return NULL;
	for (;;) {
		line = read_line(rd, -1);
		if (!line || PyBytes_GET_SIZE(line) == 0) {
			if (!line)
				Py_CLEAR(lines);
			Py_XDECREF(line);
			return lines;
		}
		total += PyBytes_GET_SIZE(line);
		if (PyList_Append(lines, line) < 0) {
			Py_DECREF(line);
			Py_DECREF(lines);
			return NULL;
		}
		Py_DECREF(line);
		if (hint > 0 && total >= hint)
			return lines;
	}
}

static PyObject *reader_iter(PyObject *self)
{
	if (check_open((udos_py_reader *)self) < 0)
		return NULL;
	Py_INCREF(self);
	return self;
}

static PyObject *reader_next(udos_py_reader *rd)
{
	PyObject *line;

	if (check_open(rd) < 0)
		return NULL;
	line = read_line(rd, -1);
	if (line && PyBytes_GET_SIZE(line) == 0)
		Py_CLEAR(line); /* NULL with no error set: StopIteration */
	return line;
}

static PyObject *reader_seek(udos_py_reader *rd, PyObject *args)
{
	long long off;
	int whence = 0, rc;
	uint64_t pos = 0;

	if (!PyArg_ParseTuple(args, "L|i:seek", &off, &whence))
		return NULL;
	if (whence < 0 || whence > 2) {
		PyErr_Format(PyExc_ValueError,
			     "invalid whence (%d, should be 0, 1 or 2)",
			     whence);
		return NULL;
	}
	if (check_open(rd) < 0)
		return NULL;
	if (whence == SEEK_SET && off < 0) {
		PyErr_Format(PyExc_ValueError, "negative seek position %lld",
			     off);
		return NULL;
	}
	udos_py_lock(rd->lock);
	if (!rd->r) {
		PyThread_release_lock(rd->lock);
		check_open(rd);
		return NULL;
	}
	/* the library's position is past what readline read ahead */
	if (whence == SEEK_CUR)
		off -= rd->ahead_len - rd->ahead_off;
	rd->ahead_off = rd->ahead_len = 0;
	Py_BEGIN_ALLOW_THREADS
	rc = udos_reader_seek(rd->r, off, whence, &pos);
	Py_END_ALLOW_THREADS
	PyThread_release_lock(rd->lock);
	if (rc < 0) {
		if (rc == -EINVAL) {
			PyErr_Format(PyExc_ValueError,
				     "negative seek position %lld", off);
			return NULL;
		}
		return udos_py_raise(rc, rd->hex);
	}
	return PyLong_FromUnsignedLongLong(pos);
}

static PyObject *reader_tell(udos_py_reader *rd, PyObject *unused)
{
	(void)unused;
	if (check_open(rd) < 0)
		return NULL;
	return PyLong_FromUnsignedLongLong(reader_pos(rd));
}

static PyObject *reader_close(udos_py_reader *rd, PyObject *unused)
{
	(void)unused;
	reader_release(rd);
	Py_RETURN_NONE;
}

static PyObject *reader_true(PyObject *self, PyObject *unused)
{
	udos_py_reader *rd = (udos_py_reader *)self;

	(void)unused;
	if (check_open(rd) < 0)
		return NULL;
	Py_RETURN_TRUE;
}

static PyObject *reader_false(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	Py_RETURN_FALSE;
}

static PyObject *reader_none(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	Py_RETURN_NONE;
}

static PyObject *reader_fileno(PyObject *self, PyObject *unused)
{
	PyObject *io, *exc;

	(void)self;
	(void)unused;
	io = PyImport_ImportModule("io");
	if (!io)
		return NULL;
	exc = PyObject_GetAttrString(io, "UnsupportedOperation");
	Py_DECREF(io);
	if (!exc)
		return NULL;
	PyErr_SetString(exc, "fileno");
	Py_DECREF(exc);
	return NULL;
}

static PyObject *reader_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	if (check_open((udos_py_reader *)self) < 0)
		return NULL;
	Py_INCREF(self);
	return self;
}

static PyObject *reader_exit(udos_py_reader *rd, PyObject *args)
{
	(void)args;
	reader_release(rd);
	Py_RETURN_NONE;
}

static PyObject *reader_get_closed(udos_py_reader *rd, void *closure)
{
	(void)closure;
	return PyBool_FromLong(rd->r == NULL);
}

static PyObject *reader_get_size(udos_py_reader *rd, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(rd->meta.size);
}

/* As a file object of disk-objectstore's: a loose object's stream is named
 * by its file's path; a packed one's by its key. */
static PyObject *reader_get_name(udos_py_reader *rd, void *closure)
{
	udos_store_info info;
	char rel[UDOS_OID_HEXSZ + 16];
	int p;

	(void)closure;
	if (rd->meta.loc != UDOS_LOC_LOOSE || !rd->store->st ||
	    !rd->store->path)
		return PyUnicode_FromString(rd->hex);
	udos_store_info_get(&info, rd->store->st);
	p = info.loose_prefix_len;
	if (p <= 0)
		snprintf(rel, sizeof(rel), "loose/%s", rd->hex);
	else
		snprintf(rel, sizeof(rel), "loose/%.*s/%s", p, rd->hex,
			 rd->hex + p);
	return PyUnicode_FromFormat("%U/%s", rd->store->path, rel);
}

static PyObject *reader_get_mode(PyObject *self, void *closure)
{
	(void)self;
	(void)closure;
	return PyUnicode_FromString("rb");
}

static PyObject *reader_get_meta(udos_py_reader *rd, void *closure)
{
	const udos_meta *m = &rd->meta;

	(void)closure;
	return Py_BuildValue("(iKkiKK)", m->loc, (unsigned long long)m->size,
			     (unsigned long)m->pack_id, m->codec,
			     (unsigned long long)m->offset,
			     (unsigned long long)m->stored_size);
}

static PyObject *reader_repr(udos_py_reader *rd)
{
	return PyUnicode_FromFormat("<udos.Reader %s%s>", rd->hex,
				    rd->r ? "" : " closed");
}

static PyMethodDef reader_methods[] = {
	{ "read", (PyCFunction)reader_read, METH_VARARGS,
	  "read(size=-1) -> bytes (b'' at the end)" },
	{ "read1", (PyCFunction)reader_read, METH_VARARGS, "same as read" },
	{ "readall", (PyCFunction)reader_readall, METH_NOARGS, NULL },
	{ "readinto", (PyCFunction)reader_readinto, METH_O, NULL },
	{ "readinto1", (PyCFunction)reader_readinto, METH_O, NULL },
	{ "readline", (PyCFunction)reader_readline, METH_VARARGS,
	  "readline(size=-1) -> bytes: one line with its b'\\n'" },
	{ "readlines", (PyCFunction)reader_readlines, METH_VARARGS,
	  "readlines(hint=-1) -> list of lines" },
	{ "seek", (PyCFunction)reader_seek, METH_VARARGS,
	  "seek(offset, whence=0) -> new position" },
	{ "tell", (PyCFunction)reader_tell, METH_NOARGS, NULL },
	{ "close", (PyCFunction)reader_close, METH_NOARGS, NULL },
	{ "readable", reader_true, METH_NOARGS, NULL },
	{ "seekable", reader_true, METH_NOARGS, NULL },
	{ "writable", reader_false, METH_NOARGS, NULL },
	{ "isatty", reader_false, METH_NOARGS, NULL },
	{ "flush", reader_none, METH_NOARGS, NULL },
	{ "fileno", reader_fileno, METH_NOARGS, NULL },
	{ "__enter__", reader_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)reader_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef reader_getset[] = {
	{ "closed", (getter)reader_get_closed, NULL, NULL, NULL },
	{ "size", (getter)reader_get_size, NULL, "uncompressed size", NULL },
	{ "name", (getter)reader_get_name, NULL,
	  "a loose object's file path, else the object's key", NULL },
	{ "mode", reader_get_mode, NULL, NULL, NULL },
	{ "meta", (getter)reader_get_meta, NULL,
	  "(loc, size, pack_id, codec, offset, stored_size)", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject udos_py_reader_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "udos._udos.Reader",
	.tp_basicsize = sizeof(udos_py_reader),
	.tp_dealloc = (destructor)reader_dealloc,
	.tp_repr = (reprfunc)reader_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A read-only binary stream on one object (from Store.open).",
	.tp_iter = reader_iter,
	.tp_iternext = (iternextfunc)reader_next,
	.tp_methods = reader_methods,
	.tp_getset = reader_getset,
};
