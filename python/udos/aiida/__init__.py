"""AiiDA storage plugins keeping the file repository in a udos container (``pip install udos[aiida]``).

Entry points (group ``aiida.storage``): ``udos.sqlite`` -> :class:`UdosSqliteStorage`
(as ``core.sqlite_dos``), ``udos.psql`` -> :class:`UdosPsqlStorage` (as ``core.psql_dos``).
A profile is made with ``verdi profile setup udos.sqlite``, or switched from
``core.sqlite_dos`` with ``python -m udos.aiida migrate PROFILE`` (see :mod:`udos.aiida.migrate`).
Importing this package imports aiida-core.
"""

from .migrate import migrate_profile, revert_profile
from .repository import UdosRepositoryBackend
from .storage import UdosPsqlStorage, UdosSqliteStorage

__all__ = ('UdosPsqlStorage', 'UdosRepositoryBackend', 'UdosSqliteStorage', 'migrate_profile', 'revert_profile')
