"""Container.push/evict/clone/pull against a real S3 server (versitygw,
started by tests/cli/s3server.py on 127.0.0.1), with data of this machine
(/usr/include). A Container on a clone or on evicted packs reads them
transparently: whole, streamed with seeks, and in bulk (neighbouring
records coalesced into few ranged GETs, counted through a proxy)."""
import glob
import os
import sys

import pytest

import udos

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', '..', 'tests', 'cli'))
import s3server  # noqa: E402  pylint: disable=wrong-import-position

FILES = sorted(p for p in glob.glob('/usr/include/linux/*.h') if os.path.isfile(p) and not os.path.islink(p))[:300]


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    srv = s3server.Server(s3server.versitygw_path(), tmp_path_factory.mktemp('s3root'))
    yield srv
    srv.kill()


@pytest.fixture
def proxy(server):
    prx = s3server.FaultProxy(server.port)
    yield prx
    prx.close()


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    for key, value in s3server.env().items():
        if key.startswith(('AWS_', 'UDOS_S3')):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv('AWS_SESSION_TOKEN', raising=False)


def filled(tmp_path, name='c'):
    cont = udos.Container(tmp_path / name)
    cont.init_container(pack_size_target=256 * 1024)
    contents = [open(p, 'rb').read() for p in FILES]
    keys = cont.add_objects_to_pack(contents, compress=True)
    return cont, dict(zip(keys, contents))


