"""Exceptions raised by udos (the same classes as disk-objectstore's, plus a few).

``NotExistent``, ``NotInitialised``, ``ModificationNotAllowed``,
``ClosingNotAllowed`` and ``InconsistentContent`` mirror
``disk_objectstore.exceptions``. ``UdosError`` covers the remaining store
conditions of the C library; ``LockedError`` is raised when another process
holds the pack-writer lock.
"""

__all__ = (
    'ClosingNotAllowed',
    'CorruptError',
    'InconsistentContent',
    'LockedError',
    'ModificationNotAllowed',
    'NotExistent',
    'NotFound',
    'NotInitialised',
    'UdosError',
)


class NotExistent(Exception):
    """No object with the requested hash key."""


class NotInitialised(Exception):
    """The container folder has not been initialised (use ``init_container()``)."""


class ModificationNotAllowed(Exception):
    """A modification that is not allowed (here: another process is writing packs)."""


class ClosingNotAllowed(Exception):
    """Kept for compatibility with disk-objectstore."""


class InconsistentContent(Exception):
    """Stored bytes do not match their hash key, or a record is damaged."""


class UdosError(Exception):
    """Any other condition reported by the udos library (format, index, ...)."""


class LockedError(ModificationNotAllowed):
    """Another process holds the pack-writer lock of this container."""


class _NotInitialisedError(NotInitialised, FileNotFoundError):
    """Raised where disk-objectstore raises either NotInitialised or
    FileNotFoundError for an uninitialised folder: catching either works."""


#: Names used by the udos design notes.
NotFound = NotExistent
CorruptError = InconsistentContent
