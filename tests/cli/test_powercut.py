"""Power cuts in the middle of writers (issue 8).

A SIGKILL (test_crash.py) keeps the page cache; a power cut keeps only what
was synced. The container under test lives on crashfs (crashfs.py), an
in-memory FUSE file system that tracks, beside what processes see, what a
power cut would leave:

- strict model: a file's bytes are durable as of its last fsync/fdatasync;
  a directory's entries (create, rename, link, unlink) as of the last fsync
  of that directory; syncfs makes everything durable. Nothing else is.
- partial model: the strict state plus a random part of what was not
  synced, as POSIX allows: a random prefix of the bytes appended to a file
  since its last sync, a random prefix of a directory's changes since its
  last sync.

Every fsync, fdatasync, directory fsync and syncfs (RocksDB's own
included, as index/ lives there too) is a sync point. For each scenario the
test first runs the commands once to count the sync points, then, for a
sample of them (all when UDOS_POWERCUT_CUTS=all), loads the same starting
container (everything durable), runs the commands again and cuts the power
just before sync point k takes effect: that sync and every later operation
fail with EIO, and the durable state at that moment is written out as a real
folder (the "crash image"), in each model. The image is then opened by the
real udos binary on a normal disk and must satisfy:

- every acknowledged object reads back identical: the starting objects, the
  ids a command printed before the cut (add prints a line only once its
  object is durable), minus those a completed `delete` removed (which must
  stay removed);
- `validate --full` reports no finding (crash residue, such as an
  uncommitted pack tail, is counted in the summary, not reported);
- every listed id reads back with content hashing to that id, or fails
  with a clear error (never wrong bytes, never a crash);
- the next write works (`add --to pack`, `add --to loose`; for backup, the
  next backup into the same folder), and validates afterwards.

Inputs of `add` are on a normal disk (so io_uring reads them as usual);
only the containers live on crashfs. The test skips when FUSE cannot be
mounted (no /dev/fuse, no python3-pyfuse3). All failures of a scenario are
collected and reported together, one line per cut point.
"""
import json
import os
import random
import shutil

import pytest

import crashfs
from conftest import UDOS, Udos, sha, write

SEED = 8
CUTS = os.environ.get("UDOS_POWERCUT_CUTS", "10")


# ------------------------------------------------------------- data sets --

def dataset(base, tag, n_small=120):
    """A few hundred real files (headers) and two over 1 MiB; returns
    {path: bytes}. tag keeps data sets of one test distinct."""
    rng = random.Random("%s-%s" % (SEED, tag))
    out = {}
    heads = sorted(os.path.join(d, f)
                   for d in ("/usr/include", "/usr/include/linux")
                   for f in os.listdir(d) if f.endswith(".h"))
    for i, src in enumerate(rng.sample(heads, n_small)):
        with open(src, "rb") as f:
            data = f.read() + tag.encode()
        out[write(os.path.join(base, "h%02d" % (i % 8), "%03d_%s" % (
            i, os.path.basename(src))), data)] = data
    with open("/usr/lib/x86_64-linux-gnu/librocksdb.a", "rb") if \
            os.path.exists("/usr/lib/x86_64-linux-gnu/librocksdb.a") else \
            open("/usr/bin/python3", "rb") as f:
        f.seek(rng.randrange(1 << 20))
        big = f.read(3 << 19) + tag.encode()
    out[write(os.path.join(base, "big", "lib"), big)] = big
    rnd = rng.randbytes((5 << 18) + 7)
    out[write(os.path.join(base, "big", "random"), rnd)] = rnd
    return out


def mk_store(path):
    u = Udos(path)
    u.ok("init", path, "--pack-size", "1M", store=False)
    return u


# -------------------------------------------------------------- scenarios --
# Each scenario builds, on a normal disk, the starting folder `seed`
# (holding `store`, maybe `backup`), and returns (known, cmds, deleted):
# known = {id: bytes} of objects stored before, cmds = argv lists where
# "@" stands for the crashfs root.

def sc_add_pack(seed, tmp):
    u = mk_store(seed / "store")
    known = {}
    for p, data in dataset(tmp / "old", "old", 30).items():
        known[sha(data)] = data
    u.ok("add", "-r", tmp / "old")
    dataset(tmp / "in", "new")
    return known, [["-C", "@/store", "add", "--to", "pack", "-r",
                    tmp / "in"]], ()


