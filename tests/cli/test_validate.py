"""validate finds damage: flipped byte, truncation, bad loose names,
dangling index entries."""
import glob
import json
import os

import pytest

from conftest import sha, write


def findings(r):
    """validate's TSV output -> list of (kind, subject, message)."""
    return [tuple(l.split("\t", 2)) for l in r.stdout.decode().splitlines()]


@pytest.fixture
def packed(udos, tmp_path):
    """A container with 3 raw packed objects of 64 KiB (in any order)."""
    paths = [write(tmp_path / ("f%d" % i), os.urandom(65536))
             for i in range(3)]
    out = udos.add("--compress", "no", *paths)
    return udos, [h for h, _ in out], os.path.join(udos.store, "packs", "0")


@pytest.mark.parametrize("full", [False, True])
def test_clean_store_validates(packed, full):
    u, hs, _ = packed
    u.add("--to", "loose", write(os.path.join(u.store, "..", "l"), b"l"))
    args = ["validate", "--json"] + (["--full"] if full else [])
    r = u.ok(*args)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(lines) == 1
    s = lines[0]["summary"]
    assert s["findings"] == 0
    assert s["records_checked"] == 3 and s["loose_checked"] == 1
    assert s["index_checked"] == 3
    r = u.ok("validate")
    assert r.stdout == b""
    assert b"0 findings" in r.stderr


@pytest.mark.parametrize("full", [False, True])
def test_flipped_byte(packed, full):
    u, hs, pack = packed
    size = os.path.getsize(pack)
    with open(pack, "r+b") as f:
        f.seek(size - 1000)  # inside the last record's bytes
        b = f.read(1)
        f.seek(size - 1000)
        f.write(bytes([b[0] ^ 0x40]))
    r = u("validate", *(["--full"] if full else []))
    assert r.returncode == 1, r.stderr
    fs = findings(r)
    assert fs and all(len(f) == 3 for f in fs)
    # the engine packs files in parallel: the last record is any of them
    bad = [f[1] for f in fs if f[1] in hs]
    assert len(bad) == 1, fs
    # cat refuses to serve it, the others are fine
    r = u("cat", bad[0])
    assert r.returncode == 3
    assert all(u.cat(h) for h in hs if h != bad[0])
    # JSON shape of a finding
    r = u("validate", "--json")
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert set(rows[0]) == {"kind", "hash", "path", "offset", "message"}
    assert rows[-1]["summary"]["findings"] == len(rows) - 1 >= 1


def test_truncated_pack(packed):
    u, hs, pack = packed
    os.truncate(pack, os.path.getsize(pack) - 5000)
    r = u("validate")
    assert r.returncode == 1
    assert findings(r)
    # exactly one object (the last record, whichever it is) is lost
    assert sorted(u("cat", h).returncode for h in hs) == [0, 0, 3]


def test_deleted_pack_file_leaves_dangling_index(packed):
    u, hs, pack = packed
    os.unlink(pack)
    r = u("validate")
    assert r.returncode == 1
    fs = findings(r)
    assert {f[1] for f in fs} >= set(hs), fs
    # a missing pack file is corruption, not "no such object"
    assert u("cat", hs[0]).returncode == 3


def loose_file(store, h):
    return os.path.join(store, "loose", h[:2], h[2:])


def test_loose_renamed_to_other_id(udos, tmp_path):
    h = udos.add("--to", "loose", write(tmp_path / "a", b"aaa"))[0][0]
    other = sha(b"something else")
    dst = loose_file(udos.store, other)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.rename(loose_file(udos.store, h), dst)
    r = udos("validate")
    assert r.returncode == 1
    fs = findings(r)
    assert len(fs) == 1 and fs[0][1] in (other, "loose/%s/%s" % (other[:2],
                                                                 other[2:]))
    # cat verifies: the content does not match the id
    assert udos("cat", other).returncode == 3


def test_loose_bad_name(udos, tmp_path):
    h = udos.add("--to", "loose", write(tmp_path / "a", b"aaa"))[0][0]
    src = loose_file(udos.store, h)
    os.rename(src, os.path.join(os.path.dirname(src), "not-a-hash"))
    r = udos("validate", "--full")
    assert r.returncode == 1
    fs = findings(r)
    assert len(fs) == 1 and "not-a-hash" in fs[0][1] + fs[0][2]
