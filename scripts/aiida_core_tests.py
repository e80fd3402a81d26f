#!/usr/bin/env python3
"""Run aiida-core's own repository and storage tests against the udos plugin.

    scripts/aiida_core_tests.py AIIDA_CORE_CHECKOUT [VENV]

AIIDA_CORE_CHECKOUT is a git checkout of aiida-core (its PyPI sdist has no
tests); VENV (default ~/.cache/udos-test-venvs/aiida, as made by
python/tests/test_aiida.py) has aiida-core and sees this build's udos. The
tests are copied to a scratch folder and pointed at udos there: the session
profile becomes ``udos.sqlite``, the repository-backend fixtures build a
``udos.Container`` and ``UdosRepositoryBackend``, the ``sqlite_dos`` backend
tests use ``UdosSqliteStorage``, and one added test checks that the profile
really is a udos one. Tests needing PostgreSQL are deselected by aiida-core's
own conftest with ``--db-backend sqlite``. Exit status: pytest's.

VENV also needs aiida-core's pytest plugins:
    pip install 'pytest~=7.0' 'pytest-asyncio~=0.12,<0.17' pytest-timeout pytest-rerunfailures \
        'pytest-benchmark~=4.0' pytest-regressions pgtest pympler pg8000
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_PATCHES = {
    'tests/conftest.py': [
        ("        storage = 'core.sqlite_dos'", "        storage = 'udos.sqlite'"),
        # sphinx's fixtures are only needed by the docs tests
        (", 'sphinx.testing.fixtures'", ''),
    ],
    'tests/repository/backend/test_disk_object_store.py': [
        (
            '    from disk_objectstore import Container\n\n    container = Container(tmp_path)\n'
            '    yield DiskObjectStoreRepositoryBackend(container=container)',
            '    from udos import Container\n    from udos.aiida import UdosRepositoryBackend\n\n'
            '    container = Container(tmp_path)\n    yield UdosRepositoryBackend(container)',
        ),
    ],
    'tests/repository/test_repository.py': [
        (
            '    from disk_objectstore import Container\n',
            '    from udos import Container\n'
            '    from udos.aiida import UdosRepositoryBackend as DiskObjectStoreRepositoryBackend\n',
        ),
    ],
    'tests/storage/sqlite_dos/test_backend.py': [
        (
            'import FILENAME_CONTAINER, FILENAME_DATABASE, SqliteDosStorage',
            'import FILENAME_CONTAINER, FILENAME_DATABASE\n'
            'from udos.aiida.storage import UdosSqliteStorage as SqliteDosStorage',
        ),
        ("storage_backend='core.sqlite_dos'", "storage_backend='udos.sqlite'"),
    ],
}

_CHECK = '''"""The session profile is a udos one (added by udos's scripts/aiida_core_tests.py)."""


def test_profile_is_udos(aiida_profile):
    from aiida.manage import get_manager

    storage = get_manager().get_profile_storage()
    assert type(storage).__name__ == 'UdosSqliteStorage', type(storage)
    assert type(storage.get_repository()).__name__ == 'UdosRepositoryBackend'
'''


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    checkout = Path(sys.argv[1])
    venv = Path(sys.argv[2]) if len(sys.argv) == 3 else Path.home() / '.cache' / 'udos-test-venvs' / 'aiida'
    with tempfile.TemporaryDirectory(prefix='aiida-core-tests-') as tmp:
        work = Path(tmp)
        shutil.copytree(checkout / 'tests', work / 'tests')
        shutil.copy(checkout / 'pyproject.toml', work / 'pyproject.toml')
        for rel, patches in _PATCHES.items():
            path = work / rel
            text = path.read_text()
            for old, new in patches:
                if old not in text:
                    print(f'aiida_core_tests: cannot patch {rel}: this aiida-core differs', file=sys.stderr)
                    return 2
                text = text.replace(old, new)
            path.write_text(text)
        (work / 'tests' / 'storage' / 'test_udos_profile.py').write_text(_CHECK)
        env = dict(os.environ, AIIDA_PATH=str(work / 'aiida'))
        (work / 'aiida').mkdir()
        argv = [
            str(venv / 'bin' / 'python'), '-m', 'pytest', '-p', 'no:cacheprovider',
            '-o', 'addopts=--benchmark-skip -ra --tb=short -q', '--rootdir', str(work),
            str(work / 'tests' / 'repository'), str(work / 'tests' / 'storage'),
            '--db-backend', 'sqlite', '--broker-backend', 'none', '--continue-on-collection-errors',
        ]
        return subprocess.run(argv, env=env, cwd=work, check=False).returncode


if __name__ == '__main__':
    sys.exit(main())
