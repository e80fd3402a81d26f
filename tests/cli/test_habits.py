"""Habits from dostore, rsdos and git: clean, optimize, `add -`, id
prefixes, --wait, delete beside a running packer. Real data from
/usr/include."""
import glob
import hashlib
import json
import os
import subprocess
import time

import pytest

from conftest import UDOS, sha


def include_files(n, start=0):
    """n regular, non-empty, distinct-content files of /usr/include."""
    out, seen = [], set()
    for p in sorted(glob.glob("/usr/include/**/*.h", recursive=True)):
        if not os.path.isfile(p) or os.path.islink(p):
            continue
        data = open(p, "rb").read()
        h = sha(data)
        if not data or h in seen:
            continue
        seen.add(h)
        out.append(p)
    out = out[start:start + n]
    assert len(out) == n, "not enough files in /usr/include"
    return out


def content(p):
    with open(p, "rb") as f:
        return f.read()


def loose_files(store):
    return sorted(os.path.relpath(p, os.path.join(store, "loose"))
                  for p in glob.glob(os.path.join(store, "loose", "*", "*")))


def js(r):
    return json.loads(r.stdout)


def hashes(udos, *args):
    return [h for h, _ in udos.add(*args)]


# ---- clean ----------------------------------------------------------------

def test_clean_removes_only_packed_loose_copies(udos):
    packed = include_files(60)
    only_loose = include_files(20, start=60)
    hp = hashes(udos, "--to", "loose", *packed)
    udos.ok("pack", "--no-clean")
    hl = hashes(udos, "--to", "loose", *only_loose)
    assert len(loose_files(udos.store)) == 80

    dry = js(udos.ok("clean", "--dry-run", "--json"))
    assert dry["dry_run"] and dry["removed"] == 60
    assert dry["loose_checked"] == 80 and dry["kept_damaged"] == 0
    assert dry["removed_bytes"] == sum(os.path.getsize(p) for p in packed)
    assert len(loose_files(udos.store)) == 80  # nothing removed

    r = js(udos.ok("clean", "--json"))
    assert r["removed"] == 60 and not r["dry_run"]
    left = udos.ok("ls", "--loose").stdout.decode().split()
    assert sorted(left) == sorted(hl)
    for h, p in zip(hp + hl, packed + only_loose):
        assert udos.cat(h) == content(p)
    assert udos("validate").returncode == 0
    # a second clean finds nothing more to do
    assert js(udos.ok("clean", "--json"))["removed"] == 0
    human = udos.ok("clean", "--dry-run").stdout.decode()
    assert human.startswith("would remove 0 loose copies")


def test_clean_keeps_loose_copy_of_a_damaged_record(udos):
    files = include_files(3)
    hs = hashes(udos, "--to", "loose", *files)
    udos.ok("pack", "--no-clean", "--compress", "no")
    meta = [json.loads(line) for line in
            udos.ok("ls", "--json", "--packed").stdout.splitlines()]
    bad = next(m for m in meta if m["hash"] == hs[1])
    pack = os.path.join(udos.store, "packs", str(bad["pack_id"]))
    with open(pack, "r+b") as f:  # flip one byte of its stored bytes
        f.seek(bad["offset"] + 10)
        b = f.read(1)
        f.seek(bad["offset"] + 10)
        f.write(bytes([b[0] ^ 0xFF]))
    r = js(udos.ok("clean", "--json"))
    assert r["removed"] == 2 and r["kept_damaged"] == 1
    rel = hs[1][:2] + "/" + hs[1][2:]
    assert loose_files(udos.store) == [rel]  # the last good copy stays
    assert sha(content(os.path.join(udos.store, "loose", rel))) == hs[1]
    assert b"kept 1 whose packed copy is damaged" in \
        udos.ok("clean", "--dry-run").stdout


def test_clean_vacuum_compacts_index(udos):
    files = include_files(200)
    hs = hashes(udos, *files)
    udos.ok("delete", *hs[:150])
    r = js(udos.ok("clean", "--vacuum", "--json"))
    assert r["vacuum"] and r["index_bytes_before"] > 0
    assert 0 < r["index_bytes_after"]
    for h, p in zip(hs[150:], files[150:]):
        assert udos.cat(h) == content(p)
    for h in hs[:150:30]:
        assert udos("cat", h).returncode == 1
    assert udos("validate").returncode == 0
    # a dry run never takes the lock nor compacts
    r = js(udos.ok("clean", "--vacuum", "--dry-run", "--json"))
    assert not r["vacuum"] and r["index_bytes_before"] == 0


# ---- optimize -------------------------------------------------------------

