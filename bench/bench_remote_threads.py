"""Reads of evicted packs from 1 and from 4 threads (Python, GIL released),
cold cache each time, against versitygw on 127.0.0.1 behind the test
proxy, which may hold every GET for DELAY seconds (a far remote).

    PYTHONPATH=build/python python3 bench/bench_remote_threads.py [DELAY]

Data: every header under /usr/include, packs of 2 MiB."""
import glob
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'cli'))
import s3server  # noqa: E402  pylint: disable=wrong-import-position
import udos  # noqa: E402  pylint: disable=wrong-import-position


def main():
    delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    for key, value in s3server.env().items():
        if key.startswith(('AWS_', 'UDOS_S3')):
            os.environ[key] = value
    os.environ.pop('AWS_SESSION_TOKEN', None)
    tmp = tempfile.mkdtemp(prefix='udos-bench-remote-')
    srv = s3server.Server(s3server.versitygw_path(), tmp + '/s3')
    prx = s3server.FaultProxy(srv.port)
    if delay:
        prx.stall_s = delay
        prx.rule = lambda m, p, n: 'stall' if m == 'GET' else None
    try:
        files = [p for p in glob.glob('/usr/include/**/*.h', recursive=True)
                 if os.path.isfile(p) and not os.path.islink(p)]
        cont = udos.Container(tmp + '/c')
        cont.init_container(pack_size_target=2 << 20)
        data = [open(p, 'rb').read() for p in files]
        objs = dict(zip(cont.add_objects_to_pack(data, compress=True), data))
        cont.set_remote('s3://udos/bench', prx.endpoint)
        npacks = cont.push(seal=True)['remote_packs']
        cont.evict()
        by_pack = {}
        for key, meta in cont.get_objects_meta(list(objs)):
            by_pack.setdefault(meta.pack_id, []).append(key)
        print(f'{len(objs)} objects, {sum(map(len, data)) >> 20} MiB, '
              f'{npacks} packs; every GET held {delay} s')
        for nthreads in (1, 4, 1, 4):
            cont.close()
            shutil.rmtree(tmp + '/c/cache', ignore_errors=True)
            groups = [[] for _ in range(nthreads)]
            packs = sorted(by_pack.values(), key=len, reverse=True)
            for i, keys in enumerate(packs):
                groups[i % nthreads].extend(keys)

            def work(keys):
                for key in keys:
                    assert cont.get_object_content(key) == objs[key]
            prx.reset()
            start = time.time()
            threads = [threading.Thread(target=work, args=(g,))
                       for g in groups]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            gets = sum(1 for x in prx.log if x[0] == 'GET')
            print(f'{nthreads} threads: {time.time() - start:.2f} s, '
                  f'{gets} GETs, at most {prx.max_inflight} at once')
        cont.close()
    finally:
        srv.kill()
        prx.close()
        shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
