"""``udos.Container``: the disk-objectstore ``Container`` API on the udos C library.

The hot paths (single and bulk reads, loose adds, adds to packs, imports
between udos containers, file ingest) are single calls into the C extension
``udos._udos``, which releases the GIL around all I/O, hashing and
compression. This module only adapts arguments and results.

The on-disk format is udos's own (packs with self-describing records and a
RocksDB index), not disk-objectstore's: the API and its semantics are the
same, the folder is not interchangeable. Use ``import_objects`` to copy
objects from a disk-objectstore container.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import threading
import weakref
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, Callable, Generator, Iterable, Iterator, Mapping, Sequence

from . import _udos
from .dataclasses import ObjectCount, ObjectMeta, TotalSize, ValidationIssues
from .exceptions import InconsistentContent, NotExistent, NotInitialised, UdosError, _NotInitialisedError
from .utils import CompressMode, GroupedProgress, LazyLooseStream, ProgressAdapter, get_hash_cls

__all__ = ('CompressMode', 'Container', 'ObjectType')


class ObjectType(Enum):
    """Where an object is (``ObjectMeta.type``)."""

    LOOSE = 'loose'
    PACKED = 'packed'
    MISSING = 'missing'


_MISSING_META = ObjectMeta(ObjectType.MISSING, None, None, None, None, None)

_COMPRESS = {
    CompressMode.NO: _udos.COMPRESS_NO,
    CompressMode.YES: _udos.COMPRESS_YES,
    CompressMode.AUTO: _udos.COMPRESS_AUTO,
    CompressMode.KEEP: _udos.COMPRESS_KEEP,
}


def _compress_arg(compress: Any) -> int:
    """A bool or CompressMode (or its value string) as the C library's mode."""
    if isinstance(compress, bool):
        return _udos.COMPRESS_YES if compress else _udos.COMPRESS_NO
    if isinstance(compress, Enum) and not isinstance(compress, CompressMode):
        compress = compress.value  # disk_objectstore.CompressMode and the like
    if isinstance(compress, str):
        try:
            compress = CompressMode(compress)
        except ValueError:
            pass
    try:
        return _COMPRESS[compress]
    except (KeyError, TypeError):
        raise ValueError(f'Unknown compression mode {compress!r}') from None


def _meta(tup: tuple) -> ObjectMeta:
    """ObjectMeta from the C tuple (loc, size, pack_id, codec, offset, stored_size)."""
    loc = tup[0]
    if loc == _udos.LOC_PACKED:
        return ObjectMeta(ObjectType.PACKED, tup[1], tup[2], tup[3] != _udos.CODEC_NONE, tup[4], tup[5])
    if loc == _udos.LOC_LOOSE:
        return ObjectMeta(ObjectType.LOOSE, tup[1], None, None, None, None)
    return _MISSING_META


def _unique(hashkeys: Iterable[str]) -> list:
    """The keys, each once, in first-seen order."""
    return list(dict.fromkeys(hashkeys))


