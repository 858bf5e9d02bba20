"""`verbatim siprec inspect` as a user runs it on captures from real recording clients: the
recording session as JSON, exit codes 0 (usable) / 1 (problems) / 2 (unreadable), stdin, and
bytes that are not UTF-8."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import BIN, TESTDATA, VerbatimTestCase, main, needs_corpus  # noqa: E402

VENDORS = os.path.join(TESTDATA, "siprec-vendors")


class SiprecInspectTest(VerbatimTestCase):
    @needs_corpus("siprec-vendors")
    def test_a_vendor_invite_is_described(self):
        r = self.run_vb("siprec", "inspect", os.path.join(VENDORS, "metaswitch-01.sip"), check=0)
        j = json.loads(r.stdout)
        self.assertTrue(j["valid"])
        session = j["recordingSession"]
        self.assertEqual(session["request"]["method"], "INVITE")
        self.assertEqual([s["label"] for s in session["streams"]], ["1"])
        self.assertEqual(sorted(p["aor"] for p in session["participants"]), ["7602922410", "7602922411"])

    @needs_corpus("siprec-vendors")
    def test_a_plain_call_is_not_a_recording_session(self):
        r = self.run_vb("siprec", "inspect", os.path.join(VENDORS, "cisco-cube-01.sip"), check=1)
        self.assertIn("not a SIPREC request", json.loads(r.stdout)["problems"][0])

    @needs_corpus("siprec-vendors")
    def test_stdin_bodies_and_bad_bytes(self):
        with open(os.path.join(VENDORS, "procomm-01.body"), "rb") as f:
            body = f.read()
        r = self.run_vb("siprec", "inspect", "-", stdin=body.decode(), check=0)
        self.assertEqual(len(json.loads(r.stdout)["recordingSession"]["streams"]), 2)
        # A name with a byte that is not UTF-8 still gives valid JSON (U+FFFD in its place).
        bad = body.replace(b"Speechpath", b"Speech\xffpath")
        r = subprocess.run([BIN, "siprec", "inspect", "-"], input=bad, capture_output=True, env=self.env,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        names = [p.get("name", "") for p in json.loads(r.stdout.decode())["recordingSession"]["participants"]]
        self.assertIn("Speech\ufffdpath-Main-Line 016190619", names)

    def test_unreadable_input(self):
        r = self.run_vb("siprec", "inspect", os.path.join(self.tmp, "missing.sip"), check=2)
        self.assertIn("cannot read", r.stderr)
        self.run_vb("siprec", "inspect", "-", stdin="", check=2)


if __name__ == "__main__":
    main()
