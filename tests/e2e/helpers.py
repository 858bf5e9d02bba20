"""Shared helpers for the end-to-end tests: run the real `verbatim` binary, start servers on
ports they pick themselves, and wait on conditions with bounded time, never fixed sleeps."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

BIN = os.environ.get("VERBATIM_BIN", "")
SOURCE_DIR = os.environ.get("VERBATIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


class VerbatimTestCase(unittest.TestCase):
    def setUp(self):
        global _current_test
        _current_test = self.id()
        self.tmp = tempfile.mkdtemp(prefix="vb_e2e_")
        self.data = os.path.join(self.tmp, "data")
        self.env = dict(os.environ, VERBATIM_DATA_DIR=self.data, USER="e2e")
        self.servers = []

    def tearDown(self):
        for p in self.servers:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)
        release_ports(self.id())

    def run_vb(self, *args, stdin=None, env=None, check=None):
        r = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True,
                           env=env or self.env, timeout=60)
        if check is not None:
            self.assertEqual(r.returncode, check, f"verbatim {args}: {r.stdout}\n{r.stderr}")
        return r

    def start_server(self, listen="127.0.0.1:0"):
        p = subprocess.Popen([BIN, "serve", "--roles", "admin-api", "--http-listen", listen],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
        self.servers.append(p)
        line = p.stdout.readline()  # the server prints its bound address first, then flushes
        m = re.search(r"(http://\S+)", line)
        if not m:
            p.kill()
            self.fail(f"server did not report its address: {line!r} {p.stderr.read()}")
        return p, m.group(1)

    def token(self, name="e2e", role="admin", *scope):
        """A REST token for a new account `name` with `role` (and scope flags)."""
        self.run_vb("account", "add", name, "--role", role, *scope, check=0)
        return self.run_vb("token", "create", name, check=0).stdout.strip()


def archive_ledger(data_dir, kind):
    """The archive's ledger entries of one type, read-only beside whoever writes it."""
    import sqlite3
    db = sqlite3.connect(f"file:{data_dir}/archive/archive.db?mode=ro", uri=True)
    try:
        rows = [json.loads(e) for (e,) in db.execute("SELECT CAST(entry AS TEXT) FROM ledger_entries")]
    finally:
        db.close()
    return [e for e in rows if e["type"] == kind]


def http_bytes(url, token=None, headers=None, timeout=10):
    """GET `url` as bytes: (status, response headers, body)."""
    req = urllib.request.Request(url, method="GET")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def http(method, url, token=None, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class LoopbackUdpServer:
    """A UDP socket on 127.0.0.1 served by a thread of its own: subclasses answer each datagram
    in on_datagram(data, peer); stop() ends the thread and closes the socket."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _serve(self):
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self.on_datagram(data, peer)

    def on_datagram(self, data, peer):
        raise NotImplementedError

    def stop(self):
        self.stopped = True
        self.thread.join()
        self.sock.close()


def wait_until(predicate, timeout=10.0, interval=0.05):
    """Polls `predicate` until it is truthy or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


SIP_PEER = os.environ.get("VERBATIM_SIP_PEER", "")


# Ports for peers that cannot bind port 0 themselves (SIPp, Kamailio, baresip) and RTP port
# ranges. Picking a free port and binding it later races: another test (ctest -j) can take it in
# between — SIPp's "Unable to bind main socket, errno = 98". So every test process takes its
# ports from one allocator that holds them: a port (or a block of RTP ports) is ours while this
# process holds an exclusive flock on its lock file under /tmp/verbatim-test-ports/, and the
# ports lie below the kernel's ephemeral range, where no bind(0) or connect() of any process
# lands. Released at the end of each test (VerbatimTestCase.tearDown) or of the process.
PORT_LOCKS = os.path.join(tempfile.gettempdir(), "verbatim-test-ports")
SINGLE_PORTS = range(10000, 15000, 4)   # a port and the 3 above it (SIPp's -mp takes mp+2 too)
BLOCK_PORTS = range(15000, 30000, 200)  # blocks of 200 (RTP ranges of the servers)
_held = []  # (fd, test id or None) of the lock files this process holds


def _ephemeral_floor():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port, count=1):
    import socket
    for p in range(port, port + count):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
            finally:
                s.close()
    return True


