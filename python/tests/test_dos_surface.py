"""disk-objectstore 1.5's public surface beyond Container's basics: LOGGER, lock_pack, line
reading on every stream, get_lazy_loose_stream, backup_utils (local and over a stand-in ssh)."""

import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import udos
from udos import backup_utils

HEADERS = sorted(p for p in Path('/usr/include').glob('*.h') if p.is_file())


def test_logger_is_the_package_logger():
    assert isinstance(udos.LOGGER, logging.Logger) and udos.LOGGER.name == 'udos'
    assert backup_utils.LOGGER.parent is udos.LOGGER


@pytest.mark.parametrize('where', ['loose', 'packed', 'compressed'])
def test_line_reading_on_object_streams(container, where):
    data = (Path('/usr/include') / 'stdio.h').read_bytes()
    if where == 'loose':
        key = container.add_object(data)
    else:
        key = container.add_objects_to_pack([data], compress=where == 'compressed')[0]
    lines = data.splitlines(True)
    with container.get_object_stream(key) as stream:
        assert stream.readline() == lines[0]
        assert stream.tell() == len(lines[0])
        assert stream.readline(3) == lines[1][:3]
        assert stream.read(5) == data[len(lines[0]) + 3 : len(lines[0]) + 8]
        stream.seek(-5, 1)
        assert stream.tell() == len(lines[0]) + 3
        assert stream.readlines() == [lines[1][3:]] + lines[2:]
        assert stream.readline() == b''
        stream.seek(0)
        assert list(stream) == lines
        stream.seek(0)
        assert stream.readlines(1) == lines[:1]
    with container.get_object_stream(key) as stream:
        text = io.TextIOWrapper(stream, encoding='utf-8')
        assert text.readline() == lines[0].decode()
        assert text.read() == data[len(lines[0]) :].decode()
    with container.get_objects_stream_and_meta([key]) as triplets:
        for _, stream, _ in triplets:
            assert list(stream) == lines


def test_line_reading_without_newline_and_empty(container):
    keys = container.add_objects_to_pack([b'no newline', b''])
    with container.get_object_stream(keys[0]) as stream:
        assert stream.readlines() == [b'no newline']
    with container.get_object_stream(keys[1]) as stream:
        assert stream.readline() == b'' and list(stream) == []
    stream = container.get_object_stream(keys[0])
    stream.close()
    with pytest.raises(ValueError):
        stream.readline()


def test_lazy_loose_stream_lines(container):
    data = HEADERS[0].read_bytes()
    key = container.add_objects_to_pack([data], compress=True)[0]
    lazy = container.get_lazy_loose_stream(key)
    with pytest.raises(ValueError):
        lazy.readline()
    with lazy:
        assert lazy.readline() == data.splitlines(True)[0]
        assert lazy.readlines() == data.splitlines(True)[1:]
    with container.get_lazy_loose_stream(key) as lazy:
        assert list(lazy) == data.splitlines(True)


def test_lock_pack_holds_the_writer_lock(container, tmp_path):
    key = container.add_objects_to_pack([b'packed content'])[0]
    other = udos.Container(container.get_folder())
    with container.lock_pack('0') as handle:
        assert handle.read() == b'packed content'
        with pytest.raises(udos.ModificationNotAllowed):
            other.add_objects_to_pack([b'more'])
        with pytest.raises(udos.ModificationNotAllowed):
            with other.lock_pack('0'):
                pass
        assert other.get_object_content(key) == b'packed content'  # readers go on
    other.add_objects_to_pack([b'more'])  # released
    other.close()
    with pytest.raises(ValueError):
        with container.lock_pack('x'):
            pass
    with pytest.raises(FileNotFoundError):
        with container.lock_pack('7'):
            pass
    container.add_objects_to_pack([b'after a failed lock'])


def _snapshot(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob('*'))
        if p.is_file() and not p.is_symlink()
    }


def _assert_copy(copy_folder, container):
    with udos.Container(copy_folder) as copy:
        assert sorted(copy.list_all_objects()) == sorted(container.list_all_objects())
        for key in container.list_all_objects():
            assert copy.get_object_content(key) == container.get_object_content(key)
        issues = copy.validate()
        assert not any(getattr(issues, f) for f in issues.__dataclass_fields__), issues


def _backup(manager, container):
    manager.backup_auto_folders(lambda path, prev: backup_utils.backup_container(manager, container, path, prev))


needs_rsync = pytest.mark.skipif(shutil.which('rsync') is None, reason='rsync not installed (scripts/setup.sh)')


