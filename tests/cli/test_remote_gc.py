"""Deletion marks published on the remote, `udos remote gc` after a grace
period, and readers meeting packs that gc removed: against the real S3
server of test_remote.py (versitygw on 127.0.0.1), directly and through the
fault proxy. Data: this machine's /usr/include."""
import fcntl
import json
import os
import shutil
import time

import s3server
from conftest import sha
from remote_helpers import (SRC, SRC2, U,  # noqa: F401
                            check_manifest_complete, make,
                            manifest, prefix, proxy, remote, server)


def url(pfx):
    return "s3://%s/%s" % (s3server.BUCKET, pfx)


def clone(tmp_path, name, pfx, endpoint):
    v = U(tmp_path / name)
    v.ok("clone", url(pfx), tmp_path / name, "--endpoint", endpoint,
         store=False)
    return v


def read_all(u, ids):
    """One cat of every id: the bytes of each, in order."""
    hs = sorted(ids)
    r = u("cat", *hs)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"".join(ids[h] for h in hs)


def listed(u):
    return {line.split()[0] for line in
            u.ok("ls").stdout.decode().splitlines()}


def named(text):
    """Keys the manifest text names."""
    out = set()
    for line in text.splitlines():
        f = line.split()
        if f[0] == "pack":
            out |= {"packs/%s-%s" % (f[1], f[3]),
                    "packs/%s-%s.rec" % (f[1], f[3])}
        elif f[0] == "deletions":
            out.add("deletions/" + f[2])
    return out


def stored(objs):
    return {k for k in objs if k.startswith(("packs/", "deletions/"))}


def gc(u, *args, **kw):
    return json.loads(u.ok("remote", "gc", "--json", *args, **kw).stdout)


def test_deletions_reach_clones(tmp_path, server):
    u, ids = make(tmp_path, "c", SRC[:200])
    paths = {sha(open(p, "rb").read()): p for p in SRC[:200]}
    pfx = prefix()
    remote(u, server.endpoint, pfx)
    u.ok("push", "--seal")
    early = clone(tmp_path, "early", pfx, server.endpoint)
    gone = sorted(ids)[:30]
    u.ok("delete", *gone)
    j = json.loads(u.ok("push", "--json").stdout)
    assert j["generation"] == 2 and j["deletions"] == 30 and j["packs"] == 0
    _, text, objs = manifest(server, pfx)
    assert text.startswith("udos-remote 2\n")
    line = [x for x in text.splitlines() if x.startswith("deletions ")]
    assert len(line) == 1 and line[0].split()[1] == "30"
    check_manifest_complete(server, pfx)
    assert u("validate", "--remote").returncode == 0
    # nothing changed: no new generation
    assert json.loads(u.ok("push", "--json").stdout)["generation"] == 2
    keep = {h: d for h, d in ids.items() if h not in gone}
    # a fresh clone and a pulled one: gone for cat and ls
    fresh = clone(tmp_path, "fresh", pfx, server.endpoint)
    j = json.loads(early.ok("pull", "--json").stdout)
    assert j["generation"] == 2 and j["deletions"] == 30
    for v in (fresh, early):
        for h in gone:
            r = v("cat", h)
            assert r.returncode == 1 and b"not found" in r.stderr
        assert listed(v) == set(keep)
        read_all(v, keep)
        assert v("validate").returncode == 0
    # one added back: live again in the clone after the next push
    back = gone[0]
    u.add(paths[back])
    u.ok("pack")
    j = json.loads(u.ok("push", "--seal", "--json").stdout)
    assert j["deletions"] == 29 and j["generation"] == 3
    early.ok("pull")
    assert early.ok("cat", back).stdout == ids[back]
    assert early("cat", gone[1]).returncode == 1
    # a full repack drops the records and the marks: the next manifest
    # carries none (version 1 again), and the clone still lacks them
    u.ok("repack")
    j = json.loads(u.ok("push", "--seal", "--json").stdout)
    assert j["deletions"] == 0 and j["generation"] == 4
    _, text, _ = manifest(server, pfx)
    assert text.startswith("udos-remote 1\n") and "deletions" not in text
    early.ok("pull")
    keep[back] = ids[back]
    assert listed(early) == set(keep)
    read_all(early, keep)
    for h in gone[1:]:
        assert early("cat", h).returncode == 1
    assert early("validate").returncode == 0
    check_manifest_complete(server, pfx)


