"""A full disk: a clear one-line error naming the cause, exit 3, and
nothing already stored is lost. Uses a small tmpfs (needs root to mount;
skipped otherwise)."""
import os
import subprocess

import pytest

from conftest import Udos, sha, write


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6M", "tmpfs",
                        str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.decode().strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


@pytest.mark.parametrize("to", ["pack", "loose"])
def test_full_disk(small_fs, tmp_path, to):
    u = Udos(small_fs / "store")
    u.ok("init", u.store, store=False)
    small = [write(tmp_path / f"s{i}", b"small %d\n" % i * 100) for i in range(20)]
    before = u.add("--to", to, *small)
    assert len(before) == 20
    big = write(tmp_path / "big", os.urandom(8 << 20))
    r = u("add", "--to", to, "--compress", "no", big)
    assert r.returncode == 3, r.stderr.decode()
    err = r.stderr.decode().strip().splitlines()
    assert any("no space left on device" in line for line in err), err
    # nothing already stored is lost, and the container is sound
    for h, p in before:
        assert sha(u.cat(h)) == h
    # free the space the failed write may hold, then check everything
    u.ok("pack") if to == "loose" else None
    v = u("validate", "--full")
    assert v.returncode == 0, v.stdout + v.stderr
    assert not os.listdir(os.path.join(u.store, "sandbox"))
