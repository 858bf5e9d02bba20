#!/usr/bin/env python3
"""Meetings (issue 19) against the running gateway: a meeting scheduled with the CLI is joined
by phones that call its URI, and each hears everyone else's audio mixed, never its own
(mix-minus); what cannot join is refused with a clear status."""
import json
import math
import os
import re
import signal
import socket
import subprocess
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from helpers import main, wait_until  # noqa: E402
from rtp_sender import rtp, ulaw  # noqa: E402
from sip_ua import SipUA  # noqa: E402
from test_gateway import BIN, SETUP, GatewayTestCase  # noqa: E402
from test_recorder import g711, read_pcap, rtp_fields  # noqa: E402

PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-22", "carol": "carol-secret-3"}


def alaw(sample):
    """ITU-T G.711 A-law encoding of one 16-bit sample."""
    sign = 0x80 if sample >= 0 else 0
    if sample < 0:
        sample = -sample - 1
    sample = min(sample, 32767) >> 3
    if sample < 32:
        code = sample >> 1
    else:
        seg = sample.bit_length() - 5
        code = (seg << 4) | ((sample >> seg) & 0x0F)
    return (sign | code) ^ 0x55


def presence(pcm, hz, rate=8000):
    """How strongly `hz` is in `pcm` (Goertzel) relative to its energy: ~1 pure, ~0 absent."""
    w = 2 * math.pi * hz / rate
    c = 2 * math.cos(w)
    s1 = s2 = energy = 0.0
    for x in pcm:
        s1, s2 = x + c * s1 - s2, s1
        energy += x * x
    power = s1 * s1 + s2 * s2 - c * s1 * s2
    return 2 * power / (energy * len(pcm)) if energy else 0.0


class Participant:
    """A phone in the meeting: sends its own tone (G.711, 20 ms packets) and keeps what it hears."""

    def __init__(self, ua, pt, hz):
        self.ua, self.pt, self.hz = ua, pt, hz
        self.heard = []  # (seq, payload) of each packet of the mix
        self.pts = set()
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.sent = {}  # seq -> the payload it sent

    def sdp(self):
        name = "PCMU" if self.pt == 0 else "PCMA"
        return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {self.ua.media.getsockname()[1]} RTP/AVP {self.pt} 101\r\n"
                f"a=rtpmap:{self.pt} {name}/8000\r\na=rtpmap:101 telephone-event/8000\r\n")

    def run(self, answer, seconds):
        port = int(answer.split("m=audio ")[1].split()[0])
        ssrc = self.ssrc
        encode = ulaw if self.pt == 0 else alaw
        stop = time.monotonic() + seconds

        def receive():
            self.ua.media.settimeout(0.2)
            while time.monotonic() < stop + 0.5:
                try:
                    data = self.ua.media.recv(2048)
                except socket.timeout:
                    continue
                except OSError:
                    return
                _, seq, _, pt, payload = rtp_fields(data)
                self.pts.add(pt)
                self.heard.append((seq, payload))

        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        start = time.monotonic()
        for n in range(seconds * 50):
            samples = [int(6000 * math.sin(2 * math.pi * self.hz * (n * 160 + i) / 8000)) for i in range(160)]
            self.sent[n] = bytes(encode(s) for s in samples)
            self.ua.media.sendto(rtp(self.pt, n, n * 160, ssrc, self.sent[n]), ("127.0.0.1", port))
            time.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))
        reader.join()

    def pcm(self):
        out = []
        for _, payload in sorted(self.heard, key=lambda p: p[0]):
            out += g711(payload, self.pt == 8)
        return out


def send_dtmf(sock, port, keys, pt=101):
    """Keys as RFC 4733 events, as a phone sends them: each key 3 packets while held (the first
    with the marker), then its end 3 times, all with the key's timestamp; 20 ms apart."""
    ssrc = int.from_bytes(os.urandom(4), "big")
    seq = 0
    for n, key in enumerate(keys):
        event = "0123456789*#".index(key)
        ts = 100000 + n * 2000
        for i in range(6):
            end = i >= 3
            payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, 160 * (min(i, 3) + 1))
            sock.sendto(rtp(pt, seq, ts, ssrc, payload, marker=(i == 0)), ("127.0.0.1", port))
            seq += 1
            time.sleep(0.02)
        time.sleep(0.06)


