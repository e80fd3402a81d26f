"""udos import SRC / udos export DEST: copies between containers."""
import hashlib
import json
import os

import pytest

from conftest import Udos, sha, write
from test_crash import hold_writer_lock


def lines(r):
    return r.stdout.decode().splitlines()


@pytest.fixture
def src(tmp_path):
    """A container with packed (zstd and raw) and loose objects."""
    u = Udos(tmp_path / "src")
    u.ok("init", u.store, store=False)
    objs = {}
    for i in range(12):
        data = (b"object %d " % i) * (1 + 50 * i)
        path = write(tmp_path / "in" / str(i), data)
        objs[sha(data)] = data
        u.ok("add", "--to", "loose" if i % 4 == 0 else "pack", path)
    return u, objs


def assert_full_validate(u):
    r = u.ok("validate", "--full", "--json")
    assert json.loads(r.stdout)["summary"]["findings"] == 0, r.stdout


def test_import_all(udos, src):
    s, objs = src
    r = udos.ok("import", s.store)
    assert sorted(lines(r)) == sorted(objs)
    assert b"copied 12 objects" in r.stderr
    for h, data in objs.items():
        assert udos.cat(h) == data
    # all in packs, none loose
    assert udos.ok("ls", "--loose").stdout == b""
    assert_full_validate(udos)
    # again: nothing new, nothing printed
    r = udos.ok("import", s.store)
    assert r.stdout == b""
    assert b"12 already there" in r.stderr


def test_quiet(udos, src):
    s, objs = src
    r = udos.ok("-q", "import", s.store)
    assert r.stderr == b""
    assert sorted(lines(r)) == sorted(objs)


def test_import_selected(udos, src):
    s, objs = src
    some = sorted(objs)[:3]
    r = udos.ok("import", s.store, *some)
    assert sorted(lines(r)) == some
    assert sorted(udos.ok("ls").stdout.decode().split()) == some


@pytest.mark.parametrize("stdin", [False, True])
def test_import_files_from(udos, src, tmp_path, stdin):
    s, objs = src
    some = sorted(objs)[3:8]
    text = "".join(h + "\n" for h in some).encode()
    if stdin:
        r = udos.ok("import", s.store, "--files-from", "-", input=text)
    else:
        lst = write(tmp_path / "list", text)
        r = udos.ok("import", s.store, "--files-from", lst)
    assert sorted(lines(r)) == some


def test_missing_id_goes_on(udos, src):
    s, objs = src
    missing = sha(b"not there")
    some = sorted(objs)[:2]
    r = udos("import", s.store, some[0], missing, some[1])
    assert r.returncode == 1
    assert ("udos import: not found '%s'" % missing).encode() in r.stderr
    assert sorted(lines(r)) == some
    assert udos.cat(*some) == objs[some[0]] + objs[some[1]]


def test_malformed_id_copies_nothing(udos, src):
    s, objs = src
    r = udos("import", s.store, sorted(objs)[0], "xyz")
    assert r.returncode == 2
    assert b"udos import: malformed hash 'xyz'" in r.stderr
    assert udos.ok("ls").stdout == b""


def test_json(udos, src):
    s, objs = src
    first = sorted(objs)[0]
    udos.ok("import", s.store, first)
    missing = sha(b"absent")
    r = udos("import", "--json", s.store, *sorted(objs), missing)
    assert r.returncode == 1
    got = [json.loads(x) for x in lines(r)]
    by = {g["source"]: g for g in got}
    assert by[first] == {"source": first, "hash": first,
                         "status": "present"}
    assert by[missing] == {"source": missing, "hash": None,
                           "status": "missing"}
    assert sum(g["status"] == "copied" for g in got) == len(objs) - 1
    assert all(g["hash"] == g["source"] for g in got if g["hash"])


@pytest.mark.parametrize("mode", ["no", "yes", "auto", "keep"])
def test_compress_modes(udos, src, mode):
    s, objs = src
    udos.ok("import", "--compress", mode, s.store)
    for h, data in objs.items():
        assert udos.cat(h) == data
    assert_full_validate(udos)


