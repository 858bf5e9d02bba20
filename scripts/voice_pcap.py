#!/usr/bin/env python3
"""Renders a sentence with espeak-ng and writes it as a pcap of G.711 A-law RTP (8 kHz, 20 ms
packets) that SIPp's play_pcap_audio sends: the demo's phones speak with it.

Usage: scripts/voice_pcap.py --voice en-us --text "Hello" --out speech.pcap"""
import argparse
import math
import os
import struct
import subprocess
import tempfile
import wave


SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def alaw(sample):
    """ITU-T G.711 A-law of one 16-bit linear sample."""
    pcm = sample >> 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    seg = next((i for i, end in enumerate(SEG_END) if pcm <= end), 8)
    if seg >= 8:
        return 0x7F ^ mask
    code = seg << 4
    code |= (pcm >> 1) & 0x0F if seg < 2 else (pcm >> seg) & 0x0F
    return code ^ mask


def speech_8k(text, voice="en-us", speed=140):
    """16-bit samples at 8 kHz of `text` spoken by espeak-ng: low-passed at 3.6 kHz (a 63-tap
    windowed sinc, evaluated only where an output sample falls), then resampled, as a telephone
    line would carry it. (A cruder filter left aliasing the speech recogniser stumbled on.)"""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", path, text], check=True)
        with wave.open(path) as w:
            rate = w.getframerate()
            raw = w.readframes(w.getnframes())
    src = struct.unpack(f"<{len(raw) // 2}h", raw)
    taps, fc = 63, 3600 / rate
    h = []
    for i in range(taps):
        k = i - (taps - 1) / 2
        sinc = 2 * fc if k == 0 else math.sin(2 * math.pi * fc * k) / (math.pi * k)
        h.append(sinc * (0.54 - 0.46 * math.cos(2 * math.pi * i / (taps - 1))))
    half = taps // 2

    def filtered(n):
        lo, hi = max(0, n - half), min(len(src), n + half + 1)
        return sum(h[j - n + half] * src[j] for j in range(lo, hi))

    out, step, t = [], rate / 8000, 0.0
    while t < len(src) - 1:
        i = int(t)
        f = t - i
        out.append(max(-32768, min(32767, int(round(filtered(i) * (1 - f) + filtered(i + 1) * f)))))
        t += step
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--voice", default="en-us")
    ap.add_argument("--text", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lead-ms", type=int, default=400, help="silence before the speech")
    a = ap.parse_args()
    pcm = [0] * (a.lead_ms * 8) + speech_8k(a.text, a.voice, 150) + [0] * 1600
    payload = bytes(alaw(s) for s in pcm)
    with open(a.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
        seq, ts, ssrc = 1, 0, 0x5645524D
        for n, off in enumerate(range(0, len(payload) - 159, 160)):
            rtp = struct.pack("!BBHII", 0x80, 8, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload[off:off + 160]
            udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
                             bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
            frame = b"\x00" * 12 + b"\x08\x00" + ip
            usec = n * 20000
            f.write(struct.pack("<IIII", usec // 1000000, usec % 1000000, len(frame), len(frame)) + frame)
            seq += 1
            ts += 160


if __name__ == "__main__":
    main()
