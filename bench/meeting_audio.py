#!/usr/bin/env python3
"""Meeting audio (issue 19): participants mixed per core, the gateway against Janus's AudioBridge
(Debian's `janus`), under the same load in the same run, unrecorded and recorded.

Each case is one meeting (an AudioBridge room) of N participants (default 30), every one sending a
tone as PCMU, a 20 ms packet every 20 ms, for T seconds (default 10), from this driver; the
participants read nothing (the kernel drops what they do not read). Both servers mix at 16 kHz
and send each participant the others' mix (mix-minus) in PCMU:
  - the gateway: the members join by SIP (digest, an INVITE to the meeting's URI), as phones do;
  - Janus: plain-RTP participants (`"rtp"` in the AudioBridge join, codec pcmu), over its HTTP
    API; it is the peer without SIP.
Recorded: ours with one recorded member, so one of our recorders (`verbatim serve`, real archive)
gets every member's stream unmixed; Janus with the room's own recording (`record`: the mix, to a
.wav file), which is all it records. Each server's CPU time (all its threads, from /proc) over
the T seconds is the measure: participants per core = N / (CPU seconds / T).

Usage: bench/meeting_audio.py BUILD_DIR [--participants 30] [--seconds 10]"""
import argparse
import json
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.path.insert(0, HERE)
from helpers import free_port_block  # noqa: E402
from meeting_join import recorded_tenant, stop  # noqa: E402
from meeting_video import cpu_seconds  # noqa: E402
from rtp_sender import ulaw  # noqa: E402
from sip_ua import SipUA  # noqa: E402

JANUS_LIBS = "/usr/lib/x86_64-linux-gnu/janus"


def tone(hz, n):
    """The n-th 20 ms PCMU payload of a tone."""
    return bytes(ulaw(int(5000 * math.sin(2 * math.pi * hz * (n * 160 + i) / 8000))) for i in range(160))


class Sender:
    """One participant's socket and where its RTP goes."""

    def __init__(self, index):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.hz = 300 + 37 * index
        self.to = None

    def port(self):
        return self.sock.getsockname()[1]


def drive(senders, seconds, pid):
    """Every sender's packet every 20 ms for `seconds`: the server's CPU seconds meanwhile."""
    frames = [[tone(s.hz, n) for n in range(50)] for s in senders]
    before = cpu_seconds(pid)
    start_at = time.monotonic()
    for n in range(int(seconds * 50)):
        for s, f in zip(senders, frames):
            header = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * 160 & 0xFFFFFFFF, s.ssrc)
            s.sock.sendto(header + f[n % 50], s.to)
        time.sleep(max(0.0, start_at + (n + 1) * 0.02 - time.monotonic()))
    cpu = cpu_seconds(pid) - before
    # The load was real: every participant was sent the mix back.
    for s in senders:
        s.sock.setblocking(False)
        try:
            s.sock.recv(2048)
        except BlockingIOError:
            sys.exit(f"participant {s.port()} got no mix back: the server is not mixing what it is sent")
    return cpu


def ours(binary, env, gw, gw_port, users, seconds, subject):
    made = subprocess.run([binary, "meeting", "create", "--organizer", "alice@contoso.com", "--subject", subject,
                           "--json"], env=env, check=True, capture_output=True, text=True)
    meeting = json.loads(made.stdout)["id"]
    senders, members = [], []
    for i, (user, password) in enumerate(users):
        ua = SipUA(user, password, gw_port)
        s = Sender(i)
        ua.media.close()
        ua.media = s.sock  # the member's RTP socket is the sender's
        d = ua.call(f"meet-{meeting}", sdp=ua.sdp().replace("RTP/AVP 8", "RTP/AVP 0").replace(
            "a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000"), talk=False)
        s.to = ("127.0.0.1", int(d.answer.split("m=audio ")[1].split()[0]))
        senders.append(s)
        members.append((ua, d))
    time.sleep(1)  # the notices end
    cpu = drive(senders, seconds, gw.pid)
    for ua, d in members:
        ua.in_dialog(d, "BYE")
        ua.close()
    return cpu


