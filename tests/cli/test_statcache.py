"""The stat cache: `add` skips reading files it has seen unchanged
(device, inode, size, mtime, ctime), through both read paths, never for a
file changed within the last seconds, never for an object no longer
stored; --no-cache reads everything; repair and a damaged cache file are
safe."""
import ctypes
import json
import os
import struct
import time

import pytest

from conftest import Udos, sha, write
from test_ingest import uring_works

WINDOW = 3.2  # UDOS_STATCACHE_WINDOW_S plus a margin
TIMEOUT = 600


def aged(seconds=WINDOW):
    """Let the files just written leave the racy window (their ctime
    cannot be set back)."""
    time.sleep(seconds)


def make_tree(root):
    files = {}
    for i in range(40):
        data = (b"file %d\n" % i) * (i * 37 + 1)
        files[write(os.path.join(root, "d%d" % (i % 4), "f%d" % i),
                    data)] = data
    # one medium (whole-file) and one streamed in chunks
    big = bytes(range(256)) * (70 * 1024 // 256)
    files[write(os.path.join(root, "medium"), big)] = big
    large = os.urandom(5 << 20)
    files[write(os.path.join(root, "large"), large)] = large
    return files


def rows(r):
    return [json.loads(l) for l in r.stdout.decode().splitlines()]


def by_path(r):
    return {x["path"]: x for x in rows(r)}


class FileWatch:
    """inotify (through ctypes) on every folder of a tree: which files were
    opened or read. The kernel reports opens and reads made through
    io_uring as well as through syscalls."""
    IN_ACCESS, IN_OPEN, IN_ISDIR = 0x1, 0x20, 0x40000000

    def __init__(self, root):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, ctypes.get_errno()
        self.wds = {}
        for dp, _, _ in os.walk(root):
            wd = self.libc.inotify_add_watch(
                self.fd, dp.encode(), self.IN_ACCESS | self.IN_OPEN)
            assert wd >= 0, ctypes.get_errno()
            self.wds[wd] = dp

    def touched(self):
        """Files (not folders) opened or read since the last call."""
        out = set()
        while True:
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return out
            i = 0
            while i < len(buf):
                wd, mask, _, ln = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16:i + 16 + ln].rstrip(b"\0").decode()
                if name and not mask & self.IN_ISDIR:
                    out.add(os.path.join(self.wds[wd], name))
                i += 16 + ln

    def close(self):
        os.close(self.fd)


@pytest.mark.parametrize("io", ["uring", "threads"])
def test_readd_reads_no_file(udos, tmp_path, io):
    """Proof that nothing is read: the kernel's own record of opens and
    reads (inotify) of the tree's files. The first add opens every file,
    the second none, --no-cache every one again."""
    if io == "uring" and not uring_works(tmp_path):
        pytest.skip("no io_uring here")
    src = str(tmp_path / "src")
    files = make_tree(src)
    aged()
    w = FileWatch(src)
    try:
        r = udos.ok("add", "--json", "--io", io, "-r", src)
        first = by_path(r)
        assert {p: x["hash"] for p, x in first.items()} == \
            {p: sha(d) for p, d in files.items()}
        assert not any(x.get("cached") for x in first.values())
        assert w.touched() == set(files)
        r = udos.ok("add", "--json", "--io", io, "-r", src)
        assert w.touched() == set()
        second = by_path(r)
        assert {p: x["hash"] for p, x in second.items()} == \
            {p: x["hash"] for p, x in first.items()}
        assert all(x["cached"] is True and x["stored"] is False and
                   x["size"] == len(files[p]) for p, x in second.items())
        assert ("%d unchanged (not read)" % len(files)).encode() in r.stderr
        r = udos.ok("add", "--json", "--no-cache", "--io", io, "-r", src)
        assert w.touched() == set(files)
        assert not any("cached" in x for x in rows(r))
    finally:
        w.close()
    udos.ok("validate")


