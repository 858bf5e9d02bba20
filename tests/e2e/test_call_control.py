"""Call control end to end (issue 18): a compliance officer pauses and resumes the recording of a
call in progress (a card payment), records an unrecorded call on demand and stops that recording,
through the REST API, while SIPp phones talk through the gateway to our recorder — each role a
process of its own sharing the data directory, as in production. Asserts what the recorder kept
(the pause on the recording's timeline, nothing copied in the pause), the call record and the
ledger (docs/portal.md, "Call control")."""
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from helpers import archive_ledger, http, main, wait_until  # noqa: E402
from test_gateway import GatewayTestCase, caller_scenario  # noqa: E402
import test_portal as portal  # noqa: E402  (a module, so that its tests do not run here again)


class CallControlTest(GatewayTestCase):
    def live_call(self, url, token, caller):
        """The call at the gateway from `caller`, once connected."""
        def connected():
            status, body = http("GET", url + "/api/v1/live", token)
            self.assertEqual(status, 200, body)
            for c in body.get("gatewayCalls", []):
                if c["caller"]["aor"].startswith(f"sip:{caller}@") and c["state"] == "connected":
                    return c
            return None
        return wait_until(connected, 20, 0.25)

    def control(self, url, token, call_id, action, **body):
        return http("POST", f"{url}/api/v1/live/calls/{urllib.parse.quote(call_id, safe='')}/{action}", token,
                    body)

    def test_pause_resume_and_recording_on_demand_through_the_rest_api(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port])
        gw, gw_port = self.start_gateway()
        _, url = self.start_server()
        officer = self.token("olivia", "compliance-officer")
        auditor = self.token("audrey", "auditor")

        # Alice (recorded by policy) calls Bob and talks for 7 s (SIPp's pcap); Bob echoes.
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=9000), "alice", "alice-secret-1", "alice",
                          echo=False)
        call = self.live_call(url, officer, "alice")
        self.assertTrue(call, open(gw.log).read()[-3000:])
        call_id = call["callId"]
        self.assertEqual(call["recordings"][0]["policy"], "Traders")
        self.assertEqual(self.control(url, auditor, call_id, "pause", reason="x")[0], 403)
        status, body = self.control(url, officer, call_id, "pause")
        self.assertEqual((status, body["error"]["errorId"]), (400, "InvalidReason"))
        # The policy requires this recording: it can be paused, never stopped.
        status, body = self.control(url, officer, call_id, "stop-recording", reason="done")
        self.assertEqual(status, 409, body)
        self.assertIn("cannot be stopped, only paused", body["error"]["message"])
        status, body = self.control(url, officer, call_id, "pause", reason="card payment")
        self.assertEqual(status, 200, body)
        paused_at = time.monotonic()
        self.assertTrue(wait_until(lambda: (self.live_call(url, officer, "alice") or {}).get("paused"), 5))
        self.assertEqual(self.control(url, officer, call_id, "pause", reason="again")[0], 409)
        time.sleep(max(0.0, 2.0 - (time.monotonic() - paused_at)))
        status, body = self.control(url, officer, call_id, "resume")
        self.assertEqual(status, 200, body)
        self.wait_sipp(alice)
        self.wait_sipp(bob)

        # The call record: both steps, by whom and why, and the packets never copied.
        record = wait_until(lambda: [c for c in self.calls() if c["callId"] == call_id], 10)[0]
        self.assertEqual([(k["action"], k["by"]) for k in record["controls"]],
                         [("pause", "api:olivia"), ("resume", "api:olivia")], record)
        self.assertEqual(record["controls"][0]["reason"], "card payment")
        media = record["media"][0]
        # About 2 s of both directions at 50 packets/s were withheld; the rest was copied.
        self.assertGreater(media["withheldWhilePaused"], 100, media)
        self.assertGreater(media["copiedToRecorders"], 200, media)
        shown = self.run_vb("calls", "show", call_id, check=0).stdout
        self.assertIn("control  pause by api:olivia", shown)

        # The recording: the pause on its timeline, for the officer playing it.
        def recording():
            status, body = http("GET", url + "/api/v1/recordings?callId=" + urllib.parse.quote(call_id), officer)
            self.assertIn(status, (200,), body)
            hits = body.get("recordings", [])
            return hits[0]["id"] if hits else None
        rid = wait_until(recording, 20, 0.5)
        self.assertTrue(rid, self.run_vb("search", "--json", check=0).stdout[-3000:] + call_id)

        def timeline():
            status, body = http("GET", f"{url}/api/v1/recordings/{rid}", officer)
            events = {e["type"]: e["atSeconds"] for e in body.get("timeline", [])} if status == 200 else {}
            return events if "pause" in events and "pause-end" in events else None
        events = wait_until(timeline, 30, 0.5)
        self.assertTrue(events, http("GET", f"{url}/api/v1/recordings/{rid}", officer)[1])
        self.assertAlmostEqual(events["pause-end"] - events["pause"], 2.0, delta=1.0)
        self.assertNotIn("hold", events)  # one pause, not each stream's hold
        # What was withheld in the pause is not packet loss in the recording's quality figures.
        streams = json.loads(self.run_vb("archive", "show", rid, check=0).stdout)["metadata"]["streams"]
        self.assertTrue(streams and all(st["lossRatio"] < 0.02 for st in streams), streams)
        # The ledger: who paused which recording, when and why.
        pauses = archive_ledger(self.data, "access.pause")
        self.assertEqual([(e["by"], e["recording"], e["reason"], e["done"]) for e in pauses],
                         [("api:olivia", rid, "card payment", True), ("api:olivia", rid, "again", False)])
        self.assertEqual(len(archive_ledger(self.data, "access.resume")), 1)
        self.assertEqual([e["done"] for e in archive_ledger(self.data, "access.stop-recording")], [False])

        # Carol has no policy: her call is not recorded until the officer records it on demand.
        bob = self.callee(gw_port)
        carol = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=8000), "carol", "carol-secret-3", "carol",
                          echo=False)
        call = self.live_call(url, officer, "carol")
        self.assertTrue(call)
        self.assertEqual(call["recordings"], [])
        status, body = self.control(url, officer, call["callId"], "record", reason="suspected mis-selling")
        self.assertEqual(status, 409, body)  # nobody on the call has a policy: one must be named
        self.assertIn("name a policy", body["error"]["message"])
        status, body = self.control(url, officer, call["callId"], "record", reason="suspected mis-selling",
                                    party="caller", policy="Traders")
        self.assertEqual(status, 200, body)
        self.assertIn("recorded on demand under policy Traders", body["result"])
        on_demand = wait_until(lambda: [r for c in http("GET", url + "/api/v1/live", officer)[1]["calls"]
                                        if c.get("callId") == call["callId"] for r in [c["id"]]], 10)
        self.assertTrue(on_demand, "the recording on demand never appeared among the live calls")
        time.sleep(1.5)
        status, body = self.control(url, officer, call["callId"], "stop-recording", reason="cleared")
        self.assertEqual(status, 200, body)
        self.wait_sipp(carol)
        self.wait_sipp(bob)
        record = wait_until(lambda: [c for c in self.calls() if c["callId"] == call["callId"]], 10)[0]
        self.assertEqual(record["status"], 200)  # the call went on to its end
        self.assertEqual(record["recordings"][0]["onDemandBy"], "api:olivia")
        self.assertEqual(record["recordings"][0]["applications"][0]["instances"][0]["state"], "ended")
        started = archive_ledger(self.data, "access.record")
        self.assertEqual([e["done"] for e in started], [False, True])
        self.assertEqual(started[1]["reason"], "suspected mis-selling")
        shown = json.loads(self.run_vb("archive", "show", on_demand[0], check=0).stdout)
        self.assertIn("sip:carol@contoso.com", json.dumps(shown["metadata"]))


