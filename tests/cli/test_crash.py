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
    # crash residue (an unindexed tail) is not a finding: clean already
    summary(u)
    # the next writer removes the torn tail
    u.add("--to", "pack", write(tmp_path / "after", b"after the crash"))
    assert summary(u)["tail_bytes"] == 0


def test_kill_add_to_pack_loses_nothing_reported(udos, tmp_path):
    paths = make_tree(tmp_path / "src", 3000, 12000)
    p = udos.popen("add", "--to", "pack", "--commit-every", "100", "-r",
                   tmp_path / "src", stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    got = b""
    while got.count(b"\n") < 250:
        chunk = p.stdout.read1(65536)
        if not chunk:
            break
        got += chunk
    p.send_signal(signal.SIGKILL)
    rest, _ = p.communicate(timeout=30)
    got += rest
    lines = got.split(b"\n")[:-1]  # the last may be torn
    assert len(lines) >= 100
    for line in lines:
        h, path = line.decode().split("  ", 1)
        with open(path, "rb") as f:
            assert udos.cat(h) == f.read(), path
    assert_validates_after_repair(udos, tmp_path)
    # and everything reported is still there after the repair
    r = udos.ok("cat", *[l.split(b"  ")[0].decode() for l in lines[:50]])
    assert len(r.stdout) == 50 * 12000


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


def test_second_writer_fails_fast(udos, tmp_path):
    a = write(tmp_path / "a", b"first")
    holder = udos.popen("add", "--to", "pack", "--commit-every", "1",
                        "--files-from", "-", stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        holder.stdin.write(a.encode() + b"\n")
        holder.stdin.flush()
        # once its first line is out, it holds the writer lock
        line = holder.stdout.readline()
        assert line.startswith(sha(b"first").encode()), holder.stderr.peek()
        write(tmp_path / "b", b"second")
        for args in (["pack"], ["add", "--to", "pack", tmp_path / "b"],
                     ["repack"]):
            t = time.monotonic()
            r = udos(*args, timeout=20)
            assert time.monotonic() - t < 10
            assert r.returncode == 3, (args, r.stderr)
            assert b"another process is writing packs" in r.stderr, r.stderr
        # readers and loose writers are not blocked
        assert udos.cat(sha(b"first")) == b"first"
        udos.ok("add", "--to", "loose", tmp_path / "b")
        udos.ok("validate")
    finally:
        out, err = holder.communicate(timeout=30)  # closes its stdin
    assert holder.returncode == 0, err
    udos.ok("pack")
