"""Backups of a udos container into timestamped folders, as disk_objectstore.backup_utils.

``BackupManager(dest, keep=None, rsync_exe=None)`` manages a destination
(a local path or ``[user@]host:path`` over ssh): ``backup_auto_folders(fn)``
has ``fn(path, prev)`` fill ``<dest>/live-backup``, then renames it
``backup_<UTC timestamp>_<4 random chars>``, points the ``last-backup``
symlink at it and removes all but the ``keep`` newest older backups.

``backup_container(manager, container, path, prev_backup)`` fills ``path``
with a consistent copy of a udos container while it is in use. The copy is
made by the C library's incremental backup (``udos_store_backup``: the
writer lock held, a RocksDB checkpoint of the index, pack tails, loose
files). Locally, ``path`` is first seeded with hard links to the files of
``prev_backup`` that will not change (loose files, packs that did not
grow) and with copies of the packs that grew, so that a new backup costs
only what changed and never writes into an older one. To a remote host, the
C backup updates a local staging copy (``manager.staging_folder(container)``)
that rsync then sends with ``--link-dest`` to the previous backup.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import random
import re
import shutil
import string
import subprocess
from pathlib import Path
from typing import Callable, Optional

from . import LOGGER as BASE_LOGGER
from .container import Container
from .exceptions import ModificationNotAllowed, UdosError

LOGGER = BASE_LOGGER.getChild('backup_utils')

__all__ = ('BackupError', 'BackupManager', 'backup_container', 'split_remote_and_path')

_FOLDER_GLOB = 'backup_*_*'
_SUFFIX_CHARS = string.digits + string.ascii_lowercase
_LAST_LINK = 'last-backup'
_LIVE = 'live-backup'


class BackupError(Exception):
    """A backup step failed."""


def split_remote_and_path(dest: str) -> tuple[Optional[str], Path]:
    """``'host:path'`` -> ``('host', Path('path'))``; ``'path'`` -> ``(None, Path('path'))``.

    More than one colon is a ValueError.
    """
    parts = dest.split(':')
    if len(parts) == 1:
        return None, Path(dest)
    if len(parts) == 2:
        return parts[0], Path(parts[1])
    raise ValueError('Invalid destination format: <remote>:<path>')


def is_exe_found(exe: str) -> bool:
    """True if ``exe`` is on PATH."""
    return shutil.which(exe) is not None


class BackupManager:
    """Where backups go and how they are kept; the copying itself is the ``backup_func`` given to
    :meth:`backup_auto_folders` (``backup_container`` for a udos container).

    ``keep`` older backups are kept besides the newest (all if None; negative is a
    ValueError). A remote must answer ``ssh host exit`` (else BackupError), ``rsync_exe``
    must be on PATH and the destination folder must exist or be creatable (else ValueError).
    """

    def __init__(self, dest: str, keep: Optional[int] = None, rsync_exe: Optional[str] = None) -> None:
        self.dest = dest
        self.keep = keep
        self.remote, self.path = split_remote_and_path(dest)
        self.rsync_exe = rsync_exe if rsync_exe is not None else 'rsync'
        if keep is not None and keep < 0:
            raise ValueError("Input validation failed: keep variable can't be negative!")
        if self.remote:
            self.check_if_remote_accessible()
        if not is_exe_found(self.rsync_exe):
            raise ValueError(f'Input validation failed: {self.rsync_exe} not accessible.')
        if not self.check_path_exists(self.path) and not self.run_cmd(['mkdir', str(self.path)])[0]:
            raise ValueError(f"Input validation failed: Couldn't access/create '{self.path}'!")
        self.rsync_version = self.get_rsync_major_version()

    # ---- commands, here or on the remote ------------------------------------

    def run_cmd(self, args: list) -> tuple[bool, str]:
        """Run ``args`` (through ``ssh <remote>`` for a remote); return (success, stdout)."""
        argv = (['ssh', self.remote] if self.remote else []) + list(args)
        res = subprocess.run(argv, capture_output=True, text=True, check=False)
        LOGGER.debug('Command: %s\n  Exit Code: %d\n  stdout/stderr: %s\n%s', argv, res.returncode, res.stdout, res.stderr)
        return res.returncode == 0, res.stdout

    def check_if_remote_accessible(self) -> None:
        """BackupError unless ``ssh <remote> exit`` succeeds."""
        LOGGER.info("Checking if '%s' is accessible...", self.remote)
        if not self.run_cmd(['exit'])[0]:
            raise BackupError(f"Remote '{self.remote}' is not accessible!")
        LOGGER.info("Success! '%s' is accessible!", self.remote)

    def check_path_exists(self, path: Path) -> bool:
        """True if ``path`` exists (on the remote for a remote destination)."""
        return self.run_cmd(['test', '-e', str(path)])[0]

    def get_rsync_major_version(self) -> Optional[int]:
        """rsync's major version number, None if it cannot be read."""
        out = subprocess.run([self.rsync_exe, '--version'], capture_output=True, text=True, check=False).stdout
        match = re.search(r'rsync\s+version\s+(\d+)\.\d+\.\d+', out)
        return int(match.group(1)) if match else None

    def call_rsync(  # pylint: disable=too-many-arguments
        self,
        src: Path,
        dest: Path,
        link_dest: Optional[Path] = None,
        src_trailing_slash: bool = False,
        dest_trailing_slash: bool = False,
        extra_args: Optional[list] = None,
    ) -> None:
        """rsync ``src`` (local) to ``dest`` (under the destination's host), hard-linking files
        unchanged since ``link_dest``. A trailing slash on ``src`` copies its content; on
        ``dest``, makes rsync create it as a folder. BackupError if rsync fails."""
        argv = [self.rsync_exe, '-azh', '--no-whole-file']
        quiet = not LOGGER.isEnabledFor(logging.INFO)
        if not quiet:
            argv += ['--info=progress2,stats1'] if (self.rsync_version or 0) >= 3 else ['--progress']
        if LOGGER.isEnabledFor(logging.DEBUG):
            argv.append('-vv')
        argv += extra_args or []
        if link_dest is not None:
            argv.append(f'--link-dest={link_dest if self.remote else Path(link_dest).resolve()}')
        argv.append(str(src) + ('/' if src_trailing_slash else ''))
        target = str(dest) + ('/' if dest_trailing_slash else '')
        argv.append(f'{self.remote}:{target}' if self.remote else target)
        LOGGER.info("Running '%s'", ' '.join(argv))
        res = subprocess.run(argv, capture_output=quiet, text=True, check=False)
        LOGGER.info('rsync completed. Exit Code: %d%s', res.returncode, f'\n{res.stdout}\n{res.stderr}' if quiet else '')
        if res.returncode != 0:
            raise BackupError(f'rsync failed for: {src} to {dest}')

    # ---- backup folders -----------------------------------------------------

    def get_existing_backup_folders(self) -> list[str]:
        """The ``backup_*_*`` folders of the destination (full paths, unsorted)."""
        ok, out = self.run_cmd(['find', str(self.path), '-maxdepth', '1', '-type', 'd', '-name', _FOLDER_GLOB, '-print'])
        if not ok:
            raise BackupError('Existing backups determination failed.')
        return out.splitlines()

    def _sorted_backup_folders(self) -> list[str]:
        """Backup folders oldest first: by name (see ``_new_folder_name``)."""
        return sorted(self.get_existing_backup_folders(), key=lambda f: Path(f).name)

    def _new_folder_name(self) -> str:
        """``backup_<UTC second>_<4 random chars>``, as disk-objectstore names them, but
        sorting after every existing folder: within one second the random part is drawn
        above the largest one there (disk-objectstore draws it freely, so ``keep`` could
        delete the newest of two backups made in the same second)."""
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d%H%M%S')
        same = [Path(f).name.split('_')[2] for f in self.get_existing_backup_folders()
                if Path(f).name.split('_')[1] == stamp]
        base = len(_SUFFIX_CHARS)
        above = max((int(x, base) for x in same if len(x) == 4), default=-1)
        room = base**4 - 1 - above
        if room < 1:
            raise BackupError(f'too many backups within the second {stamp}')
        value = above + random.randint(1, min(room, 1000))
        digits = ''
        for _ in range(4):
            value, d = divmod(value, base)
            digits = _SUFFIX_CHARS[d] + digits
        return f'backup_{stamp}_{digits}'

    def get_last_backup_folder(self) -> Optional[Path]:
        """The newest backup folder, None if there is none."""
        folders = self._sorted_backup_folders()
        return Path(folders[-1]) if folders else None

    def delete_old_backups(self) -> None:
        """Remove all backup folders but the newest ``keep + 1`` (nothing if keep is None)."""
        if self.keep is None:
            return
        for folder in self._sorted_backup_folders()[: -(self.keep + 1)]:
            if self.run_cmd(['rm', '-rf', folder])[0]:
                LOGGER.info('Deleted old backup: %s', folder)
            else:
                LOGGER.warning("Warning: couldn't delete old backup: %s", folder)

    def backup_auto_folders(self, backup_func: Callable) -> None:
        """Run ``backup_func(live_path, previous_backup_or_None)`` into ``<dest>/live-backup``,
        then move it to ``<dest>/backup_<timestamp>_<randstr>``, point ``last-backup`` at it
        (skipped with a warning where symlinks are unsupported) and prune to ``keep``."""
        live = self.path / _LIVE
        last = self.get_last_backup_folder()
        if last:
            LOGGER.info("Last backup is '%s', using it for rsync --link-dest.", last)
        else:
            LOGGER.info("Couldn't find a previous backup to increment from.")
        backup_func(live, last)
        name = self._new_folder_name()
        if not self.run_cmd(['mv', str(live), str(self.path / name)])[0]:
            raise BackupError(f"Failed to move '{live}' to '{self.path / name}'")
        LOGGER.info("Backup moved from '%s' to '%s'.", live, self.path / name)
        if self.run_cmd(['ln', '-sfn', name, str(self.path / _LAST_LINK)])[0]:
            LOGGER.info("Added symlink '%s' to '%s'.", _LAST_LINK, name)
        else:
            LOGGER.warning("Couldn't create symlink '%s'. Perhaps the filesystem doesn't support it.", _LAST_LINK)
        self.delete_old_backups()

    def staging_folder(self, container: Container) -> Path:
        """The local copy that remote backups of ``container`` are sent from.

        ``$UDOS_BACKUP_STAGING/<id>`` if that variable is set, else under
        ``~/.cache/udos/backup-staging``; one per container and destination, updated
        incrementally by each backup.
        """
        root = Path(os.environ.get('UDOS_BACKUP_STAGING') or Path.home() / '.cache' / 'udos' / 'backup-staging')
        tag = hashlib.sha256(f'{container.container_id}\0{self.dest}'.encode()).hexdigest()[:16]
        return root / tag


