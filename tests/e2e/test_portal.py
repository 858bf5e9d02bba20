"""The portal (issue 18) in a real browser. A SIPREC client records a call with espeak-ng speech;
once the recorder transcribed it and made its playback files, `verbatim serve` serves the portal
over HTTPS and web/tests/portal.test.mjs (Playwright driving Debian's chromium, one browser for
all its tests) signs in with each role, searches, plays the call to the end, and checks T36. Then
the ledger is checked here: the denied opening is `access.denied` naming the other desk's
officer, and the playback is `access.read` naming the officer who played it."""
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from helpers import SOURCE_DIR, archive_ledger, main, wait_until  # noqa: E402
import test_recorder as recorder  # noqa: E402
from speech import send_speech  # noqa: E402

ALICE = ("sip:alice@example.com", "Alice Example")
BOB = ("sip:+442079460018@trunk.example.net", "Bob Trader")
WEB = os.path.join(SOURCE_DIR, "web")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def browser_missing():
    """What the browser tests need and this machine lacks (empty: nothing)."""
    return [what for what, ok in (("chromium (apt-get install chromium)", os.path.exists(CHROMIUM)),
                                  ("web/node_modules (scripts/bootstrap.sh)",
                                   os.path.isdir(os.path.join(WEB, "node_modules", "playwright-core"))))
            if not ok]


