"""add + cat round trips, manifest format, dedup, JSON shapes, ls/status."""
import json
import os
import random
import subprocess

import pytest

from conftest import Udos, sha, write

RNG = random.Random(1234)
CONTENTS = {
    "empty": b"",
    "one": b"x",
    "mib": RNG.randbytes(1 << 20),
    "binary": RNG.randbytes(77777),
    "text": b"the quick brown fox jumps over the lazy dog\n" * 30000,
}


def make_files(base):
    return {k: write(os.path.join(base, "in", k), v)
            for k, v in CONTENTS.items()}


def check_all_cat(u, hashes):
    """cat every object in one call and one by one; compare with CONTENTS."""
    names = list(CONTENTS)
    blob = u.cat(*[hashes[n] for n in names])
    assert blob == b"".join(CONTENTS[n] for n in names)
    for n in ("empty", "text"):
        assert u.cat(hashes[n]) == CONTENTS[n]


@pytest.mark.parametrize("compression", ["zstd:3", "zlib:6", "none"])
@pytest.mark.parametrize("compress", ["auto", "yes", "no"])
@pytest.mark.parametrize("to", ["loose", "pack"])
def test_round_trip(tmp_path, to, compress, compression):
    u = Udos(tmp_path / "store")
    u.ok("init", "--compression", compression)
    files = make_files(tmp_path)
    out = u.add("--to", to, "--compress", compress, *files.values())
    hashes = {}
    for (h, p), (name, path) in zip(out, files.items()):
        assert p == path
        assert h == sha(CONTENTS[name])
        hashes[name] = h
    check_all_cat(u, hashes)
    if to == "loose":
        u.ok("pack", "--compress", compress)
        check_all_cat(u, hashes)
    st = json.loads(u.ok("status", "--json").stdout)
    assert st["compression"] == compression
    assert st["packed_count"] + st["loose_count"] - st["both_count"] == 5
    u.ok("validate", "--full")


