"""The progress line: only on a tty, not with -q, cleared at the end."""
import os
import pty
import subprocess

from conftest import UDOS, write


def run_with_tty_stderr(args):
    master, slave = pty.openpty()
    try:
        p = subprocess.run([UDOS] + args, stdout=subprocess.PIPE,
                           stderr=slave, timeout=60)
        os.close(slave)
        slave = -1
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the slave side is closed
                break
            if not chunk:
                break
            err += chunk
        return p, err
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)


def test_progress_only_on_tty(udos, tmp_path):
    paths = [write(tmp_path / "in" / ("f%03d" % i), os.urandom(512))
             for i in range(50)]
    udos.ok("add", "--to", "loose", "-r", tmp_path / "in")
    p, err = run_with_tty_stderr(["-C", udos.store, "pack"])
    assert p.returncode == 0, err
    assert b"packing: " in err
    assert err.endswith(b"\r\x1b[K")  # cleared
    assert p.stdout.startswith(b"packed 50 objects")
    # -q: nothing on the tty
    p, err = run_with_tty_stderr(["-q", "-C", udos.store, "validate"])
    assert p.returncode == 0 and err == b""
    # not a tty: no progress either
    r = udos.ok("validate", "--full")
    assert b"\r" not in r.stderr
    assert len(paths) == 50
