"""Damaged loose files are never served: cat verifies every loose read."""
import os

import pytest

from conftest import sha, write


def loose_path(udos, h):
    return os.path.join(udos.store, "loose", h[:2], h[2:])


def damage(path, how):
    os.chmod(path, 0o644)
    data = open(path, "rb").read()
    if how == "empty":       # what a power cut usually leaves
        data = b""
    elif how == "flip":
        data = bytes([data[0] ^ 1]) + data[1:]
    elif how == "short":
        data = data[:-1]
    elif how == "long":
        data = data + b"x"
    with open(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("how", ["empty", "flip", "short", "long"])
def test_cat_refuses_damaged_loose(udos, tmp_path, how):
    body = b"loose content\n" * 1000
    f = write(tmp_path / "a.txt", body)
    h = udos.add("--to", "loose", f)[0][0]
    path = loose_path(udos, h)
    damage(path, how)
    r = udos("cat", h, timeout=120)
    assert r.returncode == 3, r.stderr
    err = r.stderr.decode()
    assert "object '%s' is damaged: loose file '%s'" % (h, path) in err, err
    assert len(err.strip().splitlines()) == 1, err
    if how == "empty":
        assert r.stdout == b""  # refused before writing anything


def test_cat_empty_object_loose(udos, tmp_path):
    f = write(tmp_path / "empty", b"")
    h = udos.add("--to", "loose", f)[0][0]
    assert h == sha(b"")
    assert os.path.getsize(loose_path(udos, h)) == 0
    assert udos.cat(h) == b""


def test_cat_reads_packed_copy_of_damaged_loose(udos, tmp_path):
    """A packed copy that verifies is read instead of a damaged loose one."""
    body = b"packed and loose\n" * 100
    f = write(tmp_path / "a.txt", body)
    h = udos.add("--to", "loose", f)[0][0]
    udos.ok("add", "--to", "pack", f)
    damage(loose_path(udos, h), "empty")
    assert udos.cat(h) == body


def test_export_refuses_damaged_loose(udos, tmp_path):
    f = write(tmp_path / "a.txt", b"exported\n" * 50)
    h = udos.add("--to", "loose", f)[0][0]
    damage(loose_path(udos, h), "flip")
    dst = tmp_path / "dst"
    udos.ok("init", dst, store=False)
    r = udos("export", dst, h, timeout=120)
    assert r.returncode != 0, r.stderr
    r = udos("-C", dst, "cat", h, store=False)
    assert r.returncode == 1
