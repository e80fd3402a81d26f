"""pack_all_loose, clean_storage, delete, repack, validate, import, loosen, add_files, callbacks."""

import ctypes
import hashlib
import io
import os
import re
import shutil
import struct
import time

import pytest

import udos
from udos import CompressMode, ObjectType
from udos.exceptions import InconsistentContent, NotExistent


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Recorder:
    """A callback following the disk-objectstore protocol, checking its order."""

    def __init__(self):
        self.events = []

    def __call__(self, action, value):
        self.events.append((action, value))

    def check(self):
        assert self.events, 'callback never called'
        state = 'closed'
        for action, value in self.events:
            if action == 'init':
                assert state == 'closed'
                assert set(value) == {'total', 'description'}
                assert isinstance(value['total'], int) and isinstance(value['description'], str)
                state = 'open'
            elif action == 'update':
                assert state == 'open' and isinstance(value, int) and value > 0
            else:
                assert action == 'close' and value is None and state == 'open'
                state = 'closed'
        assert state == 'closed'
        return sum(v for a, v in self.events if a == 'update')


@pytest.mark.parametrize('compress', [False, True, CompressMode.AUTO, CompressMode.KEEP])
def test_pack_all_loose_and_clean(container, compress):
    contents = [f'object {i}'.encode() * (i + 1) for i in range(30)]
    keys = [container.add_object(c) for c in contents]
    cb = Recorder()
    loose_bytes = container.get_total_size()['total_size_loose']
    container.pack_all_loose(compress=compress, callback=cb)
    # as disk-objectstore: one action counting the bytes of the loose objects
    assert cb.check() == loose_bytes == sum(len(c) for c in contents)
    assert cb.events[0][1]['description'] == 'Packing loose objects'
    count = container.count_objects()
    assert count.packed == 30 and count.loose == 30  # loose kept until clean_storage
    container.clean_storage()
    container.clean_storage(vacuum=True)
    count = container.count_objects()
    assert count.packed == 30 and count.loose == 0
    for key, data in zip(keys, contents):
        assert container.get_object_content(key) == data
        assert container.get_object_meta(key).type == ObjectType.PACKED
    container.pack_all_loose()  # nothing to do
    assert container.validate().is_valid()


def test_clean_storage_vacuum_compacts_index(container, tmp_path):
    paths = sorted(p for p in os.listdir('/usr/include') if p.endswith('.h'))[:120]
    contents = [open(os.path.join('/usr/include', p), 'rb').read() for p in paths]
    keys = container.add_objects_to_pack(contents)
    for chunk in range(0, 90, 30):  # three commits: three memtable flushes
        container.delete_objects(keys[chunk:chunk + 30])
        container.add_objects_to_pack([b'flush %d' % chunk])
    container.close()
    index = tmp_path / 'cont' / 'index'
    container.clean_storage(vacuum=True)
    # one table holds what is left: tombstones dropped, tables merged
    assert len([p for p in os.listdir(index) if p.endswith('.sst')]) == 1
    for key, data in zip(keys[90:], contents[90:]):
        assert container.get_object_content(key) == data
    for key in keys[:90]:
        assert not container.has_objects([key])[0]
    assert container.validate().is_valid()


def test_pack_all_loose_clean_per_pack(container):
    keys = [container.add_object(os.urandom(100)) for _ in range(5)]
    container.pack_all_loose(clean_loose_per_pack=True, do_fsync=False, validate_objects=False)
    assert container.count_objects().loose == 0
    assert container.has_objects(keys) == [True] * 5


def test_delete_and_repack(container):
    packed = container.add_objects_to_pack([f'p{i}'.encode() * 1000 for i in range(20)])
    loose = container.add_object(b'loose one')
    size_before = container.get_total_size().total_size_packfiles_on_disk
    deleted = container.delete_objects(packed[:10] + [loose, 'f' * 64, 'bad'])
    assert set(deleted) == set(packed[:10] + [loose])
    assert container.delete_objects(packed[:10]) == []
    for key in packed[:10] + [loose]:
        assert not container.has_object(key)
        with pytest.raises(NotExistent):
            container.get_object_content(key)
    cb = Recorder()
    container.repack(callback=cb)
    cb.check()
    assert container.get_total_size().total_size_packfiles_on_disk < size_before
    assert container.get_objects_content(packed[10:]) == {k: container.get_object_content(k) for k in packed[10:]}
    assert container.validate().is_valid()