def test_push_evict_bulk_and_seek(tmp_path, server, proxy):
    cont, objs = filled(tmp_path)
    url = f's3://{s3server.BUCKET}/py-{os.getpid()}-1'
    cont.set_remote(url, proxy.endpoint)
    res = cont.push(seal=True)
    assert res['generation'] == 1 and res['remote_packs'] >= 3
    assert cont.evict()['packs'] == res['remote_packs']
    status = cont.remote_status()
    assert status['packs_local'] <= 1 and status['packs_remote'] == res['remote_packs']
    proxy.reset()
    got = cont.get_objects_content(list(objs))
    assert got == objs
    gets = [x for x in proxy.log if x[0] == 'GET']
    # bulk: windows of neighbouring records, a few GETs per pack
    assert 0 < len(gets) <= 3 * res['remote_packs'], (len(gets), res)
    # stream with seeks on a fresh cache
    cont.close()
    import shutil  # pylint: disable=import-outside-toplevel
    shutil.rmtree(tmp_path / 'c' / 'cache')
    key = max(objs, key=lambda k: len(objs[k]))
    data = objs[key]
    with cont.get_object_stream(key) as stream:
        stream.seek(len(data) // 2)
        assert stream.read(100) == data[len(data) // 2:len(data) // 2 + 100]
        stream.seek(0)
        assert stream.read() == data
    cont.close()


def test_clone_and_pull(tmp_path, server):
    cont, objs = filled(tmp_path)
    url = f's3://{s3server.BUCKET}/py-{os.getpid()}-2'
    cont.set_remote(url, server.endpoint)
    cont.push(seal=True)
    other = udos.Container.clone(url, tmp_path / 'clone', server.endpoint)
    assert other.remote_status()['clone'] is True
    for key, data in list(objs.items())[:50]:
        assert other.get_object_content(key) == data
    more = [open(p, 'rb').read() for p in sorted(glob.glob('/usr/include/*.h'))[:40]]
    new_keys = cont.add_objects_to_pack(more, compress=True)
    cont.push(seal=True)
    res = other.pull()
    assert res['generation'] == 2 and res['packs_added'] >= 1
    for key, data in zip(new_keys, more):
        assert other.get_object_content(key) == data
    with pytest.raises(PermissionError):
        other.add_objects_to_pack([b'x'])
    with pytest.raises(udos.exceptions.LockedError):
        # a second writer on the same prefix is fenced off
        stray, _ = filled(tmp_path, 'stray')
        stray.set_remote(url, server.endpoint)
        stray.push(seal=True)
    other.close()
    cont.close()


def test_threads_read_evicted_packs_at_once(tmp_path, server, proxy):
    """Readers in threads fetch different packs (and blocks) at once, and a
    block wanted by several threads is fetched once."""
    import threading  # pylint: disable=import-outside-toplevel
    cont, objs = filled(tmp_path)
    url = f's3://{s3server.BUCKET}/py-{os.getpid()}-3'
    cont.set_remote(url, proxy.endpoint)
    npacks = cont.push(seal=True)['remote_packs']
    cont.evict()
    by_pack = {}
    for key, meta in cont.get_objects_meta(list(objs)):
        by_pack.setdefault(meta.pack_id, []).append(key)
    assert len(by_pack) >= 3
    # every GET waits a while in the proxy: serialised fetches would never
    # overlap
    proxy.stall_s = 0.4
    proxy.rule = lambda m, p, n: 'stall' if m == 'GET' else None
    proxy.reset()
    firsts = [keys[0] for keys in by_pack.values()]
    errors, barrier = [], threading.Barrier(len(firsts))

    def one(key):
        try:
            barrier.wait()
            assert cont.get_object_content(key) == objs[key]
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in firsts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert proxy.max_inflight >= 2, proxy.log
    # everything, from 8 threads at once (single reads and bulk reads over
    # the same packs): right bytes, and no range fetched twice here
    proxy.rule = lambda m, p, n: None
    cont.close()
    import shutil  # pylint: disable=import-outside-toplevel
    shutil.rmtree(tmp_path / 'c' / 'cache')
    proxy.reset()
    keys = list(objs)
    barrier = threading.Barrier(8)

    def reader(i):
        try:
            barrier.wait()
            if i % 2:
                assert cont.get_objects_content(keys[i::3]) == {k: objs[k] for k in keys[i::3]}
            else:
                for k in keys[i % 3::3]:
                    assert cont.get_object_content(k) == objs[k]
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    gets = [(p, r) for m, p, r in proxy.log if m == 'GET']
    blocks = {}
    for path, rng in gets:
        lo, hi = (int(x) for x in rng.split('=')[1].split('-'))
        for b in range(lo // 65536, hi // 65536 + 1):
            blocks[(path, b)] = blocks.get((path, b), 0) + 1
    assert blocks and max(blocks.values()) == 1, 'a block fetched twice'
    assert len(gets) <= sum(1 for _ in blocks) and npacks >= 3
    cont.close()


def test_restore_and_backup_utils_with_evicted_packs(tmp_path, server):
    """Container.restore reads evicted packs through the remote; the
    backup_utils folders of such a container read them the same way."""
    from udos import backup_utils  # pylint: disable=import-outside-toplevel
    cont, objs = filled(tmp_path)
    url = f's3://{s3server.BUCKET}/py-{os.getpid()}-4'
    # a CA bundle is kept by its absolute path (plain http ignores it)
    cont.set_remote(url, server.endpoint, ca_bundle='/etc/ssl/certs/../certs/ca-certificates.crt')
    assert cont.remote_status()['ca_bundle'] == '/etc/ssl/certs/ca-certificates.crt'
    cont.push(seal=True)
    cont.evict()
    keys = list(objs)
    manifest = {f'd/{i}.h': k for i, k in enumerate(keys)}
    res = cont.restore(manifest, tmp_path / 'out')
    assert res['failed'] == 0
    for path, key in manifest.items():
        assert (tmp_path / 'out' / path).read_bytes() == objs[key]
    manager = backup_utils.BackupManager(str(tmp_path / 'backups'), keep=1)
    for _ in range(2):
        manager.backup_auto_folders(
            lambda path, prev: backup_utils.backup_container(manager, cont, path, prev))
    last = (tmp_path / 'backups' / 'last-backup').resolve()
    assert (last / 'remote.manifest').is_file()
    assert not (last / 'cache').exists()
    copy = udos.Container(last)
    got = copy.get_objects_content(keys)
    assert got == objs
    res = copy.restore(manifest, tmp_path / 'out2')
    assert res['failed'] == 0
    cont.close()
    copy.close()


def test_deletions_and_remote_gc(tmp_path, server):
    cont, objs = filled(tmp_path)
    url = f's3://{s3server.BUCKET}/py-{os.getpid()}-5'
    cont.set_remote(url, server.endpoint)
    cont.push(seal=True)
    other = udos.Container.clone(url, tmp_path / 'clone', server.endpoint)
    gone = sorted(objs)[:20]
    cont.delete_objects(gone)
    assert cont.push()['deletions'] == 20
    assert other.pull()['deletions'] == 20
    assert not any(other.has_objects(gone))
    cont.repack()
    assert cont.push(seal=True)['deletions'] == 0
    assert cont.remote_gc()['objects_deleted'] == 0  # a day of grace
    dry = cont.remote_gc(grace=0, dry_run=True)
    assert dry['objects_deleted'] >= 2 and dry['manifests_deleted'] == 2
    res = cont.remote_gc(grace=0)
    assert res['objects_deleted'] == dry['objects_deleted'] and res['manifests_deleted'] == 2
    assert cont.remote_gc(grace=0)['objects_deleted'] == 0
    with pytest.raises(ValueError):
        cont.remote_gc(grace=-1)
    # the clone still holds generation 2, whose packs gc removed: its reads
    # pull the newest generation and look again
    keep = {k: v for k, v in objs.items() if k not in gone}
    first = sorted(keep)[0]
    assert other.get_object_content(first) == keep[first]
    assert other.remote_status()['generation'] == 3
    assert other.get_objects_content(list(keep)) == keep
    fresh = udos.Container.clone(url, tmp_path / 'fresh', server.endpoint)
    assert fresh.get_objects_content(list(keep)) == keep
    assert not any(fresh.has_objects(gone))
    # the writer is no clone: nothing to pull from, so nothing is retried
    with pytest.raises(OSError, match='not a clone'):
        cont._st().refresh()  # pylint: disable=protected-access
    for c in (cont, other, fresh):
        c.close()