def test_manifest_of_a_newer_format_is_refused(tmp_path, server):
    u, ids = make(tmp_path, "c", SRC[:20])
    pfx = prefix()
    remote(u, server.endpoint, pfx)
    u.ok("push", "--seal")
    path = server.object_path(pfx, "manifests/0000000000000001")
    text = open(path).read().replace("udos-remote 1", "udos-remote 3", 1)
    open(path, "w").write(text)
    v = U(tmp_path / "v")
    r = v("clone", url(pfx), tmp_path / "v", "--endpoint", server.endpoint,
          store=False)
    assert r.returncode == 3 and b"format version 3" in r.stderr, r.stderr


def test_gc_after_repack(tmp_path, server):
    u, ids = make(tmp_path, "c", SRC)
    pfx = prefix()
    remote(u, server.endpoint, pfx)
    u.ok("push", "--seal")
    u.ok("evict")
    # readers of generation 1, their caches empty
    old = clone(tmp_path, "old", pfx, server.endpoint)
    stuck = clone(tmp_path, "stuck", pfx, server.endpoint)
    gone = sorted(ids)[:100]
    u.ok("delete", *gone)
    u.ok("repack")
    j = json.loads(u.ok("push", "--seal", "--json").stdout)
    assert j["generation"] == 2
    gens, text, objs = manifest(server, pfx)
    before = stored(objs)
    unnamed = before - named(text)
    assert unnamed, "the repack left old packs behind"
    # a clone cannot collect: it does not write the remote
    r = old("remote", "gc", "--grace", "0")
    assert r.returncode == 3 and b"read-only clone" in r.stderr
    # dry run: counts, deletes nothing
    j = gc(u, "--grace", "0", "--dry-run")
    assert j["dry_run"] and j["objects_deleted"] == len(unnamed), j
    assert j["manifests_deleted"] == 1
    assert stored(manifest(server, pfx)[2]) == before
    # a long grace (and the default one day) deletes nothing: generation
    # 1 was the newest a moment ago, its readers may still fetch
    for args in (("--grace", "2h"), ()):
        j = gc(u, *args)
        assert j["objects_deleted"] == 0 and j["manifests_deleted"] == 0
        assert j["manifests_kept"] == 2
        assert j["objects_named"] == len(before)
    gens2, _, objs = manifest(server, pfx)
    assert gens2 == gens and stored(objs) == before
    # grace 0: only what the newest generation names stays
    j = gc(u, "--grace", "0")
    assert j["objects_deleted"] == len(unnamed)
    assert j["manifests_deleted"] == 1 and j["generation"] == 2
    gens, text, objs = manifest(server, pfx)
    assert gens == ["manifests/0000000000000002"]
    assert stored(objs) == named(text)
    check_manifest_complete(server, pfx)
    keep = {h: d for h, d in ids.items() if h not in gone}
    # the writer reads everything, from its packs and through the remote
    read_all(u, keep)
    u.ok("evict")
    shutil.rmtree(os.path.join(u.store, "cache"), ignore_errors=True)
    read_all(u, keep)
    assert u("validate").returncode == 0
    # an old reader meets a removed pack: cat pulls and looks again; when
    # it cannot (another process holds the clone's lock): one clear line
    h = sorted(keep)[0]
    with open(os.path.join(stuck.store, "writer.lock"), "a+") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = stuck("cat", h)
    assert r.returncode == 3 and r.stdout == b""
    err = r.stderr.decode()
    assert "run 'udos pull'" in err and err.count("\n") == 1, err
    assert old.ok("cat", h).stdout == keep[h]
    j = json.loads(old.ok("status", "--json").stdout)["remote"]
    assert j["generation"] == 2
    read_all(old, keep)
    assert listed(old) == set(keep)
    stuck.ok("pull")
    read_all(stuck, keep)
    # a fresh clone
    read_all(clone(tmp_path, "new", pfx, server.endpoint), keep)
    # nothing more to collect
    j = gc(u, "--grace", "0")
    assert j["objects_deleted"] == 0 and j["manifests_deleted"] == 0


