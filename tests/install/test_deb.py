"""`cpack -G DEB` makes a package that holds the command, the libraries,
the headers, udos.pc and the CMake package under /usr, depends on the
Debian packages that own every library they link, and works unpacked into
a fresh folder: the command (linked with libudos.a) without any setting,
the shared library through the unpacked udos.pc."""
import glob
import os
import re
import shlex

import pytest

from conftest import (BUILD, CPACK, SOVERSION, VERSION, check_cli,
                      check_hello, compile_hello, needed, run)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    out = tmp_path_factory.mktemp("cpack")
    run(CPACK, "-G", "DEB", "--config",
        os.path.join(BUILD, "CPackConfig.cmake"), "-B", out)
    debs = glob.glob(str(out / "*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


@pytest.fixture(scope="module")
def root(deb, tmp_path_factory):
    r = tmp_path_factory.mktemp("unpacked")
    run("dpkg", "-x", deb, r)
    return r


def field(deb, name):
    return run("dpkg-deb", "-f", deb, name).strip()


def owner(lib_path):
    """The Debian package owning a library file (usrmerge: dpkg may know
    /usr/lib/x/libz.so.1 as /lib/x/libz.so.1)."""
    real = os.path.realpath(lib_path)
    for p in (real, re.sub(r"^/usr/", "/", real)):
        r = run("sh", "-c", f"dpkg -S {shlex.quote(p)} || true")
        if r.strip():
            return r.split(":")[0]
    pytest.fail(f"no package owns {real}")


def test_metadata(deb):
    assert os.path.basename(deb).startswith(f"udos_{VERSION}_")
    assert field(deb, "Package") == "udos"
    assert field(deb, "Version") == VERSION


def test_contents(deb):
    listed = run("dpkg-deb", "-c", deb)
    files = {line.split()[5].lstrip(".") for line in listed.splitlines()}
    for f in ("/usr/bin/udos", "/usr/include/udos/udos.h",
              "/usr/include/udos/version.h", "/usr/lib/libudos.a",
              f"/usr/lib/libudos.so.{VERSION}", f"/usr/lib/libudos.so.{SOVERSION}",
              "/usr/lib/pkgconfig/udos.pc", "/usr/lib/cmake/udos/udosConfig.cmake",
              "/usr/share/doc/udos/LICENSE"):
        assert f in files


def test_depends_cover_every_linked_library(deb, root):
    """Each library that the command and libudos.so link directly comes
    from a package named in Depends (bookworm: liburing2, libzstd1, zlib1g,
    librocksdb7.8, libxxhash0, libssl3, libc6)."""
    depends = {d.split()[0] for d in field(deb, "Depends").split(", ")}
    for elf in (root / "usr/bin/udos",
                root / f"usr/lib/libudos.so.{SOVERSION}"):
        ldd = run("ldd", elf, env_add={"LD_LIBRARY_PATH": ""})
        where = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
        direct = needed(elf)
        assert "librocksdb" in " ".join(direct)
        for name in direct:
            if name.startswith("ld-linux"):  # libc6's too, not in ldd's =>
                continue
            assert owner(where[name]) in depends, (elf, name, depends)
    for d in ("liburing", "libzstd", "zlib1g", "librocksdb", "libxxhash",
              "libssl"):
        assert any(p.startswith(d) for p in depends), d


def test_unpacked_command_runs(root, tmp_path):
    udos = root / "usr/bin/udos"
    assert not any(n.startswith("libudos") for n in needed(udos))
    check_cli(udos, tmp_path)


def test_unpacked_library_builds_a_program(root, tmp_path):
    pc = {"PKG_CONFIG_PATH": str(root / "usr/lib/pkgconfig")}
    flags = shlex.split(run("pkg-config", "--cflags", "--libs", "udos",
                            env_add=pc))
    exe = compile_hello(tmp_path / "hello", flags)
    check_hello(exe, tmp_path, "deb",
                env_add={"LD_LIBRARY_PATH": str(root / "usr/lib")})
