"""Helpers compatible with ``disk_objectstore.utils``."""

from __future__ import annotations

import hashlib
import zlib
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Optional, Sequence

__all__ = (
    'CompressMode',
    'GroupedProgress',
    'LazyLooseStream',
    'LazyOpener',
    'ProgressAdapter',
    'get_compressobj_instance',
    'get_hash_cls',
)


class CompressMode(Enum):
    """How objects are compressed when written to packs."""

    NO = 'no'  # never compress
    YES = 'yes'  # always compress (with the container's codec)
    KEEP = 'keep'  # repack: keep each object's current compression
    AUTO = 'auto'  # decide per object with cheap heuristics


class LazyOpener:
    """A file that is opened only when entering the ``with`` block.

    Pass many of these to ``add_streamed_objects_to_pack(..., open_streams=True)``
    so that only one file is open at a time.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = path
        self._fhandle: Optional[BinaryIO] = None

    @property
    def path(self) -> str | Path:
        """The file path."""
        return self._path

    @property
    def mode(self) -> str:
        """The open mode (always ``'rb'``)."""
        return 'rb'

    def tell(self) -> int:
        """Position in the open file; ValueError if not open."""
        if self._fhandle is None:
            raise ValueError('I/O operation on closed file.')
        return self._fhandle.tell()

    def __enter__(self) -> BinaryIO:
        if self._fhandle is not None:
            raise OSError(f'File {self.path} already open')
        fhandle = open(self.path, mode='rb')  # pylint: disable=consider-using-with
        self._fhandle = fhandle
        return fhandle

    def __exit__(self, exc_type, value, traceback) -> None:
        if self._fhandle is not None and not self._fhandle.closed:
            self._fhandle.close()
        self._fhandle = None


class ProgressAdapter:
    """Turn the C library's ``progress(done, total)`` calls into the
    disk-objectstore callback protocol: ``callback('init', {'total', 'description'})``
    once, ``callback('update', increment)`` as work is done, and
    ``callback('close', None)`` at the end (call :meth:`close`).
    """

    def __init__(self, callback: Callable[..., Any], description: str, total: int | None = None) -> None:
        self._callback = callback
        self._description = description
        self._done = 0
        self._started = False
        if total is not None:
            self._start(total)

    def _start(self, total: int) -> None:
        self._started = True
        self._callback(action='init', value={'total': total, 'description': self._description})

    def __call__(self, done: int, total: int) -> None:
        if not self._started:
            self._start(total)
        if done > self._done:
            self._callback(action='update', value=done - self._done)
            self._done = done

    def close(self) -> None:
        """Send 'init' (if nothing happened) and 'close'."""
        if not self._started:
            self._start(0)
        self._callback(action='close', value=None)


def get_hash_cls(hash_type: str) -> Callable:
    """The hashlib constructor of a hash type (``'sha256'``; ``'sha1'`` for
    computing keys of disk-objectstore containers that use it). ValueError if unknown."""
    known = {'sha1': hashlib.sha1, 'sha256': hashlib.sha256}
    try:
        return known[hash_type]
    except KeyError:
        raise ValueError(f"Unknown or unsupported hash type '{hash_type}'") from None


def get_compressobj_instance(algorithm: str) -> Any:
    """A compress object (``compress()``/``flush()``) for ``'zlib+N'`` (or udos's
    ``'zlib:N'``), producing the same stream as udos's zlib codec. ValueError if unknown."""
    name, sep, level_str = algorithm.replace(':', '+').partition('+')
    if name == 'zlib' and sep and level_str.isdigit() and 1 <= int(level_str) <= 9:
        return zlib.compressobj(int(level_str))
    raise ValueError(f"Unknown or unsupported compression algorithm '{algorithm}'")


