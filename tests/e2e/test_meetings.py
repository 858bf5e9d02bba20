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
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import main, wait_until  # noqa: E402
from rtp_sender import rtp, ulaw  # noqa: E402
from sip_ua import SipUA  # noqa: E402
from test_gateway import APP, BIN, PAIR_APP, SETUP, GatewayTestCase, SoftphoneTest, caller_scenario  # noqa: E402
from test_sip_softphone import BARESIP  # noqa: E402
from test_recorder import g711, read_pcap, rtp_fields  # noqa: E402
from video_media import FFMPEG, annex_b, decoded_frames, ivf, keyframe, ports, send_video, vp8_frames  # noqa: E402

PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-22", "carol": "carol-secret-3",
             "dave": "dave-secret-44", "erin": "erin-secret-55", "frank": "frank-secret-66"}


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


class VideoPhone(Participant):
    """A phone with a camera line and a screen share line besides its audio; what the gateway
    sends it on each is kept."""

    def __init__(self, ua, hz):
        super().__init__(ua, 0, hz)
        self.cam = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.cam.bind(("127.0.0.1", 0))
        self.screen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.screen.bind(("127.0.0.1", 0))
        self.got = {"cam": [], "screen": []}

    def sdp(self):
        return (super().sdp() +
                f"m=video {self.cam.getsockname()[1]} RTP/AVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
                "a=rtcp-fb:96 nack pli\r\n"
                f"m=video {self.screen.getsockname()[1]} RTP/AVPF 97\r\na=rtpmap:97 H264/90000\r\n"
                "a=fmtp:97 profile-level-id=42e01f;packetization-mode=1\r\na=rtcp-fb:97 nack pli\r\n"
                "a=content:slides\r\n")

    def keep(self, seconds):
        def run(name, sock):
            sock.settimeout(0.2)
            stop = time.monotonic() + seconds
            while time.monotonic() < stop:
                try:
                    self.got[name].append(sock.recv(2048))
                except socket.timeout:
                    continue
        threads = [threading.Thread(target=run, args=(n, s), daemon=True)
                   for n, s in (("cam", self.cam), ("screen", self.screen))]
        for t in threads:
            t.start()
        return threads

    def close(self):
        self.cam.close()
        self.screen.close()



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


class MeetingCase(GatewayTestCase):
    """Phones of the tenant's users (and the helpers) for meeting tests."""

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

    def only_recording(self, rec, data, what):
        """Stops recorder `rec` (its sessions end) and shows the one recording it made, read
        from `data`: the catalog entry and the environment that reads that archive."""
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            started = re.findall(r"recording (\w+) started", f.read())
        self.assertEqual(len(started), 1, f"{rec.log}: one session for the {what}")
        env = dict(self.env, VERBATIM_DATA_DIR=data)
        return json.loads(self.run_vb("archive", "show", started[0], env=env, check=0).stdout), env


