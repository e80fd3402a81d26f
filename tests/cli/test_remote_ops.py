"""What else a container with a remote must do (issue 10): backup and
restore with evicted packs and of a clone, validate without downloading,
reads of evicted packs from several threads, HTTPS with a CA bundle and
session tokens. Against versitygw on 127.0.0.1, with
this machine's /usr/include as data (fixtures: remote_helpers.py)."""
import json
import os
import re
import shutil
import subprocess
import threading

import pytest

from conftest import UDOS
import s3server
from remote_helpers import (SRC, U, cat_all,  # noqa: F401 fixtures
                            make, prefix, proxy, remote, server)


def write_manifest(tmp_path, u, files):
    """`udos add` output for files already in u: the sha256sum manifest
    restore takes (paths relative to /, restored under DEST)."""
    r = u.ok("add", *files)
    lines = []
    for line in r.stdout.decode().splitlines():
        h, p = line.split("  ", 1)
        lines.append("%s  %s\n" % (h, p.lstrip("/")))
    m = tmp_path / "manifest.sha256"
    m.write_text("".join(lines))
    return m


def restore_and_check(u, man, dest):
    """restore MANIFEST DEST, then `sha256sum -c` in DEST."""
    r = u("restore", man, dest)
    assert r.returncode == 0, r.stderr.decode()
    c = subprocess.run(["sha256sum", "-c", "--quiet", str(man)], cwd=dest,
                       capture_output=True)
    assert c.returncode == 0, c.stdout.decode() + c.stderr.decode()


def pack_files(d):
    return sorted(os.listdir(os.path.join(str(d), "packs")))


def evicted_container(tmp_path, endpoint):
    u, ids = make(tmp_path, "c", SRC)
    pfx = prefix()
    remote(u, endpoint, pfx)
    n = json.loads(u.ok("push", "--seal", "--json").stdout)["remote_packs"]
    assert n >= 4
    return u, ids, pfx, n


def vjson(u, *args):
    r = u("validate", "--json", *args)
    return r.returncode, json.loads(r.stdout.decode().splitlines()[-1])[
        "summary"]


def test_backup_and_restore_with_evicted_packs(tmp_path, server, proxy):
    u, ids, pfx, n = evicted_container(tmp_path, proxy.endpoint)
    man = write_manifest(tmp_path, u, SRC)
    # a backup taken before the eviction holds every pack whole
    full = U(tmp_path / "full")
    u.ok("backup", full.store)
    u.ok("evict")
    assert [p for p in pack_files(u.store) if not p.endswith(".rec")] == \
        [str(n)]
    # restore from the container itself reads through the remote
    restore_and_check(u, man, tmp_path / "out0")

    # default: the evicted packs stay on the remote, the copy reads them
    # through it as the container does
    bk = U(tmp_path / "bk")
    j = json.loads(u.ok("backup", "--json", bk.store).stdout)
    assert j["evicted"] == n and j["evicted_fetched"] == 0
    assert pack_files(bk.store) == pack_files(u.store)
    for f in ("remote.conf", "remote.manifest"):
        assert open(os.path.join(bk.store, f)).read() == \
            open(os.path.join(u.store, f)).read()
    rc, s = vjson(bk)
    assert rc == 0 and s["findings"] == 0 and s["evicted_packs"] == n
    restore_and_check(bk, man, tmp_path / "out1")
    st = json.loads(bk.ok("status", "--json").stdout)["remote"]
    assert st["packs_remote"] == n and st["bytes_cached"] > 0
    # again: nothing to copy
    j = json.loads(u.ok("backup", "--json", bk.store).stdout)
    assert j["pack_bytes"] == 0 and j["evicted"] == n

    # a copy that already holds a pack whole keeps it
    j = json.loads(u.ok("backup", "--json", full.store).stdout)
    assert j["evicted"] == 0 and j["pack_bytes"] == 0
    assert len(pack_files(full.store)) == 2 * (n + 1)

    # --fetch-evicted: a copy that stands alone
    alone = U(tmp_path / "alone")
    j = json.loads(u.ok("backup", "--json", "--fetch-evicted",
                        alone.store).stdout)
    assert j["evicted_fetched"] == n and j["evicted"] == 0
    assert len(pack_files(alone.store)) == 2 * (n + 1)
    # the default copy upgraded in place, its partial state checked
    j = json.loads(u.ok("backup", "--json", "--fetch-evicted",
                        bk.store).stdout)
    assert j["evicted_fetched"] == n
    assert len(pack_files(bk.store)) == 2 * (n + 1)
    # and a plain backup again leaves the downloaded data there
    j = json.loads(u.ok("backup", "--json", bk.store).stdout)
    assert j["evicted"] == 0 and j["removed"] == 0
    assert len(pack_files(bk.store)) == 2 * (n + 1)

    # the remote goes away: the copies with the data read on, the others
    # fail clearly
    proxy.close()
    for c in (alone, full, bk):
        shutil.rmtree(os.path.join(c.store, "cache"), ignore_errors=True)
        rc, s = vjson(c, "--full")
        assert rc == 0 and s["evicted_packs"] == 0, s
        restore_and_check(c, man, tmp_path / ("out-" +
                                              os.path.basename(c.store)))
    shutil.rmtree(os.path.join(u.store, "cache"))
    h = next(iter(ids))
    r = u("cat", h, env={"UDOS_S3_TRIES": "1"})
    assert r.returncode == 3 and b"connect" in r.stderr


