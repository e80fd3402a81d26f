"""udos: a content-addressed object store in C, with disk-objectstore's Container API.

    from udos import Container
    with Container('/path/to/folder') as container:
        container.init_container()
        key = container.add_object(b'hello')
        assert container.get_object_content(key) == b'hello'
"""

import logging

# the package logger, as disk_objectstore.LOGGER (udos.backup_utils logs here)
LOGGER = logging.getLogger(__name__)

# exceptions first: the C module looks its exception classes up at import
from . import exceptions  # noqa: F401,E402  isort:skip

try:
    from . import _udos  # noqa: F401,E402  isort:skip
except ImportError as _error:  # a system library missing: name its package
    from ._libs import missing_library_error

    raise missing_library_error(_error) from _error
from ._udos import HEADER_VERSION as __version__  # noqa: E402
from .container import CompressMode, Container, ObjectType  # noqa: E402
from .dataclasses import ObjectCount, ObjectMeta, TotalSize, ValidationIssues  # noqa: E402
from .exceptions import (  # noqa: E402
    CorruptError,
    InconsistentContent,
    LockedError,
    ModificationNotAllowed,
    NotExistent,
    NotFound,
    NotInitialised,
    UdosError,
)
from .utils import LazyOpener  # noqa: E402

__all__ = (
    'CompressMode',
    'Container',
    'CorruptError',
    'InconsistentContent',
    'LOGGER',
    'LazyOpener',
    'LockedError',
    'ModificationNotAllowed',
    'NotExistent',
    'NotFound',
    'NotInitialised',
    'ObjectCount',
    'ObjectMeta',
    'ObjectType',
    'TotalSize',
    'UdosError',
    'ValidationIssues',
)
