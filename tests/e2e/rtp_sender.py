#!/usr/bin/env python3
"""An RTP source for the recorder tests: sends G.711 µ-law streams (one tone per stream, 20 ms
packets at real-time pace) to the given ports and writes what it sent as JSON, so a test can
compare the recorder's evidence with it sample for sample. Optional impairments: loss,
duplicates, reordering, an SSRC change mid-stream, RFC 4733 DTMF, and an attacker that sprays
packets (random and spoofed SSRCs) at every port from another loopback address (T12).

    rtp_sender.py --host 127.0.0.1 --ports 20000,20002 --packets 100 --out sent.json [...]
"""
import argparse
import json
import math
import os
import random
import socket
import struct
import time


def ulaw(sample):
    """ITU-T G.711 µ-law encoding of one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone(freq, n, start):
    return bytes(ulaw(int(8000 * math.sin(2 * math.pi * freq * (start + i) / 8000))) for i in range(n))


def rtp(pt, seq, ts, ssrc, payload, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF,
                       ssrc) + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--source", default="127.0.0.1", help="address to send from (the SDP's c=)")
    ap.add_argument("--ports", required=True, help="comma-separated RTP ports (0 or empty: skip)")
    ap.add_argument("--packets", type=int, default=100)
    ap.add_argument("--out", required=True)
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--duplicates", type=float, default=0.0)
    ap.add_argument("--reorder", type=float, default=0.0)
    ap.add_argument("--ssrc-change-at", type=int, default=0)
    ap.add_argument("--dtmf", default="", help="digits sent as RFC 4733 events (pt 101)")
    ap.add_argument("--attacker", default="", help="address to spray foreign packets from")
    ap.add_argument("--first-seq", type=int, default=65500, help="to cross the 16-bit wrap")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pt", type=int, default=0, help="payload type of the audio (0 PCMU, 8 PCMA)")
    ap.add_argument("--silence-at", type=int, default=0,
                    help="before this packet, send nothing for --silence seconds (the RTP clock runs on)")
    ap.add_argument("--silence", type=float, default=0.0)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    ports = [int(p) for p in a.ports.split(",") if p and p != "0"]
    streams = []
    for i, port in enumerate(ports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a.source, 0))
        streams.append({"port": port, "sock": s, "ssrc": rnd.getrandbits(32), "seq": a.first_seq,
                        "ts": rnd.getrandbits(32), "freq": 440 * (i + 1), "sent": [], "pending": None,
                        "source_port": s.getsockname()[1]})
    attacker = None
    if a.attacker:
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attacker.bind((a.attacker, 0))
    attacks = 0
    dtmf = list(a.dtmf)
    start = time.monotonic()
    for n in range(a.packets):
        if a.silence_at and n == a.silence_at:
            time.sleep(a.silence)
            start += a.silence
            for st in streams:
                st["ts"] = (st["ts"] + int(a.silence * 8000)) & 0xFFFFFFFF
        for st in streams:
            if a.ssrc_change_at and n == a.ssrc_change_at:
                st["ssrc"] = rnd.getrandbits(32)
                st["seq"] = rnd.getrandbits(16)
            payload = tone(st["freq"], 160, n * 160)
            seq, ts = st["seq"] & 0xFFFF, st["ts"]
            st["seq"] += 1
            st["ts"] = (st["ts"] + (960 if a.pt >= 96 else 160)) & 0xFFFFFFFF  # Opus: 48 kHz clock
            packets = [(a.pt, payload)]
            # One DTMF digit every 25 packets on the first stream: 3 updates, then 3 end packets.
            if st is streams[0] and dtmf and n % 25 == 10:
                digit = dtmf.pop(0)
                code = "0123456789*#".index(digit)
                for k, dur in enumerate((160, 320, 480, 800, 800, 800)):
                    end = 0x80 if k >= 3 else 0
                    packets.append((101, struct.pack("!BBH", code, end | 10, dur)))
            for pt, body in packets:
                if pt == 101:  # each event packet has its own sequence number
                    seq = st["seq"] & 0xFFFF
                    st["seq"] += 1
                pkt = rtp(pt, seq, ts, st["ssrc"], body)
                if pt == a.pt and a.loss and rnd.random() < a.loss:
                    continue
                st["sent"].append({"ssrc": st["ssrc"], "seq": seq, "ts": ts, "pt": pt, "payload": body.hex()})
                if pt == a.pt and a.reorder and st["pending"] is None and rnd.random() < a.reorder:
                    st["pending"] = pkt  # goes out after the next one
                    continue
                st["sock"].sendto(pkt, (a.host, st["port"]))
                if st["pending"] is not None:
                    st["sock"].sendto(st["pending"], (a.host, st["port"]))
                    st["pending"] = None
                if a.duplicates and rnd.random() < a.duplicates:
                    st["sock"].sendto(pkt, (a.host, st["port"]))
            if attacker and n % 5 == 2:
                # A random SSRC, and the legitimate one spoofed, to the RTP and RTCP ports.
                for ssrc in (rnd.getrandbits(32), st["ssrc"]):
                    attacker.sendto(rtp(0, rnd.getrandbits(16), rnd.getrandbits(32), ssrc, b"\x55" * 160),
                                    (a.host, st["port"]))
                    attacks += 1
                attacker.sendto(struct.pack("!BBHI", 0x80, 201, 1, st["ssrc"]), (a.host, st["port"] + 1))
                attacks += 1
        delay = start + (n + 1) * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    for st in streams:
        if st["pending"] is not None:
            st["sock"].sendto(st["pending"], (a.host, st["port"]))
    out = {"streams": [{"port": st["port"], "sourcePort": st["source_port"], "sent": st["sent"]} for st in streams],
           "attackPackets": attacks}
    with open(a.out + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
