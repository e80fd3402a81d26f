"""What the install tests share: the build under test (from ctest's
environment), a runner that reports a failed command's output, and the
checks run both on an install prefix and on an unpacked .deb."""
import hashlib
import os
import re
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# Real files of this machine, stored and read back by every check.
REAL_FILES = ["/usr/include/stdio.h", "/usr/include/stdlib.h",
              "/usr/share/common-licenses/GPL-3"]


def env(name):
    v = os.environ.get(name)
    if not v:
        pytest.exit(f"{name} is not set: run this through ctest", returncode=2)
    return v


BUILD = env("UDOS_BUILD_DIR")
SOURCE = env("UDOS_SOURCE_DIR")
VERSION = env("UDOS_VERSION")
SOVERSION = env("UDOS_SOVERSION")
LIBDIR = env("UDOS_LIBDIR")
CC = env("UDOS_CC")
CMAKE = env("UDOS_CMAKE")
CPACK = env("UDOS_CPACK")


def run(*cmd, env_add=None, cwd=None, timeout=300):
    """Run cmd; on failure, fail the test with its output."""
    e = dict(os.environ)
    e.pop("UDOS_CONTAINER", None)
    if env_add:
        e.update(env_add)
    r = subprocess.run([str(c) for c in cmd], capture_output=True, cwd=cwd,
                       env=e, timeout=timeout)
    assert r.returncode == 0, (
        f"{' '.join(map(str, cmd))}: exit {r.returncode}\n"
        f"{r.stdout.decode(errors='replace')}\n"
        f"{r.stderr.decode(errors='replace')}")
    return r.stdout.decode()


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def needed(elf):
    """The DT_NEEDED entries of an ELF file."""
    out = run("readelf", "-d", elf)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", out)


def check_cli(udos, tmp_path, env_add=None):
    """An installed `udos` stores real files (loose and packed) and gives
    them back byte for byte; its version is the project's."""
    out = run(udos, "--version", env_add=env_add)
    assert out.strip() == f"udos {VERSION} (library {VERSION})"
    store = tmp_path / "store"
    run(udos, "init", store, env_add=env_add)
    lines = run(udos, "-C", store, "add", "--to", "loose", *REAL_FILES[:2],
                env_add=env_add).splitlines()
    lines += run(udos, "-C", store, "add", REAL_FILES[2],
                 env_add=env_add).splitlines()
    assert lines == [f"{sha256_file(f)}  {f}" for f in REAL_FILES]
    for f in REAL_FILES:
        r = subprocess.run([str(udos), "-C", str(store), "cat",
                            sha256_file(f)], capture_output=True,
                           env=dict(os.environ, **(env_add or {})),
                           timeout=60)
        assert r.returncode == 0, r.stderr
        with open(f, "rb") as src:
            assert r.stdout == src.read()
    run(udos, "-C", store, "validate", "--full", env_add=env_add)


def check_hello(exe, tmp_path, name, env_add=None):
    """tests/install/hello.c, built against an installed udos, stores a
    real file loose and packed and reads both back."""
    out = run(exe, tmp_path / f"container-{name}", REAL_FILES[0],
              env_add=env_add)
    assert out.split() == [sha256_file(REAL_FILES[0]), VERSION]


def compile_hello(out, flags):
    """Compile hello.c strictly, with flags from pkg-config."""
    run(CC, "-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o", out,
        os.path.join(HERE, "hello.c"), *flags)
    return out