def test_between_hash_types(tmp_path, src):
    s, objs = src
    d = Udos(tmp_path / "sha1")
    d.ok("init", "--hash", "sha1", d.store, store=False)
    r = d.ok("import", s.store)
    pairs = dict(x.split(" ") for x in lines(r))
    assert sorted(pairs) == sorted(objs)
    for old, new in pairs.items():
        assert new == hashlib.sha1(objs[old]).hexdigest()
        assert d.cat(new) == objs[old]
    assert_full_validate(d)
    # and back: the sha256 ids come out again
    back = Udos(tmp_path / "back")
    back.ok("init", back.store, store=False)
    r = back.ok("import", d.store, *list(pairs.values())[:3])
    for x in lines(r):
        old, new = x.split(" ")
        assert pairs[new] == old


def test_export_creates_dest_alike(tmp_path):
    s = Udos(tmp_path / "s")
    s.ok("init", "--hash", "sha1", "--compression", "zlib:5",
         "--pack-size", "1M", "--loose-prefix-len", "3", s.store,
         store=False)
    data = [os.urandom(3000) for _ in range(5)] + [b"text " * 1000]
    for i, x in enumerate(data):
        s.ok("add", "--to", "pack" if i % 2 else "loose",
             write(tmp_path / "f" / str(i), x))
    dest = str(tmp_path / "dest")
    r = s.ok("export", dest)
    assert sorted(lines(r)) == sorted(hashlib.sha1(x).hexdigest()
                                      for x in data)
    conf = [json.load(open(os.path.join(p, "config.json")))
            for p in (s.store, dest)]
    for c in conf:
        del c["container_id"]
    assert conf[0] == conf[1]
    assert conf[1]["hash_type"] == "sha1"
    assert conf[1]["compression"] == "zlib:5"
    d = Udos(dest)
    for x in data:
        assert d.cat(hashlib.sha1(x).hexdigest()) == x
    assert_full_validate(d)
    # into an existing container: only what is new
    write(tmp_path / "g", b"one more")
    s.ok("add", tmp_path / "g")
    r = s.ok("export", dest)
    assert lines(r) == [hashlib.sha1(b"one more").hexdigest()]


@pytest.mark.parametrize("bad", ["missing", "plain", "file"])
def test_bad_src(udos, tmp_path, bad):
    path = tmp_path / bad
    if bad == "plain":
        write(path / "x", b"not a container")
    elif bad == "file":
        write(path, b"a file")
    r = udos("import", path)
    assert r.returncode == 3
    why = {"missing": "does not exist", "file": "is not a folder",
           "plain": "is not a udos container (no config.json)"}[bad]
    assert r.stderr.decode() == "udos import: '%s' %s\n" % (path, why)
    assert udos.ok("ls").stdout == b""


def test_export_into_a_non_container(udos, tmp_path):
    write(tmp_path / "busy" / "x", b"something")
    udos.ok("add", write(tmp_path / "a", b"a"))
    r = udos("export", tmp_path / "busy")
    assert r.returncode == 3
    assert r.stderr.decode() == \
        "udos export: '%s' is not a udos container (no config.json)\n" \
        % (tmp_path / "busy")
    assert os.listdir(tmp_path / "busy") == ["x"]


def test_dest_locked_by_a_packer(udos, src, tmp_path):
    s, objs = src
    a = write(tmp_path / "a", b"held")
    holder = hold_writer_lock(udos, a)
    try:
        r = udos("import", s.store, timeout=20)
        assert r.returncode == 3, r.stderr
        err = r.stderr.decode()
        assert err.startswith("udos import: ") and err.count("\n") == 1
        assert "pid %d" % holder.pid in err, err
        r = s("export", udos.store, timeout=20)
        assert r.returncode == 3, r.stderr
        err = r.stderr.decode()
        assert err.startswith("udos export: ") and err.count("\n") == 1
        assert "pid %d" % holder.pid in err, err
    finally:
        out, err = holder.communicate(timeout=30)
    assert holder.returncode == 0, err
    # nothing lost on either side; the import works once the lock is free
    assert udos.cat(sha(b"held")) == b"held"
    assert sorted(lines(udos.ok("import", s.store))) == sorted(objs)
    assert_full_validate(udos)
    assert_full_validate(s)


def test_progress_on_a_terminal(udos, src):
    from test_progress import run_with_tty_stderr
    s, objs = src
    p, err = run_with_tty_stderr(["-C", udos.store, "import", s.store])
    assert p.returncode == 0, err
    assert b"importing: " in err and b"\r\x1b[K" in err
    assert sorted(p.stdout.decode().split()) == sorted(objs)
    r = udos.ok("import", s.store)
    assert b"\r" not in r.stderr
