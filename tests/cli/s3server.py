"""A real S3 server for the remote tests, and a fault-injecting proxy.

versitygw (installed by scripts/setup-s3.sh) runs on 127.0.0.1 with a
random port over a temporary folder (its posix backend: bucket B's object
K is the file ROOT/B/K). FaultProxy sits between udos and the server,
counts requests, and injects what the tests ask for: 503 SlowDown, bodies
cut short, stalls, connections dropped. It handles one request per
connection (it answers 'Connection: close'), which curl copes with.
"""
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SETUP = os.path.join(HERE, "..", "..", "scripts", "setup-s3.sh")
KEY = "udostestkey"
SECRET = "udostestsecret0123456789"
BUCKET = "udos"
EMPTY_SHA = ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852"
             "b855")


def versitygw_path():
    r = subprocess.run(["bash", SETUP], capture_output=True, timeout=1800)
    if r.returncode != 0:
        pytest.skip("versitygw unavailable: " + r.stderr.decode()[-300:])
    return r.stdout.decode().strip()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, up=True, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            if up:
                return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise TimeoutError("port %d not %s" % (port, "up" if up else "down"))


class Server:
    """versitygw on 127.0.0.1; over https with cert and key (PEM files)."""

    def __init__(self, exe, root, cert=None, key=None):
        self.exe = exe
        self.cert, self.key = cert, key
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.port = free_port()
        self.proc = None
        self.start()
        self.s3("PUT", "/" + BUCKET)

    @property
    def endpoint(self):
        return "%s://127.0.0.1:%d" % ("https" if self.cert else "http",
                                      self.port)

    def start(self):
        tls = ["--cert", str(self.cert), "--key", str(self.key)] \
            if self.cert else []
        self.proc = subprocess.Popen(
            [self.exe, "--access", KEY, "--secret", SECRET, "--port",
             "127.0.0.1:%d" % self.port] + tls + ["posix", self.root],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        wait_port(self.port, up=False)

    def s3(self, method, path, data=None):
        """A signed request by the curl command (independent of udos)."""
        cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
               "--aws-sigv4", "aws:amz:us-east-1:s3", "--user",
               KEY + ":" + SECRET, "-H", "x-amz-content-sha256: " +
               "UNSIGNED-PAYLOAD", "-X", method, self.endpoint + path]
        if self.cert:
            cmd[1:1] = ["--cacert", str(self.cert)]
        r = subprocess.run(cmd, capture_output=True, timeout=60)
        return int(r.stdout or 0)

    def objects(self, prefix):
        """{key: bytes} of the objects under prefix, from the folder."""
        base = os.path.join(self.root, BUCKET, prefix)
        out = {}
        for d, _, files in os.walk(base):
            for f in files:
                p = os.path.join(d, f)
                out[os.path.relpath(p, base)] = open(p, "rb").read()
        return out

    def object_path(self, prefix, key):
        return os.path.join(self.root, BUCKET, prefix, key)


def env():
    e = dict(os.environ)
    e.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET,
             UDOS_S3_BACKOFF_MS="20")
    e.pop("AWS_SESSION_TOKEN", None)
    e.pop("AWS_PROFILE", None)
    return e


class FaultProxy:
    """HTTP proxy to the server. `rule(method, path, n)` (n: how many
    requests of that method and path came before) returns None (forward),
    "slowdown" (503 SlowDown), "cut" (half the response body, then close),
    "stall" (forward after `stall_s` seconds of silence), "drop" (close
    without an answer)."""

    def __init__(self, upstream_port):
        self.up = upstream_port
        self.rule = lambda m, p, n: None
        self.stall_s = 5
        self.log = []
        self.headers = []  # (method, path, {lowercase name: value})
        self.seen = {}
        self.inflight = 0
        self.max_inflight = 0  # requests forwarded at once, at most
        self.mu = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def close(self):
        self.running = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def reset(self):
        with self.mu:
            self.log = []
            self.headers = []
            self.seen = {}
            self.max_inflight = 0

    def _accept(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    @staticmethod
    def _read_head(f):
        lines = []
        while True:
            line = f.readline(65536)
            if not line:
                return None
            if line in (b"\r\n", b"\n"):
                return lines
            lines.append(line)

    def _serve(self, c):
        try:
            self._one(c)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _one(self, c):
        f = c.makefile("rb")
        head = self._read_head(f)
        if not head:
            return
        method, path = head[0].split()[:2]
        method, path = method.decode(), path.decode()
        hdrs = {}
        for h in head[1:]:
            k, _, v = h.decode().partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n_body = int(hdrs.get("content-length", "0"))
        if hdrs.get("expect", "").lower() == "100-continue" and n_body:
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = f.read(n_body) if n_body else b""
        with self.mu:
            k = (method, path.split("?")[0])
            n = self.seen.get(k, 0)
            self.seen[k] = n + 1
            self.log.append((method, path, hdrs.get("range")))
            self.headers.append((method, path, hdrs))
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            self._answer(c, f, head, body, method, path, n)
        finally:
            with self.mu:
                self.inflight -= 1

    def _answer(self, c, f, head, body, method, path, n):
        what = self.rule(method, path, n)
        if what == "drop":
            return
        if what == "slowdown":
            msg = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>"
                   b"<Code>SlowDown</Code><Message>Please reduce your "
                   b"request rate.</Message></Error>")
            c.sendall(b"HTTP/1.1 503 Slow Down\r\nContent-Type: "
                      b"application/xml\r\nContent-Length: %d\r\n"
                      b"Connection: close\r\n\r\n" % len(msg) + msg)
            return
        if what == "stall":
            time.sleep(self.stall_s)
        u = socket.create_connection(("127.0.0.1", self.up), 10)
        out = [head[0]]
        for h in head[1:]:
            name = h.split(b":")[0].strip().lower()
            if name in (b"connection", b"expect"):
                continue
            out.append(h)
        out.append(b"Connection: close\r\n\r\n")
        u.sendall(b"".join(out) + body)
        resp = b""
        while True:
            b = u.recv(1 << 20)
            if not b:
                break
            resp += b
        u.close()
        # drop interim 1xx answers
        while resp.startswith(b"HTTP/1.1 1"):
            resp = resp[resp.index(b"\r\n\r\n") + 4:]
        if what == "cut":
            i = resp.index(b"\r\n\r\n") + 4
            resp = resp[:i + (len(resp) - i) // 2]
        c.sendall(resp)
