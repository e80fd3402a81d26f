"""Container.restore: the tree that add_files (or `udos add`) stored, rebuilt."""
import os

import pytest


def tree(root):
    out = {}
    for d, _, files in os.walk(os.fsencode(root)):
        for f in files:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, 'rb') as fh:
                    out[os.path.relpath(p, os.fsencode(root))] = fh.read()
    return out


def test_restore_real_tree_from_mapping(container, tmp_path, monkeypatch):
    monkeypatch.chdir('/usr/include')
    stored = container.add_files(['linux'])
    assert len(stored) > 100
    dest = tmp_path / 'dest'
    res = container.restore(stored, dest)
    assert res['files'] == len(stored) and res['failed'] == 0
    assert res['written'] + res['same'] == len(stored)
    got = tree(dest / 'linux')
    want = tree('/usr/include/linux')
    assert got == {k: want[k] for k in got} and len(got) == len(stored)
    again = container.restore(stored, dest)
    assert again['written'] == 0 and again['same'] == len(stored)


def test_restore_manifest_bytes_weird_names_and_failures(container, tmp_path):
    names = [b'a\nb', b'c\\d', b'\xff\xfe', b'sub/\xc3\xa9']
    src = tmp_path / 'src'
    for i, n in enumerate(names):
        p = os.path.join(os.fsencode(src), n)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'wb') as f:
            f.write(b'%d' % i)
    stored = container.add_files([src])
    mapping = {os.path.relpath(os.fsencode(p), os.fsencode(tmp_path)): k for p, k in stored.items()}
    missing = '0' * 64
    mapping[b'gone'] = missing
    mapping[b'../escape'] = next(iter(stored.values()))
    res = container.restore(mapping, tmp_path / 'dest')
    assert res['written'] == len(names) and res['failed'] == 2
    assert set(res['failures']) == {'gone', '../escape'}
    assert tree(tmp_path / 'dest' / 'src') == tree(src)
    with pytest.raises(ValueError):
        container.restore(b'not a manifest\n', tmp_path / 'dest')
    # the same as a manifest file of `add` lines
    key = stored[os.path.join(str(src), 'c\\d')]
    manifest = tmp_path / 'M'
    manifest.write_bytes(b'\\' + key.encode() + b'  src/c\\\\d\n')
    res = container.restore(manifest, tmp_path / 'dest2')
    assert res['written'] == 1
    assert (tmp_path / 'dest2' / 'src' / 'c\\d').read_bytes() == b'1'
