#!/usr/bin/env python3
"""Meeting video forwarding (issue 19): how many video packets the gateway forwards per second of
its CPU, and what recording the meeting adds, in one run on one gateway (and one of our
recorders for the recorded case).

Each case is one meeting of M members (default 6), each joined with audio and a VP8 camera; every
member's camera sends 1,000-byte RTP packets (a keyframe every 30) as fast as this driver can for
T seconds. The gateway forwards the speaker's camera to every other member (and the previous
speaker's to the speaker), under each receiver's own SSRC; in the recorded case every camera is
also copied to the recorder. A child process reads every member's sockets, as phones do: on
loopback a packet is delivered in the sender's system call, so a receiver that read nothing
would make forwarding look cheaper than it is (its full buffer drops the packet early) while the
recorder, which reads, is charged in full. The gateway's CPU time is read from /proc before and after, so
the figures are per second of the gateway's CPU, not of the wall clock:

  - forwarded packets per CPU-second (unrecorded), and what that is in 1 Mb/s streams (about
    104 packets of 1,200 bytes a second) per core;
  - CPU per packet taken in, unrecorded and recorded; recording's cost is the difference, as a
    share of forwarding (the target is at most 25 %).

The peer anchor is published, not run here: Jitsi Videobridge, about 1,000 streams at 20 % of a
4-core Xeon (so about 1,250 streams per core).

Usage: bench/meeting_video.py BUILD_DIR [--members 6] [--seconds 5] [--rounds 5]"""
import argparse
import json
import os
import select
import statistics
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.path.insert(0, HERE)
from meeting_join import recorded_tenant, stop  # noqa: E402
from sip_ua import SipUA  # noqa: E402

STREAM_PPS = 1_000_000 / 8 / 1200  # a 1 Mb/s stream of 1,200-byte packets


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Camera:
    """A member's phone: audio on its SIP UA's media socket, a VP8 camera on a socket of its own."""

    def __init__(self, ua):
        self.ua = ua
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.seq = 0
        self.to = None

    def sdp(self):
        return (self.ua.sdp() + f"m=video {self.sock.getsockname()[1]} RTP/AVPF 96\r\n"
                "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\n")

    def packet(self):
        key = self.seq % 30 == 0
        descriptor = bytes([0x10, 0x50 if key else 0x51, 0x2A, 0x00])
        p = struct.pack("!BBHII", 0x80, 0x80 | 96, self.seq & 0xFFFF, self.seq * 3000 & 0xFFFFFFFF, self.ssrc)
        self.seq += 1
        return p + descriptor + bytes(1000 - len(descriptor))


def read_all(socks, until):
    """A child process that reads and drops what `socks` receive until `until` (monotonic)."""
    pid = os.fork()
    if pid:
        return pid
    try:
        for s in socks:
            s.setblocking(False)
        while time.monotonic() < until:
            ready, _, _ = select.select(socks, [], [], 0.1)
            for s in ready:
                try:
                    while True:
                        s.recv(2048)
                except BlockingIOError:
                    pass
    finally:
        os._exit(0)


def run_case(binary, env, gw, gw_port, status_path, users, seconds, subject):
    made = subprocess.run([binary, "meeting", "create", "--organizer", "alice@contoso.com", "--subject", subject,
                           "--json"], env=env, check=True, capture_output=True, text=True)
    meeting = json.loads(made.stdout)["id"]
    cams, dialogs = [], []
    for user, password in users:
        cam = Camera(SipUA(user, password, gw_port))
        d = cam.ua.call(f"meet-{meeting}", sdp=cam.sdp(), talk=False)
        cam.to = ("127.0.0.1", [int(line.split()[1]) for line in d.answer.split("\r\n")
                                if line.startswith("m=video")][0])
        cams.append(cam)
        dialogs.append(d)
    time.sleep(0.5)
    stop = time.monotonic() + seconds
    reader = read_all([c.sock for c in cams] + [c.ua.media for c in cams], stop + 1.5)
    before = cpu_seconds(gw.pid)
    sent = 0
    while time.monotonic() < stop:
        for cam in cams:
            for _ in range(20):
                cam.sock.sendto(cam.packet(), cam.to)
            sent += 20
    time.sleep(1.5)  # the gateway drains its sockets; the status file is rewritten once a second
    cpu = cpu_seconds(gw.pid) - before
    os.waitpid(reader, 0)
    with open(status_path) as f:
        status = json.load(f)
    room = [m for m in status["meetings"] if m["meeting"] == meeting][0]
    taken = sum(m["video"]["packetsIn"] for m in room["members"])
    forwarded = sum(m["video"]["forwarded"] for m in room["members"])
    recorded = bool(room["recordings"])
    for cam, d in zip(cams, dialogs):
        cam.ua.in_dialog(d, "BYE")
        cam.ua.close()
        cam.sock.close()
    return {"sent": sent, "taken": taken, "forwarded": forwarded, "cpu": cpu, "recorded": recorded}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--members", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    binary = os.path.join(os.path.abspath(args.build), "verbatim")
    tmp = tempfile.mkdtemp(prefix="vb_meeting_video_")
    data = os.path.join(tmp, "data")
    env = dict(os.environ, VERBATIM_DATA_DIR=data, USER="bench")
    procs = []
    try:
        users = [(f"m{i}", f"member-secret-{i:02d}") for i in range(args.members)]
        gw, gw_port = recorded_tenant(binary, tmp, env, users, procs)
        status_path = os.path.join(data, "gateway-status.json")
        # Rounds alternate the two cases, and the medians are compared: on a shared machine one
        # round's figure moves by a third.
        plains, recs = [], []
        for n in range(args.rounds):
            plains.append(run_case(binary, env, gw, gw_port, status_path, users, args.seconds,
                                   f"unrecorded {n}"))
            # The same members with Alice (recorded) among them: every camera is also copied.
            recs.append(run_case(binary, env, gw, gw_port, status_path,
                                 [("alice", "alice-secret-1")] + users[1:], args.seconds, f"recorded {n}"))
            assert recs[-1]["recorded"] and not plains[-1]["recorded"]
        print(f"meeting video forwarding, {args.members} members with a VP8 camera each, {args.seconds:g} s, "
              f"{args.rounds} rounds ({os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')})")
        print(f"{'case':<14} {'sent':>9} {'taken':>9} {'forwarded':>10} {'gw CPU s':>9} {'us/taken':>9} "
              f"{'fwd/CPU-s':>10}")
        per = lambda r: r["cpu"] / r["taken"] * 1e6 if r["taken"] else float("nan")  # noqa: E731
        for n in range(args.rounds):
            for name, r in ((f"unrecorded {n}", plains[n]), (f"recorded {n}", recs[n])):
                fwd = r["forwarded"] / r["cpu"] if r["cpu"] else float("nan")
                print(f"{name:<14} {r['sent']:>9} {r['taken']:>9} {r['forwarded']:>10} {r['cpu']:>9.2f} "
                      f"{per(r):>9.2f} {fwd:>10.0f}")
        per_plain = statistics.median(per(r) for r in plains)
        per_rec = statistics.median(per(r) for r in recs)
        fwd_per_core = statistics.median(r["forwarded"] / r["cpu"] for r in plains)
        print(f"forwarded 1 Mb/s streams per core (unrecorded, median): {fwd_per_core / STREAM_PPS:.0f} "
              f"(Jitsi Videobridge, published: about 1,250)")
        print(f"recording's cost per packet taken in (medians {per_plain:.2f} and {per_rec:.2f} us): "
              f"{(per_rec - per_plain) / per_plain * 100:.0f} % of forwarding's (target: at most 25 %)")
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
