"""crashfs: an in-memory FUSE file system that knows what a power cut keeps.

Run as a program (`python3 crashfs.py MOUNTPOINT`) it serves MOUNTPOINT
with pyfuse3 (libfuse3). Imported, `CrashFS` starts that program and talks
to it. The file system keeps two states of everything:

- the live state, which every process sees (writes are write-through: the
  kernel's page cache holds nothing the daemon has not seen, because
  pyfuse3 does not enable FUSE's writeback cache);
- the durable state, what survives a power cut. In the strict model:
  * a file's bytes (content and size) become durable at fsync/fdatasync of
    that file, all of them at once; never before;
  * a directory's entries (names created, renamed, linked, unlinked, in
    that directory) become durable at fsync of that directory only. A new
    file whose name was never made durable is lost even if its data was
    synced; a renamed file stays at its old name until the old directory is
    synced, and appears at the new one when the new directory is synced;
  * syncfs(2) makes everything durable. FUSE (outside virtiofs) does not
    forward syncfs to the daemon, so `SYNCFS_SHIM` is a small LD_PRELOAD
    library that, after the real syncfs, asks the daemon for the xattr
    `user.crashfs.syncfs` of the same file descriptor, which the daemon
    treats as a syncfs (and fails with EIO after a cut).
  The "partial" model keeps, in addition, what POSIX lets a crash keep of
  the unsynced changes: for each file whose unsynced change is an append, a
  random prefix of the appended bytes (otherwise, at random, the old or new
  bytes as a whole); for each directory, a random prefix of the changes
  made since its last fsync, in order (a rename within one directory is one
  change, so the target name never points at nothing).

Each fsync, fdatasync, directory fsync and syncfs is a "sync point".
Control goes through a Unix socket (one command line, one reply line "ok
VALUE" or "err MESSAGE"), not through the file system: a hung directory
fsync holds that directory's inode lock.

  load DIR             replace everything by a copy of the real folder DIR,
                       all durable; clears the cut, the counter and the trace
  arm K MODE SEED OUT  at the K-th sync point from now (1-based), before
                       that sync takes effect, write the durable state (MODE
                       strict|partial, SEED for partial) as a real folder
                       OUT; that sync and every later operation then hang
                       (the machine is off: its processes learn nothing more)
  thaw                 fail the hung operations with EIO. A request the
                       daemon has read holds its process (in D state) until
                       answered, even against SIGKILL: CrashFS.run SIGKILLs
                       the writer first, then thaws, so it dies without
                       seeing an error
  image MODE SEED OUT  write the image of the current durable state
  trace FILE           write one line per sync point since load/arm: its
                       kind and the path it synced
  count, cut           sync points since load/arm; "1" once cut
"""
import errno
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import time

ATTR = b"user.crashfs."

