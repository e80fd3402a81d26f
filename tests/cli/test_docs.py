"""README's CLI section, --help and the man pages agree (as git's t0450
checks its docs against -h); `udos help`; global options before or after
the command; size options refuse a bare number below 1 MiB."""
import os
import pty
import re
import select
import shutil
import subprocess

import pytest

from conftest import UDOS

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "..", "..", "README.md")
MAN_DIR = os.path.join(os.path.dirname(UDOS), "man")


def run(*args, **kw):
    kw.setdefault("timeout", 60)
    return subprocess.run([UDOS] + [str(a) for a in args],
                          capture_output=True, **kw)


def commands():
    """The command table, as `udos --help` lists it."""
    out = run("--help").stdout.decode()
    block = out.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines()]


def opt_lines(block):
    """'  -r, --recursive  help' lines -> [([names], value shown or None)]"""
    out = []
    for line in block.splitlines():
        m = re.match(r"^  (-\w)?(?:, )?(?: *(--[\w-]+))?(?:\[=\w+\])?"
                     r"(?: (\S+))?(?:  |$)",
                     line)
        if m and (m.group(1) or m.group(2)):
            out.append(([n for n in m.group(1, 2) if n], m.group(3)))
    return out


def parse_opts(block):
    """-> {name: value shown or None}, '-r' and '--recursive' both names"""
    return {n: v for names, v in opt_lines(block) for n in names}


def help_opts(cmd):
    """The options `udos CMD --help` lists, the global ones apart."""
    r = run(cmd, "--help")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    own = out.split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
    glob = out.split("\nglobal options (before or after the command):\n",
                     1)[1].split("\n\n", 1)[0]
    return parse_opts(own), parse_opts(glob)


ALL = commands()
GLOBALS = help_opts("ls")[1]


def test_table_lists_the_known_commands():
    for c in ("add", "cat", "help", "init", "ls", "pack", "validate"):
        assert c in ALL
    assert set(GLOBALS) >= {"-C", "-q", "--quiet"}


# ---- man pages ----

def man_source(page):
    p = os.path.join(MAN_DIR, page + ".1")
    assert os.path.exists(p), "the build makes %s" % p
    with open(p) as f:
        return f.read()


def man_opts(src, section):
    """.TP entries of a section -> {name: value shown or None}."""
    body = src.split(".SH %s\n" % section, 1)[1].split("\n.SH ", 1)[0]
    opts = {}
    for entry in body.split(".TP\n")[1:]:
        head = entry.split("\n", 1)[0]
        head = re.sub(r"\\f[BIRP]", "", head).replace("\\-", "-")
        m = re.match(r"^(-\w)?(?:, )?(--[\w-]+)?(?:\[=\w+\])?(?: (\S+))?$", head)
        assert m, head
        for name in (m.group(1), m.group(2)):
            if name:
                opts[name] = m.group(3)
    return opts


@pytest.mark.parametrize("cmd", ALL)
def test_man_page_matches_help(cmd):
    own, glob = help_opts(cmd)
    src = man_source("udos-" + cmd)
    assert man_opts(src, "OPTIONS") == own
    assert man_opts(src, "GLOBAL OPTIONS") == glob
    usage = run(cmd, "--help").stdout.decode().split("\n", 1)[0]
    synopsis = src.split(".SH SYNOPSIS\n", 1)[1].split("\n.SH", 1)[0]
    synopsis = re.sub(r"\\f[BIRP]|^\.B ", "", synopsis, flags=re.M)
    synopsis = synopsis.replace("\\-", "-")
    assert " ".join(synopsis.split()) == \
        " ".join(usage.split()[1:])  # "usage: udos ..." -> "udos ..."


def test_main_page_lists_every_command_and_global_option():
    src = man_source("udos")
    for c in ALL:
        assert "\\fBudos\\-%s\\fR(1)" % c.replace("-", "\\-") in src
    assert set(man_opts(src, "GLOBAL OPTIONS")) == \
        set(GLOBALS) | {"--version", "-h", "--help"}
    assert "UDOS_CONTAINER" in src


def test_build_pages_are_current(tmp_path):
    # the pages in the build folder are what this binary makes
    assert run("--gen-man", tmp_path).returncode == 0
    made = sorted(os.listdir(tmp_path))
    assert made == sorted(["udos.1"] + ["udos-%s.1" % c for c in ALL])
    for name in made:
        assert (tmp_path / name).read_text() == \
            open(os.path.join(MAN_DIR, name)).read(), name


@pytest.mark.skipif(not shutil.which("groff"), reason="groff not installed "
                    "(scripts/setup.sh installs groff-base)")