def test_changed_same_size_and_mtime_is_read(udos, tmp_path):
    """Content changed in place, size kept and the mtime put back (touch
    -d): only the ctime tells, and it does."""
    p = write(tmp_path / "f", b"before\n")
    q = write(tmp_path / "g", b"unchanged\n")
    aged()
    udos.ok("add", "--json", p, q)
    st = os.stat(p)
    with open(p, "r+b") as f:
        f.write(b"AFTER!\n")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    st2 = os.stat(p)
    assert (st2.st_size, st2.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert st2.st_ctime_ns != st.st_ctime_ns
    aged()  # out of the racy window: the ctime alone must tell
    r = by_path(udos.ok("add", "--json", p, q))
    assert r[p]["hash"] == sha(b"AFTER!\n")
    assert "cached" not in r[p] and r[p]["stored"] is True
    assert r[q].get("cached") is True
    assert udos.cat(sha(b"AFTER!\n")) == b"AFTER!\n"


def test_recent_file_is_always_read(udos, tmp_path):
    p = write(tmp_path / "new", b"just written\n")
    for _ in range(2):
        r = by_path(udos.ok("add", "--json", p))
        assert "cached" not in r[p]
    # an old mtime does not help while the ctime is recent
    os.utime(p, (1e9, 1e9))
    r = by_path(udos.ok("add", "--json", p))
    assert "cached" not in r[p]
    aged()
    udos.ok("add", p)
    assert by_path(udos.ok("add", "--json", p))[p]["cached"] is True


def test_deleted_object_is_read_and_added_again(udos, tmp_path):
    p = write(tmp_path / "f", b"to be deleted\n")
    aged()
    udos.ok("add", p)
    assert by_path(udos.ok("add", "--json", p))[p]["cached"] is True
    udos.ok("delete", sha(b"to be deleted\n"))
    r = by_path(udos.ok("add", "--json", p))
    assert "cached" not in r[p] and r[p]["stored"] is True
    assert udos.cat(sha(b"to be deleted\n")) == b"to be deleted\n"
    # to loose, the same rules
    udos.ok("delete", sha(b"to be deleted\n"))
    r = by_path(udos.ok("add", "--to", "loose", "--json", p))
    assert "cached" not in r[p] and r[p]["stored"] is True
    assert by_path(udos.ok("add", "--to", "loose", "--json",
                           p))[p]["cached"] is True


def test_no_cache_repair_and_damage(udos, tmp_path):
    files = make_tree(tmp_path / "src")
    aged()
    udos.ok("add", "-r", tmp_path / "src")
    r = udos.ok("add", "--json", "--no-cache", "-r", tmp_path / "src")
    assert not any("cached" in x for x in rows(r))
    assert b"unchanged" not in r.stderr
    # --no-cache still records: the next run uses it
    r = udos.ok("add", "--json", "-r", tmp_path / "src")
    assert all(x.get("cached") for x in rows(r)) and len(rows(r)) == \
        len(files)
    # repair forgets the cache
    udos.ok("repair")
    assert not os.path.exists(os.path.join(udos.store, "stat.cache"))
    r = udos.ok("add", "--json", "-r", tmp_path / "src")
    assert not any("cached" in x for x in rows(r))
    # a damaged cache file is no cache (and validate does not mind it)
    cache = os.path.join(udos.store, "stat.cache")
    with open(cache, "r+b") as f:
        f.seek(100)
        f.write(b"\xff" * 8)
    r = udos.ok("add", "--json", "-r", tmp_path / "src")
    assert not any("cached" in x for x in rows(r))
    assert {x["hash"] for x in rows(r)} == {sha(d) for d in files.values()}
    r = udos.ok("add", "--json", "-r", tmp_path / "src")
    assert all(x.get("cached") for x in rows(r))
    udos.ok("validate")


def test_usr_include_readd(tmp_path):
    """The real tree: the second add answers from the cache, with the same
    manifest."""
    u = Udos(tmp_path / "c")
    u.ok("init", u.store, store=False)
    r1 = u.ok("add", "-r", "/usr/include", timeout=TIMEOUT)
    r2 = u.ok("add", "--json", "-r", "/usr/include", timeout=TIMEOUT)
    one = sorted(l.split("  ", 1)[::-1] for l in
                 r1.stdout.decode().splitlines())
    two = rows(r2)
    assert sorted([x["path"], x["hash"]] for x in two) == one
    now = time.time()
    recent = sum(1 for x in two
                 if now - os.stat(x["path"]).st_ctime < 60)
    cached = sum(1 for x in two if x.get("cached"))
    assert cached >= len(two) - recent and cached > 1000
    assert ("%d unchanged (not read)" % cached).encode() in r2.stderr
