"""Shared by the remote tests (test_remote.py, test_remote_gc.py): the
versitygw server and fault proxy fixtures, containers made from this
machine's /usr/include, and checks of what lies in the bucket. A test
module imports the fixtures it uses (pytest finds them in its namespace)."""
import glob
import os

import pytest

from conftest import Udos, sha
import s3server
from s3server import FaultProxy, Server

SRC = sorted(p for p in glob.glob("/usr/include/linux/*.h")
             if os.path.isfile(p) and not os.path.islink(p))[:400]
SRC2 = sorted(p for p in glob.glob("/usr/include/x86_64-linux-gnu/bits/*.h")
              if os.path.isfile(p) and not os.path.islink(p))[:120]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    exe = s3server.versitygw_path()
    s = Server(exe, tmp_path_factory.mktemp("s3root"))
    yield s
    s.kill()


@pytest.fixture
def proxy(server):
    p = FaultProxy(server.port)
    yield p
    p.close()


_n = [0]


def prefix():
    _n[0] += 1
    return "t%d-%d" % (os.getpid(), _n[0])


class U(Udos):
    def __call__(self, *args, env=None, **kw):
        e = s3server.env()
        if env:
            e.update(env)
        return super().__call__(*args, env=e, **kw)


def make(tmp_path, name, files, pack_size="256K", compression="zstd:1"):
    u = U(tmp_path / name)
    u.ok("init", tmp_path / name, "--pack-size", pack_size, "--compression",
         compression, store=False)
    ids = dict(u.add(*files))
    u.ok("pack")
    return u, {h: open(p, "rb").read() for h, p in ids.items()}


def remote(u, endpoint, pfx):
    u.ok("remote", "set", "s3://%s/%s" % (s3server.BUCKET, pfx),
         "--endpoint", endpoint)


def manifest(server, pfx):
    objs = server.objects(pfx)
    gens = sorted(k for k in objs if k.startswith("manifests/"))
    return gens, (objs[gens[-1]].decode() if gens else None), objs


def check_manifest_complete(server, pfx):
    """Every object a manifest names exists whole (size and SHA-256)."""
    gens, _, objs = manifest(server, pfx)
    for g in gens:
        for line in objs[g].decode().splitlines():
            if line.startswith("deletions "):
                _, n, dsha = line.split()
                d = objs["deletions/" + dsha]
                assert len(d) == 16 + 32 * int(n) and sha(d) == dsha
            if not line.startswith("pack "):
                continue
            _, pid, size, psha, rsize, rsha = line.split()
            data = objs["packs/%s-%s" % (pid, psha)]
            rec = objs["packs/%s-%s.rec" % (pid, psha)]
            assert len(data) == int(size) and sha(data) == psha
            assert len(rec) == int(rsize) and sha(rec) == rsha


def cat_all(u, ids, **kw):
    for h, data in ids.items():
        r = u("cat", h, **kw)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == data


def local_packs(u):
    return sorted(os.listdir(os.path.join(u.store, "packs")))
