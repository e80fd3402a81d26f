"""The progress line: only on a tty, not with -q, cleared at the end."""
import os
import pty
import re
import select
import stat
import subprocess
import tempfile
import time

from conftest import UDOS, write


def run_with_tty_stderr(args):
    master, slave = pty.openpty()
    try:
        p = subprocess.run([UDOS] + args, stdout=subprocess.PIPE,
                           stderr=slave, timeout=60)
        os.close(slave)
        slave = -1
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the slave side is closed
                break
            if not chunk:
                break
            err += chunk
        return p, err
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)


def test_progress_only_on_tty(udos, tmp_path):
    paths = [write(tmp_path / "in" / ("f%03d" % i), os.urandom(512))
             for i in range(50)]
    udos.ok("add", "--to", "loose", "-r", tmp_path / "in")
    p, err = run_with_tty_stderr(["-C", udos.store, "pack"])
    assert p.returncode == 0, err
    assert b"packing: " in err
    assert err.endswith(b"\r\x1b[K")  # cleared
    assert p.stdout.startswith(b"packed 50 objects")
    # -q: nothing on the tty
    p, err = run_with_tty_stderr(["-q", "-C", udos.store, "validate"])
    assert p.returncode == 0 and err == b""
    # not a tty: no progress either
    r = udos.ok("validate", "--full")
    assert b"\r" not in r.stderr
    assert len(paths) == 50


# ---- a progress line that tells the truth, read off a real terminal ----

FRAME_SEP = b"\r\x1b[K"
UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
         "TiB": 1 << 40}
SIZE = r"([\d.]+ (?:B|KiB|MiB|GiB|TiB))"
LINE = re.compile(
    r"^(?P<label>[a-z ]+): (?P<done>\d+)/(?P<total>\d+)(?P<grow>\+?) "
    r"(?P<unit>\w+), " + SIZE.replace("(", "(?P<bdone>", 1) + "/" +
    SIZE.replace("(", "(?P<btotal>", 1) + r"\+? \((?P<pct>\d+)%\), "
    + SIZE.replace("(", "(?P<rate>", 1) +
    r"/s(?:, ETA (?P<eta>[\d:]+))?(?:, \d+ failed)?$")


def size_of(text):
    num, unit = text.split()
    return float(num) * UNITS[unit]


def human(n):
    """cli/output.c's human_size."""
    if n < 1024:
        return "%d B" % n
    v, u = float(n), -1
    while v >= 1024.0 and u < 5:
        v /= 1024.0
        u += 1
    return "%.1f %s" % (v, ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"][u])


def frames_on_tty(args, timeout=300):
    """Run udos with stderr on a pseudo-terminal; returns (returncode,
    [(seconds since start, progress line)], every other stderr text)."""
    master, slave = pty.openpty()
    out = tempfile.TemporaryFile()
    t0 = time.monotonic()
    p = subprocess.Popen([UDOS] + [str(a) for a in args], stdout=out,
                         stderr=slave)
    os.close(slave)
    raw, stamps = b"", []
    try:
        while True:
            assert time.monotonic() - t0 < timeout, "udos took too long"
            r, _, _ = select.select([master], [], [], 0.5)
            if not r:
                if p.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child has closed it
                break
            if not chunk:
                break
            # each progress line is written in one go
            for piece in chunk.split(FRAME_SEP):
                stamps.append((time.monotonic() - t0, piece))
            raw += chunk
    finally:
        os.close(master)
        p.wait(timeout=timeout)
    frames, other = [], b""
    for t, piece in stamps:
        text = piece.decode(errors="replace")
        if LINE.match(text):
            frames.append((t, LINE.match(text)))
        else:
            other += piece
    return p.returncode, frames, other


def regular_bytes(root):
    total = 0
    for d, _, files in os.walk(root):
        for f in files:
            st = os.lstat(os.path.join(d, f))
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def make_big(path, size):
    """`size` bytes that neither compress nor take long to make: a random
    block repeated (far beyond any compression window)."""
    block = os.urandom(64 << 20)
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
    return size


def test_add_large_file_counts_bytes_while_reading(udos, tmp_path):
    big = tmp_path / "big"
    size = make_big(big, 1 << 30)
    rc, frames, other = frames_on_tty(["-C", udos.store, "add", big])
    assert rc == 0, other
    assert len(frames) >= 3, other
    during = [m for _, m in frames if m["done"] == "0"]
    # the total is known from the start, the done bytes grow inside the
    # one file (they used to stay at 0 B until it was stored)
    assert all(m["total"] == "1" and m["btotal"] == human(size)
               for m in during)
    grown = [size_of(m["bdone"]) for m in during]
    assert len(set(grown)) >= 3 and grown == sorted(grown), grown
    # a rate once there is one to measure (the first frame may come before)
    assert all(size_of(m["rate"]) > 0 for m in during[1:])
    assert any(m["eta"] for m in during)
    # redrawn at least twice a second (some slack for a loaded machine)
    gaps = [b[0] - a[0] for a, b in zip(frames, frames[1:])]
    assert sorted(gaps)[len(gaps) // 2] <= 0.5, gaps
    last = frames[-1][1]
    assert (last["done"], last["pct"]) == ("1", "100")


def test_add_folder_totals_come_from_the_walk(udos, tmp_path):
    src = "/usr/include"
    want = regular_bytes(src)
    rc, frames, other = frames_on_tty(["-C", udos.store, "add", "-r", src])
    assert rc == 0, other
    assert frames, other
    assert all(size_of(m["btotal"]) > 0 for _, m in frames)
    final = [m for _, m in frames if not m["grow"]]
    assert final, [m.group(0) for _, m in frames]
    # once the walk is over the totals are every regular file and its size
    n = int(final[-1]["total"])
    assert final[-1]["btotal"] == human(want)
    assert final[-1]["done"] == str(n) and final[-1]["bdone"] == human(want)
    r = udos.ok("ls")
    assert n >= len(r.stdout.splitlines())  # duplicates share an object


def test_add_quiet_when_piped_or_q(udos, tmp_path):
    r = udos.ok("add", "-r", "/usr/include/linux")
    assert b"\r" not in r.stderr and b"adding:" not in r.stderr
    assert r.stderr.startswith(b"udos add: ")  # the summary only
    rc, frames, other = frames_on_tty(["-q", "-C", udos.store, "add", "-r",
                                       "/usr/include/linux"])
    assert rc == 0 and frames == [] and other == b""


def test_every_long_command_shows_both_measures(udos, tmp_path):
    """pack, repack, validate, backup, import, repair: done/total of their
    objects and of their bytes, a rate; the last line is complete."""
    udos.ok("add", "--to", "loose", "-r", "/usr/include/linux")
    other_store = tmp_path / "other"
    udos.ok("init", other_store, store=False)
    for args, label in [(["pack"], "packing"),
                        (["repack"], "repacking"),
                        (["validate", "--full"], "validating"),
                        (["backup", tmp_path / "bk"], "backing up"),
                        (["repair"], "repairing"),
                        (["-C", other_store, "import", udos.store],
                         "importing")]:
        cmd = args if args[0] == "-C" else ["-C", udos.store] + args
        rc, frames, other = frames_on_tty(cmd)
        assert rc == 0, (args, other)
        assert frames, (args, other)
        last = frames[-1][1]
        assert last["label"] == label
        assert int(last["total"]) > 0 and last["done"] == last["total"], \
            last.group(0)
        assert size_of(last["btotal"]) > 0, last.group(0)
        assert last["bdone"] == last["btotal"] and last["pct"] == "100", \
            last.group(0)