def test_gc_sweeps_lost_race_and_uploads(tmp_path, server, proxy):
    u, ids = make(tmp_path, "a", SRC[:200])
    pfx = prefix()
    remote(u, proxy.endpoint, pfx)
    u.ok("push", "--seal")
    shutil.copytree(u.store, tmp_path / "b")
    w = U(tmp_path / "b")
    ids_a = dict(u.add(*SRC[200:300]))
    w.add(*SRC2[:60])
    u.ok("pack")
    w.ok("pack")
    # the loser uploads its packs, then its manifest create is refused
    proxy.rule = lambda m, p, n: ("slowdown" if m == "PUT" and
                                  "/manifests/" in p else None)
    r = w("push", "--seal", env={"UDOS_S3_TRIES": "1"})
    assert r.returncode == 3
    proxy.rule = lambda m, p, n: None
    u.ok("push", "--seal")
    _, text, objs = manifest(server, pfx)
    lost = stored(objs) - named(text)
    assert lost, "the loser's uploads are there, unlisted"
    # an incomplete multipart upload, as a killed push leaves
    assert server.s3("POST", "/%s/%s/packs/9-x?uploads=" %
                     (s3server.BUCKET, pfx)) == 200
    # ages are whole seconds of the server's clock, whose Date header may
    # lag by up to a second: let the upload be older than "now" for grace 0
    time.sleep(2.1)
    j = gc(u, "--grace", "0", "--dry-run")
    assert j["objects_deleted"] == len(lost) and j["uploads_aborted"] == 1
    j = gc(u, "--grace", "1d")
    assert j["objects_deleted"] == 0 and j["uploads_aborted"] == 0
    j = gc(u, "--grace", "0")
    assert j["objects_deleted"] == len(lost) and j["uploads_aborted"] == 1
    _, text, objs = manifest(server, pfx)
    assert stored(objs) == named(text)
    assert gc(u, "--grace", "0", "--dry-run")["uploads_aborted"] == 0
    check_manifest_complete(server, pfx)
    u.ok("evict")
    read_all(u, ids)
    read_all(u, {h: open(p, "rb").read() for h, p in ids_a.items()})
    # the loser still has all it holds: its packs stayed local
    assert w("validate").returncode == 0
    # bad grace: a usage error
    r = u("remote", "gc", "--grace", "1w")
    assert r.returncode == 2 and b"grace" in r.stderr


def test_gc_under_faults(tmp_path, server, proxy):
    u, ids = make(tmp_path, "c", SRC[:250])
    pfx = prefix()
    remote(u, proxy.endpoint, pfx)
    u.ok("push", "--seal")
    u.ok("delete", *sorted(ids)[:40])
    u.ok("repack")
    u.ok("push", "--seal")
    _, text, objs = manifest(server, pfx)
    unnamed = stored(objs) - named(text)
    assert unnamed
    # every delete call and listing answered 503 SlowDown twice first
    proxy.rule = lambda m, p, n: ("slowdown" if n < 2 and
                                  (m == "POST" and "delete=" in p or
                                   m == "GET" and "list-type" in p)
                                  else None)
    proxy.reset()
    j = gc(u, "--grace", "0")
    assert j["objects_deleted"] == len(unnamed)
    dels = [x for x in proxy.log if x[0] == "POST" and "delete=" in x[1]]
    assert len(dels) >= 3, dels
    _, text, objs = manifest(server, pfx)
    assert stored(objs) == named(text)
    check_manifest_complete(server, pfx)
    # a delete that keeps failing: a clear error, nothing named is touched
    u.ok("delete", *sorted(ids)[40:60])
    u.ok("repack")
    u.ok("push", "--seal")
    _, text, objs = manifest(server, pfx)
    assert stored(objs) - named(text)
    proxy.rule = lambda m, p, n: ("slowdown" if m == "POST" and
                                  "delete=" in p else None)
    r = u("remote", "gc", "--grace", "0", env={"UDOS_S3_TRIES": "2"})
    assert r.returncode == 3 and b"after 2 tries" in r.stderr, r.stderr
    proxy.rule = lambda m, p, n: None
    check_manifest_complete(server, pfx)
    keep = {h: d for h, d in ids.items() if h not in sorted(ids)[:60]}
    u.ok("evict")
    read_all(u, keep)
    read_all(clone(tmp_path, "v", pfx, server.endpoint), keep)
