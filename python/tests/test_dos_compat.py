"""Behaviours of disk-objectstore's public Container API that udos reproduces:
progress actions, lazy errors, lazy loose streams, layout helpers."""

import hashlib
import os
import io
import shutil
import zlib

import pytest

import udos
from udos import CompressMode, ObjectType, utils


class Actions:
    """Collect callback actions as {'description', 'total', 'done'} dicts, checking the order."""

    def __init__(self):
        self.done = []
        self.current = None

    def __call__(self, action, value):
        if action == 'init':
            assert self.current is None, 'init while an action is open'
            self.current = {'description': value['description'], 'total': value['total'], 'done': 0}
        elif action == 'update':
            assert self.current is not None
            self.current['done'] += value
        else:
            assert action == 'close' and self.current is not None
            self.done.append(self.current)
            self.current = None

    def summary(self):
        assert self.current is None, 'last action not closed'
        return [(a['description'], a['total'], a['done']) for a in self.done]


def test_missing_stream_raises_on_enter(container):
    stream = container.get_object_stream('0' * 64)  # no error yet
    with pytest.raises(udos.NotExistent):
        with stream:
            pass
    with pytest.raises(udos.NotExistent):
        container.get_object_stream('nothex').read()


def test_bare_zlib_needs_a_level(tmp_path):
    cont = udos.Container(tmp_path / 'c')
    with pytest.raises(ValueError):
        cont.init_container(compression_algorithm='zlib')
    cont.init_container(compression_algorithm='zlib+3')
    assert cont.compression_algorithm == 'zlib+3'


def test_is_initialised_needs_the_folders(container):
    assert container.is_initialised
    (container.get_folder() / 'sandbox').rmdir()
    assert not container.is_initialised


def test_validate_reports_loose_then_each_pack(make_container):
    cont = make_container(pack_size_target=2000)
    cont.add_objects_to_pack([f'packed {i:05d}'.encode() * 20 for i in range(30)])
    for i in range(7):
        cont.add_object(f'loose {i}'.encode())
    per_pack = {}
    for _, meta in cont.get_objects_meta(list(cont.list_all_objects())):
        if meta.type == ObjectType.PACKED:
            per_pack[meta.pack_id] = per_pack.get(meta.pack_id, 0) + 1
    assert len(per_pack) > 1
    actions = Actions()
    assert cont.validate(callback=actions).is_valid()
    expected = [('Loose objects', 7, 7)] + [(f'Pack {p}', n, n) for p, n in sorted(per_pack.items())]
    assert actions.summary() == expected


def test_pack_all_loose_and_repack_count_bytes(container):
    contents = [b'z' * n for n in range(1, 40)]
    for content in contents:
        container.add_object(content)
    actions = Actions()
    container.pack_all_loose(callback=actions)
    assert actions.summary() == [('Packing loose objects', sum(map(len, contents)), sum(map(len, contents)))]
    container.clean_storage()
    actions = Actions()
    container.repack(callback=actions)
    total = container.get_total_size()['total_size_packed']
    assert actions.summary() == [('Repack 0', total, total)]


def test_no_holes_lists_existing_first(container):
    container.add_objects_to_pack([b'a', b'b', b'c'])
    actions = Actions()
    container.add_streamed_objects_to_pack([io.BytesIO(b'd'), io.BytesIO(b'a')], no_holes=True, callback=actions)
    assert actions.summary() == [('List existing', 3, 3), ('Bulk storing', 2, 2)]
    actions = Actions()
    container.add_objects_to_pack([b'e'], callback=actions)
    assert actions.summary() == [('Bulk storing', 1, 1)]


def test_import_actions(make_container):
    source = make_container('src')
    dest = make_container('dst')
    keys = source.add_objects_to_pack([f'o{i}'.encode() for i in range(25)])
    dest.add_objects_to_pack([b'o0', b'o1'])  # two already there
    actions = Actions()
    mapping = dest.import_objects(keys + keys[:3], source, callback=actions)
    assert set(mapping) == set(keys)
    assert actions.summary() == [('Listing objects', 25, 25), ('Copy objects', 28, 28), ('Final flush', 23, 23)]


def test_lazy_loose_stream(make_container):
    cont = make_container(compression_algorithm='zlib+9')
    content = b'lazy loose content'
    key = cont.add_object(content)
    cont.pack_all_loose(compress=True)
    cont.clean_storage()
    loose = cont._get_loose_path_from_hashkey(key)  # pylint: disable=protected-access
    assert not loose.exists()
    lazy = cont.get_lazy_loose_stream(key)
    assert lazy.closed and lazy.mode == 'rb' and lazy.seekable()
    for call in (lazy.tell, lambda: lazy.read(1), lambda: lazy.seek(0)):
        with pytest.raises(ValueError):
            call()
    assert not loose.exists()
    with lazy:
        assert not lazy.closed and loose.exists()
        lazy.seek(-4, 2)
        assert lazy.tell() == len(content) - 4
        assert lazy.read() == content[-4:]
    assert lazy.closed
    lazy.close_stream()  # again: harmless
    cont.clean_storage()
    assert not loose.exists()
    with pytest.raises(udos.NotExistent):
        cont.get_lazy_loose_stream('f' * 64).open_stream()


