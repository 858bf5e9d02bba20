"""The users' web client (issue 20) in a real browser: `verbatim serve` runs the gateway with SIP
over secure WebSocket (RFC 7118) and the HTTPS server that serves the client; a recorder keeps
Alice's chat under her policy. web/tests/client.test.mjs (Playwright driving Debian's chromium,
JsSIP in the page) signs Alice and Bob in, has them chat, checks that a closed tab's
registration ends with its connection and that another origin cannot open the WebSocket. Then
the chat is checked in the archive, and the gateway's own account of the connections."""
import functools
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from helpers import BIN, free_udp_port, main, wait_until  # noqa: E402
from test_gateway import CALLEE, OK_REPLY, REGISTRATION, caller_scenario  # noqa: E402
from test_portal import CHROMIUM, WEB, browser_missing  # noqa: E402
from test_tls import TlsTestCase  # noqa: E402


class WebClientTest(TlsTestCase):
    def setUp(self):
        super().setUp()
        if browser_missing():
            self.skipTest("needs " + ", ".join(browser_missing()))

    def status(self):
        with open(os.path.join(self.data, "gateway-status.json")) as f:
            return json.load(f)

    def test_users_sign_in_and_chat_in_the_browser_and_the_chat_is_archived(self):
        rec, rports = self.serve("recorder")
        self.policy([])
        self.admin("New-VbRecorderEndpoint -ApplicationId 11111111-2222-4333-8444-555555555555 "
                   f"-Uri 'sip:srs@127.0.0.1:{rports['recorder:sips']};transport=tls' -Region EUR")
        gw, ports = self.serve("admin-api,gateway", gateway={"wss_listen": "127.0.0.1:0"}, https=True)
        url = f"https://127.0.0.1:{ports['admin-api:https']}"
        # Another origin on this machine (a different port): a page there must not reach the
        # users' SIP WebSocket. (A page of a public origin cannot reach loopback at all: Chromium's
        # Private Network Access stops it before our check would.)
        elsewhere = os.path.join(self.tmp, "elsewhere")
        os.makedirs(elsewhere)
        with open(os.path.join(elsewhere, "index.html"), "w") as f:
            f.write("<!doctype html><title>elsewhere</title>")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=elsewhere)
        other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=other.serve_forever, daemon=True).start()
        self.addCleanup(other.shutdown)
        facts = {"url": url, "webSocketPort": ports["gateway:wss"],
                 "elsewhere": f"http://127.0.0.1:{other.server_address[1]}/",
                 "alice": {"address": "alice@contoso.com", "password": "alice-secret-1"},
                 "bob": {"address": "bob@contoso.com", "password": "bob-secret-22"}}
        env = dict(os.environ, CLIENT_FACTS=json.dumps(facts), CHROMIUM=CHROMIUM)
        run = subprocess.run(["node", "--test", "--test-reporter=spec", "tests/client.test.mjs"], cwd=WEB, env=env,
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stdout[-6000:] + run.stderr[-3000:])
        print("\n".join(line for line in run.stdout.splitlines() if "page timings" in line))

        # The gateway's account: the foreign origin refused, every connection closed again, and
        # Bob's registration removed with his connection.
        self.assertTrue(wait_until(lambda: self.status()["webSocketConnections"]["refusedOrigin"] == 1, 5),
                        self.status()["webSocketConnections"])
        self.assertTrue(wait_until(lambda: self.status()["webSocketConnections"]["open"] == 0, 5),
                        self.status()["webSocketConnections"])
        with open(gw.log) as f:
            log = f.read()
        self.assertRegex(log, r"WSS connection from 127\.0\.0\.1:\d+ \(bob@contoso\.com\) closed")

        # Alice's chat, kept by her recorder in one session for the conversation.
        started = self.recordings(rec)
        self.assertEqual(len(started), 1, rec.log)
        shown = json.loads(self.run_vb("archive", "show", started[0], check=0).stdout)
        chat = [o["id"] for o in shown["objects"] if o["kind"] == "chat"]
        self.assertEqual(len(chat), 1, shown["objects"])
        kept = json.loads(subprocess.run([BIN, "archive", "cat", chat[0]], capture_output=True, env=self.env,
                                         timeout=60).stdout)
        self.assertEqual([(c["from"], c["text"]) for c in kept["messages"]][:2],
                         [("sip:alice@contoso.com", "Can you do 5m at 101?"),
                          ("sip:bob@contoso.com", "Done at 101.")])


    def recordings(self, rec, stop=True):
        """The recordings a recorder started, once it has stopped (sent SIGTERM with `stop`)."""
        if stop:
            rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            return re.findall(r"recording (\w+) started", f.read())

    def node(self, script, facts):
        env = dict(os.environ, CLIENT_FACTS=json.dumps(facts), CHROMIUM=CHROMIUM)
        run = subprocess.run(["node", "--test", "--test-reporter=spec", script], cwd=WEB, env=env,
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stdout[-6000:] + run.stderr[-3000:])
        print("\n".join(line for line in run.stdout.splitlines() if "page timings" in line or "voice level" in line))

    def test_browsers_call_each_other_and_a_phone_with_webrtc_media_and_see_the_banner(self):
        """Calls from the web page: WebRTC media (ICE-lite, DTLS-SRTP) between Chromium and the
        gateway, relayed to another browser or to a SIPp phone as plain RTP. Alice is recorded
        under a policy with its own banner; her recordings hold what both sides said. With her
        required recorder down, her call fails and the page gives the policy's reason."""
        rec, rports = self.serve("recorder", recorder={"drain_timeout_s": 0})
        self.admin('New-CsTeamsCustomBannerText -Identity TradeFloor -Text "Trade floor lines are recorded (MiFID II)."')
        self.policy([], flags="-CustomBanner TradeFloor")
        self.admin("New-VbRecorderEndpoint -ApplicationId 11111111-2222-4333-8444-555555555555 "
                   f"-Uri 'sip:srs@127.0.0.1:{rports['recorder:sips']};transport=tls' -Region EUR")
        gw, ports = self.serve("admin-api,gateway", gateway={"wss_listen": "127.0.0.1:0"}, https=True)
        # Carol's desk phone: SIPp, registered over UDP, answers in PCMA and speaks (a G.711 pcap).
        phone_port = free_udp_port()
        self.wait_sipp(self.sipp(ports["gateway:sip"], REGISTRATION, "carol", "carol-secret-3", "carol-register",
                                 port=phone_port))
        speaking = CALLEE.replace('  <recv request="ACK"/>\n', '  <recv request="ACK"/>\n  <nop><action>'
                                  '<exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>\n', 1)
        phone = self.sipp(ports["gateway:sip"], speaking, "carol", "carol-secret-3", "carol", port=phone_port,
                          echo=False)
        # What the browsers' fake microphones say.
        speech = os.path.join(self.tmp, "speech.wav")
        subprocess.run(["espeak-ng", "-w", speech, "Buy five million at one oh one. " * 3], check=True)
        # Carol's phone calling Bob's browser (the page starts it once Bob is signed in).
        args, _ = self.sipp_command(ports["gateway:sip"], caller_scenario("bob", "200", hold_ms=5000), "carol",
                                    "carol-secret-3", "carol-calls", echo=False)
        facts = {"url": f"https://127.0.0.1:{ports['admin-api:https']}", "speech": speech, "part": "up",
                 "phoneCall": {"args": args, "cwd": self.tmp},
                 "banner": "Trade floor lines are recorded (MiFID II).", "phone": "carol@contoso.com",
                 "alice": {"address": "alice@contoso.com", "password": "alice-secret-1"},
                 "bob": {"address": "bob@contoso.com", "password": "bob-secret-22"},
                 "carol": {"address": "carol@contoso.com", "password": "carol-secret-3"}}
        self.node("tests/client_calls.test.mjs", facts)
        self.wait_sipp(phone)
        with open(gw.log) as f:
            log = f.read()
        self.assertTrue(wait_until(lambda: len(self.calls()) == 4, 10), log[-3000:])
        self.assertEqual(self.calls()[1]["transfers"][0]["to"], "sip:carol@contoso.com")

        # The recorder leaves in the middle of Bob's next call to Alice (the page sends it SIGTERM).
        self.node("tests/client_calls.test.mjs", dict(facts, part="removal", recorderPid=rec.pid))
        started = self.recordings(rec, stop=False)
        self.assertTrue(wait_until(lambda: len(self.calls()) == 5, 10))
        self.assertIn("after the spoken warning", self.calls()[4]["outcome"])

        # Alice's four calls, each recorded whole: both directions carried audio to the recorder.
        self.assertEqual(len(started), 4, rec.log)
        for rid in started:
            shown = json.loads(self.run_vb("archive", "show", rid, check=0).stdout)
            packets = [s["packets"] for s in shown["metadata"]["streams"]]
            self.assertEqual(len(packets), 2, shown["metadata"]["streams"])
            self.assertTrue(all(p > 50 for p in packets), packets)

        # The recorder is down now: Alice's next call cannot be recorded as her policy requires.
        self.node("tests/client_calls.test.mjs", dict(facts, part="down"))
        self.assertTrue(wait_until(lambda: len(self.calls()) == 6, 10))


    def test_a_browser_joins_a_meeting_with_a_sipp_phone_and_its_screen_share_is_recorded(self):
        """A meeting from the web page: Alice (recorded) joins with her camera over WebRTC, Carol's
        SIPp phone dials in, Alice sees the roster, shares her screen (a re-INVITE with a slides
        line) and writes in the meeting's chat. Her recording holds her camera, her screen share,
        the phone's audio and the chat."""
        rec, rports = self.serve("recorder")
        self.policy([])
        self.admin("New-VbRecorderEndpoint -ApplicationId 11111111-2222-4333-8444-555555555555 "
                   f"-Uri 'sip:srs@127.0.0.1:{rports['recorder:sips']};transport=tls' -Region EUR")
        gw, ports = self.serve("admin-api,gateway", gateway={"wss_listen": "127.0.0.1:0"}, https=True)
        m = json.loads(self.run_vb("meeting", "create", "--organizer", "alice@contoso.com", "--subject",
                                   "Morning call", "--json", check=0).stdout)
        # Carol's phone dials in, speaks, takes the chat message the meeting relays to it (message/cpim
        # from Alice), then hangs up.
        scenario = caller_scenario(f"meet-{m['id']}", "200", hold_ms=2000)
        took_chat = ('  <recv request="MESSAGE">\n    <action>\n      <ereg regexp="Slides are up" search_in="body" '
                     'check_it="true" assign_to="chat"/>\n      <ereg regexp="From: (&lt;sip:meet-[^&gt;]*&gt;;tag=[A-Za-z0-9.-]*)" search_in="msg" '
                     'check_it="true" assign_to="mf,mf1"/>\n    </action>\n  </recv>\n' + OK_REPLY)
        scenario = scenario.replace('  <recv request="BYE" timeout=', took_chat + '  <recv request="BYE" timeout=', 1)
        # Its BYE names the meeting's dialog as the MESSAGE did (SIPp's last To is now its own).
        scenario = scenario.replace("      [last_To:]\n      Call-ID: [call_id]\n      CSeq: 3 BYE",
                                    "      To: [$mf1]\n      Call-ID: [call_id]\n      CSeq: 3 BYE")
        scenario = scenario.replace('<Reference variables="rec,r"/>', '<Reference variables="rec,r,chat,mf"/>')
        phone = self.sipp(ports["gateway:sip"], scenario, "carol", "carol-secret-3", "carol", echo=False)
        self.assertTrue(wait_until(lambda: [len(x["members"]) for x in self.status().get("meetings", [])] == [1],
                                   10), self.status().get("meetings"))
        speech = os.path.join(self.tmp, "speech.wav")
        subprocess.run(["espeak-ng", "-w", speech, "Good morning, rates are unchanged."], check=True)
        self.node("tests/client_calls.test.mjs", {
            "url": f"https://127.0.0.1:{ports['admin-api:https']}", "speech": speech, "part": "meeting",
            "meeting": f"meet-{m['id']}@contoso.com", "phone": "carol@contoso.com",
            "alice": {"address": "alice@contoso.com", "password": "alice-secret-1"}})
        self.wait_sipp(phone, timeout=90)
        started = self.recordings(rec)
        self.assertEqual(len(started), 1, rec.log)
        shown = json.loads(self.run_vb("archive", "show", started[0], check=0).stdout)
        streams = {s["label"]: s for s in shown["metadata"]["streams"]}
        codecs = sorted(s["codec"] for s in streams.values())
        self.assertEqual(codecs, ["PCMA", "VP8", "VP8", "opus"], streams)  # phone, Alice, camera, screen
        self.assertTrue(all(s["packets"] > 20 for s in streams.values()), streams)
        # The screen share is the line the recorder was offered as slides (RFC 4796).
        sig = [o["id"] for o in shown["objects"] if o["kind"] == "signalling"][0]
        signalling = self.run_vb("archive", "cat", sig, check=0).stdout
        self.assertIn("a=content:slides", signalling)
        chat = [o["id"] for o in shown["objects"] if o["kind"] == "chat"]
        kept = json.loads(subprocess.run([BIN, "archive", "cat", chat[0]], capture_output=True, env=self.env,
                                         timeout=60).stdout)
        self.assertEqual([(c["from"], c["text"]) for c in kept["messages"]],
                         [("sip:alice@contoso.com", "Slides are up.")])


if __name__ == "__main__":
    main()
