#!/usr/bin/env python3
"""Video and screen share in meetings (issue 19) against the running gateway and recorder, from
real encoders: Debian's ffmpeg sends a camera (VP8) and a screen share (H.264, content:slides)
from test patterns as RTP. The gateway forwards them without transcoding to another member, who
gets one decodable stream per line starting at a keyframe; the recorder keeps each member's video
on a stream of its own, and what it kept decodes too. Decoding is ffmpeg's, from the RTP payloads
reassembled here (RFC 7741 VP8 into IVF, RFC 6184 H.264 into Annex B)."""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import main, wait_until  # noqa: E402
from test_gateway import BIN  # noqa: E402
from test_meetings import MeetingCase, Participant  # noqa: E402
from test_recorder import read_pcap, rtp_fields  # noqa: E402

FFMPEG = shutil.which("ffmpeg")


def vp8_frames(packets):
    """VP8 frames from RTP payloads in sequence order (RFC 7741 §4: the payload descriptor is
    dropped; a frame ends at the marker bit)."""
    frames, frame = [], b""
    for marker, p in packets:
        i = 1
        if p[0] & 0x80:
            x = p[1]
            i = 2
            if x & 0x80:
                i += 2 if p[i] & 0x80 else 1
            if x & 0x40:
                i += 1
            if x & 0x30:
                i += 1
        frame += p[i:]
        if marker:
            frames.append(frame)
            frame = b""
    return frames


def ivf(frames, width=320, height=240):
    out = struct.pack("<4sHHIHHIIII", b"DKIF", 0, 32, 0x30385056, width, height, 25, 1, len(frames), 0)
    for n, f in enumerate(frames):
        out += struct.pack("<IQ", len(f), n) + f
    return out


def annex_b(packets):
    """H.264 NAL units from RTP payloads (RFC 6184: single NAL, STAP-A, FU-A) as a byte stream."""
    out, fu = b"", b""
    for _, p in packets:
        kind = p[0] & 0x1F
        if kind == 24:
            i = 1
            while i + 2 <= len(p):
                size = struct.unpack("!H", p[i:i + 2])[0]
                out += b"\0\0\0\1" + p[i + 2:i + 2 + size]
                i += 2 + size
        elif kind == 28:
            if p[1] & 0x80:
                fu = bytes([(p[0] & 0xE0) | (p[1] & 0x1F)])
            fu += p[2:]
            if p[1] & 0x40:
                out += b"\0\0\0\1" + fu
                fu = b""
        else:
            out += b"\0\0\0\1" + p
    return out


def decoded_frames(data, fmt):
    """How many frames ffmpeg decodes from `data` (fmt: ivf or h264), and whether it complained."""
    r = subprocess.run([FFMPEG, "-hide_banner", "-v", "error", "-f", fmt, "-i", "-", "-f", "framemd5", "-"],
                       input=data, capture_output=True, timeout=60)
    frames = sum(1 for line in r.stdout.decode().splitlines() if line and not line.startswith("#"))
    return frames, r.stderr.decode().strip()


def keyframe(encoding, p):
    if encoding == "VP8":
        i = 1
        if p[0] & 0x80:
            x = p[1]
            i = 2 + ((2 if p[2] & 0x80 else 1) if x & 0x80 else 0) + (1 if x & 0x40 else 0) + (1 if x & 0x30 else 0)
        return bool(p[0] & 0x10) and (p[0] & 7) == 0 and not p[i] & 1
    kind = p[0] & 0x1F
    if kind == 28:
        return bool(p[1] & 0x80) and (p[1] & 0x1F) in (5, 7)
    if kind == 24:
        return (p[3] & 0x1F) in (5, 7)
    return kind in (5, 7)


class VideoPhone(Participant):
    """A phone with a camera line and a screen share line besides its audio; what the gateway
    sends it on each is kept."""

    def __init__(self, ua, hz):
        super().__init__(ua, 0, hz)
        self.cam = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.cam.bind(("127.0.0.1", 0))
        self.screen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.screen.bind(("127.0.0.1", 0))
        self.got = {"cam": [], "screen": []}

    def sdp(self):
        return (super().sdp() +
                f"m=video {self.cam.getsockname()[1]} RTP/AVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
                "a=rtcp-fb:96 nack pli\r\n"
                f"m=video {self.screen.getsockname()[1]} RTP/AVPF 97\r\na=rtpmap:97 H264/90000\r\n"
                "a=fmtp:97 profile-level-id=42e01f;packetization-mode=1\r\na=rtcp-fb:97 nack pli\r\n"
                "a=content:slides\r\n")

    def keep(self, seconds):
        def run(name, sock):
            sock.settimeout(0.2)
            stop = time.monotonic() + seconds
            while time.monotonic() < stop:
                try:
                    self.got[name].append(sock.recv(2048))
                except socket.timeout:
                    continue
        threads = [threading.Thread(target=run, args=(n, s), daemon=True)
                   for n, s in (("cam", self.cam), ("screen", self.screen))]
        for t in threads:
            t.start()
        return threads

    def close(self):
        self.cam.close()
        self.screen.close()


