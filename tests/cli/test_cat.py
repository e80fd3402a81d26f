"""`udos cat` of many ids: read in storage order, written in the order
given; missing ids said and skipped, a corrupt object stops the output
before any of its bytes, large objects streamed in bounded memory."""
import json
import os
import random
import subprocess

from conftest import UDOS, sha, write


def many(udos, tmp_path, n=3000, seed=1):
    """n files of 0..3000 bytes (some duplicates), half packed, a few loose:
    {id: content} and the ids in add order."""
    rng = random.Random(seed)
    d = tmp_path / "src"
    d.mkdir()
    bodies = []
    for i in range(n):
        if bodies and rng.random() < 0.05:
            body = rng.choice(bodies)
        elif rng.random() < 0.5:
            body = (b"line %d of a text file\n" % i) * rng.randint(0, 120)
        else:
            body = rng.randbytes(rng.randint(0, 3000))
        bodies.append(body)
        write(d / ("f%05d" % i), body)
    out = udos.add("-r", d)
    loose = tmp_path / "loose"
    loose.mkdir()
    for i in range(20):
        write(loose / ("l%d" % i), b"loose object %d\n" % i * (i + 1))
    out += udos.add("--to", "loose", "-r", loose)
    got = {}
    for h, p in out:
        with open(p if os.path.isabs(p) else os.path.join(d, p), "rb") as f:
            got[h] = f.read()
    return got, [h for h, _ in out]


def test_order_kept_all_three_ways(udos, tmp_path):
    content, ids = many(udos, tmp_path)
    rng = random.Random(7)
    order = ids + rng.sample(ids, 500)  # repeats too
    rng.shuffle(order)
    want = b"".join(content[h] for h in order)
    stdin = "".join(h + "\n" for h in order).encode()
    # a small window: many chunks, objects that do not fit streamed
    for args, inp in ((["-"], stdin), (["--window", "1M", "-"], stdin),
                      (order[:1500] + ["-"], "".join(
                          h + "\n" for h in order[1500:]).encode())):
        r = udos("cat", *args, input=inp, timeout=300)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == want
    lst = tmp_path / "ids"
    lst.write_text("\n".join(order) + "\n")
    r = udos("cat", "--files-from", lst, timeout=300)
    assert r.returncode == 0 and r.stdout == want
    # what `udos ls` lists, back through cat
    ls = udos.ok("ls").stdout
    r = udos("cat", "-", input=ls, timeout=300)
    assert r.returncode == 0
    assert r.stdout == b"".join(content[h] for h in ls.decode().split())


def test_missing_said_in_turn_rest_written(udos, tmp_path):
    content, ids = many(udos, tmp_path, n=400)
    m1, m2 = sha(b"not here 1"), sha(b"not here 2")
    order = [ids[5], m1, ids[3], ids[200], m2, ids[5]]
    r = udos("cat", "-", input="\n".join(order).encode())
    assert r.returncode == 1
    assert r.stdout == b"".join(content.get(h, b"") for h in order)
    assert r.stderr.decode() == ("udos cat: not found '%s'\n"
                                 "udos cat: not found '%s'\n" % (m1, m2))


def test_malformed_id_on_stdin_prints_nothing(udos, tmp_path):
    content, ids = many(udos, tmp_path, n=50)
    r = udos("cat", "-", input=("%s\nxyz\n" % ids[0]).encode())
    assert r.returncode == 2
    assert r.stdout == b""
    assert b"malformed hash 'xyz'" in r.stderr


def test_corrupt_object_stops_before_its_bytes(udos, tmp_path):
    content, ids = many(udos, tmp_path, n=400)
    rows = [json.loads(x) for x in udos.ok("ls", "--json").stdout.split()]
    packed = [x for x in rows if x["location"] == "packed" and
              x["stored_size"] > 100]
    bad = packed[len(packed) // 2]
    path = os.path.join(udos.store, "packs", str(bad["pack_id"]))
    with open(path, "r+b") as f:
        f.seek(bad["offset"] + 50)
        c = f.read(1)
        f.seek(bad["offset"] + 50)
        f.write(bytes([c[0] ^ 0x40]))
    h = bad["hash"]
    before = [x for x in ids if x != h][:300]
    after = [x for x in ids if x != h][300:]
    order = before + [h] + after
    r = udos("cat", "-", input="\n".join(order).encode(), timeout=300)
    assert r.returncode == 3
    # everything before it, nothing of it, nothing after it
    assert r.stdout == b"".join(content[x] for x in before)
    err = r.stderr.decode()
    assert h in err and len(err.strip().splitlines()) == 1, err


def test_large_objects_streamed_bounded_rss(udos, tmp_path):
    big = tmp_path / "big"
    rng = random.Random(3)
    with open(big, "wb") as f:
        for _ in range(48):  # 384 MiB, half of it compressible
            f.write(rng.randbytes(4 << 20))
            f.write(b"compressible text, line after line\n" * 119837)
    small = write(tmp_path / "small", b"small one\n")
    hb = udos.add(big)[0][0]
    hs = udos.add(small)[0][0]
    order = [hs, hb, hs, hb, hs]
    r = subprocess.run(
        ["/usr/bin/time", "-f", "%M", UDOS, "-C", udos.store, "cat", "-"],
        input="\n".join(order).encode(), capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode()
    size = os.path.getsize(big)
    assert len(r.stdout) == 2 * size + 3 * 10
    assert r.stdout[:10] == b"small one\n"
    assert sha(r.stdout[10:10 + size]) == hb
    rss_kib = int(r.stderr.decode().split()[-1])
    assert rss_kib < 160 * 1024, rss_kib  # object 384 MiB, window 64 MiB


def test_real_files(udos, tmp_path):
    """This machine's headers: every file back, in the order given."""
    src = "/usr/include/linux"
    out = udos.add("-r", src)
    rng = random.Random(5)
    rng.shuffle(out)
    want = []
    for h, p in out:
        full = p if os.path.isabs(p) else os.path.join(src, p)
        with open(full, "rb") as f:
            want.append(f.read())
    r = udos("cat", "-", input="\n".join(h for h, _ in out).encode(),
             timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"".join(want)
    assert len(out) > 500
