"""Search, and everything else a compliance officer does, beside the running recorder (issue 17):
`verbatim search`, `archive show`, `archive hold`, `export` and the REST search all work while
`serve --roles recorder` keeps taking calls, and every search is an access.search entry in the
ledger with who, the query and the recordings it listed. The recordings come from a SIPREC client
over UDP (test_recorder.SipClient) with RFC 7865 metadata, business data in a SIP header."""
import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from helpers import archive_ledger, http, http_bytes, main, wait_until  # noqa: E402
# As a module, so its test classes are not collected here too.
import test_recorder as recorder  # noqa: E402
from speech import send_speech  # noqa: E402
from test_missed import Hook  # noqa: E402

ALICE = ("sip:alice@example.com", "Alice Example")
BOB = ("sip:+442079460018@trunk.example.net", "Bob Trader")
CAROL = ("sip:carol@example.com", "Carol")
DAVE = ("sip:dave@example.com", "Dave")


class SearchBesideTheRecorder(recorder.RecorderTestCase):
    def call(self, port, first, second, headers=()):
        """A recorded call from `first` to `second` (RFC 7865: the first participant called)."""
        c = recorder.SipClient(port)
        body, ct = recorder.multipart(
            recorder.offer([("1", 7400, [0], "sendonly"), ("2", 7402, [0], "sendonly")]),
            recorder.metadata([("p1", *first, "1", "2"), ("p2", *second, "2", "1")], ["1", "2"]))
        r = c.request("INVITE", body, ct, headers=headers)
        self.assertEqual(r["status"], 200, r["head"])
        return c

    def search(self, *args):
        r = self.run_vb("search", "--json", *args, check=0)
        return [h["id"] for h in json.loads(r.stdout)["recordings"]]

    def ledger(self, kind):
        return archive_ledger(self.data, kind)

    def test_search_show_hold_and_export_while_the_recorder_records(self):
        rec, port = self.start_recorder({"business_headers": ["X-Trade-Id"]})
        c1 = self.call(port, ALICE, BOB)
        self.assertEqual(c1.request("BYE")["status"], 200)
        c2 = self.call(port, CAROL, ALICE, headers=["X-Trade-Id: T-77"])
        self.assertEqual(c2.request("BYE")["status"], 200)
        live = self.call(port, DAVE, CAROL)  # still being recorded throughout
        first, second = self.recording_of(c1.call_id), self.recording_of(c2.call_id)

        # Metadata search, newest first, while the recorder holds the archive.
        self.assertEqual(self.search("--participant", "alice"), [second, first])
        self.assertEqual(self.search("--participant", "+44 20 7946 0018"), [first])
        self.assertEqual(self.search("--dialed", "4420"), [first])
        self.assertEqual(self.search("--origin", "4420"), [])
        self.assertEqual(self.search("--data", "X-Trade-Id=T-77"), [second])
        self.assertEqual(self.search("--status", "recording"), [self.recording_of(live.call_id)])
        page = json.loads(self.run_vb("search", "--json", "--participant", "ali", "--limit", "1",
                                      check=0).stdout)
        self.assertEqual([h["id"] for h in page["recordings"]], [second])
        self.assertEqual(self.search("--participant", "ali", "--cursor", page["next"]), [first])
        text = self.run_vb("search", "--participant", "alice", check=0).stdout
        self.assertIn("Carol <carol@example.com> -> Alice Example <alice@example.com>", text)
        bad = self.run_vb("search", "--from", "last tuesday")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("from: 'last tuesday' is not a time", bad.stderr)

        # The rest of an officer's work on the same archive, still beside the recorder.
        shown = json.loads(self.run_vb("archive", "show", first, check=0).stdout)
        self.assertEqual(shown["metadata"]["call"]["origin"]["aor"], ALICE[0])
        self.assertEqual(self.run_vb("archive", "hold", "case-9", first, check=0).stdout.strip(), "ok")
        self.run_vb("export", first, "--out", os.path.join(self.tmp, "first.tar"), check=0)
        self.assertEqual(self.run_vb("archive", "import", __file__).returncode, 2)  # the writer's

        # REST, from an admin API in a third process: the same search, scoped by account.
        _, url = self.start_server()
        officer = self.token("officer", "compliance-officer")
        status, body = http("GET", url + "/api/v1/recordings?participant=alice", officer)
        self.assertEqual(status, 200, body)
        self.assertEqual([h["id"] for h in body["recordings"]], [second, first])
        self.assertEqual(body["recordings"][1]["dialed"], "442079460018")
        status, body = http("GET", url + "/api/v1/recordings?colour=red", officer)
        self.assertEqual(status, 400)
        self.assertIn("colour: not a search parameter", body["error"]["message"])
        scoped = self.token("scoped", "compliance-officer", "--groups", "Nobody")
        status, body = http("GET", url + "/api/v1/recordings?" + urllib.parse.urlencode(
            {"participant": "alice"}), scoped)
        self.assertEqual((status, body["recordings"]), (200, []))
        admin = self.token("admin", "admin")
        self.assertEqual(http("GET", url + "/api/v1/recordings", admin)[0], 403)

        # The recorder went on recording: a new call is recorded and found.
        c4 = self.call(port, BOB, DAVE)
        self.assertEqual(c4.request("BYE")["status"], 200)
        fourth = self.recording_of(c4.call_id)
        self.assertTrue(wait_until(  # ended (no media was sent: partial) just after the BYE
            lambda: self.search("--participant", "dave", "--status", "partial") == [fourth]),
            self.run_vb("search", "--participant", "dave").stdout)

        # Related interactions: the same parties (alice and bob, as in the first call) and the
        # same trade id (as in the second), oldest first, with why; CLI and REST.
        c5 = self.call(port, ALICE, BOB, headers=["X-Trade-Id: T-77"])
        self.assertEqual(c5.request("BYE")["status"], 200)
        fifth = self.recording_of(c5.call_id)
        rel = json.loads(self.run_vb("search", "--related", fifth, "--json", check=0).stdout)
        self.assertEqual([(r["id"], r["why"]) for r in rel["related"]],
                         [(first, ["same parties"]), (second, ["x-trade-id=T-77"])])
        self.assertIn("related: same parties", self.run_vb("search", "--related", fifth, check=0).stdout)
        status, body = http("GET", url + f"/api/v1/recordings/{fifth}/related", officer)
        self.assertEqual(status, 200, body)
        self.assertEqual([r["id"] for r in body["related"]], [first, second])
        self.assertEqual(self.run_vb("search", "--related", fifth, "--participant", "x").returncode, 2)
        self.assertEqual(live.request("BYE")["status"], 200)
        self.stop_recorder(rec)

        # Every search is in the ledger: who, the query, the recordings listed.
        searches = self.ledger("access.search")
        alice = [e for e in searches if e["query"] == {"participant": "alice"}]
        # `search --json`, then as text, then through the API.
        self.assertEqual([e["recordings"] for e in alice], [[second, first]] * 3, alice)
        self.assertTrue(alice[0]["by"].startswith("os:"), alice)  # the CLI, as the local user
        self.assertEqual(alice[2]["by"], "api:officer")
        self.assertTrue(any(e["query"].get("scope") == {"groups": ["Nobody"], "regions": []}
                            for e in searches), searches)
        self.assertEqual([e["recording"] for e in self.ledger("hold.set")], [first])
        self.assertIn("OK", self.run_vb("verify", check=0).stdout)


