"""Switch an AiiDA profile between ``core.sqlite_dos``/``core.psql_dos`` and ``udos.sqlite``/``udos.psql``.

``migrate_profile(name, dry_run=False)`` (or ``python -m udos.aiida migrate NAME [--dry-run]``):

1. locks the profile (fails if a process is using it);
2. builds a udos container next to the disk-objectstore one (``container.udos-new``), with
   the same hash type, loose prefix length, pack size target and compression, and copies
   every object of the old container into it (``udos.Container.import_objects`` reading the
   old one through disk-objectstore's API);
3. checks that the new container holds exactly the old one's keys;
4. switches: ``container`` -> ``container.dos``, ``container.udos-new`` -> ``container``, the
   database's repository UUID -> the new container's id, the profile's storage backend ->
   ``udos.*`` (storage configuration unchanged).

The old container is only renamed, never written. Until step 4 the profile is untouched, and
a failed or interrupted copy leaves only ``container.udos-new`` behind (removed by the next run);
a switch interrupted in step 4 is completed by the next run.

``revert_profile(name)`` (``--revert``) goes back: objects added to the udos container since
the migration are first copied into the disk-objectstore one, then the folders are swapped
back (the udos container is kept as ``container.udos-reverted``), the UUID and backend restored.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import update

from ..container import Container

__all__ = ('migrate_profile', 'revert_profile')

_TO_UDOS = {'core.sqlite_dos': 'udos.sqlite', 'core.psql_dos': 'udos.psql'}
_TO_DOS = {value: key for key, value in _TO_UDOS.items()}
_NEW, _OLD, _REVERTED = 'container.udos-new', 'container.dos', 'container.udos-reverted'
_REPOSITORY_UUID_KEY = 'repository|uuid'


class MigrationError(Exception):
    """The profile cannot be migrated or reverted (the message says why; nothing was changed
    unless it says so)."""


def _load(profile_name: str) -> tuple[Any, Any]:
    from aiida.manage.configuration import get_config  # pylint: disable=import-outside-toplevel

    config = get_config()
    return config, config.get_profile(profile_name)


def _container_path(profile: Any) -> Path:
    """The repository container folder of a ``*_dos`` or ``udos.*`` profile."""
    if profile.storage_backend in ('core.sqlite_dos', 'udos.sqlite'):
        return Path(profile.storage_config['filepath']) / 'container'
    from aiida.storage.psql_dos.backend import get_filepath_container  # pylint: disable=import-outside-toplevel

    return Path(get_filepath_container(profile))


def _set_repository_uuid(profile: Any, uuid: str) -> None:
    """Write the container id the database checks the repository against."""
    from aiida.storage.psql_dos.models.settings import DbSetting  # pylint: disable=import-outside-toplevel

    with profile.storage_cls.migrator(profile) as migrator:
        migrator.connection.execute(
            update(DbSetting).where(DbSetting.key == _REPOSITORY_UUID_KEY).values(val=uuid)
        )
        migrator.connection.commit()


def _switch_backend(config: Any, profile: Any, backend: str) -> None:
    profile.set_storage(backend, profile.storage_config)
    config.update_profile(profile)
    config.store()


def _dos_container(path: Path) -> Any:
    from disk_objectstore import Container as DosContainer  # pylint: disable=import-outside-toplevel

    return DosContainer(str(path))


def _is_udos(path: Path) -> bool:
    try:
        return 'udos_format_version' in json.loads((path / 'config.json').read_text())
    except (OSError, ValueError):
        return False


def _finish_switch(config: Any, profile: Any, path: Path, dry_run: bool) -> dict:
    """Complete a switch interrupted after the copy was verified (its renames were under way)."""
    from aiida.manage.profile_access import ProfileAccessManager  # pylint: disable=import-outside-toplevel

    report = {
        'profile': profile.name,
        'backend': f'{profile.storage_backend} -> {_TO_UDOS[profile.storage_backend]}',
        'container': str(path),
        'objects': None,
        'dry_run': dry_run,
        'resumed': True,
    }
    if dry_run:
        return report
    with ProfileAccessManager(profile).lock():
        if not path.exists():
            (path.parent / _NEW).rename(path)
        with Container(path) as new:
            counts = new.count_objects()
            report['objects'] = counts.packed + counts.loose
            new_id = new.container_id
        _set_repository_uuid(profile, new_id)
        _switch_backend(config, profile, _TO_UDOS[profile.storage_backend])
    return report


def migrate_profile(profile_name: str, dry_run: bool = False, callback: Optional[Any] = None) -> dict:
    """Move the profile's repository into a udos container and switch its storage to ``udos.*``.

    Returns a report: ``profile``, ``backend`` (before -> after), ``container``, ``objects``
    (count), ``size`` (bytes), ``dry_run``. MigrationError if the profile's storage is not
    ``core.sqlite_dos``/``core.psql_dos``, if a previous migration left ``container.dos``, or
    if the copy does not hold every object. ``callback`` is a disk-objectstore progress callback.
    """
    from aiida.manage.profile_access import ProfileAccessManager  # pylint: disable=import-outside-toplevel

    config, profile = _load(profile_name)
    if profile.storage_backend not in _TO_UDOS:
        raise MigrationError(
            f"profile '{profile_name}' uses storage '{profile.storage_backend}', not one of {sorted(_TO_UDOS)}"
        )
    path = _container_path(profile)
    old_path, new_path = path.parent / _OLD, path.parent / _NEW
    if old_path.exists():
        if _is_udos(path) or (not path.exists() and _is_udos(new_path)):
            return _finish_switch(config, profile, path, dry_run)
        raise MigrationError(f"'{old_path}' exists: a former migration's container; move it away first")
    with _dos_container(path) as old:
        if not old.is_initialised:
            raise MigrationError(f"'{path}' is not an initialised disk-objectstore container")
        keys = list(old.list_all_objects())
        size = old.get_total_size().total_size_packed + old.get_total_size().total_size_loose
        report = {
            'profile': profile_name,
            'backend': f'{profile.storage_backend} -> {_TO_UDOS[profile.storage_backend]}',
            'container': str(path),
            'objects': len(keys),
            'size': size,
            'dry_run': dry_run,
        }
        if dry_run:
            return report
        with ProfileAccessManager(profile).lock():
            if new_path.exists():
                shutil.rmtree(new_path)  # what an interrupted run left
            new = Container(new_path)
            new.init_container(
                pack_size_target=old.pack_size_target,
                loose_prefix_len=old.loose_prefix_len,
                hash_type=old.hash_type,
                compression_algorithm=old.compression_algorithm,
            )
            with new:
                new.import_objects(keys, old, callback=callback)
                missing = set(keys) - set(new.list_all_objects())
                new_id = new.container_id
            if missing:
                raise MigrationError(f'{len(missing)} objects were not copied into {new_path}; profile unchanged')
            path.rename(old_path)
            new_path.rename(path)
            _set_repository_uuid(profile, new_id)
            _switch_backend(config, profile, _TO_UDOS[profile.storage_backend])
    return report


def revert_profile(profile_name: str, dry_run: bool = False) -> dict:
    """Switch a migrated profile back to its disk-objectstore container.

    Objects the udos container gained since the migration are copied into the old container
    first. The udos container is kept as ``container.udos-reverted``. Returns a report
    (``profile``, ``backend``, ``container``, ``objects`` copied back, ``dry_run``).
    """
    from aiida.manage.profile_access import ProfileAccessManager  # pylint: disable=import-outside-toplevel

    config, profile = _load(profile_name)
    if profile.storage_backend not in _TO_DOS:
        raise MigrationError(f"profile '{profile_name}' uses storage '{profile.storage_backend}', not a udos one")
    path = _container_path(profile)
    old_path, kept_path = path.parent / _OLD, path.parent / _REVERTED
    if not old_path.exists():
        raise MigrationError(f"'{old_path}' is missing: nothing to revert to")
    if kept_path.exists():
        raise MigrationError(f"'{kept_path}' exists: move it away first")
    with Container(path) as new, _dos_container(old_path) as old:
        keys = list(new.list_all_objects())
        gained = [key for key, present in zip(keys, old.has_objects(keys)) if not present]
        report = {
            'profile': profile_name,
            'backend': f'{profile.storage_backend} -> {_TO_DOS[profile.storage_backend]}',
            'container': str(path),
            'objects': len(gained),
            'dry_run': dry_run,
        }
        if dry_run:
            return report
        with ProfileAccessManager(profile).lock():
            if gained:
                old.import_objects(gained, new)
            if not all(old.has_objects(gained)):
                raise MigrationError(f'objects could not be copied back into {old_path}; profile unchanged')
            old_id = old.container_id
            new.close()
            path.rename(kept_path)
            old_path.rename(path)
            _set_repository_uuid(profile, old_id)
            _switch_backend(config, profile, _TO_DOS[profile.storage_backend])
    return report
