"""A full disk: a clear one-line error naming the cause, exit 3, never a
signal, and nothing already stored is lost; once space is back the same
command works, and delete + repack win space back on a nearly full disk.
Uses a small tmpfs and a small ext4 on a loop device (needs root to mount;
skipped otherwise)."""
import errno
import hashlib
import os
import shutil
import subprocess

import pytest

from conftest import Udos, sha, write


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6M", "tmpfs",
                        str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.decode().strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


@pytest.mark.parametrize("to", ["pack", "loose"])
def test_full_disk(small_fs, tmp_path, to):
    u = Udos(small_fs / "store")
    u.ok("init", u.store, store=False)
    small = [write(tmp_path / f"s{i}", b"small %d\n" % i * 100) for i in range(20)]
    before = u.add("--to", to, *small)
    assert len(before) == 20
    big = write(tmp_path / "big", os.urandom(8 << 20))
    r = u("add", "--to", to, "--compress", "no", big)
    assert r.returncode == 3, r.stderr.decode()
    err = r.stderr.decode().strip().splitlines()
    assert any("no space left on device" in line for line in err), err
    # nothing already stored is lost, and the container is sound
    for h, p in before:
        assert sha(u.cat(h)) == h
    # free the space the failed write may hold, then check everything
    u.ok("pack") if to == "loose" else None
    v = u("validate", "--full")
    assert v.returncode == 0, v.stdout + v.stderr
    assert not os.listdir(os.path.join(u.store, "sandbox"))


# ---- every writer, at many fill levels, on tmpfs and on ext4 ---------------
#
# ext4 matters as well as tmpfs: a failed fallocate there keeps the blocks it
# got, so RocksDB's preallocation (4 MiB per MANIFEST, 70 MiB per WAL by
# default) took the last free space of a nearly full disk.

MiB = 1 << 20
FREE_LEVELS = [0, 64 << 10, 512 << 10, 1 * MiB, 3 * MiB]
FEWER_LEVELS = [0, 512 << 10, 3 * MiB]  # for the slower set-ups
LONG = 300  # seconds: the machine is shared


def _mount_ext4(tmp_path, mnt, size_mib):
    if not shutil.which("mkfs.ext4"):
        pytest.skip("no mkfs.ext4")
    img = tmp_path / "ext4.img"
    with open(img, "wb") as f:
        f.truncate(size_mib * MiB)
    r = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(img)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("mkfs.ext4: " + r.stderr.decode().strip())
    return subprocess.run(["mount", "-o", "loop", str(img), str(mnt)],
                          capture_output=True)


