"""SIGKILL in the middle of writers loses nothing that was reported; a second
pack writer fails fast."""
import json
import os
import signal
import subprocess
import time

from conftest import sha, write


def make_tree(base, n, size):
    paths = []
    for i in range(n):
        paths.append(write(os.path.join(base, "d%02d" % (i % 16),
                                        "f%05d" % i), os.urandom(size)))
    return paths


def summary(u):
    r = u("validate", "--full", "--json")
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert r.returncode == 0, rows
    assert len(rows) == 1, rows  # no findings, just the summary
    return rows[0]["summary"]


def assert_validates_after_repair(u, tmp_path):
    # crash residue: torn bytes are no finding; intact records the commit
    # never covered are (the index is behind its packs), and nothing else
    r = u("validate", "--full", "--json")
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert {x.get("kind") for x in rows[:-1]} <= {"index-behind"}, rows
    # the next writer indexes the intact records and cuts the torn tail
    u.add("--to", "pack", write(tmp_path / "after", b"after the crash"))
    assert summary(u)["tail_bytes"] == 0


def test_kill_add_to_pack_loses_nothing_reported(udos, tmp_path):
    # The ingest engine group-commits every 20000 objects or 256 MiB (it has
    # no --commit-every): 640 MiB of incompressible files make commits, and
    # lines, appear well before the end.
    paths = make_tree(tmp_path / "src", 160, 4 << 20)
    cmd = ("add", "--to", "pack", "--compress", "no", "-r", tmp_path / "src")
    p = udos.popen(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = b""
    while got.count(b"\n") < 1:
        chunk = p.stdout.read1(65536)
        if not chunk:
            break
        got += chunk
    p.send_signal(signal.SIGKILL)
    rest, err = p.communicate(timeout=60)
    # killed mid-ingest, not after it finished
    assert p.returncode == -signal.SIGKILL, (p.returncode, err)
    got += rest
    lines = got.split(b"\n")[:-1]  # the last may be torn
    assert 1 <= len(lines) < len(paths)
    # every line printed is durable: its object reads back whole
    for line in lines:
        h, path = line.decode().split("  ", 1)
        with open(path, "rb") as f:
            assert sha(udos.cat(h)) == h == sha(f.read()), path
    assert_validates_after_repair(udos, tmp_path)
    # and still there after the repair
    hs = [l.split(b"  ")[0].decode() for l in lines]
    r = udos.ok("cat", *hs[:10])
    assert len(r.stdout) == min(10, len(hs)) * (4 << 20)
    # the same command again completes and stores everything
    r = udos.ok(*cmd)
    out = dict(l.split("  ", 1)[::-1] for l in r.stdout.decode().splitlines())
    assert sorted(out) == sorted(paths)
    for path in paths[:20]:
        with open(path, "rb") as f:
            assert out[path] == sha(f.read())
    assert summary(udos)["tail_bytes"] == 0


def plant_loose(store, data):
    h = sha(data)
    d = os.path.join(store, "loose", h[:2])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, h[2:]), "wb") as f:
        f.write(data)
    return h


def test_kill_pack_loses_nothing(udos, tmp_path):
    # loose objects planted directly in the documented layout (no fsyncs)
    objs = {}
    for _ in range(1500):
        data = os.urandom(40000)
        objs[plant_loose(udos.store, data)] = data
    total = 1500 * 40000
    p = udos.popen("pack", "--compress", "no", stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    pack = os.path.join(udos.store, "packs", "0")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and p.poll() is None:
        try:
            if os.path.getsize(pack) > total // 3:
                break
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=30)
    # every object is still readable: packed, loose, or both
    hs = list(objs)
    for i in range(0, len(hs), 300):
        r = udos.ok("cat", *hs[i:i + 300])
        assert r.stdout == b"".join(objs[h] for h in hs[i:i + 300])
    assert_validates_after_repair(udos, tmp_path)
    r = udos.ok("pack", "--json")
    assert udos.ok("ls", "--loose").stdout == b""
    n = len(udos.ok("ls", "--packed").stdout.split())
    assert n == len(objs) + 1


def wait_for_writer_lock(store, pid, timeout=20):
    """Until process `pid` holds the flock on <store>/writer.lock (seen in
    /proc/locks, without touching the lock ourselves)."""
    deadline = time.monotonic() + timeout
    lock = os.path.join(store, "writer.lock")
    while time.monotonic() < deadline:
        if os.path.exists(lock):
            ino = os.stat(lock).st_ino
            with open("/proc/locks") as f:
                for line in f:
                    w = line.split()
                    if "FLOCK" in w and str(pid) in w and \
                            any(x.endswith(":%d" % ino) for x in w):
                        return
        time.sleep(0.01)
    raise AssertionError("pid %d never took the writer lock" % pid)


def hold_writer_lock(udos, path):
    """A `udos add --to pack --files-from -` of `path` that holds the writer
    lock while it waits for more paths (its line comes only with a commit,
    once its stdin closes); returned once it holds the lock."""
    holder = udos.popen("add", "--to", "pack", "--files-from", "-",
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
    holder.stdin.write(path.encode() + b"\n")
    holder.stdin.flush()
    wait_for_writer_lock(udos.store, holder.pid)
    return holder


def test_second_writer_fails_fast(udos, tmp_path):
    a = write(tmp_path / "a", b"first")
    holder = hold_writer_lock(udos, a)
    try:
        write(tmp_path / "b", b"second")
        for args in (["pack"], ["add", "--to", "pack", tmp_path / "b"],
                     ["repack"], ["backup", tmp_path / "bk"]):
            t = time.monotonic()
            r = udos(*args, timeout=20)
            assert time.monotonic() - t < 10
            assert r.returncode == 3, (args, r.stderr)
            assert b"another process is writing packs" in r.stderr, r.stderr
        # readers and loose writers are not blocked
        udos.ok("add", "--to", "loose", tmp_path / "b")
        udos.ok("validate")
    finally:
        out, err = holder.communicate(timeout=30)  # closes its stdin
    assert holder.returncode == 0, err
    assert out.startswith(sha(b"first").encode()), (out, err)
    assert udos.cat(sha(b"first")) == b"first"
    udos.ok("pack")
