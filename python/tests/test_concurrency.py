"""Threads sharing a Container; processes packing while others write and read."""

import hashlib
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import udos
from udos.exceptions import LockedError, ModificationNotAllowed


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_threads_share_a_container(container):
    keys = container.add_objects_to_pack([f'base {i}'.encode() * 20 for i in range(200)], compress=True)
    errors = []

    def reader():
        try:
            for _ in range(20):
                got = container.get_objects_content(keys)
                assert len(got) == len(keys)
                for key in keys[::17]:
                    assert sha(container.get_object_content(key)) == key
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def writer(n):
        try:
            for i in range(30):
                container.add_object(f'thread {n} loose {i}'.encode())
                container.add_objects_to_pack([f'thread {n} packed {i}'.encode()])
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)] + \
        [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    count = container.count_objects()
    assert count.loose == 90 and count.packed == 200 + 90
    assert container.validate().is_valid()


def test_close_while_threads_read(container):
    keys = container.add_objects_to_pack([os.urandom(1000) for _ in range(100)])
    stop = time.monotonic() + 0.5
    errors = []

    def reader():
        while time.monotonic() < stop:
            try:
                container.get_objects_content(keys)
            except ValueError:  # raced with close(): a clean error, never a crash
                pass
            except Exception as exc:  # pragma: no cover
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    while time.monotonic() < stop:
        container.close()
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    assert not errors


WORKER = textwrap.dedent('''
    import hashlib, os, sys, time
    import udos

    role, folder, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cont = udos.Container(folder)
    if role == 'writer':
        for i in range(n):
            data = f'{os.getpid()} object {i}'.encode() * 10
            key = cont.add_object(data)
            # visible to this process at once, whatever the packer does
            assert cont.get_object_content(key) == data
        print('ok')
    elif role == 'packer':
        deadline = time.monotonic() + 3
        rounds = 0
        while time.monotonic() < deadline:
            cont.pack_all_loose()
            cont.clean_storage()
            rounds += 1
        print('ok', rounds)
    elif role == 'reader':
        seen = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            keys = list(cont.list_all_objects())
            got = cont.get_objects_content(keys)
            for key, data in got.items():
                assert hashlib.sha256(data).hexdigest() == key
            for key in keys[:50]:
                assert hashlib.sha256(cont.get_object_content(key)).hexdigest() == key
            seen = max(seen, len(got))
        print('ok', seen)
''')


def test_processes_pack_while_others_write_and_read(container, subprocess_env):
    folder = str(container.get_folder())
    container.add_objects_to_pack([b'seed'])
    container.close()
    procs = [subprocess.Popen([sys.executable, '-c', WORKER, role, folder, '150'], env=subprocess_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for role in ('packer', 'writer', 'writer', 'reader')]
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        assert out.startswith('ok')
    container.pack_all_loose()
    container.clean_storage()
    count = container.count_objects()
    assert count.loose == 0
    assert count.packed == 1 + 300
    assert container.validate().is_valid()


HOLDER = textwrap.dedent('''
    import sys, time
    import udos
    cont = udos.Container(sys.argv[1])
    store = cont._st()
    # hold the pack-writer lock: a packing call with a stream that waits
    class Slow:
        def __init__(self):
            self.done = False
        def read(self, n=-1):
            if self.done:
                return b''
            print('holding', flush=True)
            time.sleep(float(sys.argv[2]))
            self.done = True
            return b'slow object'
    cont.add_streamed_object_to_pack(Slow())
    print('released', flush=True)
''')


def test_second_packer_fails_fast(container, subprocess_env):
    folder = str(container.get_folder())
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, folder, '2'], env=subprocess_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'holding'
        start = time.monotonic()
        with pytest.raises(ModificationNotAllowed) as info:
            container.add_objects_to_pack([b'blocked'])
        assert isinstance(info.value, LockedError)
        assert time.monotonic() - start < 1.5  # failed fast, did not wait
        container.add_object(b'loose writes still work')
    finally:
        out, err = holder.communicate(timeout=30)
    assert holder.returncode == 0, err
    # the lock was given back at the end of the call: packing works again
    assert container.add_objects_to_pack([b'now it works']) == [sha(b'now it works')]
    assert container.has_object(sha(b'slow object'))


def test_fork_child_reopens(container):
    key = container.add_object(b'before fork')
    if not hasattr(os, 'fork'):
        pytest.skip('no fork')
    pid = os.fork()
    if pid == 0:  # child: uses its own store, leaves the parent's alone
        code = 0
        try:
            assert container.get_object_content(key) == b'before fork'
            container.add_object(b'from child')
        except BaseException:  # pragma: no cover
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert container.get_object_content(sha(b'from child')) == b'from child'
    assert udos.Container(container.get_folder()).has_object(key)