class MeetingTest(MeetingCase):
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

    def test_a_caller_of_the_dial_in_number_chooses_a_language_and_the_pin_joins_them(self):
        dial_in = '[[gateway.dial_in]]\nnumber = "+14255550150"\nlanguage = "de"\nsecondary_languages = ["en"]\n'
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
        # The language menu plays (German first: the number's language, then English).
        alice.ua.media.settimeout(2)
        prompt = [alice.ua.media.recv(2048) for _ in range(40)]
        self.assertTrue(all(rtp_fields(p)[3] == 8 for p in prompt))
        self.assertTrue(any(max(abs(x) for x in g711(rtp_fields(p)[4], True)) > 2000 for p in prompt))
        with open(gw.log) as f:
            self.assertIn("called a dial-in number (de); offering 2 languages", f.read())
        self.assertTrue(wait_until(lambda: self.status().get("dialIn", [{}])[0].get("choosingLanguage"), 3),
                        self.status())
        send_dtmf(alice.ua.media, port, "2")  # English: the PIN prompt, and the notices, in English
        self.assertTrue(wait_until(lambda: self.status()["dialIn"][0]["language"] == "en", 3), self.status())
        with open(gw.log) as f:
            self.assertIn("dial-in: sip:alice@contoso.com chose en (key 2); asking for the PIN", f.read())
        send_dtmf(alice.ua.media, port, "1111#")  # no such meeting: asked again
        time.sleep(0.3)
        self.assertEqual(self.status()["dialInWaiting"], 1)
        send_dtmf(alice.ua.media, port, "482913#")
        joined = wait_until(lambda: [len(x["members"]) for x in self.status()["meetings"]] == [2], 5)
        self.assertTrue(joined, self.status())
        with open(gw.log) as f:
            self.assertIn(f"dial-in: sip:alice@contoso.com entered the PIN of meeting {m['id']}", f.read())
        members = {x["aor"]: x for x in self.status()["meetings"][0]["members"]}
        self.assertEqual(members["sip:alice@contoso.com"]["language"], "en")
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

    def test_the_organisers_cli_mutes_and_removes_a_member_of_the_running_meeting(self):
        gw, gw_port = self.start_gateway()
        m = self.meeting("Muted desk")
        r = self.run_vb("meeting", "mute", m["id"], "--participant", "bob@contoso.com", check=1)
        self.assertIn("not in progress at a running gateway", r.stderr)
        alice = Participant(self.ua("alice", gw_port), 8, 440)
        bob = Participant(self.ua("bob", gw_port), 0, 1000)
        dialogs = {p: p.ua.call(f"meet-{m['id']}", sdp=p.sdp(), talk=False) for p in (alice, bob)}
        # Alice follows the roster (RFC 4575) in her meeting dialog.
        r = alice.ua.in_dialog(dialogs[alice], "SUBSCRIBE", "Event: conference\r\nExpires: 600\r\n")
        self.assertEqual((r.status, r.get("expires")), (200, "600"))
        alice.ua.serve(0.3)
        roster = alice.ua.notifies[-1]
        self.assertEqual(roster.get("event"), "conference")
        self.assertIn("<user-count>2</user-count>", roster.body)
        self.assertIn('entity="sip:bob@contoso.com"', roster.body)
        r = self.run_vb("meeting", "mute", m["id"], "--participant", "bob@contoso.com", "--reason", "noise",
                        check=0)
        self.assertIn(f"sip:bob@contoso.com muted in meeting {m['id']}", r.stdout)
        alice.ua.serve(0.3)
        self.assertIn("<status>recvonly</status>", alice.ua.notifies[-1].body)  # Bob, muted
        threads = [threading.Thread(target=p.run, args=(d.answer, 2)) for p, d in dialogs.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertLess(presence(alice.pcm()[-6000:], 1000), 0.02, "Alice hears Bob while he is muted")
        self.assertGreater(presence(bob.pcm()[-6000:], 440), 0.2, "a muted member still hears")
        self.assertTrue(wait_until(lambda: any(x.get("muted") for x in self.status()["meetings"][0]["members"]), 3))
        r = self.run_vb("meeting", "remove", m["id"], "--participant", "sip:bob@contoso.com", check=0)
        self.assertIn("removed", r.stdout)
        self.assertTrue(wait_until(lambda: bob.ua.serve(0.2) or getattr(bob.ua, "byes", []), 5))
        self.assertIn("removed from the meeting by", bob.ua.byes[0].get("reason"))
        self.assertEqual(alice.ua.in_dialog(dialogs[alice], "BYE").status, 200)
        self.assertTrue(wait_until(lambda: self.status()["totals"]["meetingControls"] == 2, 3), self.status()["totals"])

    def test_a_user_makes_a_conference_on_the_spot_and_merges_a_call_into_it(self):
        """RFC 4579: Alice calls the conference factory; the gateway makes a meeting and answers as
        its focus (Contact: the meeting's URI with isfocus). In a call with Bob she REFERs him to
        that URI (a phone's "merge"): the gateway passes the REFER on, Bob's phone joins the meeting
        and says so, Alice is told and hangs up the call. Both are then in the conference."""
        gw, gw_port = self.start_gateway()
        alice = Participant(self.ua("alice", gw_port), 8, 440)
        conf = alice.ua.call("conference", sdp=alice.sdp(), talk=False)
        found = re.search(r"<sip:meet-(\d+)@[^>]+>;isfocus", conf.response.get("contact"))
        self.assertTrue(found, conf.response.get("contact"))
        uri = f"sip:meet-{found.group(1)}@contoso.com"
        self.assertTrue(wait_until(lambda: self.status()["meetings"], 3))
        self.assertEqual(self.status()["meetings"][0]["organizer"], "alice@contoso.com")
        self.assertIn(found.group(1), self.run_vb("meeting", "list", check=0).stdout)
        # A call from Alice to Bob.
        bob = Participant(self.ua("bob", gw_port), 0, 1000)
        bob.ua.register()
        answered = {}
        t = threading.Thread(target=lambda: answered.update(d=bob.ua.answer()))
        t.start()
        call = alice.ua.call("bob", talk=False)
        t.join()
        # Alice merges it into her conference.
        r = alice.ua.in_dialog(call, "REFER", f"Refer-To: <{uri}>\r\nReferred-By: <{alice.ua.aor}>\r\n")
        self.assertEqual(r.status, 202, str(r))
        self.assertTrue(wait_until(lambda: bob.ua.serve(0.1) or getattr(bob.ua, "refers", []), 5))
        self.assertEqual(re.search(r"<([^>]+)>", bob.ua.refers[0].get("refer-to")).group(1), uri)
        joined = bob.ua.call(uri[4:].split("@")[0], sdp=bob.sdp(), talk=False)
        self.assertIn(";isfocus", joined.response.get("contact"))
        self.assertEqual(bob.ua.notify_refer(answered["d"], 200, "OK").status, 200)
        self.assertTrue(alice.ua.serve_until(lambda: "SIP/2.0 200 OK" in alice.ua.notify_frags, 5),
                        "\n".join(alice.ua.log))
        self.assertEqual(alice.ua.in_dialog(call, "BYE").status, 200)
        self.assertTrue(bob.ua.serve_until(lambda: answered["d"].ended, 5), "the old call's BYE")
        both = ["sip:alice@contoso.com", "sip:bob@contoso.com"]
        self.assertTrue(wait_until(lambda: sorted(x["aor"] for x in self.status()["meetings"][0]["members"]) == both,
                                   3), self.status()["meetings"])
        threads = [threading.Thread(target=p.run, args=(d.answer, 2)) for p, d in ((alice, conf), (bob, joined))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertGreater(presence(alice.pcm()[-6000:], 1000), 0.2, "Alice hears Bob")
        self.assertGreater(presence(bob.pcm()[-6000:], 440), 0.2, "Bob hears Alice")
        for p, d in ((alice, conf), (bob, joined)):
            self.assertEqual(p.ua.in_dialog(d, "BYE").status, 200)
        totals = self.status()["totals"]
        self.assertEqual((totals["meetingAdhoc"], totals["meetingEscalations"]), (1, 1), totals)

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


class MeetingInteropTest(MeetingCase):
    """Real SIP phones as meeting members: baresip (a softphone, registered with digest) and
    SIPp (its g711a.pcap as the voice) join a recorded meeting by its URI."""

    phone = SoftphoneTest.phone  # a baresip softphone registered as a user

    def setUp(self):
        super().setUp()
        self.phones = []

    def tearDown(self):
        for b in self.phones:  # while the gateway still answers their un-REGISTER
            b.stop()
        super().tearDown()

    @unittest.skipUnless(BARESIP, "baresip is not installed (scripts/bootstrap.sh installs it)")
    def test_baresip_and_sipp_join_a_recorded_meeting_and_each_is_recorded_on_a_stream_of_its_own(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port])  # Alice: Traders, RequiredBeforeMeetingJoin
        gw, gw_port = self.start_gateway()
        m = self.meeting()
        alice = self.phone("alice", PASSWORDS["alice"], gw_port)
        alice.command("dial", f"sip:meet-{m['id']}@contoso.com")
        alice.wait_event({"CALL_ESTABLISHED"})
        bob = self.sipp(gw_port, caller_scenario(f"meet-{m['id']}", "200", hold_ms=6000), "bob",
                        PASSWORDS["bob"], "bob-meeting", echo=False)
        both = wait_until(lambda: [len(x["members"]) for x in self.status()["meetings"]] == [2], 10)
        self.assertTrue(both, self.status())
        self.wait_sipp(bob)
        alone = wait_until(lambda: [[y["aor"] for y in x["members"]] for x in self.status()["meetings"]]
                           == [["sip:alice@contoso.com"]], 5)
        self.assertTrue(alone, self.status())  # SIPp hung up
        alice.command("hangup")
        alice.wait_event({"CALL_CLOSED"})
        self.assertTrue(wait_until(lambda: self.status()["meetings"] == [], 5), self.status())
        md = self.only_recording(rec, self.data, "meeting")[0]["metadata"]
        self.assertEqual(md["status"], "complete", md)
        self.assertEqual(sorted(p["aor"] for p in md["participants"]),
                         ["sip:alice@contoso.com", "sip:bob@contoso.com"])
        # Each phone's voice on a stream of its own: baresip's tone for the whole call, SIPp's
        # pcap (4 s of PCMA, 50 packets a second) while it was in; the summary keeps the stream
        # that closed when SIPp left.
        packets = {p["aor"]: sum(s["packets"] for s in md["streams"] if s["label"] in p["sendsOnLabels"])
                   for p in md["participants"]}
        self.assertGreaterEqual(packets["sip:bob@contoso.com"], 190, md["streams"])
        self.assertGreater(packets["sip:alice@contoso.com"], packets["sip:bob@contoso.com"], md["streams"])


    @unittest.skipUnless(BARESIP, "baresip is not installed (scripts/bootstrap.sh installs it)")
    def test_a_member_adds_someone_by_refer_and_the_focus_calls_them_in(self):
        """RFC 4579 §5.3 from a real phone: Alice (baresip) is in a meeting and transfers the call
        to Bob, a REFER to the focus naming him. The gateway calls Bob's phone (baresip, answering
        by itself) from the meeting, as its focus; Bob joins the meeting. Alice's phone, told 200,
        ends its own call as a transferor does; Bob stays."""
        gw, gw_port = self.start_gateway()
        m = self.meeting()
        bob = self.phone("bob", PASSWORDS["bob"], gw_port, ";answermode=auto")
        alice = self.phone("alice", PASSWORDS["alice"], gw_port)
        alice.command("dial", f"sip:meet-{m['id']}@contoso.com")
        alice.wait_event({"CALL_ESTABLISHED"})
        alice.command("transfer", "sip:bob@contoso.com")
        bob.wait_event({"CALL_ESTABLISHED"}, timeout=15)

        def aors():
            meetings = self.status()["meetings"]
            return sorted(x["aor"] for x in meetings[0]["members"]) if meetings else []
        self.assertTrue(wait_until(lambda: "sip:bob@contoso.com" in aors(), 5), aors())
        self.assertTrue(wait_until(lambda: aors() == ["sip:bob@contoso.com"], 10), aors())  # Alice left
        self.assertEqual(self.status()["totals"]["meetingDialOuts"], 1)
        with open(gw.log) as f:
            self.assertIn("sip:bob@contoso.com answered the focus's call", f.read())
        bob.command("hangup")
        bob.wait_event({"CALL_CLOSED"})
        self.assertTrue(wait_until(lambda: self.status()["meetings"] == [], 5), self.status())

class RecordedMeetingTest(MeetingCase):
    """Two recorded users under different policies (two applications, each with its recorder) in
    one meeting with unrecorded members and a dial-in caller."""

    def setUp(self):
        super().setUp()
        self.admin("\n".join(f"New-VbUser {u}@contoso.com -DisplayName {u.title()} -SipPassword {PASSWORDS[u]}"
                              for u in ("dave", "erin", "frank")))
        self.rec_a, port_a = self.start_recorder(drain_timeout_s=0)
        self.data_b = os.path.join(self.tmp, "data-b")
        self.rec_b, port_b = self.start_recorder(data=self.data_b, drain_timeout_s=0)
        self.admin(f"""
New-VbRecorderEndpoint -ApplicationId {APP} -Uri sip:srs@127.0.0.1:{port_a}
New-VbRecorderEndpoint -ApplicationId {PAIR_APP} -Uri sip:srs@127.0.0.1:{port_b}
New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true
New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com
New-CsTeamsComplianceRecordingPolicy -Identity Sales -Enabled $true
New-CsTeamsComplianceRecordingApplication -Parent Sales -Id rec2@contoso.com
Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -PolicyName Traders
Grant-CsTeamsComplianceRecordingPolicy -Identity bob@contoso.com -PolicyName Sales
""")
        dial_in = '[[gateway.dial_in]]\nnumber = "+14255550150"\nlanguage = "de"\n'
        self.gw, self.gw_port = self.start_role(
            "gateway", "gateway", {"digest_algorithms": ["MD5"], "recording_setup_timeout_ms": 3000,
                                   "health_check_interval_ms": 300}, dial_in)
        r = self.run_vb("meeting", "create", "--organizer", "alice@contoso.com", "--subject", "Six on the desk",
                        "--pin", "482913", "--json", check=0)
        self.m = json.loads(r.stdout)

    def join(self, people):
        """Each joins by the URI, Dave by the dial-in number and the PIN: their dialogs."""
        dialogs = {}
        for name, p in people.items():
            if name != "dave":
                dialogs[name] = p.ua.call(f"meet-{self.m['id']}", sdp=p.sdp(), talk=False)
                continue
            dialogs[name] = p.ua.call("+14255550150", sdp=p.sdp(), talk=False)
            port = int(dialogs[name].answer.split("m=audio ")[1].split()[0])
            time.sleep(0.3)
            send_dtmf(p.ua.media, port, "482913#")
        live = wait_until(lambda: [len(x["members"]) for x in self.status()["meetings"]] == [len(people)], 10)
        self.assertTrue(live, self.status())
        return dialogs

    def archived(self, rec, data):
        """The one recording `rec` made: its catalog, and each SSRC's packets in its evidence."""
        shown, env = self.only_recording(rec, data, "meeting")
        pcap = [o["id"] for o in shown["objects"] if o["kind"] == "evidence-pcap"][0]
        data = subprocess.run([BIN, "archive", "cat", pcap], capture_output=True, env=env, timeout=60).stdout
        kept = {}
        self.markers = {}
        for _, _, dport, payload in read_pcap(data):
            ssrc, seq, _, pt, audio = rtp_fields(payload)
            kept.setdefault(ssrc, {})[seq] = (pt, audio, dport)
            self.markers[(ssrc, seq)] = bool(payload[1] & 0x80)
        self.env_of_last = env
        return shown, kept

    def decodable(self, kept, ssrc, encoding):
        """Frames ffmpeg decodes from what `kept` holds of a video SSRC, from its first keyframe."""
        packets = [(self.markers[(ssrc, seq)], v[1]) for seq, v in sorted(kept.get(ssrc, {}).items())]
        first = next((i for i, (_, p) in enumerate(packets) if keyframe(encoding, p)), len(packets))
        stream = packets[first:]
        return decoded_frames(ivf(vp8_frames(stream)) if encoding == "VP8" else annex_b(stream),
                              "ivf" if encoding == "VP8" else "h264")

    @unittest.skipUnless(FFMPEG, "ffmpeg is not installed (scripts/bootstrap.sh installs it)")
    def test_six_members_two_applications_each_one_session_with_every_stream_as_sent(self):
        """The issue's acceptance: six members, two recorded under different policies (two
        applications), a dial-in caller, a camera (Erin's, VP8 from ffmpeg) and a screen share
        (Frank's, H.264 from ffmpeg), and chat. Each application gets exactly one session, and each
        has every member's audio as sent, both videos decodable, and the chat."""
        people = {name: Participant(self.ua(name, self.gw_port), pt, hz) for name, pt, hz in
                  (("carol", 8, 1700), ("alice", 8, 440), ("bob", 0, 1000), ("dave", 8, 880))}
        people["erin"] = VideoPhone(self.ua("erin", self.gw_port), 620)
        people["frank"] = VideoPhone(self.ua("frank", self.gw_port), 1300)
        for name in ("erin", "frank"):
            self.addCleanup(people[name].close)
        dialogs = self.join(people)
        meeting = self.status()["meetings"][0]
        self.assertEqual(sorted(r["policy"] for r in meeting["recordings"]), ["Sales", "Traders"])
        for r in meeting["recordings"]:
            self.assertEqual([leg["state"] for leg in r["legs"]], ["recording"], r)
        members = {x["aor"]: x for x in meeting["members"]}
        self.assertEqual(members["sip:alice@contoso.com"]["policy"], "Traders")
        self.assertEqual(members["sip:bob@contoso.com"]["policy"], "Sales")
        # Carol was in before the recording began; the dial-in caller heard it in German.
        self.assertEqual(members["sip:carol@contoso.com"]["notice"], "played")
        with open(self.gw.log) as f:
            self.assertIn("dial-in: sip:dave@contoso.com entered the PIN", f.read())
        time.sleep(4)  # the notices end (they play instead of the mix)
        threads = [threading.Thread(target=p.run, args=(dialogs[n].answer, 3)) for n, p in people.items()]
        for t in threads:
            t.start()
        senders = [send_video(ports(dialogs["erin"].answer)[1], "VP8", 3, 0xE41, "testsrc"),
                   send_video(ports(dialogs["frank"].answer)[2], "H264", 3, 0xF4A, "smptebars")]
        for s in senders:
            _, err = s.communicate(timeout=30)
            self.assertEqual(s.returncode, 0, err)
        self.assertEqual(self.status()["meetings"][0]["presenter"], "sip:frank@contoso.com")
        for t in threads:
            t.join()
        r = people["alice"].ua.message(f"meet-{self.m['id']}", "Closing at 4.25")
        self.assertEqual(r.status, 202, str(r))
        for name, p in people.items():
            self.assertEqual(p.ua.in_dialog(dialogs[name], "BYE").status, 200)
        self.assertTrue(wait_until(lambda: self.status()["meetings"] == [], 5), self.status()["meetings"])
        for rec, data in ((self.rec_a, self.data), (self.rec_b, self.data_b)):
            shown, kept = self.archived(rec, data)
            self.assertEqual(len(shown["metadata"]["participants"]), 6, shown["metadata"]["participants"])
            for name, p in people.items():
                got = kept.get(p.ssrc, {})
                # What it sent, byte for byte (so sample for sample once decoded), on a stream of its own.
                self.assertGreater(len(got), 140, f"{rec.log}: {name}")
                self.assertEqual(len({v[2] for v in got.values()}), 1, name)
                for seq, (pt, audio, _) in got.items():
                    self.assertEqual((pt, audio), (p.pt, p.sent[seq]), f"{name} packet {seq}")
            self.assertEqual(len({next(iter(kept[p.ssrc].values()))[2] for p in people.values()}), 6)
            # Erin's camera and Frank's screen: each on a stream of its own, decodable.
            for ssrc, encoding in ((0xE41, "VP8"), (0xF4A, "H264")):
                self.assertEqual(len({v[2] for v in kept.get(ssrc, {}).values()}), 1, hex(ssrc))
                frames, errors = self.decodable(kept, ssrc, encoding)
                self.assertGreater(frames, 40, f"{rec.log}: {encoding}: {errors}")
            chat = [o["id"] for o in shown["objects"] if o["kind"] == "chat"]
            self.assertEqual(len(chat), 1, shown["objects"])
            kept_chat = json.loads(subprocess.run([BIN, "archive", "cat", chat[0]], capture_output=True,
                                                  env=self.env_of_last, timeout=60).stdout)
            self.assertEqual([(c["from"], c["text"]) for c in kept_chat["messages"]],
                             [("sip:alice@contoso.com", "Closing at 4.25")])

    def test_one_to_one_chat_is_kept_under_both_policies_before_it_is_relayed(self):
        """One-to-one chat: Alice (Traders) and Bob (Sales) write to each other. Each message is
        kept by both applications' recorders, each in one session for the conversation, before
        the other's phone gets it. Carol and Dave (recorded by no one) chat directly. With Bob's
        required recorder gone, Alice's next message is refused with the reason, and not relayed;
        Alice's recorder still has it, as an attempt."""
        phones = {name: self.ua(name, self.gw_port) for name in ("alice", "bob", "carol", "dave")}
        for ua in phones.values():
            ua.register()

        def chat(sender, receiver, text):
            """`sender` writes while `receiver`'s phone answers what comes: the final response."""
            rx = phones[receiver]
            got = len(getattr(rx, "messages", []))
            t = threading.Thread(target=rx.serve, args=(2.5,))
            t.start()
            r = phones[sender].message(receiver, text)
            t.join()
            return r, getattr(rx, "messages", [])[got:]

        for sender, receiver, text in (("alice", "bob", "Can you do 5m at 101?"), ("bob", "alice", "Done at 101."),
                                       ("carol", "dave", "Lunch?")):
            r, arrived = chat(sender, receiver, text)
            self.assertEqual(r.status, 200, str(r))
            self.assertEqual([m.body for m in arrived], [text])
            self.assertIn(f"<sip:{sender}@contoso.com>", arrived[0].get("from"))
        # The status file is written once a second.
        counted = wait_until(lambda: (self.status()["totals"]["chatMessages"], self.status()["totals"]["chatRecordings"],
                                      self.status()["chatConversations"]) == (3, 2, 2), 3)
        self.assertTrue(counted, self.status()["totals"])

        def kept(rec, data):
            """The chat the recorder's one session kept (it is stopped, so the session ends)."""
            shown, env = self.only_recording(rec, data, "conversation")
            md = shown["metadata"]
            self.assertEqual(sorted(p["aor"] for p in md["participants"]),
                             ["sip:alice@contoso.com", "sip:bob@contoso.com"])
            business = {b["key"]: b["value"] for b in md["business"]}
            self.assertTrue(business["callId"].startswith("chat-"), business)  # the conversation
            self.assertEqual((md["media"], md["call"]["internal"]), ([], True))
            chat_object = [o["id"] for o in shown["objects"] if o["kind"] == "chat"]
            self.assertEqual(len(chat_object), 1, shown["objects"])
            out = subprocess.run([BIN, "archive", "cat", chat_object[0]], capture_output=True, env=env, timeout=60)
            return md, [(c["from"], c["to"], c["text"]) for c in json.loads(out.stdout)["messages"]]

        both = [("sip:alice@contoso.com", "sip:bob@contoso.com", "Can you do 5m at 101?"),
                ("sip:bob@contoso.com", "sip:alice@contoso.com", "Done at 101.")]
        md_b, chat_b = kept(self.rec_b, self.data_b)
        self.assertEqual(chat_b, both)
        self.assertEqual(md_b["call"]["dialed"]["aor"], "sip:bob@contoso.com")  # Alice wrote first
        # Bob's required recorder (Sales) is gone: Alice's message is not sent, and she is told why.
        r, arrived = chat("alice", "bob", "Are you there?")
        self.assertEqual(r.status, 480, str(r))
        self.assertIn("There was a problem setting up the recording required by your organisation", r.get("reason"))
        self.assertEqual(arrived, [])
        md_a, chat_a = kept(self.rec_a, self.data)
        self.assertIn({"key": "policy", "source": "siprec", "value": "Traders"}, md_a["business"])
        self.assertEqual(chat_a, both + [("sip:alice@contoso.com", "sip:bob@contoso.com", "Are you there?")])
        self.assertTrue(wait_until(lambda: self.status()["totals"]["chatRefused"] == 1, 3), self.status()["totals"])

    def test_killing_a_required_recorder_removes_only_its_recorded_member_after_the_warning(self):
        """T01 for meetings: Bob's recorder (Sales) is killed (-9: no BYE; the health checks find
        it). Bob hears the warning, then is removed with a Reason; Alice (recorded by the other
        application), Carol and Erin stay, and Alice's recording goes on."""
        people = {name: Participant(self.ua(name, self.gw_port), 8, hz) for name, hz in
                  (("carol", 1700), ("alice", 440), ("bob", 1000), ("erin", 620))}
        dialogs = self.join(people)
        time.sleep(4)  # the notices end
        threads = [threading.Thread(target=p.run, args=(dialogs[n].answer, 12)) for n, p in people.items()]
        for t in threads:
            t.start()
        time.sleep(1)
        self.rec_b.kill()
        t0 = time.monotonic()
        bob = people["bob"].ua
        removed = wait_until(lambda: bob.serve(0.2) or getattr(bob, "byes", []), 20)
        self.assertTrue(removed, self.status())
        self.assertIn("removed from the meeting", bob.byes[0].get("reason"))
        self.assertGreater(time.monotonic() - t0, 2.0)  # the warning played first
        stayed = ["sip:alice@contoso.com", "sip:carol@contoso.com", "sip:erin@contoso.com"]
        self.assertTrue(wait_until(lambda: sorted(x["aor"] for x in self.status()["meetings"][0]["members"]) == stayed,
                                   3), self.status())
        meeting = self.status()["meetings"][0]
        self.assertEqual(self.status()["totals"]["meetingRemovedRecording"], 1)
        self.assertEqual([r["policy"] for r in meeting["recordings"]], ["Traders"])
        for t in threads:
            t.join()
        for name in ("alice", "carol", "erin"):
            people[name].ua.serve(0.2)
            self.assertFalse(getattr(people[name].ua, "byes", []), name)
            self.assertEqual(people[name].ua.in_dialog(dialogs[name], "BYE").status, 200)
        shown, kept = self.archived(self.rec_a, self.data)
        self.assertEqual(shown["metadata"]["status"], "complete", shown["metadata"])
        # Bob's stream ends when he was removed; the others' go on to the end.
        self.assertLess(len(kept[people["bob"].ssrc]), len(kept[people["alice"].ssrc]) - 100)
        gone = [p for p in shown["metadata"]["siprec"]["participants"] if p.get("disassociateTime")]
        self.assertEqual([p["names"][0]["aor"] for p in gone], ["sip:bob@contoso.com"])


if __name__ == "__main__":
    main()
