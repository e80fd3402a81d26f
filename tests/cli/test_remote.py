"""udos remote/push/evict/clone/pull against a real S3 server (versitygw,
started here on 127.0.0.1), directly and through a fault-injecting proxy.
Data: this machine's /usr/include."""
import glob
import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

import s3server
from remote_helpers import (SRC, SRC2, U, cat_all,  # noqa: F401
                            check_manifest_complete, local_packs, make,
                            manifest, prefix, proxy, remote, server)


def test_remote_set_show_unset(tmp_path, server):
    u, _ = make(tmp_path, "c", SRC[:5])
    assert u("remote", "show").returncode == 1
    r = u("remote", "set", "http://x/y", "--endpoint", server.endpoint)
    assert r.returncode == 2 and b"malformed remote" in r.stderr
    r = u("remote", "set", "s3://b/p", "--endpoint", "ftp://x")
    assert r.returncode == 2 and b"malformed endpoint" in r.stderr
    remote(u, server.endpoint, "p1")
    j = json.loads(u.ok("remote", "show", "--json").stdout)
    assert j["url"] == "s3://udos/p1" and j["endpoint"] == server.endpoint
    assert not j["clone"]
    conf = open(os.path.join(u.store, "remote.conf")).read()
    assert s3server.SECRET not in conf and s3server.KEY not in conf
    # no credentials: a clear error naming the variables
    e = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
         "HOME": str(tmp_path)}
    r = u("push", env=e)
    assert r.returncode == 3 and b"AWS_ACCESS_KEY_ID" in r.stderr
    # credentials from ~/.aws/credentials
    os.makedirs(tmp_path / ".aws")
    (tmp_path / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
        % (s3server.KEY, s3server.SECRET))
    u.ok("push", env=e)
    u.ok("remote", "unset")
    assert u("remote", "show").returncode == 1
    assert u("validate").returncode == 0


