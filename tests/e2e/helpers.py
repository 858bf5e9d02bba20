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
