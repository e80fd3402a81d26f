"""`add` on real folders of this machine: /usr/include (walked with -r)
and a few thousand files of /usr/share (named through --files-from), with
default options through both read paths. The two containers must hold the
same objects, every manifest line must pass `sha256sum -c` against the
originals, and the stored bytes `udos cat` gives back must too. Then what
-r does with symlinks, special files and unreadable files."""
import os
import shutil
import socket
import stat
import subprocess
import tempfile

import pytest

from conftest import UDOS, Udos, sha, write
from test_ingest import manifest, uring_works

INCLUDE = "/usr/include"
SHARE = "/usr/share"
SHARE_FILES = 3000        # at most this many files of /usr/share
SHARE_BYTES = 48 << 20    # and this many bytes
SHARE_STRIDE = 7          # every 7th file: many folders, many kinds
TIMEOUT = 600             # the machine is shared and loaded


def share_sample():
    """Regular files of /usr/share this process can read, in a stable
    order, spread over the tree; symlinks and special files left out."""
    out, total, i = [], 0, 0
    for root, dirs, files in os.walk(SHARE):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(root, name)
            i += 1
            if i % SHARE_STRIDE:
                continue
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or not os.access(p, os.R_OK):
                continue
            if total + st.st_size > SHARE_BYTES:
                continue
            out.append(os.fsencode(p))
            total += st.st_size
            if len(out) >= SHARE_FILES:
                return out
    return out


def cat_check(u, ids, tmp):
    """Write each object as `udos cat` gives it to tmp/<id> and check them
    all with sha256sum -c."""
    sizes = {}
    for line in u.ok("ls", "-l", timeout=TIMEOUT).stdout.splitlines():
        f = line.split()
        sizes[f[0].decode()] = int(f[1])
    os.makedirs(tmp)
    ids = sorted(ids)
    for i in range(0, len(ids), 400):
        batch = ids[i:i + 400]
        data = u.ok("cat", *batch, timeout=TIMEOUT).stdout
        off = 0
        for h in batch:
            with open(os.path.join(tmp, h), "wb") as f:
                f.write(data[off:off + sizes[h]])
            off += sizes[h]
        assert off == len(data)
    lines = "".join("%s  %s\n" % (h, h) for h in ids).encode()
    chk = subprocess.run(["sha256sum", "-c", "--quiet", "--strict"],
                         input=lines, cwd=tmp, capture_output=True,
                         timeout=TIMEOUT)
    assert chk.returncode == 0, chk.stdout[-2000:] + chk.stderr[-2000:]


@pytest.mark.skipif(not os.path.isdir(INCLUDE) or not os.path.isdir(SHARE),
                    reason="no /usr/include or /usr/share here")
def test_real_folders_both_io_paths(tmp_path):
    if not uring_works(tmp_path):
        pytest.skip("no io_uring here")
    share = share_sample()
    assert len(share) > 500
    outs, lss, errs = [], [], []
    for io in ("uring", "threads"):
        u = Udos(tmp_path / ("store-" + io))
        u.ok("init", u.store, store=False)
        # default options but the read path; -q: no summary line
        r = u("-q", "add", "--io", io, "-r", INCLUDE,
              "--files-from", "-", "-0", input=b"\0".join(share) + b"\0",
              timeout=TIMEOUT)
        # as root every file here is readable; otherwise only permission
        # errors are allowed, and both paths must see the same
        err = sorted(l for l in r.stderr.decode(errors="replace")
                     .splitlines() if "skipping" not in l)
        assert r.returncode in (0, 1), r.stderr[-2000:]
        assert all("permission denied" in l for l in err), err[:5]
        if os.geteuid() == 0:
            assert r.returncode == 0, err[:5]
        outs.append(manifest(r))
        lss.append(u.ok("ls", "-l", timeout=TIMEOUT).stdout)
        errs.append(err)
        u.ok("validate", timeout=TIMEOUT)
    assert outs[0] == outs[1]
    assert lss[0] == lss[1]
    assert errs[0] == errs[1]
    assert len(outs[0]) >= len(share) + 1000
    # every line names the original and its SHA-256
    chk = subprocess.run(["sha256sum", "-c", "--quiet", "--strict"],
                         input=b"\n".join(outs[0]) + b"\n",
                         capture_output=True, timeout=TIMEOUT)
    assert chk.returncode == 0, chk.stdout[-2000:] + chk.stderr[-2000:]
    # and the container gives back those bytes
    ids = {l.split(b"  ", 1)[0].decode() for l in outs[0]}
    assert ids == {l.split()[0].decode() for l in lss[0].splitlines()}
    cat_check(Udos(tmp_path / "store-uring"), ids, tmp_path / "cat")


def special_tree(base):
    d = os.path.join(base, "d")
    write(os.path.join(d, "a"), b"plain\n")
    write(os.path.join(d, "sub", "b"), b"in a folder\n")
    write(os.path.join(d, "noread"), b"secret\n")
    os.chmod(os.path.join(d, "noread"), 0)
    os.symlink("a", os.path.join(d, "lnk"))
    os.symlink("/nonexistent/x", os.path.join(d, "dangling"))
    os.symlink("sub", os.path.join(d, "dirlink"))
    os.mkfifo(os.path.join(d, "fifo"))
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(d, "sock"))
    s.close()
    return d


def as_nobody():
    """A prefix that runs a command as nobody, or None."""
    if os.geteuid() != 0:
        return []
    sp = shutil.which("setpriv")
    if not sp:
        return None
    return [sp, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.parametrize("io", ["uring", "threads"])
def test_walk_skips_links_and_special_files(tmp_path, io):
    if io == "uring" and not uring_works(tmp_path):
        pytest.skip("no io_uring here")
    pre = as_nobody()
    if pre is None:
        pytest.skip("no way to run as another user")
    # nobody must reach the folder: not under pytest's private tmp_path
    base = tempfile.mkdtemp(prefix="udos-real-")
    try:
        os.chmod(base, 0o777)
        d = special_tree(base)
        store = os.path.join(base, "c")
        run = lambda *a: subprocess.run(pre + [UDOS] + list(a),
                                        capture_output=True,
                                        timeout=TIMEOUT)
        r = run("init", store)
        assert r.returncode == 0, r.stderr
        r = run("-C", store, "add", "--io", io, "-r", d)
        err = r.stderr.decode().splitlines()
        # by default one line counts what was skipped, by kind
        assert "udos add: skipped 3 symlinks, 1 fifo, 1 socket " \
            "(-v lists them)" in err, err
        r = run("-C", store, "add", "-v", "--io", io, "-r", d)
        err = r.stderr.decode().splitlines()
        got = dict(l.split("  ", 1)[::-1]
                   for l in r.stdout.decode().splitlines())
        # regular files only; links (even to a file or a folder) and
        # special files are skipped, one warning each
        assert got == {d + "/a": sha(b"plain\n"),
                       d + "/sub/b": sha(b"in a folder\n")}
        for what, name in (("symlink", "lnk"), ("symlink", "dangling"),
                           ("symlink", "dirlink"), ("fifo", "fifo"),
                           ("socket", "sock")):
            assert "udos add: skipping %s '%s/%s'" % (what, d, name) \
                in err, err
        # the unreadable file is a per-file error: the rest is stored,
        # the exit status says something failed
        assert "udos add: permission denied '%s/noread'" % d in err, err
        assert r.returncode == 1
        r = run("-C", store, "validate")
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