def send_video(port, codec, seconds, ssrc, pattern):
    """ffmpeg encoding a test pattern (320x240, 25 frames a second, a keyframe a second) as RTP to
    the gateway's `port`, in real time."""
    enc = (["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-payload_type", "96"]
           if codec == "VP8" else
           ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
            "-x264-params", "repeat-headers=1", "-pix_fmt", "yuv420p", "-payload_type", "97"])
    return subprocess.Popen([FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
                             "-i", f"{pattern}=size=320x240:rate=25", "-t", str(seconds), "-g", "25", "-an",
                             *enc, "-ssrc", str(ssrc), "-f", "rtp", f"rtp://127.0.0.1:{port}?pkt_size=1200"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ports(answer):
    """The port of each m-line of an answer, in order."""
    return [int(line.split()[1]) for line in answer.split("\r\n") if line.startswith("m=")]


@unittest.skipUnless(FFMPEG, "ffmpeg is not installed (scripts/bootstrap.sh installs it)")
class MeetingVideoTest(MeetingCase):
    def test_a_camera_and_a_screen_share_from_real_encoders_are_forwarded_and_recorded_decodable(self):
        rec, rec_port = self.start_recorder()
        self.policy([rec_port])
        gw, gw_port = self.start_gateway()
        m = self.meeting("Video desk")
        alice = VideoPhone(self.ua("alice", gw_port), 440)   # recorded: her camera and screen
        bob = VideoPhone(self.ua("bob", gw_port), 1000)      # watches
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        dialogs = {p: p.ua.call(f"meet-{m['id']}", sdp=p.sdp(), talk=False) for p in (alice, bob)}
        for p, d in dialogs.items():
            self.assertEqual(len(ports(d.answer)), 3, d.answer)
            self.assertIn("a=content:slides", d.answer)
            self.assertIn("a=rtcp-fb:96 nack pli", d.answer)
        cam_port, screen_port = ports(dialogs[alice].answer)[1:]
        keeping = bob.keep(6)
        talk = [threading.Thread(target=p.run, args=(d.answer, 5)) for p, d in dialogs.items()]
        for t in talk:
            t.start()
        senders = [send_video(cam_port, "VP8", 4, 0xA11CE, "testsrc"),
                   send_video(screen_port, "H264", 4, 0x5C4EE, "smptebars")]
        for s in senders:
            _, err = s.communicate(timeout=30)
            self.assertEqual(s.returncode, 0, err)
        # Read while the last frames are fresh: a camera silent for 2 s is no longer shown.
        meeting = self.status()["meetings"][0]
        self.assertEqual(meeting["presenter"], "sip:alice@contoso.com", meeting)
        self.assertEqual(meeting["speaker"], "sip:alice@contoso.com", meeting)
        for t in talk + keeping:
            t.join()
        # Bob got one stream on each line, under one SSRC, in the codec he answered with,
        # starting with a keyframe; reassembled, ffmpeg decodes every frame of it.
        for name, encoding, pt, fmt in (("cam", "VP8", 96, "ivf"), ("screen", "H264", 97, "h264")):
            got = [rtp_fields(p) for p in bob.got[name]]
            self.assertGreater(len(got), 50, f"{name}: {len(got)} packets")
            self.assertEqual({g[0] for g in got} - {0xA11CE, 0x5C4EE}, {g[0] for g in got}, "our own SSRC")
            self.assertEqual(len({g[0] for g in got}), 1, name)
            self.assertEqual({g[3] for g in got}, {pt}, name)
            self.assertTrue(keyframe(encoding, got[0][4]), f"{name} starts with a keyframe")
            ordered = sorted(((g[1], bool(p[1] & 0x80), g[4]) for g, p in zip(got, bob.got[name])),
                             key=lambda x: x[0])
            self.assertEqual([o[0] for o in ordered], list(range(ordered[0][0], ordered[0][0] + len(ordered))),
                             f"{name}: no gap in our sequence numbers")
            packets = [(marker, payload) for _, marker, payload in ordered]
            data = ivf(vp8_frames(packets)) if fmt == "ivf" else annex_b(packets)
            frames, errors = decoded_frames(data, fmt)
            self.assertGreater(frames, 40, f"{name}: {errors}")
            self.assertEqual(errors, "", name)
        for p, d in dialogs.items():
            self.assertEqual(p.ua.in_dialog(d, "BYE").status, 200)
        self.assertTrue(wait_until(lambda: self.status()["meetings"] == [], 5))
        totals = self.status()["totals"]
        self.assertGreaterEqual(totals["meetingKeyframeRequests"], 1, totals)
        self.assertGreaterEqual(totals["meetingPresenterChanges"], 1, totals)
        # The playback job makes a file of each video stream, muxed as sent: WebM for the VP8
        # camera, MP4 for the H.264 screen share, each a file ffmpeg plays frame for frame.
        jobs = []

        def played():
            nonlocal jobs
            r = self.run_vb("jobs", "list", "--json", check=0)
            jobs = json.loads(r.stdout) if r.returncode == 0 else []
            return any(j["state"] == "done" and j["kind"] == "playback" for j in jobs)
        self.assertTrue(wait_until(played, 60), jobs)
        with open(rec.log) as f:
            recording = re.findall(r"recording (\w+) started", f.read())[0]
        shown = json.loads(self.run_vb("archive", "show", recording, check=0).stdout)
        videos = {v["codec"]: v for v in shown["metadata"]["playback"]["videos"]}
        self.assertEqual(sorted(videos), ["H264", "VP8"], shown["metadata"]["playback"])
        for codec, fmt, container in (("VP8", "video/webm; codecs=vp8", "webm"),
                                      ("H264", "video/mp4; codecs=avc1", "mp4")):
            v = videos[codec]
            self.assertEqual((v["format"], v["width"], v["height"]), (fmt, 320, 240), v)
            self.assertEqual(v["aors"], ["sip:alice@contoso.com"])
            self.assertGreater(v["frames"], 75, v)
            body = subprocess.run([BIN, "archive", "cat", v["object"]], capture_output=True, env=self.env,
                                  timeout=60).stdout
            frames, errors = decoded_frames(body, "matroska" if container == "webm" else "mp4")
            self.assertEqual((frames, errors), (v["frames"], ""), codec)
        # The recorder: one session, Alice's camera and screen each on a stream of their own, with
        # every packet ffmpeg sent in the recording (as sent: the same SSRC), and decodable.
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=60)
        with open(rec.log) as f:
            log = f.read()
        started = re.findall(r"recording (\w+) started", log)
        self.assertEqual(len(started), 1, log)
        shown = json.loads(self.run_vb("archive", "show", started[0], check=0).stdout)
        pcap = [o["id"] for o in shown["objects"] if o["kind"] == "evidence-pcap"][0]
        data = subprocess.run([BIN, "archive", "cat", pcap], capture_output=True, env=self.env, timeout=60).stdout
        kept = {}
        for _, _, dport, payload in read_pcap(data):
            ssrc, seq, _, pt, body = rtp_fields(payload)
            kept.setdefault(ssrc, {})[seq] = (bool(payload[1] & 0x80), body, dport)
        for ssrc, fmt in ((0xA11CE, "ivf"), (0x5C4EE, "h264")):
            got = kept.get(ssrc, {})
            self.assertGreater(len(got), 50, hex(ssrc))
            self.assertEqual(len({v[2] for v in got.values()}), 1, "one stream of its own")
            packets = [(v[0], v[1]) for _, v in sorted(got.items())]
            first_key = next(i for i, (_, p) in enumerate(packets) if keyframe("VP8" if fmt == "ivf" else "H264", p))
            stream = packets[first_key:]
            frames, errors = decoded_frames(ivf(vp8_frames(stream)) if fmt == "ivf" else annex_b(stream), fmt)
            self.assertGreater(frames, 40, f"{hex(ssrc)}: {errors}")
        # The recording's metadata: Alice sends three streams (audio, camera, screen), Bob one
        # audio and one camera (he sent no video but his lines are offered).
        alice_md = [p for p in shown["metadata"]["participants"] if p["aor"] == "sip:alice@contoso.com"]
        self.assertEqual(len(alice_md), 1, shown["metadata"]["participants"])


if __name__ == "__main__":
    main()
