"""`cmake --install` into a fresh prefix gives a usable library: the files
in their GNUInstallDirs places, a shared library exporting exactly the
public API under its SONAME, and programs built through pkg-config and
through find_package(udos), shared and static, that store and read back."""
import os
import re
import shlex
import subprocess
import tomllib

import pytest

from conftest import (BUILD, CC, CMAKE, HERE, LIBDIR, SOURCE, SOVERSION, VERSION,
                      check_cli, check_hello, compile_hello, needed, run)


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    p = tmp_path_factory.mktemp("prefix")
    run(CMAKE, "--install", BUILD, "--prefix", p)
    return p


def pkgconfig(prefix, *args):
    out = run("pkg-config", *args, "udos",
              env_add={"PKG_CONFIG_PATH": str(prefix / LIBDIR / "pkgconfig")})
    return shlex.split(out)


def public_functions(include_dir):
    """Names declared UDOS_API in the public headers (comments and
    preprocessor lines removed)."""
    names = set()
    for h in os.listdir(include_dir):
        with open(os.path.join(include_dir, h)) as f:
            text = re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S)
        text = re.sub(r"^\s*#.*$", "", text, flags=re.M)
        names.update(re.findall(r"UDOS_API[^;{()]*?\b(\w+)\s*\(", text))
    return names


def test_layout(prefix):
    lib = prefix / LIBDIR
    headers = sorted(os.listdir(os.path.join(SOURCE, "include", "udos")))
    assert sorted(os.listdir(prefix / "include" / "udos")) == \
        sorted(headers + ["version.h"])
    assert os.access(prefix / "bin" / "udos", os.X_OK)
    assert (lib / "libudos.a").is_file()
    assert os.readlink(lib / "libudos.so") == f"libudos.so.{SOVERSION}"
    assert os.readlink(lib / f"libudos.so.{SOVERSION}") == \
        f"libudos.so.{VERSION}"
    for f in ("udosConfig.cmake", "udosConfigVersion.cmake",
              "udosTargets.cmake"):
        assert (lib / "cmake" / "udos" / f).is_file()
    assert (lib / "pkgconfig" / "udos.pc").is_file()
    assert (prefix / "share" / "doc" / "udos" / "LICENSE").is_file()


def test_soname_and_exports(prefix):
    so = prefix / LIBDIR / f"libudos.so.{VERSION}"
    out = run("readelf", "-d", so)
    assert f"Library soname: [libudos.so.{SOVERSION}]" in out
    out = run("nm", "-D", "--defined-only", so)
    exported = {}
    for line in out.splitlines():
        addr_type_name = line.split()
        if addr_type_name[-1].startswith("UDOS_"):  # the version node
            continue
        name, _, node = addr_type_name[-1].partition("@@")
        exported[name] = (addr_type_name[1], node)
    declared = public_functions(prefix / "include" / "udos")
    assert len(declared) > 50
    # every UDOS_API function, and nothing else (no udos__*, no ing_*)
    assert set(exported) == declared
    assert {t for t, _ in exported.values()} == {"T"}
    with open(os.path.join(SOURCE, "cmake", "udos.map")) as f:
        nodes = re.findall(r"^(UDOS_[0-9.]+) *\{", f.read(), re.M)
    assert nodes and {n for _, n in exported.values()} <= set(nodes)
    # the static library keeps the internal names the shared one hides
    out = run("nm", "--defined-only", prefix / LIBDIR / "libudos.a")
    assert re.search(r" T udos__\w+", out)


def test_one_version(prefix):
    assert pkgconfig(prefix, "--modversion") == [VERSION]
    with open(prefix / "include" / "udos" / "version.h") as f:
        text = f.read()
    major, minor, patch = VERSION.split(".")
    for part, value in (("MAJOR", major), ("MINOR", minor),
                        ("PATCH", patch)):
        assert f"#define UDOS_VERSION_{part} {value}\n" in text
    assert f'#define UDOS_VERSION_STRING "{VERSION}"' in text
    # the Python package reads its version with pyproject.toml's regex
    with open(os.path.join(SOURCE, "pyproject.toml"), "rb") as f:
        meta = tomllib.load(f)["tool"]["scikit-build"]["metadata"]["version"]
    with open(os.path.join(SOURCE, meta["input"])) as f:
        assert re.search(meta["regex"], f.read()).group("value") == VERSION


def test_installed_cli(prefix, tmp_path):
    udos = prefix / "bin" / "udos"
    assert not any(n.startswith("libudos") for n in needed(udos))
    check_cli(udos, tmp_path)


def test_pkgconfig_shared(prefix, tmp_path):
    exe = compile_hello(tmp_path / "hello",
                        pkgconfig(prefix, "--cflags", "--libs"))
    assert f"libudos.so.{SOVERSION}" in needed(exe)
    lib_path = {"LD_LIBRARY_PATH": str(prefix / LIBDIR)}
    out = run("ldd", exe, env_add=lib_path)
    assert f"libudos.so.{SOVERSION} => {prefix / LIBDIR}/" in out
    check_hello(exe, tmp_path, "shared", env_add=lib_path)


def test_pkgconfig_static(prefix, tmp_path):
    # -l:libudos.a picks the archive where -ludos would take the .so
    libs = ["-l:libudos.a" if a == "-ludos" else a
            for a in pkgconfig(prefix, "--static", "--libs")]
    exe = compile_hello(tmp_path / "hello",
                        pkgconfig(prefix, "--cflags") + libs)
    assert not any(n.startswith("libudos") for n in needed(exe))
    check_hello(exe, tmp_path, "static")


def consumer(prefix, tmp_path, want):
    return subprocess.run(
        [CMAKE, "-S", os.path.join(HERE, "consumer"),
         "-B", str(tmp_path / f"build-{want}"),
         f"-DCMAKE_PREFIX_PATH={prefix}", f"-DUDOS_WANT_VERSION={want}",
         f"-DCMAKE_C_COMPILER={CC}"],
        capture_output=True, timeout=300)


def test_cmake_find_package(prefix, tmp_path):
    major, minor, _ = VERSION.split(".")
    r = consumer(prefix, tmp_path, f"{major}.{minor}")
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    run(CMAKE, "--build", tmp_path / f"build-{major}.{minor}")
    for kind in ("shared", "static"):
        exe = tmp_path / f"build-{major}.{minor}" / f"hello_{kind}"
        linked = any(n.startswith("libudos") for n in needed(exe))
        assert linked == (kind == "shared")
        check_hello(exe, tmp_path, f"cmake-{kind}")
    # a newer minor (an API this install lacks) is refused
    r = consumer(prefix, tmp_path, f"{major}.{int(minor) + 1}")
    assert r.returncode != 0
    assert b"udos" in r.stderr and b"version" in r.stderr
