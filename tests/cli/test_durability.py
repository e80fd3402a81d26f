"""Folder fsyncs that make init and loose writes survive a power cut,
checked by tracing the fsync calls (strace -y names each fd's path)."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import UDOS, write

pytestmark = pytest.mark.skipif(shutil.which("strace") is None,
                                reason="needs strace")


def traced_fsyncs(tmp_path, *args):
    """Run udos under strace; the paths fsynced, in order."""
    log = tmp_path / "strace.log"
    # LeakSanitizer cannot run under ptrace (an ASan build of udos)
    # LeakSanitizer cannot run under ptrace; the last setting wins
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") +
               ":detect_leaks=0")
    try:
        r = subprocess.run(["strace", "-f", "-qq", "-y", "-o", str(log),
                            "-e", "trace=fsync,fdatasync", UDOS] +
                           [str(a) for a in args],
                           capture_output=True, timeout=300, env=env)
    except OSError as e:
        pytest.skip("cannot run strace: %s" % e)
    if not log.exists() or b"PTRACE" in r.stderr:
        pytest.skip("strace not permitted: %s" % r.stderr.decode())
    assert r.returncode == 0, r.stderr.decode()
    return re.findall(r"f(?:data)?sync\(\d+<([^>]*)>\) = 0", log.read_text())


def test_init_syncs_the_parent_and_every_new_folder(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    store = parent / "store"
    synced = traced_fsyncs(tmp_path, "init", store)
    # the parent holds the new folder's entry: without its fsync the whole
    # container (and every object acknowledged in it) can vanish
    assert str(parent) in synced
    assert synced.index(str(parent)) > 0  # after making the folder
    for sub in ("", "/loose", "/sandbox", "/packs", "/index"):
        assert str(store) + sub in synced, (sub, synced)
    # the container folder is synced after its entries exist (last)
    assert synced[-1] in (str(store), str(parent))


def test_loose_add_syncs_a_prefix_folder_it_finds(tmp_path):
    """A prefix folder left by a writer that died before syncing loose/ is
    synced by the next writer that puts an object in it."""
    store = tmp_path / "store"
    subprocess.run([UDOS, "init", str(store)], check=True, timeout=120)
    f = write(tmp_path / "a.txt", b"prefix folder made by someone else\n")
    h = subprocess.run([UDOS, "-C", str(store), "add", "--to", "loose", f],
                       capture_output=True, check=True,
                       timeout=120).stdout.decode()[:64]
    os.unlink(store / "loose" / h[:2] / h[2:])  # the folder stays
    synced = traced_fsyncs(tmp_path, "-C", store, "add", "--to", "loose", f)
    loose, prefix = str(store / "loose"), str(store / "loose" / h[:2])
    assert loose in synced and prefix in synced, synced
    assert synced.index(loose) < synced.index(prefix)
