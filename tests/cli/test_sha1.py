"""Containers made with `init --hash sha1`: 40-digit ids everywhere."""
import hashlib
import json
import os

import pytest

from conftest import Udos, write


def sha1(data):
    return hashlib.sha1(data).hexdigest()


@pytest.fixture
def udos1(tmp_path):
    """A fresh sha1 container."""
    u = Udos(tmp_path / "store1")
    u.ok("init", "--hash", "sha1", u.store, store=False)
    return u


def test_init_hash_recorded(udos1, udos):
    with open(os.path.join(udos1.store, "config.json")) as f:
        assert json.load(f)["hash_type"] == "sha1"
    st = json.loads(udos1.ok("status", "--json").stdout)
    assert st["hash_type"] == "sha1"
    assert b"sha1" in udos1.ok("status").stdout
    # the default stays sha256
    assert json.loads(udos.ok("status", "--json").stdout)["hash_type"] == \
        "sha256"


def test_init_hash_explicit_sha256(bare):
    bare.ok("init", "--hash", "sha256", bare.store, store=False)
    assert json.loads(bare.ok("status", "--json").stdout)["hash_type"] == \
        "sha256"


@pytest.mark.parametrize("bad", ["md5", "SHA1", "sha-1", ""])
def test_init_unknown_hash(bare, bad):
    r = bare("init", "--hash", bad, bare.store, store=False)
    assert r.returncode == 2
    assert r.stderr.startswith(b"udos init: ")
    assert not os.path.exists(os.path.join(bare.store, "config.json"))


@pytest.mark.parametrize("to", ["pack", "loose"])
def test_add_cat_ls(udos1, tmp_path, to):
    files = {
        "small": b"hello sha1\n",
        "empty": b"",
        "medium": os.urandom(200000),
        "big": b"abcdefgh" * (700 * 1024),  # streamed: above 4 MiB
    }
    paths = {n: write(tmp_path / "in" / n, d) for n, d in files.items()}
    out = dict((p, h) for h, p in udos1.add("--to", to, *paths.values()))
    for n, d in files.items():
        h = out[paths[n]]
        assert len(h) == 40 and h == sha1(d)
        assert udos1.cat(h) == d
    listed = udos1.ok("ls").stdout.decode().split()
    assert sorted(listed) == sorted(out.values())
    for line in udos1.ok("ls", "--json").stdout.decode().splitlines():
        obj = json.loads(line)
        assert len(obj["hash"]) == 40
        assert obj["location"] == ("packed" if to == "pack" else "loose")
    if to == "loose":
        h = out[paths["small"]]
        assert os.path.isfile(os.path.join(udos1.store, "loose", h[:2],
                                           h[2:]))


def test_add_json_and_sha1sum_format(udos1, tmp_path):
    p = write(tmp_path / "f", b"x" * 100)
    r = udos1.ok("add", "--json", p)
    assert json.loads(r.stdout.decode().splitlines()[0])["hash"] == \
        sha1(b"x" * 100)
    r = udos1.ok("add", p)
    assert r.stdout.decode() == "%s  %s\n" % (sha1(b"x" * 100), p)


def test_pack_validate_full(udos1, tmp_path):
    datas = [b"object %d\n" % i * (i + 1) for i in range(20)]
    paths = [write(tmp_path / "in" / str(i), d) for i, d in enumerate(datas)]
    hs = [h for h, _ in udos1.add("--to", "loose", *paths)]
    udos1.ok("pack")
    udos1.ok("validate", "--full")
    ls = [json.loads(x) for x in
          udos1.ok("ls", "--json").stdout.decode().splitlines()]
    assert all(o["location"] == "packed" for o in ls)
    assert sorted(o["hash"] for o in ls) == sorted(hs)
    udos1.ok("repack")
    udos1.ok("validate", "--full")
    assert udos1.cat(*hs) == b"".join(datas)


def test_validate_reports_40_digit_ids(udos1, tmp_path):
    p = write(tmp_path / "f", b"original")
    (h, _), = udos1.add("--to", "loose", p)
    loose = os.path.join(udos1.store, "loose", h[:2], h[2:])
    with open(loose, "wb") as f:
        f.write(b"tampered")
    r = udos1("validate", "--json")
    assert r.returncode == 1
    findings = [json.loads(x) for x in r.stdout.decode().splitlines()]
    hits = [f for f in findings if f.get("kind") == "loose-hash"]
    assert hits and hits[0]["hash"] == h
    assert sha1(b"tampered") in hits[0]["message"]
    # a sha256-long name in loose/ is no id of this container
    os.rename(loose, loose + "0" * 24)
    r = udos1("validate", "--json")
    kinds = [json.loads(x).get("kind") for x in r.stdout.decode().splitlines()]
    assert "loose-name" in kinds


def test_id_length_is_the_containers(udos1, udos, tmp_path):
    data = b"same content"
    p = write(tmp_path / "f", data)
    (h1, _), = udos1.add(p)
    (h256, _), = udos.add(p)
    assert (h1, h256) == (sha1(data), hashlib.sha256(data).hexdigest())
    # each container refuses the other's id length: usage error, no output
    for u, wrong in ((udos1, h256), (udos, h1)):
        for cmd in ("cat", "delete"):
            r = u(cmd, wrong)
            assert r.returncode == 2, (cmd, r.stderr)
            assert r.stderr == ("udos %s: malformed hash '%s'\n"
                                % (cmd, wrong)).encode()
            assert r.stdout == b""
    # a well-formed id of the right length that is not there
    r = udos1("cat", "0" * 40)
    assert r.returncode == 1 and b"not found" in r.stderr
    # nothing was deleted by the refused commands
    assert udos1.cat(h1) == data and udos.cat(h256) == data
    # delete with the right length works, and --files-from checks lengths
    lst = write(tmp_path / "ids", (h256 + "\n").encode())
    r = udos1("delete", "--files-from", lst)
    assert r.returncode == 2 and b"malformed hash" in r.stderr
    udos1.ok("delete", h1)
    assert udos1("cat", h1).returncode == 1
