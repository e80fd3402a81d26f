"""Packs are the source of truth: an index older than its packs, a lost
index or a damaged one never costs a record that passes its checks.
`udos repair` rebuilds the index; writers adopt what the index has not
seen instead of cutting it."""
import json
import os
import shutil
import struct

from conftest import sha, write

REC_HDR, REC = 32, 80


def files(base, tag, n, size=0):
    out = []
    for i in range(n):
        data = (b"%s %d\n" % (tag, i)) * (1 + size // 8) if size else \
            b"%s %d\n" % (tag, i)
        out.append(write(os.path.join(base, tag.decode(), "f%03d" % i), data))
    return out


def all_read_back(u, pairs):
    for h, p in pairs:
        with open(p, "rb") as f:
            assert sha(u.cat(h)) == h == sha(f.read()), p


def findings(u, *extra):
    r = u("validate", "--json", *extra)
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    return r.returncode, [x for x in rows if "kind" in x]


def stale_index(u, tmp_path):
    """Objects committed after a copy of index/ was taken, then the copy
    put back (a snapshot restore, a backup tool copying index/ at another
    moment than packs/)."""
    first = u.add("-r", *files(tmp_path, b"one", 49))
    shutil.copytree(os.path.join(u.store, "index"), tmp_path / "old-index")
    second = u.add("-r", *files(tmp_path, b"two", 49))
    shutil.rmtree(os.path.join(u.store, "index"))
    shutil.copytree(tmp_path / "old-index", os.path.join(u.store, "index"))
    return first, second


def test_validate_reports_index_behind(udos, tmp_path):
    stale_index(udos, tmp_path)
    rc, rows = findings(udos)
    assert rc == 1
    assert [r["kind"] for r in rows] == ["index-behind"], rows
    assert "49 intact records" in rows[0]["message"]


def test_stale_index_next_writer_adopts(udos, tmp_path):
    first, second = stale_index(udos, tmp_path)
    r = udos.ok("add", write(tmp_path / "new", b"after the restore"))
    assert b"indexed 49 intact records" in r.stderr
    all_read_back(udos, first + second)
    assert findings(udos, "--full") == (0, [])


def test_stale_index_repack_keeps_unknown_pack(udos, tmp_path):
    first, second = stale_index(udos, tmp_path)
    udos.ok("repack")
    all_read_back(udos, first + second)
    assert findings(udos, "--full") == (0, [])


def test_stale_index_after_repack_names_repair(udos, tmp_path):
    first = udos.add("-r", *files(tmp_path, b"one", 20))
    shutil.copytree(os.path.join(udos.store, "index"), tmp_path / "old")
    udos.ok("delete", first[0][0])
    udos.ok("repack")  # pack 0 is gone, its live records moved on
    second = udos.add("-r", *files(tmp_path, b"two", 20))
    shutil.rmtree(os.path.join(udos.store, "index"))
    shutil.copytree(tmp_path / "old", os.path.join(udos.store, "index"))
    r = udos("add", write(tmp_path / "x", b"x"))
    assert r.returncode == 3
    err = r.stderr.decode()
    assert "udos repair" in err and len(err.splitlines()) == 1, err
    r = udos("repair", "--json")
    summary = json.loads(r.stdout.splitlines()[-1])["summary"]
    assert r.returncode == 0, r.stderr
    assert summary["objects"] == 39 and summary["old_index"] is True
    assert summary["lost"] == 1  # the old index's, deleted since
    all_read_back(udos, first[1:] + second)
    udos.ok("add", write(tmp_path / "x", b"x"))
    assert findings(udos, "--full") == (0, [])


def test_repair_lost_index(udos, tmp_path):
    pairs = udos.add("-r", *files(tmp_path, b"a", 300, size=3000))
    shutil.rmtree(os.path.join(udos.store, "index"))
    r = udos("cat", pairs[0][0])
    assert r.returncode == 3
    # a dry run counts and leaves things as they are
    r = udos("repair", "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)["summary"]
    assert s["objects"] == 300 and s["dry_run"] is True
    assert s["old_index"] is False and s["adopted"] == 300
    assert not os.path.exists(os.path.join(udos.store, "index"))
    r = udos("repair")
    assert r.returncode == 0, r.stderr
    assert b"300 objects" in r.stderr
    all_read_back(udos, pairs)
    assert findings(udos, "--full") == (0, [])
    assert sorted(os.listdir(udos.store)) == sorted(
        ["config.json", "index", "index.gen", "loose", "packs", "sandbox",
         "writer.lock"])


def test_repair_unreadable_index(udos, tmp_path):
    pairs = udos.add("-r", *files(tmp_path, b"a", 50))
    idx = os.path.join(udos.store, "index")
    for name in os.listdir(idx):
        if name.startswith("MANIFEST") or name == "CURRENT":
            with open(os.path.join(idx, name), "r+b") as f:
                f.write(b"\xff" * 16)
    udos.ok("repair")
    all_read_back(udos, pairs)
    assert findings(udos, "--full") == (0, [])


def test_repair_keeps_deleted_deleted(udos, tmp_path):
    pairs = udos.add("-r", *files(tmp_path, b"a", 10))
    gone = pairs[3][0]
    udos.ok("delete", gone)
    udos.ok("repair")
    assert udos("cat", gone).returncode == 1
    all_read_back(udos, pairs[:3] + pairs[4:])
    # without the old index nothing tells the deletion: it comes back
    shutil.rmtree(os.path.join(udos.store, "index"))
    udos.ok("repair")
    assert sha(udos.cat(gone)) == gone


def test_repair_newest_copy_wins_and_reports_damage(udos, tmp_path):
    pairs = udos.add("-r", *files(tmp_path, b"a", 5, size=2000))
    # damage the stored bytes of the third record of pack 0
    rec = os.path.join(udos.store, "packs", "0.rec")
    with open(rec, "rb") as f:
        f.seek(REC_HDR + 2 * REC + 8)
        off, = struct.unpack("<Q", f.read(8))
        f.seek(REC_HDR + 2 * REC + 32)
        victim = f.read(32).hex()
    with open(os.path.join(udos.store, "packs", "0"), "r+b") as f:
        f.seek(off + 5)
        b = f.read(1)
        f.seek(off + 5)
        f.write(bytes([b[0] ^ 0xff]))
    shutil.rmtree(os.path.join(udos.store, "index"))
    r = udos("repair", "--json")
    assert r.returncode == 1, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert rows[0]["kind"] == "record-checksum" and \
        rows[0]["path"] == "packs/0", rows
    assert rows[-1]["summary"]["damaged"] == 1
    assert rows[-1]["summary"]["objects"] == 4
    assert udos("cat", victim).returncode == 1
    others = [(h, p) for h, p in pairs if h != victim]
    all_read_back(udos, others)
    # the same content added again is a new, newest copy
    again = [p for h, p in pairs if h == victim]
    udos.ok("add", *again)
    all_read_back(udos, pairs)
    shutil.rmtree(os.path.join(udos.store, "index"))
    r = udos("repair", "--json")
    assert json.loads(r.stdout.splitlines()[-1])["summary"]["objects"] == 5
    all_read_back(udos, pairs)


def test_torn_tail_is_cut_and_reported(udos, tmp_path):
    pairs = udos.add("-r", *files(tmp_path, b"a", 10))
    with open(os.path.join(udos.store, "packs", "0"), "ab") as f:
        f.write(os.urandom(1000))
    with open(os.path.join(udos.store, "packs", "0.rec"), "ab") as f:
        f.write(os.urandom(REC + 40))  # one bad entry and a torn one
    rc, rows = findings(udos)
    assert rc == 0, rows  # residue without an intact record: no finding
    r = udos.ok("add", write(tmp_path / "new", b"new"))
    assert b"cut 1120 bytes" in r.stderr, r.stderr
    all_read_back(udos, pairs)
    assert findings(udos, "--full") == (0, [])


def test_intact_record_after_damaged_one_is_kept(udos, tmp_path):
    """Records past the tail: the first damaged, the second intact. The
    writer indexes the intact one and appends in a new pack rather than
    cutting the pack at the damaged one."""
    base = udos.add("-r", *files(tmp_path, b"a", 3))
    shutil.copytree(os.path.join(udos.store, "index"), tmp_path / "old")
    more = udos.add("-r", *files(tmp_path, b"b", 2, size=500))
    shutil.rmtree(os.path.join(udos.store, "index"))
    shutil.copytree(tmp_path / "old", os.path.join(udos.store, "index"))
    rec = os.path.join(udos.store, "packs", "0.rec")
    with open(rec, "r+b") as f:
        f.seek(REC_HDR + 3 * REC + 40)  # the id inside the 4th entry
        f.write(b"\0\0\0\0")
    size = os.path.getsize(os.path.join(udos.store, "packs", "0"))
    r = udos.ok("add", write(tmp_path / "new", b"new"))
    assert b"indexed 1 intact records" in r.stderr, r.stderr
    assert os.path.getsize(os.path.join(udos.store, "packs", "0")) == size
    assert os.path.exists(os.path.join(udos.store, "packs", "1"))
    all_read_back(udos, base)
    second = [(h, p) for h, p in more if udos("cat", h).returncode == 0]
    assert len(second) == 1
    all_read_back(udos, second)


def test_validate_reports_stray_files(udos, tmp_path):
    udos.add(write(tmp_path / "a", b"a"))
    for rel in ("notes.txt", "packs/0.bak", "sandbox/notes",
                "sandbox/999999999-x", "index.new.tmp"):
        write(os.path.join(udos.store, rel), b"?")
    r = udos("validate", "--json")
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert r.returncode == 1
    assert sorted((r["kind"], r["path"]) for r in rows[:-1]) == [
        ("stray-file", "notes.txt"), ("stray-file", "packs/0.bak"),
        ("stray-file", "sandbox/notes")]
    # a dead writer's temporary file and a backup's are residue, no fault
    assert rows[-1]["summary"]["residue_files"] == 2

