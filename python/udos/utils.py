"""Helpers compatible with ``disk_objectstore.utils``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional

__all__ = ('CompressMode', 'LazyOpener', 'ProgressAdapter')


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
        self._fhandle = open(self.path, mode=self.mode)  # pylint: disable=consider-using-with
        return self._fhandle

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
