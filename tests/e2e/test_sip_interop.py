"""Interop of Verbatim's SIP stack (parser, transactions, UDP transport) with a real peer,
SIPp, started by the test on loopback: SIPp as UAC against our UAS (clean and with 10 % packet
loss, so both sides retransmit), our UAC against SIPp as UAS, and hostile datagrams (RFC 4475
messages) answered or dropped without disturbing calls."""
import json
import os
import shutil
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import SOURCE_DIR, SIP_PEER, TESTDATA, SipPeerTestCase, free_tcp_udp_port, free_udp_port, main, needs_corpus, wait_until  # noqa: E402

PEER = SIP_PEER
SIPP = shutil.which("sipp")
KAMAILIO = shutil.which("kamailio") or ("/usr/sbin/kamailio" if os.path.exists("/usr/sbin/kamailio") else None)

# Kamailio as a record-routing stateful proxy in front of our UAS.
PROXY_CFG = """#!KAMAILIO
debug=1
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "maxfwd.so"
request_route {{
  if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
  if (has_totag()) {{
    if (loose_route()) {{ t_relay(); exit; }}
    if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    sl_send_reply("404", "Not here");
    exit;
  }}
  if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
  record_route();
  $du = "sip:127.0.0.1:{uas}";
  t_relay();
}}
"""
SCENARIOS = os.path.join(SOURCE_DIR, "tests", "interop", "scenarios")


