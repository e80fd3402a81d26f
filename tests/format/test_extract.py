"""docs/udos_extract.py reads objects out of a container the CLI made,
using only docs/FORMAT.md's layout (no udos, no index)."""
import hashlib
import os
import random
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "docs", "udos_extract.py")
UDOS = os.environ.get("UDOS_BIN", os.path.join(ROOT, "build", "cli", "udos"))


@pytest.mark.parametrize("compression,hash_type", [
    ("zstd:3", "sha256"), ("zlib:6", "sha256"), ("none", "sha256"),
    ("zstd:3", "sha1"), ("none", "sha1")])
def test_extract_every_object(tmp_path, compression, hash_type):
    src = tmp_path / "src"
    src.mkdir()
    rnd = random.Random(compression)
    blobs = [b"", b"x", b"hello world\n" * 1000,
             bytes(rnd.getrandbits(8) for _ in range(5000))]
    for i, b in enumerate(blobs):
        (src / f"f{i}").write_bytes(b)
    store = tmp_path / "store"
    subprocess.run([UDOS, "init", store, "--compression", compression,
                    "--hash", hash_type], check=True)
    subprocess.run([UDOS, "-C", store, "add", "--to", "pack", "--compress", "yes",
                    "-r", src], check=True, stdout=subprocess.DEVNULL)
    for b in blobs:
        h = hashlib.new(hash_type, b).hexdigest()
        out = subprocess.run([sys.executable, SCRIPT, store, h], check=True,
                             stdout=subprocess.PIPE).stdout
        assert out == b
    missing = subprocess.run([sys.executable, SCRIPT, store,
                              "0" * len(h)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert missing.returncode != 0
    assert b"not found" in missing.stderr
