#!/usr/bin/env python3
"""gen_tree.py - deterministic benchmark trees for udos (stdlib only).

Small files: log-normal sizes (median ~2 KiB, capped), a mix of
compressible text, incompressible bytes and ~10% exact duplicates, spread
over folders of ~1000 files. Large files: alternating random and
compressible regions.

    gen_tree.py small DIR N [--seed S] [--cap BYTES]
    gen_tree.py large DIR K SIZE_MIB [--seed S]

The same arguments always give the same bytes.
"""
import argparse
import math
import os
import random

WORDS = (b"alpha beta gamma delta energy atom kpoint structure force "
         b"calculation converged cutoff pseudopotential lattice cell "
         b"band occupation spin magnetization total ").split()


def text_bytes(rng, n):
    out = bytearray()
    while len(out) < n:
        line = b" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))
        out += line + b" %d %.6f\n" % (rng.randint(0, 99999), rng.random())
    return bytes(out[:n])


def rand_bytes(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


def small(args):
    rng = random.Random(args.seed)
    mu = math.log(2048)
    made = []
    per_dir = 1000
    for i in range(args.n):
        d = os.path.join(args.dir, "d%04d" % (i // per_dir))
        if i % per_dir == 0:
            os.makedirs(d, exist_ok=True)
        p = os.path.join(d, "f%07d" % i)
        if made and rng.random() < 0.10:
            data = made[rng.randrange(len(made))]
        else:
            n = min(int(rng.lognormvariate(mu, 1.0)), args.cap)
            data = text_bytes(rng, n) if rng.random() < 0.7 else rand_bytes(rng, n)
            if len(made) < 5000:
                made.append(data)
            elif rng.random() < 0.01:
                made[rng.randrange(len(made))] = data
        with open(p, "wb") as f:
            f.write(data)


def large(args):
    rng = random.Random(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    size = args.size_mib << 20
    block = 4 << 20
    for k in range(args.k):
        p = os.path.join(args.dir, "large%02d" % k)
        with open(p, "wb") as f:
            left = size
            i = 0
            # one random block reused with a per-block prefix keeps generation
            # fast while every block differs
            rnd = rand_bytes(rng, block)
            txt = text_bytes(rng, block)
            while left:
                n = min(block, left)
                tag = b"%08d:%08d:" % (k, i)
                src = rnd if i % 2 == 0 else txt
                f.write((tag + src[len(tag):])[:n])
                left -= n
                i += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("small")
    s.add_argument("dir")
    s.add_argument("n", type=int)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--cap", type=int, default=1 << 20)
    s.set_defaults(fn=small)
    lg = sub.add_parser("large")
    lg.add_argument("dir")
    lg.add_argument("k", type=int)
    lg.add_argument("size_mib", type=int)
    lg.add_argument("--seed", type=int, default=2)
    lg.set_defaults(fn=large)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
