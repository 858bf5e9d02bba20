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
from helpers import BIN, main, wait_until  # noqa: E402
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
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            started = re.findall(r"recording (\w+) started", f.read())
        self.assertEqual(len(started), 1, rec.log)
        shown = json.loads(self.run_vb("archive", "show", started[0], check=0).stdout)
        chat = [o["id"] for o in shown["objects"] if o["kind"] == "chat"]
        self.assertEqual(len(chat), 1, shown["objects"])
        kept = json.loads(subprocess.run([BIN, "archive", "cat", chat[0]], capture_output=True, env=self.env,
                                         timeout=60).stdout)
        self.assertEqual([(c["from"], c["text"]) for c in kept["messages"]][:2],
                         [("sip:alice@contoso.com", "Can you do 5m at 101?"),
                          ("sip:bob@contoso.com", "Done at 101.")])


if __name__ == "__main__":
    main()
