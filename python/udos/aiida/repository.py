"""AiiDA's repository backend over a udos container.

aiida-core's ``DiskObjectStoreRepositoryBackend`` speaks disk-objectstore's
``Container`` API, which ``udos.Container`` implements: this subclass only
accepts a ``udos.Container`` and keeps it open between calls (the parent
enters and leaves the container around every operation, which for udos would
open and close the RocksDB index each time, ~2.5 ms), and ``open`` hands out
an ``io.BufferedReader`` over the udos stream, the type aiida-core expects.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from typing import Any, BinaryIO, Iterator

from aiida.common.lang import type_check
from aiida.repository.backend import DiskObjectStoreRepositoryBackend

from ..container import Container

__all__ = ('UdosRepositoryBackend',)


class _KeptOpen:
    """The container, with ``with`` entering it without closing it on exit."""

    def __init__(self, container: Container) -> None:
        self._udos_container = container

    def __enter__(self) -> Container:
        return self._udos_container

    def __exit__(self, *args: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._udos_container, name)


class UdosRepositoryBackend(DiskObjectStoreRepositoryBackend):
    """``AbstractRepositoryBackend`` on a ``udos.Container`` (see the module doc)."""

    def __init__(self, container: Container) -> None:  # pylint: disable=super-init-not-called
        type_check(container, Container)
        self._container = _KeptOpen(container)  # type: ignore[assignment]

    @property
    def container(self) -> Container:
        """The udos container."""
        return self._container._udos_container  # type: ignore[attr-defined]  # pylint: disable=protected-access

    def __str__(self) -> str:
        if self.is_initialised:
            return f'UdosRepository: {self.container.container_id} | {self.container.get_folder()}'
        return 'UdosRepository: <uninitialised>'

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:  # type: ignore[override]
        """A binary stream on the object, an ``io.BufferedReader`` as disk-objectstore's
        (and aiida-core's tests) give for a loose object; FileNotFoundError if missing."""
        with super().open(key) as handle:
            yield io.BufferedReader(handle)  # type: ignore[arg-type]

    def close(self) -> None:
        """Close the container (it reopens on next use)."""
        self.container.close()

    def erase(self) -> None:
        """Delete the repository folder and all its contents."""
        self.container.close()
        try:
            shutil.rmtree(self.container.get_folder())
        except FileNotFoundError:
            pass
