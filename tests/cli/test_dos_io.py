"""`udos import-dos` and `udos export-dos` against the real disk-objectstore.

Source containers are made by disk-objectstore 1.5 itself (from PyPI, in a
cached venv: $UDOS_DOS_VENV, else ~/.cache/udos-test-venvs/dos-1.5), with
packed (zlib and raw), loose, empty and 20 MB objects of real files from
/usr/include; udos reads them with no Python involved. What udos exports is
opened, read and validated by that same package, and described by its
`dostore status`.
"""
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from conftest import Udos

VENV = os.environ.get("UDOS_DOS_VENV") or os.path.expanduser(
    "~/.cache/udos-test-venvs/dos-1.5")
VPY = os.path.join(VENV, "bin", "python")
DOSTORE = os.path.join(VENV, "bin", "dostore")
BIG = 20 << 20


def _venv():
    """The venv with disk-objectstore 1.5, made once (under a lock)."""
    os.makedirs(os.path.dirname(VENV), exist_ok=True)
    with open(VENV + ".lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        probe = [VPY, "-c", "import disk_objectstore as d; "
                 "assert d.__version__.startswith('1.5')"]
        if os.path.exists(VPY) and subprocess.run(probe).returncode == 0:
            return
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        r = subprocess.run([VPY, "-m", "pip", "install", "-q",
                            "disk-objectstore==1.5.*"],
                           capture_output=True, timeout=600)
        if r.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            pytest.skip("cannot install disk-objectstore 1.5 from PyPI "
                        "(offline?): " + r.stderr.decode()[-300:])


@pytest.fixture(scope="module")
def dos():
    """Run a Python snippet with disk-objectstore 1.5: dos(code, **args)
    -> the JSON the snippet prints (its `args` is the dict given)."""
    _venv()

    def run(code, **args):
        prog = ("import json, sys, hashlib\n"
                "from disk_objectstore import Container\n"
                "args = json.loads(sys.argv[1])\n" + code)
        r = subprocess.run([VPY, "-c", prog, json.dumps(args)],
                           capture_output=True, timeout=900)
        assert r.returncode == 0, r.stderr.decode()
        out = r.stdout.decode().strip()
        return json.loads(out) if out else None
    return run


def usr_include(n, skip=0):
    """n regular files of /usr/include (real data), as bytes."""
    out = []
    for root, dirs, files in sorted(os.walk("/usr/include")):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            if skip:
                skip -= 1
                continue
            with open(p, "rb") as fh:
                out.append(fh.read())
            if len(out) == n:
                return out
    return out


def big_blob():
    """20 MB of real data: /usr/include files back to back."""
    parts, size = [], 0
    for d in usr_include(4000):
        parts.append(d)
        size += len(d)
        if size >= BIG:
            break
    return b"".join(parts)[:BIG]


def key(data, hash_type="sha256"):
    return hashlib.new(hash_type, data).hexdigest()


MAKE = r"""
import base64
c = Container(args['path'])
c.init_container(hash_type=args['hash'], pack_size_target=args['target'])
def load(paths):
    return [open(p, 'rb').read() for p in paths]
c.add_objects_to_pack(load(args['zlib']), compress=True)
c.add_objects_to_pack(load(args['raw']), compress=False)
c.add_objects_to_pack([b'', open(args['big'], 'rb').read()], compress=True)
for p in args['loose']:
    c.add_object(open(p, 'rb').read())
c.add_object(b'loose only, not packed')
meta = {}
for k, m in c.get_objects_meta(list(c.list_all_objects())):
    meta[k] = [m.type.value, m.pack_id]
c.close()
print(json.dumps(meta))
"""


