"""Fixtures for driving the `udos` binary (UDOS_BIN) through subprocess."""
import hashlib
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _find_bin():
    b = os.environ.get("UDOS_BIN")
    if b:
        return b
    for d in ("build-cli", "build"):
        p = os.path.join(HERE, "..", "..", d, "cli", "udos")
        if os.path.exists(p):
            return os.path.abspath(p)
    pytest.exit("set UDOS_BIN to the udos binary", returncode=2)


UDOS = _find_bin()


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Udos:
    """Runs `udos -C <store> ...` and returns the CompletedProcess."""

    def __init__(self, store):
        self.store = str(store)

    def __call__(self, *args, input=None, cwd=None, timeout=60, store=True,
                 env=None):
        cmd = [UDOS]
        if store:
            cmd += ["-C", self.store]
        cmd += [str(a) for a in args]
        e = dict(os.environ)
        e.pop("UDOS_CONTAINER", None)
        if env:
            e.update(env)
        return subprocess.run(cmd, input=input, capture_output=True,
                              cwd=cwd, timeout=timeout, env=e)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.returncode == 0, (args, r.returncode, r.stderr.decode())
        return r

    def popen(self, *args, **kw):
        return subprocess.Popen([UDOS, "-C", self.store] +
                                [str(a) for a in args], **kw)

    def add(self, *args):
        """add ... -> list of (hash, path) in output order."""
        r = self.ok("add", *args)
        out = []
        for line in r.stdout.decode().splitlines():
            h, p = line.split("  ", 1)
            out.append((h, p))
        return out

    def cat(self, *hashes):
        return self.ok("cat", *hashes).stdout


@pytest.fixture
def udos(tmp_path):
    """A fresh, initialised container (zstd:1, defaults)."""
    u = Udos(tmp_path / "store")
    u.ok("init", u.store, store=False)
    return u


@pytest.fixture
def bare(tmp_path):
    """No container yet: Udos bound to tmp_path/store."""
    return Udos(tmp_path / "store")


def write(path, data):
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path
