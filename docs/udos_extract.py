#!/usr/bin/env python3
"""Extract one object from a udos container without udos or its index.

Scans the record files packs/N.rec (docs/FORMAT.md) for a record whose hash
(the container's hash_type: sha256, or sha1 zero-padded to 32 bytes)
matches, reads its bytes from packs/N, checks it, decompresses it (zlib with
the standard library, zstd with the `zstd` command) and writes the content
to stdout. Loose
objects are plain files and are looked up first.

usage: udos_extract.py CONTAINER HASH > content
"""
import hashlib, json, os, struct, subprocess, sys, zlib

RECS_HDR, REC = 32, 80

def extract(container, hexhash):
    cfg = json.load(open(os.path.join(container, "config.json")))
    n, algo = cfg["loose_prefix_len"], cfg.get("hash_type", "sha256")
    loose = os.path.join(container, "loose", hexhash[:n], hexhash[n:]) if n \
        else os.path.join(container, "loose", hexhash)
    if os.path.exists(loose):
        return open(loose, "rb").read()
    digest = bytes.fromhex(hexhash)
    want = digest.ljust(32, b"\0")  # as in record entries
    packs = sorted(int(p) for p in os.listdir(os.path.join(container, "packs")) if p.isdigit())
    for pid in packs:
        base = os.path.join(container, "packs", str(pid))
        with open(base + ".rec", "rb") as recs, open(base, "rb") as pack:
            assert recs.read(RECS_HDR)[:8] == b"UDOSRECS", "not a udos record file"
            while True:
                ent = recs.read(REC)
                if len(ent) < REC or ent[:4] != b"UREC":
                    break  # end of the entries (or an uncommitted tail)
                codec = ent[4]
                offset, raw_len, stored_len = struct.unpack_from("<QQQ", ent, 8)
                if ent[32:64] != want:
                    continue
                pack.seek(offset)
                data = pack.read(stored_len)
                if codec == 1:
                    data = zlib.decompress(data)
                elif codec == 2:
                    data = subprocess.run(["zstd", "-d", "-c", "-q"], input=data,
                                          stdout=subprocess.PIPE, check=True).stdout
                if len(data) == raw_len and hashlib.new(algo, data).digest() == digest:
                    return data  # a damaged copy is skipped: look further
    raise KeyError(hexhash)

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    try:
        sys.stdout.buffer.write(extract(sys.argv[1], sys.argv[2].lower()))
    except KeyError:
        sys.exit(f"udos_extract: not found '{sys.argv[2]}'")
