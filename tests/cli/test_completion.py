"""Bash and zsh completion, made by the build from the option tables:
sourced in a real shell and asked to complete, as the shell would."""
import os
import shutil
import subprocess

import pytest

from conftest import UDOS
from test_docs import ALL, GLOBALS, help_opts, run

COMPL_DIR = os.path.join(os.path.dirname(UDOS), "completion")
BASH = os.path.join(COMPL_DIR, "udos")
ZSH = os.path.join(COMPL_DIR, "_udos")


def test_build_scripts_are_current():
    for shell, path in (("bash", BASH), ("zsh", ZSH)):
        r = run("--gen-completion", shell)
        assert r.returncode == 0, r.stderr
        assert r.stdout == open(path, "rb").read(), path
    r = run("--gen-completion", "fish")
    assert r.returncode == 2 and b"unknown shell 'fish'" in r.stderr


def bash_complete(words, cwd="/"):
    """Source the script, set COMP_WORDS/COMP_CWORD (the last word is the
    one being completed) and call the function `complete` registered."""
    script = (
        'source "$1"; shift\n'
        'f=$(complete -p udos | sed -n "s/.*-F \\([^ ]*\\) .*/\\1/p")\n'
        'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))\n'
        'COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}\n'
        '"$f" udos "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n')
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "t",
                        BASH] + list(words), capture_output=True, cwd=cwd,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b"", r.stderr
    return [w for w in r.stdout.decode().split("\n") if w]


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "store1").mkdir()
    (tmp_path / "store2").mkdir()
    (tmp_path / "stats.txt").write_text("x")
    (tmp_path / "other").mkdir()
    return tmp_path


def test_bash_commands():
    assert bash_complete(["udos", ""]) == ALL
    assert bash_complete(["udos", "re"]) == ["repack", "repair"]
    assert bash_complete(["udos", "-q", "-C", "/tmp", "st"]) == ["status"]


def test_bash_global_options_before_the_command():
    got = bash_complete(["udos", "-"])
    assert set(got) == set(GLOBALS) | {"--version", "-h", "--help"}


@pytest.mark.parametrize("cmd", ALL)
def test_bash_offers_every_option_of_the_table(cmd):
    own, _ = help_opts(cmd)
    got = bash_complete(["udos", cmd, "-"])
    assert set(got) == set(own) | set(GLOBALS)
    assert set(bash_complete(["udos", cmd, "--"])) == \
        {o for o in set(own) | set(GLOBALS) if o.startswith("--")}


@pytest.mark.parametrize("cmd", ALL)
def test_bash_offers_every_choice_of_the_table(cmd):
    own, _ = help_opts(cmd)
    for name, val in own.items():
        if not val or not name.startswith("--"):
            continue
        got = bash_complete(["udos", cmd, name, ""])
        if "|" in val and val.lower() == val:  # choices, not FILE|-
            assert got == val.split("|"), (name, got)
            # --opt=value, as bash splits it at '=' and as one word
            assert bash_complete(["udos", cmd, name, "=", ""]) == \
                val.split("|")
            first = val.split("|")[0]
            assert bash_complete(["udos", cmd, "%s=%s" % (name, first)]) \
                == ["%s=%s" % (name, first)]


def test_bash_values():
    assert bash_complete(["udos", "add", "--io", ""]) == \
        ["auto", "uring", "threads"]
    assert bash_complete(["udos", "add", "--io", "u"]) == ["uring"]
    assert bash_complete(["udos", "pack", "--compress", ""]) == \
        ["auto", "yes", "no", "keep"]
    assert bash_complete(["udos", "add", "--to", "l"]) == ["loose"]
    assert bash_complete(["udos", "init", "--hash", "sha"]) == \
        ["sha256", "sha1"]
    # a size or a number: nothing to offer, and no file names either
    assert bash_complete(["udos", "add", "--max-inflight", ""]) == []
    assert bash_complete(["udos", "help", ""]) == ALL


