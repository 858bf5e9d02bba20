"""Prometheus metrics (issue 18): GET /metrics on the admin API reads the status files of the
roles sharing its data directory. Checked against Prometheus's own tool: `promtool check metrics`
lints the exposition, and `promtool check rules` / `promtool test rules` check the sample
alerting rules (share/prometheus) and that they fire when they should."""
import os
import re
import shutil
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from helpers import SOURCE_DIR, http, main, wait_until  # noqa: E402
import test_recorder as recorder  # noqa: E402

RULES = os.path.join(SOURCE_DIR, "share", "prometheus")


def scrape(url, token):
    req = urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers["Content-Type"], r.read().decode()


def value(text, name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


class Metrics(recorder.RecorderTestCase):
    def setUp(self):
        super().setUp()
        if not shutil.which("promtool"):
            self.skipTest("needs promtool (Debian prometheus; scripts/bootstrap.sh installs it)")

    def test_metrics_lint_clean_and_count_the_recorders_sessions(self):
        rec, port = self.start_recorder()
        _, url = self.start_server()
        token = self.token("scraper", "auditor")
        status, _ = http("GET", url + "/metrics", None)
        self.assertEqual(status, 401)  # a token is needed
        c = recorder.SipClient(port)
        body, ct = recorder.multipart(recorder.offer([("1", 7400, [0], "sendonly")]),
                                      recorder.metadata([("p1", "sip:alice@example.com", "Alice", "1", "")], ["1"]))
        self.assertEqual(c.request("INVITE", body, ct)["status"], 200)
        self.assertEqual(c.request("BYE")["status"], 200)
        self.assertTrue(wait_until(
            lambda: (value(scrape(url, token)[1], "verbatim_recorder_sessions_completed_total") or 0)
            + (value(scrape(url, token)[1], "verbatim_recorder_sessions_partial_total") or 0) >= 1, 10))
        ctype, text = scrape(url, token)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        self.assertEqual(value(text, "verbatim_recorder_up"), 1)
        self.assertEqual(value(text, "verbatim_gateway_up"), 0)  # no gateway here
        self.assertLess(value(text, "verbatim_recorder_status_age_seconds"), 30)
        self.assertIn('verbatim_jobs{state="', text)
        self.assertIsNotNone(value(text, "verbatim_recorder_packets_lost_total"))
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr + text)

    def test_sample_alerting_rules(self):
        check = subprocess.run(["promtool", "check", "rules", "verbatim-alerts.yml"], cwd=RULES,
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("SUCCESS: 9 rules found", check.stdout)
        test = subprocess.run(["promtool", "test", "rules", "verbatim-alerts.test.yml"], cwd=RULES,
                              capture_output=True, text=True)
        self.assertEqual(test.returncode, 0, test.stdout + test.stderr)


if __name__ == "__main__":
    main()