def _reserve(candidates, count, owner):
    import fcntl
    import random
    os.makedirs(PORT_LOCKS, exist_ok=True)
    floor = _ephemeral_floor()
    order = [p for p in candidates if p + count <= floor]
    random.shuffle(order)
    for port in order:
        fd = os.open(os.path.join(PORT_LOCKS, str(port)), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if _bindable(port, min(count, 4)):
            _held.append((fd, owner))
            return port
        os.close(fd)  # in use outside the allocator (a lingering socket): try another
    raise RuntimeError("no free test port left below the ephemeral range")


def free_udp_port(owner=None):
    """A port on 127.0.0.1 free for UDP and TCP and held for this test (see PORT_LOCKS)."""
    return _reserve(SINGLE_PORTS, 4, owner or _current_test)


free_tcp_udp_port = free_udp_port


def free_port_block(owner=None):
    """The first of 200 consecutive ports held for this test: an RTP range (rtp_port_min)."""
    return _reserve(BLOCK_PORTS, 200, owner or _current_test)


_current_test = None


def release_ports(owner):
    """Lets go of the ports taken for `owner` (a test id)."""
    global _held
    keep = []
    for fd, o in _held:
        if o == owner:
            os.close(fd)
        else:
            keep.append((fd, o))
    _held = keep


# The shared test corpus (RFC 4475/5118 torture messages, vendor SIPREC captures) lives outside
# the repository: $VERBATIM_TESTDATA, or ../shared/testdata beside the checkout. Tests that need
# it are marked @needs_corpus: where it is absent they are skipped with the reason, and ctest
# runs them as their own entries (e2e_<name>_corpus), reported "Skipped" in a plain clone.
TESTDATA = os.environ.get("VERBATIM_TESTDATA") or os.path.join(SOURCE_DIR, "..", "shared", "testdata")


def corpus_missing(sub):
    path = os.path.join(TESTDATA, sub)
    if os.path.isdir(path):
        return None
    return (f"the shared test corpus is absent ({path} not found): set VERBATIM_TESTDATA to the "
            "folder holding sip-torture/ and siprec-vendors/, or place it at ../shared/testdata")


def needs_corpus(sub):
    """Marks a test (or class) as reading <corpus>/<sub>; skipped with the reason without it."""
    def mark(obj):
        obj.vb_corpus = sub
        why = corpus_missing(sub)
        return unittest.skip(why)(obj) if why else obj
    return mark


def main():
    """Runs the file's tests. `--corpus-only` runs just the @needs_corpus ones, `--no-corpus`
    the others. Exit 77 (ctest: Skipped) when every test that was selected was skipped."""
    import sys
    mode = None
    argv = [a for a in sys.argv if a not in ("--corpus-only", "--no-corpus")]
    if "--corpus-only" in sys.argv:
        mode = True
    elif "--no-corpus" in sys.argv:
        mode = False
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    if len(argv) > 1:
        suite = unittest.defaultTestLoader.loadTestsFromNames(argv[1:], sys.modules["__main__"])

    def tests(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                yield from tests(t)
            else:
                yield t

    def marked(t):
        return getattr(type(t), "vb_corpus", None) or getattr(getattr(t, t._testMethodName, None),
                                                             "vb_corpus", None)
    selected = [t for t in tests(suite) if mode is None or bool(marked(t)) == mode]
    result = unittest.TextTestRunner(verbosity=2).run(unittest.TestSuite(selected))
    if not result.wasSuccessful():
        sys.exit(1)
    if selected and len(result.skipped) == result.testsRun:
        print("SKIPPED: " + "; ".join(sorted({why for _, why in result.skipped})))
        sys.exit(77)
    sys.exit(0)


class SipPeerTestCase(VerbatimTestCase):
    """Tests that run Verbatim's SIP stack as a process: tests/interop/sip_peer.cc."""

    def setUp(self):
        super().setUp()
        if not SIP_PEER:
            self.fail("needs the vb_sip_peer helper (built with the tests; ctest sets VERBATIM_SIP_PEER)")

    def start_uas(self, *extra, env=None):
        """Starts `vb_sip_peer uas` on a free loopback port; returns the process and the port."""
        p = subprocess.Popen([SIP_PEER, "uas", "--listen", "127.0.0.1:0", *extra], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        self.servers.append(p)
        first = p.stdout.readline()
        self.assertIn("listening UDP", first, p.stderr.read() if p.poll() is not None else "")
        return p, int(first.split()[2])

    def stop_uas(self, p):
        """Stops it with SIGTERM; it must exit cleanly (in the sanitized build: no leak); returns
        its counters."""
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        return json.loads(out.strip().splitlines()[-1])
