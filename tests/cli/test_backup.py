"""`udos backup DEST`: a consistent copy, incremental on later runs."""
import json
import os

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