def sc_add_large(seed, tmp):
    """Records over 16 MiB: the writer sends their middle to the pack
    with O_DIRECT where the file system takes it (a fallback where not)."""
    u = mk_store(seed / "store")
    known = {}
    for p, data in dataset(tmp / "old", "old", 10).items():
        known[sha(data)] = data
    u.ok("add", "-r", tmp / "old")
    rng = random.Random("%s-large" % SEED)
    write(os.path.join(tmp, "in", "random"), rng.randbytes((20 << 20) + 3))
    text = b"".join(b"line %d of a large text file\n" % i
                    for i in range(800000))
    write(os.path.join(tmp, "in", "text"), text)
    write(os.path.join(tmp, "in", "small"), b"small file\n")
    return known, [["-C", "@/store", "add", "--to", "pack", "-r",
                    tmp / "in"]], ()


def sc_add_loose(seed, tmp):
    known, _, _ = sc_add_pack(seed, tmp)
    return known, [["-C", "@/store", "add", "--to", "loose", "-r",
                    tmp / "in"]], ()


def sc_pack(seed, tmp):
    u = mk_store(seed / "store")
    known = {sha(d): d for d in dataset(tmp / "in", "loose").values()}
    u.ok("add", "--to", "loose", "-r", tmp / "in")
    return known, [["-C", "@/store", "pack"]], ()


def packed_with_deletions(seed, tmp):
    u = mk_store(seed / "store")
    known = {}
    for part in ("a", "b", "c"):
        for d in dataset(tmp / part, part, 50).values():
            known[sha(d)] = d
        u.ok("add", "-r", tmp / part)
    ids = sorted(known)
    return u, known, ids


def sc_repack(seed, tmp):
    u, known, ids = packed_with_deletions(seed, tmp)
    gone = ids[::3]
    u.ok("delete", *gone)
    for h in gone:
        del known[h]
    return known, [["-C", "@/store", "repack"]], ()


def sc_delete_repack(seed, tmp):
    u, known, ids = packed_with_deletions(seed, tmp)
    gone = ids[1::3]
    return known, [["-C", "@/store", "delete"] + gone,
                   ["-C", "@/store", "repack"]], gone


def sc_backup(seed, tmp):
    u = mk_store(seed / "store")
    known = {}
    for d in dataset(tmp / "a", "a", 60).values():
        known[sha(d)] = d
    u.ok("add", "-r", tmp / "a")
    u.ok("backup", seed / "backup")
    for d in dataset(tmp / "b", "b", 60).values():
        known[sha(d)] = d
    u.ok("add", "-r", tmp / "b")
    for d in dataset(tmp / "c", "c", 20).values():
        known[sha(d)] = d
    u.ok("add", "--to", "loose", "-r", tmp / "c")
    return known, [["-C", "@/store", "backup", "@/backup"]], ()


def sc_clean(seed, tmp):
    # loose copies whose packed copies exist: clean removes them
    u = mk_store(seed / "store")
    known = {sha(d): d for d in dataset(tmp / "in", "loose").values()}
    u.ok("add", "--to", "loose", "-r", tmp / "in")
    u.ok("pack", "--no-clean")
    return known, [["-C", "@/store", "clean", "--vacuum"]], ()


def sc_optimize(seed, tmp):
    # loose objects to pack, deleted records to drop, copies to clean
    u, known, ids = packed_with_deletions(seed, tmp)
    gone = ids[::4]
    u.ok("delete", *gone)
    for h in gone:
        del known[h]
    for d in dataset(tmp / "old", "old", 40).values():
        known[sha(d)] = d
    u.ok("add", "--to", "loose", "-r", tmp / "old")
    return known, [["-C", "@/store", "optimize"]], ()


SCENARIOS = {
    "add-pack": sc_add_pack,
    "add-loose": sc_add_loose,
    "add-large": sc_add_large,
    "pack": sc_pack,
    "repack": sc_repack,
    "delete-repack": sc_delete_repack,
    "backup": sc_backup,
    "clean": sc_clean,
    "optimize": sc_optimize,
}


# ------------------------------------------------------------- machinery --

@pytest.fixture(scope="module")
def cfs(tmp_path_factory):
    work = tmp_path_factory.mktemp("crashfs")
    fs = crashfs.CrashFS(work / "mnt", work)
    try:
        fs.__enter__()
    except crashfs.Unavailable as e:
        pytest.skip("power-cut tests need FUSE: %s" % e)
    yield fs
    fs.__exit__(None, None, None)


def run_cmds(fs, cmds, tmp, timeout=120):
    """Run the commands on crashfs in order, SIGKILLing the one running when
    the power is cut (its file operations hang from then on); returns
    [(argv, returncode, stdout, stderr)] of those that ran."""
    env = dict(os.environ)
    env.pop("UDOS_CONTAINER", None)
    ran = []
    for c in cmds:
        if fs.was_cut():
            break
        argv = [UDOS] + [str(a).replace("@", fs.mnt, 1) if
                         str(a).startswith("@") else str(a) for a in c]
        with open(tmp / "out", "w+b") as out, open(tmp / "err", "w+b") as err:
            rc = fs.run(argv, out, err, timeout, env)
            out.seek(0)
            err.seek(0)
            ran.append((c, rc, out.read(),
                        err.read().decode(errors="replace")))
    return ran