class CallControlInABrowser(GatewayTestCase):
    def setUp(self):
        super().setUp()
        if portal.browser_missing():
            self.skipTest("needs " + ", ".join(portal.browser_missing()))

    start_portal = portal.PortalInABrowser.start_portal
    account = portal.PortalInABrowser.account

    def test_pause_and_resume_from_the_live_page_in_chromium(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port])
        self.admin("New-VbGroup -DisplayName Desk2\nAdd-VbGroupMember -Group Desk2 -Member carol@contoso.com")
        gw, gw_port = self.start_gateway(missed_recording_after_s=1)
        url = self.start_portal()
        facts = {"url": url, "officer": self.account("olivia", "compliance-officer"),
                 "desk2": self.account("desk2", "compliance-officer", "--groups", "Desk2"),
                 "admin": self.account("ada", "admin")}
        bob = self.callee(gw_port)
        alice = self.sipp(gw_port, caller_scenario("bob", "200", hold_ms=25000), "alice", "alice-secret-1", "alice",
                          echo=False)
        env = dict(os.environ, PORTAL_FACTS=json.dumps(facts), CHROMIUM=portal.CHROMIUM)
        run = subprocess.run(["node", "--test", "--test-reporter=spec", "tests/control.test.mjs"], cwd=portal.WEB, env=env,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout[-6000:] + run.stderr[-3000:] + open(gw.log).read()[-2000:])
        self.wait_sipp(alice, 60)
        self.wait_sipp(bob, 60)
        record = wait_until(self.calls, 10)[0]
        self.assertEqual([(k["action"], k["by"], k.get("reason")) for k in record["controls"]],
                         [("pause", "api:olivia", "Card payment"), ("resume", "api:olivia", None)], record)
        self.assertEqual([e["reason"] for e in archive_ledger(self.data, "access.pause")], ["Card payment"])
        # Once the reconciler checked the call (a second after its end), the admin page's trend has
        # it: a pause is not a missed recording.
        self.assertTrue(wait_until(lambda: self.expected_today() == 1, 20), self.expected_today())
        env["PORTAL_FACTS"] = json.dumps(dict(facts, day=record["start"][:10]))
        run = subprocess.run(["node", "--test", "--test-reporter=spec", "tests/trend.test.mjs"], cwd=portal.WEB, env=env,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout[-6000:] + run.stderr[-3000:])

    def expected_today(self):
        """The recordings the reconciler counted as expected (read-only, beside the gateway)."""
        path = os.path.join(self.data, "missed.db")
        if not os.path.exists(path):
            return None
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return db.execute("SELECT SUM(expected) FROM daily").fetchone()[0]
        except sqlite3.OperationalError:  # not yet made
            return None
        finally:
            db.close()


if __name__ == "__main__":
    main()