def test_optimize_packs_repacks_cleans(udos):
    loose = include_files(50)
    packed = include_files(30, start=50)
    hl = hashes(udos, "--to", "loose", *loose)
    hp = hashes(udos, *packed)
    udos.ok("delete", *hp[:10])
    r = js(udos.ok("optimize", "--json"))
    assert r["packed"] == 50 and r["corrupt"] == 0
    assert r["repacked"]  # deleted records held space
    assert r["cleaned"] == 50 and r["loose_before"] == 50
    assert r["loose_after"] == 0 and r["vacuum"]
    assert r["pack_bytes_after"] < r["pack_bytes_before"] + sum(
        os.path.getsize(p) for p in loose)
    assert loose_files(udos.store) == []
    st = js(udos.ok("status", "--json"))
    assert st["pack_files_size"] == st["packed_stored_size"]  # no dead bytes
    assert udos("validate", "--full").returncode == 0
    for h, p in zip(hl + hp[10:], loose + packed[10:]):
        assert udos.cat(h) == content(p)
    for h in hp[:10]:
        assert udos("cat", h).returncode == 1
    # nothing left to do: no repack, nothing packed
    r = js(udos.ok("optimize", "--json", "--no-vacuum"))
    assert (r["packed"], r["repacked"], r["cleaned"], r["vacuum"]) == \
        (0, False, 0, False)
    out = udos.ok("optimize").stdout.decode()
    assert out.startswith("packed 0 objects, packs left as they were")


def test_optimize_compress_rewrites(udos):
    files = include_files(20)
    hs = hashes(udos, "--compress", "no", *files)
    r = js(udos.ok("optimize", "--compress", "yes", "--json"))
    assert r["repacked"]
    assert r["pack_bytes_after"] < r["pack_bytes_before"] / 2  # C headers
    for line in udos.ok("ls", "--json").stdout.splitlines():
        assert json.loads(line)["codec"] == "zstd"
    for h, p in zip(hs, files):
        assert udos.cat(h) == content(p)
    assert udos("validate", "--full").returncode == 0


# ---- add - ----------------------------------------------------------------

@pytest.mark.parametrize("to", ["pack", "loose"])
def test_add_stdin_small(udos, to):
    p = include_files(1, start=5)[0]
    data = content(p)
    r = udos.ok("add", "--to", to, "-", input=data)
    assert r.stdout.decode() == sha(data) + "\n"  # the id alone, as git
    assert udos.cat(sha(data)) == data
    loc = json.loads(udos.ok("ls", "--json").stdout)["location"]
    assert loc == ("packed" if to == "pack" else "loose")
    # the same content by path gives the same id; again by stdin: not new
    assert hashes(udos, p) == [sha(data)]
    j = json.loads(udos.ok("add", "--to", to, "--json", "-",
                           input=data).stdout)
    assert j == {"hash": sha(data), "size": len(data), "path": "-",
                 "stored": False}
    # empty input is the empty object
    assert udos.ok("add", "-", input=b"").stdout.decode().strip() == sha(b"")
    # '-' goes alone
    assert udos("add", "-", p).returncode == 2


