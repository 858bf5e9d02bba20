"""Shared helpers for the end-to-end tests: run the real `verbatim` binary, start servers on
ports they pick themselves, and wait on conditions with bounded time, never fixed sleeps."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BIN = os.environ.get("VERBATIM_BIN", "")
SOURCE_DIR = os.environ.get("VERBATIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


class VerbatimTestCase(unittest.TestCase):
    def setUp(self):
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

    def token(self, name="e2e"):
        return self.run_vb("token", "create", name, check=0).stdout.strip()


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


def wait_until(predicate, timeout=10.0, interval=0.05):
    """Polls `predicate` until it is truthy or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


SIP_PEER = os.environ.get("VERBATIM_SIP_PEER", "")


def free_udp_port():
    """A UDP port free on 127.0.0.1 right now (for peers that cannot bind port 0 themselves)."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_tcp_udp_port():
    """A port free for both TCP and UDP on 127.0.0.1 right now (a peer that listens on both,
    SIPp with -t t1): a free UDP port is not always a free TCP one."""
    import socket
    for _ in range(100):
        port = free_udp_port()
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
    raise RuntimeError("no port free for both TCP and UDP on 127.0.0.1")


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