def test_lazy_loose_stream_gives_up_when_always_removed(container, monkeypatch):
    key = container.add_object(b'vanishing')
    container.pack_all_loose()
    container.clean_storage()
    original = container.loosen_object

    def loosen_then_remove(hashkey):
        path = original(hashkey)
        path.unlink()
        return path

    monkeypatch.setattr(container, 'loosen_object', loosen_then_remove)
    with pytest.raises(RuntimeError, match='Unable to open the loose object'):
        container.get_lazy_loose_stream(key).open_stream()


def test_utils_helpers():
    assert utils.get_hash_cls('sha256') is hashlib.sha256
    with pytest.raises(ValueError):
        utils.get_hash_cls('md4')
    compressor = utils.get_compressobj_instance('zlib+1')
    data = b'abc' * 100
    assert zlib.decompress(compressor.compress(data) + compressor.flush()) == data
    for bad in ('zlib', 'zlib+10', 'gzip'):
        with pytest.raises(ValueError):
            utils.get_compressobj_instance(bad)


def test_layout_helpers(make_container):
    cont = make_container(loose_prefix_len=3, pack_size_target=10)
    key = cont.add_object(b'layout')
    assert cont._get_loose_path_from_hashkey(key) == cont._get_loose_folder() / key[:3] / key[3:]  # pylint: disable=protected-access
    cont.add_objects_to_pack([b'one' * 4, b'two' * 4])  # 12 bytes: past the target
    assert sorted(cont._list_packs()) == ['0', '1']  # pylint: disable=protected-access
    assert cont._get_pack_path_from_pack_id(1).is_file()  # pylint: disable=protected-access
    assert [cont._is_valid_pack_id(p) for p in ('0', '12', '', '01', '1a')] == [True, True, False, False, False]  # pylint: disable=protected-access
    assert cont._is_valid_loose_prefix('0af') and not cont._is_valid_loose_prefix('0ag')  # pylint: disable=protected-access
    shutil.rmtree(cont.get_folder() / 'packs')
    assert not cont.is_initialised


def test_compress_modes_accepted_by_pack_all_loose(container):
    key = container.add_object(b'0123456789' * 1000)
    container.pack_all_loose(compress=CompressMode.YES)
    assert container.get_object_meta(key).pack_compressed is True


def test_packed_objects_come_before_loose_ones(container):
    loose_key = container.add_object(b'still loose')
    packed_key = container.add_objects_to_pack([b'already packed'])[0]
    with container.get_objects_stream_and_meta([loose_key, packed_key]) as triplets:
        order = [(key, meta.type) for key, _, meta in triplets]
    assert order == [(packed_key, ObjectType.PACKED), (loose_key, ObjectType.LOOSE)]


def test_objects_meta_sees_packing_during_iteration(container):
    first = container.add_object(b'first')
    second = container.add_object(b'second')
    seen = []
    for key, meta in container.get_objects_meta([first, second]):
        seen.append(meta.type)
        if len(seen) == 1:
            container.pack_all_loose()
            container.clean_storage()
    assert seen == [ObjectType.LOOSE, ObjectType.PACKED]


def test_damaged_pack_is_reported_per_object(container):
    key = container.add_objects_to_pack([b'will be damaged'], compress=False)[0]
    other = container.add_object(b'healthy loose')
    assert container.validate().is_valid()
    pack = container._get_pack_path_from_pack_id(container.get_object_meta(key).pack_id)  # pylint: disable=protected-access
    pack.write_bytes(b'XYZ')
    issues = container.validate()
    assert issues.invalid_hashes_packed == [key]
    assert issues.invalid_sizes_packed == [key]
    assert not issues.invalid_hashes_loose and not issues.overlapping_packed and not issues.other_issues
    assert other not in issues.invalid_hashes_packed


def test_loose_stream_is_named_by_its_file(tmp_path):
    container = udos.Container(tmp_path / 'c')
    container.init_container()
    key = container.add_object(b'named by path')
    with container.get_object_stream(key) as stream:
        assert os.path.isfile(stream.name)
        with open(stream.name, 'rb') as f:
            assert f.read() == b'named by path'
    container.pack_all_loose()
    container.clean_storage()
    with container.get_object_stream(key) as stream:
        assert stream.name == key
    container.close()
