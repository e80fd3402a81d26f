"""A damaged or missing index: every command says so, names the container
and the command that rebuilds it ('udos repair'), and never calls it a lock
conflict. Only RocksDB's own lock on index/LOCK is one."""
import fcntl
import glob
import os

import pytest

from conftest import write

TIMEOUT = 120


def _store_with_index(udos, tmp_path):
    """20 packed objects and one loose; one add, so one table file."""
    files = [write(tmp_path / "in" / f"f{i}", b"object %d\n" % i * 50)
             for i in range(20)]
    packed = udos.add(*files)
    loose = udos.add("--to", "loose",
                     write(tmp_path / "in" / "loose", b"loose one"))
    return packed, loose


def _flip_tables(store):
    tables = glob.glob(os.path.join(store, "index", "*.sst"))
    assert tables
    for t in tables:
        with open(t, "r+b") as f:
            for off in (100, 101):  # inside the first data block
                f.seek(off)
                b = f.read(1)
                f.seek(off)
                f.write(bytes([b[0] ^ 0xFF]))


def _commands(h, tmp_path):
    other = tmp_path / "other"
    return [
        ("ls",), ("status",), ("cat", h), ("validate",),
        ("validate", "--full"), ("pack",), ("repack",), ("delete", h),
        ("export", str(other)),
        ("add", write(tmp_path / "new", b"brand new")),
        ("backup", str(tmp_path / "bk")),
    ]


def _check_damaged(r, udos, args):
    err = r.stderr.decode()
    assert r.returncode == 3, (args, r.returncode, err)
    assert r.returncode > 0  # never a signal
    assert "another process" not in err, (args, err)
    assert "lock" not in err.replace("block", ""), (args, err)
    assert "udos repair" in err, (args, err)
    assert "'%s'" % udos.store in err, (args, err)
    assert len(err.strip().splitlines()) == 1, (args, err)


def test_flipped_table_bytes_say_damaged_index(udos, tmp_path):
    packed, _ = _store_with_index(udos, tmp_path)
    udos.ok("init", tmp_path / "other", store=False)
    _flip_tables(udos.store)
    h = packed[0][0]
    for args in _commands(h, tmp_path):
        r = udos(*args, timeout=TIMEOUT)
        err = r.stderr.decode()
        if args[0] == "add":
            # a new id misses the bloom filter and reads no data block:
            # the add may succeed; if it fails it must say why
            if r.returncode == 0:
                continue
        _check_damaged(r, udos, args)
        assert "damaged" in err, (args, err)


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_missing_index_says_run_repair(udos, tmp_path, how):
    packed, _ = _store_with_index(udos, tmp_path)
    udos.ok("init", tmp_path / "other", store=False)
    idx = os.path.join(udos.store, "index")
    for f in os.listdir(idx):
        os.unlink(os.path.join(idx, f))
    if how == "deleted":
        os.rmdir(idx)
    for args in _commands(packed[0][0], tmp_path):
        r = udos(*args, timeout=TIMEOUT)
        _check_damaged(r, udos, args)
        err = r.stderr.decode()
        if how == "deleted":
            assert "index missing in '%s'" % udos.store in err, err
        else:
            assert "damaged" in err and "CURRENT" in err, err
        assert "RocksDB" not in err and "Invalid argument" not in err
    # reading or writing never made a new, empty index in its place
    assert os.path.isdir(idx) == (how == "emptied")
    if how == "emptied":
        assert os.listdir(idx) == []


def test_rocksdb_lock_held_elsewhere_is_a_lock_conflict(udos, tmp_path):
    """The one true index lock conflict: another program holds index/LOCK
    (RocksDB's fcntl lock) while udos holds its writer lock."""
    _store_with_index(udos, tmp_path)
    with open(os.path.join(udos.store, "index", "LOCK"), "r+") as f:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = udos("pack", timeout=TIMEOUT)
    err = r.stderr.decode()
    assert r.returncode == 3, err
    assert "locked by another process" in err, err
    assert "damaged" not in err
