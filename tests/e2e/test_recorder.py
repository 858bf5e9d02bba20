"""The recorder end to end: `verbatim serve --roles recorder` takes SIPREC sessions from SIPp
acting as a recording client (with the metadata and SDP of real vendors' captures, and SIPp's
own pcap playback) and from a small SIP client in this file for what SIPp cannot script
(re-INVITEs with new offers, a client that never sends BYE); RTP comes from rtp_sender.py.
Every test reads the result back through the archive (`archive show`, `archive cat`, `verify`)
and compares the evidence with what was sent, packet for packet and sample for sample.

Reliability scenarios covered here (../shared/reliability-tests.md): T02 (recorder killed
mid-call), T04 (recorder side: storage below the floor), T12 (RTP bleed), T14 (duplicates,
reordering, late packets), T15 (SSRC change), T16 (codec change by re-INVITE), T17 (hold and
resume), T20 (huge metadata)."""
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
import uuid
import wave

sys.path.insert(0, os.path.dirname(__file__))
from helpers import BIN, SOURCE_DIR, TESTDATA, VerbatimTestCase, free_port_block, free_udp_port, main, needs_corpus, wait_until  # noqa: E402

SCENARIO = os.path.join(SOURCE_DIR, "tests", "interop", "scenarios", "siprec_src.xml")
SENDER = os.path.join(SOURCE_DIR, "tests", "e2e", "rtp_sender.py")
VENDORS = os.path.join(TESTDATA, "siprec-vendors")
SIPP_PCAP = "/usr/share/sip-tester/g711a.pcap"


def vendor_body(name):
    """The body of a vendor capture and its Content-Type, with the SDP's addresses moved to
    loopback (where the test's RTP comes from)."""
    with open(os.path.join(VENDORS, name), encoding="utf-8", errors="replace") as f:
        text = f.read().replace("\r\n", "\n")
    if name.endswith(".sip"):
        head, _, body = text.partition("\n\n")
        m = re.search(r"^(?:Content-Type|c)\s*:\s*(.+)$", head, re.M | re.I)
        content_type = m.group(1).strip()
    else:
        body = text
        boundary = re.search(r"^\s*--(\S+)", body).group(1)
        content_type = "multipart/mixed;boundary=" + boundary
    body = re.sub(r"c=IN IP4 \S+", "c=IN IP4 127.0.0.1", body).strip("\n")
    return content_type, body


def read_pcap(data):
    """(source address, source port, destination port, UDP payload) of every record."""
    magic = struct.unpack("<I", data[:4])[0]
    assert magic == 0xA1B23C4D, hex(magic)  # nanosecond timestamps
    assert struct.unpack("<I", data[20:24])[0] == 101  # LINKTYPE_RAW
    out, i = [], 24
    while i + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[i:i + 16])
        pkt = data[i + 16:i + 16 + incl]
        i += 16 + incl
        ihl = (pkt[0] & 0x0F) * 4
        src = socket.inet_ntoa(pkt[12:16])
        sport, dport = struct.unpack("!HH", pkt[ihl:ihl + 4])
        out.append((src, sport, dport, pkt[ihl + 8:]))
    return out


def rtp_fields(payload):
    _, pt, seq, ts, ssrc = struct.unpack("!BBHII", payload[:12])
    return ssrc, seq, ts, pt & 0x7F, payload[12:]


def g711(payload, alaw):
    """ITU-T G.711 decoding (an independent reference: not the recorder's spandsp)."""
    out = []
    for b in payload:
        if alaw:
            b ^= 0x55
            seg, mant = (b >> 4) & 7, b & 0x0F
            v = (mant << 4) + 8 if seg == 0 else ((mant << 4) + 0x108) << (seg - 1)
            out.append(v if b & 0x80 else -v)
        else:
            b = ~b & 0xFF
            v = (((b & 0x0F) << 3) + 0x84) << ((b >> 4) & 7)
            out.append(0x84 - v if b & 0x80 else v - 0x84)
    return out