@needs_rsync
def test_backup_manager_validation(tmp_path):
    with pytest.raises(ValueError):
        backup_utils.BackupManager(str(tmp_path / 'b'), keep=-1)
    with pytest.raises(ValueError):
        backup_utils.BackupManager(str(tmp_path / 'b'), rsync_exe='no-such-rsync')
    with pytest.raises(ValueError):
        backup_utils.BackupManager('a:b:c')
    assert backup_utils.split_remote_and_path('me@host:/x/y') == ('me@host', Path('/x/y'))
    assert backup_utils.split_remote_and_path('/x/y') == (None, Path('/x/y'))
    manager = backup_utils.BackupManager(str(tmp_path / 'b'))
    assert (tmp_path / 'b').is_dir() and manager.get_last_backup_folder() is None


@needs_rsync
def test_backup_local_keep_and_incremental(container, tmp_path):
    container.add_objects_to_pack([p.read_bytes() for p in HEADERS[:150]])
    container.add_object(b'a loose object')
    dest = tmp_path / 'backups'
    manager = backup_utils.BackupManager(str(dest), keep=1)
    _backup(manager, container)
    first = (dest / 'last-backup').resolve()
    first_files = _snapshot(first)
    _assert_copy(first, container)

    container.add_objects_to_pack([p.read_bytes() for p in HEADERS[150:300]])  # pack 0 grows
    container.add_object(b'another loose object')
    _backup(manager, container)
    second = (dest / 'last-backup').resolve()
    assert second != first and manager.get_last_backup_folder() == second
    assert _snapshot(first) == first_files, 'the previous backup was written to'
    _assert_copy(second, container)
    # loose files are shared with the previous backup, not copied
    loose = next(p for p in (first / 'loose').rglob('*') if p.is_file())
    assert os.stat(loose).st_nlink >= 2

    container.delete_objects([container.add_object(b'deleted')])
    container.repack()  # new pack ids: the third backup starts packs afresh
    _backup(manager, container)
    third = (dest / 'last-backup').resolve()
    assert sorted(p.name for p in dest.glob('backup_*_*')) == sorted([second.name, third.name])
    assert _snapshot(second) and not first.exists()
    _assert_copy(third, container)


@needs_rsync
def test_backup_refused_while_another_process_packs(container, tmp_path):
    container.add_objects_to_pack([b'x'])
    manager = backup_utils.BackupManager(str(tmp_path / 'b'))
    other = udos.Container(container.get_folder())
    with other.lock_pack('0'):
        with pytest.raises(backup_utils.BackupError):
            _backup(manager, container)
    other.close()
    assert not manager.get_existing_backup_folders()
    _backup(manager, container)
    _assert_copy(tmp_path / 'b' / 'last-backup', container)


@needs_rsync
def test_backup_remote_through_ssh(container, tmp_path, monkeypatch):
    """A ``host:path`` destination: every command and rsync go through ``ssh`` (a stand-in that
    runs them here)."""
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'ssh').write_text('#!/bin/sh\n# ssh HOST CMD...: run CMD here\nshift\nexec sh -c "$*"\n')
    (fake / 'ssh').chmod(0o755)
    monkeypatch.setenv('PATH', f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv('UDOS_BACKUP_STAGING', str(tmp_path / 'staging'))
    container.add_objects_to_pack([p.read_bytes() for p in HEADERS[:100]])
    dest = tmp_path / 'remote'
    manager = backup_utils.BackupManager(f'somehost:{dest}', keep=0)
    assert manager.remote == 'somehost'
    _backup(manager, container)
    first = (dest / 'last-backup').resolve()
    _assert_copy(first, container)
    container.add_objects_to_pack([p.read_bytes() for p in HEADERS[100:200]])
    _backup(manager, container)
    second = (dest / 'last-backup').resolve()
    assert second != first and not first.exists()
    _assert_copy(second, container)
    assert manager.staging_folder(container).is_dir()


@needs_rsync
def test_backup_unreachable_remote(tmp_path, monkeypatch):
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'ssh').write_text('#!/bin/sh\nexit 255\n')
    (fake / 'ssh').chmod(0o755)
    monkeypatch.setenv('PATH', f"{fake}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(backup_utils.BackupError):
        backup_utils.BackupManager('nohost:/x')


def test_dos_compress_mode_is_accepted(container):
    """aiida-core passes disk_objectstore.CompressMode members; udos takes any enum by value."""
    import enum  # pylint: disable=import-outside-toplevel

    class Foreign(enum.Enum):
        NO = 'no'
        AUTO = 'auto'

    container.add_object(HEADERS[0].read_bytes())
    container.pack_all_loose(compress=Foreign.AUTO)
    assert container.count_objects().packed == 1
    assert sys.modules['udos'] is udos
