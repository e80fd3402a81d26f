"""Deletion marks and remote gc against a local versitygw (started by
tests/cli/s3server.py, installed by scripts/setup-s3.sh).

    PYTHONPATH=build/python python3 bench/bench_remote_gc.py build/cli/udos [N]

Part 1: all of /usr/include pushed and evicted, 3000 ids deleted, push,
clone, repack, push, gc --grace 0, pull. Part 2 (with N): N small objects
in one pack, N/2 deleted, push, clone, ls, pull."""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cli"))
import s3server  # noqa: E402

UDOS = os.path.abspath(sys.argv[1])
ENV = s3server.env()


def run(*args, store=None):
    t = time.time()
    r = subprocess.run([UDOS] + (["-C", store] if store else []) +
                       [str(a) for a in args], env=ENV, capture_output=True)
    assert r.returncode == 0, (args, r.stderr)
    return time.time() - t, r.stdout.decode().strip()


def real_data(root, srv):
    c = root + "/c"
    run("init", c, "--pack-size", "16M")
    out = run("add", "-r", "/usr/include", store=c)[1]
    hs = sorted({line.split()[0] for line in out.splitlines()})
    print("objects", len(hs))
    run("pack", store=c)
    run("remote", "set", "s3://udos/m", "--endpoint", srv.endpoint, store=c)
    print("push --seal %.2fs" % run("push", "--seal", store=c)[0])
    run("evict", store=c)
    for i in range(0, 3000, 500):
        run("delete", *hs[i:i + 500], store=c)
    print("push, 3000 marks: %.2fs %s" % run("push", "--json", store=c))
    print("clone: %.2fs %s" % run("clone", "s3://udos/m", root + "/k",
                                  "--endpoint", srv.endpoint, "--json"))
    print("ls in clone: %d ids" %
          len(run("ls", store=root + "/k")[1].splitlines()))
    print("repack: %.2fs" % run("repack", store=c)[0])
    print("push --seal: %.2fs %s" % run("push", "--seal", "--json", store=c))
    print("gc --grace 0: %.2fs %s" % run("remote", "gc", "--grace", "0",
                                         "--json", store=c))
    print("pull: %.2fs %s" % run("pull", "--json", store=root + "/k"))


def synthetic(root, srv, n):
    import udos  # pylint: disable=import-outside-toplevel
    for k, v in ENV.items():
        if k.startswith(("AWS_", "UDOS_S3")):
            os.environ[k] = v
    c = udos.Container(root + "/s")
    c.init_container(pack_size_target=64 << 20)
    keys = c.add_objects_to_pack([b"object %d\n" % i for i in range(n)],
                                 compress=False)
    c.set_remote("s3://udos/s", srv.endpoint)
    c.push(seal=True)
    c.delete_objects(sorted(keys)[:n // 2])
    c.close()
    print("push, %d marks: %.2fs %s" % ((n // 2,) +
                                         run("push", "--json",
                                             store=root + "/s")))
    print("clone: %.2fs %s" % run("clone", "s3://udos/s", root + "/t",
                                  "--endpoint", srv.endpoint, "--json"))
    print("ls in clone: %d ids" %
          len(run("ls", store=root + "/t")[1].splitlines()))
    print("pull, nothing new: %.2fs %s" % run("pull", "--json",
                                              store=root + "/t"))


def main():
    root = tempfile.mkdtemp(prefix="udos-bench-gc-")
    srv = s3server.Server(s3server.versitygw_path(), root + "/s3")
    try:
        real_data(root, srv)
        if len(sys.argv) > 2:
            synthetic(root, srv, int(sys.argv[2]))
    finally:
        srv.kill()
        subprocess.run(["rm", "-rf", root], check=False)


if __name__ == "__main__":
    main()
