#!/usr/bin/env python3
"""Video and screen share in meetings (issue 19) against the running gateway and recorder, from
real encoders: Debian's ffmpeg sends a camera (VP8) and a screen share (H.264, content:slides)
from test patterns as RTP. The gateway forwards them without transcoding to another member, who
gets one decodable stream per line starting at a keyframe; the recorder keeps each member's video
on a stream of its own, and what it kept decodes too. Decoding is ffmpeg's, from the RTP payloads
reassembled here (video_media.py)."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import main, wait_until  # noqa: E402
from test_gateway import BIN  # noqa: E402
from test_meetings import MeetingCase, VideoPhone  # noqa: E402
from test_recorder import read_pcap, rtp_fields  # noqa: E402
from video_media import FFMPEG, annex_b, decoded_frames, ivf, keyframe, ports, send_video, vp8_frames  # noqa: E402


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