@pytest.fixture(params=["tmpfs", "ext4"])
def fs16(request, tmp_path):
    """A 16 MiB file system of the given kind (needs root)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if request.param == "tmpfs":
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16M",
                            "tmpfs", str(mnt)], capture_output=True)
    else:
        r = _mount_ext4(tmp_path, mnt, 16)
    if r.returncode != 0:
        pytest.skip("cannot mount %s here: %s" %
                    (request.param, r.stderr.decode().strip()))
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True)
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _avail(mnt):
    os.sync()
    st = os.statvfs(mnt)
    return st.f_bavail * st.f_frsize


def fill(mnt, free):
    """Leave about `free` bytes on mnt with one filler file."""
    path = os.path.join(mnt, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        want = size + _avail(mnt) - free
        while want > size:
            try:
                os.posix_fallocate(fd, 0, want)
                break
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                want -= 16 << 10
    finally:
        os.close(fd)
    got = _avail(mnt)
    assert got <= free + (64 << 10), (got, free)
    return path


def unfill(mnt):
    os.unlink(os.path.join(mnt, "filler"))
    os.sync()


def rand_files(d, n, size, tag):
    """n files of incompressible bytes -> {sha: path}."""
    out = {}
    for i in range(n):
        data = hashlib.sha256(b"%s %d" % (tag.encode(), i)).digest() + \
            os.urandom(size)
        out[sha(data)] = write(d / ("%s%03d" % (tag, i)), data)
    return out


def check_clean(r, store, what):
    """Success, or exit 3 with a line naming the container and the cause;
    never a signal."""
    err = r.stderr.decode()
    assert r.returncode in (0, 3), (what, r.returncode, err)
    if r.returncode == 3:
        lines = [ln for ln in err.splitlines()
                 if "no space left on device" in ln and str(store) in ln]
        assert lines, (what, err)
    assert "Assertion" not in err and "terminate called" not in err, err


def check_all(u, objs):
    """Every object in objs {sha: path} reads back identical."""
    hs = sorted(objs)
    data = u.cat(*hs)
    at = 0
    for h in hs:
        with open(objs[h], "rb") as f:
            want = f.read()
        assert data[at:at + len(want)] == want, h
        at += len(want)
    assert at == len(data)


def acked(r, files):
    """ids an add or import printed: acknowledged, so must be kept."""
    out = {}
    for line in r.stdout.decode().splitlines():
        h = line.split()[0]
        out[h] = files[h]
    return out


def _validate(u):
    v = u("validate", "--full", timeout=LONG)
    assert v.returncode == 0, (v.stdout + v.stderr).decode()


def no_orphans(u):
    """After a writer that succeeded: what failed opens left in index/ is
    gone (RocksDB drops files no manifest refers to at its next open)."""
    names = os.listdir(os.path.join(u.store, "index"))
    assert len([n for n in names if n.startswith("MANIFEST-")]) == 1, names
    assert not [n for n in names if n.endswith(".dbtmp")], names
    assert len([n for n in names if n.endswith(".log")]) <= 2, names
    assert "LOG" not in names, names  # the info log is kept elsewhere


@pytest.mark.parametrize("free", FREE_LEVELS)
@pytest.mark.parametrize("to", ["pack", "loose"])
def test_add_at_fill_levels(fs16, tmp_path, to, free):
    u = Udos(fs16 / "store")
    u.ok("init", u.store, store=False)
    before = rand_files(tmp_path / "a", 12, 20 << 10, "early")
    u.ok("add", "--to", to, *before.values(), timeout=LONG)
    fill(fs16, free)
    new = rand_files(tmp_path / "b", 16, 256 << 10, "late")
    r = u("add", "--to", to, "--compress", "no", *new.values(), timeout=LONG)
    check_clean(r, u.store, "add")
    kept = dict(before, **acked(r, new))
    check_all(u, kept)
    unfill(fs16)
    _validate(u)
    r = u("add", "--to", to, *new.values(), timeout=LONG)
    assert r.returncode == 0, r.stderr.decode()
    check_all(u, dict(before, **new))
    _validate(u)
    no_orphans(u)


@pytest.mark.parametrize("free", FREE_LEVELS)
def test_pack_at_fill_levels(fs16, tmp_path, free):
    u = Udos(fs16 / "store")
    u.ok("init", u.store, store=False)
    packed = rand_files(tmp_path / "a", 8, 20 << 10, "packed")
    u.ok("add", *packed.values(), timeout=LONG)
    loose = rand_files(tmp_path / "b", 10, 200 << 10, "loose")
    u.ok("add", "--to", "loose", *loose.values(), timeout=LONG)
    fill(fs16, free)
    r = u("pack", timeout=LONG)
    check_clean(r, u.store, "pack")
    check_all(u, dict(packed, **loose))
    unfill(fs16)
    _validate(u)
    u.ok("pack", timeout=LONG)
    check_all(u, dict(packed, **loose))
    _validate(u)


@pytest.mark.parametrize("free", FEWER_LEVELS)
def test_repack_at_fill_levels(fs16, tmp_path, free):
    u = Udos(fs16 / "store")
    u.ok("init", u.store, store=False)
    objs = rand_files(tmp_path / "a", 16, 200 << 10, "obj")
    u.ok("add", "--compress", "no", *objs.values(), timeout=LONG)
    gone = sorted(objs)[:2]
    u.ok("delete", *gone, timeout=LONG)
    kept = {h: p for h, p in objs.items() if h not in gone}
    fill(fs16, free)
    r = u("repack", timeout=LONG)
    check_clean(r, u.store, "repack")
    check_all(u, kept)
    unfill(fs16)
    _validate(u)
    u.ok("repack", timeout=LONG)
    check_all(u, kept)
    _validate(u)


@pytest.mark.parametrize("free", FREE_LEVELS)
def test_delete_and_repack_reclaim_a_nearly_full_disk(fs16, tmp_path, free):
    """Space must be reclaimable when the disk is (nearly) full: packs of
    256 KiB, most objects deleted, then repack."""
    u = Udos(fs16 / "store")
    u.ok("init", u.store, "--pack-size", "256K", store=False)
    objs = rand_files(tmp_path / "a", 24, 120 << 10, "obj")
    u.ok("add", "--compress", "no", *objs.values(), timeout=LONG)
    fill(fs16, free)
    gone = sorted(objs)[:18]
    kept = {h: p for h, p in objs.items() if h not in gone}
    r = u("delete", *gone, timeout=LONG)
    check_clean(r, u.store, "delete")
    if free >= 64 << 10:
        assert r.returncode == 0, r.stderr.decode()
    r2 = u("repack", timeout=LONG)
    check_clean(r2, u.store, "repack")
    if free >= 512 << 10:
        assert r2.returncode == 0, r2.stderr.decode()
    check_all(u, kept)
    if r.returncode == 0 and r2.returncode == 0:
        # the space came back, with the filler still there
        assert _avail(fs16) > free + 1 * MiB
    unfill(fs16)
    _validate(u)
    if r.returncode:
        u.ok("delete", *gone, timeout=LONG)
    u.ok("repack", timeout=LONG)
    check_all(u, kept)
    _validate(u)
    no_orphans(u)


@pytest.mark.parametrize("free", FEWER_LEVELS)
def test_import_at_fill_levels(fs16, tmp_path, free):
    src = Udos(tmp_path / "src")
    src.ok("init", src.store, store=False)
    objs = rand_files(tmp_path / "a", 16, 256 << 10, "src")
    src.ok("add", "--compress", "no", *objs.values(), timeout=LONG)
    u = Udos(fs16 / "store")
    u.ok("init", u.store, store=False)
    before = rand_files(tmp_path / "b", 8, 20 << 10, "early")
    u.ok("add", *before.values(), timeout=LONG)
    fill(fs16, free)
    r = u("import", src.store, timeout=LONG)
    check_clean(r, u.store, "import")
    check_all(u, dict(before, **acked(r, objs)))
    unfill(fs16)
    _validate(u)
    u.ok("import", src.store, timeout=LONG)
    check_all(u, dict(before, **objs))
    _validate(u)


@pytest.mark.parametrize("free", FEWER_LEVELS)
def test_backup_into_a_full_disk(fs16, tmp_path, free):
    src = Udos(tmp_path / "src")
    src.ok("init", src.store, store=False)
    early = rand_files(tmp_path / "a", 8, 20 << 10, "early")
    src.ok("add", *early.values(), timeout=LONG)
    dest = fs16 / "copy"
    src.ok("backup", dest, timeout=LONG)
    late = rand_files(tmp_path / "b", 16, 256 << 10, "late")
    src.ok("add", "--compress", "no", *late.values(), timeout=LONG)
    fill(fs16, free)
    r = src("backup", dest, timeout=LONG)
    check_clean(r, dest, "backup")
    d = Udos(dest)
    check_all(d, early)  # the previous backup is still usable
    unfill(fs16)
    _validate(d)
    src.ok("backup", dest, timeout=LONG)
    check_all(d, dict(early, **late))
    _validate(d)


@pytest.mark.parametrize("free", FEWER_LEVELS)
def test_optimize_at_fill_levels(fs16, tmp_path, free):
    """optimize = pack + repack + clean + compaction, each step short of
    space: whatever step fails, every object stays readable."""
    u = Udos(fs16 / "store")
    u.ok("init", u.store, store=False)
    objs = rand_files(tmp_path / "a", 12, 200 << 10, "obj")
    u.ok("add", "--compress", "no", *objs.values(), timeout=LONG)
    gone = sorted(objs)[:3]
    u.ok("delete", *gone, timeout=LONG)
    loose = rand_files(tmp_path / "b", 8, 100 << 10, "loose")
    u.ok("add", "--to", "loose", *loose.values(), timeout=LONG)
    kept = {h: p for h, p in objs.items() if h not in gone}
    kept.update(loose)
    fill(fs16, free)
    r = u("optimize", timeout=LONG)
    check_clean(r, u.store, "optimize")
    check_all(u, kept)
    unfill(fs16)
    _validate(u)
    u.ok("optimize", timeout=LONG)
    check_all(u, kept)
    _validate(u)


@pytest.mark.parametrize("free", FEWER_LEVELS)
def test_restore_into_a_full_disk(fs16, tmp_path, free):
    """Each file that does not fit is reported (naming it and the cause)
    and the rest go on; the container is untouched; with space back a
    re-run completes the tree."""
    u = Udos(tmp_path / "store")
    u.ok("init", u.store, store=False)
    objs = rand_files(tmp_path / "a", 24, 256 << 10, "obj")
    r = u("add", "--compress", "no", "-r", tmp_path / "a", timeout=LONG)
    assert r.returncode == 0, r.stderr.decode()
    manifest = tmp_path / "tree.sha256"
    manifest.write_bytes(r.stdout.replace(str(tmp_path / "a").encode()
                                          + b"/", b""))
    dest = fs16 / "out"
    fill(fs16, free)
    r = u("restore", manifest, dest, timeout=LONG)
    err = r.stderr.decode()
    assert r.returncode in (0, 1, 3), (r.returncode, err)
    if r.returncode == 3:  # DEST itself could not be made
        assert "no space left on device" in err and str(dest) in err, err
    if r.returncode == 1:
        # one line per file that did not fit, named as in the manifest
        assert "no space left on device 'obj" in err, err
    assert "Assertion" not in err and "terminate called" not in err, err
    check_all(u, objs)
    unfill(fs16)
    u.ok("restore", manifest, dest, timeout=LONG)
    c = subprocess.run(["sha256sum", "-c", "--quiet", manifest], cwd=dest,
                       capture_output=True)
    assert c.returncode == 0, c.stdout + c.stderr


@pytest.mark.parametrize("free", [0, 512 << 10, 3 * MiB])
def test_pack_of_real_files_onto_a_full_disk(fs16, tmp_path, free):
    """The reported case: loose files of this machine's headers, then
    `pack` runs out of space (it aborted in RocksDB's info log writer)."""
    src = "/usr/include/linux"
    if not os.path.isdir(src):
        pytest.skip("no " + src)
    u = Udos(fs16 / "store")
    u.ok("init", u.store, store=False)
    r = u("add", "--to", "loose", "-r", src, timeout=LONG)
    check_clean(r, u.store, "add")
    files = {}
    for line in r.stdout.decode().splitlines():
        h, p = line.split("  ", 1)
        files[h] = p
    assert files
    fill(fs16, free)
    r = u("pack", timeout=LONG)
    check_clean(r, u.store, "pack")
    check_all(u, files)
    unfill(fs16)
    _validate(u)
    u.ok("pack", timeout=LONG)
    check_all(u, files)
    _validate(u)


@pytest.mark.parametrize("free", FEWER_LEVELS)
def test_repair_on_a_full_disk(fs16, tmp_path, free):
    """repair builds its index beside the old one: short of space it fails
    cleanly and leaves the old index (or none, if there was none) and no
    half-built one; with space back it succeeds."""
    u = Udos(fs16 / "store")
    u.ok("init", u.store, store=False)
    objs = rand_files(tmp_path / "a", 400, 2 << 10, "obj")
    u.ok("add", "--compress", "no", *objs.values(), timeout=LONG)
    fill(fs16, free)
    r = u("repair", timeout=LONG)
    check_clean(r, u.store, "repair")
    assert not os.path.exists(os.path.join(u.store, "index.repair"))
    check_all(u, objs)
    shutil.rmtree(os.path.join(u.store, "index"))
    r = u("repair", timeout=LONG)
    check_clean(r, u.store, "repair")
    assert not os.path.exists(os.path.join(u.store, "index.repair"))
    unfill(fs16)
    u.ok("repair", timeout=LONG)
    check_all(u, objs)
    _validate(u)