def test_repack_pack_recompress(container):
    data = b'very compressible ' * 5000
    key = container.add_objects_to_pack([data])[0]
    meta = container.get_object_meta(key)
    assert not meta.pack_compressed
    container.repack_pack(meta.pack_id, compress_mode=CompressMode.YES)
    meta = container.get_object_meta(key)
    assert meta.pack_compressed and meta.pack_length < len(data)
    assert container.get_object_content(key) == data
    container.repack_pack(str(meta.pack_id), compress_mode=CompressMode.NO)
    assert not container.get_object_meta(key).pack_compressed
    with pytest.raises(ValueError):
        container.repack_pack('nope')
    assert container.get_object_content(key) == data


def test_validate_finds_corruption(container):
    good = container.add_object(b'good')
    bad = container.add_object(b'will be damaged')
    path = container.get_folder() / 'loose' / bad[:2] / bad[2:]
    os.chmod(path, 0o644)
    path.write_bytes(b'damaged!')
    cb = Recorder()
    issues = container.validate(callback=cb)
    cb.check()
    assert not issues.is_valid()
    assert issues.invalid_hashes_loose == [bad]
    assert issues['invalid_hashes_packed'] == []
    # packing refuses the damaged object, keeps the rest
    with pytest.raises(InconsistentContent):
        container.pack_all_loose()
    assert container.count_objects().packed == 1
    container.clean_storage()
    assert container.get_object_meta(good).type == ObjectType.PACKED
    assert container.get_object_meta(bad).type == ObjectType.LOOSE  # left for inspection


def test_validate_packed_corruption(container):
    key = container.add_objects_to_pack([b'A' * 10000])[0]
    meta = container.get_object_meta(key)
    pack = container.get_folder() / 'packs' / str(meta.pack_id)
    raw = bytearray(pack.read_bytes())
    pos = raw.rindex(b'A' * 100)
    raw[pos] = ord('B')
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(raw))
    container.close()
    issues = container.validate()
    assert not issues.is_valid()
    assert key in issues.invalid_hashes_packed
    # a verifying reader notices at the end of the object
    with pytest.raises(InconsistentContent):
        with container._st().open(key, verify=True) as stream:  # pylint: disable=protected-access
            stream.read()


def test_reads_refuse_damaged_packed_bytes(container):
    """Every read checks the stored bytes' XXH3: damage is never served."""
    data = os.urandom(5000)  # stored raw: only the checksum can tell
    key, other = container.add_objects_to_pack([data, b'intact' * 100])
    meta = container.get_object_meta(key)
    assert meta.pack_compressed is False
    pack = container.get_folder() / 'packs' / str(meta.pack_id)
    raw = bytearray(pack.read_bytes())
    raw[meta.pack_offset + 100] ^= 0x01
    pack.write_bytes(bytes(raw))
    container.close()
    with pytest.raises(InconsistentContent):
        container.get_object_content(key)
    with pytest.raises(InconsistentContent):
        container.get_objects_content([key, other])
    with pytest.raises(InconsistentContent):
        with container.get_object_stream(key) as stream:
            shutil.copyfileobj(stream, io.BytesIO())
    assert container.get_object_content(other) == b'intact' * 100


def test_import_between_udos_containers(make_container):
    src = make_container('src')
    dst = make_container('dst', compression_algorithm='zstd:3')
    keys = src.add_objects_to_pack([os.urandom(100) for _ in range(50)], compress=True)
    keys.append(src.add_object(b'loose in source'))
    cb = Recorder()
    mapping = dst.import_objects(keys + ['f' * 64], src, compress=True, callback=cb)
    cb.check()
    assert mapping == {k: k for k in keys}
    assert dst.get_objects_content(keys) == src.get_objects_content(keys)
    assert dst.count_objects().packed == len(keys)
    assert dst.import_objects(keys, src) == {k: k for k in keys}  # dedup
    assert dst.count_objects().packed == len(keys)


