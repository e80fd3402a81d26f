"""A damaged or missing index raises CorruptError (InconsistentContent)
naming the container and 'udos repair', never LockedError."""

import glob
import os

import pytest

import udos
from udos.exceptions import CorruptError, LockedError


def _filled(tmp_path):
    cont = udos.Container(tmp_path / 'cont')
    cont.init_container()
    keys = cont.add_objects_to_pack([b'object %d\n' % i * 50 for i in range(20)])
    cont.close()
    return keys


def _calls(cont, key):
    return {
        'get_object_content': lambda: cont.get_object_content(key),
        'count_objects': cont.count_objects,
        'list_all_objects': lambda: list(cont.list_all_objects()),
        'add_objects_to_pack': lambda: cont.add_objects_to_pack([b'new']),
        'pack_all_loose': cont.pack_all_loose,
        'delete_objects': lambda: cont.delete_objects([key]),
        'repack': cont.repack,
    }


def _expect_corrupt(fn, name, path):
    with pytest.raises(Exception) as info:
        fn()
    exc = info.value
    assert isinstance(exc, CorruptError), (name, type(exc), exc)
    assert not isinstance(exc, LockedError), name
    assert 'udos repair' in str(exc), (name, str(exc))
    assert "'%s'" % path in str(exc), (name, str(exc))


def test_flipped_table_bytes_raise_corrupt_not_locked(tmp_path):
    keys = _filled(tmp_path)
    path = str(tmp_path / 'cont')
    for table in glob.glob(os.path.join(path, 'index', '*.sst')):
        with open(table, 'r+b') as f:
            f.seek(100)
            two = f.read(2)
            f.seek(100)
            f.write(bytes(b ^ 0xFF for b in two))
    cont = udos.Container(path)
    try:
        for name, fn in _calls(cont, keys[0]).items():
            if name == 'add_objects_to_pack':
                continue  # a new id may never read a damaged block
            _expect_corrupt(fn, name, path)
    finally:
        cont.close()


@pytest.mark.parametrize('how', ['deleted', 'emptied'])
def test_missing_index_raises_corrupt(tmp_path, how):
    keys = _filled(tmp_path)
    path = str(tmp_path / 'cont')
    idx = os.path.join(path, 'index')
    for f in os.listdir(idx):
        os.unlink(os.path.join(idx, f))
    if how == 'deleted':
        os.rmdir(idx)
    cont = udos.Container(path)
    try:
        for name, fn in _calls(cont, keys[0]).items():
            _expect_corrupt(fn, name, path)
    finally:
        cont.close()
    assert os.path.isdir(idx) == (how == 'emptied')