def test_backup_and_restore_of_a_clone(tmp_path, server):
    u, ids, pfx, n = evicted_container(tmp_path, server.endpoint)
    man = write_manifest(tmp_path, u, SRC)
    cl = U(tmp_path / "clone")
    U(tmp_path).ok("clone", "s3://%s/%s" % (s3server.BUCKET, pfx),
                   cl.store, "--endpoint", server.endpoint, store=False)
    restore_and_check(cl, man, tmp_path / "out0")
    bk = U(tmp_path / "bk")
    j = json.loads(cl.ok("backup", "--json", bk.store).stdout)
    assert j["evicted"] == n  # every pack of a clone is evicted
    assert "clone 1" in open(os.path.join(bk.store, "remote.conf")).read()
    rc, s = vjson(bk)
    assert rc == 0 and s["evicted_packs"] == n
    restore_and_check(bk, man, tmp_path / "out1")
    # a clone's copy is a clone: read-only, and it pulls
    r = bk("add", SRC[0])
    assert r.returncode != 0
    bk.ok("pull")
    # standalone
    alone = U(tmp_path / "alone")
    j = json.loads(cl.ok("backup", "--json", "--fetch-evicted",
                         alone.store).stdout)
    assert j["evicted_fetched"] == n
    shutil.rmtree(os.path.join(alone.store, "cache"), ignore_errors=True)
    e = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
         "HOME": str(tmp_path)}
    rc, s = vjson(alone, "--full")
    assert rc == 0 and s["evicted_packs"] == 0
    # no credentials, so surely no remote: the data is all here
    r = alone("restore", man, tmp_path / "out2", env=e)
    assert r.returncode == 0, r.stderr.decode()
    c = subprocess.run(["sha256sum", "-c", "--quiet", str(man)],
                       cwd=tmp_path / "out2", capture_output=True)
    assert c.returncode == 0


def test_backup_of_evicted_pack_missing_from_manifest(tmp_path, server):
    u, ids, pfx, n = evicted_container(tmp_path, server.endpoint)
    u.ok("evict")
    # the manifest no longer lists pack 0 (damaged by hand): its data is
    # nowhere, and backup says so rather than copy a container that
    # cannot read it
    mp = os.path.join(u.store, "remote.manifest")
    text = open(mp).read()
    open(mp, "w").write(re.sub(r"(?m)^pack 0 .*\n", "", text))
    r = u("backup", tmp_path / "bk")
    assert r.returncode == 3
    assert b"packs/0' is missing and its remote does not list it" in \
        r.stderr