def make_dos(dos, tmp_path, name, hash_type="sha256", n=900):
    """A disk-objectstore container: n/3 files packed with zlib, n/3 raw,
    n/3 loose, an empty and a 20 MB object; several packs. Returns (path,
    {key: content}, {key: [type, pack_id]})."""
    files = usr_include(n)
    src = tmp_path / (name + "-files")
    src.mkdir()
    paths = []
    for i, d in enumerate(files):
        p = src / str(i)
        p.write_bytes(d)
        paths.append(str(p))
    big = src / "big"
    big.write_bytes(big_blob())
    third = n // 3
    path = str(tmp_path / name)
    meta = dos(MAKE, path=path, hash=hash_type, target=4 << 20,
               zlib=paths[:third], raw=paths[third:2 * third],
               loose=paths[2 * third:], big=str(big))
    contents = {key(d, hash_type): d for d in files}
    contents[key(b"", hash_type)] = b""
    contents[key(big.read_bytes(), hash_type)] = big.read_bytes()
    contents[key(b"loose only, not packed", hash_type)] = \
        b"loose only, not packed"
    assert set(meta) == set(contents)
    return path, contents, meta


@pytest.fixture(scope="module")
def src256(dos, tmp_path_factory):
    return make_dos(dos, tmp_path_factory.mktemp("dos"), "src")


def assert_holds(u, contents):
    """Every object of `contents` in container u, byte for byte."""
    keys = sorted(contents)
    for i in range(0, len(keys), 200):
        chunk = keys[i:i + 200]
        got = u.ok("cat", *chunk, timeout=300).stdout
        assert got == b"".join(contents[k] for k in chunk)
    listed = set(u.ok("ls").stdout.decode().split())
    assert listed == set(contents)


def test_source_has_every_kind(src256):
    path, contents, meta = src256
    kinds = {t for t, _ in meta.values()}
    assert kinds == {"packed", "loose"}
    assert len({p for t, p in meta.values() if t == "packed"}) > 1
    db = sqlite3.connect(os.path.join(path, "packs.idx"))
    flags = {c for (c,) in db.execute("SELECT compressed FROM db_object")}
    db.close()
    assert flags == {0, 1}


def test_import_every_object_then_nothing(udos, src256):
    path, contents, meta = src256
    r = udos.ok("import-dos", "--json", path, timeout=600)
    s = json.loads(r.stdout)
    assert s["damaged"] == 0
    db = sqlite3.connect(os.path.join(path, "packs.idx"))
    (rows,) = db.execute("SELECT COUNT(*) FROM db_object").fetchone()
    db.close()
    loose = sum(len(f) for _, _, f in os.walk(os.path.join(path, "loose")))
    assert s["objects"] == rows + loose
    assert s["copied"] == len(contents)
    assert s["bytes"] == sum(len(d) for d in contents.values())
    assert_holds(udos, contents)
    udos.ok("validate", "--full", timeout=600)
    # zlib records were copied as they are
    st = json.loads(udos.ok("status", "--json").stdout)
    assert st["packed_count"] == len(contents)
    # a second run reads nothing and copies nothing
    s2 = json.loads(udos.ok("import-dos", "--json", path).stdout)
    assert s2["copied"] == 0 and s2["damaged"] == 0
    assert s2["skipped"] == s2["objects"]


def test_import_human_summary_and_progress_quiet_when_piped(udos, src256):
    path, contents, _ = src256
    r = udos.ok("import-dos", path, timeout=600)
    assert r.stdout == b""
    err = r.stderr.decode()
    assert err.count("\n") == 1 and "damaged" in err and "\r" not in err
    assert f"{len(contents)} copied" in err


@pytest.mark.parametrize("mode", ["no", "yes", "auto"])
def test_import_recompressed(bare, src256, mode, tmp_path):
    path, contents, _ = src256
    u = Udos(tmp_path / mode)
    u.ok("init", u.store, store=False)
    s = json.loads(u.ok("import-dos", "--compress", mode, "--json", path,
                        timeout=600).stdout)
    assert s["copied"] == len(contents) and s["damaged"] == 0
    assert_holds(u, contents)


