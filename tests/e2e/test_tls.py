"""TLS everywhere (issue 15, reliability test T35): SIP over TLS on the gateway and the recorder,
mutual TLS from the gateway to its recorders with the SRTP keys inside it, HTTPS for the REST
API; the protocol floor (TLS 1.2+, forward-secret AEAD suites only) checked by real TLS clients;
SDES keys refused over plain SIP; no downgrade to plain RTP when SRTP is required."""
import base64
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import unittest
import urllib.request
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from helpers import BIN, LoopbackUdpServer, free_port_block, main, wait_until  # noqa: E402
from sip_ua import Message, SipUA, TlsSipUA  # noqa: E402
from test_gateway import SETUP, CALLEE, GatewayTestCase, caller_scenario  # noqa: E402
from test_sip_softphone import BARESIP, MODULES, Baresip  # noqa: E402
from video_media import FFMPEG, send_video  # noqa: E402
from video_media import ports as ports_of  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)  # ssl.TLSVersion.TLSv1_1 below


class TlsTestCase(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.certs = tempfile.mkdtemp(prefix="vb_tls_")
        subprocess.run([BIN, "tls", "init", "--dir", cls.certs], check=True, capture_output=True)
        cls.ca = os.path.join(cls.certs, "ca.crt")
        cls.cert = (os.path.join(cls.certs, "server.crt"), os.path.join(cls.certs, "server.key"))

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.certs, ignore_errors=True)

    def tls_section(self):
        return (f'[tls]\ncertificate = "{self.cert[0]}"\nprivate_key = "{self.cert[1]}"\n'
                f'ca_file = "{self.ca}"\n')

    def serve(self, roles, gateway=None, recorder=None, https=False):
        """`verbatim serve --roles ...` with TLS listeners; returns the process and the addresses it
        printed, by role and scheme."""
        base = free_port_block()
        cfg = os.path.join(self.tmp, f"tls-{len(self.servers)}.toml")
        with open(cfg, "w") as f:
            f.write(self.tls_section())
            f.write("[archive]\nflush_interval_ms = 200\nmin_free_mb = 0\n")
            f.write(f"[admin_api]\nlisten = \"127.0.0.1:0\"\ntls = {'true' if https else 'false'}\n")
            values = {"recorder": {"sip_listen": "127.0.0.1:0", "tls_listen": "127.0.0.1:0", "min_free_mb": 0,
                                   "rtp_port_min": base, "rtp_port_max": base + 99, "transcription": "none",
                                   **(recorder or {})},
                      "gateway": {"sip_listen": "127.0.0.1:0", "tls_listen": "127.0.0.1:0",
                                  "rtp_port_min": base + 100, "rtp_port_max": base + 199,
                                  "digest_algorithms": ["MD5"], "recording_setup_timeout_ms": 3000,
                                  **(gateway or {})}}
            for section, kv in values.items():
                f.write(f"[{section}]\n")
                for k, v in kv.items():
                    f.write(f"{k} = {json.dumps(v)}\n")
        log = os.path.join(self.tmp, f"serve-{len(self.servers)}.log")
        err = open(log, "a")
        p = subprocess.Popen([BIN, "--config", cfg, "serve", "--roles", roles], stdout=subprocess.PIPE,
                             stderr=err, text=True, env=self.env)
        err.close()
        self.servers.append(p)
        p.log = log
        found = {}
        for _ in roles.split(","):
            line = p.stdout.readline()
            for m in re.finditer(r"(https?|sips?|wss?)://?(127\.0\.0\.1):(\d+)|(sips?):(127\.0\.0\.1):(\d+)", line):
                scheme = m.group(1) or m.group(4)
                port = int(m.group(3) or m.group(6))
                found[line.split()[0] + ":" + scheme] = port
        self.assertTrue(found, open(log).read())
        return p, found

    def tls_tenant(self, **gateway):
        """A recorder reached over TLS, Alice recorded by it, and a gateway requiring SRTP: the
        recorder's process and the gateway's TLS port."""
        rec, rports = self.serve("recorder")
        self.policy([])
        self.admin("New-VbRecorderEndpoint -ApplicationId 11111111-2222-4333-8444-555555555555 "
                   f"-Uri 'sip:srs@127.0.0.1:{rports['recorder:sips']};transport=tls' -Region EUR")
        _, ports = self.serve("gateway", gateway={"require_srtp": True, **gateway})
        return rec, ports["gateway:sips"]

    def tls_phone(self, phones, user, password, tls, extra=""):
        """A baresip phone registered over TLS with mandatory SRTP (appended to `phones`)."""
        b = Baresip(os.path.join(self.tmp, user), "", f"sip_cafile {self.ca}\nmodule srtp.so\n")
        phones.append(b)
        b.command("uanew", f'<sip:{user}@contoso.com;transport=tls>;auth_pass={password};'
                           f'outbound="sip:127.0.0.1:{tls};transport=tls";regint=600;mediaenc=srtp-mand{extra}')
        b.wait_event({"REGISTER_OK"})
        return b

    def handshake(self, port, ctx, hostname="127.0.0.1"):
        """Whether a TLS handshake with `ctx` succeeds; the negotiated version and cipher."""
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            t = ctx.wrap_socket(s, server_hostname=hostname)
            out = (t.version(), t.cipher()[0])
            t.close()
            return out
        except (ssl.SSLError, OSError, ConnectionError):
            s.close()
            return None

    def client(self, minimum=None, maximum=None, ciphers=None, cert=False):
        ctx = ssl.create_default_context(cafile=self.ca)
        if minimum:
            ctx.minimum_version = minimum
        if maximum:
            ctx.maximum_version = maximum
        if ciphers:
            ctx.set_ciphers(ciphers)
        if cert:
            ctx.load_cert_chain(*self.cert)
        return ctx