def cat_check(u, ids, expect):
    """Problems reading ids back: expect maps id -> bytes, or None to only
    require content hashing to the id (or a clear error)."""
    probs = []
    if not ids:
        return probs
    if all(expect.get(h) is not None for h in ids):
        r = u("cat", *ids, timeout=120)
        if r.returncode == 0 and r.stdout == b"".join(expect[h]
                                                       for h in ids):
            return probs
    for h in ids:
        r = u("cat", h, timeout=60)
        want = expect.get(h)
        if r.returncode < 0:
            probs.append("cat %s: killed by signal %d" % (h[:12],
                                                         -r.returncode))
        elif r.returncode == 0 and sha(r.stdout) != h:
            probs.append("cat %s: WRONG BYTES (%d bytes, sha %s)" % (
                h[:12], len(r.stdout), sha(r.stdout)[:12]))
        elif want is not None and r.returncode != 0:
            probs.append("acknowledged %s unreadable (exit %d): %s" % (
                h[:12], r.returncode, r.stderr.decode().strip()[:200]))
        elif r.returncode != 0 and not r.stderr.strip():
            probs.append("cat %s: exit %d without a message" % (
                h[:12], r.returncode))
    return probs


def validate(u, what):
    r = u("validate", "--full", "--json", timeout=120)
    rows = []
    for line in r.stdout.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append({"raw": line.decode(errors="replace")})
    finds = [x for x in rows if "summary" not in x]
    if r.returncode != 0 or finds:
        return ["validate %s: exit %d, %s%s" % (
            what, r.returncode, "; ".join(json.dumps(f)[:200]
                                          for f in finds[:4]),
            (" " + r.stderr.decode().strip()[:200]) if not finds else "")]
    return []


def listed(u):
    r = u("ls", timeout=60)
    if r.returncode != 0:
        return None, ["ls: exit %d: %s" % (r.returncode,
                                           r.stderr.decode().strip()[:200])]
    return r.stdout.decode().split(), []


def check_store(u, acked, deleted, universe, tmp, tag):
    probs = []
    if not os.path.exists(os.path.join(u.store, "config.json")):
        return ["store: config.json lost"]
    probs += validate(u, "after the cut")
    probs += cat_check(u, sorted(acked), acked)
    for h in deleted:
        r = u("cat", h, timeout=60)
        if r.returncode == 0:
            probs.append("deleted %s is back" % h[:12])
    ids, p = listed(u)
    probs += p
    if ids is not None:
        probs += cat_check(u, ids, {h: universe.get(h) for h in ids})
    # the next write works
    for to in ("pack", "loose"):
        data = ("written after the cut %s %s" % (tag, to)).encode() * 50
        f = write(tmp / ("next-" + to), data)
        r = u("add", "--to", to, f, timeout=120)
        if r.returncode != 0:
            probs.append("add --to %s after the cut: exit %d: %s" % (
                to, r.returncode, r.stderr.decode().strip()[:200]))
            continue
        probs += cat_check(u, [sha(data)], {sha(data): data})
    probs += validate(u, "after the next write")
    return probs


def check_backup(fs_ran, img, universe, acked, tmp):
    """The backup folder of an image: the old backup or the new one, whole;
    then the next backup completes."""
    probs = []
    src = Udos(img / "store")
    dst = Udos(img / "backup")
    done = any(c[2] == "backup" and rc == 0 for c, rc, _, _ in fs_ran)
    before = {h: universe[h] for h in universe if h in acked}
    if done:
        probs += ["completed backup: " + p
                  for p in cat_check(dst, sorted(before), before)]
    probs += ["backup copy: " + p for p in validate(dst, "after the cut")]
    ids, p = listed(dst)
    probs += ["backup copy: " + x for x in p]
    if ids is not None:
        probs += ["backup copy: " + x for x in
                  cat_check(dst, ids, {h: universe.get(h) for h in ids})]
    r = src("backup", img / "backup", timeout=180)
    if r.returncode != 0:
        probs.append("next backup: exit %d: %s" % (
            r.returncode, r.stderr.decode().strip()[:200]))
    else:
        probs += ["after the next backup: " + p
                  for p in cat_check(dst, sorted(before), before)]
        probs += ["after the next backup: " + p
                  for p in validate(dst, "copy")]
    return probs


def cut_points(total, rng):
    ks = list(range(1, total + 2))  # total+1: cut after everything
    if CUTS == "all" or len(ks) <= int(CUTS):
        return ks
    n = int(CUTS)
    # both ends always (the first and last two when n allows), the rest
    # spread at random
    ends = ks[:2] + ks[-2:] if n >= 4 else [ks[0], ks[-1]]
    rest = [k for k in ks if k not in ends]
    return sorted(set(ends + rng.sample(rest, max(0, n - len(ends)))))


