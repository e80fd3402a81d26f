#!/usr/bin/env python3
"""Benchmark udos.Container against disk-objectstore's Container, side by side.

Both run in the same process on the same file system with the same objects
(N objects of 0-1000 random bytes, fixed seed) and the same durability:
add_object fsyncs the file and its folder in both; add_objects_to_pack runs
with do_fsync=True in both (udos: fdatasync of the pack, synced index batch).

Setup (disk-objectstore from PyPI in a venv that also sees Debian's packages):

    /usr/bin/python3 -m venv --system-site-packages /tmp/dosvenv
    /tmp/dosvenv/bin/pip install 'disk-objectstore==1.4.*'
    PYTHONPATH=build/python /tmp/dosvenv/bin/python bench/bench_python.py [--quick]

(`udos` may also be pip-installed into the venv: `pip install .`.)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-n', '--objects', type=int, default=100_000, help='objects to pack and read (100000)')
    parser.add_argument('--single', type=int, default=20_000, help='single reads timed (20000)')
    parser.add_argument('--loose', type=int, default=2_000, help='add_object calls timed, fsynced (2000)')
    parser.add_argument('--quick', action='store_true', help='small run: 5000 objects, 2000 reads, 300 adds')
    parser.add_argument('--dir', default=None, help='where to make the containers (default: a temp dir)')
    parser.add_argument('--udos-path', default=None, help='folder to prepend to sys.path to find udos')
    args = parser.parse_args()
    if args.quick:
        args.objects, args.single, args.loose = 5_000, 2_000, 300
    return args


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> int:  # pylint: disable=too-many-locals,too-many-statements
    args = parse_args()
    if args.udos_path:
        sys.path.insert(0, args.udos_path)
    try:
        import disk_objectstore  # pylint: disable=import-outside-toplevel
        from disk_objectstore import Container as DosContainer  # pylint: disable=import-outside-toplevel
    except ImportError:
        print('disk-objectstore is not importable: see the setup in this script\'s docstring', file=sys.stderr)
        return 2
    import udos  # pylint: disable=import-outside-toplevel

    rng = random.Random(1234)
    contents = [rng.randbytes(rng.randint(0, 1000)) for _ in range(args.objects)]
    loose_contents = [b'loose %d ' % i + rng.randbytes(rng.randint(0, 990)) for i in range(args.loose)]
    total_bytes = sum(map(len, contents))

    base = tempfile.mkdtemp(prefix='udos-bench-', dir=args.dir)
    impls = {
        'disk-objectstore': DosContainer(os.path.join(base, 'dos')),
        'udos': udos.Container(os.path.join(base, 'udos')),
    }
    results: dict[str, dict[str, float]] = {name: {} for name in impls}
    print(f'python {sys.version.split()[0]}, disk-objectstore {disk_objectstore.__version__}, '
          f'udos {udos.__version__} (lib {udos._udos.version()})')  # pylint: disable=protected-access
    print(f'{args.objects} objects, {total_bytes / 1e6:.1f} MB; {args.single} single reads; '
          f'{args.loose} fsynced loose adds; containers in {base}')
    try:
        keys_by_impl = {}
        for name, cont in impls.items():
            cont.init_container()
            # add_objects_to_pack, syncing
            secs, keys = timed(cont.add_objects_to_pack, contents, compress=False, do_fsync=True)
            results[name]['add_objects_to_pack'] = len(contents) / secs
            keys_by_impl[name] = keys
            cont.close()
        assert keys_by_impl['udos'] == keys_by_impl['disk-objectstore'], 'keys differ'
        keys = keys_by_impl['udos']

        shuffled = keys[:]
        rng.shuffle(shuffled)
        sample = shuffled[:args.single]
        for name, cont in impls.items():
            # bulk read of every object, keys in random order
            # (median of 3 calls: one call lasts well under a second, and
            # a single timing swings with the machine's load)
            cont.get_objects_content(shuffled[:100])  # open and warm up
            runs = []
            for _ in range(3):
                secs, got = timed(cont.get_objects_content, shuffled)
                assert len(got) == len(set(keys))
                runs.append(secs)
            results[name]['get_objects_content'] = len(shuffled) / sorted(runs)[1]

            # single reads
            get = cont.get_object_content
            start = time.perf_counter()
            for key in sample:
                get(key)
            results[name]['get_object_content'] = len(sample) / (time.perf_counter() - start)

            # loose adds, fsync of file and folder in both
            add = cont.add_object
            start = time.perf_counter()
            for data in loose_contents:
                add(data)
            results[name]['add_object'] = len(loose_contents) / (time.perf_counter() - start)
            cont.close()

        # correctness spot check: both give the same bytes
        for key in sample[:100]:
            assert impls['udos'].get_object_content(key) == impls['disk-objectstore'].get_object_content(key)
        for cont in impls.values():
            cont.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)

    targets = {'get_object_content': 10, 'get_objects_content': 3, 'add_object': 3, 'add_objects_to_pack': 3}
    print()
    print(f'{"operation":<22} {"disk-objectstore":>18} {"udos":>14} {"ratio":>8} {"target":>7}')
    all_met = True
    for op, target in targets.items():
        dos, ours = results['disk-objectstore'][op], results['udos'][op]
        ratio = ours / dos
        met = ratio >= target
        all_met &= met
        print(f'{op:<22} {dos:>14,.0f}/s {ours:>12,.0f}/s {ratio:>7.1f}x {">=" + str(target) + "x":>6}'
              f'{"" if met else "  (missed)"}')
    return 0 if all_met else 1


if __name__ == '__main__':
    sys.exit(main())