class TlsScanTest(TlsTestCase):
    def test_t35_tls_config_scan_on_sip_tls_and_https(self):
        """What testssl would find: TLS 1.2 and 1.3 only, forward-secret AEAD suites only, on the
        gateway's and recorder's SIP-TLS ports and the HTTPS REST API; the recorder requires a client
        certificate (mutual TLS for recording clients)."""
        p, ports = self.serve("admin-api,recorder,gateway", https=True)
        gw, rec, api = ports["gateway:sips"], ports["recorder:sips"], ports["admin-api:https"]
        old = self.client(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1, "DEFAULT:@SECLEVEL=0")
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        cbc = self.client(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2,
                          "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:AES128-SHA:@SECLEVEL=0")
        for name, port, cert in (("gateway", gw, False), ("recorder", rec, True), ("https", api, False)):
            with self.subTest(name):
                self.assertIsNone(self.handshake(port, old), "TLS 1.0/1.1 must be refused")
                if cert:
                    cbc.load_cert_chain(*self.cert)
                self.assertIsNone(self.handshake(port, cbc), "CBC / non-AEAD suites must be refused")
                v12 = self.handshake(port, self.client(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2,
                                                       cert=cert))
                self.assertIsNotNone(v12)
                self.assertIn("ECDHE", v12[1])
                self.assertTrue("GCM" in v12[1] or "CHACHA20" in v12[1], v12)
                self.assertEqual(self.handshake(port, self.client(cert=cert))[0], "TLSv1.3")
                self.assertIsNone(self.handshake(port, self.client(cert=cert), hostname="evil.example"),
                                  "our name is checked by clients that verify")
        # A recording client without a certificate: refused (in TLS 1.3 the server's alert comes
        # after the client's Finished, so the refusal shows when it tries to talk).
        t = self.client().wrap_socket(socket.create_connection(("127.0.0.1", rec), timeout=5),
                                      server_hostname="127.0.0.1")
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            t.sendall(b"OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n")
            if not t.recv(100):
                raise ConnectionError("closed")
        t.close()
        # HTTPS answers with HSTS; plain HTTP to it gets no answer.
        with urllib.request.urlopen(f"https://127.0.0.1:{api}/healthz",
                                    context=self.client(), timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("max-age", r.headers["Strict-Transport-Security"])
        with self.assertRaises(Exception):
            urllib.request.urlopen(f"http://127.0.0.1:{api}/healthz", timeout=5).read()


    def test_clients_resume_their_tls_sessions(self):
        """A client that reconnects with the session of its last connection (stunnel, phones and
        SBCs do: it spares a full handshake) is served, and the session is resumed: with TLS 1.2
        (session ids) and TLS 1.3 (tickets), on SIP-TLS and HTTPS. Found by the TLS benchmark:
        the second connection of a resuming client was reset."""
        p, ports = self.serve("admin-api,recorder,gateway", https=True)
        sip = (b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bK%d\r\n"
               b"Max-Forwards: 70\r\nFrom: <sip:t@example.com>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
               b"Call-ID: resume-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        http = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        n = 0
        for name, port, cert, request, answer in (
                ("gateway", ports["gateway:sips"], False, sip, b"SIP/2.0 "),
                ("recorder", ports["recorder:sips"], True, sip, b"SIP/2.0 "),
                ("https", ports["admin-api:https"], False, http, b"HTTP/1.1 200")):
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                with self.subTest(name, version=version.name):
                    ctx = self.client(version, version, cert=cert)
                    session = None
                    for attempt in range(2):
                        n += 1
                        t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                            server_hostname="127.0.0.1", session=session)
                        t.sendall(request.replace(b"%d", str(n).encode()))
                        got = t.recv(200)  # TLS 1.3 tickets arrive before it
                        self.assertTrue(got.startswith(answer), f"connection {attempt + 1}: {got!r}")
                        if attempt:
                            self.assertTrue(t.session_reused, "the session was not resumed")
                        session = t.session
                        t.close()


class TlsCallTest(TlsTestCase):
    def test_gateway_records_over_mutual_tls_with_srtp_keys_inside_it(self):
        """SIPp phones (plain UDP) call through the gateway; the recorder is reached over TLS with
        the gateway's client certificate, and its copies are SRTP with keys that only travel inside
        that TLS connection."""
        rec, rports = self.serve("recorder")
        rec_tls = rports["recorder:sips"]
        self.policy([])
        self.admin("New-VbRecorderEndpoint -ApplicationId 11111111-2222-4333-8444-555555555555 "
                   f"-Uri 'sip:srs@127.0.0.1:{rec_tls};transport=tls' -Region EUR")
        gw, gports = self.serve("gateway")
        gw_port = gports["gateway:sip"]
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=2000), "alice", "alice-secret-1",
                          "alice")
        self.wait_sipp(alice)
        self.wait_sipp(bob)
        c = wait_until(self.calls, 10)[0]
        leg = c["recordings"][0]["applications"][0]["instances"][0]
        self.assertEqual(leg["state"], "ended", leg)
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        rid = re.search(r"recording (\w+) started", open(rec.log).read()).group(1)
        shown = json.loads(self.run_vb("archive", "show", rid, check=0).stdout)
        self.assertNotIn("untrustedGatewayHeaders", shown["metadata"])
        sig = [o["id"] for o in shown["objects"] if o["kind"] == "signalling"][0]
        signalling = self.run_vb("archive", "cat", sig, check=0).stdout
        self.assertIn("RTP/SAVP", signalling)
        self.assertIn("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:", signalling)
        self.assertIn("SIP/2.0/TLS", signalling)  # the session's requests came over TLS
        self.assertGreater(shown["metadata"]["streams"][0]["packets"], 50)

    def test_sdes_keys_only_over_tls(self):
        """An SRTP offer over plain SIP is refused (its keys crossed the network in the clear);
        the same offer over TLS connects, phone to phone, both on TLS."""
        self.admin(SETUP)
        gw, ports = self.serve("gateway")
        udp, tls = ports["gateway:sip"], ports["gateway:sips"]
        plain = SipUA("alice", "alice-secret-1", udp)
        call_id, tag = os.urandom(8).hex(), os.urandom(4).hex()
        uri = "sip:bob@contoso.com"
        savp = TlsSipUA.sdp(type("K", (), {"media": plain.media, "key": "A" * 40})())
        plain.send(plain.request("INVITE", uri, call_id, tag, f"<{uri}>", 1, body=savp))
        r = plain.wait_response(call_id, "INVITE")
        plain.send(plain.request("ACK", uri, call_id, tag, r.get("to"), 1, branch=plain.branch))
        auth = plain.authorization(r.get("www-authenticate"), "INVITE", uri)
        plain.send(plain.request("INVITE", uri, call_id, tag, f"<{uri}>", 2, auth, body=savp))
        r = plain.wait_response(call_id, "INVITE")
        self.assertEqual(r.status, 488, str(r))
        self.assertIn("only over TLS", r.get("warning"))
        plain.close()
        bob = TlsSipUA("bob", "bob-secret-22", tls, self.ca)
        bob.register()
        alice = TlsSipUA("alice", "alice-secret-1", tls, self.ca)
        answered = {}
        t = threading.Thread(target=lambda: answered.setdefault("d", bob.answer()), daemon=True)
        t.start()
        d = alice.call("bob")
        t.join(timeout=20)
        self.assertIn("d", answered, "\n".join(bob.log))

        alice.in_dialog(d, "BYE")
        alice.close()
        bob.close()


