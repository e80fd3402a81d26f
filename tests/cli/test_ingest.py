"""`add` on the ingest engine: io paths, fallback, memory cap, symlinks,
odd names, empty files, hard links, vanished files, progress and summary."""
import json
import os
import random
import subprocess

import pytest

from conftest import UDOS, Udos, sha, write
from test_progress import run_with_tty_stderr

NO_URING = {"UDOS_INGEST_NO_URING": "1"}


def manifest(r):
    """stdout of add -> sorted list of lines (completion order varies)."""
    return sorted(r.stdout.split(b"\n")[:-1])


def make_tree(base):
    base = str(base)
    files = {
        "empty": b"",
        "small": b"small file\n",
        "head": os.urandom(64 * 1024),           # exactly one head slot
        "head1": os.urandom(64 * 1024 + 1),
        "text": b"compressible text line\n" * 20000,
        "medium": os.urandom(3 << 20),
        "stream": os.urandom(9 << 20) + b"z" * (2 << 20),
        "sub/dup-of-small": b"small file\n",
        "sub/deeper/x": os.urandom(5000),
    }
    for n, d in files.items():
        write(os.path.join(base, n), d)
    return files


def uring_works(tmp_path):
    u = Udos(tmp_path / "probe")
    u.ok("init", u.store, store=False)
    r = u("-q", "add", "--io=uring", write(tmp_path / "p", b"p"))
    return r.returncode == 0