def test_push_evict_read_through(tmp_path, server, proxy):
    u, ids = make(tmp_path, "c", SRC)
    pfx = prefix()
    remote(u, proxy.endpoint, pfx)
    # the pack being appended to is not pushed without --seal
    j = json.loads(u.ok("push", "--json").stdout)
    n_sealed = j["remote_packs"]
    j = json.loads(u.ok("push", "--seal", "--json").stdout)
    assert j["remote_packs"] == n_sealed + 1 and j["generation"] == 2
    npacks = j["remote_packs"]
    assert npacks >= 4, "several packs of 256K expected"
    gens, text, objs = manifest(server, pfx)
    assert gens == ["manifests/0000000000000001",
                    "manifests/0000000000000002"]
    check_manifest_complete(server, pfx)
    # one object per pack file and its .rec, named by the content hash
    packs = [k for k in objs if k.startswith("packs/")]
    assert len(packs) == 2 * npacks
    for k in packs:
        assert re.fullmatch(r"packs/\d+-[0-9a-f]{64}(\.rec)?", k)
    # nothing new: no new generation, no upload
    j = json.loads(u.ok("push", "--json").stdout)
    assert j["packs"] == 0 and j["generation"] == 2
    before = local_packs(u)
    j = json.loads(u.ok("evict", "--json").stdout)
    assert j["packs"] == npacks
    after = local_packs(u)
    assert all(p.endswith(".rec") for p in after if p in before
               and int(p.split(".")[0]) < npacks)
    assert not [p for p in after if not p.endswith(".rec")
                and int(p) < npacks]
    # single reads through the remote, byte for byte, per pack not object
    proxy.reset()
    cat_all(u, ids)
    gets = [x for x in proxy.log if x[0] == "GET"]
    assert gets and all(x[2] for x in gets), "ranged GETs only"
    # at most one per 64 KiB block of the cache, a few per pack
    blocks = sum(-(-len(v) // 65536) for k, v in objs.items()
                 if re.fullmatch(r"packs/\d+-[0-9a-f]{64}", k))
    assert len(gets) <= blocks <= 5 * npacks, (len(gets), npacks)
    assert len(gets) * 10 < len(ids)
    # cached: reading again needs no request
    proxy.reset()
    cat_all(u, dict(list(ids.items())[:50]))
    assert proxy.log == []
    st = json.loads(u.ok("status", "--json").stdout)["remote"]
    assert st["packs_remote"] == npacks and st["bytes_cached"] > 0
    assert st["generation"] == 2
    assert u("validate").returncode == 0


def test_cat_many_fetches_each_block_once(tmp_path, server, proxy):
    u, ids = make(tmp_path, "c", SRC)
    pfx = prefix()
    remote(u, proxy.endpoint, pfx)
    u.ok("push", "--seal")
    u.ok("evict")
    proxy.reset()
    # one cat of every id (bulk reads: python/tests/test_remote.py)
    hs = list(ids)
    r = u("cat", *hs)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"".join(ids[h] for h in hs)
    gets = [x for x in proxy.log if x[0] == "GET"]
    # no range fetched twice, one GET per run of missing 64 KiB blocks
    spans = sorted((int(a), int(b)) for a, b in
                   (re.match(r"bytes=(\d+)-(\d+)", x[2]).groups()
                    for x in gets) for _ in [0])
    keyed = sorted((x[1], x[2]) for x in gets)
    assert len(set(keyed)) == len(keyed)
    _, _, objs = manifest(server, pfx)
    blocks = sum(-(-len(v) // 65536) for k, v in objs.items()
                 if re.fullmatch(r"packs/\d+-[0-9a-f]{64}", k))
    assert len(gets) <= blocks and len(gets) * 10 < len(hs)
    assert spans


def test_keep_and_cache_bound(tmp_path, server):
    u, ids = make(tmp_path, "c", SRC)
    pfx = prefix()
    remote(u, server.endpoint, pfx)
    u.ok("push", "--seal")
    j = json.loads(u.ok("evict", "--keep", "600K", "--json").stdout)
    assert j["kept"] >= 2 and j["packs"] >= 1
    u.ok("remote", "set", "s3://%s/%s" % (s3server.BUCKET, pfx),
         "--endpoint", server.endpoint, "--cache-size", "300K")
    u.ok("evict")
    cat_all(u, ids)
    st = json.loads(u.ok("status", "--json").stdout)["remote"]
    assert st["cache_size"] == 300 * 1024
    assert st["bytes_cached"] <= 300 * 1024 + 300 * 1024


def test_clone_pull_second_folder(tmp_path, server):
    u, ids = make(tmp_path, "c", SRC)
    pfx = prefix()
    remote(u, server.endpoint, pfx)
    u.ok("push", "--seal")
    url = "s3://%s/%s" % (s3server.BUCKET, pfx)
    v = U(tmp_path / "clone")
    j = json.loads(v.ok("clone", url, tmp_path / "clone", "--endpoint",
                        server.endpoint, "--json", store=False).stdout)
    assert j["objects"] == len(ids) and j["generation"] == 1
    assert not [p for p in local_packs(v) if not p.endswith(".rec")]
    cat_all(v, ids)
    assert v("validate").returncode == 0
    r = v("add", SRC2[0])
    assert r.returncode == 3 and b"read-only clone" in r.stderr
    assert v("push").returncode == 3
    # the writer adds and pushes more while the clone reads
    stop = []
    errors = []

    def reader():
        while not stop:
            for h, data in list(ids.items())[:40]:
                r = v("cat", h)
                if r.returncode or r.stdout != data:
                    errors.append((h, r.stderr))
    t = threading.Thread(target=reader)
    t.start()
    more = dict(u.add(*SRC2))
    u.ok("pack")
    u.ok("push", "--seal")
    j = json.loads(v.ok("pull", "--json").stdout)
    stop.append(1)
    t.join()
    assert not errors
    assert j["generation"] == 2 and j["packs_added"] >= 1
    for h, p in more.items():
        assert v.ok("cat", h).stdout == open(p, "rb").read()
    j = json.loads(v.ok("pull", "--json").stdout)
    assert j["packs_added"] == 0 and j["generation"] == 2
    # a repack's removed packs leave the clone
    before = set(local_packs(v))
    u.ok("delete", *list(ids)[:100])
    u.ok("repack")
    u.ok("push", "--seal")
    j = json.loads(v.ok("pull", "--json").stdout)
    assert j["packs_removed"] >= 1
    assert set(local_packs(v)) != before
    for h in list(ids)[:100]:
        assert v("cat", h).returncode == 1
    cat_all(v, dict(list(ids.items())[100:]))
    cat_all(v, {h: open(p, "rb").read() for h, p in more.items()})
    assert v("validate").returncode == 0
    check_manifest_complete(server, pfx)


def test_two_writers_race(tmp_path, server):
    u, ids = make(tmp_path, "a", SRC[:200])
    pfx = prefix()
    remote(u, server.endpoint, pfx)
    u.ok("push", "--seal")
    shutil.copytree(u.store, tmp_path / "b")
    w = U(tmp_path / "b")
    ids_a = dict(u.add(*SRC[200:300]))
    ids_b = dict(w.add(*SRC2[:60]))
    u.ok("pack")
    w.ok("pack")
    e = s3server.env()
    procs = [x.popen("push", "--seal", env=e, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE) for x in (u, w)]
    res = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(r[0] for r in res)
    assert codes == [0, 3], res
    loser = [r[1] for r in res if r[0] == 3][0]
    assert b"another writer" in loser, loser
    gens, text, _ = manifest(server, pfx)
    assert len(gens) == 2
    check_manifest_complete(server, pfx)
    # nothing lost: both containers read all they hold
    for x, mine in ((u, ids_a), (w, ids_b)):
        cat_all(x, {h: open(p, "rb").read() for h, p in mine.items()})
        cat_all(x, ids)
        assert x("validate").returncode == 0
    # the loser is fenced for good: its pushes keep failing clearly
    lose = u if res[0][0] == 3 else w
    r = lose("push")
    assert r.returncode == 3 and b"another writer" in r.stderr


def test_faults_slowdown_and_cut(tmp_path, server, proxy):
    u, ids = make(tmp_path, "c", SRC)
    pfx = prefix()
    remote(u, proxy.endpoint, pfx)
    # every PUT answered 503 SlowDown twice first: retried
    proxy.rule = lambda m, p, n: "slowdown" if m == "PUT" and n < 2 else None
    u.ok("push", "--seal")
    check_manifest_complete(server, pfx)
    assert sum(1 for x in proxy.log if x[0] == "PUT") >= 3 * 2
    u.ok("evict")
    # GET bodies cut short once, then whole: never a wrong byte
    proxy.rule = lambda m, p, n: "cut" if m == "GET" and n < 1 else None
    proxy.reset()
    cat_all(u, ids)
    # always cut: a clear error, no output of wrong bytes
    shutil.rmtree(os.path.join(u.store, "cache"))
    proxy.rule = lambda m, p, n: "cut" if m == "GET" else None
    h = list(ids)[0]
    r = u("cat", h, env={"UDOS_S3_TRIES": "3"})
    assert r.returncode == 3 and r.stdout == b""
    assert b"after 3 tries" in r.stderr, r.stderr
    proxy.rule = lambda m, p, n: None
    cat_all(u, ids)


def test_faults_stall_and_drop(tmp_path, server, proxy):
    u, ids = make(tmp_path, "c", SRC[:150])
    pfx = prefix()
    remote(u, proxy.endpoint, pfx)
    proxy.stall_s = 4
    proxy.rule = lambda m, p, n: "stall" if m == "PUT" and n < 1 else None
    u.ok("push", "--seal", env={"UDOS_S3_STALL": "1"}, timeout=300)
    check_manifest_complete(server, pfx)
    u.ok("evict")
    proxy.rule = lambda m, p, n: "drop" if m == "GET" and n < 2 else None
    cat_all(u, ids)


def test_server_gone_and_back(tmp_path, server, proxy):
    u, ids = make(tmp_path, "c", SRC)
    pfx = prefix()
    remote(u, proxy.endpoint, pfx)
    u.ok("push", "--seal")
    more = dict(u.add(*SRC2))
    u.ok("pack")
    # the server dies in the middle of the upload: the second pack PUT
    # kills it
    hits = []

    def rule(m, p, n):
        if m == "PUT" and "/packs/" in p:
            hits.append(p)
            if len(hits) == 2:
                server.kill()
        return None
    proxy.rule = rule
    r = u("push", "--seal", env={"UDOS_S3_TRIES": "2"}, timeout=300)
    assert r.returncode == 3 and r.stderr, r
    assert b"udos push:" in r.stderr
    # the remote is as it was: the last manifest names only whole objects
    gens, _, _ = manifest(server, pfx)
    assert len(gens) == 1
    check_manifest_complete(server, pfx)
    # gone entirely: push and reads of evicted packs fail clearly
    proxy.rule = lambda m, p, n: None
    r = u("push", env={"UDOS_S3_TRIES": "2"})
    assert r.returncode == 3 and b"udos push:" in r.stderr
    # back: the push resumes and publishes
    server.start()
    j = json.loads(u.ok("push", "--json").stdout)
    assert j["generation"] == 2
    check_manifest_complete(server, pfx)
    u.ok("evict")
    server.kill()
    shutil.rmtree(os.path.join(u.store, "cache"), ignore_errors=True)
    h = list(ids)[0]
    r = u("cat", h, env={"UDOS_S3_TRIES": "2"})
    assert r.returncode == 3 and r.stdout == b""
    server.start()
    cat_all(u, ids)
    cat_all(u, {h: open(p, "rb").read() for h, p in more.items()})


def test_interrupted_multipart_is_swept(tmp_path, server, proxy):
    files, total = [], 0
    for p in sorted(glob.glob("/usr/include/**/*.h", recursive=True)):
        if os.path.isfile(p) and not os.path.islink(p) and total < 14 << 20:
            files.append(p)
            total += os.path.getsize(p)
    u, ids = make(tmp_path, "c", files, pack_size="64M", compression="none")
    pfx = prefix()
    remote(u, proxy.endpoint, pfx)
    u.ok("push")  # nothing sealed yet
    size = os.path.getsize(os.path.join(u.store, "packs", "0"))
    assert size > 5 << 20
    # parts of 5 MiB: the pack goes by multipart; its completion fails
    proxy.rule = lambda m, p, n: ("slowdown" if m == "POST" and
                                  "uploadId=" in p else None)
    env = {"UDOS_S3_TRIES": "2", "UDOS_S3_PART_SIZE": str(5 << 20)}
    r = u("push", "--seal", env=env)
    assert r.returncode == 3 and b"HTTP 503 SlowDown" in r.stderr, r.stderr
    parts = [x for x in proxy.log if x[0] == "PUT" and "partNumber=" in x[1]]
    assert len(parts) >= 2
    # a second one cut short leaves an incomplete upload to sweep
    proxy.rule = lambda m, p, n: ("drop" if m == "POST" and
                                  "uploadId=" in p else
                                  "drop" if m == "DELETE" else None)
    assert u("push", env=env).returncode == 3
    proxy.rule = lambda m, p, n: None
    gens, _, _ = manifest(server, pfx)
    assert len(gens) == 1
    j = json.loads(u.ok("push", "--json", env=env).stdout)
    assert j["generation"] == 2 and j["swept"] >= 1
    check_manifest_complete(server, pfx)
    u.ok("evict")
    cat_all(u, ids)


def test_validate_remote_finds_damage(tmp_path, server):
    u, ids = make(tmp_path, "c", SRC)
    pfx = prefix()
    remote(u, server.endpoint, pfx)
    u.ok("push", "--seal")
    j = json.loads(u.ok("validate", "--remote", "--full", "--json").stdout)
    assert j["summary"]["bad"] == 0 and j["summary"]["records"] == len(ids)
    u.ok("evict")
    # damage one byte of a pushed pack inside the server's folder
    _, text, objs = manifest(server, pfx)
    line = [x for x in text.splitlines() if x.startswith("pack ")][0]
    _, pid, size, psha, _, _ = line.split()
    path = server.object_path(pfx, "packs/%s-%s" % (pid, psha))
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    assert u("validate", "--remote").returncode == 0  # sizes agree
    r = u("validate", "--remote", "--full", "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["summary"]["bad"] >= 1
    # never served: every object either reads right or fails
    bad = 0
    for h, d in ids.items():
        r = u("cat", h)
        if r.returncode == 0:
            assert r.stdout == d
        else:
            bad += 1
            assert r.returncode == 3
    assert bad >= 1
    os.remove(path)
    r = u("validate", "--remote", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["summary"]["missing"] == 1


def test_repack_of_evicted_packs(tmp_path, server, proxy):
    u, ids = make(tmp_path, "c", SRC)
    pfx = prefix()
    remote(u, proxy.endpoint, pfx)
    u.ok("push", "--seal")
    u.ok("evict")
    gone = list(ids)[:150]
    u.ok("delete", *gone)
    # repack reads the evicted packs through the remote, writes local ones
    u.ok("repack")
    assert u("validate").returncode == 0
    for h in gone:
        assert u("cat", h).returncode == 1
    keep = {h: d for h, d in ids.items() if h not in gone}
    cat_all(u, keep)
    j = json.loads(u.ok("push", "--seal", "--json").stdout)
    assert j["generation"] == 2 and j["packs"] >= 1
    check_manifest_complete(server, pfx)
    # the new manifest lists only the packs that hold live objects now
    _, text, _ = manifest(server, pfx)
    listed = {int(x.split()[1]) for x in text.splitlines()
              if x.startswith("pack ")}
    here = {int(p.split(".")[0]) for p in local_packs(u)
            if p.endswith(".rec")}
    assert listed <= here
    u.ok("evict")
    shutil.rmtree(os.path.join(u.store, "cache"), ignore_errors=True)
    cat_all(u, keep)


def test_push_killed_at_each_step(tmp_path, server, proxy):
    """SIGKILL the pushing process while its k-th request is in flight
    (held by the proxy), for each k: the next push completes, and no
    manifest ever names a missing or partial object."""
    u, ids = make(tmp_path, "c", SRC[:200])
    pfx = prefix()
    remote(u, proxy.endpoint, pfx)
    u.ok("push", "--seal")
    e = s3server.env()
    gen = 1
    for k in range(1, 12, 2):
        u.add(SRC2[k], SRC2[k + 1])
        u.ok("pack")
        proxy.reset()
        hold = threading.Event()
        proxy.rule = (lambda m, p, n, k=k:
                      "stall" if len(proxy.log) == k else None)
        proxy.stall_s = 3
        p = u.popen("push", "--seal", env=e, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
        end = time.time() + 60
        while len(proxy.log) < k and p.poll() is None and \
                time.time() < end:
            time.sleep(0.02)
        p.kill()
        p.wait()
        hold.set()
        check_manifest_complete(server, pfx)
        proxy.rule = lambda m, p, n: None
        j = json.loads(u.ok("push", "--seal", "--json").stdout)
        assert j["generation"] >= gen
        gen = j["generation"]
        check_manifest_complete(server, pfx)
    u.ok("evict")
    cat_all(u, ids)
    assert u("validate").returncode == 0