class GroupedProgress:
    """Report one operation of the C library, whose ``progress(done, total)``
    runs over the whole operation, as a sequence of callback actions
    ``(description, total)`` in the disk-objectstore protocol: each action gets
    ``'init'``, ``'update'`` increments and ``'close'``, in order, as the
    operation's overall fraction advances; :meth:`close` completes them all.
    With ``skip_empty`` actions whose total is 0 are left out; otherwise they
    get ``'init'`` and ``'close'`` when reached."""

    def __init__(self, callback: Callable[..., Any], groups: Sequence[tuple[str, int]], skip_empty: bool = True) -> None:
        self._callback = callback
        self._groups = [(desc, int(total)) for desc, total in groups if total or not skip_empty]
        self._grand = sum(total for _, total in self._groups)
        self._index = 0  # current action
        self._in_group = 0  # units reported in the current action
        self._open = False
        self._reported = 0  # units reported overall

    def _advance_to(self, target: int) -> None:
        while self._index < len(self._groups):
            desc, total = self._groups[self._index]
            if self._reported >= target and (total or target < self._grand):
                break  # nothing to report now (empty actions wait for close or for later ones)
            if not self._open:
                self._callback(action='init', value={'total': total, 'description': desc})
                self._open = True
            step = min(total - self._in_group, target - self._reported)
            if step > 0:
                self._callback(action='update', value=step)
                self._in_group += step
                self._reported += step
            if self._in_group < total:
                break
            self._callback(action='close', value=None)
            self._open = False
            self._index += 1
            self._in_group = 0

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or self._grand == 0:
            return
        self._advance_to(min(self._grand, self._grand * min(done, total) // total))

    def close(self) -> None:
        """Complete every remaining action (the operation has finished)."""
        self._advance_to(self._grand)


class LazyLooseStream:
    """A read-only stream on an object through its loose file, made on demand.

    Nothing happens until :meth:`open_stream` (or entering the ``with`` block):
    then the object is made available as a loose file (``Container.loosen_object``)
    and that file is opened. Reading, seeking or telling before that raises
    ValueError. A concurrent ``clean_storage`` may remove the loose copy right
    after it is made; opening is retried a few times, then RuntimeError.
    """

    _MAX_RETRIES = 5

    def __init__(self, container: Any, hashkey: str) -> None:
        self._container = container
        self._hashkey = hashkey
        self._stream: Optional[BinaryIO] = None

    @property
    def hashkey(self) -> str:
        """The object's hash key."""
        return self._hashkey

    @property
    def mode(self) -> str:
        """Always ``'rb'``."""
        return 'rb'

    @property
    def closed(self) -> bool:
        """True until the stream is opened, and again after closing it."""
        return self._stream is None or self._stream.closed

    @staticmethod
    def seekable() -> bool:
        """Always True."""
        return True

    def open_stream(self) -> None:
        """Make the loose copy if needed and open it (no-op if already open).

        NotExistent if the object does not exist.
        """
        if not self.closed:
            return
        for _ in range(self._MAX_RETRIES):
            path = self._container.loosen_object(self._hashkey)
            try:
                self._stream = open(path, 'rb')  # pylint: disable=consider-using-with
                return
            except FileNotFoundError:
                continue  # removed meanwhile by clean_storage: make it again
        raise RuntimeError(
            f'Unable to open the loose object {self._hashkey} after {self._MAX_RETRIES} attempts'
        )

    def close_stream(self) -> None:
        """Close the stream (idempotent). The loose copy stays until ``clean_storage``."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _open(self) -> BinaryIO:
        if self._stream is None or self._stream.closed:
            raise ValueError('I/O operation on a LazyLooseStream that is not open: call open_stream() first')
        return self._stream

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all the rest if negative)."""
        return self._open().read(size)

    def readline(self, size: int = -1) -> bytes:
        """One line, with its ``b'\\n'`` (at most ``size`` bytes if not negative)."""
        return self._open().readline(size)

    def readlines(self, hint: int = -1) -> list:
        """The remaining lines (stopping once ``hint`` bytes are read, if positive)."""
        return self._open().readlines(hint)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._open())

    def seek(self, target: int, whence: int = 0) -> int:
        """Move to a position (whence 0, 1 or 2)."""
        return self._open().seek(target, whence)

    def tell(self) -> int:
        """The current position."""
        return self._open().tell()

    def __enter__(self) -> 'LazyLooseStream':
        self.open_stream()
        return self

    def __exit__(self, exc_type, value, traceback) -> None:
        self.close_stream()
