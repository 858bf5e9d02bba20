"""Reliability scenarios of ../shared/reliability-tests.md for the SIP stack, against the real
stack in its own process (the vb_sip_peer UAS: UDP, TCP and TLS transports, transaction layer,
UA core, registrar), on loopback:

- T34: 10,000 idle TCP connections to the SIP/TLS port from 200 loopback addresses, plus a
  flood from one address: the per-address cap holds, a real TLS client still gets its session
  and an answer, the idle connections are cut by the timeout, nothing crashes.
"""
import json
import os
import resource
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import VerbatimTestCase  # noqa: E402

PEER = os.environ.get("VERBATIM_SIP_PEER", "")


def options_request(transport, port, branch):
    return (f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} 127.0.0.1:1;branch=z9hG4bK-{branch}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:probe@127.0.0.1>\r\n"
            f"Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def open_many(port, sources, per_source, deadline):
    """Opens per_source TCP connections from each source address (non-blocking, in batches so
    the listen backlog never overflows); returns the connected sockets."""
    sel = selectors.DefaultSelector()
    connected, pending = [], []
    todo = [(ip, i) for ip in sources for i in range(per_source)]
    while (todo or pending) and time.time() < deadline:
        while todo and len(pending) < 256:
            ip, _ = todo.pop()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind((ip, 0))
            if s.connect_ex(("127.0.0.1", port)) not in (0, 115):  # EINPROGRESS
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE)
            pending.append(s)
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            sel.unregister(s)
            pending.remove(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                connected.append(s)
            else:
                s.close()
    for s in pending:
        s.close()
    sel.close()
    return connected


class SipReliabilityTest(VerbatimTestCase):
    def setUp(self):
        super().setUp()
        if not PEER:
            self.fail("needs the vb_sip_peer helper (built with the tests)")

    def start_uas(self, *extra):
        p = subprocess.Popen([PEER, "uas", "--listen", "127.0.0.1:0", *extra], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.servers.append(p)
        first = p.stdout.readline()
        self.assertIn("listening UDP", first, p.stderr.read() if p.poll() is not None else "")
        return p, int(first.split()[2])

    def stop_uas(self, p):
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        return json.loads(out.strip().splitlines()[-1])

    def test_t34_ten_thousand_idle_connections_do_not_lock_out_a_real_tls_client(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < 11000:
            self.fail(f"T34 needs 11,000 file descriptors; the hard limit here is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        key, cert = os.path.join(self.tmp, "key.pem"), os.path.join(self.tmp, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        timeout_ms = 8000
        uas, _ = self.start_uas("--tls-cert", cert, "--tls-key", key, "--max-connections", "10000",
                                "--max-per-ip", "64", "--message-timeout-ms", str(timeout_ms))
        line = uas.stdout.readline()
        self.assertIn("listening TLS", line)
        tls_port = int(line.split()[2])

        started = time.time()
        # 200 addresses x 50 idle connections (under the per-address cap of 64) ...
        sources = [f"127.1.{i // 100}.{i % 100 + 1}" for i in range(200)]
        idle = open_many(tls_port, sources, 50, started + 120)
        # ... and one address trying 100: only 64 are kept.
        flood = open_many(tls_port, ["127.2.0.1"], 100, started + 120)
        flood_seconds = time.time() - started
        self.assertGreaterEqual(len(idle), 9900, "the kernel accepted the idle connections")

        # A real client: TLS handshake with certificate verification, an OPTIONS, its 200.
        ctx = ssl.create_default_context(cafile=cert)
        with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(options_request("TLS", tls_port, "legit"))
                answer = tls.recv(65535)
        self.assertTrue(answer.startswith(b"SIP/2.0 200"), answer[:200])

        # The idle connections are cut once the timeout for a first message passes.
        time.sleep(timeout_ms / 1000 + 3)
        stats = self.stop_uas(uas)
        for s in idle + flood:
            s.close()
        print(f"\nT34: {len(idle) + len(flood)} connections opened in {flood_seconds:.1f} s; "
              f"server: {stats['tls_accepted']} accepted, {stats['tls_refused']} refused, "
              f"{stats['tls_evicted']} evicted, {stats['tls_timeouts']} timed out, "
              f"max RSS {stats['max_rss_kb'] // 1024} MiB", file=sys.stderr)
        self.assertGreaterEqual(stats["tls_refused"], 36, "the per-address cap held for the flood")
        self.assertGreaterEqual(stats["tls_evicted"], 1, "at capacity, the oldest idle one made room")
        self.assertGreaterEqual(stats["tls_timeouts"], 9000, "idle connections were cut")
        self.assertEqual(stats["options"], 1)
        self.assertLessEqual(stats["tls_open"], 1)


if __name__ == "__main__":
    unittest.main()
