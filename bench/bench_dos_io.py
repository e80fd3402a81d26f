#!/usr/bin/env python3
"""Benchmark `udos import-dos` and `udos export-dos` against disk-objectstore.

A disk-objectstore container is made by disk-objectstore itself from N real
files of this machine (/usr/include, then /usr/share: default 20000), a
third packed with zlib, a third packed raw, a third loose, and copied whole
into a fresh container, each way in turn (alternating, REPS times; fsync on
everywhere, as each tool does by default):

- dos -> dos:   disk-objectstore's own Container.import_objects
- dos -> udos (Python): udos.Container.import_objects through
                disk-objectstore's API (the way before import-dos)
- dos -> udos (import-dos): the C command, straight from the files
- udos -> dos (export-dos), and the re-run of import-dos (nothing to copy)

Setup (disk-objectstore 1.5 from PyPI; udos from the build tree):

    /usr/bin/python3 -m venv /tmp/dosvenv
    /tmp/dosvenv/bin/pip install 'disk-objectstore==1.5.*'
    PYTHONPATH=build/python /tmp/dosvenv/bin/python bench/bench_dos_io.py \
        --udos build/cli/udos [-n 20000] [--reps 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def real_files(n: int, max_size: int) -> list[str]:
    """The first n regular files (no symlinks, at most max_size bytes) of
    /usr/include, then /usr/share, in a stable order."""
    out: list[str] = []
    for top in ('/usr/include', '/usr/share'):
        for root, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                try:
                    if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > max_size:
                        continue
                    with open(path, 'rb'):
                        pass
                except OSError:
                    continue
                out.append(path)
                if len(out) == n:
                    return out
    return out


def cpu() -> float:
    """CPU seconds (user + system) of this process and its waited-for
    children: on a shared machine the fair measure next to wall time."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def timed(func, *args, **kwargs) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    start, c0 = time.perf_counter(), cpu()
    func(*args, **kwargs)
    return time.perf_counter() - start, cpu() - c0


def main() -> int:  # pylint: disable=too-many-locals,too-many-statements
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-n', '--files', type=int, default=20_000)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--udos', default='build/cli/udos', help='the udos binary')
    parser.add_argument('--dir', default=None, help='where to make the containers (default: a temp dir)')
    args = parser.parse_args()
    from disk_objectstore import Container as Dos  # pylint: disable=import-outside-toplevel
    import disk_objectstore  # pylint: disable=import-outside-toplevel
    import udos  # pylint: disable=import-outside-toplevel

    udos_bin = os.path.abspath(args.udos)
    base = tempfile.mkdtemp(prefix='udos-dosbench-', dir=args.dir)
    try:
        paths = real_files(args.files, 8 << 20)
        contents = []
        for p in paths:
            with open(p, 'rb') as fh:
                contents.append(fh.read())
        third = len(contents) // 3
        src = Dos(os.path.join(base, 'src'))
        src.init_container()
        t0 = time.perf_counter()
        src.add_objects_to_pack(contents[:third], compress=True)
        src.add_objects_to_pack(contents[third : 2 * third], compress=False)
        for data in contents[2 * third :]:
            src.add_object(data)
        keys = list(src.list_all_objects())
        made = time.perf_counter() - t0
        nbytes = sum(len(c) for c in contents)
        print(f'disk-objectstore {disk_objectstore.__version__}, udos {udos.__version__}; '
              f'{len(paths)} files ({nbytes / 1e6:.1f} MB) -> {len(keys)} objects '
              f'(zlib packed {third}, raw packed {third}, loose {len(contents) - 2 * third}); '
              f'source made in {made:.1f} s; load {os.getloadavg()[0]:.1f}')
        del contents

        def fresh(name: str) -> str:
            path = os.path.join(base, name)
            shutil.rmtree(path, ignore_errors=True)
            return path

        def dos_to_dos() -> None:
            dst = Dos(fresh('dst-dos'))
            dst.init_container()
            dst.import_objects(keys, src)
            dst.close()

        def dos_to_udos_python() -> None:
            dst = udos.Container(fresh('dst-udos-py'))
            dst.init_container()
            dst.import_objects(keys, src)
            dst.close()

        def import_dos() -> None:
            dst = fresh('dst-udos')
            subprocess.run([udos_bin, 'init', dst], check=True, capture_output=True)
            r = subprocess.run([udos_bin, '-C', dst, 'import-dos', '--json', src.get_folder()],
                               check=True, capture_output=True)
            assert json.loads(r.stdout)['copied'] == len(keys)

        def import_dos_again() -> None:
            r = subprocess.run([udos_bin, '-C', os.path.join(base, 'dst-udos'), 'import-dos', '--json',
                                src.get_folder()], check=True, capture_output=True)
            assert json.loads(r.stdout)['copied'] == 0

        def export_dos() -> None:
            subprocess.run([udos_bin, '-C', os.path.join(base, 'dst-udos'), 'export-dos',
                            fresh('exported')], check=True, capture_output=True)

        runs = [('dos -> dos (disk-objectstore import_objects)', dos_to_dos),
                ('dos -> udos (udos Python import_objects)', dos_to_udos_python),
                ('dos -> udos (udos import-dos)', import_dos),
                ('re-run of import-dos (nothing new)', import_dos_again),
                ('udos -> dos (udos export-dos)', export_dos)]
        times: dict[str, list[float]] = {name: [] for name, _ in runs}
        cpus: dict[str, list[float]] = {name: [] for name, _ in runs}
        for _ in range(args.reps):
            for name, func in runs:
                wall, used = timed(func)
                times[name].append(wall)
                cpus[name].append(used)
        # what the real package says of the export
        exp = Dos(os.path.join(base, 'exported'))
        assert exp.validate().is_valid()
        assert sorted(exp.list_all_objects()) == sorted(keys)
        exp.close()

        ref = statistics.median(times[runs[0][0]])
        cref = statistics.median(cpus[runs[0][0]])
        print(f'load average at the end {os.getloadavg()[0]:.1f}')
        print(f'| copy of every object | wall s median (min..max) | objects/s | wall vs dos->dos '
              f'| CPU s median | CPU vs dos->dos |')
        print('|---|---|---|---|---|---|')
        for name, _ in runs:
            t, c = times[name], cpus[name]
            med, cmed = statistics.median(t), statistics.median(c)
            print(f'| {name} | {med:.2f} ({min(t):.2f}..{max(t):.2f}) | {len(keys) / med:,.0f} '
                  f'| {ref / med:.1f}x | {cmed:.2f} | {cref / cmed:.1f}x |')
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