SYNCFS_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/xattr.h>
/* syncfs(2) never reaches a FUSE daemon: tell crashfs after the real one */
int syncfs(int fd)
{
	static int (*real)(int);
	char v[8];

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
	if (real(fd) < 0)
		return -1;
	if (fgetxattr(fd, "user.crashfs.syncfs", v, sizeof(v)) < 0 &&
	    errno == EIO)
		return -1;
	return 0;
}
"""


# ---------------------------------------------------------------- daemon --

class Node:
    __slots__ = ("ino", "mode", "data", "dur", "ents", "dents", "log",
                 "nlink", "mtime")

    def __init__(self, ino, mode):
        self.ino = ino
        self.mode = mode
        self.nlink = 0
        self.mtime = time.time_ns()
        if stat.S_ISDIR(mode):
            self.ents = {}    # live: name -> ino
            self.dents = {}   # as of the last fsync of this directory
            self.log = []     # changes since then: [[(name, ino|None)...]]
        else:
            self.data = bytearray()
            self.dur = b""    # as of the last fsync/fdatasync

    def is_dir(self):
        return stat.S_ISDIR(self.mode)


def _daemon(mountpoint, sockpath):
    import pyfuse3
    import trio

    FE = pyfuse3.FUSEError

    class Cut(Exception):
        """Raised by the sync point where the power goes."""

    def gated(fn):
        # once the power is cut, every operation hangs (the process never
        # learns anything more) until the next load, then fails with EIO
        async def op(self, *args):
            if self.cut:
                await self.frozen()
            try:
                return await fn(self, *args)
            except Cut:
                await self.frozen()
        op.__name__ = fn.__name__
        return op

    class FS(pyfuse3.Operations):
        def __init__(self):
            super().__init__()
            self.next_ino = pyfuse3.ROOT_INODE + 1
            self.nodes = {}
            self.root = Node(pyfuse3.ROOT_INODE, stat.S_IFDIR | 0o755)
            self.root.nlink = 2
            self.nodes[self.root.ino] = self.root
            self.count = 0
            self.arm = None      # (k, mode, seed, out)
            self.cut = False
            self.listings = {}
            self.next_fh = 1
            self.trace = []      # what each sync point synced
            self.thaw = trio.Event()

        # -- model --
        def new(self, mode):
            n = Node(self.next_ino, mode)
            self.next_ino += 1
            self.nodes[n.ino] = n
            return n

        def node(self, ino):
            if self.cut:
                raise FE(errno.EIO)
            try:
                return self.nodes[ino]
            except KeyError:
                raise FE(errno.ESTALE)

        def dir(self, ino):
            d = self.node(ino)
            if not d.is_dir():
                raise FE(errno.ENOTDIR)
            return d

        def path_of(self, ino):
            todo = [(self.root, b"")]
            while todo:
                d, p = todo.pop()
                for name, i in d.ents.items():
                    if i == ino:
                        return (p + b"/" + name).decode(errors="replace")
                    c = self.nodes.get(i)
                    if c is not None and c.is_dir():
                        todo.append((c, p + b"/" + name))
            return "/" if ino == self.root.ino else "(unlinked)"

        def sync_point(self, kind, ino):
            if self.cut:
                raise FE(errno.EIO)
            self.count += 1
            self.trace.append("%s %s" % (kind, self.path_of(ino)))
            if self.arm and self.count >= self.arm[0]:
                _, mode, seed, out = self.arm
                self.write_image(mode, seed, out)
                self.cut = True
                raise Cut()

        async def frozen(self):
            await self.thaw.wait()
            raise FE(errno.EIO)

        def change(self, d, *pairs):
            for name, ino in pairs:
                if ino is None:
                    d.ents.pop(name, None)
                else:
                    d.ents[name] = ino
            d.log.append(list(pairs))
            d.mtime = time.time_ns()

        def attrs(self, n):
            a = pyfuse3.EntryAttributes()
            a.st_ino = n.ino
            a.generation = 0
            a.entry_timeout = 0
            a.attr_timeout = 0
            a.st_mode = n.mode
            a.st_nlink = max(n.nlink, 1)
            a.st_uid = 0
            a.st_gid = 0
            a.st_rdev = 0
            size = 4096 if n.is_dir() else len(n.data)
            a.st_size = size
            a.st_blksize = 4096
            a.st_blocks = (size + 511) // 512
            a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = n.mtime
            return a

        def load(self, src):
            self.nodes = {self.root.ino: self.root}
            self.root.ents.clear()
            self.root.dents.clear()
            self.root.log.clear()

            def walk(d, path):
                for e in sorted(os.scandir(path), key=lambda e: e.name):
                    if e.is_dir(follow_symlinks=False):
                        c = self.new(stat.S_IFDIR | 0o755)
                        c.nlink = 2
                        walk(c, e.path)
                    elif e.is_file(follow_symlinks=False):
                        c = self.new(stat.S_IFREG | 0o644)
                        c.nlink = 1
                        with open(e.path, "rb") as f:
                            c.data = bytearray(f.read())
                        c.dur = bytes(c.data)
                    else:
                        continue
                    d.ents[os.fsencode(e.name)] = c.ino
                d.dents = dict(d.ents)
            walk(self.root, src)
            self.count = 0
            self.trace = []
            self.arm = None
            self.cut = False
            self.listings.clear()
            self.thaw.set()  # operations hung by a cut now fail
            self.thaw = trio.Event()

        def write_image(self, mode, seed, out):
            rng = random.Random(seed) if mode == "partial" else None
            files = {}   # ino -> path written first (hard links)

            def ents_of(d):
                if rng is None:
                    return d.dents
                e = dict(d.dents)
                for change in d.log[:rng.randint(0, len(d.log))]:
                    for name, ino in change:
                        if ino is None:
                            e.pop(name, None)
                        else:
                            e[name] = ino
                return e

            def data_of(n):
                if rng is None or n.data == n.dur:
                    return n.dur
                live = bytes(n.data)
                if live[:len(n.dur)] == n.dur:
                    return live[:rng.randint(len(n.dur), len(live))]
                return rng.choice([n.dur, live])

            def walk(d, path, seen):
                for name, ino in sorted(ents_of(d).items()):
                    c = self.nodes[ino]
                    p = os.path.join(path, os.fsdecode(name))
                    if c.is_dir():
                        if ino in seen:
                            continue
                        os.mkdir(p)
                        walk(c, p, seen | {ino})
                    elif ino in files:
                        os.link(files[ino], p)
                    else:
                        with open(p, "wb") as f:
                            f.write(data_of(c))
                        files[ino] = p
            os.makedirs(out)
            walk(self.root, out, {self.root.ino})

        def make_all_durable(self):
            for n in self.nodes.values():
                if n.is_dir():
                    n.dents = dict(n.ents)
                    n.log = []
                else:
                    n.dur = bytes(n.data)

        # -- control (see the module's docstring) --
        def command(self, line):
            cmd, _, arg = line.partition(" ")
            if cmd == "load":
                self.load(arg)
            elif cmd == "arm":
                k, mode, seed, out = arg.split(" ", 3)
                self.arm = (int(k), mode, int(seed), out)
                self.count = 0
                self.trace = []
            elif cmd == "image":
                mode, seed, out = arg.split(" ", 2)
                self.write_image(mode, int(seed), out)
            elif cmd == "thaw":
                self.thaw.set()  # hung operations fail with EIO
            elif cmd == "trace":
                with open(arg, "w") as f:
                    f.write("".join(t + "\n" for t in self.trace))
            elif cmd == "count":
                return str(self.count)
            elif cmd == "cut":
                return "1" if self.cut else "0"
            else:
                raise ValueError("unknown command %r" % cmd)
            return ""

        async def setxattr(self, ino, name, value, ctx):
            raise FE(errno.ENOTSUP)

        async def getxattr(self, ino, name, ctx):
            if name == ATTR + b"syncfs":
                if self.cut:
                    await self.frozen()
                try:
                    self.sync_point("syncfs", ino)
                except Cut:
                    await self.frozen()
                self.make_all_durable()
                return b"1"
            raise FE(pyfuse3.ENOATTR)

        async def listxattr(self, ino, ctx):
            return []

        async def removexattr(self, ino, name, ctx):
            raise FE(pyfuse3.ENOATTR)

        # -- operations --
        @gated
        async def lookup(self, parent, name, ctx):
            d = self.dir(parent)
            if name == b".":
                return self.attrs(d)
            try:
                return self.attrs(self.nodes[d.ents[name]])
            except KeyError:
                raise FE(errno.ENOENT)

        async def getattr(self, ino, ctx):
            if ino == pyfuse3.ROOT_INODE:  # the test's control path
                return self.attrs(self.root)
            return await self.getattr_gated(ino)

        @gated
        async def getattr_gated(self, ino):
            return self.attrs(self.node(ino))

        @gated
        async def setattr(self, ino, attr, fields, fh, ctx):
            n = self.node(ino)
            if fields.update_size:
                if n.is_dir():
                    raise FE(errno.EISDIR)
                size = attr.st_size
                if size < len(n.data):
                    del n.data[size:]
                else:
                    n.data.extend(bytes(size - len(n.data)))
            if fields.update_mode:
                n.mode = stat.S_IFMT(n.mode) | stat.S_IMODE(attr.st_mode)
            if fields.update_mtime:
                n.mtime = attr.st_mtime_ns
            return self.attrs(n)

        @gated
        async def access(self, ino, mode, ctx):
            self.node(ino)
            return True

        @gated
        async def statfs(self, ctx):
            s = pyfuse3.StatvfsData()
            s.f_bsize = s.f_frsize = 4096
            s.f_blocks = s.f_bfree = s.f_bavail = 1 << 24
            s.f_files = s.f_ffree = s.f_favail = 1 << 20
            s.f_namemax = 255
            return s

        async def forget(self, inode_list):
            pass  # nodes live until the next load: durable entries use them

        def add(self, parent, name, mode):
            d = self.dir(parent)
            if name in d.ents:
                raise FE(errno.EEXIST)
            n = self.new(mode)
            n.nlink = 2 if n.is_dir() else 1
            self.change(d, (name, n.ino))
            return n

        @gated
        async def mkdir(self, parent, name, mode, ctx):
            return self.attrs(self.add(parent, name,
                                       stat.S_IFDIR | (mode & 0o7777)))

        @gated
        async def mknod(self, parent, name, mode, rdev, ctx):
            if not stat.S_ISREG(mode):
                raise FE(errno.EPERM)
            return self.attrs(self.add(parent, name, mode))

        @gated
        async def create(self, parent, name, mode, flags, ctx):
            n = self.add(parent, name, stat.S_IFREG | (mode & 0o7777))
            return pyfuse3.FileInfo(fh=n.ino), self.attrs(n)

        async def symlink(self, parent, name, target, ctx):
            raise FE(errno.EPERM)

        @gated
        async def link(self, ino, parent, name, ctx):
            n = self.node(ino)
            d = self.dir(parent)
            if n.is_dir():
                raise FE(errno.EPERM)
            if name in d.ents:
                raise FE(errno.EEXIST)
            n.nlink += 1
            self.change(d, (name, n.ino))
            return self.attrs(n)

        @gated
        async def unlink(self, parent, name, ctx):
            d = self.dir(parent)
            if name not in d.ents:
                raise FE(errno.ENOENT)
            n = self.nodes[d.ents[name]]
            if n.is_dir():
                raise FE(errno.EISDIR)
            n.nlink -= 1
            self.change(d, (name, None))

        @gated
        async def rmdir(self, parent, name, ctx):
            d = self.dir(parent)
            if name not in d.ents:
                raise FE(errno.ENOENT)
            n = self.nodes[d.ents[name]]
            if not n.is_dir():
                raise FE(errno.ENOTDIR)
            if n.ents:
                raise FE(errno.ENOTEMPTY)
            self.change(d, (name, None))

        @gated
        async def rename(self, p_old, n_old, p_new, n_new, flags, ctx):
            src = self.dir(p_old)
            dst = self.dir(p_new)
            if n_old not in src.ents:
                raise FE(errno.ENOENT)
            a = src.ents[n_old]
            b = dst.ents.get(n_new)
            if flags & pyfuse3.RENAME_EXCHANGE:
                if b is None:
                    raise FE(errno.ENOENT)
                pairs_src, pairs_dst = [(n_old, b)], [(n_new, a)]
            else:
                if b is not None:
                    if flags & pyfuse3.RENAME_NOREPLACE:
                        raise FE(errno.EEXIST)
                    na, nb = self.nodes[a], self.nodes[b]
                    if nb.is_dir() and not na.is_dir():
                        raise FE(errno.EISDIR)
                    if na.is_dir() and not nb.is_dir():
                        raise FE(errno.ENOTDIR)
                    if nb.is_dir() and nb.ents:
                        raise FE(errno.ENOTEMPTY)
                    if a == b:
                        return
                    nb.nlink -= 1
                pairs_src, pairs_dst = [(n_old, None)], [(n_new, a)]
            if src is dst:
                # one change: a crash keeps all of it or none of it
                if flags & pyfuse3.RENAME_EXCHANGE:
                    self.change(src, (n_old, b), (n_new, a))
                else:
                    self.change(src, (n_new, a), (n_old, None))
            else:
                self.change(src, *pairs_src)
                self.change(dst, *pairs_dst)

        @gated
        async def open(self, ino, flags, ctx):
            n = self.node(ino)
            if flags & os.O_TRUNC:
                n.data.clear()
            return pyfuse3.FileInfo(fh=ino)

        @gated
        async def read(self, fh, off, size):
            return bytes(self.node(fh).data[off:off + size])

        @gated
        async def write(self, fh, off, buf):
            n = self.node(fh)
            if off > len(n.data):
                n.data.extend(bytes(off - len(n.data)))
            n.data[off:off + len(buf)] = buf
            n.mtime = time.time_ns()
            return len(buf)

        async def flush(self, fh):
            pass

        async def release(self, fh):
            pass

        @gated
        async def fsync(self, fh, datasync):
            n = self.node(fh)
            self.sync_point("fdatasync" if datasync else "fsync", fh)
            n.dur = bytes(n.data)

        @gated
        async def opendir(self, ino, ctx):
            d = self.dir(ino)
            fh = self.next_fh
            self.next_fh += 1
            self.listings[fh] = (ino, sorted(d.ents.items()))
            return fh

        @gated
        async def readdir(self, fh, start_id, token):
            _, items = self.listings[fh]
            for i in range(start_id, len(items)):
                name, ino = items[i]
                n = self.nodes.get(ino)
                if n is None:
                    continue
                if not pyfuse3.readdir_reply(token, name, self.attrs(n),
                                             i + 1):
                    break

        async def releasedir(self, fh):
            self.listings.pop(fh, None)

        @gated
        async def fsyncdir(self, fh, datasync):
            d = self.dir(self.listings[fh][0])
            self.sync_point("fsyncdir", d.ino)
            d.dents = dict(d.ents)
            d.log = []

    fs = FS()
    opts = set(pyfuse3.default_options)
    opts.add("fsname=crashfs")
    opts.discard("default_permissions")
    async def serve(ctl):
        # control goes through a socket, not the file system: a hung fsync
        # of a directory holds that directory's inode lock
        while True:
            conn, _ = await ctl.accept()
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = await conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                try:
                    reply = "ok " + fs.command(data.decode().strip())
                except Exception as e:
                    reply = "err %s: %s" % (type(e).__name__, e)
                data = reply.encode() + b"\n"
                while data:
                    data = data[await conn.send(data):]

    async def main():
        ctl = trio.socket.socket(trio.socket.AF_UNIX,
                                 trio.socket.SOCK_STREAM)
        await ctl.bind(sockpath)
        ctl.listen(16)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve, ctl)
            await pyfuse3.main(1, 1000)
            nursery.cancel_scope.cancel()

    pyfuse3.init(fs, mountpoint, opts)
    try:
        trio.run(main)
    finally:
        pyfuse3.close(unmount=True)


# ------------------------------------------------------------ test side --

class Unavailable(Exception):
    """FUSE cannot be used here; the message says why."""


def build_shim(workdir):
    """Compile SYNCFS_SHIM; return the .so path."""
    src = os.path.join(workdir, "syncfs_shim.c")
    so = os.path.join(workdir, "syncfs_shim.so")
    with open(src, "w") as f:
        f.write(SYNCFS_SHIM)
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", so, src,
                        "-ldl"], capture_output=True)
    if r.returncode:
        raise Unavailable("cannot build the syncfs shim: " +
                          r.stderr.decode())
    return so


class CrashFS:
    """A mounted crashfs; use as a context manager."""

    def __init__(self, mountpoint, workdir):
        self.mnt = str(mountpoint)
        self.workdir = str(workdir)
        self.proc = None
        self.shim = None

    def __enter__(self):
        try:
            import pyfuse3  # noqa: F401
            import trio  # noqa: F401
        except ImportError as e:
            raise Unavailable("pyfuse3/trio missing (Debian python3-pyfuse3"
                              "): %s" % e)
        if not os.path.exists("/dev/fuse"):
            raise Unavailable("/dev/fuse does not exist")
        if not shutil.which("fusermount3") and os.geteuid() != 0:
            raise Unavailable("fusermount3 missing and not root")
        self.shim = build_shim(self.workdir)
        os.makedirs(self.mnt, exist_ok=True)
        self.log = open(os.path.join(self.workdir, "crashfs.log"), "w+b")
        self.sock = os.path.join(self.workdir, "ctl.sock")
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(
            __file__), self.mnt, self.sock], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while not (os.path.ismount(self.mnt) and os.path.exists(self.sock)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                why = self.log.read().decode()[-2000:]
                self.__exit__(None, None, None)
                raise Unavailable("cannot mount a FUSE file system: " + why)
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        if self.proc is None:
            return
        if os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                           capture_output=True)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.log.close()

    def _cmd(self, *words):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(120)
            c.connect(self.sock)
            c.sendall((" ".join(words) + "\n").encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = c.recv(65536)
                if not chunk:
                    break
                reply += chunk
        reply = reply.decode().rstrip("\n")
        if not reply.startswith("ok "):
            raise RuntimeError("crashfs %s: %s" % (words[0], reply))
        return reply[3:]

    def load(self, src):
        """Make the file system a copy of the real folder src, durable."""
        self._cmd("load", os.path.abspath(src))

    def arm(self, k, out, mode="strict", seed=0):
        """Cut the power just before the k-th sync point from now."""
        self._cmd("arm", str(k), mode, str(seed), os.path.abspath(out))

    def image(self, out, mode="strict", seed=0):
        """Write what a power cut now would leave, as the folder out."""
        self._cmd("image", mode, str(seed), os.path.abspath(out))

    def trace(self, out):
        """Write the sync points since load/arm, one a line, to out."""
        self._cmd("trace", os.path.abspath(out))

    def thaw(self):
        """Answer the operations hung since the cut (with EIO)."""
        self._cmd("thaw")

    def count(self):
        return int(self._cmd("count"))

    def was_cut(self):
        return self._cmd("cut") == "1"

    def run(self, argv, out, err, timeout=120, env=None):
        """Run argv (stdout, stderr to the open files out, err) until it
        exits or the power is cut; then SIGKILL it. Returns its status."""
        e = dict(os.environ if env is None else env)
        e.update(self.env())
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=e)
        deadline = time.monotonic() + timeout
        while p.poll() is None:
            if self.was_cut() or time.monotonic() > deadline:
                p.kill()
                self.thaw()  # its hung requests can now end
                break
            time.sleep(0.01)
        return p.wait()

    def env(self):
        """Environment for a process whose syncfs must reach crashfs (an
        ASan build may run under the shim too)."""
        opts = os.environ.get("ASAN_OPTIONS", "")
        return {"LD_PRELOAD": self.shim,
                "ASAN_OPTIONS": opts + ":verify_asan_link_order=0"}


if __name__ == "__main__":
    _daemon(sys.argv[1], sys.argv[2])