class BaresipTlsTest(TlsTestCase):
    def test_baresip_registers_and_calls_over_tls_with_srtp_and_is_recorded(self):
        """baresip (a real softphone) on both ends, signalling over TLS (verifying the gateway's
        certificate against our CA) and media as SDES-SRTP; the call is recorded."""
        if not BARESIP or not os.path.isdir(MODULES):
            self.fail("needs baresip (Debian package baresip-core; scripts/bootstrap.sh installs it)")
        rec, tls = self.tls_tenant()
        phones = []

        def phone(user, password, extra=""):
            return self.tls_phone(phones, user, password, tls, extra)

        try:
            bob = phone("bob", "bob-secret-22", ";answermode=auto")
            alice = phone("alice", "alice-secret-1")
            alice.command("dial", "sip:bob@contoso.com")
            alice.wait_event({"CALL_ESTABLISHED"})
            bob.wait_event({"CALL_ESTABLISHED"})
            time.sleep(4)
            alice.command("hangup")
            alice.wait_event({"CALL_CLOSED"})
        finally:
            for b in phones:
                b.stop()
        c = wait_until(self.calls, 10)[0]
        self.assertEqual((c["status"], c["caller"]["recorded"]), (200, True), c)
        media = c["media"][0]
        self.assertGreater(media["fromCaller"], 100, media)  # SRTP authenticated and relayed
        self.assertGreater(media["fromCallee"], 100, media)
        leg = c["recordings"][0]["applications"][0]["instances"][0]
        self.assertEqual(leg["state"], "ended", leg)

    def test_baresip_phones_join_a_recorded_meeting_over_tls_with_srtp(self):
        """Two baresip phones, signalling over TLS and media as SDES-SRTP (mandatory on their side;
        required by the gateway), join a meeting that records Alice: the gateway decrypts what each
        sends before mixing and copying it, sends each its mix encrypted, and the recorder (over
        TLS; with SRTP required its leg is SRTP too) gets both voices."""
        if not BARESIP or not os.path.isdir(MODULES):
            self.fail("needs baresip (Debian package baresip-core; scripts/bootstrap.sh installs it)")
        rec, tls = self.tls_tenant()
        made = self.run_vb("meeting", "create", "--organizer", "alice@contoso.com", "--subject", "Rates desk",
                           "--json", check=0)
        uri = f"sip:meet-{json.loads(made.stdout)['id']}@contoso.com"
        phones = []

        def phone(user, password):
            return self.tls_phone(phones, user, password, tls)

        def members():
            with open(os.path.join(self.data, "gateway-status.json")) as f:
                meetings = json.load(f)["meetings"]
            return meetings[0]["members"] if meetings else []

        try:
            alice = phone("alice", "alice-secret-1")
            bob = phone("bob", "bob-secret-22")
            for b in (alice, bob):
                b.command("dial", uri)
                b.wait_event({"CALL_ESTABLISHED"})
            heard = wait_until(lambda: len(members()) == 2 and all(m["packetsIn"] > 100 for m in members()), 15)
            self.assertTrue(heard, members())
            for m in members():
                self.assertTrue(m["srtp"], m)
                self.assertNotIn("srtpFailed", m)
                self.assertGreater(m["packetsOut"], 100, m)  # the mix, sent back encrypted
            for b in (alice, bob):
                b.command("hangup")
                b.wait_event({"CALL_CLOSED"})
        finally:
            for b in phones:
                b.stop()
        self.assertTrue(wait_until(lambda: not members(), 10), members())
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        started = re.findall(r"recording (\w+) started", open(rec.log).read())
        self.assertEqual(len(started), 1, "one session for the meeting")
        md = json.loads(self.run_vb("archive", "show", started[0], check=0).stdout)["metadata"]
        self.assertEqual(sorted(p["aor"] for p in md["participants"]),
                         ["sip:alice@contoso.com", "sip:bob@contoso.com"], md)
        for p in md["participants"]:  # each voice, on a stream of its own
            streams = [x for x in md["streams"] if x["label"] in p["sendsOnLabels"]]
            self.assertGreater(sum(x["packets"] for x in streams), 100, md["streams"])


