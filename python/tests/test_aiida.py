"""The AiiDA storage plugins (udos.sqlite, udos.psql) and profile migration, end to end.

aiida-core comes from PyPI into a venv made once and cached
(``$UDOS_AIIDA_VENV``, default ``~/.cache/udos-test-venvs/aiida``); the udos
package under test is this build's (a ``.pth`` file and an entry-point
record generated from pyproject.toml), so reruns install nothing.
``test_pip_install_extra`` installs the package for real (``pip install
.[aiida]``) into a second cached venv, rebuilt when the sources change.
Every AiiDA command runs in a subprocess of that venv, against a private
``AIIDA_PATH``. Skipped only when PyPI cannot be reached.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import udos

SRC = Path(os.environ.get('UDOS_SOURCE_DIR', Path(__file__).resolve().parents[2]))
CACHE = Path(os.environ.get('UDOS_AIIDA_VENV', Path.home() / '.cache' / 'udos-test-venvs' / 'aiida'))
INCLUDE = Path('/usr/include')
_OFFLINE = re.compile(
    r'Failed to establish a new connection|Temporary failure in name resolution|Name or service not known'
    r'|Network is unreachable|Could not find a version that satisfies|No matching distribution|ProxyError'
)


def _run(argv, env=None, timeout=1800, check=True, cwd=None):
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd)
    if check and res.returncode != 0:
        raise AssertionError(f'{argv} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}')
    return res


def _make_venv(venv: Path, packages: list, marker_text: str) -> None:
    """Create ``venv`` with ``packages`` unless its marker says it already holds them."""
    marker = venv / '.udos-ready'
    if marker.exists() and marker.read_text() == marker_text:
        return
    if not (venv / 'bin' / 'python').exists():
        _run([sys.executable, '-m', 'venv', str(venv)])
    res = _run([str(venv / 'bin' / 'pip'), 'install', '-q', *packages], check=False, timeout=3600)
    if res.returncode != 0:
        if _OFFLINE.search(res.stdout + res.stderr):
            pytest.skip(f'PyPI unreachable, cannot install {packages}: {res.stderr.strip().splitlines()[-1]}')
        raise AssertionError(f'pip install {packages} failed:\n{res.stdout}\n{res.stderr}')
    marker.write_text(marker_text)


def _purelib(venv: Path) -> Path:
    out = _run([str(venv / 'bin' / 'python'), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'])
    return Path(out.stdout.strip())


def _entry_points() -> dict:
    with open(SRC / 'pyproject.toml', 'rb') as handle:
        return tomllib.load(handle)['project']['entry-points']


@pytest.fixture(scope='session')
def venv() -> Path:
    """The cached venv with aiida-core, seeing this build's udos package and its entry points."""
    _make_venv(CACHE, ['aiida-core', 'pytest', 'numpy'], 'aiida-core pytest numpy\n')
    site = _purelib(CACHE)
    (site / 'udos_intree.pth').write_text(os.path.abspath(os.path.dirname(os.path.dirname(udos.__file__))) + '\n')
    info = site / 'udos-0.0.0+intree.dist-info'
    info.mkdir(exist_ok=True)
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: udos\nVersion: 0.0.0+intree\n')
    lines = []
    for group, entries in _entry_points().items():
        lines.append(f'[{group}]')
        lines += [f'{name} = {target}' for name, target in entries.items()]
    (info / 'entry_points.txt').write_text('\n'.join(lines) + '\n')
    return CACHE


class Aiida:
    """verdi and Python in the venv, against a private AiiDA configuration folder."""

    def __init__(self, venv_path: Path, root: Path) -> None:
        self.bin = venv_path / 'bin'
        self.root = root
        self.env = dict(os.environ, AIIDA_PATH=str(root), PYTHONPATH='', AIIDA_WARN_v3='0')

    def verdi(self, *args, check=True):
        return _run([str(self.bin / 'verdi'), *args], env=self.env, check=check, cwd=self.root)

    def py(self, code: str, *args, check=True):
        return _run([str(self.bin / 'python'), '-c', code, *args], env=self.env, check=check, cwd=self.root)

    def json(self, code: str, *args):
        """Run ``code`` (which prints one JSON line last) and return it decoded."""
        return json.loads(self.py(code, *args).stdout.strip().splitlines()[-1])

    def setup_udos(self, name: str) -> Path:
        folder = self.root / name
        self.verdi(
            'profile', 'setup', 'udos.sqlite', '-n', '--profile-name', name, '--email', 'udos@localhost',
            '--first-name', 'U', '--last-name', 'Dos', '--institution', 'udos', '--filepath', str(folder),
            '--no-use-rabbitmq',
        )
        return folder

    def backend(self, name: str) -> str:
        config = json.loads((self.root / '.aiida' / 'config.json').read_text())
        return config['profiles'][name]['storage']['backend']