class Janus:
    """Janus with only the AudioBridge plugin and the HTTP transport, on ports of its own."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "janus")
        os.makedirs(self.dir)
        self.port = free_port_block("janus-http")
        rtp = free_port_block("janus-rtp")
        plugins = [f for f in os.listdir(f"{JANUS_LIBS}/plugins") if f.endswith(".so")]
        transports = [f for f in os.listdir(f"{JANUS_LIBS}/transports") if f.endswith(".so")]
        with open(os.path.join(self.dir, "janus.jcfg"), "w") as f:
            f.write(f"""general: {{
  configs_folder = "{self.dir}"
  plugins_folder = "{JANUS_LIBS}/plugins"
  transports_folder = "{JANUS_LIBS}/transports"
  events_folder = "{JANUS_LIBS}/events"
  loggers_folder = "{JANUS_LIBS}/loggers"
  debug_level = 3
}}
plugins: {{ disable = "{','.join(p for p in plugins if 'audiobridge' not in p)}" }}
transports: {{ disable = "{','.join(t for t in transports if 'http' not in t)}" }}
events: {{ broadcast = false }}
""")
        with open(os.path.join(self.dir, "janus.transport.http.jcfg"), "w") as f:
            f.write(f'general: {{ base_path = "/janus" http = true port = {self.port} ip = "127.0.0.1" '
                    f'https = false }}\nadmin: {{ admin_http = false }}\n')
        with open(os.path.join(self.dir, "janus.plugin.audiobridge.jcfg"), "w") as f:
            f.write(f'general: {{ rtp_port_range = "{rtp}-{rtp + 199}" local_ip = "127.0.0.1" }}\n')
        self.log = open(os.path.join(self.dir, "janus.log"), "w")
        self.proc = subprocess.Popen(["janus", "-C", os.path.join(self.dir, "janus.jcfg"), "-F", self.dir],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}/janus"
        for _ in range(100):
            try:
                self.session = self.post(self.base, {"janus": "create"})["data"]["id"]
                return
            except OSError:
                time.sleep(0.1)
        sys.exit(f"janus did not start: see {self.dir}/janus.log")

    def post(self, url, body):
        body = dict(body, transaction=os.urandom(6).hex())
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def handle(self):
        return self.post(f"{self.base}/{self.session}", {"janus": "attach", "plugin": "janus.plugin.audiobridge"})[
            "data"]["id"]

    def events(self):
        with urllib.request.urlopen(f"{self.base}/{self.session}?maxev=50", timeout=10) as r:
            return json.loads(r.read())

    def room(self, room, senders, record):
        h = self.handle()
        body = {"request": "create", "room": room, "sampling_rate": 16000, "allow_rtp_participants": True,
                "record": record}
        if record:
            body["record_file"] = os.path.join(self.dir, f"room-{room}.wav")
        r = self.post(f"{self.base}/{self.session}/{h}", {"janus": "message", "body": body})
        assert r["plugindata"]["data"].get("audiobridge") == "created", r
        for i, s in enumerate(senders):
            ph = self.handle()
            self.post(f"{self.base}/{self.session}/{ph}",
                      {"janus": "message", "body": {"request": "join", "room": room, "display": f"p{i}",
                                                    "codec": "pcmu", "rtp": {"ip": "127.0.0.1", "port": s.port(),
                                                                             "payload_type": 0}}})
            for _ in range(20):
                joined = [e for e in self.events() if e.get("sender") == ph and "rtp" in
                          e.get("plugindata", {}).get("data", {})]
                if joined:
                    rtp = joined[0]["plugindata"]["data"]["rtp"]
                    s.to = (rtp["ip"], rtp["port"])
                    break
            assert s.to, f"janus: participant {i} got no RTP address"
        self.post(self.base + f"/{self.session}", {"janus": "keepalive"})

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--participants", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    if not shutil.which("janus"):
        sys.exit("janus is not installed (apt-get install janus): the peer of this benchmark")
    binary = os.path.join(os.path.abspath(args.build), "verbatim")
    tmp = tempfile.mkdtemp(prefix="vb_meeting_audio_")
    env = dict(os.environ, VERBATIM_DATA_DIR=os.path.join(tmp, "data"), USER="bench")
    procs, janus = [], None
    try:
        users = [(f"p{i}", f"participant-secret-{i:03d}") for i in range(args.participants)]
        gw, gw_port = recorded_tenant(binary, tmp, env, users, procs)
        janus = Janus(tmp)
        rows = []
        rows.append(("Verbatim gateway, unrecorded",
                     ours(binary, env, gw, gw_port, users, args.seconds, "unrecorded")))
        rows.append(("Verbatim gateway, recorded (every stream to our recorder)",
                     ours(binary, env, gw, gw_port, [("alice", "alice-secret-1")] + users[1:], args.seconds,
                          "recorded")))
        for record, name in ((False, "Janus AudioBridge, unrecorded"), (True, "Janus AudioBridge, recorded (the mix)")):
            senders = [Sender(i) for i in range(args.participants)]
            janus.room(7000 + record, senders, record)
            rows.append((name, drive(senders, args.seconds, janus.proc.pid)))
            for s in senders:
                s.sock.close()
        print(f"meeting audio, {args.participants} participants sending PCMU, {args.seconds:g} s each "
              f"({os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')})")
        print(f"{'case':<58} {'CPU s':>7} {'% core':>7} {'participants/core':>18}")
        for name, cpu in rows:
            share = cpu / args.seconds
            print(f"{name:<58} {cpu:>7.2f} {share * 100:>6.1f}% {args.participants / share if share else 0:>18.0f}")
    finally:
        if janus:
            janus.stop()
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