@unittest.skipUnless(FFMPEG, "ffmpeg is not installed (scripts/bootstrap.sh installs it)")
class SrtpMeetingVideoTest(TlsTestCase):
    def test_a_camera_sent_as_srtp_by_ffmpeg_is_decrypted_and_recorded_decodable(self):
        """A meeting member over TLS offers SDES-SRTP audio and a VP8 camera (SRTP required), and
        ffmpeg sends the camera as SRTP: the gateway authenticates and decrypts every packet, the
        recorder keeps the camera, and the playback job makes a WebM file of it that decodes."""
        rec, tls = self.tls_tenant()
        made = self.run_vb("meeting", "create", "--organizer", "alice@contoso.com", "--subject", "Video desk",
                           "--json", check=0)
        meeting = json.loads(made.stdout)["id"]
        ua = TlsSipUA("alice", "alice-secret-1", tls, self.ca)
        self.addCleanup(ua.close)
        camera = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        camera.bind(("127.0.0.1", 0))
        self.addCleanup(camera.close)
        camera_key = base64.b64encode(os.urandom(30)).decode()
        sdp = (ua.sdp() + f"m=video {camera.getsockname()[1]} RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
               f"a=rtcp-fb:96 nack pli\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{camera_key}\r\n")
        d = ua.call(f"meet-{meeting}", sdp=sdp, talk=False)
        self.assertIn(" RTP/SAVPF 96\r\n", d.answer)
        self.assertEqual(d.answer.count("a=crypto:"), 2, d.answer)  # a key of ours for each line
        sender = send_video(ports_of(d.answer)[1], "VP8", 3, 0xA11CE, "testsrc", srtp_key=camera_key)
        _, err = sender.communicate(timeout=30)
        self.assertEqual(sender.returncode, 0, err)

        def member():
            with open(os.path.join(self.data, "gateway-status.json")) as f:
                meetings = json.load(f)["meetings"]
            return meetings[0]["members"][0] if meetings else {}
        self.assertTrue(wait_until(lambda: member().get("video", {}).get("packetsIn", 0) > 50, 5), member())
        m = member()
        self.assertTrue(m["srtp"], m)
        self.assertNotIn("srtpFailed", m)  # every packet authenticated
        self.assertGreaterEqual(m["video"]["keyframesIn"], 2, m)  # decrypted: its keyframes are seen
        self.assertEqual(ua.in_dialog(d, "BYE").status, 200)
        jobs = []

        def played():
            nonlocal jobs
            r = self.run_vb("jobs", "list", "--json")
            jobs = json.loads(r.stdout) if r.returncode == 0 else []
            return any(j["state"] == "done" and j["kind"] == "playback" for j in jobs)
        self.assertTrue(wait_until(played, 60), jobs)
        recording = re.findall(r"recording (\w+) started", open(rec.log).read())[0]
        shown = json.loads(self.run_vb("archive", "show", recording, check=0).stdout)
        videos = shown["metadata"]["playback"].get("videos", [])
        self.assertEqual([v["codec"] for v in videos], ["VP8"], shown["metadata"]["playback"])
        self.assertGreater(videos[0]["frames"], 60, videos[0])