@pytest.fixture(scope='module')
def aiida(venv, tmp_path_factory) -> Aiida:
    return Aiida(venv, tmp_path_factory.mktemp('aiida'))


def _headers(limit: int) -> list:
    return sorted(p for p in INCLUDE.rglob('*.h') if p.is_file() and not p.is_symlink())[:limit]


STORE = r'''
import io, json, sys, pathlib
import numpy as np
from aiida import load_profile, orm
load_profile(sys.argv[1])
root, limit = pathlib.Path(sys.argv[2]), int(sys.argv[3])
files = sorted(p for p in root.rglob('*.h') if p.is_file() and not p.is_symlink())[:limit]
single = orm.SinglefileData(io.BytesIO(b'first line\nsecond line\n'), filename='lines.txt').store()
folder = orm.FolderData()
for p in files:
    folder.base.repository.put_object_from_file(str(p), str(p.relative_to(root)))
folder.store()
array = orm.ArrayData()
array.set_array('grid', np.arange(10000, dtype=np.float64).reshape(100, 100))
array.store()
print(json.dumps({'single': single.uuid, 'folder': folder.uuid, 'array': array.uuid, 'files': len(files), 'root': str(root)}))
'''

CHECK = r'''
import hashlib, json, sys, pathlib
import numpy as np
from aiida import load_profile, orm
load_profile(sys.argv[1])
ids = json.loads(sys.argv[2])
out = {}
single = orm.load_node(ids['single'])
with single.open(mode='rb') as handle:
    out['lines'] = [line.decode() for line in handle.readlines()]
with single.open() as handle:  # text mode: io.TextIOWrapper over the udos stream
    out['text_lines'] = list(handle)
if 'folder' in ids:
    root, folder, bad, files = pathlib.Path(ids['root']), orm.load_node(ids['folder']), 0, 0
    for name in folder.base.repository.glob():
        if folder.base.repository.get_object(name).file_type.name != 'FILE':
            continue
        files += 1
        if folder.base.repository.get_object_content(name, mode='rb') != (root / name).read_bytes():
            bad += 1
    out['files'], out['bad'] = files, bad
arr = orm.load_node(ids['array']).get_array('grid')
out['array_ok'] = bool((arr == np.arange(10000, dtype=np.float64).reshape(100, 100)).all())
from aiida.manage import get_manager
storage = get_manager().get_profile_storage()
out['repository'] = type(storage.get_repository()).__name__
out['container'] = str(storage.get_repository().container.get_folder()) if hasattr(storage.get_repository(), 'container') else None
print(json.dumps(out))
'''

COUNTS = r'''
import json, sys
from aiida import load_profile
from aiida.manage import get_manager
load_profile(sys.argv[1])
info = get_manager().get_profile_storage().get_repository().get_info(detailed=True)
print(json.dumps(info['Objects']))
'''

N_FILES = 3000


@pytest.fixture(scope='module')
def profile(aiida):
    """A udos.sqlite profile holding a SinglefileData, a FolderData of N_FILES headers, an ArrayData."""
    folder = aiida.setup_udos('u')
    ids = aiida.json(STORE, 'u', str(INCLUDE), str(N_FILES))
    return {'name': 'u', 'folder': folder, 'ids': ids}


def _check(aiida, name, ids):
    out = aiida.json(CHECK, name, json.dumps(ids))
    assert out['lines'] == ['first line\n', 'second line\n']
    assert out['text_lines'] == ['first line\n', 'second line\n']
    if 'folder' in ids:
        assert out['files'] == ids['files'] and out['bad'] == 0
    assert out['array_ok']
    return out


def test_profile_and_nodes(aiida, profile):
    assert profile['ids']['files'] == min(N_FILES, len(_headers(N_FILES)))
    assert profile['ids']['files'] > 1000
    out = _check(aiida, 'u', profile['ids'])
    assert out['repository'] == 'UdosRepositoryBackend'
    container = profile['folder'] / 'container'
    assert out['container'] == str(container)
    assert 'udos_format_version' in json.loads((container / 'config.json').read_text())
    assert aiida.backend('u') == 'udos.sqlite'