def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x55]))


def test_damaged_objects_reported_rest_imported(udos, src256, tmp_path):
    path, contents, meta = src256
    bad = str(tmp_path / "bad")
    shutil.copytree(path, bad)
    db = sqlite3.connect(os.path.join(bad, "packs.idx"))
    rows = db.execute("SELECT hashkey, compressed, size, offset, length, "
                      "pack_id FROM db_object ORDER BY pack_id, offset"
                      ).fetchall()
    db.close()
    loose_only = {k for k, (t, _) in meta.items() if t == "loose"}
    loose_only -= {r[0] for r in rows}
    damaged = {}
    last = max(r[5] for r in rows)
    cut = [r for r in rows if r[5] == 0][-1]
    middle = [r for r in rows if r[5] != last and r != cut]
    zrow = next(r for r in middle if r[1] and r[4] > 200)
    rrow = next(r for r in middle if not r[1] and r[4] > 200)
    lie = next(r for r in middle if r[1] and r not in (zrow, rrow))
    flip(os.path.join(bad, "packs", str(zrow[5])), zrow[3] + zrow[4] // 2)
    flip(os.path.join(bad, "packs", str(rrow[5])), rrow[3] + rrow[4] // 2)
    damaged[rrow[0]] = "hashes to"
    damaged[zrow[0]] = "zlib"  # a flipped byte: a bad stream or hash
    # a packs.idx row whose size lies: its content is right, copied
    db = sqlite3.connect(os.path.join(bad, "packs.idx"))
    db.execute("UPDATE db_object SET size = size + 1 WHERE hashkey = ?",
               (lie[0],))
    db.commit()
    db.close()
    damaged[lie[0]] = "packs.idx says"
    # a loose file (not packed too) with other content
    lk = sorted(loose_only)[0]
    lp = os.path.join(bad, "loose", lk[:2], lk[2:])
    with open(lp, "ab") as f:
        f.write(b"!")
    damaged[lk] = "does not hash"
    # the last pack gone: each of its objects reported
    os.unlink(os.path.join(bad, "packs", str(last)))
    for r in rows:
        if r[5] == last:
            damaged[r[0]] = "is missing"
    # the last record of the first pack cut short
    os.truncate(os.path.join(bad, "packs", "0"), cut[3] + cut[4] - 1)
    damaged[cut[0]] = "runs past the end"

    r = udos("import-dos", bad, timeout=600)
    assert r.returncode == 1, r.stderr.decode()
    lines = r.stderr.decode().splitlines()
    problems = [ln for ln in lines if ln.startswith("udos import-dos:") and
                "objects," not in ln]
    assert len(problems) == len(damaged), problems
    for k, why in damaged.items():
        line = [ln for ln in problems if f"'{k}'" in ln]
        assert len(line) == 1, (k, problems)
        if why != "zlib":
            assert why in line[0], (why, line[0])
    got = set(udos.ok("ls").stdout.decode().split())
    # the liar's content is right: copied (and reported)
    good = {k: v for k, v in contents.items()
            if k not in damaged or k == lie[0]}
    assert set(good) <= got
    # a damaged object comes only when a loose copy of it was intact
    for k in set(damaged) & got - {lie[0]}:
        assert meta[k][0] == "packed" and k not in loose_only
    assert_holds(udos, {k: contents[k] for k in got})
    udos.ok("validate", "--full", timeout=600)


def test_sha1_source(dos, udos, tmp_path):
    path, contents, _ = make_dos(dos, tmp_path, "src1", "sha1", n=150)
    # a sha256 container refuses it, naming both hash types
    r = udos("import-dos", path)
    assert r.returncode == 3
    err = r.stderr.decode()
    assert "sha1" in err and "sha256" in err and err.count("\n") == 1
    u1 = Udos(tmp_path / "u1")
    u1.ok("init", "--hash", "sha1", u1.store, store=False)
    s = json.loads(u1.ok("import-dos", "--json", path, timeout=600).stdout)
    assert s["copied"] == len(contents) and s["damaged"] == 0
    assert_holds(u1, contents)
    u1.ok("validate", "--full", timeout=600)


def test_not_a_dos_container(udos, tmp_path):
    r = udos("import-dos", tmp_path / "nothing")
    assert r.returncode == 3
    assert b"not a disk-objectstore container" in r.stderr
    os.mkdir(tmp_path / "empty")
    r = udos("import-dos", tmp_path / "empty")
    assert r.returncode == 3 and b"config.json" in r.stderr
    # a packs.idx that is no SQLite database
    src = tmp_path / "src"
    src.mkdir()
    for d in ("loose", "packs", "duplicates", "sandbox"):
        (src / d).mkdir()
    (src / "config.json").write_text(
        '{"container_version": 1, "loose_prefix_len": 2, '
        '"pack_size_target": 4294967296, "hash_type": "sha256", '
        '"container_id": "0123456789abcdef0123456789abcdef", '
        '"compression_algorithm": "zlib+1"}')
    (src / "packs.idx").write_bytes(b"not a database" * 300)
    r = udos("import-dos", src)
    assert r.returncode == 3
    err = r.stderr.decode()
    assert "packs.idx" in err and err.count("\n") == 1, err


# ---- export ------------------------------------------------------------------

CHECK = r"""
import subprocess, sqlite3
c = Container(args['path'])
v = c.validate()
keys = sorted(c.list_all_objects())
got = c.get_objects_content(keys)
sums = {k: hashlib.new(c.hash_type, d).hexdigest() for k, d in got.items()}
# streams too, in pack order (disk-objectstore's bulk reader)
with c.get_objects_stream_and_meta(keys) as triplets:
    streamed = {k: len(s.read()) for k, s, m in triplets}
meta = {k: [m.type.value, m.pack_id, m.size] for k, m in
        c.get_objects_meta(keys)}
count = c.count_objects()
cfg = c._get_repository_config()
c.close()
st = subprocess.run([args['dostore'], '-p', args['path'], 'status'],
                    capture_output=True, check=True).stdout
db = sqlite3.connect(args['path'] + '/packs.idx')
schema = sorted(db.execute('SELECT type, name, tbl_name, sql FROM '
                           'sqlite_master').fetchall())
mode = db.execute('PRAGMA journal_mode').fetchone()[0]
db.close()
ref = Container(args['path'] + '-ref')
ref.init_container()
ref.close()
db = sqlite3.connect(args['path'] + '-ref/packs.idx')
ref_schema = sorted(db.execute('SELECT type, name, tbl_name, sql FROM '
                               'sqlite_master').fetchall())
db.close()
print(json.dumps({'valid': v.is_valid(), 'issues': str(v), 'sums': sums,
                  'streamed': streamed, 'meta': meta,
                  'count': [count.packed, count.loose, count.pack_files],
                  'config': cfg, 'status': json.loads(st),
                  'schema_same': schema == ref_schema, 'journal': mode}))
"""


@pytest.fixture(scope="module")
def exported_src(tmp_path_factory):
    """A udos container of real files (zstd:1, the default), an empty and a
    20 MB object, some loose, some packed."""
    tmp = tmp_path_factory.mktemp("exp")
    u = Udos(tmp / "u")
    u.ok("init", "--pack-size", "4M", u.store, store=False)
    files = usr_include(600, skip=50)
    d = tmp / "files"
    d.mkdir()
    for i, data in enumerate(files):
        (d / str(i)).write_bytes(data)
    (d / "empty").write_bytes(b"")
    (d / "big").write_bytes(big_blob())
    u.ok("add", "-r", d, timeout=600)
    (tmp / "loose").mkdir()
    (tmp / "loose" / "x").write_bytes(b"a loose object of udos")
    u.ok("add", "--to", "loose", tmp / "loose" / "x")
    contents = {key(x): x for x in files}
    for x in (b"", (d / "big").read_bytes(), b"a loose object of udos"):
        contents[key(x)] = x
    return u, contents


@pytest.mark.parametrize("opts", [[], ["--compress", "no"],
                                  ["--compress", "yes", "--zlib-level", "6"],
                                  ["--loose"]])
def test_export_read_and_validated_by_dos(dos, exported_src, tmp_path, opts):
    u, contents = exported_src
    dest = str(tmp_path / "dest")
    s = json.loads(u.ok("export-dos", "--json", *opts, dest,
                        timeout=600).stdout)
    assert s["copied"] == len(contents) and s["damaged"] == 0
    res = dos(CHECK, path=dest, dostore=DOSTORE)
    assert res["valid"], res["issues"]
    assert res["schema_same"] and res["journal"] == "wal"
    assert res["sums"] == {k: k for k in contents}
    assert res["streamed"] == {k: len(v) for k, v in contents.items()}
    cfg = res["config"]
    assert set(cfg) == {"container_version", "loose_prefix_len",
                        "pack_size_target", "hash_type", "container_id",
                        "compression_algorithm"}
    assert cfg["container_version"] == 1 and cfg["hash_type"] == "sha256"
    assert cfg["pack_size_target"] == 4 << 20
    assert len(cfg["container_id"]) == 32
    assert cfg["compression_algorithm"] == \
        ("zlib+6" if "6" in opts else "zlib+1")
    st = res["status"]
    assert st["id"] == cfg["container_id"]
    assert st["size"]["total_size_packed"] + st["size"]["total_size_loose"] \
        == sum(len(v) for v in contents.values())
    if "--loose" in opts:
        assert res["count"] == [0, len(contents), 0]
    else:
        assert res["count"][:2] == [len(contents), 0]
        assert res["count"][2] > 1  # the pack size target is followed
        db = sqlite3.connect(os.path.join(dest, "packs.idx"))
        flags = {c for (c,) in db.execute("SELECT compressed FROM "
                                          "db_object")}
        db.close()
        want = {"no": {0}, "yes": {1}}.get(
            opts[1] if opts else None, {0, 1})
        assert flags == want
    # and back: udos reads what it wrote
    back = Udos(tmp_path / "back")
    back.ok("init", back.store, store=False)
    s = json.loads(back.ok("import-dos", "--json", dest, timeout=600).stdout)
    assert s["copied"] == len(contents) and s["damaged"] == 0
    assert_holds(back, contents)


def test_export_zlib_records_copied_as_they_are(dos, tmp_path):
    u = Udos(tmp_path / "z")
    u.ok("init", "--compression", "zlib:6", u.store, store=False)
    files = usr_include(200, skip=700)
    d = tmp_path / "f"
    d.mkdir()
    for i, data in enumerate(files):
        (d / str(i)).write_bytes(data)
    u.ok("add", "--compress", "yes", "-r", d, timeout=600)
    stored = json.loads(u.ok("status", "--json").stdout)
    dest = str(tmp_path / "dest")
    s = json.loads(u.ok("export-dos", "--json", dest).stdout)
    assert s["bytes_stored"] == stored["packed_stored_size"]
    res = dos(CHECK, path=dest, dostore=DOSTORE)
    assert res["valid"] and res["config"]["compression_algorithm"] == \
        "zlib+6"
    assert res["sums"] == {key(x): key(x) for x in files}


def test_export_refuses_a_non_empty_dest(udos, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "x").write_bytes(b"x")
    r = udos("export-dos", dest)
    assert r.returncode == 3 and b"not empty" in r.stderr
    assert os.listdir(dest) == ["x"]


def test_export_leaves_out_a_damaged_object(dos, tmp_path):
    u = Udos(tmp_path / "u")
    u.ok("init", u.store, store=False)
    files = usr_include(50, skip=300)
    d = tmp_path / "f"
    d.mkdir()
    for i, data in enumerate(files):
        (d / str(i)).write_bytes(data)
    u.ok("add", "--to", "loose", "-r", d)
    victim = key(files[7])
    with open(os.path.join(u.store, "loose", victim[:2], victim[2:]),
              "ab") as f:
        f.write(b"!")
    dest = str(tmp_path / "dest")
    r = u("export-dos", dest)
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.decode().splitlines()
             if f"'{victim}'" in ln]
    assert len(lines) == 1
    res = dos(CHECK, path=dest, dostore=DOSTORE)
    assert res["valid"]
    assert set(res["sums"]) == {key(x) for x in files} - {victim}


def test_python_import_and_export(dos, src256, tmp_path):
    """Container.import_dos/export_dos of the Python module, when built."""
    build_py = os.path.join(os.path.dirname(os.environ.get(
        "UDOS_BIN", "")), "..", "python")
    if not os.path.isdir(os.path.join(build_py, "udos")):
        pytest.skip("the Python module is not built (-DUDOS_PYTHON=OFF)")
    path, contents, _ = src256
    code = (
        "import json, sys, udos\n"
        "c = udos.Container(sys.argv[1]); c.init_container()\n"
        "r = c.import_dos(sys.argv[2])\n"
        "r2 = c.import_dos(sys.argv[2])\n"
        "e = c.export_dos(sys.argv[3], compress=False)\n"
        "print(json.dumps([r, r2, e]))\n")
    env = dict(os.environ, PYTHONPATH=os.path.abspath(build_py))
    out = subprocess.run(["/usr/bin/python3", "-c", code,
                          str(tmp_path / "py"), path,
                          str(tmp_path / "pydest")], env=env,
                         capture_output=True, timeout=600)
    assert out.returncode == 0, out.stderr.decode()
    r, r2, e = json.loads(out.stdout)
    assert r["copied"] == len(contents) and r["problems"] == []
    assert r2["copied"] == 0
    assert e["copied"] == len(contents)
    res = dos(CHECK, path=str(tmp_path / "pydest"), dostore=DOSTORE)
    assert res["valid"] and res["sums"] == {k: k for k in contents}


# ---- the commands' surface -----------------------------------------------------

@pytest.mark.parametrize("cmd", ["import-dos", "export-dos"])
def test_help_and_usage(cmd, tmp_path):
    u = Udos(tmp_path / "nope")
    r = u(cmd, "--help")
    assert r.returncode == 0 and r.stdout.startswith(b"usage: udos")
    assert r.stderr == b""
    r = u(cmd)
    assert r.returncode == 2 and b"missing" in r.stderr
    r = u(cmd, "--no-such-option", "x")
    assert r.returncode == 2
    assert r.stderr.startswith(f"udos {cmd}: unknown option".encode())
    r = u(cmd, "a", "b")
    assert r.returncode == 2 and b"too many arguments" in r.stderr
    r = Udos(tmp_path)("--help", store=False)
    assert f"  {cmd} ".encode() in r.stdout


def test_progress_on_a_terminal(udos, src256, tmp_path):
    from test_progress import run_with_tty_stderr
    path, contents, _ = src256
    p, err = run_with_tty_stderr(["-C", udos.store, "import-dos", path])
    assert p.returncode == 0, err
    assert b"importing: " in err and b" objects" in err
    assert f"{len(contents)} copied".encode() in err
    p, err = run_with_tty_stderr(["-q", "-C", udos.store, "export-dos",
                                  str(tmp_path / "dest")])
    assert p.returncode == 0 and err == b""
    p, err = run_with_tty_stderr(["-C", udos.store, "export-dos",
                                  str(tmp_path / "dest2")])
    assert p.returncode == 0 and b"exporting: " in err