@pytest.mark.parametrize("to", ["pack", "loose"])
def test_add_stdin_50mb_stream(udos, to):
    """50 MB of real headers, streamed through a pipe: bounded memory."""
    chunks = [content(p) for p in include_files(400)]
    total, want = 0, hashlib.sha256()

    def start():
        return subprocess.Popen([UDOS, "-C", udos.store, "add", "--to", to,
                                 "-"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    # ru_maxrss counts what the child had before exec (this interpreter's
    # pages): the high-water mark of a one-chunk run is the baseline
    def finish(p):
        p.stdin.close()
        out, err = p.stdout.read(), p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        assert p.returncode == 0, err
        return out, ru.ru_maxrss

    p = start()
    p.stdin.write(chunks[0])
    _, base = finish(p)
    p = start()
    i = 0
    while total < 50 << 20:
        c = chunks[i % len(chunks)]
        p.stdin.write(c)
        want.update(c)
        total += len(c)
        i += 1
    out, maxrss = finish(p)
    assert out.decode() == want.hexdigest() + "\n"
    # the stream is never held whole (ru_maxrss is in KiB): 50 MB in
    # costs less than 16 MiB more than one header
    assert maxrss - base < 16 * 1024, (base, maxrss)
    got = hashlib.sha256()
    r = subprocess.Popen([UDOS, "-C", udos.store, "cat", want.hexdigest()],
                         stdout=subprocess.PIPE)
    n = 0
    for block in iter(lambda: r.stdout.read(1 << 20), b""):
        got.update(block)
        n += len(block)
    assert r.wait() == 0
    assert (n, got.hexdigest()) == (total, want.hexdigest())
    assert udos("validate").returncode == 0


# ---- id prefixes ------------------------------------------------------------

def test_unique_prefixes(udos):
    files = include_files(40)
    hp = hashes(udos, *files[:20])
    hl = hashes(udos, "--to", "loose", *files[20:])
    for h, p in ((hp[3], files[3]), (hl[4], files[24])):
        for k in (8, 11, 63):
            assert udos.cat(h[:k]) == content(p)
        assert udos.cat(h[:9].upper()) == content(p)
        line = udos.ok("ls", "-l", h[:8]).stdout.decode()
        assert line.split()[0] == h
    # several at once, in the order given
    assert udos.cat(hl[0][:8], hp[0][:10]) == \
        content(files[20]) + content(files[0])
    # ls of prefixes lists only those
    out = udos.ok("ls", hp[1][:8], hl[1][:8]).stdout.decode().split()
    assert out == [hp[1], hl[1]]
    # delete by prefix: packed and loose
    udos.ok("delete", hp[5][:8], hl[5][:12])
    for h in (hp[5], hl[5]):
        assert udos("cat", h).returncode == 1
    assert udos("validate").returncode == 0


def test_prefix_short_missing_malformed(udos):
    p = include_files(1)[0]
    (h,) = hashes(udos, p)
    r = udos("cat", h[:7])
    assert r.returncode == 2 and r.stdout == b""
    assert r.stderr.decode() == \
        "udos cat: id prefix '%s' is too short (at least 8 hex " \
        "digits)\n" % h[:7]
    for cmd in ("ls", "delete"):
        assert udos(cmd, h[:4]).returncode == 2
    missing = "0" * 63 if not h.startswith("0" * 8) else "f" * 63
    for cmd in ("cat", "ls", "delete"):
        r = udos(cmd, missing[:9])
        assert r.returncode == 1, (cmd, r.stderr)
        assert r.stderr.decode() == "udos %s: not found '%s'\n" % (
            cmd, missing[:9])
    # a missing prefix among good ids: the others are still written
    r = udos("cat", missing, h[:8])
    assert r.returncode == 1 and r.stdout == content(p)
    r = udos("cat", "xyzxyzxyz")
    assert r.returncode == 2
    assert r.stderr == b"udos cat: malformed hash 'xyzxyzxyz'\n"
    assert udos.cat(h) == content(p)  # nothing was deleted


def test_ambiguous_prefix(udos):
    """Two ids sharing 63 digits: one packed, one loose file named so (a
    damaged loose object, which listings still show)."""
    p = include_files(1, start=7)[0]
    (h,) = hashes(udos, p)
    twin = h[:-1] + ("0" if h[-1] != "0" else "1")
    d = os.path.join(udos.store, "loose", twin[:2])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, twin[2:]), "wb") as f:
        f.write(b"not the content of its name")
    other = include_files(1, start=8)[0]
    (h2,) = hashes(udos, other)
    first, second = sorted([h, twin])
    for cmd in ("cat", "ls", "delete"):
        for k in (8, 30, 63):
            r = udos(cmd, h2, h[:k])
            assert r.returncode == 2, (cmd, k, r.stderr)
            assert r.stdout == b""  # nothing done before every id is known
            assert r.stderr.decode() == (
                "udos %s: ambiguous id prefix (2 objects: %s %s) '%s'\n"
                % (cmd, first, second, h[:k]))
    assert udos.cat(h) == content(p) and udos.cat(h2) == content(other)
    # the full id is never ambiguous
    udos.ok("delete", h)
    assert udos("cat", h).returncode == 1


def test_prefix_in_sha1_container(tmp_path):
    from conftest import Udos
    u = Udos(tmp_path / "s1")
    u.ok("init", "--hash", "sha1", u.store, store=False)
    p = include_files(1, start=9)[0]
    (h,) = [x for x, _ in u.add(p)]
    assert len(h) == 40
    assert u.cat(h[:8]) == content(p)
    assert u("cat", h[:39] + "x").returncode == 2
    assert u("cat", "0" * 39).returncode == 1


# ---- --wait, and delete beside a running packer ---------------------------