def test_storage_info(aiida, profile):
    out = aiida.verdi('-p', 'u', 'storage', 'info', '--detailed').stdout
    assert 'SHA-hash algorithm: sha256' in out
    loose = int(re.search(r'loose: (\d+)', out).group(1))
    packed = int(re.search(r'packed: (\d+)', out).group(1))
    assert loose + packed >= profile['ids']['files']


def test_maintain_live_then_full(aiida, profile):
    before = aiida.json(COUNTS, 'u')
    aiida.verdi('-p', 'u', 'storage', 'maintain', '--force')
    live = aiida.json(COUNTS, 'u')
    assert live['loose'] == 0 and live['packed'] == before['loose'] + before['packed']
    aiida.verdi('-p', 'u', 'storage', 'maintain', '--full', '--force')
    full = aiida.json(COUNTS, 'u')
    assert full['packed'] == live['packed'] and full['loose'] == 0
    with udos.Container(profile['folder'] / 'container') as container:
        issues = container.validate()
        assert not any(getattr(issues, f) for f in issues.__dataclass_fields__), issues
    _check(aiida, 'u', profile['ids'])


def test_archive_create_and_import(aiida, profile, tmp_path):
    archive = tmp_path / 'all.aiida'
    aiida.verdi('-p', 'u', 'archive', 'create', '--all', str(archive))
    aiida.setup_udos('imported')
    aiida.verdi('-p', 'imported', 'archive', 'import', str(archive))
    _check(aiida, 'imported', profile['ids'])


def _snapshot(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob('*'))
        if p.is_file() and not p.is_symlink()
    }


def test_storage_backup_keep(aiida, profile, tmp_path):
    dest = tmp_path / 'backups'
    aiida.verdi('-p', 'u', 'storage', 'backup', '--keep', '1', str(dest))
    first = (dest / 'last-backup').resolve()
    first_files = _snapshot(first)
    aiida.py(STORE, 'u', str(INCLUDE / 'linux'), '50')  # more objects, loose
    aiida.verdi('-p', 'u', 'storage', 'backup', '--keep', '1', str(dest))
    second = (dest / 'last-backup').resolve()
    assert second != first
    assert _snapshot(first) == first_files, 'the previous backup was written to'
    aiida.verdi('-p', 'u', 'storage', 'backup', '--keep', '1', str(dest))
    third = (dest / 'last-backup').resolve()
    folders = sorted(p.name for p in dest.glob('backup_*_*'))
    assert len(folders) == 2 and third.name in folders and second.name in folders
    assert (third / 'database.sqlite').is_file()
    with udos.Container(third / 'container') as copy, udos.Container(profile['folder'] / 'container') as live:
        assert sorted(copy.list_all_objects()) == sorted(live.list_all_objects())
        issues = copy.validate()
        assert not any(getattr(issues, f) for f in issues.__dataclass_fields__), issues


def test_delete_node_and_clean(aiida, profile):
    before = aiida.json(COUNTS, 'u')
    aiida.verdi('-p', 'u', 'node', 'delete', '--force', profile['ids']['folder'])
    aiida.verdi('-p', 'u', 'storage', 'maintain', '--full', '--force')
    after = aiida.json(COUNTS, 'u')
    total_before, total_after = before['packed'] + before['loose'], after['packed'] + after['loose']
    assert total_after < total_before - 1000, (before, after)
    with udos.Container(profile['folder'] / 'container') as container:
        assert container.count_objects().packed == after['packed']
    _check(aiida, 'u', {key: value for key, value in profile['ids'].items() if key != 'folder'})


def test_migrate_dry_run_and_revert(aiida, tmp_path):
    aiida.verdi('presto', '-p', 'd', '--no-broker')
    assert aiida.backend('d') == 'core.sqlite_dos'
    ids = aiida.json(STORE, 'd', str(INCLUDE), '400')
    filepath = Path(json.loads((aiida.root / '.aiida' / 'config.json').read_text())['profiles']['d']['storage']['config']['filepath'])
    container = filepath / 'container'
    dos_config = (container / 'config.json').read_text()
    migrate = [str(aiida.bin / 'python'), '-m', 'udos.aiida', 'migrate', 'd', '--json']

    dry = json.loads(_run(migrate + ['--dry-run'], env=aiida.env).stdout)
    assert dry['dry_run'] and dry['objects'] >= 400
    assert aiida.backend('d') == 'core.sqlite_dos'
    assert not (filepath / 'container.udos-new').exists() and not (filepath / 'container.dos').exists()

    done = json.loads(_run(migrate, env=aiida.env).stdout)
    assert done['objects'] == dry['objects'] and not done['dry_run']
    assert aiida.backend('d') == 'udos.sqlite'
    assert (filepath / 'container.dos' / 'config.json').read_text() == dos_config
    assert 'udos_format_version' in json.loads((container / 'config.json').read_text())
    out = _check(aiida, 'd', ids)
    assert out['repository'] == 'UdosRepositoryBackend'
    aiida.verdi('-p', 'd', 'storage', 'maintain', '--force')
    later = aiida.json(STORE, 'd', str(INCLUDE / 'linux'), '30')  # objects only the udos container has

    refused = _run(migrate, env=aiida.env, check=False)
    assert refused.returncode == 3 and 'udos.sqlite' in refused.stderr

    back = json.loads(_run(migrate + ['--revert'], env=aiida.env).stdout)
    assert back['objects'] >= 30
    assert aiida.backend('d') == 'core.sqlite_dos'
    assert (filepath / 'container.udos-reverted').is_dir()
    out = _check(aiida, 'd', ids)
    assert out['repository'] == 'DiskObjectStoreRepositoryBackend'
    _check(aiida, 'd', later)
    aiida.verdi('-p', 'd', 'storage', 'maintain', '--full', '--force')


