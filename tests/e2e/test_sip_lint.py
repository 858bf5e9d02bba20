"""`verbatim sip lint` as a user runs it: files and stdin, CRLF and LF line ends, exit codes
0 (valid) / 1 (invalid, with line and reason) / 2 (unreadable), and --json."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import TESTDATA, VerbatimTestCase, main, needs_corpus  # noqa: E402

TORTURE = os.path.join(TESTDATA, "sip-torture")


class SipLintTest(VerbatimTestCase):
    @needs_corpus("sip-torture")
    def test_valid_and_invalid_files(self):
        r = self.run_vb("sip", "lint", os.path.join(TORTURE, "wsinv.dat"), check=0)
        self.assertTrue(r.stdout.startswith("valid: INVITE"), r.stdout)
        r = self.run_vb("sip", "lint", os.path.join(TORTURE, "baddn.dat"), check=1)
        self.assertIn("line 4", r.stdout)
        self.assertIn("unquoted display name", r.stdout)
        r = self.run_vb("sip", "lint", os.path.join(TORTURE, "badvers.dat"), check=1)
        self.assertIn("(505)", r.stdout)

    @needs_corpus("sip-torture")
    def test_json_parsed_form(self):
        r = self.run_vb("sip", "lint", "--json", os.path.join(TORTURE, "wsinv.dat"), check=0)
        j = json.loads(r.stdout)
        self.assertTrue(j["valid"])
        m = j["message"]
        self.assertEqual(m["method"], "INVITE")
        self.assertEqual(m["cseq"], {"number": 9, "method": "INVITE"})
        self.assertEqual(len(m["via"]), 3)
        self.assertEqual(m["to"]["params"]["tag"], "1918181833n")
        r = self.run_vb("sip", "lint", "--json", os.path.join(TORTURE, "escnull.dat"), check=0)
        self.assertIn("\\x00", json.loads(r.stdout)["message"]["to"]["uri"]["userUnescaped"])
        r = self.run_vb("sip", "lint", "--json", os.path.join(TORTURE, "mismatch01.dat"), check=1)
        self.assertFalse(json.loads(r.stdout)["valid"])

    @needs_corpus("sip-torture")
    def test_stdin_with_lf_line_ends_as_pasted(self):
        with open(os.path.join(TORTURE, "mpart01.dat"), "rb") as f:
            crlf = f.read()
        head, _, _ = crlf.partition(b"\r\n\r\n")
        pasted = head.replace(b"\r\n", b"\n") + b"\n\n"
        pasted = pasted.replace(b"Content-Length: 553", b"Content-Length: 0")
        r = self.run_vb("sip", "lint", "-", stdin=pasted.decode("latin-1"), check=0)
        self.assertIn("line ends were LF only", r.stdout)

    def test_usage_errors(self):
        r = self.run_vb("sip", "lint", os.path.join(self.tmp, "missing.sip"), check=2)
        self.assertTrue(r.stderr.strip())
        self.run_vb("sip", "lint", "-", stdin="", check=2)


if __name__ == "__main__":
    main()