@pytest.mark.parametrize("to", ["pack", "loose"])
def test_uring_and_threads_store_the_same(tmp_path, to):
    if not uring_works(tmp_path):
        pytest.skip("no io_uring here")
    files = make_tree(tmp_path / "src")
    outs, lss = [], []
    for io in ("uring", "threads"):
        u = Udos(tmp_path / ("store-" + io))
        u.ok("init", u.store, store=False)
        r = u.ok("-q", "add", "--to", to, "--io=" + io, "-r", ".",
                 cwd=tmp_path / "src")
        assert r.stderr == b""
        outs.append(manifest(r))
        lss.append(sorted(u.ok("ls", "-l").stdout.splitlines()))
        u.ok("validate", "--full")
    assert outs[0] == outs[1]
    assert lss[0] == lss[1]
    assert len(outs[0]) == len(files)
    assert len(lss[0]) == len(set(files.values()))
    chk = subprocess.run(["sha256sum", "-c", "--strict"],
                         input=b"\n".join(outs[0]) + b"\n",
                         cwd=tmp_path / "src", capture_output=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr


def test_auto_falls_back_with_one_notice(udos, tmp_path):
    paths = [write(tmp_path / ("f%d" % i), b"%d" % i) for i in range(5)]
    r = udos("add", "--io=auto", *paths, env=NO_URING)
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    assert err.count("io_uring unavailable") == 1, err
    assert err.count("reading with threads") == 1, err
    assert [l.split("  ", 1)[1] for l in r.stdout.decode().splitlines()] \
        == paths
    # -q keeps the notice (and the summary) off stderr
    r = udos("-q", "add", *paths, env=NO_URING)
    assert r.returncode == 0 and r.stderr == b""


def test_uring_forced_unavailable_is_a_store_error(udos, tmp_path):
    p = write(tmp_path / "f", b"data")
    r = udos("add", "--io=uring", p, env=NO_URING)
    assert r.returncode == 3
    assert r.stdout == b""
    err = r.stderr.decode()
    assert "udos add: cannot set up io_uring" in err, err
    assert len(err.splitlines()) == 1, err  # no summary of a run not made
    # the threads path is unaffected by the variable
    r = udos.ok("add", "--io=threads", p, env=NO_URING)
    assert r.stdout.startswith(sha(b"data").encode())


@pytest.mark.parametrize("to", ["pack", "loose"])
def test_max_inflight_below_file_size(udos, tmp_path, to):
    data = [os.urandom(20 << 20), os.urandom(5 << 20), b"t" * (3 << 20),
            os.urandom(1000)]
    paths = [write(tmp_path / ("f%d" % i), d) for i, d in enumerate(data)]
    r = udos.ok("-q", "add", "--to", to, "--max-inflight", "1M", *paths)
    out = [l.split("  ", 1) for l in r.stdout.decode().splitlines()]
    assert out == [[sha(d), p] for d, p in zip(data, paths)]
    for d in data:
        assert udos.cat(sha(d)) == d
    udos.ok("validate", "--full")


def many_medium_trees(base):
    """300 files of 100 kB, and 40 of 64 KiB..4 MiB: more files past the
    head than the ring has fixed-file slots at the default depth."""
    rnd = random.Random(8)
    for i in range(300):
        write(os.path.join(base, "k100", "f%03d" % i), os.urandom(100_000))
    for i in range(40):
        n = rnd.randint(64 << 10, 4 << 20)
        write(os.path.join(base, "mix", "m%02d" % i), os.urandom(n))


@pytest.mark.parametrize("to", ["pack", "loose"])
def test_many_files_past_the_head(tmp_path, to):
    """Issue 8: `add` died of SIGSEGV with the default --io auto (io_uring)
    on a folder of 300 files of 100 kB."""
    many_medium_trees(tmp_path / "src")
    ios = ["auto", "threads"] + (["uring"] if uring_works(tmp_path) else [])
    outs = []
    for io in ios:
        u = Udos(tmp_path / ("store-" + io))
        u.ok("init", u.store, store=False)
        r = u("-q", "add", "--to", to, "--io", io, "-r", ".",
              cwd=tmp_path / "src", timeout=300)
        assert r.returncode == 0, (io, r.returncode, r.stderr[-2000:])
        assert len(r.stdout.splitlines()) == 340
        outs.append(manifest(r))
        u.ok("validate", "--full", timeout=300)
    assert all(o == outs[0] for o in outs)
    chk = subprocess.run(["sha256sum", "-c", "--quiet", "--strict"],
                         input=b"\n".join(outs[0]) + b"\n",
                         cwd=tmp_path / "src", capture_output=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr


def test_follow_symlinks(udos, tmp_path):
    d = tmp_path / "d"
    write(d / "real", b"real")
    write(tmp_path / "outside" / "o", b"outside file")
    os.symlink(str(tmp_path / "outside" / "o"), d / "link")
    os.symlink(str(tmp_path / "outside"), d / "dirlink")
    r = udos("add", "-v", "-r", str(d))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "%s  %s/real\n" % (sha(b"real"), d)
    assert ("skipping symlink '%s/link'" % d).encode() in r.stderr
    r = udos.ok("-q", "add", "--follow-symlinks", "-r", str(d))
    got = dict(l.split("  ", 1)[::-1] for l in r.stdout.decode().splitlines())
    assert got == {str(d / "real"): sha(b"real"),
                   str(d / "link"): sha(b"outside file"),
                   str(d / "dirlink" / "o"): sha(b"outside file")}
    assert udos.cat(sha(b"outside file")) == b"outside file"


def test_odd_names_pass_sha256sum(udos, tmp_path):
    src = os.fsencode(str(tmp_path / "src"))
    names = [b"new\nline", b"back\\slash", b"with  two spaces",
             b" leading space", b"latin1-\xe9\xff", b"both\\and\nnl",
             b"tab\there"]
    os.makedirs(src)
    for i, n in enumerate(names):
        with open(os.path.join(src, n), "wb") as f:
            f.write(b"content %d" % i)
    for to in ("pack", "loose"):
        r = udos.ok("-q", "add", "--to", to, "-r", ".", cwd=src)
        assert len(r.stdout.split(b"\n")) > len(names)
        chk = subprocess.run(["sha256sum", "-c", "--strict"],
                             input=r.stdout, cwd=src, capture_output=True)
        assert chk.returncode == 0, chk.stdout + chk.stderr
        assert chk.stdout.count(b": OK") == len(names)
    # named through --files-from -0, in order, as JSON
    r = udos.ok("-q", "add", "--json", "--files-from", "-", "-0", cwd=src,
                input=b"\0".join(names) + b"\0")
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert [x["path"].encode() for x in rows[:4]] == names[:4]
    assert [x["hash"] for x in rows] == \
        [sha(b"content %d" % i) for i in range(len(names))]
    # bytes that are not UTF-8 as \udcXX: surrogateescape gives them back
    assert b'"path":"latin1-\\udce9\\udcff"' in r.stdout
    assert os.fsencode(rows[4]["path"]) == names[4]


@pytest.mark.parametrize("to", ["pack", "loose"])
def test_empty_file(udos, tmp_path, to):
    p = write(tmp_path / "empty", b"")
    r = udos.ok("add", "--to", to, "--json", p)
    row = json.loads(r.stdout)
    assert row == {"hash": sha(b""), "size": 0, "path": p, "stored": True}
    assert udos.cat(sha(b"")) == b""
    assert udos.ok("ls", "-l").stdout.split()[1] == b"0"
    udos.ok("validate", "--full")


def test_hard_links_make_one_object(udos, tmp_path):
    a = write(tmp_path / "d" / "a", os.urandom(100000))
    os.link(a, tmp_path / "d" / "b")
    os.link(a, tmp_path / "d" / "c")
    r = udos.ok("--quiet", "add", "--json", "-r", tmp_path / "d")
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(rows) == 3
    assert len({x["hash"] for x in rows}) == 1
    assert sorted(x["stored"] for x in rows) == [False, False, True]
    assert len(udos.ok("ls").stdout.split()) == 1


@pytest.mark.parametrize("sep", [b"\n", b"\0"])
def test_files_from_names_a_missing_file(udos, tmp_path, sep):
    good = write(tmp_path / "good", b"good")
    gone = str(tmp_path / "gone")
    also = write(tmp_path / "also", b"also")
    extra = ["-0"] if sep == b"\0" else []
    r = udos("add", "--files-from", "-", *extra,
             input=sep.join(p.encode() for p in (good, gone, also)) + sep)
    assert r.returncode == 1
    assert ("udos add: no such file or directory '%s'" % gone).encode() \
        in r.stderr
    assert r.stdout.decode() == "%s  %s\n%s  %s\n" % (
        sha(b"good"), good, sha(b"also"), also)
    # a folder in the list needs -r like one on the command line
    lst = write(tmp_path / "list", str(tmp_path / "dir").encode() + b"\n")
    write(tmp_path / "dir" / "f", b"f")
    r = udos("add", "--files-from", lst)
    assert r.returncode == 1
    assert b"is a directory (use -r)" in r.stderr
    r = udos.ok("add", "-r", "--files-from", lst)
    assert r.stdout.decode() == "%s  %s/f\n" % (sha(b"f"), tmp_path / "dir")


def test_summary_line(udos, tmp_path):
    a = write(tmp_path / "a", b"a" * 1000)
    b = write(tmp_path / "b", b"a" * 1000)
    r = udos.ok("add", a, b)
    err = r.stderr.decode().splitlines()
    assert len(err) == 1, err
    s = err[0]
    assert s.startswith("udos add: 2 files, 1 new objects, 1 dedup hits, ")
    for part in (" in, ", " stored, ", " s, ", " MB/s, ", " files/s"):
        assert part in s, s
    assert b"\r" not in r.stderr  # not a tty: no progress line
    assert udos.ok("-q", "add", a).stderr == b""


def test_progress_on_tty(udos, tmp_path):
    for i in range(30):
        write(tmp_path / "in" / ("f%d" % i), os.urandom(2000))
    p, err = run_with_tty_stderr(["-C", udos.store, "add", "-r",
                                  str(tmp_path / "in")])
    assert p.returncode == 0, err
    assert b"adding: " in err and b"files" in err
    assert b"\r\x1b[K" in err
    last = err.split(b"\r\x1b[K")[-1]
    assert last.startswith(b"udos add: 30 files, ")  # summary after clearing
    assert len(p.stdout.splitlines()) == 30
    p, err = run_with_tty_stderr(["-q", "-C", udos.store, "add", "-r",
                                  str(tmp_path / "in")])
    assert p.returncode == 0 and err == b""


@pytest.mark.parametrize("io", ["uring", "threads"])
def test_a_large_run_leaves_an_id_filter_a_small_one_none(tmp_path, io):
    """The writer builds its id filter after 4096 look-ups made without it,
    the ingest workers' included (they answer "already stored?" for new
    files, so before that counted, a run that started without a saved
    filter never got one), and saves it at close; a small add neither
    scans the index for one nor saves one."""
    if io == "uring" and not uring_works(tmp_path):
        pytest.skip("no io_uring here")
    small = Udos(tmp_path / "small")
    small.ok("init", small.store, store=False)
    small.ok("-q", "add", write(tmp_path / "one", b"one"))
    assert not os.path.exists(os.path.join(small.store, "index.filter"))

    src = tmp_path / "many"
    for i in range(6000):
        write(src / ("d%02d" % (i % 50)) / ("f%05d" % i), b"file %d\n" % i)
    big = Udos(tmp_path / "big")
    big.ok("init", big.store, store=False)
    r = big.ok("-q", "add", "--io=" + io, "-r", ".", cwd=src, timeout=300)
    assert len(r.stdout.splitlines()) == 6000
    assert os.path.getsize(os.path.join(big.store, "index.filter")) > 0
    # believed by the next writer: dedup of the same files stays exact
    r = big.ok("add", "--json", "--no-cache", "--io=" + io, "-r", ".",
               cwd=src, timeout=300)
    assert not any(json.loads(l)["stored"] for l in r.stdout.splitlines())
    big.ok("validate")