def test_bash_container_folders(tree):
    # -C, before or after the command, and the folder arguments of init,
    # import, export and backup complete folders only
    for words in (["udos", "-C", "st"], ["udos", "add", "-C", "st"],
                  ["udos", "ls", "-l", "-C", "st"], ["udos", "init", "st"],
                  ["udos", "import", "st"], ["udos", "backup", "st"],
                  ["udos", "-C", "store1", "export", "--json", "st"]):
        assert sorted(bash_complete(words, cwd=tree)) == \
            ["store1", "store2"], words
    # after SRC come ids: nothing to offer
    assert bash_complete(["udos", "import", "store1", ""], cwd=tree) == []


def test_bash_files(tree):
    assert sorted(bash_complete(["udos", "add", "st"], cwd=tree)) == \
        ["stats.txt", "store1", "store2"]
    assert sorted(bash_complete(["udos", "add", "-r", "x", "st"],
                                cwd=tree)) == \
        ["stats.txt", "store1", "store2"]
    assert bash_complete(["udos", "add", "--files-from", "sta"],
                         cwd=tree) == ["stats.txt"]
    # the value of an option is no argument: add's PATH completes after it
    assert "stats.txt" in bash_complete(
        ["udos", "add", "--io", "auto", "st"], cwd=tree)


def test_bash_real_folders():
    # this machine's folders and files
    assert "/usr/share/" in [w + "/" for w in
                             bash_complete(["udos", "-C", "/usr/sh"])]
    got = bash_complete(["udos", "add", "/usr/include/stdi"])
    assert "/usr/include/stdio.h" in got
    assert all(os.path.isdir(w) for w in
               bash_complete(["udos", "init", "/usr/"]))


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh not installed "
                    "(scripts/setup.sh installs it)")
def test_zsh_script_parses():
    r = subprocess.run(["zsh", "-n", ZSH], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr


ZSH_DRIVER = r'''
# $1 fpath dir, $2 file for the matches, $3 the line to complete
zmodload zsh/zpty
wait_for() {  # the file $1, draining the terminal lest zsh block on it
  for i in {1..1200}; do
    while zpty -r -t z junk; do :; done
    [[ -e $1 ]] && return 0
    sleep 0.1
  done
  return 1
}
zpty z zsh -f -i
zpty -w z "PROMPT='>'; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "compadd () { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd \"\$@\"; return; fi; local -a __h; builtin compadd -O __h \"\$@\"; print -rl -- \$__h >> $2; builtin compadd \"\$@\"; }"
zpty -w z "print > $2.ready"
wait_for $2.ready
# zle reads keys in order: TAB completes, ^U kills the line, then the
# marker command runs
zpty -w -n z "$3"$'\t'$'\C-u'
zpty -w z "print > $2.done"
wait_for $2.done
zpty -w z "exit"
zpty -d z
'''


def zsh_complete(line, tmp_path, cwd="/"):
    """Type line and TAB in an interactive zsh (zpty) with the script on
    fpath; the matches its completion offered."""
    drv = tmp_path / "driver.zsh"
    drv.write_text(ZSH_DRIVER)
    out = tmp_path / "matches"
    for f in (out, tmp_path / "matches.done", tmp_path / "matches.ready"):
        if f.exists():
            f.unlink()
    subprocess.run(["zsh", "-f", str(drv), COMPL_DIR, str(out), line],
                   cwd=cwd, timeout=120, capture_output=True)
    assert (tmp_path / "matches.done").exists(), "zsh did not finish"
    return set(out.read_text().split()) if out.exists() else set()


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh not installed "
                    "(scripts/setup.sh installs it)")
def test_zsh_completes(tree, tmp_path):
    assert zsh_complete("udos ", tmp_path) == set(ALL)
    assert zsh_complete("udos add --io ", tmp_path) == \
        {"auto", "uring", "threads"}
    assert zsh_complete("udos pack --compress ", tmp_path) == \
        {"auto", "yes", "no", "keep"}
    assert zsh_complete("udos add --comp", tmp_path) == {"--compress"}
    assert zsh_complete("udos help re", tmp_path) == {"repack", "repair"}
    assert zsh_complete("udos -C st", tmp_path, cwd=tree) == \
        {"store1", "store2"}
    assert zsh_complete("udos ls -C st", tmp_path, cwd=tree) == \
        {"store1", "store2"}
    own, _ = help_opts("add")
    long_opts = {o for o in own if o.startswith("--")}
    assert zsh_complete("udos add --", tmp_path) >= long_opts
