"""AiiDA storage backends with the repository in a udos container.

``udos.sqlite`` (:class:`UdosSqliteStorage`) is ``core.sqlite_dos`` and
``udos.psql`` (:class:`UdosPsqlStorage`) is ``core.psql_dos``, with the same
database, schema, migrations and profile configuration; only the container
(``<filepath>/container``, resp. the ``repository_uri`` folder's
``container``) is a ``udos.Container``. Backups go through
``udos.backup_utils`` (a consistent copy by the C library) instead of
rsyncing a live container.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Optional
from uuid import uuid4

from aiida.common import exceptions
from aiida.common.log import AIIDA_LOGGER
from aiida.common.pydantic import MetadataField
from aiida.manage.configuration.settings import AiiDAConfigDir
from aiida.storage.psql_dos.backend import PsqlDosBackend, get_filepath_container
from aiida.storage.psql_dos.migrator import PsqlDosMigrator
from aiida.storage.sqlite_dos.backend import FILENAME_CONTAINER, SqliteDosMigrator, SqliteDosStorage

from .. import backup_utils
from ..container import Container
from .repository import UdosRepositoryBackend

__all__ = ('UdosPsqlStorage', 'UdosSqliteStorage')

LOGGER = AIIDA_LOGGER.getChild('udos')


class UdosSqliteMigrator(SqliteDosMigrator):
    """``core.sqlite_dos``'s migrator with a udos container."""

    def get_container(self) -> Container:  # type: ignore[override]
        return Container(str(Path(self.profile.storage_config['filepath']) / FILENAME_CONTAINER))


class UdosPsqlMigrator(PsqlDosMigrator):
    """``core.psql_dos``'s migrator with a udos container."""

    def get_container(self) -> Container:  # type: ignore[override]
        return Container(get_filepath_container(self.profile))


class _UdosRepositoryMixin:
    """What both backends change: one open udos repository per storage instance, closed with
    it, and backups through ``udos.backup_utils``."""

    _udos_repository: Optional[UdosRepositoryBackend] = None

    def get_udos_container(self) -> Container:
        """A new ``udos.Container`` on this profile's container folder."""
        raise NotImplementedError

    def get_container(self) -> Container:
        """The container of the repository (kept open by this storage instance)."""
        return self.get_repository().container

    def get_repository(self) -> UdosRepositoryBackend:
        if self._udos_repository is None:
            self._udos_repository = UdosRepositoryBackend(self.get_udos_container())
        return self._udos_repository

    def _close_repository(self) -> None:
        if self._udos_repository is not None:
            self._udos_repository.close()
            self._udos_repository = None

    def close(self) -> None:
        self._close_repository()
        super().close()  # type: ignore[misc]

    def _clear(self) -> None:
        self._close_repository()  # the migrator removes and re-creates its folder
        super()._clear()  # type: ignore[misc]

    def _backup(self, dest: str, keep: Optional[int] = None) -> None:
        try:
            manager = backup_utils.BackupManager(dest, keep=keep)
            manager.backup_auto_folders(
                lambda path, prev: self._backup_storage(manager, path, prev)  # type: ignore[attr-defined]
            )
        except backup_utils.BackupError as exc:
            raise exceptions.StorageBackupError(*exc.args) from exc

    def _backup_repository(self, manager: backup_utils.BackupManager, path: Path, prev: Optional[Path]) -> None:
        LOGGER.report('Backing up the udos container')
        backup_utils.backup_container(
            manager, self.get_container(), path / 'container', prev_backup=prev / 'container' if prev else None
        )


class UdosSqliteStorage(_UdosRepositoryMixin, SqliteDosStorage):
    """``core.sqlite_dos`` with the repository in a udos container: an SQLite database and a udos
    container in one folder, no services needed."""

    migrator = UdosSqliteMigrator

    class CliModel(SqliteDosStorage.CliModel):
        """Configuration of a ``udos.sqlite`` storage."""

        filepath: str = MetadataField(
            title='Directory of the backend',
            description='Filepath of the directory in which to store data for this backend.',
            default_factory=lambda: str(AiiDAConfigDir.get() / 'repository' / f'udos_sqlite_{uuid4().hex}'),
        )

    def get_udos_container(self) -> Container:
        return Container(str(self.filepath_container))

    def __str__(self) -> str:
        state = 'closed' if self.is_closed else 'open'
        return f'UdosSqliteStorage[{self.filepath_root}]: {state},'

    def _backup_storage(  # type: ignore[override]
        self, manager: backup_utils.BackupManager, path: Path, prev_backup: Optional[Path] = None
    ) -> None:
        """Back up the database (SQLite's online backup, then rsync) and the container."""
        LOGGER.report('Running storage maintenance')
        self.maintain(full=False, compress=False)
        LOGGER.report('Backing up sqlite database')
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / self.filepath_database.name
            src, dst = sqlite3.connect(str(self.filepath_database)), sqlite3.connect(str(copy))
            try:
                src.backup(dst)  # a consistent copy while the database is in use
            finally:
                dst.close()
                src.close()
            manager.call_rsync(copy, path, link_dest=prev_backup, dest_trailing_slash=True)
        self._backup_repository(manager, path, prev_backup)


class UdosPsqlStorage(_UdosRepositoryMixin, PsqlDosBackend):
    """``core.psql_dos`` with the repository in a udos container."""

    migrator = UdosPsqlMigrator

    def get_udos_container(self) -> Container:
        return Container(get_filepath_container(self.profile))

    def _backup_storage(  # type: ignore[override]
        self, manager: backup_utils.BackupManager, path: Path, prev_backup: Optional[Path] = None
    ) -> None:
        """Back up the database (pg_dump, then rsync) and the container."""
        if shutil.which('pg_dump') is None:
            raise exceptions.StorageBackupError("Required executable 'pg_dump' not found in PATH, please add it.")
        cfg: dict[str, Any] = self.profile.storage_config
        LOGGER.report('Running basic maintenance')
        self.maintain(full=False, compress=False)
        LOGGER.report('Backing up PostgreSQL')
        with tempfile.TemporaryDirectory() as tmp:
            dump = Path(tmp) / 'db.psql'
            env = dict(os.environ, PGPASSWORD=str(cfg['database_password']))
            cmd = [
                'pg_dump', f'--host={cfg["database_hostname"]}', f'--port={cfg["database_port"]}',
                f'--dbname={cfg["database_name"]}', f'--username={cfg["database_username"]}',
                '--no-password', '--format=p', f'--file={dump}',
            ]
            try:
                subprocess.run(cmd, check=True, env=env)
            except subprocess.CalledProcessError as exc:
                raise backup_utils.BackupError(f'pg_dump: {exc}') from exc
            manager.call_rsync(dump, path, link_dest=prev_backup, dest_trailing_slash=True)
        self._backup_repository(manager, path, prev_backup)
