"""Adding and reading objects: loose, packed, single, bulk, metadata, errors."""

import hashlib
import io
import os

import pytest

from udos import CompressMode, ObjectType
from udos.exceptions import NotExistent

MISSING = 'f' * 64


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_add_object_loose(container):
    key = container.add_object(b'hello')
    assert key == sha(b'hello')
    assert container.get_object_content(key) == b'hello'
    assert container.add_object(b'hello') == key  # dedup
    assert container.add_object(bytearray(b'ba')) == sha(b'ba')
    assert container.add_object(memoryview(b'mv')) == sha(b'mv')
    assert container.add_object(b'') == sha(b'')
    assert container.get_object_content(sha(b'')) == b''
    meta = container.get_object_meta(key)
    assert meta.type == ObjectType.LOOSE and meta['type'] == ObjectType.LOOSE
    assert meta.size == 5 and meta.pack_id is None and meta.pack_compressed is None
    assert meta.pack_offset is None and meta.pack_length is None
    path = container.get_folder() / 'loose' / key[:2] / key[2:]
    assert path.read_bytes() == b'hello'
    with pytest.raises(TypeError):
        container.add_object('a str')


def test_add_streamed_object(container):
    data = os.urandom(3 * 1024 * 1024 + 7)
    key = container.add_streamed_object(io.BytesIO(data))
    assert key == sha(data)
    assert container.get_object_content(key) == data

    class Chunky:  # read() ignores n and returns odd-sized chunks
        def __init__(self):
            self.parts = [b'ab', b'cde', b'', b'never']

        def read(self, n=-1):
            return self.parts.pop(0)

    assert container.add_streamed_object(Chunky()) == sha(b'abcde')


def test_stream_errors_propagate(container):
    class Broken:
        def read(self, n=-1):
            raise RuntimeError('boom')

    with pytest.raises(RuntimeError, match='boom'):
        container.add_streamed_object(Broken())
    with pytest.raises(RuntimeError, match='boom'):
        container.add_streamed_object_to_pack(Broken())
    assert container.count_objects().packed == 0
    assert not os.listdir(container.get_folder() / 'sandbox')


@pytest.mark.parametrize('compress', [False, True, CompressMode.AUTO, CompressMode.NO, CompressMode.YES])
def test_add_objects_to_pack(container, compress):
    contents = [os.urandom(n) for n in (0, 1, 100, 5000)] + [b'z' * 100000, b'dup', b'dup']
    keys = container.add_objects_to_pack(contents, compress=compress)
    assert keys == [sha(c) for c in contents]
    for key, data in zip(keys, contents):
        assert container.get_object_content(key) == data
        meta = container.get_object_meta(key)
        assert meta.type == ObjectType.PACKED
        assert meta.size == len(data)
        assert isinstance(meta.pack_id, int)
        assert meta.pack_length >= 0 and meta.pack_offset >= 0
    meta = container.get_object_meta(sha(b'z' * 100000))
    if compress in (True, CompressMode.YES, CompressMode.AUTO):
        assert meta.pack_compressed and meta.pack_length < 100000
    else:
        assert not meta.pack_compressed and meta.pack_length == 100000
    count = container.count_objects()
    assert count.packed == len(set(keys)) and count.loose == 0 and count.pack_files == 1


def test_add_objects_to_pack_options(container):
    keys = container.add_objects_to_pack([b'a', b'b'], no_holes=True, no_holes_read_twice=False,
                                         do_fsync=False, do_commit=False)
    assert container.get_objects_content(keys) == {sha(b'a'): b'a', sha(b'b'): b'b'}
    assert container.add_objects_to_pack([]) == []


def test_pack_size_target_rolls_packs(make_container):
    cont = make_container(pack_size_target=10000)
    contents = [os.urandom(3000) for _ in range(10)]
    keys = cont.add_objects_to_pack(contents)
    assert cont.count_objects().pack_files >= 3
    assert [cont.get_object_content(k) for k in keys] == contents


def test_add_streamed_objects_to_pack(container, tmp_path):
    contents = [os.urandom(n) for n in (10, 200000, 0)]
    keys = container.add_streamed_objects_to_pack([io.BytesIO(c) for c in contents])
    assert keys == [sha(c) for c in contents]
    # open_streams with LazyOpener
    from udos.utils import LazyOpener
    paths = []
    for i, data in enumerate([b'one', b'two', b'one']):
        path = tmp_path / f'f{i}'
        path.write_bytes(data)
        paths.append(path)
    openers = [LazyOpener(p) for p in paths]
    keys = container.add_streamed_objects_to_pack(openers, open_streams=True)
    assert keys == [sha(b'one'), sha(b'two'), sha(b'one')]
    assert all(o._fhandle is None for o in openers)  # closed again
    key = container.add_streamed_object_to_pack(io.BytesIO(b'single'), compress=True)
    assert key == sha(b'single')
    assert container.get_object_meta(key).type == ObjectType.PACKED
    key = container.add_streamed_object_to_pack(LazyOpener(paths[1]), open_streams=True)
    assert key == sha(b'two')


