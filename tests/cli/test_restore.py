"""`udos restore`: the tree a manifest of `add` names, rebuilt under a folder."""
import json
import os
import subprocess

import pytest

from conftest import sha, write


def tree_bytes(root):
    """{relative path (bytes): content} of every regular file under root."""
    out = {}
    root = os.fsencode(root)
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = fh.read()
    return out


def mtimes(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[p] = os.lstat(p).st_mtime_ns
    return out


@pytest.fixture(scope="module")
def usr_include(tmp_path_factory):
    """A container with /usr/include added (relative paths, from /usr), and
    its manifest."""
    from conftest import Udos
    base = tmp_path_factory.mktemp("inc")
    u = Udos(base / "store")
    u.ok("init", u.store, store=False)
    r = u.ok("-q", "add", "-r", "include", cwd="/usr", timeout=600)
    manifest = base / "MANIFEST"
    manifest.write_bytes(r.stdout)
    return u, manifest, base


def test_real_tree_then_rerun_writes_nothing(usr_include):
    u, manifest, base = usr_include
    dest = base / "dest"
    r = u.ok("restore", manifest, dest, timeout=600)
    n = len(manifest.read_bytes().splitlines())
    assert n > 1000
    assert f"{n} files, {n} written".encode() in r.stderr
    # sha256sum -c of the manifest passes in DEST
    c = subprocess.run(["sha256sum", "-c", "--quiet", str(manifest)],
                       cwd=dest, capture_output=True, timeout=600)
    assert c.returncode == 0, c.stdout[-2000:] + c.stderr[-2000:]
    # the files are those of /usr/include (regular files, symlinks skipped
    # by add)
    want = tree_bytes("/usr/include")
    got = tree_bytes(dest / "include")
    assert got == {k: v for k, v in want.items() if k in got}
    assert len(got) == n

    # a second run writes nothing: every file left as it was
    before = mtimes(dest)
    r = u.ok("restore", manifest, dest, timeout=600)
    assert f"0 written (0 B), {n} unchanged, 0 failed".encode() in r.stderr
    assert mtimes(dest) == before

    # one file changed (same size), one gone: only those two are written
    first = manifest.read_bytes().splitlines()[0].decode().split("  ", 1)[1]
    last = manifest.read_bytes().splitlines()[-1].decode().split("  ", 1)[1]
    p = dest / first
    data = bytearray(p.read_bytes() or b"\0")
    data[0] ^= 1
    p.write_bytes(bytes(data))
    os.unlink(dest / last)
    r = u.ok("restore", "--json", manifest, dest, timeout=600)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    written = sorted(x["path"] for x in lines if x["status"] == "written")
    assert written == sorted({first, last})
    assert sum(x["status"] == "same" for x in lines) == n - len(written)
    c = subprocess.run(["sha256sum", "-c", "--quiet", str(manifest)],
                       cwd=dest, capture_output=True, timeout=600)
    assert c.returncode == 0


WEIRD = [
    b"new\nline",
    b"back\\slash",
    b"both\\n\nx",
    b"latin1-\xe9t\xe9",
    b"bad-utf8-\xff\xfe\x80",
    b"surrogate-utf8-\xed\xa0\x80",
    b"emoji-\xf0\x9f\x98\x80",
    b"quote\"tab\tcr\r",
    b" leading space",
    b"-dash",
    b"sub dir/\xc3\xa9t\xc3\xa9",
]


def make_weird(root):
    root = os.fsencode(root)
    for i, name in enumerate(WEIRD):
        p = os.path.join(root, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(b"content %d " % i + name)


@pytest.mark.parametrize("fmt", ["json", "sum"])
def test_weird_names_round_trip(udos, tmp_path, fmt):
    src = tmp_path / "w"
    make_weird(src)
    args = ["add", "-r", "w"] + (["--json"] if fmt == "json" else [])
    r = udos.ok(*args, cwd=tmp_path)
    if fmt == "json":
        # each path decodes back to the name's bytes (surrogateescape)
        names = {os.fsencode(json.loads(x)["path"])
                 for x in r.stdout.splitlines()}
        assert names == {b"w/" + n for n in WEIRD}
    manifest = tmp_path / "M"
    manifest.write_bytes(r.stdout)
    dest = tmp_path / "dest"
    udos.ok("restore", manifest, dest)
    assert tree_bytes(dest / "w") == tree_bytes(src)
    if fmt == "sum":
        c = subprocess.run(["sha256sum", "-c", "--quiet", str(manifest)],
                           cwd=dest, capture_output=True)
        assert c.returncode == 0, c.stdout + c.stderr
    # and from stdin
    dest2 = tmp_path / "dest2"
    udos.ok("restore", "-", dest2, input=r.stdout)
    assert tree_bytes(dest2 / "w") == tree_bytes(src)


def make_deep(root, depth=45):
    """Folders nested past PATH_MAX (made relative to descriptors); a file
    halfway and one at the bottom. Returns {relative path: content}."""
    os.makedirs(root)
    fd = os.open(root, os.O_RDONLY)
    rel, files = "", {}
    try:
        for i in range(depth):
            name = "d%02d_" % i + "x" * 100
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
            rel = os.path.join(rel, name)
            if i in (depth // 2, depth - 1):
                data = b"deep %d\n" % i
                f = os.open("file.txt", os.O_WRONLY | os.O_CREAT, 0o644,
                            dir_fd=fd)
                os.write(f, data)
                os.close(f)
                files[os.path.join(rel, "file.txt")] = data
    finally:
        os.close(fd)
    return files


def read_deep(root, rel):
    fd = os.open(root, os.O_RDONLY)
    parts = rel.split("/")
    try:
        for p in parts[:-1]:
            nfd = os.open(p, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        f = os.open(parts[-1], os.O_RDONLY, dir_fd=fd)
        try:
            return os.read(f, 1 << 20)
        finally:
            os.close(f)
    finally:
        os.close(fd)


@pytest.mark.parametrize("io", ["uring", "threads"])
def test_paths_longer_than_path_max(udos, tmp_path, io):
    files = make_deep(str(tmp_path / "deep"))
    assert max(len(p) for p in files) > 4096
    r = udos.ok("add", "--io", io, "--json", "-r", "deep", cwd=tmp_path)
    got = {json.loads(x)["path"]: json.loads(x)["hash"]
           for x in r.stdout.splitlines()}
    assert got == {"deep/" + p: sha(d) for p, d in files.items()}
    manifest = tmp_path / "M"
    manifest.write_bytes(r.stdout)
    udos.ok("restore", manifest, tmp_path / "dest")
    for p, d in files.items():
        assert read_deep(str(tmp_path / "dest"), "deep/" + p) == d


def test_missing_object_reported_rest_restored(udos, tmp_path):
    src = tmp_path / "src"
    for i in range(20):
        write(src / f"f{i:02d}", b"file %d\n" % i * (i + 1))
    r = udos.ok("add", "-r", "src", cwd=tmp_path)
    manifest = tmp_path / "M"
    manifest.write_bytes(r.stdout)
    gone = sha(b"file 7\n" * 8)
    udos.ok("delete", gone)
    dest = tmp_path / "dest"
    r = udos("restore", manifest, dest)
    assert r.returncode == 1
    err = r.stderr.decode().splitlines()
    assert err[0] == "udos restore: object not in the container 'src/f07'"
    assert "19 written" in err[-1] and "1 failed" in err[-1]
    assert sorted(os.listdir(dest / "src")) == \
        sorted(f"f{i:02d}" for i in range(20) if i != 7)
    for i in range(20):
        if i != 7:
            assert (dest / "src" / f"f{i:02d}").read_bytes() == \
                b"file %d\n" % i * (i + 1)


def test_damaged_pack_reported_rest_restored(udos, tmp_path):
    src = tmp_path / "src"
    for i in range(10):
        write(src / f"f{i}", (b"%d " % i) * 5000)
    r = udos.ok("add", "--compress", "no", "-r", "src", cwd=tmp_path)
    manifest = tmp_path / "M"
    manifest.write_bytes(r.stdout)
    packs = [p for p in (tmp_path / "store" / "packs").iterdir()
             if p.name.isdigit()]
    assert len(packs) == 1
    data = bytearray(packs[0].read_bytes())
    at = data.find(b"4 4 4 4 ")
    assert at >= 0
    data[at + 100] ^= 0x55
    packs[0].write_bytes(bytes(data))
    dest = tmp_path / "dest"
    r = udos("restore", manifest, dest)
    assert r.returncode == 1, r.stderr
    err = r.stderr.decode().splitlines()
    assert len(err) == 2 and err[0].endswith("'src/f4'"), err
    assert "cannot read the object" in err[0]
    assert not (dest / "src" / "f4").exists()  # no partial file left
    assert sorted(os.listdir(dest / "src")) == \
        sorted(f"f{i}" for i in range(10) if i != 4)


def test_paths_never_leave_dest(udos, tmp_path):
    h = udos.add(write(tmp_path / "x", b"x"))[0][0]
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "link")
    lines = [f"{h}  {p}" for p in
             ["/abs/olute", "../up", "a/../../up2", "a/..", "link/escape",
              "ok/./fine", "dir/"]]
    manifest = tmp_path / "M"
    manifest.write_text("\n".join(lines) + "\n")
    r = udos("restore", manifest, dest)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "absolute path refused '/abs/olute'" in err
    assert "'..' in a path refused '../up'" in err
    assert "'..' in a path refused 'a/../../up2'" in err
    assert "not a folder" in err and "'link/escape'" in err
    assert "no file name 'dir/'" in err
    assert "1 written" in err and "6 failed" in err
    assert os.listdir(outside) == []
    assert not (tmp_path / "up").exists() and not (tmp_path / "up2").exists()
    assert (dest / "ok" / "fine").read_bytes() == b"x"


def test_one_object_many_paths(udos, tmp_path):
    # more copies than one pass writes (32), and empty files
    src = tmp_path / "src"
    for i in range(70):
        write(src / f"same{i:02d}", b"identical\n")
        write(src / "empty" / f"e{i:02d}", b"")
    r = udos.ok("add", "-r", "src", cwd=tmp_path)
    manifest = tmp_path / "M"
    manifest.write_bytes(r.stdout)
    dest = tmp_path / "dest"
    (dest / "src").mkdir(parents=True)
    (dest / "src" / "same05").write_bytes(b"something else, longer\n")
    os.symlink("/etc/passwd", dest / "src" / "same06")
    udos.ok("restore", manifest, dest)
    assert tree_bytes(dest / "src") == tree_bytes(src)
    assert not os.path.islink(dest / "src" / "same06")


def test_malformed_manifest_and_usage(udos, tmp_path):
    manifest = tmp_path / "M"
    manifest.write_text("not a manifest line\n")
    r = udos("restore", manifest, tmp_path / "d")
    assert r.returncode == 2
    assert b"line 1" in r.stderr
    manifest.write_text('{"hash": "00", "path": "x"}\n')
    assert udos("restore", manifest, tmp_path / "d").returncode == 2
    assert udos("restore", manifest).returncode == 2
    r = udos("restore", tmp_path / "nope", tmp_path / "d")
    assert r.returncode == 1 and b"no such file" in r.stderr
    assert not (tmp_path / "d").exists()