def test_manifest_checks_with_sha256sum(udos, tmp_path):
    src = tmp_path / "src"
    names = ["a.txt", "with space", "back\\slash", "new\nline",
             "sub/deeper/x.bin", "ünï"]
    for i, n in enumerate(names):
        write(src / n, os.urandom(100 * i + 1))
    r = udos.ok("add", "-r", ".", cwd=src)
    lines = r.stdout.split(b"\n")
    chk = subprocess.run(["sha256sum", "-c", "--strict"], input=r.stdout,
                         cwd=src, capture_output=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert chk.stdout.count(b": OK") == len(names)
    assert b"./sub/deeper/x.bin" in r.stdout  # paths joined as walked
    assert lines[-1] == b""
    # the same with absolute and --to loose
    r = udos.ok("add", "--to", "loose", "-r", str(src))
    chk = subprocess.run(["sha256sum", "-c"], input=r.stdout,
                         capture_output=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr


def test_named_files_keep_their_order(udos, tmp_path):
    # files are ingested in parallel; named files are still printed in the
    # order given, files found under a folder as they finish
    src = tmp_path / "src"
    for n in ["b", "a", "c/z", "c/a", "B"]:
        write(src / n, n.encode())
    named = [write(tmp_path / ("n%d" % i), os.urandom(1000 * i + 1))
             for i in (3, 1, 4, 0, 2)]
    big = write(tmp_path / "big", os.urandom(9 << 20))  # a slow one first
    args = [big] + named[:3] + ["-r", str(src)] + named[3:]
    out = udos.add(*args)
    got = [p for _, p in out]
    walked = [str(src / n) for n in ["B", "a", "b", "c/a", "c/z"]]
    assert [p for p in got if p not in walked] == [big] + named
    assert sorted(p for p in got if p in walked) == walked
    for h, p in out:
        assert h == sha(open(p, "rb").read())


@pytest.mark.parametrize("to", ["loose", "pack"])
def test_dedup_and_json(udos, tmp_path, to):
    a = write(tmp_path / "a", b"same bytes")
    b = write(tmp_path / "b", b"same bytes")
    c = write(tmp_path / "c", b"other")
    r = udos.ok("add", "--to", to, "--json", a, b, c)
    objs = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert [sorted(o) for o in objs] == [["hash", "path", "size", "stored"]] * 3
    # a and b are read at once: either may be the one stored
    assert sorted(o["stored"] for o in objs[:2]) == [False, True]
    assert objs[2]["stored"] is True
    assert [o["size"] for o in objs] == [10, 10, 5]
    assert [o["path"] for o in objs] == [a, b, c]
    assert objs[0]["hash"] == objs[1]["hash"] == sha(b"same bytes")
    # a second run in the same mode stores nothing new
    r = udos.ok("add", "--to", to, "--json", a, c)
    assert [json.loads(l)["stored"] for l in r.stdout.splitlines()] \
        == [False, False]


@pytest.mark.parametrize("first,then,stored", [
    # object.h: a loose-only object is written to the pack (that is how
    # loose objects get packed); `pack` later cleans the loose copy
    ("loose", "pack", True),
    # a packed object is not written again as a loose file
    ("pack", "loose", False)])
def test_dedup_across_locations(udos, tmp_path, first, then, stored):
    a = write(tmp_path / "a", b"same bytes")
    udos.ok("add", "--to", first, a)
    r = udos.ok("add", "--to", then, "--json", a)
    assert json.loads(r.stdout)["stored"] is stored
    r = udos.ok("add", "--to", "pack", "--json", a)
    assert json.loads(r.stdout)["stored"] is False
    assert udos.cat(sha(b"same bytes")) == b"same bytes"
    udos.ok("validate", "--full")


def test_json_path_escaping(udos, tmp_path):
    p = write(tmp_path / 'q"uo\\te\ttab', b"z")
    r = udos.ok("add", "--json", p)
    assert json.loads(r.stdout)["path"] == p


def test_files_from(udos, tmp_path):
    paths = [write(tmp_path / ("f%d" % i), b"%d" % i) for i in range(5)]
    lst = write(tmp_path / "list", "\n".join(paths).encode() + b"\n")
    out = udos.add("--files-from", lst)
    assert [p for _, p in out] == paths
    r = udos.ok("add", "--files-from", "-", "-0", "--json",
                input=b"\0".join(p.encode() for p in paths))
    assert [json.loads(l)["path"] for l in r.stdout.splitlines()] == paths


def test_files_from_stdin_newlines(udos, tmp_path):
    paths = [write(tmp_path / ("g%d" % i), b"g%d" % i) for i in range(3)]
    r = udos.ok("add", paths[0], "--files-from", "-",
                input=("\n".join(paths[1:]) + "\n").encode())
    assert [l.split(b"  ", 1)[1].decode() for l in r.stdout.splitlines()] \
        == paths


def test_ls_and_status(udos, tmp_path):
    loose = [write(tmp_path / ("l%d" % i), os.urandom(1000 + i))
             for i in range(3)]
    packed = [write(tmp_path / ("p%d" % i), b"p" * (5000 + i))
              for i in range(4)]
    lh = [h for h, _ in udos.add("--to", "loose", *loose)]
    ph = [h for h, _ in udos.add("--to", "pack", *packed)]
    out = udos.ok("ls").stdout.decode().split()
    assert out == sorted(ph) + sorted(lh) or sorted(out) == sorted(lh + ph)
    assert sorted(udos.ok("ls", "--loose").stdout.decode().split()) \
        == sorted(lh)
    assert sorted(udos.ok("ls", "--packed").stdout.decode().split()) \
        == sorted(ph)
    rows = [json.loads(l) for l in udos.ok("ls", "--json").stdout.splitlines()]
    assert len(rows) == 7
    by = {r["hash"]: r for r in rows}
    for h in lh:
        assert by[h]["location"] == "loose"
        assert by[h]["codec"] == "none"
    for h, p in zip(ph, packed):
        assert by[h]["location"] == "packed"
        assert by[h]["size"] == os.path.getsize(p)
        assert "pack_id" in by[h] and "offset" in by[h]
        assert by[h]["stored_size"] <= by[h]["size"]
    long_lines = udos.ok("ls", "-l").stdout.decode().splitlines()
    assert len(long_lines) == 7
    f = long_lines[0].split()
    assert len(f) == 5 and f[2] in ("loose", "packed")

    st = json.loads(udos.ok("status", "--json").stdout)
    assert st["loose_count"] == 3
    assert st["packed_count"] == 4
    assert st["loose_size"] == sum(os.path.getsize(p) for p in loose)
    assert st["packed_size"] == sum(os.path.getsize(p) for p in packed)
    assert st["pack_count"] >= 1
    assert st["compression"] == "zstd:1"
    assert len(st["container_id"]) == 36
    assert st["compression_ratio"] > 1
    human = udos.ok("status").stdout.decode()
    assert st["container_id"] in human and "packed" in human


def test_pack_summary_and_cat(udos, tmp_path):
    paths = [write(tmp_path / ("f%d" % i), os.urandom(3000) * 3)
             for i in range(10)]
    hs = [h for h, _ in udos.add("--to", "loose", *paths)]
    r = json.loads(udos.ok("pack", "--json").stdout)
    assert r["packed"] == 10 and r["cleaned"] == 10 and r["corrupt"] == 0
    assert r["bytes_in"] == 90000
    assert 0 < r["bytes_out"] < 90000  # repeated content compresses
    assert udos.ok("ls", "--loose").stdout == b""
    for h, p in zip(hs, paths):
        assert udos.cat(h) == open(p, "rb").read()
    r = udos.ok("pack")
    assert r.stdout.startswith(b"packed 0 objects")
    # --no-clean keeps the loose copies
    more = write(tmp_path / "more", b"more")
    udos.add("--to", "loose", more)
    r = json.loads(udos.ok("pack", "--no-clean", "--json").stdout)
    assert r["packed"] == 1 and r["cleaned"] == 0
    assert udos.ok("ls", "--loose").stdout.strip() == sha(b"more").encode()
    udos.ok("validate", "--full")


def test_pack_rollover(tmp_path):
    u = Udos(tmp_path / "store")
    u.ok("init", "--pack-size", "64K")
    paths = [write(tmp_path / "in" / ("f%02d" % i), os.urandom(16384))
             for i in range(24)]
    out = u.add("--compress", "no", "-r", str(tmp_path / "in"))
    assert len(out) == 24
    packs = [p for p in os.listdir(os.path.join(u.store, "packs")) if p.isdigit()]
    assert len(packs) >= 4, packs
    for h, p in out:
        assert u.cat(h) == open(p, "rb").read()
    st = json.loads(u.ok("status", "--json").stdout)
    assert st["pack_count"] == len(packs)
    assert st["pack_size_target"] == 65536
    u.ok("validate", "--full")


def test_delete_and_repack(udos, tmp_path):
    paths = [write(tmp_path / ("f%d" % i), os.urandom(20000))
             for i in range(4)]
    hs = [h for h, _ in udos.add(*paths)]
    lh = [h for h, _ in udos.add("--to", "loose",
                                 write(tmp_path / "l", b"loose one"))]
    udos.ok("delete", hs[0], lh[0])
    r = udos("cat", hs[0])
    assert r.returncode == 1
    assert ("udos cat: not found '%s'" % hs[0]).encode() in r.stderr
    r = udos("delete", hs[0], hs[1])
    assert r.returncode == 1
    assert ("not found '%s'" % hs[0]).encode() in r.stderr
    assert udos("cat", hs[1]).returncode == 1  # the other one went
    lst = write(tmp_path / "dl", (hs[2] + "\n").encode())
    udos.ok("delete", "--files-from", lst)
    before = json.loads(udos.ok("status", "--json").stdout)["pack_files_size"]
    udos.ok("repack")
    after = json.loads(udos.ok("status", "--json").stdout)["pack_files_size"]
    assert after < before
    assert udos.cat(hs[3]) == open(paths[3], "rb").read()
    udos.ok("validate", "--full")
    r = udos("delete", "abc")
    assert r.returncode == 2 and b"id prefix 'abc' is too short" in r.stderr
    r = udos("delete", "xyz")
    assert r.returncode == 2 and b"malformed hash 'xyz'" in r.stderr
    assert udos("delete").returncode == 2


def test_repack_recompress_one_pack(udos, tmp_path):
    p = write(tmp_path / "t", b"abcdefgh" * 10000)
    h = udos.add("--compress", "no", p)[0][0]
    row = json.loads(udos.ok("ls", "--json").stdout)
    assert row["codec"] == "none"
    udos.ok("repack", "--compress", "yes", "--pack", row["pack_id"])
    row = json.loads(udos.ok("ls", "--json").stdout)
    assert row["codec"] == "zstd" and row["stored_size"] < 80000
    assert udos.cat(h) == b"abcdefgh" * 10000
    assert udos("repack", "--pack", "x1").returncode == 2


def test_packed_large_file_is_not_written_loose(udos, tmp_path):
    # large files stream through the engine: the same rule as small ones
    data = os.urandom(5 << 20)
    a = write(tmp_path / "big", data)
    udos.ok("add", "--to", "pack", a)
    r = udos.ok("add", "--to", "loose", "--json", a)
    assert json.loads(r.stdout)["stored"] is False
    assert not any(files for _, _, files in os.walk(os.path.join(udos.store, "loose")))
    assert not os.listdir(os.path.join(udos.store, "sandbox"))
    assert udos.cat(sha(data)) == data
