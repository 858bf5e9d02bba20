"""The admin REST API through a real `verbatim serve` process on loopback."""
import os
import re
import signal
import socket
import sys
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from helpers import SOURCE_DIR, VerbatimTestCase, http, http_bytes, wait_until, main  # noqa: E402


class RestTest(VerbatimTestCase):
    def test_crud_decision_and_auth(self):
        token = self.token()
        _, url = self.start_server()
        self.assertEqual(http("GET", url + "/healthz")[0], 200)
        self.assertEqual(http("GET", url + "/api/v1/policies")[0], 401)
        self.assertEqual(http("GET", url + "/api/v1/policies", token="vbt_wrong")[0], 401)
        status, body = http("POST", url + "/api/v1/users", token,
                            {"UserPrincipalName": "alice@contoso.com", "PhoneNumber": "+14255550100"})
        self.assertEqual(status, 201, body)
        status, body = http("POST", url + "/api/v1/application-instances", token,
                            {"UserPrincipalName": "rec@contoso.com",
                             "ApplicationId": "0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"})
        self.assertEqual(status, 201, body)
        rec = body["objects"][0]["ObjectId"]
        status, body = http("POST", url + "/api/v1/recorder-endpoints", token,
                            {"ApplicationId": "0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
                             "Uri": "sip:rec.contoso.com"})
        # Where recordings go changes only when a second admin approves (four-eyes).
        self.assertEqual(status, 202, body)
        approval = body["approval"]["id"]
        status, _ = http("POST", f"{url}/api/v1/approvals/{approval}/approve", token)
        self.assertEqual(status, 403)
        second = self.token("second-admin")
        status, body = http("POST", f"{url}/api/v1/approvals/{approval}/approve", second)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "approved")
        status, body = http("POST", url + "/api/v1/policies", token,
                            {"Identity": "Traders", "Enabled": True,
                             "ComplianceRecordingApplications": [{"Id": rec, "ConcurrentInvitationCount": 1}]})
        self.assertEqual(status, 201, body)
        self.assertEqual(body["objects"][0]["ComplianceRecordingApplications"][0]["Identity"], f"Tag:Traders/{rec}")
        status, body = http("POST", url + "/api/v1/users/alice@contoso.com/policy", token, {"PolicyName": "Traders"})
        self.assertEqual(status, 200, body)
        party = urllib.parse.quote("sip:+14255550100@gw.contoso.com;user=phone")
        status, body = http("GET", f"{url}/api/v1/decision?party={party}", token)
        self.assertEqual(status, 200)
        self.assertTrue(body["record"])
        self.assertEqual(body["policy"]["invitations"][0]["recorder"]["endpoints"][0]["uri"], "sip:rec.contoso.com")
        # Removing an assigned policy is refused with 409 and changes nothing.
        status, body = http("DELETE", url + "/api/v1/policies/Traders", token)
        self.assertEqual(status, 409, body)
        self.assertIn("assigned to 1 user", body["error"]["message"])

    def test_cli_changes_reach_a_running_server_at_once(self):
        token = self.token()
        self.run_vb("admin", "-c", "New-VbUser bob@contoso.com\nNew-CsTeamsComplianceRecordingPolicy P -Enabled $true", check=0)
        _, url = self.start_server()
        decision = lambda: http("GET", url + "/api/v1/decision?party=bob@contoso.com", token)[1]
        self.assertEqual(decision()["policy"]["identity"], "Global")
        self.run_vb("admin", "-c", "Grant-CsTeamsComplianceRecordingPolicy bob@contoso.com P", check=0)
        self.assertTrue(wait_until(lambda: decision()["policy"]["identity"] == "Tag:P", timeout=10))

    def test_parallel_clients(self):
        token = self.token()
        _, url = self.start_server()
        results = []

        def worker(i):
            s, b = http("POST", url + "/api/v1/groups", token, {"DisplayName": f"Group {i}"})
            results.append(s)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        self.assertEqual(sorted(results), [201] * 20)
        status, body = http("GET", url + "/api/v1/groups", token)
        self.assertEqual(len(body["objects"]), 20)

    def test_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        _, url = self.start_server("[::1]:0")
        self.assertTrue(url.startswith("http://[::1]:"))
        self.assertEqual(http("GET", url + "/healthz")[0], 200)

    def test_sigterm_stops_cleanly(self):
        p, url = self.start_server()
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 0)

    def test_malformed_http_gets_400(self):
        _, url = self.start_server()
        host, port = urllib.parse.urlparse(url).hostname, urllib.parse.urlparse(url).port
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"GARBAGE\r\n\r\n")
            self.assertIn(b"400", s.recv(200))
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"POST /api/v1/script HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
            s.sendall(b"x" * 65536)
            self.assertIn(b"413", s.recv(200))



class RestConformsToOpenApi(VerbatimTestCase):
    """docs/openapi.yaml against the running server: every documented route and method exists.
    GETs run as an admin and as a compliance officer (nothing changes); other methods as an
    auditor, who may change nothing, so the answer is a 403 or a 400 from the route itself,
    never the server's 404 for an unknown path or a 405."""

    def test_every_documented_route_answers(self):
        import yaml
        with open(os.path.join(SOURCE_DIR, "docs", "openapi.yaml")) as f:
            spec = yaml.safe_load(f)
        _, url = self.start_server()
        readers = [self.token("admin", "admin"), self.token("officer", "compliance-officer")]
        auditor = self.token("auditor", "auditor")
        checked = 0
        for path, item in spec["paths"].items():
            concrete = re.sub(r"\{[^}]+\}", "x1", path)
            for method in item:
                if method == "parameters":
                    continue
                tokens = readers if method == "get" else [auditor]
                if path == "/metrics":  # Prometheus text, not JSON
                    self.assertEqual(http_bytes(url + path, readers[0])[0], 200)
                    checked += 1
                    continue
                for token in tokens:
                    body = None if method in ("get", "delete") else {}
                    status, reply = http(method.upper(), url + concrete, token, body)
                    error = reply.get("error", {}) if isinstance(reply, dict) else {}
                    self.assertFalse(status == 404 and error.get("errorId") == "NotFound",
                                     f"{method.upper()} {path}: the server has no such route")
                    self.assertNotEqual(status, 405, f"{method.upper()} {path}: {reply}")
                    checked += 1
        self.assertGreater(checked, 50)
        # And the other way: an undocumented path is the server's 404.
        status, reply = http("GET", url + "/api/v1/no-such-route", readers[0])
        self.assertEqual((status, reply["error"]["errorId"]), (404, "NotFound"))

if __name__ == "__main__":
    main()