def opus_to_8k(ogg, tmp):
    """Decodes an Ogg/Opus file with opus-tools' opusdec (an independent decoder) to 8 kHz."""
    src, wav = os.path.join(tmp, "track.ogg"), os.path.join(tmp, "track.wav")
    with open(src, "wb") as f:
        f.write(ogg)
    r = subprocess.run(["opusdec", "--quiet", "--rate", "8000", src, wav], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with wave.open(wav) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        return list(struct.unpack(f"<{w.getnframes()}h", w.readframes(w.getnframes())))


def match(track, ref, at, max_lag=160):
    """Where `ref` (8 kHz samples) sits in `track` near sample `at`: (lag in samples, normalised
    correlation, SNR in dB after the best gain), over the whole of `ref` (so loud passages
    count most: Opus, a perceptual codec, keeps the waveform of speech, not of near-silence)."""
    first, last = 0, len(ref)
    seg = ref
    e_ref = sum(v * v for v in seg) or 1

    def corr(lag):
        start = at + first + lag
        if start < 0 or start + len(seg) > len(track):
            return -1.0
        win = track[start:start + len(seg)]
        e_win = sum(v * v for v in win) or 1
        return sum(a * b for a, b in zip(win, seg)) / (e_ref * e_win) ** 0.5

    coarse = max(range(-max_lag, max_lag + 1, 4), key=corr)
    lag = max(range(coarse - 4, coarse + 5), key=corr)
    win = track[at + first + lag:at + first + lag + len(seg)]
    gain = sum(a * b for a, b in zip(win, seg)) / e_ref
    noise = sum((a - gain * b) ** 2 for a, b in zip(win, seg)) or 1
    return lag, corr(lag), 10 * math.log10(gain * gain * e_ref / noise)


class SipClient:
    """A recording client over UDP for the scenarios SIPp cannot script: INVITE with any body,
    re-INVITE/UPDATE with new offers, BYE, and answering the recorder's own BYE."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.local = self.sock.getsockname()[1]
        self.remote = ("127.0.0.1", port)
        self.call_id = uuid.uuid4().hex + "@127.0.0.1"
        self.tag = uuid.uuid4().hex[:8]
        self.to_tag = ""
        self.cseq = 0
        self.byes = []  # BYEs received from the recorder

    def request(self, method, body="", content_type="application/sdp", headers=(), siprec=True,
                via_params=";rport"):
        self.cseq += 1
        to = f"<sip:srs@127.0.0.1:{self.remote[1]}>" + (f";tag={self.to_tag}" if self.to_tag else "")
        lines = [f"{method} sip:srs@127.0.0.1:{self.remote[1]} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.local};branch=z9hG4bK{uuid.uuid4().hex[:12]}{via_params}",
                 f"From: <sip:src@127.0.0.1:{self.local}>;tag={self.tag}", f"To: {to}",
                 f"Call-ID: {self.call_id}", f"CSeq: {self.cseq} {method}",
                 f"Contact: <sip:src@127.0.0.1:{self.local}>" + (";+sip.src" if siprec else ""),
                 "Max-Forwards: 70", *headers]
        if siprec and method == "INVITE":
            lines.append("Require: siprec")
        data = body.replace("\r\n", "\n").replace("\n", "\r\n").encode()
        if data:
            lines.append("Content-Type: " + content_type)
        lines.append(f"Content-Length: {len(data)}")
        msg = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
        self.sock.sendto(msg, self.remote)
        return self.final(method)

    def final(self, method, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.receive()
            if msg is None or not msg["status"] or msg["cseq_method"] != method:
                continue
            if msg["status"] >= 200:
                m = re.search(r"^To:.*;tag=([^;\s]+)", msg["head"], re.M | re.I)
                if m and method == "INVITE" and msg["status"] < 300:
                    self.to_tag = m.group(1)
                    self.ack()
                return msg
        raise AssertionError(f"no final response to {method}")

    def receive(self):
        try:
            data, _ = self.sock.recvfrom(65535)
        except socket.timeout:
            return None
        text = data.decode(errors="replace")
        head, _, body = text.partition("\r\n\r\n")
        first = head.split("\r\n", 1)[0]
        m = re.search(r"^CSeq:\s*\d+\s+(\w+)", head, re.M | re.I)
        msg = {"head": head, "body": body, "status": 0, "cseq_method": m.group(1) if m else ""}
        if first.startswith("SIP/2.0 "):
            msg["status"] = int(first.split()[1])
        elif first.startswith("BYE "):
            self.byes.append(msg)
            self.respond_ok(head)
        return msg

    def respond_ok(self, head):
        keep = [line for line in head.split("\r\n")[1:]
                if re.match(r"^(Via|From|To|Call-ID|CSeq):", line, re.I)]
        msg = "\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0"]) + "\r\n\r\n"
        self.sock.sendto(msg.encode(), self.remote)

    def ack(self):
        lines = [f"ACK sip:srs@127.0.0.1:{self.remote[1]} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.local};branch=z9hG4bK{uuid.uuid4().hex[:12]}",
                 f"From: <sip:src@127.0.0.1:{self.local}>;tag={self.tag}",
                 f"To: <sip:srs@127.0.0.1:{self.remote[1]}>;tag={self.to_tag}",
                 f"Call-ID: {self.call_id}", f"CSeq: {self.cseq} ACK", "Max-Forwards: 70", "Content-Length: 0"]
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), self.remote)

    def wait_bye(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.byes and time.monotonic() < deadline:
            self.receive()
        return bool(self.byes)


def offer(streams, version=1, extra=""):
    """An SDP offer: streams = [(label, port, payload types, direction)]."""
    names = {0: "PCMU/8000", 8: "PCMA/8000", 9: "G722/8000", 96: "opus/48000/2", 101: "telephone-event/8000"}
    sdp = ["v=0", f"o=src 4242 {version} IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
    for label, port, pts, direction in streams:
        sdp.append(f"m=audio {port} RTP/AVP " + " ".join(str(p) for p in pts))
        sdp += [f"a=rtpmap:{p} {names[p]}" for p in pts]
        sdp += [f"a=label:{label}", f"a={direction}"]
    return "\r\n".join(sdp) + "\r\n" + extra


def metadata(participants, streams, mode="complete"):
    """RFC 7865 metadata: participants = [(id, aor, name, sends label, receives label)]."""
    x = ['<?xml version="1.0" encoding="UTF-8"?>',
         '<recording xmlns="urn:ietf:params:xml:ns:recording:1">', f"<datamode>{mode}</datamode>",
         '<session session_id="s1"><start-time>2026-11-26T10:00:00Z</start-time></session>']
    for pid, aor, name, _, _ in participants:
        x.append(f'<participant participant_id="{pid}"><nameID aor="{aor}"><name>{name}</name></nameID></participant>')
    for label in streams:
        x.append(f'<stream stream_id="st{label}" session_id="s1"><label>{label}</label></stream>')
    for pid, _, _, send, recv in participants:
        x.append(f'<participantstreamassoc participant_id="{pid}"><send>st{send}</send><recv>st{recv}</recv>'
                 "</participantstreamassoc>")
    x.append("</recording>")
    return "\n".join(x)


def multipart(sdp, xml):
    return ("--vbb\r\nContent-Type: application/sdp\r\n\r\n" + sdp +
            "--vbb\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n" +
            xml + "\r\n--vbb--\r\n"), "multipart/mixed;boundary=vbb"


def answer_ports(sdp):
    return [int(p) for p in re.findall(r"^m=audio (\d+)", sdp, re.M)]


class RecorderTestCase(VerbatimTestCase):
    def setUp(self):
        super().setUp()
        self.log = None

    def start_recorder(self, settings=None, flush_ms=200, extra_toml=""):
        """Starts `serve --roles recorder` with [recorder] settings over the test defaults; returns
        the process and its SIP port."""
        base = free_port_block()
        # No transcripts unless a test asks (they cost CPU the other tests want; test_search has them).
        values = {"sip_listen": "127.0.0.1:0", "rtp_port_min": base, "rtp_port_max": base + 199,
                  "min_free_mb": 0, "transcription": "none", **(settings or {})}
        cfg = os.path.join(self.tmp, "recorder.toml")
        with open(cfg, "w") as f:
            f.write(f"[archive]\nflush_interval_ms = {flush_ms}\nmin_free_mb = 0\n[recorder]\n")
            for k, v in values.items():
                f.write(f"{k} = {json.dumps(v)}\n")
            f.write(extra_toml)
        self.log = os.path.join(self.tmp, f"recorder-{len(self.servers)}.log")
        err = open(self.log, "a")
        p = subprocess.Popen([BIN, "--config", cfg, "serve", "--roles", "recorder"], stdout=subprocess.PIPE,
                             stderr=err, text=True, env=self.env)
        err.close()
        self.servers.append(p)
        line = p.stdout.readline()
        m = re.search(r"sip:127\.0\.0\.1:(\d+)", line)
        if not m:
            p.kill()
            self.fail(f"recorder did not start: {line!r} {open(self.log).read()}")
        return p, int(m.group(1))

    def stop_recorder(self, p):
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=90)
        self.assertEqual(p.returncode, 0, open(self.log).read()[-3000:])

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def recording_of(self, call_id):
        for log in [os.path.join(self.tmp, n) for n in os.listdir(self.tmp) if n.startswith("recorder-")]:
            with open(log) as f:
                m = re.search(r"recording (\w+) started: Call-ID " + re.escape(call_id) + " ", f.read())
            if m:
                return m.group(1)
        self.fail(f"no recording for Call-ID {call_id}")

    def show(self, rec):
        return json.loads(self.run_vb("archive", "show", rec, check=0).stdout)

    def object_bytes(self, rec, kind):
        objs = [o for o in self.show(rec)["objects"] if o["kind"] == kind]
        self.assertEqual(len(objs), 1, self.show(rec)["objects"])
        r = subprocess.run([BIN, "archive", "cat", objs[0]["id"]], capture_output=True, env=self.env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def quality(self, rec):
        return json.loads(self.object_bytes(rec, "quality"))

    def wait_jobs(self, count, timeout=60):
        """Waits until `count` playback jobs are done; returns them."""
        jobs = []

        def done():
            nonlocal jobs
            r = self.run_vb("jobs", "list", "--json", check=0)
            jobs = json.loads(r.stdout) if r.returncode == 0 else []
            return sum(j["state"] == "done" and j["kind"] == "playback" for j in jobs) >= count
        self.assertTrue(wait_until(done, timeout), jobs)
        return jobs

    def playback(self, rec):
        """{label: 8 kHz samples of the playback file of the participant sending on it alone}."""
        show = self.show(rec)
        pb = show["metadata"]["playback"]
        tracks = {}
        for f in pb["files"]:
            kinds = {o["id"]: o["kind"] for o in show["objects"]}
            self.assertEqual(kinds[f["object"]], "playback")
            r = subprocess.run([BIN, "archive", "cat", f["object"]], capture_output=True, env=self.env, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout[:4], b"OggS")
            if len(f["labels"]) == 1:
                tracks[f["labels"][0]] = opus_to_8k(r.stdout, self.tmp)
        return pb, tracks

    def assert_playback_matches(self, rec, sent_by_label, starts=None):
        """Each participant's playback file holds what was sent on their stream: at its place on
        the timeline (within 20 ms: meaningful for speech; a steady tone matches at every period,
        the unit tests check onsets), the same waveform (correlation, SNR after Opus)."""
        pb, tracks = self.playback(rec)
        self.assertTrue(set(sent_by_label) & set(tracks), (list(sent_by_label), list(tracks)))
        for label, ref in sent_by_label.items():
            if label not in tracks:
                continue
            track = tracks[label]
            self.assertAlmostEqual(len(track) / 8000, pb["durationSeconds"], delta=0.05)
            lag, corr, snr = match(track, ref, int((starts or {}).get(label, 0) * 8000))
            self.assertLessEqual(abs(lag), 160, f"label {label}: {lag / 8} ms off the timeline")
            self.assertGreater(corr, 0.9, f"label {label}")
            self.assertGreater(snr, 6, f"label {label}")
        return pb

    def assert_evidence_matches(self, rec, sent_file, allow_missing_tail=0, other_senders=False):
        """Every RTP packet the sender sent is in the evidence once, byte for byte, from the
        sender's own source; nothing else is there (other_senders: packets of other senders,
        from the same address, may be there too)."""
        with open(sent_file) as f:
            sent = json.load(f)
        packets = read_pcap(self.object_bytes(rec, "evidence-pcap"))
        for st in sent["streams"]:
            got = {}
            for src, sport, dport, payload in packets:
                if dport != st["port"] or (other_senders and src == "127.0.0.1" and sport != st["sourcePort"]):
                    continue
                self.assertEqual((src, sport), ("127.0.0.1", st["sourcePort"]), "a packet from a foreign source")
                ssrc, seq, ts, pt, body = rtp_fields(payload)
                key = (ssrc, seq)
                self.assertNotIn(key, got, "a duplicate in the evidence")
                got[key] = (ts, pt, body)
            want = {(p["ssrc"], p["seq"]): (p["ts"], p["pt"], bytes.fromhex(p["payload"])) for p in st["sent"]}
            missing = set(want) - set(got)
            self.assertLessEqual(len(missing), allow_missing_tail, f"port {st['port']}: {len(missing)} missing")
            self.assertEqual(set(got) - set(want), set(), "packets nobody sent")
            for k in set(want) & set(got):
                self.assertEqual(got[k], want[k], "samples differ")
        return sent, packets

    def sender(self, ports, out, *args):
        return subprocess.Popen([sys.executable, SENDER, "--ports", ",".join(str(p) for p in ports), "--out", out,
                                 *args])

    def record_call(self, port, name):
        """SIPp records a two-party call (g711a.pcap on it) with the recorder on `port`; returns
        the recording once it ended and its jobs settled."""
        body, ct = multipart(offer([("1", 7000, [8], "sendonly"), ("2", 7002, [8], "sendonly")]),
                             metadata([("p1", "sip:alice@example.com", "Alice", "1", "2"),
                                       ("p2", "sip:bob@example.com", "Bob", "2", "1")], ["1", "2"]))
        p, call_id = self.run_sipp(port, ct, body.replace("\r\n", "\n").strip("\n"), 3000,
                                   play=f'<exec play_pcap_audio="{SIPP_PCAP}"/>', name=name)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        rec = self.recording_of(call_id)
        self.assertTrue(wait_until(lambda: self.show(rec)["status"] != "recording", 30))
        # Its jobs (the playback file) add objects of their own after the call: wait for them,
        # so that the recording's list of objects is final.
        jobs = []

        def settled():
            nonlocal jobs
            r = self.run_vb("jobs", "list", "--json", check=0)
            jobs = [j for j in (json.loads(r.stdout) if r.returncode == 0 else []) if j["recording"] == rec]
            return jobs and all(j["state"] in ("done", "failed") for j in jobs)
        self.assertTrue(wait_until(settled, 120), jobs)
        return rec

    def run_sipp(self, port, content_type, body, hold_ms, exec_cmd="", play="", name="sipp"):
        with open(SCENARIO) as f:
            scenario = f.read()
        scenario = (scenario.replace("@CONTENT_TYPE@", content_type).replace("@BODY@", body)
                    .replace("@EXEC@", exec_cmd).replace("@PLAY@", play).replace("@HOLD_MS@", str(hold_ms)))
        path = os.path.join(self.tmp, name + ".xml")
        with open(path, "w") as f:
            f.write(scenario)
        p = subprocess.Popen(["sipp", f"127.0.0.1:{port}", "-sf", path, "-m", "1", "-i", "127.0.0.1",
                              "-p", str(free_udp_port()), "-mi", "127.0.0.1", "-mp", str(free_udp_port()),
                              "-cp", str(free_udp_port()),
                              "-timeout", "60", "-timeout_error", "-nostdin", "-trace_err", "-trace_logs"],
                             cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return p, f"1-{p.pid}@127.0.0.1"  # SIPp's [call_id] for its first call


class VendorInteropTest(RecorderTestCase):
    @needs_corpus("siprec-vendors")
    def test_vendor_sessions_recorded_sample_exact(self):
        """SIPp sends SIPREC INVITEs with the metadata and SDP of eight vendors' captures, in
        parallel; RTP on every stream (two tones, DTMF on the first); the evidence holds exactly
        what was sent, the catalog names the participants."""
        rec, port = self.start_recorder()
        vendors = ["cisco-01.body", "sonus-01.body", "acme-01.body", "connectel-01.body", "procomm-01.body",
                   "metaswitch-01.sip", "avaya-01.sip", "broadworks-01.sip"]
        runs = []
        for v in vendors:
            ct, body = vendor_body(v)
            name = v.split(".")[0]
            out = os.path.join(self.tmp, name + ".sent.json")
            pt = "8" if name == "procomm-01" else "0"
            cmd = (f'<exec command="{sys.executable} {SENDER} --ports [$p1],[$p2] --packets 60 --out {out} '
                   f'--pt {pt} --dtmf 5# --seed {len(runs) + 1}"/>')
            p, call_id = self.run_sipp(port, ct, body, 4000, exec_cmd=cmd, name=name)
            runs.append((v, p, call_id, out))
        for v, p, _, _ in runs:
            _, err = p.communicate(timeout=90)
            self.assertEqual(p.returncode, 0, f"{v}: {err}")
        for v, _, _, out in runs:
            self.assertTrue(wait_until(lambda: os.path.exists(out), 10), v)
        self.wait_jobs(len(runs))  # the playback files, made after each call
        self.stop_recorder(rec)
        for v, _, call_id, out in runs:
            with self.subTest(vendor=v):
                r = self.recording_of(call_id)
                show = self.show(r)
                self.assertEqual(show["status"], "complete", show["reason"])
                md = show["metadata"]
                self.assertEqual(md["callId"], call_id)
                self.assertGreaterEqual(len(md["participants"]), 1, v)
                self.assertTrue(all(p["aor"] for p in md["participants"]), md["participants"])
                self.assertEqual({o["kind"] for o in show["objects"]},
                                 {"evidence-pcap", "signalling", "quality", "playback"})
                sent, _ = self.assert_evidence_matches(r, out)
                # The playback files: each participant's audio as sent, on the call's timeline.
                label_of = {m["port"]: m["label"] for m in md["media"]}
                refs = {label_of[st["port"]]: [v for p in st["sent"] if p["pt"] in (0, 8)
                                               for v in g711(bytes.fromhex(p["payload"]), p["pt"] == 8)]
                        for st in sent["streams"]}
                pb = self.assert_playback_matches(r, refs)
                self.assertAlmostEqual(pb["durationSeconds"], 1.2, delta=0.1)
                q = self.quality(r)
                self.assertEqual(len(q["streams"]), len(sent["streams"]))
                digits = [e["digit"] for e in q["events"] if e["type"] == "dtmf"]
                types = [e["type"] for e in q["events"]]
                if "telephone-event" in vendor_body(v)[1]:
                    self.assertEqual(digits, ["5", "#"])
                else:  # not offered: kept as evidence, flagged
                    self.assertEqual(digits, [])
                    self.assertIn("unknown-payload", types)
                for s in q["streams"]:
                    self.assertEqual(s["sources"][0]["lost"], 0, s)
                    self.assertGreater(s["sources"][0]["mos"], 4.0, s)
                signalling = self.object_bytes(r, "signalling").decode()
                self.assertIn("INVITE sip:srs@", signalling)
                self.assertIn(call_id, signalling)
        self.assertIn("OK", self.run_vb("verify", "--deep", check=0).stdout)

    def test_sipp_pcap_playback(self):
        """SIPp plays its own G.711 A-law capture (Debian sip-tester's g711a.pcap) to the first
        stream: the payloads in the evidence are the capture's, in order."""
        rec, port = self.start_recorder()
        body, ct = multipart(offer([("1", 7000, [8], "sendonly"), ("2", 7002, [8], "sendonly")]),
                             metadata([("p1", "sip:alice@example.com", "Alice", "1", "2"),
                                       ("p2", "sip:bob@example.com", "Bob", "2", "1")], ["1", "2"]))
        p, call_id = self.run_sipp(port, ct, body.replace("\r\n", "\n").strip("\n"), 9000,
                                   play=f'<exec play_pcap_audio="{SIPP_PCAP}"/>', name="playback")
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.wait_jobs(1)
        self.stop_recorder(rec)
        r = self.recording_of(call_id)
        show = self.show(r)
        # Only stream 1 had media: partial, saying which stream was silent.
        self.assertEqual(show["status"], "partial")
        self.assertIn("no media received on stream(s) labelled 2", show["reason"])
        self.assertEqual([p["name"] for p in show["metadata"]["participants"]], ["Alice", "Bob"])
        with open(SIPP_PCAP, "rb") as f:
            raw = f.read()
        # The capture is Ethernet + IPv4 + UDP with microsecond timestamps.
        want, i = [], 24
        while i + 16 <= len(raw):
            incl = struct.unpack("<I", raw[i + 8:i + 12])[0]
            frame = raw[i + 16:i + 16 + incl]
            i += 16 + incl
            ihl = (frame[14] & 0x0F) * 4
            want.append(frame[14 + ihl + 8:])
        got = [payload for _, _, _, payload in read_pcap(self.object_bytes(r, "evidence-pcap"))]
        self.assertEqual(len(got), len(want))
        self.assertEqual([rtp_fields(g)[4] for g in got], [rtp_fields(w)[4] for w in want])
        q = self.quality(r)
        self.assertEqual(q["streams"][0]["sources"][0]["codec"], "PCMA")
        # Alice's playback file is the capture's audio; Bob (silent stream) gets no file.
        pb = self.assert_playback_matches(r, {"1": [v for w in want for v in g711(rtp_fields(w)[4], True)]})
        self.assertEqual([f["name"] for f in pb["files"]], ["Alice <sip:alice@example.com>"])
        self.assertEqual(pb["withoutAudio"], ["Bob <sip:bob@example.com>"])


class MediaFailureTest(RecorderTestCase):
    def call(self, port, labels=("1", "2"), pts=(0,)):
        c = SipClient(port)
        body, ct = multipart(offer([(label, 7000 + 2 * i, list(pts), "sendonly") for i, label in enumerate(labels)]),
                             metadata([("p1", "sip:alice@example.com", "Alice", labels[0], labels[-1])],
                                      list(labels)))
        r = c.request("INVITE", body, ct)
        self.assertEqual(r["status"], 200, r["head"])
        self.assertIn("a=recvonly", r["body"])
        return c, answer_ports(r["body"])

    def test_t12_rtp_bleed_t14_duplicates_reordering_loss(self):
        """An attacker sprays RTP (random and spoofed SSRCs) and RTCP at every port from another
        address; the real source sends with 20 % loss, 10 % duplicates and 5 % reordering, across
        the 16-bit sequence wrap. Nothing of the attacker's is stored, every packet sent is stored
        once, the loss is measured."""
        rec, port = self.start_recorder()
        c, ports = self.call(port)
        out = os.path.join(self.tmp, "sent.json")
        s = self.sender(ports, out, "--packets", "150", "--attacker", "127.0.0.2", "--loss", "0.2",
                        "--duplicates", "0.1", "--reorder", "0.05", "--seed", "7")
        self.assertEqual(s.wait(60), 0)
        self.assertEqual(c.request("BYE")["status"], 200)
        self.stop_recorder(rec)
        r = self.recording_of(c.call_id)
        sent, packets = self.assert_evidence_matches(r, out)
        self.assertGreater(sent["attackPackets"], 100)
        self.assertFalse([p for p in packets if p[0] != "127.0.0.1"])
        q = self.quality(r)
        for st in q["streams"]:
            self.assertGreater(st["foreignDropped"], 40, st)
            self.assertGreater(st["duplicatesDropped"], 5, st)
            src = st["sources"][0]
            self.assertTrue(0.1 < src["lossRatio"] < 0.3, src)
            self.assertGreater(src["late"], 0, src)
        self.assertTrue([e for e in q["events"] if e["type"] == "foreign-source"])
        # The loss as it happened, per stream (a late packet may fill a hole already noted).
        for st in q["streams"]:
            noted = sum(e["packets"] for e in q["events"] if e["type"] == "loss" and e["label"] == st["label"])
            src = st["sources"][0]
            self.assertLessEqual(abs(noted - src["lost"]), src["late"], (st, q["events"]))
        self.assertIn("dropped a packet from 127.0.0.2", self.log_text())
        with open(os.path.join(self.data, "recorder-status.json")) as f:
            status = json.load(f)
        lost = sum(src["lost"] for st in q["streams"] for src in st["sources"])
        self.assertEqual(status["packetsLost"], lost, status)
        self.assertGreater(lost, 30)

    def test_t15_ssrc_change_without_reinvite(self):
        rec, port = self.start_recorder()
        c, ports = self.call(port)
        out = os.path.join(self.tmp, "sent.json")
        # ... and 1.5 s of silence (no packets, sequence numbers going on) half way to the change.
        self.assertEqual(self.sender(ports, out, "--packets", "80", "--ssrc-change-at", "40",
                                     "--silence-at", "20", "--silence", "1.5").wait(60), 0)
        c.request("BYE")
        self.stop_recorder(rec)
        r = self.recording_of(c.call_id)
        self.assert_evidence_matches(r, out)
        q = self.quality(r)
        for st in q["streams"]:
            self.assertEqual(len(st["sources"]), 2, st)
            self.assertEqual(sum(s["received"] for s in st["sources"]), 80)
            self.assertEqual(sum(s["lost"] for s in st["sources"]), 0, st)
        self.assertEqual(len([e for e in q["events"] if e["type"] == "ssrc-change"]), 2)
        # The silence is a gap on each stream, where it began; no loss.
        gaps = [e for e in q["events"] if e["type"] == "gap"]
        self.assertEqual(sorted(e["label"] for e in gaps), sorted(st["label"] for st in q["streams"]), gaps)
        for e in gaps:
            self.assertTrue(1.4 <= e["seconds"] < 3, e)
        self.assertFalse([e for e in q["events"] if e["type"] == "loss"])
        self.assertEqual(self.show(r)["status"], "complete")

    def test_t16_codec_change_t17_hold_and_metadata_updates(self):
        """re-INVITEs switch PCMU → G.722 → Opus, hold (a=inactive) and resume; an UPDATE carries
        a partial metadata update. Each answer is fresh (o= version grows, same ports, the new
        codec), the evidence keeps every packet, the timeline has the changes, and the catalog
        metadata has a version per change."""
        rec, port = self.start_recorder()
        c, ports = self.call(port, labels=("1",), pts=(0, 101))
        versions = []
        out_files = []
        for i, (pts, direction) in enumerate([([0], "sendonly"), ([9], "sendonly"), ([96], "sendonly"),
                                             ([96], "inactive"), ([96], "sendonly")]):
            if i:
                r = c.request("INVITE", offer([("1", 7100 + 2 * i, pts, direction)], version=i + 1))
                self.assertEqual(r["status"], 200, r["head"])
                self.assertEqual(answer_ports(r["body"]), ports)
                self.assertIn("a=inactive" if direction == "inactive" else "a=recvonly", r["body"])
                self.assertIn(f"m=audio {ports[0]} RTP/AVP {pts[0]}", r["body"])
                versions.append(int(re.search(r"^o=\S+ \d+ (\d+)", r["body"], re.M).group(1)))
            if direction == "inactive":
                time.sleep(0.5)
                continue
            out = os.path.join(self.tmp, f"sent{i}.json")
            self.assertEqual(self.sender(ports, out, "--packets", "20", "--pt", str(pts[0]),
                                         "--seed", str(i)).wait(60), 0)
            out_files.append(out)
        xml = metadata([("p9", "sip:carol@example.com", "Carol", "1", "1")], [], mode="partial")
        u = c.request("UPDATE", xml, "application/rs-metadata+xml")
        self.assertEqual(u["status"], 200)
        self.assertEqual(u["body"], "")  # metadata only: no SDP in the answer
        # A MESSAGE in the session (chat the recording client sends to be kept, as our gateway does
        # for meetings) is kept: 200, and the recording's chat object has it; the session goes on.
        m = c.request("MESSAGE", "the chat", "text/plain")
        self.assertEqual(m["status"], 200, m["head"])
        self.assertEqual(versions, sorted(versions))
        self.assertEqual(len(set(versions)), len(versions))
        c.request("BYE")
        self.stop_recorder(rec)
        r = self.recording_of(c.call_id)
        for out in out_files:
            self.assert_evidence_matches(r, out, other_senders=True)
        chat = json.loads(self.object_bytes(r, "chat"))
        self.assertEqual([(x["contentType"], x["text"]) for x in chat["messages"]], [("text/plain", "the chat")])
        self.assertTrue(chat["messages"][0]["from"].startswith("sip:src@"), chat)
        q = self.quality(r)
        types = [e["type"] for e in q["events"]]
        self.assertEqual([e.get("codec") for e in q["events"] if e["type"] in ("codec", "codec-change")
                          and e["ssrc"] == q["events"][types.index("codec")]["ssrc"]][:1], ["PCMU"])
        codecs = {s.get("codec") for s in q["streams"][0]["sources"]}
        self.assertTrue({"G722", "opus"} <= codecs or "codec-change" in types, q["streams"])
        # Every stream inactive at once: the client paused the recording (RFC 7866), one event for
        # the session (a hold of some streams only is each stream's "hold" and "resume").
        self.assertIn("pause", types)
        self.assertIn("pause-end", types)
        self.assertLess(types.index("pause"), types.index("pause-end"))
        self.assertNotIn("gap", types)  # T17: neither the hold nor the pause is a gap
        show = self.show(r)
        self.assertEqual(show["status"], "complete", show["reason"])
        self.assertIn("Carol", [p.get("name") for p in show["metadata"]["participants"]])
        self.assertGreaterEqual(show["metadataVersion"], 3)  # created, metadata update, ended
        history = self.run_vb("archive", "history", r, check=0).stdout
        self.assertIn("SIPREC metadata update (partial) in UPDATE", history)


class SessionLifecycleTest(RecorderTestCase):
    def test_refusals_are_clear_and_record_nothing(self):
        rec, port = self.start_recorder({"max_sessions": 1, "allowed_sources": ["127.0.0.0/8"]})
        # A plain call (an ordinary SDP offer, no metadata: not SIPREC).
        plain = SipClient(port)
        body = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=audio 40000 RTP/AVP 0\r\na=sendonly\r\n")
        r = plain.request("INVITE", body, "application/sdp", siprec=False)
        self.assertEqual(r["status"], 403)
        self.assertIn("not a SIPREC request", r["head"])
        # No SDP.
        r = SipClient(port).request("INVITE", metadata([], []), "application/rs-metadata+xml")
        self.assertEqual(r["status"], 488)
        self.assertIn("no SDP offer", r["head"])
        # An SDP whose error would quote the request (a bare CR, quotes): the Warning stays one
        # well-formed header.
        bad = offer([("1", 7000, [0], "sendonly")]).replace("m=audio 7000", 'm=audio 7"0\r0')
        body, ct = multipart(bad, metadata([], ["1"]))
        r = SipClient(port).request("INVITE", body, ct)
        self.assertEqual(r["status"], 488)
        warning = [line for line in r["head"].split("\r\n") if line.startswith("Warning:")]
        self.assertEqual(len(warning), 1, r["head"])
        self.assertRegex(warning[0], r'^Warning: 399 verbatim "SDP offer: SDP line \d+: [^"\r]*"$')
        # OPTIONS: the load.
        o = SipClient(port).request("OPTIONS")
        self.assertEqual(o["status"], 200)
        self.assertIn("X-Verbatim-Load: sessions=0;max=1", o["head"])
        # At capacity: 503 with Retry-After; the call in progress goes on.
        first = SipClient(port)
        body, ct = multipart(offer([("1", 7000, [0], "sendonly")]), metadata([], ["1"]))
        self.assertEqual(first.request("INVITE", body, ct)["status"], 200)
        r = SipClient(port).request("INVITE", body, ct)
        self.assertEqual(r["status"], 503)
        self.assertIn("Retry-After: 30", r["head"])
        self.assertIn("recorder at capacity", r["head"])
        o = SipClient(port).request("OPTIONS")
        self.assertEqual(o["status"], 503)
        self.assertEqual(first.request("BYE")["status"], 200)
        self.stop_recorder(rec)
        self.assertEqual(len(re.findall(r"recording \w+ started", self.log_text())), 1)
        with open(os.path.join(self.data, "recorder-status.json")) as f:
            status = json.load(f)
        self.assertEqual(status["refused"], {"capacity": 1, "no-sdp": 1, "not-siprec": 1, "bad-sdp": 1})

    def test_recorder_source_check_spoofable_by_via_received(self):
        """allowed_sources is checked against the address the packets came from: a client on
        127.0.0.1 writing received=10.9.9.9 into its own Via (no rport) is refused, and the
        recorder never takes an X-Verbatim header from a client it has not authenticated."""
        rec, port = self.start_recorder({"allowed_sources": ["10.9.9.0/24"]})
        body, ct = multipart(offer([(1, 40000, [0], "sendonly")]),
                             metadata([("p1", "sip:a@x", "A", 1, 1)], [1]))
        r = SipClient(port).request("INVITE", body, ct, via_params=";received=10.9.9.9")
        self.assertEqual(r["status"], 403, r["head"])
        self.assertIn("127.0.0.1 is not an allowed source", r["head"])
        self.stop_recorder(rec)

    def test_recorder_trusts_x_verbatim_headers_from_any_client(self):
        """An SBC (or anyone who can reach the recorder) writing X-Verbatim headers does not
        choose the retention rule: unsigned headers are ignored, and the recording says so."""
        rec, port = self.start_recorder()
        body, ct = multipart(offer([(1, 40000, [0], "sendonly")]),
                             metadata([("p1", "sip:a@x", "A", 1, 1)], [1]))
        c = SipClient(port)
        r = c.request("INVITE", body, ct, headers=("X-Verbatim-Groups: Short-Retention",
                                                   "X-Verbatim-Policy: Tag:NotRecorded"))
        self.assertEqual(r["status"], 200, r["head"])
        c.request("BYE")
        self.stop_recorder(rec)
        rid = re.search(r"recording (\w+) started", self.log_text()).group(1)
        shown = json.loads(self.run_vb("archive", "show", rid, check=0).stdout)
        self.assertNotIn("groups", shown["metadata"])
        self.assertNotIn("policy", shown["metadata"])
        self.assertIn("without X-Verbatim-Signature", shown["metadata"]["untrustedGatewayHeaders"])

    def test_srtp_offer_answered_with_our_own_key(self):
        """RTP/SAVP with an SDES key: answered with the same tag and suite and a key of our own;
        DTLS-SRTP (UDP/TLS/RTP/SAVPF) is refused with port 0, never recorded in the clear."""
        rec, port = self.start_recorder()
        key = "inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj"
        sdp = offer([("1", 7000, [0], "sendonly"), ("2", 7002, [0], "sendonly")])
        sdp = (sdp.replace("m=audio 7000 RTP/AVP", "m=audio 7000 RTP/SAVP")
               .replace("a=label:1", "a=label:1\r\na=crypto:3 AES_CM_128_HMAC_SHA1_80 " + key)
               .replace("m=audio 7002 RTP/AVP", "m=audio 7002 UDP/TLS/RTP/SAVPF"))
        body, ct = multipart(sdp, metadata([], ["1", "2"]))
        c = SipClient(port)
        r = c.request("INVITE", body, ct)
        self.assertEqual(r["status"], 200, r["head"])
        ports = answer_ports(r["body"])
        self.assertNotEqual(ports[0], 0)
        self.assertEqual(ports[1], 0)
        m = re.search(r"^a=crypto:3 AES_CM_128_HMAC_SHA1_80 (inline:\S+)", r["body"], re.M)
        self.assertTrue(m, r["body"])
        self.assertNotEqual(m.group(1), key)
        self.assertIn("m=audio %d RTP/SAVP" % ports[0], r["body"])
        c.request("BYE")
        self.stop_recorder(rec)
        q = self.quality(self.recording_of(c.call_id))
        refused = [e for e in q["events"] if e["type"] == "srtp-refused"]
        self.assertEqual([e["index"] for e in refused], [2])
        self.assertEqual(q["streams"][0]["srtp"], "AES_CM_128_HMAC_SHA1_80")

    def test_t04_storage_below_floor_refuses_new_sessions(self):
        """Free space below recorder.min_free_mb: new sessions get 503 naming the storage; a call
        already recording keeps recording."""
        rec, port = self.start_recorder({"min_free_mb": 100000000})
        c = SipClient(port)
        body, ct = multipart(offer([("1", 7000, [0], "sendonly")]), metadata([], ["1"]))
        r = c.request("INVITE", body, ct)
        self.assertEqual(r["status"], 503)
        self.assertIn("recording storage unavailable", r["head"])
        self.assertIn("Retry-After", r["head"])
        self.stop_recorder(rec)

    def test_t04_disk_full_mid_call_loses_nothing_already_recorded(self):
        """The disk fills up during a call (ENOSPC injected into writes after 100 kB): the call
        before it is complete and intact; the one that hit the full disk keeps its evidence up to
        the last flush and is recovered as interrupted on the next start; the archive verifies."""
        lib = os.environ.get("VERBATIM_FAIL_FSYNC_LIB", "")
        if not lib:
            self.fail("needs the fault injector (ctest sets VERBATIM_FAIL_FSYNC_LIB)")
        env = dict(self.env, LD_PRELOAD=lib, VB_ENOSPC_AFTER_BYTES="100000",
                   ASAN_OPTIONS="verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", ""))
        saved, self.env = self.env, env
        rec, port = self.start_recorder()
        self.env = saved
        body, ct = multipart(offer([("1", 7000, [0], "sendonly"), ("2", 7002, [0], "sendonly")]),
                             metadata([], ["1", "2"]))
        first = SipClient(port)
        r = first.request("INVITE", body, ct)
        out1 = os.path.join(self.tmp, "sent1.json")
        self.assertEqual(self.sender(answer_ports(r["body"]), out1, "--packets", "25").wait(60), 0)
        self.assertEqual(first.request("BYE")["status"], 200)
        second = SipClient(port)
        r = second.request("INVITE", body, ct)
        self.assertEqual(r["status"], 200)
        out2 = os.path.join(self.tmp, "sent2.json")
        self.assertEqual(self.sender(answer_ports(r["body"]), out2, "--packets", "400").wait(60), 0)
        self.assertTrue(wait_until(lambda: "No space left on device" in self.log_text(), 10), self.log_text())
        second.request("BYE")
        self.stop_recorder(rec)
        rec2, _ = self.start_recorder()  # without the injector: recovery
        self.stop_recorder(rec2)
        one = self.recording_of(first.call_id)
        self.assertEqual(self.show(one)["status"], "complete")
        self.assert_evidence_matches(one, out1)
        two = self.recording_of(second.call_id)
        self.assertEqual(self.show(two)["status"], "interrupted")
        # What was flushed before the disk filled up is there, and is exactly what was sent.
        with open(out2) as f:
            sent = {(p["ssrc"], p["seq"]): bytes.fromhex(p["payload"]) for st in json.load(f)["streams"]
                    for p in st["sent"]}
        kept = [rtp_fields(p[3]) for p in read_pcap(self.object_bytes(two, "evidence-pcap"))]
        self.assertGreater(len(kept), 50)
        self.assertLess(len(kept), len(sent))
        for ssrc, seq, _, _, payload in kept:
            self.assertEqual(sent[(ssrc, seq)], payload)
        self.assertIn("OK", self.run_vb("verify", "--deep", check=0).stdout)

    def test_t06_failed_evidence_sync_is_never_retried(self):
        """The disk reports EIO on the first fdatasync of a recording's object file after the two
        made when its objects are created (so: the first flush of its evidence): that
        recording stops writing at once (never called durable on the strength of a retried sync),
        the error is logged and counted, the next call records normally, and on restart the hit
        recording is recovered as interrupted with what was written before; verify is clean."""
        lib = os.environ.get("VERBATIM_FAIL_FSYNC_LIB", "")
        if not lib:
            self.fail("needs the fault injector (ctest sets VERBATIM_FAIL_FSYNC_LIB)")
        env = dict(self.env, LD_PRELOAD=lib, VB_FAIL_FSYNC_PATH=".vbo", VB_FAIL_FSYNC_PATH_SKIP="2",
                   ASAN_OPTIONS="verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", ""))
        saved, self.env = self.env, env
        rec, port = self.start_recorder()
        self.env = saved
        body, ct = multipart(offer([("1", 7000, [0], "sendonly")]), metadata([], ["1"]))
        calls = []
        for n in range(2):
            c = SipClient(port)
            r = c.request("INVITE", body, ct)
            self.assertEqual(r["status"], 200)
            out = os.path.join(self.tmp, f"sent{n}.json")
            self.assertEqual(self.sender(answer_ports(r["body"]), out, "--packets", "50").wait(60), 0)
            self.assertEqual(c.request("BYE")["status"], 200)
            calls.append((c, out))
        self.assertIn("evidence sync failed", self.log_text())
        with open(os.path.join(self.data, "recorder-status.json")) as f:
            self.assertEqual(json.load(f)["writeErrors"], 1)
        self.stop_recorder(rec)
        hit, ok = self.recording_of(calls[0][0].call_id), self.recording_of(calls[1][0].call_id)
        # Never completed: the next writer to open the archive recovers it as interrupted.
        self.assertEqual(self.show(hit)["status"], "interrupted")
        self.assertEqual(self.show(ok)["status"], "complete")
        self.assert_evidence_matches(ok, calls[1][1])
        with open(calls[0][1]) as f:
            sent = {(p["ssrc"], p["seq"]): bytes.fromhex(p["payload"]) for p in json.load(f)["streams"][0]["sent"]}
        kept = [rtp_fields(p[3]) for p in read_pcap(self.object_bytes(hit, "evidence-pcap"))]
        self.assertLess(len(kept), len(sent))
        for ssrc, seq, _, _, payload in kept:
            self.assertEqual(sent[(ssrc, seq)], payload)
        self.assertIn("OK", self.run_vb("verify", "--deep", check=0).stdout)

    def test_bye_never_comes(self):
        """The client vanishes without BYE: after media_timeout_s without RTP the recorder ends
        the session with its own BYE and records why."""
        rec, port = self.start_recorder({"media_timeout_s": 2})
        c = SipClient(port)
        body, ct = multipart(offer([("1", 7000, [0], "sendonly")]), metadata([], ["1"]))
        r = c.request("INVITE", body, ct)
        out = os.path.join(self.tmp, "sent.json")
        self.assertEqual(self.sender(answer_ports(r["body"]), out, "--packets", "25").wait(60), 0)
        self.assertTrue(c.wait_bye(15), "the recorder never ended the session")
        self.assertTrue(wait_until(lambda: "ended: partial" in self.log_text(), 10))
        self.stop_recorder(rec)
        rid = self.recording_of(c.call_id)
        show = self.show(rid)
        self.assertEqual(show["status"], "partial")
        self.assertIn("no media for 2 s and no BYE", show["reason"])
        self.assert_evidence_matches(rid, out)

    def test_t02_killed_mid_call_keeps_what_was_flushed(self):
        """kill -9 during a call: on restart the recording is interrupted, its evidence holds the
        packets up to the last flush (200 ms here), and the archive verifies. The playback job,
        added when the call started, is resumed by the restart and makes the file from what the
        evidence kept."""
        rec, port = self.start_recorder()
        c = SipClient(port)
        body, ct = multipart(offer([("1", 7000, [0], "sendonly")]), metadata([], ["1"]))
        r = c.request("INVITE", body, ct)
        out = os.path.join(self.tmp, "sent.json")
        self.assertEqual(self.sender(answer_ports(r["body"]), out, "--packets", "100").wait(60), 0)
        time.sleep(0.6)  # longer than the flush interval
        rec.kill()
        rec.wait(10)
        rec2, _ = self.start_recorder()
        self.wait_jobs(1)
        self.stop_recorder(rec2)
        rid = self.recording_of(c.call_id)
        show = self.show(rid)
        self.assertEqual(show["status"], "interrupted", show)
        sent, _ = self.assert_evidence_matches(rid, out)
        ref = [v for p in sent["streams"][0]["sent"] for v in g711(bytes.fromhex(p["payload"]), False)]
        pb = self.assert_playback_matches(rid, {"1": ref})
        self.assertEqual([f["name"] for f in pb["files"]], ["stream 1"])
        self.assertEqual(self.show(rid)["status"], "interrupted")
        self.assertIn("OK", self.run_vb("verify", "--deep", check=0).stdout)

    def test_shutdown_drains_then_ends_calls(self):
        """SIGTERM: new sessions are refused at once; calls in progress get drain_timeout_s to
        end, then a BYE, and are recorded as partial with the reason."""
        rec, port = self.start_recorder({"drain_timeout_s": 2})
        c = SipClient(port)
        body, ct = multipart(offer([("1", 7000, [0], "sendonly")]), metadata([], ["1"]))
        r = c.request("INVITE", body, ct)
        out = os.path.join(self.tmp, "sent.json")
        s = self.sender(answer_ports(r["body"]), out, "--packets", "200")
        rec.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        r2 = SipClient(port).request("INVITE", body, ct)
        self.assertEqual(r2["status"], 503)
        self.assertIn("shutting down", r2["head"])
        self.assertTrue(c.wait_bye(15))
        rec.communicate(timeout=30)
        self.assertEqual(rec.returncode, 0)
        s.wait(30)
        show = self.show(self.recording_of(c.call_id))
        self.assertEqual(show["status"], "partial")
        self.assertIn("recorder shut down", show["reason"])

    def test_t20_huge_metadata_is_bounded(self):
        """1,000 participants and deep unknown nesting: answered (or refused with 4xx) quickly;
        the recorder stays up."""
        rec, port = self.start_recorder()
        # As many participants as fit in one SIP message (65,535 bytes); 1,000 are in the metadata
        # parser's unit test.
        parts = [(f"p{i}", f"sip:user{i}@example.com", f"User {i}", "1", "1") for i in range(200)]
        xml = metadata(parts, ["1"]).replace("</recording>", "<x>" * 500 + "</x>" * 500 + "</recording>")
        body, ct = multipart(offer([("1", 7000, [0], "sendonly")]), xml)
        c = SipClient(port)
        t = time.monotonic()
        r = c.request("INVITE", body, ct)
        self.assertLess(r["status"], 500)
        self.assertLess(time.monotonic() - t, 5)
        if r["status"] == 200:
            c.request("BYE")
        o = SipClient(port).request("OPTIONS")
        self.assertEqual(o["status"], 200)
        self.stop_recorder(rec)


if __name__ == "__main__":
    main()