def test_validate_never_downloads(tmp_path, server, proxy):
    u, ids, pfx, n = evicted_container(tmp_path, proxy.endpoint)
    u.ok("evict")
    nrec = len(ids)
    for args in ((), ("--full",)):
        proxy.reset()
        rc, s = vjson(u, *args)
        assert proxy.log == [], proxy.log
        assert rc == 0 and s["findings"] == 0
        assert s["evicted_packs"] == n
        # the unsealed last pack is local and checked; the rest is not
        assert s["evicted_records"] + s["records_checked"] == nrec
        assert s["evicted_records"] > 0
    r = u("validate")
    assert b"not checked" in r.stderr and b"validate --remote" in r.stderr
    # records whose blocks the cache holds are checked, still no request
    some = dict(list(ids.items())[:40])
    cat_all(u, some)
    proxy.reset()
    rc, s2 = vjson(u, "--full")
    assert proxy.log == [] and rc == 0
    assert s2["records_checked"] > s["records_checked"]
    assert s2["evicted_records"] < s["evicted_records"]
    # a damaged cached byte is found
    cdir = os.path.join(u.store, "cache")
    data = [f for f in os.listdir(cdir) if not f.endswith(".map")]
    victim = max(data, key=lambda f: os.stat(os.path.join(cdir, f)).st_blocks)
    # a byte validate checks: the middle of a 64 KiB block the map marks
    # held (which blocks the cat fetched depends on the ingest's order)
    with open(os.path.join(cdir, victim + ".map"), "rb") as f:
        held = f.read()
    size = os.path.getsize(os.path.join(cdir, victim))
    mids = [i * 65536 + 32768 for i, m in enumerate(held)
            if m == 1 and i * 65536 + 32768 < size]
    # best between two held neighbours: no record around it is cut short
    inner = [a for a in mids if a - 65536 in mids and a + 65536 in mids]
    at = (inner or mids)[0]
    with open(os.path.join(cdir, victim), "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0xFF]))
    rc, s3 = vjson(u)
    assert rc == 1 and s3["findings"] >= 1
    assert proxy.log == []
    # validate --remote is where the remote is checked
    r = u("validate", "--remote", "--full")
    assert r.returncode == 0, r.stderr.decode()
    assert [x for x in proxy.log if x[0] == "GET"]


# ---- HTTPS with a CA bundle ------------------------------------------------

def self_signed(d, name):
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key."""
    cert, key = d / (name + ".pem"), d / (name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(d, "server")
    other, _ = self_signed(d, "other")
    s = s3server.Server(s3server.versitygw_path(), d / "root", cert, key)
    s.other_cert = other
    yield s
    s.kill()


def test_https_with_a_ca_bundle(tmp_path, tls_server):
    srv = tls_server
    assert srv.endpoint.startswith("https://")
    u, ids = make(tmp_path, "c", SRC[:120])
    pfx = prefix()
    remote(u, srv.endpoint, pfx)
    # the system does not trust it: one clear line, at once (no retries)
    sysca = {"AWS_CA_BUNDLE": ""}
    r = u("push", "--seal", env=sysca)
    err = r.stderr.decode()
    assert r.returncode == 3 and err.count("\n") == 1, err
    assert "not trusted" in err and "AWS_CA_BUNDLE" in err
    assert "(after 1 tries)" in err
    # AWS_CA_BUNDLE names the CA
    ca = {"AWS_CA_BUNDLE": str(srv.cert)}
    u.ok("push", "--seal", env=ca)
    u.ok("evict", env=ca)
    cat_all(u, ids, env=ca)
    # --ca-bundle keeps it in remote.conf, by its absolute path
    rel = os.path.relpath(str(srv.cert))
    u.ok("remote", "set", "s3://%s/%s" % (s3server.BUCKET, pfx),
         "--endpoint", srv.endpoint, "--ca-bundle", rel)
    j = json.loads(u.ok("remote", "show", "--json").stdout)
    assert j["ca_bundle"] == str(srv.cert)
    shutil.rmtree(os.path.join(u.store, "cache"))
    # the remote's own setting wins over the variable (often set machine
    # wide to the system's bundle)
    cat_all(u, ids, env={"AWS_CA_BUNDLE": str(srv.other_cert)})
    # a CA that did not sign it fails clearly
    u.ok("remote", "set", "s3://%s/%s" % (s3server.BUCKET, pfx),
         "--endpoint", srv.endpoint, "--ca-bundle", srv.other_cert)
    shutil.rmtree(os.path.join(u.store, "cache"))
    h = next(iter(ids))
    r = u("cat", h)
    err = r.stderr.decode()
    assert r.returncode == 3 and err.count("\n") == 1 and "TLS" in err
    assert "not trusted" in err
    # a bundle that is not there is refused when set
    r = u("remote", "set", "s3://%s/%s" % (s3server.BUCKET, pfx),
          "--endpoint", srv.endpoint, "--ca-bundle", tmp_path / "nope.pem")
    assert r.returncode != 0
    assert b"cannot read the CA bundle" in r.stderr
    # clone over https
    v = U(tmp_path / "clone")
    r = v("clone", "s3://%s/%s" % (s3server.BUCKET, pfx), v.store,
          "--endpoint", srv.endpoint, store=False, env=sysca)
    assert r.returncode == 3 and b"not trusted" in r.stderr
    shutil.rmtree(v.store, ignore_errors=True)
    v.ok("clone", "s3://%s/%s" % (s3server.BUCKET, pfx), v.store,
         "--endpoint", srv.endpoint, "--ca-bundle", srv.cert, store=False)
    cat_all(v, ids)


# ---- session tokens ----------------------------------------------------------

def sigv4_ok(method, path, hdrs, secret):
    """Whether the Authorization header of a request the proxy saw is the
    SigV4 signature of what it lists in SignedHeaders (computed here)."""
    import hashlib
    import hmac
    auth = hdrs["authorization"]
    m = re.match(r"AWS4-HMAC-SHA256 Credential=[^/]+/(\d{8})/([^/]+)/s3/"
                 r"aws4_request, SignedHeaders=([^,]+), Signature=(\w+)",
                 auth)
    date, region, signed, sig = m.groups()
    uri, _, query = path.partition("?")
    canon = "\n".join(
        [method, uri, query] +
        ["%s:%s" % (h, " ".join(hdrs[h].split()))
         for h in signed.split(";")] +
        ["", signed, hdrs["x-amz-content-sha256"]])
    scope = "%s/%s/s3/aws4_request" % (date, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", hdrs["x-amz-date"], scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest() == sig


def test_session_token_is_sent_and_signed(tmp_path, server, proxy):
    u, ids = make(tmp_path, "c", SRC[:50])
    remote(u, proxy.endpoint, prefix())
    # first, without a token: the check below holds for plain requests
    u.ok("push", "--seal")
    assert proxy.headers and all(
        sigv4_ok(m, p, h, s3server.SECRET) for m, p, h in proxy.headers)
    assert all("x-amz-security-token" not in h for _, _, h in proxy.headers)
    proxy.reset()
    tok = "FwoGZXIvYXdzE-udos-test-token/with+odd=chars"
    r = u("push", env={"AWS_SESSION_TOKEN": tok})
    # versitygw's root account takes no session token: its refusal shows
    # the server read the header; the proxy shows it signed
    assert r.returncode == 3 and b"InvalidToken" in r.stderr
    assert r.stderr.decode().count("\n") == 1
    assert proxy.headers
    for m, p, h in proxy.headers:
        assert h["x-amz-security-token"] == tok
        assert "x-amz-security-token" in re.search(
            r"SignedHeaders=([^,]+)", h["authorization"]).group(1)
        assert sigv4_ok(m, p, h, s3server.SECRET)
        forged = dict(h, **{"x-amz-security-token": tok + "x"})
        assert not sigv4_ok(m, p, forged, s3server.SECRET)
    # from ~/.aws/credentials too
    proxy.reset()
    home = tmp_path / "home"
    os.makedirs(home / ".aws")
    (home / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
        "aws_session_token = %s\n" % (s3server.KEY, s3server.SECRET, tok))
    e = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
         "HOME": str(home)}
    r = u("push", env=e)
    assert r.returncode == 3 and b"InvalidToken" in r.stderr
    assert proxy.headers[0][2]["x-amz-security-token"] == tok