def _seed_from_previous(source: Path, prev: Path, path: Path) -> None:
    """Fill the new folder ``path`` from the finished backup ``prev``: hard links to loose files
    and to the packs the C backup will keep as they are, copies of the packs of ``source`` that
    grew (it appends to them in place) and of the small files. The index and transient folders
    are left out: a new checkpoint replaces them, and so is a read-through cache."""
    skip = {'index', 'index.new', 'index.old', 'sandbox', 'cache'}
    for top, dirs, files in os.walk(prev):
        rel = Path(top).relative_to(prev)
        if rel == Path('.'):
            dirs[:] = [d for d in dirs if d not in skip]
        (path / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            old, new = Path(top) / name, path / rel / name
            if rel.parts[:1] == ('loose',):
                os.link(old, new)  # immutable, named by content
            elif rel == Path('packs'):
                try:
                    grew = (source / 'packs' / name).stat().st_size != old.stat().st_size
                except FileNotFoundError:
                    continue  # gone from the container: the backup would remove it
                if grew:
                    shutil.copy2(old, new)
                else:
                    os.link(old, new)
            else:
                shutil.copy2(old, new)  # small files a writer of the copy could rewrite


def _c_backup(container: Container, dest: Path) -> dict:
    try:
        result = container._st().backup(str(dest))  # pylint: disable=protected-access
    except (OSError, UdosError, ModificationNotAllowed) as exc:
        raise BackupError(f'backup of {container.get_folder()} into {dest} failed: {exc}') from exc
    LOGGER.info('Backed up %s into %s: %s', container.get_folder(), dest, result)
    return result


def backup_container(
    manager: BackupManager, container: Container, path: Path, prev_backup: Optional[Path] = None
) -> None:
    """Make ``path`` (on the manager's destination) a consistent backup of ``container``,
    incremental from ``prev_backup`` (a former backup on the same destination, or None).

    Safe while the container is in use: readers and loose writers go on; a packer
    elsewhere makes it fail (BackupError) rather than wait.
    """
    path = Path(path)
    if manager.remote:
        staging = manager.staging_folder(container)
        staging.parent.mkdir(parents=True, exist_ok=True)
        _c_backup(container, staging)
        # the index's files keep their names and sizes from one checkpoint to the next
        # (CURRENT, OPTIONS-*): compare them by content, not by size and time
        manager.call_rsync(
            staging, path, link_dest=prev_backup, src_trailing_slash=True, dest_trailing_slash=True,
            extra_args=['--exclude', '/index'],
        )
        manager.call_rsync(
            staging / 'index', path / 'index', link_dest=prev_backup / 'index' if prev_backup else None,
            src_trailing_slash=True, dest_trailing_slash=True, extra_args=['--checksum'],
        )
        LOGGER.info('Transferred %s to %s:%s', staging, manager.remote, path)
        return
    store = container._st()  # pylint: disable=protected-access
    try:
        store.lock_writer()  # packs stay as they are between seeding and the copy
    except ModificationNotAllowed as exc:
        raise BackupError(f'cannot back up {container.get_folder()}: {exc}') from exc
    try:
        if prev_backup is not None and (Path(prev_backup) / 'backup.state').is_file() and not path.exists():
            _seed_from_previous(container.get_folder(), Path(prev_backup), path)
            LOGGER.info('Seeded %s from the previous backup %s', path, prev_backup)
        _c_backup(container, path)
    finally:
        store.unlock_writer()