@pytest.mark.parametrize("page", ["udos"] + ["udos-" + c for c in ALL])
def test_man_page_renders_without_warnings(page):
    path = os.path.join(MAN_DIR, page + ".1")
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path],
                       capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode()


@pytest.mark.skipif(not shutil.which("man"), reason="man not installed "
                    "(scripts/setup.sh installs man-db)")
def test_man_renders_options_as_typed():
    r = subprocess.run(["man", "-l", os.path.join(MAN_DIR, "udos-add.1")],
                       capture_output=True, timeout=60,
                       env=dict(os.environ, MANWIDTH="100", MANPAGER="cat",
                                PAGER="cat", MAN_KEEP_FORMATTING=""))
    assert r.returncode == 0, r.stderr
    text = re.sub(r".\x08", "", r.stdout.decode())
    assert "UDOS-ADD(1)" in text
    # dashes stay ASCII, so options can be searched and pasted
    for s in ("--io auto|uring|threads", "--to loose|pack", "-r, --recursive",
              "--max-inflight SIZE", "-C DIR"):
        assert s in text, s


# ---- README ----

def readme_cli():
    text = open(README).read()
    return text.split("\n## CLI\n", 1)[1].split("\n## ", 1)[0]


def readme_synopsis():
    """{command: the text of its synopsis line(s)} from the CLI block."""
    block = readme_cli().split("```\n", 2)[1]
    syn, cur = {}, None
    for line in block.splitlines():
        m = re.match(r"^udos (?:\[-C DIR\] )?(?:\[-q\] )?([a-z][\w-]*)", line)
        if m:
            cur = m.group(1)
            syn[cur] = line[m.end():]
        elif line.startswith(" ") and cur:
            syn[cur] += " " + line.strip()
        else:
            cur = None
    return syn


OPT_TOKEN = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)(?: ([^\s\[\]]+))?")


@pytest.mark.parametrize("cmd", ALL)
def test_readme_synopsis_matches_help(cmd):
    syn = readme_synopsis()
    assert cmd in syn, "README's CLI block has no line for 'udos %s'" % cmd
    own, _ = help_opts(cmd)
    named = {m.group(1): m.group(2) for m in OPT_TOKEN.finditer(syn[cmd])}
    # README names no option that does not exist
    for name in named:
        assert name in own or name in GLOBALS, \
            "README names %s for %s" % (name, cmd)
    # every option of the table is in README (by its short or long name)
    help_text = run(cmd, "--help").stdout.decode()
    block = help_text.split("\noptions:\n", 1)[1].split("\n\n")[0]
    for names, _ in opt_lines(block):
        if names != ["-h", "--help"]:
            assert any(n in named for n in names), \
                "README's synopsis of %s lacks %s" % (cmd, names)
    # choices README shows are the table's
    for name, val in named.items():
        if val and "|" in val and name in own:
            assert val == own[name], (cmd, name, val, own[name])


def test_readme_has_no_line_for_a_missing_command():
    assert set(readme_synopsis()) <= set(ALL)


def test_readme_examples_use_existing_options():
    text = open(README).read()
    for line in re.findall(r"^\$ (udos .*)$", text, re.M):
        words = line.split()[1:]
        while words and words[0].startswith("-"):
            w = words.pop(0)
            if w == "-C":
                words.pop(0)
            else:
                assert w in GLOBALS, line
        cmd = words[0]
        assert cmd in ALL, line
        own, _ = help_opts(cmd)
        for w in words[1:]:
            if w.startswith("-") and w != "-":
                assert w.split("=")[0] in own or w in GLOBALS, line


def test_readme_cli_prose_names_existing_options():
    every = set(GLOBALS) | {"--version", "--help"}
    for c in ALL:
        every |= set(help_opts(c)[0])
    for m in re.finditer(r"`[^`]*`", readme_cli()):
        for name in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", m.group(0)):
            assert name in every, "README's CLI section names %s" % name


# ---- udos help ----

def test_help_lists_commands():
    r = run("help")
    assert r.returncode == 0
    assert r.stdout == run("--help").stdout


@pytest.mark.parametrize("cmd", ALL)
def test_help_piped_prints_the_command_help(cmd):
    r = run("help", cmd)
    assert r.returncode == 0, r.stderr
    assert r.stdout == run(cmd, "--help").stdout


def test_help_unknown_command():
    r = run("help", "frobnicate")
    assert r.returncode == 2
    assert r.stderr.startswith(b"udos help: unknown command 'frobnicate'")


