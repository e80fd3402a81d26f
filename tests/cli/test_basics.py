"""--help, --version, usage errors and exit codes of every command."""
import os

import pytest

from conftest import UDOS, Udos

import subprocess

COMMANDS = ["add", "cat", "delete", "init", "ls", "pack", "repack", "status",
            "validate"]


def run(*args, **kw):
    return subprocess.run([UDOS] + list(args), capture_output=True,
                          timeout=30, **kw)


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.decode().startswith("udos 0.")


def test_global_help_lists_every_command():
    r = run("--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    for c in COMMANDS:
        assert "  " + c + " " in out


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_exit_0_without_container(cmd, tmp_path):
    # no container needed: -C points nowhere
    r = run("-C", str(tmp_path / "nope"), cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"usage: udos")
    assert r.stderr == b""


def test_no_command_is_usage_error():
    assert run().returncode == 2
    r = run("frobnicate")
    assert r.returncode == 2
    assert b"unknown command 'frobnicate'" in r.stderr


@pytest.mark.parametrize("cmd", COMMANDS)
def test_unknown_option_exit_2(cmd, tmp_path):
    r = run("-C", str(tmp_path), cmd, "--no-such-option")
    assert r.returncode == 2
    assert r.stderr.startswith(("udos %s: unknown option" % cmd).encode())


def test_missing_option_argument(tmp_path):
    r = run("-C", str(tmp_path), "add", "x", "--to")
    assert r.returncode == 2
    assert b"requires an argument '--to'" in r.stderr


def test_bad_choice(tmp_path):
    r = run("-C", str(tmp_path), "add", "--to", "tape", "x")
    assert r.returncode == 2
    assert b"'tape'" in r.stderr


@pytest.mark.parametrize("spec", ["lz4", "zstd:99", "zlib:0", "zstd:", ""])
def test_init_bad_compression(bare, spec):
    r = bare("init", "--compression", spec)
    assert r.returncode == 2, r.stderr
    assert b"udos init: invalid compression" in r.stderr
    assert not os.path.exists(os.path.join(bare.store, "config.json"))


def test_init_bad_pack_size(bare):
    r = bare("init", "--pack-size", "lots")
    assert r.returncode == 2
    assert b"'lots'" in r.stderr


def test_init_twice_is_store_error(udos):
    r = udos("init")
    assert r.returncode == 3
    assert udos.store.encode() in r.stderr


def test_init_dir_argument_and_env(tmp_path):
    d = tmp_path / "viaenv"
    r = run("init", env=dict(os.environ, UDOS_CONTAINER=str(d)))
    assert r.returncode == 0, r.stderr
    assert (d / "config.json").exists()
    r = run("status", "--json", env=dict(os.environ, UDOS_CONTAINER=str(d)))
    assert r.returncode == 0, r.stderr
    # -C wins over the environment
    r = run("-C", str(tmp_path / "missing"), "status",
            env=dict(os.environ, UDOS_CONTAINER=str(d)))
    assert r.returncode == 3


@pytest.mark.parametrize("cmd", ["ls", "status", "validate", "pack",
                                 "repack"])
def test_not_a_container_exit_3(cmd, tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    (d / "f").write_bytes(b"x")
    r = run("-C", str(d), cmd)
    assert r.returncode == 3
    assert ("udos %s: '%s' is not a udos container (no config.json)\n"
            % (cmd, d)).encode() == r.stderr


def test_not_a_container_add_cat(tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    f = tmp_path / "f"
    f.write_bytes(b"x")
    for args in (["add", str(f)], ["add", "--to", "loose", str(f)],
                 ["cat", "0" * 64]):
        r = run("-C", str(d), *args)
        assert r.returncode == 3, args
        assert b"not a udos container" in r.stderr


def test_quiet_accepted(udos):
    udos.ok("-q", "status", store=True)