class Holder:
    """A real pack writer held open: `udos add -` reading a pipe we keep
    open holds the writer lock until its input ends."""

    def __init__(self, udos):
        self.udos = udos
        self.data = content(include_files(1, start=11)[0])
        self.p = udos.popen("add", "-", stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.p.stdin.write(self.data[:100])
        self.p.stdin.flush()
        lock = os.path.join(udos.store, "writer.lock")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(lock) and \
                    open(lock).read().strip() == str(self.p.pid):
                return
            time.sleep(0.05)
        raise AssertionError("the holder never took the lock")

    def finish(self):
        self.p.stdin.write(self.data[100:])
        self.p.stdin.close()
        out = self.p.stdout.read()
        assert self.p.wait(timeout=120) == 0, self.p.stderr.read()
        assert out.decode() == sha(self.data) + "\n"

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def holder(udos):
    h = Holder(udos)
    yield h
    h.kill()


def test_without_wait_fails_fast(udos, holder):
    files = include_files(2, start=20)
    for args in (["pack"], ["repack"], ["add", files[0]], ["optimize"],
                 ["clean", "--vacuum"], ["import", udos.store]):
        t = time.monotonic()
        r = udos(*args)
        assert r.returncode == 3, (args, r.stderr)
        assert time.monotonic() - t < 20
        assert ("(pid %d)" % holder.p.pid).encode() in r.stderr, r.stderr
    # a bounded wait gives up after its time, naming whom it waited for
    t = time.monotonic()
    r = udos("pack", "--wait=1")
    assert r.returncode == 3
    assert time.monotonic() - t >= 1
    assert ("waiting for the pack writer (pid %d)" % holder.p.pid).encode() \
        in r.stderr
    assert ("writing packs (pid %d)" % holder.p.pid).encode() in r.stderr
    holder.finish()


def test_wait_queues_behind_the_holder(udos, holder):
    files = include_files(3, start=30)
    waiter = udos.popen("add", "--wait", *files, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
    packer = udos.popen("pack", "--wait=600", "--json",
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    assert waiter.poll() is None and packer.poll() is None  # queued
    holder.finish()
    out, err = waiter.communicate(timeout=300)
    assert waiter.returncode == 0, err
    assert ("udos add: waiting for the pack writer (pid %d) in '%s'"
            % (holder.p.pid, udos.store)).encode() in err
    assert [line.split()[0] for line in out.decode().splitlines()] == \
        [sha(content(p)) for p in files]
    out, err = packer.communicate(timeout=300)
    assert packer.returncode == 0, err
    assert b"waiting for the pack writer" in err
    assert json.loads(out)["packed"] == 0
    for p in files:
        assert udos.cat(sha(content(p))) == content(p)
    assert udos.cat(sha(holder.data)) == holder.data
    assert udos("validate").returncode == 0


def test_quiet_wait_says_nothing(udos, holder):
    p = include_files(1, start=40)[0]
    w = subprocess.Popen([UDOS, "-q", "-C", udos.store, "add", "--wait",
                          p], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1)
    holder.finish()
    out, err = w.communicate(timeout=300)
    assert w.returncode == 0 and err == b""
    assert out.decode().split()[0] == sha(content(p))


def test_wait_value_checked(udos):
    for bad in ("x", "-1", "1s"):
        r = udos("pack", "--wait=" + bad)
        assert r.returncode == 2, bad
        assert b"invalid value for --wait" in r.stderr
    # bare --wait takes no argument: the next word stays a path
    p = include_files(1, start=41)[0]
    assert hashes(udos, "--wait", p) == [sha(content(p))]


def test_delete_while_a_packer_runs(udos, holder):
    files = include_files(4, start=50)
    hl = hashes(udos, "--to", "loose", *files[:2])
    # loose-only objects go at once, without the writer lock
    t = time.monotonic()
    udos.ok("delete", hl[0], hl[1][:10])
    assert time.monotonic() - t < 20
    for h in hl:
        assert udos("cat", h).returncode == 1
    assert holder.p.poll() is None  # the packer is still at work
    # a packed object needs the lock: refused at once, naming the holder
    holder.finish()
    hp = hashes(udos, *files[2:])
    h2 = Holder(udos)
    try:
        r = udos("delete", hp[0])
        assert r.returncode == 3
        assert ("(pid %d)" % h2.p.pid).encode() in r.stderr
        assert udos.cat(hp[0]) == content(files[2])
        # with --wait it goes once the packer is done
        d = udos.popen("delete", "--wait", hp[0], stderr=subprocess.PIPE)
        time.sleep(1)
        assert d.poll() is None
        h2.finish()
        assert d.wait(timeout=300) == 0
    finally:
        h2.kill()
    assert udos("cat", hp[0]).returncode == 1
    assert udos.cat(hp[1]) == content(files[3])
    assert udos("validate").returncode == 0


def test_clean_and_optimize_progress_on_a_tty(udos):
    from test_progress import run_with_tty_stderr
    udos.add("--to", "loose", *include_files(30, start=60))
    udos.ok("pack", "--no-clean")
    p, err = run_with_tty_stderr(["-C", udos.store, "clean"])
    assert p.returncode == 0, err
    assert b"cleaning: " in err and err.endswith(b"\r\x1b[K")
    assert p.stdout.startswith(b"removed 30 loose copies")
    udos.add("--to", "loose", *include_files(10, start=90))
    p, err = run_with_tty_stderr(["-C", udos.store, "optimize"])
    assert p.returncode == 0, err
    assert b"packing: " in err and b"cleaning: " in err
    assert p.stdout.startswith(b"packed 10 objects")
    # piped: no progress
    assert b"\r" not in udos.ok("clean").stderr