class _MissingObjectStream:
    """What ``get_object_stream`` returns for a missing key: as in
    disk-objectstore, NotExistent is raised on entering the ``with`` block."""

    def __init__(self, error: NotExistent) -> None:
        self._error = error

    def __enter__(self) -> Any:
        raise self._error

    def __exit__(self, *args: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        raise self._error


_PACK_PATH_RE = re.compile(r'^packs/(0|[1-9][0-9]*)$')
_PACK_ID_RE = re.compile(r'^(0|[1-9][0-9]*)$')
_HEX_RE = re.compile(r'^[0-9a-f]+$')


class _CallbackStream:
    """Wraps a stream to report bytes read through the callback protocol."""

    def __init__(self, stream: Any, callback: Callable, total: int, description: str) -> None:
        self._stream = stream
        self._callback = callback
        self._total = total
        self._description = description
        self._started = False

    def read(self, size: int = -1) -> bytes:
        if not self._started:
            self._started = True
            self._callback(action='init', value={'total': self._total, 'description': self._description})
        data = self._stream.read(size)
        if data:
            self._callback(action='update', value=len(data))
        return data

    def close_callback(self) -> None:
        if not self._started:
            self._callback(action='init', value={'total': self._total, 'description': self._description})
        self._callback(action='close', value=None)


# Containers of this process, so that a forked child drops (without closing:
# that would release the parent's locks) the stores it inherited.
_ALL_CONTAINERS: 'weakref.WeakSet[Container]' = weakref.WeakSet()
_INHERITED_STORES: list = []


def _after_fork_in_child() -> None:
    for container in list(_ALL_CONTAINERS):
        if container._store is not None:  # pylint: disable=protected-access
            _INHERITED_STORES.append(container._store)  # pylint: disable=protected-access
            container._store = None  # pylint: disable=protected-access
        container._open_lock = threading.Lock()  # pylint: disable=protected-access


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Container:  # pylint: disable=too-many-public-methods
    """A container of objects in a folder, with the API of disk-objectstore's ``Container``.

    The container is opened on first use and reopened after ``close()`` if used
    again. A Container may be shared by threads; several processes may open the
    same folder (one of them at a time writes packs).
    """

    # Compatibility with disk-objectstore's class attributes (chunk sizes of its
    # SQL queries; udos has no such limits, but callers and tests size their
    # data from them).
    _IN_SQL_MAX_LENGTH = 950
    _MAX_CHUNK_ITERATE_LENGTH = 9500

    def __init__(self, folder: str | Path) -> None:
        self._folder = Path(folder).resolve()
        self._store: _udos.Store | None = None
        self._open_lock = threading.Lock()
        self._info: dict | None = None
        _ALL_CONTAINERS.add(self)

    # ---- opening and closing ---------------------------------------------

    def _open_store(self) -> _udos.Store:
        with self._open_lock:
            if self._store is None:
                try:
                    self._store = _udos.Store(str(self._folder))
                except NotInitialised as error:
                    if self._get_config_file().exists():
                        # damaged, not uninitialised: the library names the cause
                        raise _NotInitialisedError(str(error)) from None
                    raise _NotInitialisedError(
                        'The container is not initialised yet - use .init_container() first'
                    ) from None
            return self._store

    def _st(self) -> _udos.Store:
        store = self._store
        return store if store is not None else self._open_store()

    def get_folder(self) -> Path:
        """The container's folder."""
        return self._folder

    def close(self) -> None:
        """Close the container (idempotent). Using it again reopens it."""
        store, self._store = self._store, None
        if store is not None:
            store.close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pylint: disable=broad-except
            pass

    def __repr__(self) -> str:
        return f'<udos.Container {str(self._folder)!r}>'

    # ---- configuration ----------------------------------------------------

    # ---- folder layout (disk-objectstore's private helpers, kept for
    # compatibility; the pack index is udos's own, see _get_pack_index_path)

    def _get_loose_folder(self) -> Path:
        return self._folder / 'loose'

    def _get_pack_folder(self) -> Path:
        return self._folder / 'packs'

    def _get_sandbox_folder(self) -> Path:
        return self._folder / 'sandbox'

    def _get_config_file(self) -> Path:
        return self._folder / 'config.json'

    def _get_pack_index_path(self) -> Path:
        """The index (a folder here, not disk-objectstore's SQLite file)."""
        return self._folder / 'index'

    def _get_loose_path_from_hashkey(self, hashkey: str) -> Path:
        return self._loose_path(hashkey)

    def _get_pack_path_from_pack_id(self, pack_id: str | int, allow_repack_pack: bool = False) -> Path:  # pylint: disable=unused-argument
        pack_id = str(pack_id)
        if not self._is_valid_pack_id(pack_id):
            raise ValueError(f'Invalid pack ID {pack_id}')
        return self._get_pack_folder() / pack_id

    @staticmethod
    def _is_valid_pack_id(pack_id: str, allow_repack_pack: bool = False) -> bool:  # pylint: disable=unused-argument
        return bool(_PACK_ID_RE.match(pack_id))

    def _is_valid_loose_prefix(self, prefix: str) -> bool:
        return len(prefix) == self.loose_prefix_len and (not prefix or bool(_HEX_RE.match(prefix)))

    @staticmethod
    def _is_valid_hashkey(hashkey: str) -> bool:
        return bool(_HEX_RE.match(hashkey))

    @property
    def _current_pack_id(self) -> int:
        """The id of the pack appended to: the highest there is (0 if none)."""
        return max((int(name) for name in self._list_packs()), default=0)

    def _list_packs(self) -> Iterator[str]:
        """Names of the pack files (their ids as strings)."""
        try:
            names = os.listdir(self._get_pack_folder())
        except FileNotFoundError:
            return
        for name in names:
            if self._is_valid_pack_id(name):
                yield name

    @property
    def is_initialised(self) -> bool:
        """True if the folder holds an initialised container (its config file
        and its loose/, packs/ and sandbox/ folders)."""
        for required in (self._get_loose_folder(), self._get_pack_folder(), self._get_sandbox_folder()):
            if not required.is_dir():
                return False
        if self._store is not None and self._get_config_file().exists():
            return True
        try:
            self._open_store()
        except (NotInitialised, OSError):
            return False
        return True

    def init_container(  # pylint: disable=too-many-arguments
        self,
        clear: bool = False,
        pack_size_target: int = 4 * 1024 * 1024 * 1024,
        loose_prefix_len: int = 2,
        hash_type: str = 'sha256',
        compression_algorithm: str = 'zlib+1',
    ) -> None:
        """Create the container in its folder (which must be missing or empty).

        ``compression_algorithm`` is disk-objectstore's ``'zlib+N'`` or udos's
        ``'zlib:N'``, ``'zstd:N'`` or ``'none'``. ``hash_type`` is ``'sha256'`` or
        ``'sha1'`` (keys of 64 or 40 hex digits), fixed for the container's
        life. With ``clear=True`` the folder is deleted first.
        """
        if loose_prefix_len < 0:
            raise ValueError('The loose prefix length can only be zero or a positive integer')
        if pack_size_target <= 0:
            raise ValueError('The pack size target can only be a non-zero positive integer')
        if hash_type not in ('sha256', 'sha1'):
            raise ValueError(f'Unknown hash type "{hash_type}"')
        if not isinstance(compression_algorithm, str) or compression_algorithm == 'zlib':
            # disk-objectstore requires the level ('zlib+N'); udos's 'zlib:N' works too
            raise ValueError(f"Unknown or unsupported compression algorithm '{compression_algorithm}'")
        _udos.codec_parse(compression_algorithm)  # ValueError if unknown

        if clear:
            self.close()
            if self._folder.exists():
                shutil.rmtree(self._folder)
            self._info = None

        if self.is_initialised:
            raise FileExistsError(
                'The container already exists, so you cannot initialise it - '
                'use the clear option if you want to overwrite with a clean one'
            )
        self.close()
        self._info = None
        try:
            _udos.init_store(
                str(self._folder),
                pack_size_target=pack_size_target,
                loose_prefix_len=loose_prefix_len,
                compression=compression_algorithm,
                hash_type=hash_type,
            )
        except FileExistsError:
            raise FileExistsError(
                'There is already some file or folder in the Container folder, I cannot initialise it!'
            ) from None

    def _config(self) -> dict:
        info = self._info
        if info is None:
            info = self._info = self._st().info()
        return info

    @property
    def loose_prefix_len(self) -> int:
        """Length of the folder prefix of loose objects."""
        return self._config()['loose_prefix_len']

    @property
    def pack_size_target(self) -> int:
        """Size in bytes past which a new pack file is started."""
        return self._config()['pack_size_target']

    @property
    def hash_type(self) -> str:
        """The hash of object keys: ``'sha256'`` (the default) or ``'sha1'``."""
        return self._config()['hash_type']

    @property
    def container_id(self) -> str:
        """The container's unique id (a UUID string)."""
        return self._config()['container_id']

    @property
    def compression_algorithm(self) -> str:
        """The codec used for compressed objects: ``'zlib+N'`` (disk-objectstore's
        spelling), ``'zstd:N'`` or ``'none'``."""
        spec = self._config()['compression']
        if spec.startswith('zlib:'):
            return 'zlib+' + spec[5:]
        return spec

    # ---- reading ----------------------------------------------------------

    def get_object_content(self, hashkey: str) -> bytes:
        """The content of one object (NotExistent if missing)."""
        store = self._store
        if store is None:
            store = self._open_store()
        try:
            return store.get(hashkey)
        except OSError as error:
            if not self._refreshed(error):
                raise
            return store.get(hashkey)

    def _refreshed(self, error: OSError) -> bool:
        """A read of a clone met a pack that ``remote gc`` removed (ESTALE): pull the
        newest generation so that the read can look again once; False if it cannot."""
        if error.errno != errno.ESTALE:
            return False
        try:
            self._st().refresh()
        except OSError:
            return False
        return True

    def get_object_stream(self, hashkey: str) -> _udos.Reader:
        """A read-only binary stream on an object, to use as a context manager.

        It supports read, readinto, seek (whence 0, 1, 2) and tell; seeking in a
        compressed object does not write a loose copy. For a missing object,
        NotExistent is raised when entering the ``with`` block (as in
        disk-objectstore), or on any use of the returned object.
        """
        try:
            return self._st().open(hashkey)
        except NotExistent as error:
            return _MissingObjectStream(error)  # type: ignore[return-value]

    def get_lazy_loose_stream(self, hashkey: str) -> LazyLooseStream:
        """A :class:`udos.utils.LazyLooseStream` on the object: its loose copy is
        made (see ``loosen_object``) and opened only on ``open_stream()``."""
        return LazyLooseStream(self, hashkey)

    @contextmanager
    def get_object_stream_and_meta(self, hashkey: str) -> Iterator[tuple[_udos.Reader, ObjectMeta]]:
        """Context manager yielding ``(stream, ObjectMeta)`` for one object."""
        with self._st().open(hashkey) as stream:
            yield stream, _meta(stream.meta)

    def _storage_order(self, store: _udos.Store, hashkeys: Sequence[str]) -> tuple[list, list, list]:
        """The unique keys split as (packed (key, meta tuple) by pack and offset,
        loose keys, missing keys), as looked up now."""
        packed, loose, missing = [], [], []
        for hashkey, tup in store.stat_many(_unique(hashkeys), skip_if_missing=False):
            if tup[0] == _udos.LOC_PACKED:
                packed.append((hashkey, tup))
            elif tup[0] == _udos.LOC_LOOSE:
                loose.append(hashkey)
            else:
                missing.append(hashkey)
        return packed, loose, missing

    def _objects_stream_meta(self, hashkeys: Sequence[str], skip_if_missing: bool) -> Generator[tuple, None, None]:
        store = self._st()
        packed, loose, missing = self._storage_order(store, hashkeys)
        for hashkey in [key for key, _ in packed] + loose:
            try:
                stream = store.open(hashkey)
            except NotExistent:  # deleted meanwhile
                missing.append(hashkey)
                continue
            try:
                yield hashkey, stream, _meta(stream.meta)
            finally:
                stream.close()
        if not skip_if_missing:
            for hashkey in missing:
                yield hashkey, None, _MISSING_META

    @contextmanager
    def get_objects_stream_and_meta(
        self, hashkeys: Sequence[str], skip_if_missing: bool = True
    ) -> Iterator[Iterator[tuple[str, _udos.Reader | None, ObjectMeta]]]:
        """Context manager yielding a generator of ``(hashkey, stream, ObjectMeta)``.

        Objects come in storage order as in disk-objectstore (packed ones by
        pack and offset, then loose ones), each key once; a stream is valid
        until the generator moves on. Each stream is opened when its turn
        comes, so objects packed or cleaned meanwhile are still found. Missing
        keys come last with stream None, unless ``skip_if_missing``.
        """
        generator = self._objects_stream_meta(hashkeys, skip_if_missing)
        try:
            yield generator
        finally:
            generator.close()

    def get_objects_meta(self, hashkeys: Sequence[str], skip_if_missing: bool = True) -> Iterator[tuple[str, ObjectMeta]]:
        """Generator of ``(hashkey, ObjectMeta)``: packed objects (by pack and
        offset), then loose ones (each looked up again when its turn comes, so
        one packed meanwhile is reported packed), then missing ones (unless
        ``skip_if_missing``)."""
        store = self._st()
        packed, loose, missing = self._storage_order(store, hashkeys)
        for hashkey, tup in packed:
            yield hashkey, _meta(tup)
        for hashkey in loose:
            tup = store.stat(hashkey)
            if tup[0] == _udos.LOC_MISSING:
                missing.append(hashkey)
            else:
                yield hashkey, _meta(tup)
        if not skip_if_missing:
            for hashkey in missing:
                yield hashkey, _MISSING_META

    def get_object_meta(self, hashkey: str) -> ObjectMeta:
        """ObjectMeta of one object (NotExistent if missing)."""
        tup = self._st().stat(hashkey)
        if tup[0] == _udos.LOC_MISSING:
            raise NotExistent(f'No object with hash key {hashkey}')
        return _meta(tup)

    def has_objects(self, hashkeys: Sequence[str]) -> list[bool]:
        """For each key (in input order), whether the object exists."""
        return self._st().has_many(list(hashkeys))

    def has_object(self, hashkey: str) -> bool:
        """Whether the object exists."""
        return self._st().has(hashkey)

    def get_objects_content(self, hashkeys: Sequence[str], skip_if_missing: bool = True) -> dict[str, bytes | None]:
        """Contents of many objects as ``{hashkey: bytes}`` (read in storage order).

        Missing keys are left out, or map to None if ``skip_if_missing`` is False.
        """
        store = self._store
        if store is None:
            store = self._open_store()
        try:
            return store.get_many(hashkeys, skip_if_missing=skip_if_missing)
        except OSError as error:
            if not self._refreshed(error):
                raise
            return store.get_many(hashkeys, skip_if_missing=skip_if_missing)

    def list_all_objects(self) -> Iterator[str]:
        """Every object's key, once (packed first, then loose-only)."""
        yield from self._st().list_all()

    def count_objects(self) -> ObjectCount:
        """Numbers of packed objects, loose files (packed or not) and pack files."""
        status = self._st().status()
        return ObjectCount(packed=status['packed_count'], loose=status['loose_count'], pack_files=status['pack_count'])

    def get_total_size(self) -> TotalSize:
        """Sizes of objects and of the files that hold them (bytes)."""
        status = self._st().status()
        return TotalSize(
            total_size_packed=status['packed_size'],
            total_size_packed_on_disk=status['packed_stored_size'],
            total_size_packfiles_on_disk=status['pack_files_size'],
            total_size_packindexes_on_disk=status['index_size'],
            total_size_loose=status['loose_size'],
        )

    # ---- loose writes -----------------------------------------------------

    def add_object(self, content: bytes) -> str:
        """Store ``content`` as a loose object (file and folder fsynced); return its key."""
        store = self._store
        if store is None:
            store = self._open_store()
        return store.add_loose(content)

    def add_streamed_object(self, stream: Any) -> str:
        """Store a loose object read from ``stream.read(n)`` until it ends; bounded memory."""
        return self._st().add_loose_stream(stream)

    def loosen_object(self, hashkey: str) -> Path:
        """Make a (packed) object also available as a loose file; return its path.

        As in disk-objectstore, a concurrent ``clean_storage`` may remove it again.
        """
        loose_path = self._loose_path(hashkey)
        if loose_path.exists():
            return loose_path
        # The C library's loose writers skip objects that are already packed,
        # so the copy is written here: sandbox temp file, fsync, link into place.
        sandbox = self._folder / 'sandbox'
        fd, tmp_name = tempfile.mkstemp(dir=sandbox, prefix='loosen-')
        try:
            hasher = get_hash_cls(self.hash_type)()
            with os.fdopen(fd, 'wb') as out, self.get_object_stream(hashkey) as stream:
                while True:
                    chunk = stream.read(1 << 20)
                    if not chunk:
                        break
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if hasher.hexdigest() != hashkey:
                raise InconsistentContent(f'Object {hashkey} does not match its hash key')
            loose_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(tmp_name, loose_path)
            except FileExistsError:
                pass
            dir_fd = os.open(loose_path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
        return loose_path

    def _loose_path(self, hashkey: str) -> Path:
        prefix_len = self.loose_prefix_len
        if prefix_len:
            return self._folder / 'loose' / hashkey[:prefix_len] / hashkey[prefix_len:]
        return self._folder / 'loose' / hashkey

    # ---- pack writes ------------------------------------------------------

    def _st_for_pack(self) -> _udos.Store:
        try:
            return self._st()
        except NotInitialised:
            raise ValueError('Invalid use of function, please first initialise the container.') from None

    def add_objects_to_pack(  # pylint: disable=too-many-arguments,unused-argument
        self,
        content_list: Sequence[bytes],
        compress: bool | CompressMode = False,
        no_holes: bool = False,
        no_holes_read_twice: bool = True,
        callback: Callable | None = None,
        do_fsync: bool = True,
        do_commit: bool = True,
    ) -> list[str]:
        """Add byte strings straight to packs; return their keys in input order.

        Objects already present are not written again (so there are never holes;
        ``no_holes`` is accepted and has nothing to do). Everything is committed
        at the end (``do_commit=False`` still commits: udos has no open session
        to leave uncommitted); ``do_fsync=False`` skips the fdatasync/index sync.
        """
        store = self._st_for_pack()
        if callback and no_holes:
            self._report_list_existing(store, callback)
        progress = ProgressAdapter(callback, 'Bulk storing', total=len(content_list)) if callback else None
        keys = store.pack_add(content_list, compress=_compress_arg(compress), sync=do_fsync, progress=progress)
        if progress is not None:
            progress.close()
        return keys

    def add_streamed_objects_to_pack(  # pylint: disable=too-many-arguments,unused-argument
        self,
        stream_list: Sequence[Any],
        compress: bool | CompressMode = False,
        open_streams: bool = False,
        no_holes: bool = False,
        no_holes_read_twice: bool = True,
        callback: Callable | None = None,
        do_fsync: bool = True,
        do_commit: bool = True,
    ) -> list[str]:
        """Add objects read from streams (``read(n)``) straight to packs.

        With ``open_streams``, each item is a context manager (e.g.
        ``udos.utils.LazyOpener``) entered to get the stream. Memory stays bounded
        whatever the sizes. Keys are returned in input order.
        """
        store = self._st_for_pack()
        streams = stream_list if isinstance(stream_list, (list, tuple)) else list(stream_list)
        if callback and no_holes:
            self._report_list_existing(store, callback)
        progress = ProgressAdapter(callback, 'Bulk storing', total=len(streams)) if callback else None
        keys = store.pack_add(
            streams, compress=_compress_arg(compress), sync=do_fsync, open_streams=open_streams, progress=progress
        )
        if progress is not None:
            progress.close()
        return keys

    @staticmethod
    def _report_list_existing(store: _udos.Store, callback: Callable) -> None:
        """The 'List existing' action disk-objectstore reports before a
        ``no_holes`` write (its total is the number of packed objects). udos
        checks each key in the index as it goes, so the list is immediate."""
        total = store.status()['packed_count']
        if total:
            callback(action='init', value={'total': total, 'description': 'List existing'})
            callback(action='update', value=total)
            callback(action='close', value=None)

    def add_streamed_object_to_pack(  # pylint: disable=too-many-arguments,unused-argument
        self,
        stream: Any,
        compress: bool | CompressMode = False,
        open_streams: bool = False,
        no_holes: bool = False,
        no_holes_read_twice: bool = True,
        callback: Callable | None = None,
        callback_size_hint: int = 0,
        do_fsync: bool = True,
        do_commit: bool = True,
    ) -> str:
        """Add one object read from a stream straight to a pack; return its key.

        The callback reports bytes read (total = ``callback_size_hint``).
        """
        store = self._st_for_pack()
        wrapped = None
        if callback is not None:
            if open_streams:
                with stream as opened:
                    wrapped = _CallbackStream(opened, callback, callback_size_hint, 'Streamed object')
                    key = store.pack_add([wrapped], compress=_compress_arg(compress), sync=do_fsync)[0]
            else:
                wrapped = _CallbackStream(stream, callback, callback_size_hint, 'Streamed object')
                key = store.pack_add([wrapped], compress=_compress_arg(compress), sync=do_fsync)[0]
            wrapped.close_callback()
            return key
        return store.pack_add([stream], compress=_compress_arg(compress), sync=do_fsync, open_streams=open_streams)[0]

    def add_files(  # pylint: disable=too-many-arguments
        self,
        paths: Iterable[str | os.PathLike],
        to: str = 'pack',
        recursive: bool = True,
        callback: Callable | None = None,
        compress: bool | CompressMode = False,
        do_fsync: bool = True,
        io: str = 'threads',
        use_cache: bool = True,
    ) -> dict[str, str]:
        """Store files (and the regular files under folders) and return ``{path: hashkey}``.

        Runs the io_uring ingest engine (include/udos/ingest.h): parallel walk,
        reads in flight, hashing and compression on worker threads, one pack
        appender with group commits; the GIL is released throughout.
        ``to`` is ``'pack'`` or ``'loose'``. Folders are walked (recursively
        unless ``recursive=False``); symbolic links and special files inside
        them are skipped. If a file cannot be stored, OSError (with its
        filename) is raised after the run; the other files stay stored.
        ``io`` is ``'uring'``, ``'threads'`` (a pread pool; the default for now,
        see the note in the udos report: io_uring's direct openat fails with
        EINVAL on this kernel) or ``'auto'``. A file an earlier add saw with the
        same device, inode, size, mtime and ctime, whose object is still stored,
        is not read again (the container's stat cache; files changed less than
        3 seconds before the call are always read); ``use_cache=False`` reads
        every file.
        """
        io_mode = {'auto': _udos.INGEST_IO_AUTO, 'uring': _udos.INGEST_IO_URING,
                   'threads': _udos.INGEST_IO_THREADS}.get(io)
        if io_mode is None:
            raise ValueError(f"'io' must be 'auto', 'uring' or 'threads', not {io!r}")
        if to not in ('pack', 'loose'):
            raise ValueError(f"'to' must be 'pack' or 'loose', not {to!r}")
        inputs: list[str] = []
        for path in paths:
            path = os.fspath(path)
            if not recursive and os.path.isdir(path):
                inputs.extend(_walk(path, recursive=False))
            else:
                inputs.append(path)
        store = self._st_for_pack() if to == 'pack' else self._st()
        progress = ProgressAdapter(callback, 'Adding files') if callback else None
        results = store.ingest(inputs, to_pack=(to == 'pack'), compress=_compress_arg(compress), sync=do_fsync,
                               progress=progress, io=io_mode, use_cache=use_cache)
        if progress is not None:
            progress.close()
        stored: dict[str, str] = {}
        failure = None
        for raw_path, key, code, detail in results:
            path = os.fsdecode(raw_path)
            if key is None:
                if failure is None:
                    failure = (path, code, detail)
                continue
            stored[path] = key
        if failure is not None:
            path, code, detail = failure
            if -4096 < code < 0:
                raise OSError(-code, f'{os.strerror(-code)} ({detail})' if detail else os.strerror(-code), path)
            raise UdosError(f'{path}: {detail or code}')
        return stored

    def restore(
        self,
        manifest: str | os.PathLike | bytes | Mapping[str | bytes, str],
        dest: str | os.PathLike,
        verify: bool = False,
    ) -> dict[str, Any]:
        """Write the files a manifest names under ``dest``: the way back from ``add_files``.

        ``manifest`` is the path of a manifest file (what ``udos add`` prints:
        sha256sum lines or ``add --json`` lines), its bytes, or a mapping
        ``{path: hashkey}`` such as ``add_files`` returns (a relative path, str
        or bytes). Objects are read in storage order, each once; a file already
        in place with the right content is left alone. Absolute paths, ``..``
        and symlinks out of ``dest`` are refused. Per-file failures (a missing
        or damaged object, a file that cannot be written) do not stop the run:
        they are returned as ``failures``, ``{path: message}``. The result also
        counts ``files``, ``written``, ``same``, ``failed`` and ``bytes_written``.
        """
        if isinstance(manifest, Mapping):
            text = ''.join(
                json.dumps({'hash': key, 'path': os.fsdecode(path)}) + '\n' for path, key in manifest.items()
            ).encode('ascii')
        elif isinstance(manifest, (bytes, bytearray, memoryview)):
            text = bytes(manifest)
        else:
            with open(manifest, 'rb') as handle:
                text = handle.read()
        result = self._st().restore(text, os.fspath(dest), verify=verify)
        result['failures'] = {os.fsdecode(path): message for path, _code, message in result['failures']}
        return result

    # ---- maintenance ------------------------------------------------------

    def pack_all_loose(  # pylint: disable=too-many-arguments
        self,
        compress: bool | CompressMode = CompressMode.NO,
        validate_objects: bool = True,
        do_fsync: bool = True,
        callback: Callable | None = None,
        clean_loose_per_pack: bool = False,
    ) -> None:
        """Move every loose object into packs (one process at a time packs).

        Loose files stay until ``clean_storage()`` (or ``clean_loose_per_pack``).
        Contents are re-hashed while packing; a loose file whose content does not
        match its name is left out and, with ``validate_objects``, raises
        InconsistentContent once the others are packed.
        """
        store = self._st()
        progress = None
        if callback:
            # disk-objectstore counts bytes: total = the loose files' size
            progress = GroupedProgress(
                callback, [('Packing loose objects', store.status()['loose_size'])], skip_empty=False
            )
        result = store.pack_loose(
            compress=_compress_arg(compress), clean=clean_loose_per_pack, sync=do_fsync, progress=progress
        )
        if progress is not None:
            progress.close()
        if validate_objects and result['corrupt']:
            raise InconsistentContent(
                f"{result['corrupt']} loose object(s) do not match their hash key and were not packed"
            )

    @contextmanager
    def lock_pack(self, pack_id: str, allow_repack_pack: bool = False) -> Iterator[BinaryIO]:  # pylint: disable=unused-argument
        """Hold the container's pack-writer lock; yield pack ``pack_id`` opened for reading.

        As in disk-objectstore, entering the block means the lock is held and no
        other process can pack or repack until it is left; a second taker fails
        at once with ``LockedError`` (a ``ModificationNotAllowed``). Unlike
        disk-objectstore, udos locks the whole pack writer (not one pack) and the
        yielded handle is read-only: bytes appended by hand to a udos pack would
        not be indexed. A missing pack raises ``FileNotFoundError``.
        """
        pack_path = self._get_pack_path_from_pack_id(pack_id)
        store = self._st_for_pack()
        store.lock_writer()
        try:
            with open(pack_path, 'rb') as handle:
                yield handle
        finally:
            store.unlock_writer()

    def clean_storage(self, vacuum: bool = False) -> None:
        """Remove loose files whose object is safely packed (packed copy checked first).

        With ``vacuum`` the RocksDB index is then compacted (as disk-objectstore
        VACUUMs its SQLite database); this takes the pack-writer lock.
        """
        self._st().clean(vacuum=vacuum)

    def delete_objects(self, hashkeys: Sequence[str]) -> list[str]:
        """Delete objects (loose files and index entries); return the keys that existed.

        Space in packs comes back on ``repack()``.
        """
        return self._st().delete(_unique(hashkeys))

    def repack(self, compress_mode: CompressMode = CompressMode.KEEP, callback: Callable | None = None) -> None:
        """Rewrite every pack without its deleted objects (and recompress as asked)."""
        store = self._st()
        mode = _compress_arg(compress_mode)
        progress = None
        if callback:
            sizes = self._packed_sizes_by_pack()
            groups = [(f'Repack {pid}', sizes.get(pid, 0)) for pid in sorted(int(name) for name in self._list_packs())]
            progress = GroupedProgress(callback, groups, skip_empty=False)
        store.repack(None, compress=mode, progress=progress)
        if progress is not None:
            progress.close()

    def repack_pack(
        self, pack_id: str | int, compress_mode: CompressMode = CompressMode.KEEP, callback: Callable | None = None
    ) -> None:
        """Rewrite one pack without its deleted objects."""
        try:
            pack_int = int(pack_id)
        except (TypeError, ValueError):
            raise ValueError(f'Invalid pack id {pack_id!r}') from None
        if pack_int < 0:
            raise ValueError(f'Invalid pack id {pack_id!r}')
        store = self._st()
        progress = None
        if callback:
            progress = GroupedProgress(
                callback, [(f'Repack {pack_int}', self._packed_sizes_by_pack().get(pack_int, 0))], skip_empty=False
            )
        store.repack(pack_int, compress=_compress_arg(compress_mode), progress=progress)
        if progress is not None:
            progress.close()

    def _packed_sizes_by_pack(self, count: bool = False) -> dict[int, int]:
        """For each pack id, the total size of its live objects (or their number)."""
        result: dict[int, int] = {}
        store = self._st()
        for _, tup in store.stat_many(list(store.list_all()), skip_if_missing=True):
            if tup[0] == _udos.LOC_PACKED:
                result[tup[2]] = result.get(tup[2], 0) + (1 if count else tup[1])
        return result

    def repair(self, dry_run: bool = False, full: bool = False) -> dict:
        """Rebuild the index from the packs, which are the source of truth.

        Every record is checked (``full``: decompressed and re-hashed too) and
        each intact one indexed, the newest copy of an id winning; objects the
        old index still knows as deleted stay deleted. Use it when the index
        is missing, unreadable or older than the packs. Returns the counts of
        ``udos repair --json`` (``objects``, ``adopted``, ``damaged``,
        ``lost`` ...) and ``problems``, a list of (kind, path, offset,
        message) for records left out. Needs the writer lock (LockedError).
        """
        self.close()
        return _udos.repair(str(self._folder), dry_run=dry_run, full=full)

    # ---- the S3 remote (docs/PYTHON.md "Remote") --------------------------

    def set_remote(  # pylint: disable=too-many-arguments
        self, url: str, endpoint: str, region: str = '', cache_size: int = 0, ca_bundle: str = ''
    ) -> None:
        """Set the container's S3 remote (``s3://BUCKET/PREFIX``); credentials come from the
        AWS_* variables or ~/.aws/credentials at each use, never stored. ``ca_bundle``: a PEM
        file of the CAs to trust over https (else AWS_CA_BUNDLE's, else the system's)."""
        self._st().remote_set(url, endpoint, region, cache_size, os.path.abspath(ca_bundle) if ca_bundle else '')

    def remote_status(self) -> dict | None:
        """The remote's url, generation, and local/remote/cached sizes; None without one."""
        return self._st().remote_status()

    def push(self, seal: bool = False, parallel: int = 0) -> dict:
        """Upload every sealed pack the remote lacks and publish a manifest generation
        (``seal``: seal the current pack first). Raises LockedError when another writer
        pushed to the remote since this container last pushed."""
        return self._st().push(seal=seal, parallel=parallel)

    def evict(self, keep: int = 0) -> dict:
        """Remove the local data of pushed packs (newest kept up to ``keep`` bytes); reads
        of them then fetch ranges from the remote through the bounded cache."""
        return self._st().evict(keep=keep)

    def pull(self) -> dict:
        """Bring a clone up to its remote's newest manifest generation (objects its
        deletion marks name leave the clone)."""
        return self._st().pull()

    def remote_gc(self, grace: int = 86400, dry_run: bool = False) -> dict:
        """Delete from the remote what no reader can still need: manifest generations
        that stopped being the newest more than ``grace`` seconds ago, and objects no kept
        generation names that are older than ``grace`` (packs a repack dropped, uploads of
        a writer that lost the race), and incomplete multipart uploads older than that.
        ``dry_run`` only counts."""
        return self._st().remote_gc(grace=grace, dry_run=dry_run)

    @classmethod
    def clone(  # pylint: disable=too-many-arguments
        cls, url: str, folder: str | Path, endpoint: str, region: str = '', cache_size: int = 0,
        ca_bundle: str = '',
    ) -> Container:
        """Make ``folder`` a read-only clone of the remote and return it as a Container,
        which reads the remote's packs transparently (``ca_bundle`` as for ``set_remote``)."""
        _udos.clone(url, str(folder), endpoint, region, cache_size, os.path.abspath(ca_bundle) if ca_bundle else '')
        return cls(folder)

    def validate(self, callback: Callable | None = None) -> ValidationIssues:
        """Check every object (full re-hash) and every pack record; return the issues.

        The callback reports, as disk-objectstore does, one action 'Loose objects'
        (counting loose files) and one 'Pack N' per pack (counting its objects).
        """
        store = self._st()
        progress = None
        if callback:
            counts = self._packed_sizes_by_pack(count=True)
            groups = [('Loose objects', store.status()['loose_count'])]
            groups += [(f'Pack {pid}', counts[pid]) for pid in sorted(counts)]
            progress = GroupedProgress(callback, groups)
        findings, _ = store.validate(full=True, progress=progress)
        if progress is not None:
            progress.close()
        issues: dict[str, list[str]] = {
            'invalid_hashes_loose': [],
            'invalid_hashes_packed': [],
            'invalid_sizes_packed': [],
            'overlapping_packed': [],
            'other_issues': [],
        }
        damaged_packs: dict[int, list[str]] = {}
        for kind, key, path, offset, message in findings:
            pack_match = _PACK_PATH_RE.match(path or '')
            if not key and pack_match and kind not in ('loose-name', 'unknown'):
                # a finding about a pack as a whole: the objects it holds are
                # checked one by one below, and reported by key
                where = f'{path}@{offset}'
                damaged_packs.setdefault(int(pack_match.group(1)), []).append(f'{kind} {where}: {message}')
                continue
            if kind in ('loose-name', 'unknown'):
                # stray files in loose/ (disk-objectstore ignores them too) and
                # the unindexed tail a crash leaves (repaired by the next writer)
                continue
            if kind == 'loose-hash' and key:
                issues['invalid_hashes_loose'].append(key)
            elif key and kind.startswith(('record-', 'index-')) and kind != 'index-behind':
                issues['invalid_hashes_packed'].append(key)
            else:
                where = f'{path}@{offset}' if path else ''
                issues['other_issues'].append(f'{kind} {where}: {message}'.strip())
        if damaged_packs:
            self._check_damaged_packs(store, damaged_packs, issues)
        for name in ('invalid_hashes_packed', 'invalid_sizes_packed'):
            issues[name] = _unique(issues[name])
        return ValidationIssues(**issues)

    def _check_damaged_packs(self, store: _udos.Store, damaged: dict[int, list[str]], issues: dict) -> None:
        """Check each object indexed in a damaged pack: one that cannot be read
        back with its hash is an invalid packed hash; one whose stored bytes
        would end past the end of the file also an invalid size. The pack-level
        finding stays in ``other_issues`` only if no object was affected."""
        affected: set = set()
        hash_cls = get_hash_cls(self.hash_type)
        for hashkey, tup in store.stat_many(list(store.list_all()), skip_if_missing=True):
            if tup[0] != _udos.LOC_PACKED or tup[2] not in damaged:
                continue
            pack_id, offset, stored_size = tup[2], tup[4], tup[5]
            try:
                file_size = os.path.getsize(self._get_pack_folder() / str(pack_id))
            except OSError:
                file_size = 0
            try:
                good = hash_cls(store.get(hashkey)).hexdigest() == hashkey
            except Exception:  # pylint: disable=broad-except
                good = False
            if not good:
                issues['invalid_hashes_packed'].append(hashkey)
                affected.add(pack_id)
            if offset + stored_size > file_size:
                issues['invalid_sizes_packed'].append(hashkey)
                affected.add(pack_id)
        for pack_id, descriptions in damaged.items():
            if pack_id not in affected:
                issues['other_issues'].extend(descriptions)

    def import_objects(  # pylint: disable=too-many-arguments,too-many-locals
        self,
        hashkeys: Sequence[str],
        source_container: Any,
        compress: bool | CompressMode = False,
        target_memory_bytes: int = 104857600,
        callback: Callable | None = None,
        do_fsync: bool = True,
    ) -> dict[str, str]:
        """Copy objects from another container (udos or disk-objectstore) into packs.

        Returns ``{source hashkey: hashkey here}`` for the objects found in the
        source. With the same hash type the keys are equal; otherwise, as in
        disk-objectstore, every object found is read, hashed with this
        container's hash and added (nothing can be known present beforehand),
        and the mapping gives its new key.
        """
        store = self._st_for_pack()
        hashkeys = list(hashkeys)
        keys = _unique(hashkeys)
        mode = _compress_arg(compress)
        if isinstance(source_container, Container) and source_container.hash_type == self.hash_type:
            new_count = 0
            if callback:
                # As disk-objectstore: 'Listing objects' (which keys are already
                # here), 'Copy objects', then 'Final flush' of the new ones.
                callback(action='init', value={'total': len(keys), 'description': 'Listing objects'})
                present_here = store.has_many(keys)
                present_there = source_container._st().has_many(keys)  # pylint: disable=protected-access
                new_count = sum(1 for here, there in zip(present_here, present_there) if there and not here)
                if keys:
                    callback(action='update', value=len(keys))
                callback(action='close', value=None)
            progress = GroupedProgress(callback, [('Copy objects', len(hashkeys))], skip_empty=False) if callback else None
            imported = store.import_from(
                source_container._st(), keys, compress=mode, sync=do_fsync, progress=progress  # pylint: disable=protected-access
            )
            if progress is not None:
                progress.close()
                _final_flush(callback, new_count)
            return {key: key for key in imported}
        adapter = ProgressAdapter(callback, 'Copy objects', total=len(keys)) if callback else None
        mapping = self._import_foreign(store, keys, source_container, mode, target_memory_bytes, do_fsync, adapter)
        if adapter is not None:
            adapter.close()
            _final_flush(callback, len(mapping))
        return mapping

    def import_dos(
        self,
        path: str | os.PathLike,
        compress: bool | CompressMode = CompressMode.KEEP,
        callback: Callable | None = None,
        do_fsync: bool = True,
    ) -> dict[str, Any]:
        """Copy every object of the disk-objectstore container at ``path`` into packs.

        Its files are read directly (``packs.idx`` with SQLite, packs, loose
        files): disk-objectstore need not be installed. Every object is hashed
        again and checked; objects already here are skipped unread, so a
        second call copies only what is missing. This container must have the
        source's hash type. Returns the counts (``objects``, ``copied``,
        ``skipped``, ``damaged``, ``bytes``, ``bytes_stored``) and
        ``problems``: a ``(hashkey or path, cause)`` pair per object that was
        missing or damaged in the source and not copied.
        """
        store = self._st_for_pack()
        progress = ProgressAdapter(callback, 'Copy objects') if callback else None
        result = store.import_dos(os.fspath(path), compress=_compress_arg(compress), sync=do_fsync, progress=progress)
        if progress is not None:
            progress.close()
        return result

    def export_dos(
        self,
        path: str | os.PathLike,
        compress: bool | CompressMode = CompressMode.KEEP,
        loose: bool = False,
        zlib_level: int = 0,
        callback: Callable | None = None,
        do_fsync: bool = True,
    ) -> dict[str, Any]:
        """Write every object into a new disk-objectstore container at ``path``.

        ``path`` must not exist or be an empty folder. ``compress``: ``KEEP``
        gives zlib records to objects compressed here, ``True``/``YES`` to
        all, ``False``/``NO`` to none; ``loose=True`` writes loose files
        instead of packs. disk-objectstore (1.x) opens, reads and validates
        the result. Returns the same dict as :meth:`import_dos`.
        """
        mode = _compress_arg(compress)
        if mode == _udos.COMPRESS_AUTO:
            raise ValueError('export_dos compresses KEEP, YES or NO')
        progress = ProgressAdapter(callback, 'Export objects') if callback else None
        result = self._st().export_dos(
            os.fspath(path), compress=mode, loose=loose, zlib_level=zlib_level, sync=do_fsync, progress=progress
        )
        if progress is not None:
            progress.close()
        return result

    @staticmethod
    def _import_foreign(  # pylint: disable=too-many-arguments
        store: _udos.Store,
        keys: list,
        source: Any,
        mode: int,
        target_memory_bytes: int,
        do_fsync: bool,
        progress: ProgressAdapter | None,
    ) -> dict[str, str]:
        """Import through the source's own Python API (disk-objectstore's, or a
        udos container of another hash type): content is re-hashed here."""
        mapping: dict[str, str] = {}
        batch_keys: list[str] = []
        batch: list[bytes] = []
        batch_size = 0
        done = 0
        big = max(target_memory_bytes, 1 << 20)

        def flush() -> None:
            nonlocal batch_size
            if batch:
                for old, new in zip(batch_keys, store.pack_add(batch, compress=mode, sync=do_fsync)):
                    mapping[old] = new
                batch_keys.clear()
                batch.clear()
                batch_size = 0

        with source.get_objects_stream_and_meta(keys, skip_if_missing=True) as triplets:
            for key, stream, meta in triplets:
                if stream is None:
                    continue
                size = meta['size'] or 0
                if size >= big:
                    flush()
                    mapping[key] = store.pack_add([stream], compress=mode, sync=do_fsync)[0]
                else:
                    data = stream.read()
                    batch_keys.append(key)
                    batch.append(data)
                    batch_size += len(data)
                    if batch_size >= target_memory_bytes:
                        flush()
                done += 1
                if progress is not None:
                    progress(done, len(keys))
        flush()
        return mapping


def _final_flush(callback: Callable | None, count: int) -> None:
    """The last progress group of an import, as disk-objectstore reports it."""
    if callback is not None and count:
        callback(action='init', value={'total': count, 'description': 'Final flush'})
        callback(action='update', value=count)
        callback(action='close', value=None)


def _walk(top: str, recursive: bool) -> Iterator[str]:
    """Regular files under ``top`` (no symlinks), in a stable order."""
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError:
        return
    subdirs = []
    for entry in entries:
        if entry.is_symlink():
            continue
        if entry.is_file(follow_symlinks=False):
            yield entry.path
        elif recursive and entry.is_dir(follow_symlinks=False):
            subdirs.append(entry.path)
    for sub in subdirs:
        yield from _walk(sub, recursive)

