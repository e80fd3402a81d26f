"""Random damage to every file of a container: config, index.gen, the
record files, the packs, loose files and every file of index/. Whatever the
damage, every command ends with an exit status (never a signal) within its
timeout, a read either gives the object's exact bytes or fails with a
one-line error, and `repair` brings back every object whose record is
intact when only the index was hit."""
import os
import random
import shutil

import pytest

from conftest import Udos, sha, write

MODES = ("flip", "half", "empty", "remove")


def make_container(tmp_path):
    u = Udos(tmp_path / "orig")
    u.ok("init", u.store, "--pack-size", "40K", store=False)
    rnd = random.Random(7)
    paths = []
    for i in range(16):
        size = rnd.choice([0, 10, 300, 5000, 20000, 70000])
        data = rnd.randbytes(size) if i % 3 else b"text %d " % i * (size // 8)
        paths.append(write(tmp_path / "src" / ("f%02d" % i), data))
    packed = u.add("--to", "pack", *paths[:12])
    loose = u.add("--to", "loose", *paths[12:])
    u.ok("delete", packed[0][0])
    return u, packed[1:] + loose


def damage(path, mode, rnd):
    size = os.path.getsize(path)
    if mode == "remove":
        os.unlink(path)
        return
    if mode == "empty" or (mode == "half" and size):
        with open(path, "r+b") as f:
            f.truncate(0 if mode == "empty" else size // 2)
        return
    if not size:
        return
    with open(path, "r+b") as f:
        for _ in range(3):
            at = rnd.randrange(size)
            f.seek(at)
            b = f.read(1)
            f.seek(at)
            f.write(bytes([b[0] ^ (1 << rnd.randrange(8))]))


def no_signal(r, what, lines=3):
    """An exit status, never a signal; errors in a few lines (one per
    id asked for, when several were)."""
    assert r.returncode >= 0 and r.returncode <= 3, (what, r.returncode,
                                                     r.stderr[-2000:])
    if r.returncode:
        err = r.stderr.decode(errors="replace").strip()
        assert err and len(err.splitlines()) <= lines, (what, err)


def files_of(store):
    out = []
    for root, _, names in os.walk(store):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), store)
            if rel not in ("writer.lock",) and not rel.startswith("sandbox"):
                out.append(rel)
    return sorted(out)


@pytest.mark.parametrize("mode", MODES)
def test_damage_every_file(tmp_path, mode):
    orig, objs = make_container(tmp_path)
    rnd = random.Random(mode)
    want = [h for h, _ in objs]
    whole = b"".join(open(p, "rb").read() for _, p in objs)
    for rel in files_of(orig.store):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(orig.store, work)
        damage(os.path.join(work, rel), mode, rnd)
        u = Udos(work)
        what = (rel, mode)
        # all at once; one by one only when that fails
        r = u("cat", *want, timeout=120)
        no_signal(r, what, lines=len(want) + 2)
        if r.returncode == 0:
            assert r.stdout == whole, what
        for h in want if r.returncode else ():
            r = u("cat", h, timeout=120)
            no_signal(r, what + (h,))
            if r.returncode == 0:
                assert sha(r.stdout) == h, what + (h,)
        for args in (("ls",), ("status",), ("validate", "--full")):
            no_signal(u(*args, timeout=120), what + args)
        if rel.startswith("index/"):
            # only the index was hit: the packs hold everything
            r = u("repair", timeout=120)
            assert r.returncode == 0, (what, r.stderr)
            for h in want:
                assert sha(u.cat(h)) == h, what + (h,)
            v = u("validate", "--full", timeout=120)
            assert v.returncode == 0, (what, v.stdout, v.stderr)
        else:
            no_signal(u("repair", timeout=120), what + ("repair",))
        # a writer afterwards: never a signal, and what it says it stored
        # reads back
        r = u("add", write(tmp_path / "late", b"late %s" % rel.encode()),
              timeout=120)
        no_signal(r, what + ("add",))
        if r.returncode == 0:
            h = r.stdout.split()[0].decode()
            assert sha(u.cat(h)) == h