class MeetingTest(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.admin(SETUP)
        self._setup_done = True  # for self.policy()
        self.uas = []

    def tearDown(self):
        for ua in self.uas:
            ua.close()
        super().tearDown()

    def ua(self, user, gw_port):
        ua = SipUA(user, PASSWORDS[user], gw_port)
        self.uas.append(ua)
        return ua

    def meeting(self, subject="Rates desk"):
        r = self.run_vb("meeting", "create", "--organizer", "alice@contoso.com", "--subject", subject, "--json",
                        check=0)
        return json.loads(r.stdout)

    def status(self):
        with open(os.path.join(self.data, "gateway-status.json")) as f:
            return json.load(f)

    def test_three_phones_join_by_the_uri_and_each_hears_the_others_but_not_itself(self):
        gw, gw_port = self.start_gateway()
        # Scheduled by the CLI while the gateway runs: the next call finds it.
        m = self.meeting()
        people = {"alice": Participant(self.ua("alice", gw_port), 8, 440),
                  "bob": Participant(self.ua("bob", gw_port), 0, 1000),
                  "carol": Participant(self.ua("carol", gw_port), 8, 1700)}
        dialogs = {}
        for name, p in people.items():
            dialogs[name] = p.ua.call(f"meet-{m['id']}", sdp=p.sdp(), talk=False)
            self.assertIn(f"a=rtpmap:{p.pt} ", dialogs[name].answer)  # its own codec
            self.assertIn("a=sendrecv", dialogs[name].answer)
        threads = [threading.Thread(target=p.run, args=(dialogs[n].answer, 3)) for n, p in people.items()]
        for t in threads:
            t.start()
        live = wait_until(lambda: [len(x["members"]) for x in self.status()["meetings"]] == [3], 5)
        self.assertTrue(live, self.status()["meetings"])
        meeting = self.status()["meetings"][0]
        self.assertEqual((meeting["meeting"], meeting["subject"]), (m["id"], "Rates desk"))
        self.assertEqual(sorted(x["codec"] for x in meeting["members"]), ["PCMA", "PCMA", "PCMU"])
        for t in threads:
            t.join()
        for name, p in people.items():
            self.assertEqual(p.pts, {p.pt}, name)
            self.assertGreater(len(p.heard), 120, name)  # 50 packets a second
            pcm = p.pcm()[-8000:]  # the last second, all three talking
            for other_name, other in people.items():
                strength = presence(pcm, other.hz)
                if other is p:
                    self.assertLess(strength, 0.02, f"{name} hears itself")
                else:
                    self.assertGreater(strength, 0.15, f"{name} does not hear {other_name}")
        for name, p in people.items():
            self.assertEqual(p.ua.in_dialog(dialogs[name], "BYE").status, 200)
        self.assertTrue(wait_until(lambda: self.status()["meetings"] == [], 5), self.status()["meetings"])
        self.assertEqual(self.status()["totals"]["meetingJoins"], 3)
        with open(gw.log) as f:
            log = f.read()
        self.assertIn(f"meeting {m['id']}: the last member left", log)

    def test_a_caller_of_the_dial_in_number_hears_the_pin_prompt_in_its_language_and_the_pin_joins_them(self):
        dial_in = '[[gateway.dial_in]]\nnumber = "+14255550150"\nlanguage = "de"\n'
        gw, gw_port = self.start_role("gateway", "gateway", {"digest_algorithms": ["MD5"]}, dial_in)
        r = self.run_vb("meeting", "create", "--organizer", "alice@contoso.com", "--subject", "Dial-in review",
                        "--pin", "482913", "--json", check=0)
        m = json.loads(r.stdout)
        bob = Participant(self.ua("bob", gw_port), 0, 1000)
        bob_dialog = bob.ua.call(f"meet-{m['id']}", sdp=bob.sdp(), talk=False)
        alice = Participant(self.ua("alice", gw_port), 8, 440)
        dialog = alice.ua.call("+14255550150", sdp=alice.sdp(), talk=False)
        port = int(dialog.answer.split("m=audio ")[1].split()[0])
        self.assertIn("a=rtpmap:101 telephone-event/8000", dialog.answer)
        # The prompt plays (German: the number's language) until a key is pressed.
        alice.ua.media.settimeout(2)
        prompt = [alice.ua.media.recv(2048) for _ in range(40)]
        self.assertTrue(all(rtp_fields(p)[3] == 8 for p in prompt))
        self.assertTrue(any(max(abs(x) for x in g711(rtp_fields(p)[4], True)) > 2000 for p in prompt))
        with open(gw.log) as f:
            self.assertIn("called a dial-in number (de); asking for the PIN", f.read())
        send_dtmf(alice.ua.media, port, "1111#")  # no such meeting: asked again
        time.sleep(0.3)
        self.assertEqual(self.status()["dialInWaiting"], 1)
        send_dtmf(alice.ua.media, port, "482913#")
        joined = wait_until(lambda: [len(x["members"]) for x in self.status()["meetings"]] == [2], 5)
        self.assertTrue(joined, self.status())
        with open(gw.log) as f:
            self.assertIn(f"dial-in: sip:alice@contoso.com entered the PIN of meeting {m['id']}", f.read())
        threads = [threading.Thread(target=p.run, args=(d.answer, 2)) for p, d in ((alice, dialog), (bob, bob_dialog))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertGreater(presence(alice.pcm()[-6000:], 1000), 0.2)
        self.assertLess(presence(alice.pcm()[-6000:], 440), 0.02)
        self.assertGreater(presence(bob.pcm()[-6000:], 440), 0.2)
        for p, d in ((alice, dialog), (bob, bob_dialog)):
            self.assertEqual(p.ua.in_dialog(d, "BYE").status, 200)

    def test_a_recorded_member_brings_its_recorder_which_archives_every_member_unmixed(self):
        """Alice's policy records her and requires its recorder before she joins a meeting; Bob and
        Carol are not recorded. The meeting gets one SIPREC session, with each member's own audio
        on a stream of its own: the archive holds, for each, exactly the packets it sent."""
        rec, rec_port = self.start_recorder()
        self.policy([rec_port])
        gw, gw_port = self.start_gateway()
        m = self.meeting("Recorded desk")
        people = {"bob": Participant(self.ua("bob", gw_port), 0, 1000),
                  "alice": Participant(self.ua("alice", gw_port), 8, 440),
                  "carol": Participant(self.ua("carol", gw_port), 8, 1700)}
        dialogs = {}
        for name, p in people.items():
            dialogs[name] = p.ua.call(f"meet-{m['id']}", sdp=p.sdp(), talk=False)
        # Alice was answered once her recorder was in, with the indicator.
        self.assertIn("purpose=recording", dialogs["alice"].response.get("call-info") or "")
        live = wait_until(lambda: [len(x["members"]) for x in self.status()["meetings"]] == [3], 5)
        self.assertTrue(live, self.status()["meetings"])
        meeting = self.status()["meetings"][0]
        self.assertTrue(meeting["recorded"])
        self.assertEqual(len(meeting["recordings"]), 1, meeting)
        self.assertEqual(meeting["recordings"][0]["legs"][0]["state"], "recording")
        threads = [threading.Thread(target=p.run, args=(dialogs[n].answer, 3)) for n, p in people.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Chat: Bob's MESSAGE to the meeting reaches Alice and Carol (with Bob as its sender) and
        # the archive.
        r = people["bob"].ua.message(f"meet-{m['id']}", "Buy 100 at 4.20 \u2014 ok?")
        self.assertEqual(r.status, 202, str(r))
        for n in ("alice", "carol"):
            people[n].ua.serve(0.5)
        for n in ("alice", "carol"):
            self.assertTrue(getattr(people[n].ua, "messages", []), n)
            got = people[n].ua.messages[0]
            self.assertIn("message/cpim", got.get("content-type"))
            self.assertRegex(got.body, r"From: .*<sip:bob@contoso\.com>")
            self.assertIn("Buy 100 at 4.20", got.body)
        self.assertFalse(getattr(people["bob"].ua, "messages", []))
        for name, p in people.items():
            self.assertEqual(p.ua.in_dialog(dialogs[name], "BYE").status, 200)
        self.assertTrue(wait_until(lambda: self.status()["meetings"] == [], 5), self.status()["meetings"])
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            started = re.findall(r"recording (\w+) started", f.read())
        self.assertEqual(len(started), 1, "one session for the meeting")
        shown = json.loads(self.run_vb("archive", "show", started[0], check=0).stdout)
        self.assertEqual(sorted(p["aor"] for p in shown["metadata"]["participants"]),
                         ["sip:alice@contoso.com", "sip:bob@contoso.com", "sip:carol@contoso.com"])
        self.assertIn({"key": "meetingId", "value": m["id"], "source": "siprec"}, shown["metadata"]["business"])
        pcap = [o["id"] for o in shown["objects"] if o["kind"] == "evidence-pcap"][0]
        data = subprocess.run([BIN, "archive", "cat", pcap], capture_output=True, env=self.env, timeout=60).stdout
        kept = {}
        for _, _, dport, payload in read_pcap(data):
            ssrc, seq, _, pt, audio = rtp_fields(payload)
            kept.setdefault(ssrc, {})[seq] = (pt, audio, dport)
        for name, p in people.items():
            got = kept.get(p.ssrc, {})
            # Every packet it sent while the meeting was recorded, byte for byte, on one stream.
            self.assertGreater(len(got), 140, name)
            self.assertEqual(len({v[2] for v in got.values()}), 1, name)
            for seq, (pt, audio, _) in got.items():
                self.assertEqual((pt, audio), (p.pt, p.sent[seq]), f"{name} packet {seq}")
        self.assertEqual(len({next(iter(kept[p.ssrc].values()))[2] for p in people.values()}), 3)
        chat = [o["id"] for o in shown["objects"] if o["kind"] == "chat"]
        self.assertEqual(len(chat), 1, shown["objects"])
        kept_chat = json.loads(subprocess.run([BIN, "archive", "cat", chat[0]], capture_output=True, env=self.env,
                                              timeout=60).stdout)
        self.assertEqual([(c["from"], c["text"]) for c in kept_chat["messages"]],
                         [("sip:bob@contoso.com", "Buy 100 at 4.20 \u2014 ok?")])
        self.assertEqual(shown["metadata"]["chat"], {"messages": 1})

    def test_unknown_cancelled_and_codecless_joins_are_refused_with_a_reason(self):
        gw, gw_port = self.start_gateway()
        alice = self.ua("alice", gw_port)
        r = alice.attempt("meet-1234567890")
        self.assertEqual(r.status, 404, str(r))
        self.assertIn("no meeting 1234567890", r.get("warning"))
        m = self.meeting("Cancelled review")
        g729 = alice.sdp().replace("RTP/AVP 8", "RTP/AVP 18").replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:18 G729/8000")
        r = alice.attempt(f"meet-{m['id']}", sdp=g729)
        self.assertEqual(r.status, 488, str(r))
        self.assertIn("no audio stream with a codec the meeting mixes", r.get("warning"))
        self.run_vb("meeting", "cancel", m["id"], "--reason", "moved", check=0)
        r = alice.attempt(f"meet-{m['id']}")
        self.assertEqual(r.status, 410, str(r))
        self.assertIn("was cancelled", r.get("warning"))
        # The status file is rewritten once a second.
        self.assertTrue(wait_until(lambda: self.status()["totals"]["meetingRefused"] == 3, 3), self.status()["totals"])


if __name__ == "__main__":
    main()
