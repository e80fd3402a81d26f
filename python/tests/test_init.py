"""Creating, opening and configuring containers."""

import os
import uuid

import pytest

import udos
from udos import Container
from udos.exceptions import NotInitialised


def test_not_initialised(tmp_path):
    cont = Container(tmp_path / 'nothing')
    assert not cont.is_initialised
    assert cont.get_folder() == (tmp_path / 'nothing').resolve()
    for call in (
        lambda: cont.get_object_content('a' * 64),
        lambda: cont.add_object(b'x'),
        lambda: cont.count_objects(),
        lambda: cont.loose_prefix_len,
        lambda: cont.pack_all_loose(),
    ):
        with pytest.raises(NotInitialised):
            call()
    # disk-objectstore raises FileNotFoundError for some of these: both work
    with pytest.raises(FileNotFoundError):
        cont.count_objects()
    with pytest.raises(ValueError):
        cont.add_objects_to_pack([b'x'])


def test_init_defaults(tmp_path):
    cont = Container(str(tmp_path / 'c'))
    cont.init_container()
    assert cont.is_initialised
    assert cont.loose_prefix_len == 2
    assert cont.pack_size_target == 4 * 1024**3
    assert cont.hash_type == 'sha256'
    assert cont.compression_algorithm == 'zlib+1'
    uuid.UUID(cont.container_id)
    cont.close()
    # a second object on the same folder sees the same configuration
    with Container(tmp_path / 'c') as other:
        assert other.container_id == cont.container_id


@pytest.mark.parametrize('algo,expected', [('zlib+1', 'zlib+1'), ('zlib+9', 'zlib+9'), ('zlib:3', 'zlib+3'),
                                           ('zstd:3', 'zstd:3'), ('zstd:19', 'zstd:19'), ('none', 'none')])
def test_init_compression(make_container, algo, expected):
    cont = make_container(compression_algorithm=algo)
    assert cont.compression_algorithm == expected
    key = cont.add_objects_to_pack([b'abc' * 1000], compress=True)[0]
    assert cont.get_object_content(key) == b'abc' * 1000
    assert cont.get_object_meta(key).pack_compressed == (algo != 'none')


def test_init_options(make_container):
    cont = make_container(pack_size_target=1000, loose_prefix_len=0)
    assert cont.pack_size_target == 1000
    assert cont.loose_prefix_len == 0
    key = cont.add_object(b'flat')
    assert (cont.get_folder() / 'loose' / key).is_file()
    cont3 = make_container('c3', loose_prefix_len=3)
    key = cont3.add_object(b'three')
    assert (cont3.get_folder() / 'loose' / key[:3] / key[3:]).is_file()


@pytest.mark.parametrize('kwargs', [
    {'compression_algorithm': 'foo'},
    {'compression_algorithm': 'zlib+99'},
    {'compression_algorithm': 'zstd:99'},
    {'loose_prefix_len': -1},
    {'pack_size_target': 0},
    {'pack_size_target': -5},
    {'hash_type': 'md5'},
])
def test_init_invalid(tmp_path, kwargs):
    cont = Container(tmp_path / 'c')
    with pytest.raises(ValueError):
        cont.init_container(**kwargs)
    assert not cont.is_initialised


def test_init_twice_and_clear(container):
    key = container.add_object(b'data')
    old_id = container.container_id
    with pytest.raises(FileExistsError):
        container.init_container()
    assert container.get_object_content(key) == b'data'
    container.init_container(clear=True, loose_prefix_len=1)
    assert container.container_id != old_id
    assert container.loose_prefix_len == 1
    assert not container.has_object(key)


def test_init_non_empty_folder(tmp_path):
    folder = tmp_path / 'c'
    folder.mkdir()
    (folder / 'something').write_text('x')
    with pytest.raises(FileExistsError):
        Container(folder).init_container()


def test_close_idempotent_and_reopen(container):
    key = container.add_object(b'x')
    container.close()
    container.close()
    # disk-objectstore reopens on use after close
    assert container.get_object_content(key) == b'x'
    with container as cont:
        assert cont.has_object(key)
    assert container.count_objects().loose == 1


def test_exports():
    for name in ('Container', 'CompressMode', 'ObjectType', 'ObjectCount', 'ObjectMeta', 'TotalSize',
                 'ValidationIssues', 'NotExistent', 'NotInitialised', 'ModificationNotAllowed',
                 'InconsistentContent', 'LazyOpener'):
        assert hasattr(udos, name), name
    from udos.exceptions import InconsistentContent, ModificationNotAllowed, NotExistent  # noqa: F401
    from udos.utils import CompressMode, LazyOpener  # noqa: F401
    assert {m.name for m in udos.CompressMode} == {'NO', 'YES', 'KEEP', 'AUTO'}
    assert udos.ObjectType.LOOSE.value == 'loose'
    assert udos.ObjectType.PACKED.value == 'packed'
    assert udos.ObjectType.MISSING.value == 'missing'
    assert udos._udos.version()
    assert os.path.basename(udos._udos.__file__).startswith('_udos')


@pytest.mark.parametrize('text, cause', [
    ('', "config.json' is empty"),
    ('{"udos_format_version": 2', "config.json' is not valid JSON: it ends early"),
    (None, "config.json': unknown hash_type 'md5'"),
])
def test_damaged_config_says_why(container, text, cause):
    """A damaged or foreign config.json is named with its cause, not only
    'not a udos container'."""
    path = container.get_folder() / 'config.json'
    if text is None:
        text = path.read_text().replace('"sha256"', '"md5"')
    container.close()
    os.chmod(path, 0o644)
    path.write_text(text)
    reopened = Container(container.get_folder())
    with pytest.raises(Exception) as info:
        reopened.count_objects()
    assert f"'{container.get_folder()}/{cause}" in str(info.value)
    reopened.close()
