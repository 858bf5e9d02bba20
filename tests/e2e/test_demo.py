"""`make demo` keeps working: scripts/demo.sh against the built binary."""
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import BIN, SOURCE_DIR, VerbatimTestCase, main  # noqa: E402


class DemoTest(VerbatimTestCase):
    def test_demo_shows_who_is_recorded_and_why(self):
        r = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "demo.sh"), BIN, self.data],
                           capture_output=True, text=True, timeout=240)
        self.stop_portal_later()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout
        self.assertIn("testuser@contoso.onmicrosoft.com", out)
        self.assertIn("TeamsComplianceRecordingPolicy : TestComplianceRecordingPolicy", out)
        self.assertRegex(out, r"sip:testuser@contoso.onmicrosoft.com\s+RECORD\s+Tag:TestComplianceRecordingPolicy via Direct")
        self.assertRegex(out, r"sip:stranger@example.net\s+not recorded")
        self.assertIn('Because:    group "FX Desk" (rank 1) -> Tag:Traders', out)
        self.assertIn("Where to look", out)
        # The recorder part: SIPp's SIPREC call recorded complete, with a playback file each.
        self.assertRegex(out, r"recording \w+: complete")
        self.assertRegex(out, r"stream 1: PCMA, 236 packets, loss 0.0 %")
        self.assertIn("playback file: Ava Trader <sip:ava.trader@contoso.onmicrosoft.com>", out)
        with open(os.path.join(self.data, "ava-trader.opus"), "rb") as f:
            self.assertEqual(f.read(4), b"OggS")
        # The gateway part: a real call between two registered SIPp phones speaking espeak-ng
        # speech, Ava recorded under Traders with the indicator shown to both; then refused with
        # the Teams text once the recorder is down.
        self.assertIn("Ava's phone: ANSWERED a=record:on", out)
        # Searched while the recorder runs: the gateway's call (its direction) and the SBC's.
        self.assertRegex(out, r"outbound  Ava Trader <ava\.trader@contoso\.onmicrosoft\.com> -> Emi Research "
                              r"<emi\.research@contoso\.onmicrosoft\.com>  complete")
        self.assertIn("2 recording(s)", out)
        # The banner is Traders' own (its CustomBanner), and Emi's SIP phone heard the notice in
        # her language (ja-JP).
        self.assertIn('Emi\'s phone: INDICATOR a=record:on BANNER "This call is recorded (MiFID II)."', out)
        self.assertRegex(out, r"notice   recording-started to the callee: played \(ja, PCMA, \d+ ms")
        self.assertIn("caller   sip:ava.trader@contoso.onmicrosoft.com (user ava.trader@contoso.onmicrosoft.com), "
                      "policy Traders (Group), recorded", out)
        self.assertIn("status   200", out)
        self.assertRegex(out, r"recording \w+: complete, 9\.\d s, policy Traders, call 1-\d+@127\.0\.0\.1")
        self.assertIn("playback file: Emi Research <sip:emi.research@contoso.onmicrosoft.com>", out)
        with open(os.path.join(self.data, "gateway-call-ava.opus"), "rb") as f:
            self.assertEqual(f.read(4), b"OggS")
        self.assertIn("Ava's phone: REFUSED 480 There was a problem setting up the recording required by your "
                      "organisation", out)
        # Refused either way the stopped recorder is found: its port refuses the INVITE, or (on a
        # loaded machine, before that is seen) no recorder answers within the setup deadline.
        self.assertRegex(out, r"status   480 — refused: (every recorder of ComplianceRecordingBotInstance refused "
                              r"or failed|no recorder answered within \d+ ms)")
        # The archive part: verify OK, deletion refused, tampering found, export valid offline.
        self.assertIn("OK: ledger of", out)
        self.assertIn("refused: object", out)
        self.assertRegex(out, r"FINDING recording \w+ object \w+ .*altered or swapped")
        self.assertRegex(out, r"offline check: \w+: valid")
        # It ends with what was said: the gateway call's transcript and a search by a word.
        self.assertIn("# transcribed by pocketsphinx 0.8+5prealpha", out)
        self.assertRegex(out, r"\d:\d\d  Ava Trader <sip:ava\.trader@contoso\.onmicrosoft\.com>: \w+")
        self.assertRegex(out, r"\d:\d\d  Emi Research <sip:emi\.research@contoso\.onmicrosoft\.com>: \w+")
        self.assertIn("$ verbatim search --text market", out)
        self.assertLess(out.index("$ verbatim search --text market"), out.index("Where to look"))
        # The portal keeps running for the user: its address and an account for each role.
        self.assertRegex(out, r"portal: https://127\.0\.0\.1:\d+/ \(running")
        for role in ("compliance-officer", "supervisor", "auditor", "admin", "recorder-admin"):
            self.assertRegex(out, rf"portal-{role}\s+password demo-[0-9a-f]{{12}}")
        # And the users' web client beside it, its gateway listening for browsers.
        self.assertRegex(out, r"web client: https://127\.0\.0\.1:\d+/client \(calls, meetings and chat over wss port \d+; users: emi")

    def stop_portal_later(self):
        try:
            with open(os.path.join(self.data, "portal.pid")) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return

        def stop():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.addCleanup(stop)


if __name__ == "__main__":
    main()