INTERRUPT = r'''
import sys
import udos.aiida.migrate as migrate
def power_cut(*args):
    raise KeyboardInterrupt('cut after the renames')
migrate._set_repository_uuid = power_cut
try:
    migrate.migrate_profile(sys.argv[1])
except KeyboardInterrupt:
    print('interrupted')
'''


def test_migrate_interrupted_switch_is_completed(aiida):
    aiida.verdi('presto', '-p', 'cut', '--no-broker')
    ids = aiida.json(STORE, 'cut', str(INCLUDE / 'linux'), '40')
    assert aiida.py(INTERRUPT, 'cut').stdout.strip() == 'interrupted'
    assert aiida.backend('cut') == 'core.sqlite_dos'  # the container moved, the profile did not
    res = _run([str(aiida.bin / 'python'), '-m', 'udos.aiida', 'migrate', 'cut'], env=aiida.env, cwd=aiida.root)
    assert 'interrupted switch' in res.stdout
    assert aiida.backend('cut') == 'udos.sqlite'
    _check(aiida, 'cut', ids)


def test_udos_psql_needs_postgres(aiida):
    """udos.psql is registered; a profile on it needs a PostgreSQL server (skipped without one)."""
    out = aiida.verdi('plugin', 'list', 'aiida.storage').stdout
    assert 'udos.psql' in out and 'udos.sqlite' in out
    probe = aiida.py('import psycopg; psycopg.connect("host=localhost user=postgres dbname=postgres", connect_timeout=3)', check=False)
    if probe.returncode != 0:
        pytest.skip('no PostgreSQL server on localhost: udos.psql profiles not tested')
    aiida.verdi('presto', '-p', 'pg', '--use-postgres', '--no-broker')
    ids = aiida.json(STORE, 'pg', str(INCLUDE), '200')
    _run([str(aiida.bin / 'python'), '-m', 'udos.aiida', 'migrate', 'pg'], env=aiida.env)
    assert aiida.backend('pg') == 'udos.psql'
    _check(aiida, 'pg', ids)


def _source_digest() -> str:
    """Hash of everything a wheel is built from (tracked files' names and contents)."""
    names = _run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=SRC, check=False).stdout.split()
    digest = hashlib.sha256()
    for name in sorted(names):
        if name.split('/')[0] in ('core', 'uring', 'include', 'python', 'cmake') or '/' not in name:
            path = SRC / name
            if path.is_file():
                digest.update(name.encode() + b'\0' + path.read_bytes())
    return digest.hexdigest()


def test_pip_install_extra(aiida):
    """``pip install <source>[aiida]`` gives aiida the udos.sqlite entry point and a working plugin."""
    if not (SRC / '.git').exists() or not (SRC / 'pyproject.toml').exists():
        pytest.skip(f'no udos source tree at {SRC}')
    wheel_venv = CACHE.parent / 'aiida-pip'
    _make_venv(wheel_venv, [f'{SRC}[aiida]'], _source_digest() + '\n')
    env = dict(aiida.env, PYTHONPATH='')
    out = _run([str(wheel_venv / 'bin' / 'verdi'), 'plugin', 'list', 'aiida.storage'], env=env, cwd=aiida.root).stdout
    assert 'udos.sqlite' in out and 'udos.psql' in out
    where = _run(
        [str(wheel_venv / 'bin' / 'python'), '-c', 'import udos.aiida, udos; print(udos.__file__)'], env=env, cwd=aiida.root
    )
    assert str(wheel_venv) in where.stdout
