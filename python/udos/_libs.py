"""Which system library keeps the C extension from loading, and its package.

The wheel links udos statically but uses these shared libraries of the
system at run time (see docs/PYTHON.md). When ``udos._udos`` cannot be
loaded, :func:`missing_library_error` turns the loader's message into one
naming every missing library and the Debian package that provides it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re

# soname -> Debian 12 package (the versions the wheel is built against)
RUNTIME_LIBRARIES = {
    'liburing.so.2': 'liburing2',
    'libzstd.so.1': 'libzstd1',
    'libz.so.1': 'zlib1g',
    'libxxhash.so.0': 'libxxhash0',
    'libcrypto.so.3': 'libssl3',
    'librocksdb.so.7.8': 'librocksdb7.8',
    'libsqlite3.so.0': 'libsqlite3-0',
    'libcurl.so.4': 'libcurl4',
    # librocksdb's own dependencies
    'libgflags.so.2.2': 'libgflags2.2',
    'libsnappy.so.1': 'libsnappy1v5',
    'libbz2.so.1.0': 'libbz2-1.0',
    'liblz4.so.1': 'liblz4-1',
}

_SONAME = re.compile(r'(lib[\w+.-]+?\.so(?:\.[0-9]+)*)')


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(error: BaseException | None = None) -> list[str]:
    """The sonames that cannot be loaded: those of RUNTIME_LIBRARIES, plus
    the one the loader named in ``error`` (first)."""
    missing = []
    match = _SONAME.search(str(error)) if error is not None else None
    if match and match.group(1) not in RUNTIME_LIBRARIES and not _loadable(match.group(1)):
        missing.append(match.group(1))
    missing += [so for so in RUNTIME_LIBRARIES if not _loadable(so)]
    return missing


def _describe(soname: str) -> str:
    package = RUNTIME_LIBRARIES.get(soname)
    stem = soname.split('.so')[0][3:]
    other = ctypes.util.find_library(stem)
    text = f'{soname} (Debian package {package})' if package else f'{soname} (apt-file search {soname})'
    if other and other != soname:
        text += f', only {other} is installed'
    return text


def missing_library_error(error: ImportError) -> ImportError:
    """An ImportError naming the missing system libraries behind ``error``
    (or ``error`` itself when every library loads: another cause)."""
    missing = missing_libraries(error)
    if not missing:
        return error
    packages = sorted({RUNTIME_LIBRARIES[so] for so in missing if so in RUNTIME_LIBRARIES})
    msg = 'udos: the C extension needs system libraries that are missing: ' + '; '.join(
        _describe(so) for so in missing
    )
    if packages:
        msg += '. Install them with: apt-get install ' + ' '.join(packages)
    return ImportError(msg, name='udos._udos')