class FakeDns(LoopbackUdpServer):
    """A tiny authoritative DNS server on loopback: A and SRV records from a table, NXDOMAIN for
    other names (c-ares, through the gateway's RFC 3263 resolver, asks it)."""

    def __init__(self, records):
        super().__init__()
        self.records = records  # {(name, type): [rdata bytes]}
        self.questions = []
        self.start()

    @staticmethod
    def name(n):
        return b"".join(bytes([len(p)]) + p.encode() for p in n.rstrip(".").split(".")) + b"\0"

    @classmethod
    def srv(cls, prio, weight, port, target):
        return struct.pack("!HHH", prio, weight, port) + cls.name(target)

    @staticmethod
    def a(ip):
        return socket.inet_aton(ip)

    def on_datagram(self, data, peer):
        qid, flags, qd = struct.unpack("!HHH", data[:6])
        i, labels = 12, []
        while data[i]:
            labels.append(data[i + 1:i + 1 + data[i]].decode().lower())
            i += 1 + data[i]
        qtype = struct.unpack("!H", data[i + 1:i + 3])[0]
        question = data[12:i + 5]
        qname = ".".join(labels)
        self.questions.append((qname, qtype))
        answers = self.records.get((qname, qtype), [])
        known = any(k[0] == qname for k in self.records)
        rcode = 0 if known else 3
        out = struct.pack("!HHHHHH", qid, 0x8400 | rcode, 1, len(answers), 0, 0) + question
        for rd in answers:
            out += b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 60, len(rd)) + rd
        self.sock.sendto(out, peer)