class TranscriptsBesideTheRecorder(recorder.RecorderTestCase):
    """Transcription, text and phonetic search (issue 17's acceptance): espeak-ng speech through a
    SIPREC client, transcribed by PocketSphinx after the call, found while the recorder runs."""

    def test_text_and_phonetic_search_find_what_was_said(self):
        rec, port = self.start_recorder({"transcription": "pocketsphinx"})
        # Saved searches (run by the admin API's server): a keyword list with a webhook, saved on
        # the CLI, and an officer's search by participant, saved over REST. They alert on what
        # arrives from now on.
        _, url = self.start_server()
        officer = self.token("officer", "compliance-officer")
        hook = Hook()
        self.addCleanup(hook.server_close)
        self.addCleanup(hook.shutdown)
        saved = self.run_vb("search", "--keyword", "market", "--keyword", "off the record", "--save", "surveillance",
                            "--every", "1s", "--webhook", hook.url(), check=0)
        self.assertIn("saved search 'surveillance'", saved.stdout)
        status, body = http("POST", url + "/api/v1/saved-searches",
                            officer, {"name": "carol-calls", "params": {"participant": "carol"}, "everySeconds": 1})
        self.assertEqual(status, 201, body)
        status, body = http("POST", url + "/api/v1/saved-searches", officer, {"name": "bad", "params": {"colour": "red"}})
        self.assertEqual((status, body["error"]["errorId"]), (400, "InvalidQuery"))
        c = recorder.SipClient(port)
        body, ct = recorder.multipart(
            recorder.offer([("1", 7400, [0], "sendonly"), ("2", 7402, [0], "sendonly")]),
            recorder.metadata([("p1", *ALICE, "1", "2"), ("p2", *BOB, "2", "1")], ["1", "2"]))
        r = c.request("INVITE", body, ct)
        self.assertEqual(r["status"], 200, r["head"])
        send_speech(recorder.answer_ports(r["body"]),
                    ["we will sell the bonds at the market price",
                     "we should call Zorblax Capital about the deal"])
        self.assertEqual(c.request("BYE")["status"], 200)
        rid = self.recording_of(c.call_id)
        live = SearchBesideTheRecorder.call(self, port, CAROL, DAVE)  # recording throughout

        def transcribed():
            jobs = json.loads(self.run_vb("jobs", "list", "--json", check=0).stdout or "[]")
            return any(j["kind"] == "transcribe" and j["state"] == "done" for j in jobs)
        self.assertTrue(wait_until(transcribed, 120), self.log_text()[-3000:])

        # The transcript: one per participant, stamped with the engine, stored encrypted.
        shown = json.loads(self.run_vb("archive", "show", rid, check=0).stdout)
        t = shown["metadata"]["transcripts"]
        self.assertEqual(t["engine"]["name"], "pocketsphinx")
        self.assertRegex(t["engine"]["version"], r"5prealpha")
        self.assertIn("sha256 ", t["engine"]["model"])
        self.assertEqual(len(t["files"]), 2, t)
        # Both spoke at once (the client sent both sentences together): overtalk, and each one's
        # share of the call.
        self.assertGreater(t["talk"]["overtalkRatio"], 0.2, t["talk"])
        self.assertLess(t["talk"]["silenceRatio"], 0.5, t["talk"])
        for f in t["files"]:
            self.assertTrue(0.3 < f["talkRatio"] < 1, f)
        # Sentiment: per participant and for the call, stamped with the lexicon's package.
        self.assertRegex(t["sentiment"]["engine"]["version"], r"^vader-sentiment \d")
        self.assertIn("sha256 ", t["sentiment"]["engine"]["lexicon"])
        self.assertIn(t["sentiment"]["overall"]["label"], ("positive", "negative", "neutral"))
        for f in t["files"]:
            self.assertGreaterEqual(f["sentiment"]["utterances"], 1, f)
            self.assertTrue(-1 <= f["sentiment"]["score"] <= 1, f)
        kinds = {o["id"]: o["kind"] for o in shown["objects"]}
        alice = next(f for f in t["files"] if f.get("aors") == [ALICE[0]])
        self.assertEqual(kinds[alice["object"]], "transcript")
        doc = json.loads(self.run_vb("archive", "cat", alice["object"], check=0).stdout)
        words = [w for u in doc["utterances"] for w in u["words"]]
        self.assertIn("market", [w["word"] for w in words], doc["utterances"])
        market = next(w for w in words if w["word"] == "market")
        self.assertTrue(0.5 < market["start"] < market["end"] < 6, market)  # on the call's timeline
        self.assertTrue(0 <= market["confidence"] <= 1)
        stored = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(self.data, "archive", "objects"))
                  for f in fs]
        self.assertTrue(stored)
        for path in stored:  # encrypted at rest: no object file has the words
            with open(path, "rb") as f:
                self.assertNotIn(b"market", f.read(), path)

        # Text search (the words, in context) and phonetic search (a made-up name by its sound).
        self.assertEqual(self.search("--text", "market"), [rid])
        self.assertEqual(self.search("--text", "market", "--participant", "carol"), [])
        out = self.run_vb("search", "--text", "market", check=0).stdout
        self.assertRegex(out, r"Alice Example <sip:alice@example.com>: .*\[market\]")
        found = self.search("--phonetic", "Zorblax")
        self.assertEqual(found[:1], [rid], found)
        page = json.loads(self.run_vb("search", "--json", "--phonetic", "zorblax", check=0).stdout)
        best = page["recordings"][0]
        self.assertGreaterEqual(best["score"], 0.45)
        self.assertEqual(best["matches"][0]["kind"], "phonetic")
        self.assertIn("Bob Trader", best["matches"][0]["speaker"])
        bad = self.run_vb("search", "--threshold", "2", "--phonetic", "x")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("threshold", bad.stderr)

        # The saved searches found the new calls: the keyword list the call that said "market"
        # (once its transcript was indexed), Carol's the call she is on.
        def hits(name):
            out = json.loads(self.run_vb("saved-searches", "hits", name, "--json", check=0).stdout)
            return [h["id"] for h in out]
        self.assertEqual(wait_until(lambda: hits("surveillance"), 20), [rid], self.log_text()[-2000:])
        live_rid = self.recording_of(live.call_id)
        status, body = http("GET", url + "/api/v1/saved-searches/carol-calls/hits", officer)
        self.assertEqual((status, [h["id"] for h in body["hits"]]), (200, [live_rid]), body)
        self.assertIn("[market]", json.loads(self.run_vb("saved-searches", "hits", "surveillance", "--json",
                                                         check=0).stdout)[0]["matches"][0]["text"])
        # The webhook: refused once (500), delivered on the retry 5 s later.
        self.assertTrue(wait_until(lambda: len(hook.posts) >= 2, 20), hook.posts)
        self.assertEqual([p[2] for p in hook.posts[:2]], [500, 200])
        self.assertEqual(hook.posts[1][1]["type"], "savedSearchHit")
        self.assertEqual(hook.posts[1][1]["search"], "surveillance")
        self.assertEqual(hook.posts[1][1]["id"], rid)
        status, body = http("GET", url + "/api/v1/saved-searches", officer)
        self.assertEqual([s["name"] for s in body["savedSearches"]], ["carol-calls"])  # the officer's own
        status, body = http("GET", url + "/api/v1/saved-searches/surveillance/hits", officer)
        self.assertEqual(status, 403, body)  # saved by another (the CLI's operator)
        self.assertIn("surveillance", self.run_vb("saved-searches", "list", check=0).stdout)
        status, body = http("DELETE", url + "/api/v1/saved-searches/carol-calls", officer)
        self.assertEqual(status, 200, body)

        # The same over REST.
        status, body = http("GET", url + "/api/v1/recordings?" + urllib.parse.urlencode(
            {"text": "market"}), officer)
        self.assertEqual(status, 200, body)
        self.assertEqual([h["id"] for h in body["recordings"]], [rid])
        self.assertIn("[market]", body["recordings"][0]["matches"][0]["text"])

        # The whole conversation, every participant in time order: CLI and REST.
        lines = self.run_vb("archive", "transcript", rid, check=0).stdout
        self.assertIn("# transcribed by pocketsphinx", lines)
        self.assertRegex(lines, r"0:0\d  Alice Example <sip:alice@example.com>: .*market")
        self.assertIn("Bob Trader <sip:+442079460018@trunk.example.net>: ", lines)
        status, body = http("GET", url + f"/api/v1/recordings/{rid}/transcript", officer)
        self.assertEqual(status, 200, body)
        starts = [u["start"] for u in body["utterances"]]
        self.assertEqual(starts, sorted(starts))
        self.assertEqual(len({u["speaker"] for u in body["utterances"]}), 2, body)
        self.assertIn("words", body["utterances"][0])
        self.assertTrue(all(-1 <= u["sentiment"] <= 1 for u in body["utterances"]), body)
        # One interaction in one answer, and a participant's voice as Opus that a player seeks in.
        self.assertTrue(wait_until(lambda: http("GET", url + f"/api/v1/recordings/{rid}/media",
                                                officer)[1]["files"], 30))
        status, body = http("GET", url + f"/api/v1/recordings/{rid}", officer)
        self.assertEqual(status, 200, body)
        alice = [p for p in body["participants"] if p.get("aor") == "sip:alice@example.com"][0]
        self.assertIn("talkRatio", alice)
        self.assertIn(alice["sentiment"]["label"], ("positive", "negative", "neutral"))
        self.assertEqual(body["sentiment"]["engine"]["name"], "vader")
        self.assertTrue(body["transcript"]["utterances"])
        self.assertIsInstance(body["related"], list)
        status, headers, whole = http_bytes(url + alice["media"], officer)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Accept-Ranges"], "bytes")
        self.assertEqual(whole[:4], b"OggS")
        status, headers, part = http_bytes(url + "/api/v1/recordings/" + rid + "/media/alice@example.com",
                                           officer, {"Range": "bytes=100-"})
        self.assertEqual(status, 206)
        self.assertEqual(part, whole[100:])
        self.assertEqual(headers["Content-Range"], f"bytes 100-{len(whole) - 1}/{len(whole)}")
        # An independent decoder reads it whole: opusdec (opus-tools).
        path = os.path.join(self.tmp, "alice.opus")
        with open(path, "wb") as f:
            f.write(whole)
        decoded = subprocess.run(["opusdec", "--quiet", path, os.path.join(self.tmp, "alice.wav")],
                                 capture_output=True, text=True)
        self.assertEqual(decoded.returncode, 0, decoded.stderr)
        status, body = http("GET", url + f"/api/v1/recordings/{self.recording_of(live.call_id)}/transcript",
                            officer)
        self.assertEqual((status, body["error"]["errorId"]), (404, "NoTranscript"), body)
        self.assertEqual(live.request("BYE")["status"], 200)
        self.stop_recorder(rec)

    def search(self, *args):
        return SearchBesideTheRecorder.search(self, *args)


if __name__ == "__main__":
    main()