def options_answered(port):
    """Whether something at 127.0.0.1:port answers an OPTIONS (a readiness probe)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    s.bind(("127.0.0.1", 0))
    me = s.getsockname()[1]
    msg = (f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-probe{me}\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:probe@127.0.0.1>\r\n"
           f"Call-ID: probe-{me}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    try:
        s.sendto(msg.encode(), ("127.0.0.1", port))
        return s.recv(65535).startswith(b"SIP/2.0")
    except OSError:
        return False
    finally:
        s.close()


class SipInteropTest(SipPeerTestCase):
    def setUp(self):
        super().setUp()
        if not SIPP:
            self.fail("needs SIPp (Debian package sip-tester; "
                      "scripts/bootstrap.sh installs it)")

    def sipp(self, *args, timeout=120):
        # Every port SIPp opens is one we picked, so parallel test runs do not collide.
        cmd = [SIPP, *args, "-nostdin", "-timeout", "60", "-mp", str(free_udp_port()),
               "-cp", str(free_udp_port())]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def test_sipp_uac_calls_our_uas(self):
        uas, port = self.start_uas()
        r = self.sipp("-sn", "uac", f"127.0.0.1:{port}", "-p", str(free_udp_port()), "-i", "127.0.0.1",
                      "-m", "30", "-r", "30", "-l", "15", "-d", "100")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        stats = self.stop_uas(uas)
        self.assertEqual(stats["invites"], 30)
        self.assertEqual(stats["acks"], 30)
        self.assertEqual(stats["byes"], 30)

    def test_sipp_uac_calls_our_uas_over_tcp(self):
        uas, port = self.start_uas()
        r = self.sipp("-sn", "uac", f"127.0.0.1:{port}", "-t", "t1", "-p", str(free_tcp_udp_port()),
                      "-i", "127.0.0.1", "-m", "20", "-r", "20", "-l", "10", "-d", "100")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        stats = self.stop_uas(uas)
        self.assertEqual(stats["invites"], 20)
        self.assertEqual(stats["byes"], 20)
        self.assertEqual(stats["tcp_connections"], 1, "one connection, reused for every call")

    def test_reinvite_puts_the_call_on_hold_inside_the_dialog(self):
        uas, port = self.start_uas()
        # The scenario checks that our answer to a=sendonly is a=recvonly (or inactive).
        r = self.sipp("-sf", os.path.join(SCENARIOS, "uac_reinvite.xml"), f"127.0.0.1:{port}",
                      "-p", str(free_udp_port()), "-i", "127.0.0.1", "-m", "10", "-r", "10")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        stats = self.stop_uas(uas)
        self.assertEqual((stats["invites"], stats["reinvites"], stats["byes"]), (10, 10, 10))
        self.assertEqual(stats["acks"], 20)
        self.assertEqual(stats["no_dialog"], 0)

    def test_cancel_while_ringing_gets_200_and_487(self):
        uas, port = self.start_uas()
        r = self.sipp("-sf", os.path.join(SCENARIOS, "uac_cancel.xml"), "-s", "ring",
                      f"127.0.0.1:{port}", "-p", str(free_udp_port()), "-i", "127.0.0.1",
                      "-m", "10", "-r", "10")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        stats = self.stop_uas(uas)
        self.assertEqual(stats["cancels"], 10)
        self.assertEqual(stats["invites"], 10)

    def test_digest_authenticated_register(self):
        # SIPp 3.6 answers only the first challenge and only knows MD5, so this registrar
        # offers MD5 alone (the default offers SHA-256 first, then MD5).
        uas, port = self.start_uas("--md5-only")
        scenario = os.path.join(SCENARIOS, "uac_register_auth.xml")
        r = self.sipp("-sf", scenario, "-s", "alice", "-au", "alice", "-ap", "s3cret",
                      f"127.0.0.1:{port}", "-p", str(free_udp_port()), "-i", "127.0.0.1", "-m", "5")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        r = self.sipp("-sf", scenario, "-s", "alice", "-au", "alice", "-ap", "wrong",
                      f"127.0.0.1:{port}", "-p", str(free_udp_port()), "-i", "127.0.0.1", "-m", "2",
                      "-default_behaviors", "none")
        self.assertNotEqual(r.returncode, 0, "a wrong password must not register")
        r = self.sipp("-sf", scenario, "-s", "nobody", "-au", "nobody", "-ap", "s3cret",
                      f"127.0.0.1:{port}", "-p", str(free_udp_port()), "-i", "127.0.0.1", "-m", "2",
                      "-default_behaviors", "none")
        self.assertNotEqual(r.returncode, 0)
        stats = self.stop_uas(uas)
        self.assertEqual(stats["registered"], 5)
        self.assertEqual(stats["auth_failures"], 4, "wrong password and unknown user: the same 403")

    def test_calls_through_kamailio_as_a_record_routing_proxy(self):
        if not KAMAILIO:
            self.fail("needs Kamailio (Debian package kamailio; scripts/bootstrap.sh installs it)")
        uas, uas_port = self.start_uas()
        proxy_port = free_udp_port()
        cfg = os.path.join(self.tmp, "proxy.cfg")
        with open(cfg, "w") as f:
            f.write(PROXY_CFG.format(port=proxy_port, uas=uas_port))
        proxy = subprocess.Popen([KAMAILIO, "-f", cfg, "-m", "64", "-DD", "-E", "-P",
                                  os.path.join(self.tmp, "k.pid"), "-Y", self.tmp, "-w", self.tmp],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.servers.append(proxy)
        # The re-INVITE and BYE follow the Record-Route set through the proxy (loose routing)
        # to our UAS, which must recognise its dialog from what arrives.
        self.assertTrue(wait_until(lambda: options_answered(proxy_port), timeout=10), "the proxy did not come up")
        r = self.sipp("-sf", os.path.join(SCENARIOS, "uac_reinvite.xml"), f"127.0.0.1:{proxy_port}",
                      "-p", str(free_udp_port()), "-i", "127.0.0.1", "-m", "10", "-r", "10")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        proxy.terminate()
        proxy.wait(timeout=10)
        stats = self.stop_uas(uas)
        self.assertEqual((stats["invites"], stats["reinvites"], stats["byes"]), (10, 10, 10))
        self.assertEqual(stats["no_dialog"], 0)

    def test_retransmissions_carry_calls_through_packet_loss(self):
        uas, port = self.start_uas()
        # SIPp drops 10 % of what it sends and receives: INVITE, 200, ACK, BYE are retransmitted
        # by whichever side owns them (our UAS retransmits its 2xx until the ACK arrives).
        r = self.sipp("-sn", "uac", f"127.0.0.1:{port}", "-p", str(free_udp_port()), "-i", "127.0.0.1",
                      "-m", "30", "-r", "30", "-l", "15", "-d", "100", "-lost", "10")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        stats = self.stop_uas(uas)
        self.assertEqual(stats["invites"], 30, "every call is one INVITE transaction, retransmitted or not")
        # SIPp's built-in uac takes any 200 after its BYE as the BYE's answer, so when its ACK
        # was lost and our 2xx retransmission arrives then, it may finish a call whose BYE we
        # never saw. Most BYEs arrive.
        self.assertGreaterEqual(stats["byes"], 25)

    def uac_against_sipp(self, sipp_args, uac_args, calls, budget=120):
        """Runs our UAC (Verbatim's UserAgent) against SIPp as the UAS, bounded by `budget`
        seconds; returns our counters and SIPp's exit status."""
        port = free_udp_port()
        sipp = subprocess.Popen([SIPP, *sipp_args, "-i", "127.0.0.1", "-p", str(port), "-m", str(calls),
                                 "-nostdin", "-timeout", str(budget - 20), "-mp", str(free_udp_port()),
                                 "-cp", str(free_udp_port())],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.servers.append(sipp)
        r = subprocess.run([PEER, "uac", "--listen", "127.0.0.1:0", "--to", f"127.0.0.1:{port}",
                            "--calls", str(calls), "--hold-ms", "50", *uac_args],
                           capture_output=True, text=True, timeout=budget)
        self.assertIn("listening UDP", r.stdout, r.stderr)
        counters = json.loads(r.stdout.strip().splitlines()[-1])
        try:
            sipp.wait(timeout=60)
        except subprocess.TimeoutExpired:
            sipp.kill()
            sipp.wait()
        return r, counters, sipp.returncode

    def test_our_uac_calls_sipp_uas(self):
        r, counters, sipp_rc = self.uac_against_sipp(["-sn", "uas"], [], 10)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(counters["completed"], 10)
        self.assertEqual(sipp_rc, 0)

    def test_our_uac_answers_sipp_digest_challenges(self):
        # SIPp challenges each INVITE with 401 and checks our answer with verifyauth.
        scenario = ["-sf", os.path.join(SCENARIOS, "uas_auth.xml")]
        r, counters, sipp_rc = self.uac_against_sipp(scenario, ["--user", "alice", "--password", "s3cret"], 3)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(counters["completed"], 3)
        self.assertEqual(sipp_rc, 0)
        # A wrong password: one answer, SIPp's 403 ends the call; no retry loop.
        r, counters, _ = self.uac_against_sipp(scenario, ["--user", "alice", "--password", "guess"], 1)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(counters["failed"], 1)
        self.assertIn("call failed with 403", r.stderr)

    def test_our_uac_cancels_and_reinvites_against_sipp(self):
        r, counters, sipp_rc = self.uac_against_sipp(["-sf", os.path.join(SCENARIOS, "uas_cancel.xml")],
                                                     ["--cancel-after-ms", "200"], 3)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(counters["completed"], 3, "each call ended with 487 after our CANCEL")
        self.assertEqual(sipp_rc, 0, "SIPp got the CANCEL and the ACK of its 487")
        r, counters, sipp_rc = self.uac_against_sipp(["-sf", os.path.join(SCENARIOS, "uas_reinvite.xml")],
                                                     ["--reinvite"], 3)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(counters["reinvites"], 3)
        self.assertEqual(sipp_rc, 0, "SIPp saw a=sendonly in each re-INVITE and got every ACK")

    def test_our_uac_completes_calls_through_packet_loss(self):
        # SIPp drops 10 % of the messages: our INVITE/BYE retransmissions and our ACKs for
        # its retransmitted 2xx carry the calls. When SIPp drops its own 200 to our BYE, it
        # ignores the retransmitted BYE of a call it has finished, so that BYE transaction runs
        # to timer F (32 s): 10 calls within 300 s (20 within 120 s failed about one run in
        # eight under ASan).
        r, counters, _ = self.uac_against_sipp(["-sn", "uas", "-lost", "10"], [], 10, budget=300)
        self.assertEqual(counters["failed"] + counters["completed"], 10, r.stderr)
        self.assertGreaterEqual(counters["completed"], 9, r.stderr)

    @needs_corpus("sip-torture")
    def test_hostile_datagrams_get_400_or_are_dropped_and_calls_go_on(self):
        uas, port = self.start_uas()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        torture = os.path.join(TESTDATA, "sip-torture")
        # An invalid request that can be answered: 400 naming the problem.
        with open(os.path.join(torture, "badinv01.dat"), "rb") as f:
            s.sendto(f.read(), ("127.0.0.1", port))
        answer = s.recv(65535).decode("latin-1")
        self.assertTrue(answer.startswith("SIP/2.0 400"), answer)
        self.assertIn("Warning: 399 verbatim", answer)
        self.assertIn("empty parameter", answer)
        # Wrong version: 505.
        with open(os.path.join(torture, "badvers.dat"), "rb") as f:
            s.sendto(f.read(), ("127.0.0.1", port))
        self.assertTrue(s.recv(65535).startswith(b"SIP/2.0 505"))
        # Garbage, a malformed response, keep-alives: no answer at all.
        for junk in (b"\x00\xff" * 300, open(os.path.join(torture, "bigcode.dat"), "rb").read(), b"\r\n\r\n"):
            s.sendto(junk, ("127.0.0.1", port))
        # And the UAS still answers a well-formed OPTIONS (RFC 4475 zeromf: Max-Forwards 0 is
        # fine for the target UAS).
        with open(os.path.join(torture, "zeromf.dat"), "rb") as f:
            s.sendto(f.read(), ("127.0.0.1", port))
        answer = s.recv(65535).decode("latin-1")
        self.assertTrue(answer.startswith("SIP/2.0 200"), answer)
        self.assertIn("received=127.0.0.1", answer, "RFC 3261 §18.2.1 received stamped on the Via")
        s.close()
        stats = self.stop_uas(uas)
        self.assertEqual(stats["rejected"], 2)
        self.assertEqual(stats["dropped"], 2)
        self.assertEqual(stats["options"], 1)


if __name__ == "__main__":
    main()
