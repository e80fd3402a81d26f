"""What the wheel adds around the module: `python -m udos` runs the CLI,
type stubs, and a clear message when a system library is missing."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest

import udos
from udos import _libs

PKG = os.path.dirname(udos.__file__)
# in-tree: build/python/udos -> build/cli/udos
BUILT_CLI = os.path.join(os.path.dirname(os.path.dirname(PKG)), 'cli', 'udos')


def test_stubs_and_marker_ship_with_the_package():
    assert os.path.isfile(os.path.join(PKG, 'py.typed'))
    assert os.path.isfile(os.path.join(PKG, '_udos.pyi'))


def test_python_m_udos_runs_the_cli():
    if not os.access(BUILT_CLI, os.X_OK):
        pytest.skip('no built udos program next to the package')
    env = dict(os.environ, PATH=os.path.dirname(BUILT_CLI) + os.pathsep + os.environ.get('PATH', ''))
    res = subprocess.run([sys.executable, '-m', 'udos', '--version'], env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith('udos ')
    # arguments and exit status pass through: a usage error is 2
    res = subprocess.run([sys.executable, '-m', 'udos', 'no-such-command'], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == 2
    assert 'no-such-command' in res.stderr


def test_missing_known_library_names_its_debian_package(monkeypatch):
    monkeypatch.setattr(_libs, '_loadable', lambda so: so != 'librocksdb.so.7.8')
    err = _libs.missing_library_error(
        ImportError('librocksdb.so.7.8: cannot open shared object file: No such file or directory'))
    msg = str(err)
    assert 'librocksdb.so.7.8' in msg
    assert 'Debian package librocksdb7.8' in msg
    assert msg.endswith('apt-get install librocksdb7.8')
    assert 'liburing' not in msg  # only what is missing


def test_every_runtime_library_of_this_machine_loads():
    """The table matches what the module needs here (nothing missing)."""
    assert _libs.missing_libraries() == []
    ext = [f for f in os.listdir(PKG) if f.startswith('_udos') and f.endswith('.so')][0]
    ldd = shutil.which('ldd')
    if ldd is None:
        pytest.skip('no ldd')

    def deps(path):
        out = subprocess.run([ldd, path], capture_output=True, text=True, check=True).stdout
        return {line.split()[0]: line.split()[2] for line in out.splitlines() if '=>' in line}

    needed = deps(os.path.join(PKG, ext))
    readelf = subprocess.run(['readelf', '-d', os.path.join(PKG, ext)], capture_output=True, text=True).stdout
    direct = set(re.findall(r'\(NEEDED\).*\[(.+?)\]', readelf)) or set(needed)
    system = {'libc.so.6', 'libm.so.6', 'libstdc++.so.6', 'libgcc_s.so.1', 'libpthread.so.0', 'libdl.so.2',
              'ld-linux-x86-64.so.2'}
    # what the module links directly is in the table; what those libraries
    # pull in comes with their Debian packages
    assert direct - system <= set(_libs.RUNTIME_LIBRARIES), direct - system - set(_libs.RUNTIME_LIBRARIES)
    covered = set(_libs.RUNTIME_LIBRARIES) | system
    for so in _libs.RUNTIME_LIBRARIES:
        if so in needed:
            covered |= set(deps(needed[so]))
    assert set(needed) <= covered, set(needed) - covered


def test_import_with_a_library_gone_says_which(tmp_path):
    """A real loader failure: an extension built against a library that is
    then removed. `import udos` names it instead of the raw loader error."""
    cc = shutil.which('cc') or shutil.which('gcc')
    if cc is None:
        pytest.skip('no C compiler')
    lib = tmp_path / 'libudosgone.so.1'
    (tmp_path / 'gone.c').write_text('int udos_gone(void) { return 1; }\n')
    (tmp_path / 'ext.c').write_text('int udos_gone(void);\nint PyInit__udos(void) { return udos_gone(); }\n')
    subprocess.run([cc, '-shared', '-fPIC', '-Wl,-soname,libudosgone.so.1', '-o', str(lib),
                    str(tmp_path / 'gone.c')], check=True)
    pkg = tmp_path / 'udos'
    pkg.mkdir()
    for f in os.listdir(PKG):
        if f.endswith('.py'):
            shutil.copy(os.path.join(PKG, f), pkg / f)
    suffix = sysconfig.get_config_var('EXT_SUFFIX')
    subprocess.run([cc, '-shared', '-fPIC', '-o', str(pkg / ('_udos' + suffix)), str(tmp_path / 'ext.c'),
                    str(lib)], check=True)
    lib.unlink()
    res = subprocess.run([sys.executable, '-c', 'import udos'], env=dict(os.environ, PYTHONPATH=str(tmp_path)), cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith('ImportError: udos: the C extension needs system libraries that are missing: '
                           'libudosgone.so.1'), res.stderr