def sync_trace(fs, tmp):
    p = tmp / "trace.txt"
    fs.trace(p)
    with open(p) as f:
        return f.read().splitlines()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_power_cut(cfs, tmp_path, name):
    seed = tmp_path / "seed"
    seed.mkdir()
    known, cmds, deleted = SCENARIOS[name](seed, tmp_path)
    universe = dict(known)
    for d in ("in", "a", "b", "c", "old"):
        for root, _, files in os.walk(tmp_path / d):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    data = fh.read()
                universe[sha(data)] = data

    # a run without a cut: the commands work and how many syncs they make
    cfs.load(seed)
    ran = run_cmds(cfs, cmds, tmp_path)
    for c, rc, out, err in ran:
        assert rc == 0, (name, c, rc, err)
    total = cfs.count()
    trace = sync_trace(cfs, tmp_path)
    assert total > 0, name

    failures = []
    rng = random.Random("%s-%s" % (SEED, name))
    ks = cut_points(total, rng)
    for k in ks:
        for mode in ("strict", "partial"):
            img = tmp_path / ("img-%d-%s" % (k, mode))
            cfs.load(seed)
            cfs.arm(k, img, mode, seed=k)
            ran = run_cmds(cfs, cmds, tmp_path)
            if not cfs.was_cut():
                cfs.image(img, mode, seed=k)
            acked = dict(known)
            dels = []
            for c, rc, out, err in ran:
                if c[2] == "add":
                    # complete lines only: a writer killed by the cut may
                    # leave half a line, whose id part is then a prefix
                    for line in out.decode().split("\n")[:-1]:
                        h = line.split("  ", 1)[0]
                        acked[h] = universe.get(h)
                if c[2] == "delete":
                    # cut while deleting: each of them may be there or not
                    for h in deleted:
                        acked.pop(h, None)
                    if rc == 0:
                        dels = list(deleted)
                if rc != 0 and not cfs.was_cut():
                    failures.append("cut %d %s: %s exit %d without a cut: "
                                    "%s" % (k, mode, c[2], rc,
                                            err.strip()[:200]))
            where = trace[k - 1] if k <= len(trace) else "after the end"
            probs = check_store(Udos(img / "store"), acked, dels, universe,
                                tmp_path, "%d%s" % (k, mode))
            if name == "backup":
                probs += check_backup(ran, img, universe, acked, tmp_path)
            for p in probs:
                failures.append("cut %d/%d (%s) %s: %s" % (k, total, where,
                                                           mode, p))
            shutil.rmtree(img)
    assert not failures, "%s: %d problems over cuts %s:\n%s" % (
        name, len(failures), ks, "\n".join(failures))


WRITER = r"""
import os, sys
d, mode = sys.argv[1], sys.argv[2]
for i in range(5):
    tmp, dst = os.path.join(d, "t%d" % i), os.path.join(d, "f%d" % i)
    with open(tmp, "wb") as f:
        f.write(b"%d" % i * 10000)
        if mode == "good":
            f.flush()
            os.fsync(f.fileno())
    os.rename(tmp, dst)
    if mode == "good":
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)
        os.close(fd)
    print(dst, flush=True)
"""


def test_harness_keeps_only_what_was_synced(cfs, tmp_path):
    """The model itself: a writer that fsyncs file and folder keeps every
    file it acknowledged at every cut; one that does not loses them."""
    prog = write(tmp_path / "writer.py", WRITER.encode())
    (tmp_path / "empty").mkdir()
    for mode, cuts in (("good", range(1, 12)), ("bad", [1])):
        kept = {"strict": 0, "partial": 0}
        acked = 0
        for k in cuts:
            for model in ("strict", "partial"):
                img = tmp_path / ("img-%s-%d-%s" % (mode, k, model))
                cfs.load(tmp_path / "empty")
                cfs.arm(k, img, model, seed=k)
                with open(tmp_path / "out", "w+b") as out:
                    cfs.run(["python3", prog, cfs.mnt, mode], out, None)
                    out.seek(0)
                    printed = out.read().decode()
                if not cfs.was_cut():
                    cfs.image(img, model, seed=k)
                for line in printed.splitlines():
                    name = os.path.basename(line)
                    p = img / name
                    want = name[1:].encode() * 10000
                    ok = p.exists() and p.read_bytes() == want
                    if mode == "good":
                        assert ok, (k, model, name)
                    kept[model] += ok
                    acked += model == "strict"
        if mode == "bad":
            # five files acknowledged, none synced: the strict image keeps
            # none of them, the partial one not all
            assert acked == 5
            assert kept["strict"] == 0, kept
            assert kept["partial"] < 5, kept
