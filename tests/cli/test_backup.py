"""`udos backup DEST`: a consistent copy, incremental on later runs."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import Udos, sha, write


def listing(u):
    return sorted(u.ok("ls", "-l").stdout.decode().splitlines())


def backup(u, dest, *args):
    r = u.ok("backup", "--json", *args, dest)
    return json.loads(r.stdout)


def test_backup_then_incremental(udos, tmp_path):
    for i in range(30):
        write(tmp_path / "a" / f"f{i}", b"packed %d " % i * (i + 1))
    for i in range(5):
        write(tmp_path / "l" / f"f{i}", b"loose %d" % i)
    udos.add("-r", tmp_path / "a")
    udos.add("--to", "loose", "-r", tmp_path / "l")
    dest = tmp_path / "bk"
    first = backup(udos, dest)
    copy = Udos(dest)
    assert listing(copy) == listing(udos)
    assert first["loose_copied"] == 5 and first["pack_bytes"] > 0
    copy.ok("validate", "--full")
    # nothing new: nothing copied
    again = backup(udos, dest)
    assert again["pack_bytes"] == 0 and again["loose_copied"] == 0
    assert again["packs_recopied"] == 0
    # new objects: only the pack's new tail and the new loose file
    size0 = os.path.getsize(dest / "packs" / "0")
    write(tmp_path / "b" / "new", b"new content" * 100)
    write(tmp_path / "l2" / "x", b"another loose one")
    udos.add(tmp_path / "b" / "new")
    udos.add("--to", "loose", tmp_path / "l2" / "x")
    third = backup(udos, dest)
    assert third["loose_copied"] == 1 and third["packs_recopied"] == 0
    assert 0 < third["pack_bytes"] < size0
    assert listing(copy) == listing(udos)
    assert copy.cat(sha(b"new content" * 100)) == b"new content" * 100
    copy.ok("validate", "--full")


def test_backup_follows_pack_and_repack(udos, tmp_path):
    hashes = [h for h, _ in udos.add("--to", "loose", "-r",
                                     write_tree(tmp_path / "t", 20))]
    dest = tmp_path / "bk"
    backup(udos, dest)
    udos.ok("pack")          # loose copies cleaned: gone from the copy too
    udos.ok("delete", hashes[0])
    udos.ok("repack")        # pack 0 replaced by a new one
    r = backup(udos, dest)
    assert r["removed"] >= 20
    copy = Udos(dest)
    assert listing(copy) == listing(udos)
    assert sorted(os.listdir(dest / "packs")) == \
        sorted(os.listdir(os.path.join(udos.store, "packs")))
    assert not any(files for _, _, files in os.walk(dest / "loose"))
    copy.ok("validate", "--full")


def write_tree(root, n):
    for i in range(n):
        write(root / f"f{i}", b"tree file %d" % i)
    return root


def test_backup_refuses_other_folders(udos, tmp_path):
    write(tmp_path / "busy" / "x", b"x")
    r = udos("backup", tmp_path / "busy")
    assert r.returncode == 3
    assert b"not empty" in r.stderr and r.stderr.count(b"\n") == 1
    other = Udos(tmp_path / "other")
    other.ok("init", other.store, store=False)
    r = udos("backup", other.store)
    assert r.returncode == 3 and b"another container" in r.stderr
    assert udos("backup").returncode == 2
    assert udos("backup", "a", "b").returncode == 2


# ---- interrupted backups (issue 8, defects 6-8) ----------------------------

def objects_equal(src, copy):
    """Every object of src reads back identical from copy."""
    ids = sorted(src.ok("ls").stdout.decode().split())
    assert sorted(copy.ok("ls").stdout.decode().split()) == ids
    for i in range(0, len(ids), 2000):
        chunk = ids[i:i + 2000]
        assert copy.cat(*chunk) == src.cat(*chunk)


def assert_sound(src, dest):
    copy = Udos(dest)
    v = copy("validate", "--full")
    assert v.returncode == 0, v.stdout + v.stderr
    objects_equal(src, copy)


def zero(path, start, length):
    with open(path, "r+b") as f:
        f.seek(start)
        f.write(b"\0" * length)


def populate(udos, root, n, tag=b""):
    for i in range(n):
        write(root / "p" / f"f{i}", tag + b"packed %d\n" % i * (i + 3))
    for i in range(3):
        write(root / "l" / f"f{i}", tag + b"loose %d\n" % i * 50)
    udos.add("-r", root / "p")
    udos.add("--to", "loose", "-r", root / "l")


def test_cut_leaves_unsynced_pack_tail(udos, tmp_path):
    """A cut during a backup leaves zeros where the copy's pack grew past
    what the last finished backup synced: the next one checks that part
    against the source and copies it again."""
    populate(udos, tmp_path / "a", 40)
    dest = tmp_path / "bk"
    backup(udos, dest)
    state = (dest / "backup.state").read_bytes() \
        if (dest / "backup.state").exists() else None
    size0 = os.path.getsize(dest / "packs" / "0")
    populate(udos, tmp_path / "b", 40, b"more ")
    backup(udos, dest)
    size1 = os.path.getsize(dest / "packs" / "0")
    assert size1 > size0
    # as a cut before the second backup's syncfs may leave it: its
    # backup.state not written, the new pack bytes never reached the disk
    if state is not None:
        (dest / "backup.state").write_bytes(state)
    zero(dest / "packs" / "0", size0, size1 - size0)
    r = backup(udos, dest)
    assert r["pack_bytes"] > 0
    assert_sound(udos, dest)
    # and the run after that trusts what it synced: nothing is read again
    again = backup(udos, dest)
    assert again["verified_bytes"] == 0 and again["pack_bytes"] == 0


def test_cut_without_state_trusts_nothing(udos, tmp_path):
    """No backup.state (a copy made by an older udos, or one a cut left
    before it was written): loose files and pack bytes of the copy are all
    checked, torn ones replaced."""
    populate(udos, tmp_path / "a", 40)
    dest = tmp_path / "bk"
    backup(udos, dest)
    if (dest / "backup.state").exists():
        os.unlink(dest / "backup.state")
    loose = sorted(os.path.join(d, f) for d, _, fs in os.walk(dest / "loose")
                   for f in fs)
    assert len(loose) == 3
    open(loose[0], "wb").close()                      # zero length
    with open(loose[1], "r+b") as f:                  # torn
        f.truncate(10)
    zero(loose[2], 0, 20)                             # zeros inside
    zero(dest / "packs" / "0", 100, 300)
    r = backup(udos, dest)
    assert r["loose_copied"] == 3 and r["verified_bytes"] > 0
    assert_sound(udos, dest)
    assert (dest / "backup.state").exists()


def test_cut_in_index_switch_without_exchange(udos, tmp_path):
    """Where RENAME_EXCHANGE is missing the index is switched with two
    renames; cut between them the copy has index.old and index.new, no
    index: opening it uses the previous index, and backup completes."""
    populate(udos, tmp_path / "a", 20)
    dest = tmp_path / "bk"
    backup(udos, dest)
    shutil.copytree(dest / "index", dest / "index.new")
    os.rename(dest / "index", dest / "index.old")
    assert_sound(udos, dest)  # readable as it is; index.new is residue
    backup(udos, dest)
    assert not (dest / "index.old").exists()
    assert not (dest / "index.new").exists()
    assert_sound(udos, dest)


SHIM = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int renameat2(int a, const char *b, int c, const char *d, unsigned flags)
{
	if (flags & RENAME_EXCHANGE) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_renameat2, a, b, c, d, flags);
}
"""