def test_missing_and_invalid_keys(container):
    key = container.add_object(b'present')
    for bad in (MISSING, 'zz', 'abc', MISSING.upper(), ''):
        with pytest.raises(NotExistent):
            container.get_object_content(bad)
        with pytest.raises(NotExistent):
            container.get_object_meta(bad)
        with pytest.raises(NotExistent):
            with container.get_object_stream(bad):
                pass
        with pytest.raises(NotExistent):
            with container.get_object_stream_and_meta(bad):
                pass
        assert not container.has_object(bad)
    assert container.has_objects([key, MISSING, 'zz', key]) == [True, False, False, True]
    with pytest.raises(TypeError):
        container.get_object_content(b'\x00' * 32)


def test_bulk_reads(container):
    loose = [container.add_object(f'loose{i}'.encode()) for i in range(5)]
    packed = container.add_objects_to_pack([f'packed{i}'.encode() * 50 for i in range(50)], compress=True)
    packed2 = container.add_objects_to_pack([f'p2_{i}'.encode() for i in range(10)])
    wanted = packed2[::-1] + loose + packed + [MISSING, 'nothex'] + loose[:2]
    got = container.get_objects_content(wanted)
    assert set(got) == set(loose + packed + packed2)
    for key, data in got.items():
        assert sha(data) == key
    got = container.get_objects_content(wanted, skip_if_missing=False)
    assert got[MISSING] is None and got['nothex'] is None
    assert len(got) == len(set(wanted))

    metas = list(container.get_objects_meta(wanted))
    assert len(metas) == len(set(loose + packed + packed2))
    types = [m.type for _, m in metas]
    # storage order (as disk-objectstore): packed by pack and offset, then loose
    assert types == sorted(types, key=lambda t: t != ObjectType.PACKED)
    packed_order = [(m.pack_id, m.pack_offset) for _, m in metas if m.type == ObjectType.PACKED]
    assert packed_order == sorted(packed_order)
    metas = dict(container.get_objects_meta(wanted, skip_if_missing=False))
    assert metas[MISSING].type == ObjectType.MISSING and metas[MISSING].size is None

    seen = {}
    with container.get_objects_stream_and_meta(wanted) as triplets:
        for key, stream, meta in triplets:
            data = stream.read()
            assert len(data) == meta.size
            seen[key] = data
    assert seen == container.get_objects_content(wanted)
    with container.get_objects_stream_and_meta(wanted, skip_if_missing=False) as triplets:
        result = list((k, s is None, m.type) for k, s, m in triplets)
    assert result[-2:] == [(MISSING, True, ObjectType.MISSING), ('nothex', True, ObjectType.MISSING)] or \
        set(result[-2:]) == {(MISSING, True, ObjectType.MISSING), ('nothex', True, ObjectType.MISSING)}


def test_list_count_size(container):
    loose = {container.add_object(f'l{i}'.encode()) for i in range(7)}
    packed = set(container.add_objects_to_pack([f'p{i}'.encode() * 100 for i in range(5)], compress=True))
    assert set(container.list_all_objects()) == loose | packed
    count = container.count_objects()
    assert (count.packed, count.loose, count.pack_files) == (5, 7, 1)
    assert count['loose'] == 7
    size = container.get_total_size()
    assert size.total_size_loose == sum(len(f'l{i}') for i in range(7))
    assert size.total_size_packed == sum(len(f'p{i}') * 100 for i in range(5))
    assert 0 < size.total_size_packed_on_disk < size.total_size_packed
    assert size.total_size_packfiles_on_disk >= size.total_size_packed_on_disk
    assert size.total_size_packindexes_on_disk > 0
    assert size['total_size_loose'] == size.total_size_loose


def test_many_small_objects_cross_writer_buffer(container):
    """Record headers straddling the pack writer's 1 MiB buffer (core/writer.c fix)."""
    import random
    rng = random.Random(1234)
    contents = [rng.randbytes(rng.randint(0, 1000)) for _ in range(6000)]
    keys = container.add_objects_to_pack(contents)
    got = container.get_objects_content(keys)
    assert all(got[k] == d for k, d in zip(keys, contents))
    assert container.validate().is_valid()


def test_bulk_read_two_halves_keep_storage_order(container):
    """get_objects_content of many keys reads two halves in two threads and
    merges them: every object right, the dict in storage order (loose, then
    packed by pack and offset), missing keys as asked."""
    import random
    rng = random.Random(99)
    loose = [container.add_object(f'loose {i}'.encode() * (i + 1)) for i in range(40)]
    contents = [rng.randbytes(rng.randint(0, 2000)) if i % 2 else f'text {i} '.encode() * rng.randint(0, 300)
                for i in range(3000)]
    packed = container.add_objects_to_pack(contents[:1500], compress=True)
    packed += container.add_objects_to_pack(contents[1500:], compress=False)
    by_key = dict(zip(packed, contents))
    by_key.update((k, container.get_object_content(k)) for k in loose)
    wanted = packed + loose + [MISSING]
    rng.shuffle(wanted)
    got = container.get_objects_content(wanted)
    assert got == {k: by_key[k] for k in set(wanted) - {MISSING}}
    metas = dict(container.get_objects_meta(list(got)))
    order = [(metas[k].type != ObjectType.LOOSE, metas[k].pack_id or 0, metas[k].pack_offset or 0) for k in got]
    assert order == sorted(order)
    got = container.get_objects_content(wanted, skip_if_missing=False)
    assert got[MISSING] is None and len(got) == len(set(wanted))
