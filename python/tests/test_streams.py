"""Object streams: read, seek (whence 0/1/2), tell, copyfileobj, large objects."""

import hashlib
import io
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from udos import CompressMode, ObjectType

DATA = bytes(range(256)) * 400 + os.urandom(50000)  # compressible head, random tail


@pytest.fixture(params=['loose', 'packed', 'compressed-zlib', 'compressed-zstd'])
def stored(request, make_container):
    kind = request.param
    cont = make_container(compression_algorithm='zstd:3' if kind == 'compressed-zstd' else 'zlib+1')
    if kind == 'loose':
        key = cont.add_object(DATA)
    else:
        key = cont.add_objects_to_pack([DATA], compress=kind.startswith('compressed'))[0]
    return cont, key, kind


def test_read_seek_tell(stored):
    cont, key, kind = stored
    with cont.get_object_stream(key) as stream:
        assert stream.readable() and stream.seekable() and not stream.writable()
        assert stream.tell() == 0
        assert stream.read(10) == DATA[:10]
        assert stream.tell() == 10
        assert stream.seek(1000) == 1000
        assert stream.read(5) == DATA[1000:1005]
        assert stream.seek(-5, 1) == 1000  # backwards in a compressed object too
        assert stream.read(5) == DATA[1000:1005]
        assert stream.seek(100, 1) == 1105
        assert stream.read(3) == DATA[1105:1108]
        assert stream.seek(-7, 2) == len(DATA) - 7
        assert stream.read() == DATA[-7:]
        assert stream.read() == b''
        assert stream.read(10) == b''
        assert stream.seek(len(DATA) + 100) == len(DATA) + 100
        assert stream.read(1) == b''
        assert stream.seek(0) == 0
        assert stream.read() == DATA
        with pytest.raises(ValueError):
            stream.seek(-1)
        with pytest.raises((ValueError, OSError)):
            stream.seek(-len(DATA) - 1, 2)
        with pytest.raises(ValueError):
            stream.seek(0, 3)
        buf = bytearray(100)
        stream.seek(50)
        assert stream.readinto(buf) == 100 and bytes(buf) == DATA[50:150]
    assert stream.closed
    with pytest.raises(ValueError):
        stream.read()
    stream.close()  # idempotent
    if kind.startswith('compressed'):
        # seeking did not leave a loose copy behind
        assert cont.count_objects().loose == 0


def test_stream_and_meta(stored):
    cont, key, kind = stored
    with cont.get_object_stream_and_meta(key) as (stream, meta):
        assert meta.size == len(DATA)
        assert meta.type == (ObjectType.LOOSE if kind == 'loose' else ObjectType.PACKED)
        assert meta.pack_compressed == (None if kind == 'loose' else kind.startswith('compressed'))
        out = io.BytesIO()
        shutil.copyfileobj(stream, out, 4096)
        assert out.getvalue() == DATA


def test_chunked_reads(stored):
    cont, key, _ = stored
    with cont.get_object_stream(key) as stream:
        parts = []
        while True:
            chunk = stream.read(777)
            if not chunk:
                break
            parts.append(chunk)
    assert b''.join(parts) == DATA


def test_reader_outlives_close(container):
    key = container.add_objects_to_pack([b'abc' * 1000])[0]
    stream = container.get_object_stream(key)
    container.close()  # the store is freed only when the reader is done
    assert stream.read() == b'abc' * 1000
    stream.close()
    assert container.get_object_content(key) == b'abc' * 1000


LARGE_SCRIPT = textwrap.dedent('''
    import hashlib, resource, sys
    import udos

    SIZE = 200 * 1024 * 1024
    CHUNK = 1 << 20

    class Gen:
        """A generator-like stream: produces SIZE bytes, never held in memory."""
        def __init__(self):
            self.left = SIZE
            self.i = 0
            self.sha = hashlib.sha256()
        def read(self, n=-1):
            if self.left == 0:
                return b''
            n = CHUNK if n is None or n < 0 else min(n, CHUNK)
            n = min(n, self.left)
            block = (self.i.to_bytes(8, 'little') * (n // 8 + 1))[:n]
            self.i += 1
            self.left -= n
            self.sha.update(block)
            return block

    def rss_mib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    cont = udos.Container(sys.argv[1])
    cont.init_container(compression_algorithm=sys.argv[2])
    base = rss_mib()
    gen = Gen()
    key = cont.add_streamed_object_to_pack(gen, compress=sys.argv[2] != 'none')
    assert key == gen.sha.hexdigest(), 'hash'
    after_write = rss_mib()
    sha = hashlib.sha256()
    total = 0
    with cont.get_object_stream(key) as stream:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            sha.update(chunk)
    assert total == SIZE and sha.hexdigest() == key, 'read back'
    print(base, after_write, rss_mib())
''')


@pytest.mark.parametrize('algo', ['none', 'zstd:1'])
def test_large_object_bounded_rss(tmp_path, subprocess_env, algo):
    """200 MiB in and out through streams in a fresh process: peak RSS stays far below it."""
    out = subprocess.run([sys.executable, '-c', LARGE_SCRIPT, str(tmp_path / 'c'), algo],
                         env=subprocess_env, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    base, after_write, after_read = map(float, out.stdout.split())
    assert after_write - base < 64, (base, after_write)
    assert after_read - base < 64, (base, after_read)
