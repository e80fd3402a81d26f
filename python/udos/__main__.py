"""``python -m udos ARGS``: run the ``udos`` command installed with this package.

The wheel installs the C program ``udos`` into the environment's scripts
folder (``bin/``); this runs that one (or, failing that, the first ``udos``
on PATH) with the same arguments.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig


def find_cli() -> str | None:
    """The path of the ``udos`` program of this installation, or None."""
    folders = [sysconfig.get_path('scripts')]  # the default scheme (pip's)
    try:
        folders.append(sysconfig.get_path('scripts', f'{os.name}_user'))
    except KeyError:
        pass
    for folder in folders:
        path = os.path.join(folder, 'udos')
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return shutil.which('udos')


def main() -> None:
    path = find_cli()
    if path is None:
        sys.exit("udos: the 'udos' program is not installed next to this Python package (reinstall with pip)")
    os.execv(path, ['udos', *sys.argv[1:]])


if __name__ == '__main__':
    main()