class HostNameEndpointTest(TlsTestCase):
    def test_recorder_endpoints_with_host_names_fail(self):
        """sip:srs@rec-dr.test;transport=tls is resolved (RFC 3263: SRV _sips._tcp, then A): the
        first SRV target is dead, the gateway fails over to the second, verifies its certificate
        for the URI's host name, and records the call there."""
        import tempfile
        certs = tempfile.mkdtemp(prefix="vb_tls_dr_", dir=self.tmp)
        subprocess.run([BIN, "tls", "init", "--dir", certs, "--name", "rec-dr.test", "--ip", "127.0.0.1"],
                       check=True, capture_output=True)
        self.__class__.cert = (os.path.join(certs, "server.crt"), os.path.join(certs, "server.key"))
        self.__class__.ca = os.path.join(certs, "ca.crt")
        rec, rports = self.serve("recorder")
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        dns = FakeDns({
            ("_sips._tcp.rec-dr.test", 33): [FakeDns.srv(10, 0, dead.getsockname()[1], "a.rec-dr.test"),
                                             FakeDns.srv(20, 0, rports["recorder:sips"], "b.rec-dr.test")],
            ("a.rec-dr.test", 1): [FakeDns.a("127.0.0.1")],
            ("b.rec-dr.test", 1): [FakeDns.a("127.0.0.1")],
            ("rec-dr.test", 1): [FakeDns.a("127.0.0.1")],
        })
        self.addCleanup(dns.stop)
        self.addCleanup(dead.close)
        self.policy([])
        self.admin("New-VbRecorderEndpoint -ApplicationId 11111111-2222-4333-8444-555555555555 "
                   "-Uri 'sip:srs@rec-dr.test;transport=tls' -Region EUR")
        gw, gports = self.serve("gateway", gateway={"dns_servers": f"127.0.0.1:{dns.port}",
                                                     "health_check_interval_ms": 300,
                                                     "recording_setup_timeout_ms": 5000})
        self.assertIn(("_sips._tcp.rec-dr.test", 33), dns.questions)
        # The health checks find the first target dead and move to the second.
        self.assertTrue(wait_until(lambda: "takes over" in open(gw.log).read(), 10), open(gw.log).read())
        c = self.connected_call(gports["gateway:sip"])
        leg = c["recordings"][0]["applications"][0]["instances"][0]
        self.assertEqual((c["status"], leg["state"]), (200, "ended"), c)
        self.assertIn("recording", open(rec.log).read())


