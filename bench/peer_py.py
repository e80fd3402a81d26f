#!/usr/bin/env python3
"""Benchmark driver for the Python peers of bench/run.sh: disk-objectstore
(add_streamed_objects_to_pack, compress on or off), rsdos, and udos's own
Python module (udos-py: the same disk-objectstore calls on udos.Container).

    peer_py.py TOOL ingest SRC STORE MANIFEST   # TOOL: dos | dos-z | rsdos | udos-py
    peer_py.py TOOL read STORE MANIFEST         # every object, a sample checked
    peer_py.py TOOL restore STORE MANIFEST DEST

MANIFEST is a JSON file {relative path: hashkey} written by ingest (the
tools keep no tree). `read` reads every object back and checks the SHA-256
of one in 50; `restore` writes every file under DEST. Needs the tools
importable (bench/run.sh uses a venv, see there).
"""
import hashlib
import json
import os
import sys


def walk(src):
    for d, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                yield os.path.relpath(p, src), p


def container(tool, store):
    if tool == 'rsdos':
        import rsdos  # pylint: disable=import-outside-toplevel
        os.makedirs(store, exist_ok=True)  # its init wants the folder
        c = rsdos.Container(store)
    elif tool == 'udos-py':
        import udos  # pylint: disable=import-outside-toplevel
        c = udos.Container(store)
    else:
        import disk_objectstore  # pylint: disable=import-outside-toplevel
        c = disk_objectstore.Container(store)
    if not c.is_initialised:
        c.init_container()
    return c


def ingest(tool, src, store, manifest):
    c = container(tool, store)
    rel, full = zip(*walk(src))
    keys = []
    if tool == 'rsdos':
        # its only bulk call takes bytes (add_objects_to_pack); one stream
        # at a time (add_streamed_object_to_packs, or its CLI's add-files)
        # commits each object: 40 files/s here. Batches of about 64 MiB
        # read into memory (a larger file is one batch by itself).
        batch, size = [], 0
        for p in full:
            with open(p, 'rb') as fh:
                batch.append(fh.read())
            size += len(batch[-1])
            if size >= 64 << 20:
                keys += c.add_objects_to_pack(batch)
                batch, size = [], 0
        if batch:
            keys += c.add_objects_to_pack(batch)
    else:
        from disk_objectstore.utils import LazyOpener  # pylint: disable=import-outside-toplevel
        step = 20000  # bounded batches: each one is one pack commit
        for i in range(0, len(full), step):
            keys += c.add_streamed_objects_to_pack(
                [LazyOpener(p) for p in full[i:i + step]],
                compress=(tool == 'dos-z'), open_streams=True)
    with open(manifest, 'w', encoding='utf-8') as fh:
        json.dump(dict(zip(rel, keys)), fh)


def load(manifest):
    with open(manifest, encoding='utf-8') as fh:
        return json.load(fh)


def contents(c, tool, keys, step=2000):
    """(key, bytes) of every key, in batches (memory stays bounded)."""
    for i in range(0, len(keys), step):
        batch = keys[i:i + step]
        if tool in ('rsdos', 'udos-py'):
            got = c.get_objects_content(batch)
        else:
            got = {}
            with c.get_objects_stream_and_meta(batch) as it:
                for key, stream, _meta in it:
                    got[key] = stream.read()
        yield from got.items()


def read(tool, store, manifest):
    c = container(tool, store)
    keys = sorted(set(load(manifest).values()))
    n = bad = 0
    for i, (key, data) in enumerate(contents(c, tool, keys)):
        n += 1
        if i % 50 == 0 and hashlib.sha256(data).hexdigest() != key:
            bad += 1
    if n != len(keys) or bad:
        sys.exit(f'{tool}: read {n} of {len(keys)} objects, {bad} sampled wrong')


def restore(tool, store, manifest, dest):
    c = container(tool, store)
    paths = {}
    for p, key in load(manifest).items():
        paths.setdefault(key, []).append(p)
    made = set()
    for key, data in contents(c, tool, sorted(paths)):
        for p in paths[key]:
            full = os.path.join(dest, p)
            d = os.path.dirname(full)
            if d not in made:
                os.makedirs(d, exist_ok=True)
                made.add(d)
            with open(full, 'wb') as fh:
                fh.write(data)


def main():
    tool, op, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    {'ingest': ingest, 'read': read, 'restore': restore}[op](tool, *args)


if __name__ == '__main__':
    main()