def test_import_from_any_container_api(make_container):
    """A source that is not a udos Container is read through its Python API."""
    src = make_container('src')
    keys = src.add_objects_to_pack([os.urandom(n) for n in (1, 10, 3 * 1024 * 1024)])

    class Foreign:
        hash_type = 'sha256'

        def get_objects_stream_and_meta(self, hashkeys, skip_if_missing=True):
            return src.get_objects_stream_and_meta(hashkeys, skip_if_missing)

    dst = make_container('dst')
    mapping = dst.import_objects(keys, Foreign(), target_memory_bytes=1000)
    assert mapping == {k: k for k in keys}
    assert dst.get_objects_content(keys) == src.get_objects_content(keys)


def test_loosen_object(container):
    data = b'packed and compressed ' * 100
    key = container.add_objects_to_pack([data], compress=True)[0]
    path = container.loosen_object(key)
    assert path.read_bytes() == data
    assert container.loosen_object(key) == path
    assert container.count_objects().loose == 1
    with pytest.raises(NotExistent):
        container.loosen_object('f' * 64)


def test_add_files(container, tmp_path):
    tree = tmp_path / 'tree'
    (tree / 'sub' / 'deeper').mkdir(parents=True)
    files = {tree / 'a': b'aaa', tree / 'sub' / 'b': b'bbb', tree / 'sub' / 'deeper' / 'c': b'',
             tree / 'dup': b'aaa'}
    for path, data in files.items():
        path.write_bytes(data)
    os.symlink(tree / 'a', tree / 'link')
    cb = Recorder()
    result = container.add_files([tree], callback=cb)
    cb.check()
    assert result == {str(p): sha(d) for p, d in files.items()}
    for path, data in files.items():
        assert container.get_object_content(result[str(path)]) == data
        assert container.get_object_meta(result[str(path)]).type == ObjectType.PACKED
    top = container.add_files([tree], recursive=False, to='loose')
    assert top == {str(tree / 'a'): sha(b'aaa'), str(tree / 'dup'): sha(b'aaa')}
    single = container.add_files([tree / 'sub' / 'b'], to='loose')
    assert single == {str(tree / 'sub' / 'b'): sha(b'bbb')}
    with pytest.raises(FileNotFoundError):
        container.add_files([tmp_path / 'nope'])
    with pytest.raises(ValueError):
        container.add_files([tree], to='elsewhere')


def _touched(fd, wds):
    """Files opened or read since the last call, from an inotify fd."""
    out = set()
    while True:
        try:
            buf = os.read(fd, 1 << 16)
        except BlockingIOError:
            return out
        i = 0
        while i < len(buf):
            wd, mask, _, ln = struct.unpack_from('iIII', buf, i)
            name = buf[i + 16:i + 16 + ln].rstrip(b'\0').decode()
            if name and not mask & 0x40000000:  # IN_ISDIR
                out.add(os.path.join(wds[wd], name))
            i += 16 + ln


@pytest.mark.parametrize('io_mode', ['threads', 'auto'])
def test_add_files_stat_cache(container, tmp_path, io_mode):
    """A second add_files of unchanged files reads none of them (the
    kernel's record of opens and reads says so); use_cache=False reads them
    all."""
    tree = tmp_path / 'tree'
    tree.mkdir()
    files = {str(tree / f'f{i}'): (b'x%d' % i) * (i * 5000 + 1) for i in range(12)}
    for path, data in files.items():
        with open(path, 'wb') as f:
            f.write(data)
    time.sleep(3.3)  # out of the stat cache's racy window
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert fd >= 0
    try:
        wds = {libc.inotify_add_watch(fd, str(tree).encode(), 0x1 | 0x20): str(tree)}
        want = {p: sha(d) for p, d in files.items()}
        assert container.add_files([tree], io=io_mode) == want
        assert _touched(fd, wds) == set(files)
        assert container.add_files([tree], io=io_mode) == want
        assert _touched(fd, wds) == set()
        assert container.add_files([tree], io=io_mode, use_cache=False) == want
        assert _touched(fd, wds) == set(files)
    finally:
        os.close(fd)