@pytest.fixture
def no_exchange(tmp_path):
    """LD_PRELOAD that makes renameat2(RENAME_EXCHANGE) fail with EINVAL,
    as on NFS, CIFS and most FUSE file systems."""
    src = tmp_path / "shim.c"
    src.write_text(SHIM)
    so = tmp_path / "shim.so"
    r = subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src)],
                       capture_output=True)
    if r.returncode:
        pytest.skip("cannot build the shim: " + r.stderr.decode())
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": str(so),   # an ASan build may run under it too
            "ASAN_OPTIONS": opts + ":verify_asan_link_order=0"}


def test_backup_without_rename_exchange(udos, tmp_path, no_exchange):
    populate(udos, tmp_path / "a", 20)
    dest = tmp_path / "bk"
    for tag in (b"", b"second "):
        if tag:
            populate(udos, tmp_path / "b", 20, tag)
        r = udos("backup", dest, env=no_exchange, timeout=300)
        assert r.returncode == 0, r.stderr.decode()
        assert sorted(os.listdir(dest)) == sorted(
            ["backup.state", "config.json", "index", "index.gen", "loose",
             "packs", "sandbox"])
        assert_sound(udos, dest)


def test_first_backup_killed_then_run_again(udos, tmp_path):
    # --io threads: the uring reader crashes on /usr/include (a bug of its own)
    udos.ok("add", "--io", "threads", "-r", "/usr/include", timeout=600)
    populate(udos, tmp_path / "a", 10)
    for attempt in range(20):
        dest = tmp_path / f"bk{attempt}"
        p = udos.popen("backup", dest, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        while p.poll() is None and not (dest / "packs").exists():
            time.sleep(0.0005)
        p.kill()
        p.wait()
        if p.returncode == -signal.SIGKILL:
            break
    else:
        pytest.skip("backup always finished before it could be killed")
    r = udos("backup", dest, timeout=600)
    assert r.returncode == 0, r.stderr.decode()
    assert_sound(udos, dest)


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs",
                        str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.decode().strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def test_first_backup_on_full_disk_then_again(udos, tmp_path, small_fs):
    for i in range(6):
        write(tmp_path / "r" / f"f{i}", os.urandom(1 << 20))
    udos.add("--compress", "no", "-r", tmp_path / "r")
    populate(udos, tmp_path / "a", 10)
    dest = small_fs / "bk"
    r = udos("backup", dest, timeout=300)
    assert r.returncode == 3
    err = r.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "no space left on device" in err[0], err
    subprocess.run(["mount", "-o", "remount,size=64M", str(small_fs)],
                   check=True)
    r = udos("backup", dest, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    assert_sound(udos, dest)


def test_backup_into_the_container_refused(udos, tmp_path):
    populate(udos, tmp_path / "a", 5)
    before = listing(udos)
    for dest in (udos.store, os.path.join(udos.store, "packs"),
                 os.path.join(udos.store, "new"), udos.store + "/."):
        r = udos("backup", dest)
        assert r.returncode == 3, (dest, r.stderr)
        assert b"inside" in r.stderr and r.stderr.count(b"\n") == 1
    assert not os.path.exists(os.path.join(udos.store, "new"))
    assert listing(udos) == before
    udos.ok("validate", "--full")
    # the container inside the folder it is to be copied into
    (tmp_path / "outer").mkdir()
    inner = Udos(tmp_path / "outer" / "store")
    inner.ok("init", inner.store, store=False)
    r = inner("backup", tmp_path / "outer")
    assert r.returncode == 3 and b"inside" in r.stderr