class SrtpDowngradeTest(TlsTestCase):
    def test_require_srtp_refuses_a_recorder_that_answers_plain_rtp(self):
        """With gateway.require_srtp, a recorder that answers the SRTP offer with plain RTP is not
        used (no downgrade): the required recording fails and the call is refused."""
        fake = socket.socket()
        fake.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        fake.bind(("127.0.0.1", 0))
        fake.listen(4)
        fake_port = fake.getsockname()[1]
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.ca)
        server_ctx.load_cert_chain(*self.cert)
        got = []

        def plain_recorder():
            """A recorder over TLS that answers every offer with plain RTP (and OPTIONS with 200)."""
            conn, _ = fake.accept()
            t = server_ctx.wrap_socket(conn, server_side=True)
            t.settimeout(15)
            data = b""
            try:
                while True:
                    while b"\r\n\r\n" not in data:
                        chunk = t.recv(65535)
                        if not chunk:
                            return
                        data += chunk
                    head, _, rest = data.partition(b"\r\n\r\n")
                    m = re.search(rb"^Content-Length:\s*(\d+)", head, re.M | re.I)
                    length = int(m.group(1)) if m else 0
                    while len(rest) < length:
                        rest += t.recv(65535)
                    data = rest[length:]
                    text = head.decode()
                    method = text.split(" ", 1)[0]
                    if method == "ACK" or text.startswith("SIP/2.0"):
                        continue
                    got.append(text)
                    keep = [line for line in text.split("\r\n")[1:]
                            if re.match(r"^(Via|From|To|Call-ID|CSeq):", line, re.I)]
                    keep = [k + (";tag=plain" if k.lower().startswith("to:") and "tag=" not in k else "")
                            for k in keep]
                    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                           "m=audio 40002 RTP/AVP 8\r\na=recvonly\r\nm=audio 40004 RTP/AVP 8\r\na=recvonly\r\n"
                           if method == "INVITE" else "")
                    t.sendall(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) +
                               f"\r\nContact: <sip:srs@127.0.0.1:{fake_port};transport=tls>\r\n" +
                               ("Content-Type: application/sdp\r\n" if sdp else "") +
                               f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode())
            except (OSError, ssl.SSLError):
                return

        threading.Thread(target=plain_recorder, daemon=True).start()
        self.policy([])
        self.admin("New-VbRecorderEndpoint -ApplicationId 11111111-2222-4333-8444-555555555555 "
                   f"-Uri 'sip:srs@127.0.0.1:{fake_port};transport=tls' -Region EUR")
        gw, ports = self.serve("gateway", gateway={"require_srtp": True})
        bob = TlsSipUA("bob", "bob-secret-22", ports["gateway:sips"], self.ca)
        bob.register()
        alice = TlsSipUA("alice", "alice-secret-1", ports["gateway:sips"], self.ca)
        with self.assertRaises(AssertionError) as refused:
            alice.call("bob")
        self.assertIn("480", str(refused.exception))
        self.assertTrue(any(g.startswith("INVITE") for g in got), got)
        self.assertTrue(wait_until(lambda: "answered our SRTP offer with plain RTP" in open(gw.log).read(), 5),
                        open(gw.log).read()[-2000:])
        alice.close()
        bob.close()
        fake.close()


if __name__ == "__main__":
    main()