def on_pty(args, env, exe=UDOS):
    """Run udos with stdout on a terminal; returns (status, output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([exe] + args, stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=60), re.sub(r".\x08", "", out.decode(
        errors="replace")).replace("\r\n", "\n")


@pytest.mark.skipif(not shutil.which("man"), reason="man not installed "
                    "(scripts/setup.sh installs man-db)")
def test_help_on_a_terminal_shows_the_man_page():
    env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100")
    rc, out = on_pty(["help", "add"], env)
    assert rc == 0, out
    assert "UDOS-ADD(1)" in out and "--io auto|uring|threads" in out


def test_help_on_a_terminal_without_man_prints_help(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no man on PATH
    rc, out = on_pty(["help", "add"], env)
    assert rc == 0
    assert out == run("add", "--help").stdout.decode()


# ---- global options anywhere ----

def test_global_options_after_the_command(tmp_path):
    store = tmp_path / "s"
    assert run("init", store).returncode == 0
    files = sorted(os.path.join("/usr/include", f)
                   for f in os.listdir("/usr/include")
                   if f.endswith(".h"))[:20]
    before = run("-C", store, "add", *files)
    assert before.returncode == 0, before.stderr
    r = run("add", "-C", store, "-q", *files)
    assert r.returncode == 0, r.stderr
    assert r.stdout == before.stdout
    assert r.stderr == b""  # -q after the command silences the summary
    # -CDIR, --quiet, anywhere among the command's own options
    ls = run("-C", store, "ls")
    assert run("ls", "-C%s" % store).stdout == ls.stdout
    assert run("ls", "--quiet", "-C", store).stdout == ls.stdout
    st = run("status", "--json", "-C", store)
    assert st.returncode == 0 and b'"loose_count"' in st.stdout
    # init takes -C after the command as its folder too
    assert run("init", "-C", tmp_path / "t").returncode == 0
    assert (tmp_path / "t" / "config.json").exists()
    # the last -C wins, as with any option given twice
    assert run("-C", tmp_path / "nope", "ls", "-C", store).stdout == ls.stdout


def test_global_option_errors():
    r = run("--frobnicate", "ls")
    assert r.returncode == 2
    assert r.stderr.startswith(b"udos: unknown option '--frobnicate'")
    r = run("ls", "-C")
    assert r.returncode == 2
    assert b"udos ls: option requires an argument '-C'" in r.stderr


# ---- sizes need a unit ----

def size_options():
    for cmd in ALL:
        own, _ = help_opts(cmd)
        for name, val in own.items():
            if val == "SIZE" and name.startswith("--"):
                yield cmd, name


SIZES = list(size_options())


def test_size_options_found():
    assert ("init", "--pack-size") in SIZES
    assert ("add", "--max-inflight") in SIZES


@pytest.mark.parametrize("cmd,opt", SIZES)
def test_size_without_unit_is_refused(cmd, opt, tmp_path):
    for args in ([opt, "64"], ["%s=64" % opt], [opt, "1048575"]):
        r = run("-C", tmp_path / "s", cmd, *args, "/usr/include/stdio.h")
        assert r.returncode == 2, (args, r.stderr)
        v = args[-1].split("=")[-1]
        assert r.stderr.decode() == \
            "udos %s: %s %s: no unit; did you mean %sM?\n" % (cmd, opt, v, v)
    assert not (tmp_path / "s").exists()
    r = run("-C", tmp_path / "s", cmd, opt, "0", "/usr/include/stdio.h")
    assert r.returncode == 2 and b"invalid size '0'" in r.stderr


def test_pack_size_with_unit_or_in_bytes(tmp_path):
    for arg, shown in (("64M", b"64.0 MiB"), ("1048576", b"1.0 MiB"),
                       ("2g", b"2.0 GiB")):
        d = tmp_path / arg
        r = run("init", "--pack-size", arg, d)
        assert r.returncode == 0, r.stderr
        st = run("-C", d, "status")
        assert b"pack target  " + shown in st.stdout, st.stdout


@pytest.mark.skipif(not shutil.which("man") or not shutil.which("cmake"),
                    reason="man or cmake not installed")
def test_installed_layout_and_help(tmp_path):
    # `cmake --install` puts the pages and completion where man and the
    # shells look, and the installed udos shows its own pages
    build = os.path.dirname(os.path.dirname(UDOS))
    r = subprocess.run(["cmake", "--install", build, "--prefix", tmp_path],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    man1 = tmp_path / "share" / "man" / "man1"
    assert sorted(os.listdir(man1)) == \
        sorted(["udos.1"] + ["udos-%s.1" % c for c in ALL])
    assert (tmp_path / "share" / "bash-completion" / "completions" /
            "udos").exists()
    assert (tmp_path / "share" / "zsh" / "vendor-completions" /
            "_udos").exists()
    env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100")
    rc, out = on_pty(["help", "init"], env, str(tmp_path / "bin" / "udos"))
    assert rc == 0 and "UDOS-INIT(1)" in out