class PortalInABrowser(recorder.RecorderTestCase):
    def setUp(self):
        super().setUp()
        if browser_missing():
            self.skipTest("needs " + ", ".join(browser_missing()))

    def start_portal(self):
        """`serve --roles admin-api` over HTTPS (a certificate from `verbatim tls init`)."""
        certs = os.path.join(self.tmp, "tls")
        self.run_vb("tls", "init", "--dir", certs, check=0)
        cfg = os.path.join(self.tmp, "portal.toml")
        with open(cfg, "w") as f:
            f.write('[admin_api]\nlisten = "127.0.0.1:0"\ntls = true\n'
                    '[portal]\nplayback_reason_roles = ["compliance-officer"]\n'
                    f'[tls]\ncertificate = "{certs}/server.crt"\nprivate_key = "{certs}/server.key"\n')
        p = subprocess.Popen([recorder.BIN, "--config", cfg, "serve", "--roles", "admin-api"], stdout=subprocess.PIPE,
                             stderr=open(os.path.join(self.tmp, "portal.log"), "w"), text=True, env=self.env)
        self.servers.append(p)
        m = re.search(r"(https://\S+)", p.stdout.readline())
        self.assertTrue(m, open(os.path.join(self.tmp, "portal.log")).read())
        return m.group(1)

    def account(self, name, role, *scope):
        password = f"{name} has a long passphrase"
        self.run_vb("account", "add", name, "--role", role, "--password-stdin", *scope, stdin=password + "\n",
                    check=0)
        return {"name": name, "password": password}

    def ledger(self, kind):
        return archive_ledger(self.data, kind)

    def test_sign_in_search_play_and_t36_in_chromium(self):
        rec, port = self.start_recorder({"transcription": "pocketsphinx"})
        c = recorder.SipClient(port)
        body, ct = recorder.multipart(
            recorder.offer([("1", 7400, [0], "sendonly"), ("2", 7402, [0], "sendonly")]),
            recorder.metadata([("p1", *ALICE, "1", "2"), ("p2", *BOB, "2", "1")], ["1", "2"]))
        r = c.request("INVITE", body, ct)
        self.assertEqual(r["status"], 200, r["head"])
        send_speech(recorder.answer_ports(r["body"]),
                    ["we will sell the bonds at the market price", "please confirm the trade today"])
        self.assertEqual(c.request("BYE")["status"], 200)
        rid = self.recording_of(c.call_id)

        # A directory user and a policy for the admin pages to change (the policy is not granted).
        setup = self.run_vb("admin", "-c", "New-VbUser -UserPrincipalName dana@example.com -DisplayName 'Dana Desk'; "
                            "New-CsOnlineApplicationInstance -UserPrincipalName rec@example.com -DisplayName Rec "
                            "-ApplicationId 11111111-2222-4333-8444-555555555555; "
                            "New-VbRecorderEndpoint -ApplicationId 11111111-2222-4333-8444-555555555555 "
                            "-Uri sip:srs.example.com -Region EUR; "
                            "New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true; "
                            "New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@example.com")
        self.assertEqual(setup.returncode, 0, setup.stdout + setup.stderr)
        url = self.start_portal()
        facts = {"url": url, "recording": rid, "participant": "alice", "word": "market",
                 "user": "dana@example.com", "endpoint": "sip:srs.example.com",
                 "officer": self.account("officer", "compliance-officer"),
                 "officer2": self.account("officer2", "compliance-officer"),
                 "downloads": self.tmp,
                 "desk2": self.account("desk2", "compliance-officer", "--groups", "Desk2"),
                 "admin": self.account("kim", "admin"),
                 "auditor": self.account("audrey", "auditor")}
        token = self.token("checker", "compliance-officer")
        self.assertTrue(wait_until(lambda: self.ready(url, rid, token), 120), self.log_text()[-3000:])

        env = dict(os.environ, PORTAL_FACTS=json.dumps(facts), CHROMIUM=CHROMIUM)
        run = subprocess.run(["node", "--test", "--test-reporter=spec", "tests/portal.test.mjs"], cwd=WEB, env=env,
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stdout[-6000:] + run.stderr[-3000:])
        print("\n".join(line for line in run.stdout.splitlines() if "page timings" in line))

        # The case's package, downloaded in the browser, verifies offline.
        check = self.run_vb("verify-export", os.path.join(self.tmp, "case-1.tar"), "--public-key",
                            os.path.join(self.data, "archive", "signing.key.pub"))
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn(f"{rid}: valid", check.stdout)
        self.assertEqual(self.ledger("case.released")[-1]["by"], "api:officer approved by api:officer2")
        # The admin's change went through the interpreter: audited with its actor.
        audit = self.run_vb("admin", "-c", "Get-VbAuditLog -Last 5", check=0).stdout
        self.assertIn("api:kim", audit)

        # The ledger names who was refused and who played what.
        denied = [e for e in self.ledger("access.denied") if e.get("by") == "api:desk2"]
        self.assertEqual([e["target"] for e in denied], [rid, "0" * 32])
        reads = [e for e in self.ledger("access.read") if e.get("by") == "api:officer"]
        self.assertTrue(reads, self.ledger("access.read")[-3:])
        # The reason asked before playback is in the ledger, before the first read.
        reasons = [e for e in self.ledger("access.reason") if e.get("by") == "api:officer"]
        self.assertEqual([(e["recording"], e["reason"]) for e in reasons],
                         [(rid, "surveillance alert 17"), (rid, "card number to redact")])
        playback = {o["id"] for o in self.show(rid)["objects"] if o["kind"] == "playback"}
        played = [e for e in reads if e["object"] in playback]
        self.assertTrue(played, reads)
        self.assertLess(reasons[0]["seq"], played[0]["seq"])
        # The note taken in the player, with its text, by the officer.
        notes = [(e["by"], e["text"]) for e in self.ledger("access.annotation")]
        self.assertEqual(notes, [("api:officer", "asks to move the trade to Friday")])
        # The redaction: asked for with its reason, made by the recorder as version 1 (a metadata
        # version by the officer), and the original objects still verify, deeply.
        asked = [e for e in self.ledger("access.redaction") if e.get("by") == "api:officer"]
        self.assertEqual([(e["recording"], e["reason"], e["fill"]) for e in asked],
                         [(rid, "card number read out", "tone")])
        shown = self.show(rid)
        self.assertEqual([(v["version"], v["requestedBy"]) for v in shown["metadata"]["redactions"]],
                         [(1, "api:officer")])
        kinds = [o["kind"] for o in shown["objects"]]
        self.assertEqual(kinds.count("playback-redacted"), 2, kinds)  # the span covered both lanes
        self.assertEqual(kinds.count("playback"), 2, kinds)
        self.assertIn("OK", self.run_vb("verify", "--deep", check=0).stdout)
        # The portal's sign-ins are in the security log, the wrong password too.
        events = self.api(url, "/api/v1/security-log", self.token("auditor", "auditor"))["events"]
        actions = [(e["action"], e.get("detail", {}).get("account")) for e in events]
        self.assertIn(("session.failed", "officer"), actions)
        self.assertIn(("session.created", None), actions)

    def test_live_listening_to_a_sipp_call_in_progress_in_chromium(self):
        """SIPp keeps a SIPREC call going (a tone on each stream from rtp_sender.py) while officers
        use the Live page: one listens within 2 s of real time, another desk's cannot."""
        rec, port = self.start_recorder()
        url = self.start_portal()
        facts = {"url": url, "officer": self.account("officer", "compliance-officer"),
                 "desk2": self.account("desk2", "compliance-officer", "--groups", "Desk2")}
        body, ct = recorder.multipart(
            recorder.offer([("1", 7400, [0], "sendonly"), ("2", 7402, [0], "sendonly")]),
            recorder.metadata([("p1", *ALICE, "1", "2"), ("p2", *BOB, "2", "1")], ["1", "2"]))
        sent = os.path.join(self.tmp, "sent.json")
        cmd = (f'<exec command="{sys.executable} {recorder.SENDER} --ports [$p1],[$p2] --packets 1500 '
               f'--out {sent}"/>')
        sipp, call_id = self.run_sipp(port, ct, body.replace("\r\n", "\n").strip("\n"), 30000, exec_cmd=cmd,
                                      name="live")
        token = self.token("watcher", "compliance-officer")
        live = []

        def listed():
            nonlocal live
            live = self.api(url, "/api/v1/live", token)["calls"]
            return bool(live)
        self.assertTrue(wait_until(listed, 20), self.log_text()[-2000:])
        facts["recording"] = live[0]["id"]
        self.assertEqual(live[0]["callId"], call_id)
        env = dict(os.environ, PORTAL_FACTS=json.dumps(facts), CHROMIUM=CHROMIUM)
        run = subprocess.run(["node", "--test", "--test-reporter=spec", "tests/live.test.mjs"], cwd=WEB, env=env,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout[-6000:] + run.stderr[-3000:])
        print("\n".join(line for line in run.stdout.splitlines() if "live listening" in line or "timings" in line))
        _, err = sipp.communicate(timeout=90)
        self.assertEqual(sipp.returncode, 0, err)
        # Each listen is in the ledger with its start and end; the other desk's attempt is denied.
        listens = [(e["by"], e["event"]) for e in self.ledger("access.listen")]
        self.assertEqual(listens, [("api:officer", "start"), ("api:officer", "end")])
        denied = [e for e in self.ledger("access.denied") if e.get("by") == "api:desk2"]
        self.assertEqual([e["target"] for e in denied], [facts["recording"]])

    def api(self, url, path, token):
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "tls", "ca.crt"))
        req = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return json.load(r)

    def ready(self, url, rid, token):
        try:
            d = self.api(url, f"/api/v1/recordings/{rid}", token)
        except urllib.error.HTTPError:
            return False
        return bool(d.get("transcript")) and len(d["participants"]) == 2 and all(
            p.get("media") for p in d["participants"])


if __name__ == "__main__":
    if not shutil.which("node"):
        print("skipped: node is not installed (scripts/bootstrap.sh)")
        sys.exit(77)
    main()
