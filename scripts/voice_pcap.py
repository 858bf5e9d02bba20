#!/usr/bin/env python3
"""Renders a sentence with espeak-ng and writes it as a pcap of G.711 A-law RTP (8 kHz, 20 ms
packets) that SIPp's play_pcap_audio sends: the demo's phones speak with it.

Usage: scripts/voice_pcap.py --voice en-us --text "Hello" --out speech.pcap"""
import argparse
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


def to_8k(samples, rate):
    """Linear-interpolated resampling after a moving-average low-pass (speech only)."""
    width = max(1, round(rate / 8000))
    smooth = [sum(samples[max(0, i - width + 1):i + 1]) // min(width, i + 1) for i in range(len(samples))]
    out, step = [], rate / 8000
    t = 0.0
    while t < len(smooth) - 1:
        i = int(t)
        f = t - i
        out.append(int(smooth[i] * (1 - f) + smooth[i + 1] * f))
        t += step
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--voice", default="en-us")
    ap.add_argument("--text", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lead-ms", type=int, default=400, help="silence before the speech")
    a = ap.parse_args()
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", a.voice, "-s", "150", "-w", tmp.name, a.text], check=True)
        with wave.open(tmp.name) as w:
            rate = w.getframerate()
            raw = w.readframes(w.getnframes())
    samples = list(struct.unpack(f"<{len(raw) // 2}h", raw))
    pcm = [0] * (a.lead_ms * 8) + to_8k(samples, rate) + [0] * 1600
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