def test_callbacks_add_to_pack(container):
    cb = Recorder()
    container.add_objects_to_pack([bytes([i]) for i in range(100)], callback=cb)
    assert cb.check() == 100
    cb = Recorder()
    container.add_streamed_objects_to_pack([udos_bytes(i) for i in range(10)], callback=cb)
    assert cb.check() == 10
    cb = Recorder()
    import io
    container.add_streamed_object_to_pack(io.BytesIO(b'x' * 5000), callback=cb, callback_size_hint=5000)
    assert cb.check() == 5000
    assert cb.events[0] == ('init', {'total': 5000, 'description': cb.events[0][1]['description']})

    def failing(action, value):
        if action == 'update':
            raise KeyError('stop')

    with pytest.raises(KeyError):
        container.add_objects_to_pack([b'q', b'r'], callback=failing)


def udos_bytes(i):
    import io
    return io.BytesIO(f'stream {i}'.encode())


def test_compress_mode_strings_and_errors(container):
    container.add_objects_to_pack([b'x'], compress=CompressMode.AUTO)
    with pytest.raises(ValueError):
        container.add_objects_to_pack([b'x'], compress='sometimes')
    with pytest.raises(ValueError):
        container.pack_all_loose(compress=42)
    assert udos.ValidationIssues([], [], [], []).is_valid()


def test_repair_rebuilds_a_lost_index(container):
    """Packs are the source of truth: without index/ every object comes back."""
    hashes = container.add_objects_to_pack([b'one', b'two' * 1000, b''])
    container.add_object(b'loose stays loose')
    container.close()
    shutil.rmtree(container.get_folder() / 'index')
    dry = container.repair(dry_run=True)
    assert dry['objects'] == 3 and dry['dry_run'] and not dry['old_index']
    assert not (container.get_folder() / 'index').exists()
    res = container.repair()
    assert res['objects'] == 3 and res['adopted'] == 3
    assert res['damaged'] == 0 and res['problems'] == []
    assert container.get_objects_content(hashes) == dict(zip(hashes, [b'one', b'two' * 1000, b'']))
    assert container.validate().is_valid


@pytest.mark.parametrize('damage', ['empty', 'flip', 'longer'])
def test_reads_refuse_damaged_loose_file(container, damage):
    """A loose file has no checksum: every read hashes it (an emptied file,
    what a power cut leaves, included) and never serves the wrong bytes."""
    data = b'loose content\n' * 500
    key = container.add_object(data)
    other = container.add_object(b'intact')
    empty = container.add_object(b'')
    path = container.get_folder() / 'loose' / key[:2] / key[2:]
    os.chmod(path, 0o644)
    damaged = {'empty': b'', 'flip': b'L' + data[1:], 'longer': data + b'!'}[damage]
    path.write_bytes(damaged)
    container.close()
    match = re.escape(f"object '{key}' is damaged: loose file '{path}'")
    with pytest.raises(InconsistentContent, match=match):
        container.get_object_content(key)
    with pytest.raises(InconsistentContent, match=match):
        container.get_objects_content([key, other])
    with pytest.raises(InconsistentContent, match=match):
        with container.get_object_stream(key) as stream:
            shutil.copyfileobj(stream, io.BytesIO(), 1000)
    with pytest.raises(InconsistentContent, match=match):
        with container.get_object_stream_and_meta(key) as (stream, _):
            stream.read()
    with pytest.raises(InconsistentContent, match=match):
        with container.get_objects_stream_and_meta([other, key]) as triplets:
            for _, stream, _ in triplets:
                stream.read()
    assert container.get_object_content(other) == b'intact'
    assert container.get_object_content(empty) == b''
    assert container.get_objects_content([empty, other]) == {empty: b'', other: b'intact'}
    # a packed copy that verifies is read instead of the damaged file
    assert container.add_objects_to_pack([data]) == [key]
    assert container.get_object_content(key) == data
    assert container.get_objects_content([key]) == {key: data}
