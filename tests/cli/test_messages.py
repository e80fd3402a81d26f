"""Each way of not being a usable container has its own one-line message
naming the path and the cause; store failures of add name the container."""
import json
import os
import subprocess

import pytest

from conftest import UDOS, Udos, write


def run(*args):
    return subprocess.run([UDOS] + [str(a) for a in args],
                          capture_output=True, timeout=120)


@pytest.fixture
def store(tmp_path):
    d = tmp_path / "store"
    assert run("init", d).returncode == 0
    return d


def set_config(d, text=None, **changes):
    p = d / "config.json"
    if text is None:
        conf = json.loads(p.read_text())
        conf.update(changes)
        text = json.dumps(conf)
    os.chmod(p, 0o644)
    p.write_text(text)
    return p


@pytest.mark.parametrize("case, expect", [
    ("missing", "'{d}' does not exist"),
    ("file", "'{d}' is not a folder"),
    ("plain", "'{d}' is not a udos container (no config.json)"),
    ("empty", "'{d}/config.json' is empty"),
    ("truncated", "'{d}/config.json' is not valid JSON: it ends early"),
    ("garbage", "'{d}/config.json' is not valid JSON: unexpected 'x' at byte 0"),
    ("md5", "'{d}/config.json': unknown hash_type 'md5'"),
    ("codec", "'{d}/config.json': unknown compression 'lz4:1'"),
    ("noid", "'{d}/config.json' has no container_id"),
])
@pytest.mark.parametrize("cmd", [["ls"], ["status"], ["cat", "0" * 64],
                                 ["add", "--to", "loose", "/etc/hostname"]])
def test_open_messages(tmp_path, store, case, expect, cmd):
    d = store
    if case == "missing":
        d = tmp_path / "nowhere"
    elif case == "file":
        d = tmp_path / "afile"
        d.write_text("x")
    elif case == "plain":
        d = tmp_path / "plain"
        d.mkdir()
    elif case == "empty":
        set_config(d, "")
    elif case == "truncated":
        set_config(d, set_config(d).read_text()[:40])
    elif case == "garbage":
        set_config(d, "xyz")
    elif case == "md5":
        set_config(d, hash_type="md5")
    elif case == "codec":
        set_config(d, compression="lz4:1")
    elif case == "noid":
        conf = json.loads((d / "config.json").read_text())
        del conf["container_id"]
        set_config(d, json.dumps(conf))
    r = run("-C", d, *cmd)
    assert r.returncode == 3
    err = r.stderr.decode()
    assert err.startswith("udos %s: " % cmd[0] + expect.format(d=d)), err
    assert len(err.splitlines()) == 1, err


def test_import_from_damaged_config(tmp_path, store):
    set_config(store, hash_type="md5")
    dst = tmp_path / "dst"
    assert run("init", dst).returncode == 0
    r = run("-C", dst, "import", store)
    assert r.returncode == 3
    assert r.stderr.decode() == \
        "udos import: '%s/config.json': unknown hash_type 'md5'\n" % store


def test_export_into_damaged_config(tmp_path, store):
    dst = tmp_path / "dst"
    assert run("init", dst).returncode == 0
    set_config(dst, "{")
    r = run("-C", store, "export", dst)
    assert r.returncode == 3
    assert r.stderr.decode().startswith(
        "udos export: '%s/config.json' is not valid JSON" % dst)


def mount(*args):
    r = subprocess.run(["mount"] + [str(a) for a in args],
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        pytest.skip("cannot mount: %s" % r.stderr.decode().strip())


def umount(path):
    subprocess.run(["umount", str(path)], capture_output=True, timeout=60)


def test_add_to_read_only_container_names_it(tmp_path, store):
    ro = tmp_path / "ro"
    ro.mkdir()
    f = write(tmp_path / "a.txt", b"read only\n")
    mount("--bind", store, ro)
    try:
        mount("-o", "remount,ro,bind", ro)
        u = Udos(ro)
        for to in ("loose", "pack"):
            r = u("add", "--to", to, f, timeout=120)
            assert r.returncode == 3, (to, r.stderr)
            first = r.stderr.decode().splitlines()[0]
            assert first.endswith("'%s'" % ro) or \
                ("'%s/" % ro) in first, (to, first)
            assert "a.txt" not in r.stderr.decode(), (to, r.stderr)
            assert r.stdout == b""
    finally:
        umount(ro)


@pytest.mark.parametrize("to", ["pack", "loose"])
def test_full_disk_summary_counts_only_committed(tmp_path, to):
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=4M", "tmpfs", disk)
    try:
        u = Udos(disk / "store")
        u.ok("init", u.store, store=False)
        for i in range(12):
            write(tmp_path / "in" / ("f%02d" % i), os.urandom(400 << 10))
        r = u("add", "--to", to, "-r", tmp_path / "in", timeout=300)
        assert r.returncode == 3, r.stderr
        err = r.stderr.decode().splitlines()
        assert "no space left on device" in err[0], err
        assert "'%s/" % u.store in err[0] and "/in/" not in err[0], err
        printed = r.stdout.decode().splitlines()
        summary = err[-1]
        assert summary.startswith("udos add: stopped: %d files, %d new "
                                  "objects" % (len(printed), len(printed))), err
        ls = u.ok("ls").stdout.decode().split()
        assert len(ls) == len(printed)
        if to == "pack":
            # the stored bytes of uncommitted records are not claimed
            assert " stored" not in summary or len(printed) == 0 and \
                " 0 B stored" in summary, summary
        else:
            size = sum(os.path.getsize(tmp_path / "in" / p.split("/")[-1])
                       for p in (line.split("  ", 1)[1] for line in printed))
            mib = "%.1f MiB stored" % (size / 2**20)
            assert mib in summary, (mib, summary)
    finally:
        umount(disk)
