"""Bad input: missing, unreadable, directories, specials, malformed ids."""
import os

import pytest

from conftest import sha, write


def test_missing_path_goes_on(udos, tmp_path):
    good = write(tmp_path / "good", b"good")
    missing = str(tmp_path / "missing")
    r = udos("add", missing, good)
    assert r.returncode == 1
    assert ("udos add: no such file or directory '%s'" % missing).encode() \
        in r.stderr
    assert r.stdout.decode() == "%s  %s\n" % (sha(b"good"), good)
    assert udos.cat(sha(b"good")) == b"good"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads anything")
@pytest.mark.parametrize("to", ["loose", "pack"])
def test_unreadable_file(udos, tmp_path, to):
    secret = write(tmp_path / "secret", b"secret")
    good = write(tmp_path / "good", b"fine")
    os.chmod(secret, 0)
    try:
        r = udos("add", "--to", to, secret, good)
    finally:
        os.chmod(secret, 0o600)
    assert r.returncode == 1
    assert ("udos add: permission denied '%s'" % secret).encode() in r.stderr
    assert r.stdout.decode() == "%s  %s\n" % (sha(b"fine"), good)


def test_directory_without_r(udos, tmp_path):
    d = tmp_path / "d"
    write(d / "f", b"f")
    r = udos("add", str(d))
    assert r.returncode == 1
    assert ("udos add: is a directory (use -r) '%s'" % d).encode() in r.stderr
    assert r.stdout == b""
    r = udos.ok("add", "-r", str(d))
    assert r.stdout.decode() == "%s  %s/f\n" % (sha(b"f"), d)


def test_walk_skips_symlinks_and_specials(udos, tmp_path):
    d = tmp_path / "d"
    write(d / "real", b"real")
    os.symlink("real", d / "link")
    os.symlink(str(tmp_path), d / "dirlink")
    os.mkfifo(d / "fifo")
    r = udos("add", "-r", str(d))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "%s  %s/real\n" % (sha(b"real"), d)
    err = r.stderr.decode()
    # one line by kind, not one per entry (a real tree has thousands)
    assert "udos add: skipped 2 symlinks, 1 fifo (-v lists them)\n" in err
    assert "skipping" not in err
    r = udos("add", "-v", "-r", str(d))
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    assert "udos add: skipped 2 symlinks, 1 fifo\n" in err
    assert "udos add: skipping symlink '%s/link'" % d in err
    assert "udos add: skipping symlink '%s/dirlink'" % d in err
    assert "udos add: skipping fifo '%s/fifo'" % d in err
    # -q silences the warnings, not the data
    r = udos("-q", "add", "-r", str(d))
    assert r.returncode == 0 and r.stderr == b""
    # a named symlink is followed, like sha256sum does
    r = udos.ok("add", str(d / "link"))
    assert r.stdout.startswith(sha(b"real").encode())


def test_named_fifo_is_an_error(udos, tmp_path):
    os.mkfifo(tmp_path / "ff")
    r = udos("add", str(tmp_path / "ff"))
    assert r.returncode == 1
    assert b"not a regular file" in r.stderr


def test_files_from_missing_list(udos, tmp_path):
    r = udos("add", "--files-from", str(tmp_path / "nolist"))
    assert r.returncode == 1
    assert b"nolist" in r.stderr


def test_add_usage(udos):
    assert udos("add").returncode == 2
    assert udos("add", "-0", "x").returncode == 2
    for bad in (["--io", "fast"], ["--max-inflight", "lots"],
                ["--max-inflight", "0"], ["--commit-every", "10"]):
        r = udos("add", *bad, "x")
        assert r.returncode == 2, (bad, r.stderr)


# ("0" * 63 is a prefix: tests/cli/test_habits.py)
@pytest.mark.parametrize("bad", ["xyz", "0" * 40, "0" * 65, "g" * 64])
def test_cat_malformed_hash(udos, bad):
    r = udos("cat", sha(b""), bad)
    assert r.returncode == 2
    assert ("udos cat: malformed hash '%s'" % bad).encode() in r.stderr
    assert r.stdout == b""  # nothing printed before the check


def test_cat_missing_prints_the_others(udos, tmp_path):
    a = write(tmp_path / "a", b"AAA")
    b = write(tmp_path / "b", b"BBB")
    ha = udos.add("--to", "loose", a)[0][0]
    hb = udos.add(b)[0][0]
    missing = sha(b"nope")
    r = udos("cat", ha, missing, hb)
    assert r.returncode == 1
    assert r.stdout == b"AAABBB"
    assert r.stderr.decode() == "udos cat: not found '%s'\n" % missing
    # upper case ids are accepted
    assert udos.cat(ha.upper()) == b"AAA"


def test_cat_needs_a_hash(udos):
    assert udos("cat").returncode == 2
