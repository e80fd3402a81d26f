"""Containers with hash_type='sha1': keys are hashlib.sha1 hex digests (40
digits), everywhere; imports between hash types re-hash as disk-objectstore
does."""

import hashlib
import io
import json
import os

import pytest

import udos
from udos import utils


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def c1(make_container):
    return make_container('c1', hash_type='sha1')


def test_init_and_hash_type(c1, container):
    assert c1.hash_type == 'sha1'
    assert container.hash_type == 'sha256'
    config = json.loads((c1.get_folder() / 'config.json').read_text())
    assert config['hash_type'] == 'sha1'
    # a fresh object reopens it with the same hash type
    again = udos.Container(c1.get_folder())
    assert again.hash_type == 'sha1'
    again.close()


@pytest.mark.parametrize('bad', ['md5', 'SHA1', 'sha512', ''])
def test_unknown_hash_type(tmp_path, bad):
    cont = udos.Container(tmp_path / 'c')
    with pytest.raises(ValueError):
        cont.init_container(hash_type=bad)
    assert not cont.is_initialised


def test_add_get_loose(c1):
    data = b'hello sha1'
    key = c1.add_object(data)
    assert key == sha1(data) and len(key) == 40
    assert c1.get_object_content(key) == data
    assert c1._get_loose_path_from_hashkey(key).read_bytes() == data  # pylint: disable=protected-access
    assert (c1.get_folder() / 'loose' / key[:2] / key[2:]).is_file()
    key2 = c1.add_streamed_object(io.BytesIO(b'streamed' * 100000))
    assert key2 == sha1(b'streamed' * 100000)
    with c1.get_object_stream(key2) as stream:
        assert stream.read() == b'streamed' * 100000
    assert set(c1.list_all_objects()) == {key, key2}
    assert c1.get_object_meta(key)['size'] == len(data)


def test_pack_and_validate(c1):
    datas = [os.urandom(n) for n in (0, 1, 100, 70000)] + [b'compressible ' * 5000]
    keys = c1.add_objects_to_pack(datas, compress=True)
    assert keys == [sha1(d) for d in datas]
    assert c1.get_objects_content(keys) == dict(zip(keys, datas))
    loose = [c1.add_object(b'loose %d' % i) for i in range(5)]
    c1.pack_all_loose()
    c1.clean_storage()
    counts = c1.count_objects()
    assert (counts.packed, counts.loose) == (len(keys) + 5, 0)
    assert c1.get_objects_content(loose) == {k: b'loose %d' % i for i, k in enumerate(loose)}
    assert c1.validate().is_valid()
    key = c1.add_streamed_object_to_pack(io.BytesIO(b'x' * 10))
    assert key == sha1(b'x' * 10)
    c1.repack()
    assert c1.validate().is_valid()
    assert c1.get_objects_content(keys) == dict(zip(keys, datas))


def test_validate_finds_bad_loose(c1):
    key = c1.add_object(b'original')
    path = c1._get_loose_path_from_hashkey(key)  # pylint: disable=protected-access
    path.write_bytes(b'tampered')
    issues = c1.validate()
    assert key in issues.invalid_hashes_loose


def test_keys_of_the_other_length_do_not_exist(c1, container):
    data = b'present in both'
    k1 = c1.add_object(data)
    k256 = container.add_object(data)
    assert (k1, k256) == (sha1(data), sha256(data))
    for cont, wrong in ((c1, k256), (container, k1)):
        with pytest.raises(udos.NotExistent):
            cont.get_object_content(wrong)
        assert not cont.has_objects([wrong])[0]
        assert cont.get_objects_content([wrong]) == {}
        with pytest.raises(udos.NotExistent):
            cont.get_object_meta(wrong)
    # upper case is not a key (as in disk-objectstore)
    with pytest.raises(udos.NotExistent):
        c1.get_object_content(k1.upper())


def test_import_across_hash_types(make_container, c1):
    c256 = make_container('c256')
    datas = [b'one', b'two', os.urandom(3000), b'big' * 400000]
    keys1 = c1.add_objects_to_pack(datas[:3])
    keys1.append(c1.add_object(datas[3]))
    # sha1 -> sha256: every object re-hashed, old keys map to new ones
    mapping = c256.import_objects(keys1 + ['0' * 40], c1)
    assert mapping == {sha1(d): sha256(d) for d in datas}
    assert c256.get_objects_content(list(mapping.values())) == {sha256(d): d for d in datas}
    # and back: the objects are all present already, keys are the sha1 ones
    back = c1.import_objects(list(mapping.values()), c256)
    assert back == {sha256(d): sha1(d) for d in datas}
    # (the loose one is now also packed: import writes to packs)
    assert sorted(c1.list_all_objects()) == sorted(sha1(d) for d in datas)
    assert c1.validate().is_valid() and c256.validate().is_valid()


def test_import_across_hash_types_callback(make_container, c1):
    keys = c1.add_objects_to_pack([f'o{i}'.encode() for i in range(30)])
    events = []
    make_container('c256').import_objects(keys, c1, callback=lambda action, value: events.append((action, value)))
    inits = [value['description'] for action, value in events if action == 'init']
    # no listing group (nothing can be skipped by key across hash types)
    assert inits == ['Copy objects', 'Final flush']
    assert events[-2:] == [('update', 30), ('close', None)]


def test_import_same_hash_type_keeps_keys(make_container, c1):
    other = make_container('other', hash_type='sha1')
    keys = c1.add_objects_to_pack([b'a', b'b'])
    assert other.import_objects(keys, c1) == {k: k for k in keys}


def test_store_import_from_refuses_other_hash_type(make_container, c1):
    c256 = make_container('c256')
    key = c1.add_object(b'a')
    with pytest.raises(ValueError):
        c256._st_for_pack().import_from(c1._st(), [key])  # pylint: disable=protected-access


def test_add_files_sha1(c1, tmp_path):
    tree = tmp_path / 'tree'
    (tree / 'sub').mkdir(parents=True)
    files = {tree / 'a': b'aaa', tree / 'sub' / 'b': os.urandom(100000),
             tree / 'sub' / 'big': b'streamed ' * 700000, tree / 'empty': b''}
    for path, data in files.items():
        path.write_bytes(data)
    for to in ('pack', 'loose'):
        result = c1.add_files([tree], to=to)
        assert result == {str(p): sha1(d) for p, d in files.items()}
        assert c1.get_objects_content(list(result.values())) == {sha1(d): d for d in files.values()}
    assert c1.validate().is_valid()


def test_utils_hash_cls():
    assert utils.get_hash_cls('sha1') is hashlib.sha1
    assert utils.get_hash_cls('sha256') is hashlib.sha256
    with pytest.raises(ValueError):
        utils.get_hash_cls('md5')
