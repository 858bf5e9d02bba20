"""Speech for the transcription tests: a sentence spoken by espeak-ng, band-limited to the
telephone's 8 kHz (scripts/voice_pcap.py, which the demo's phones speak with too), sent as G.711
µ-law RTP at real time to a recorder's ports, one sentence per stream."""
import os
import socket
import sys
import time

from rtp_sender import rtp, ulaw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from voice_pcap import speech_8k  # noqa: E402


def send_speech(ports, sentences, host="127.0.0.1", lead_s=0.5, tail_s=0.5):
    """Sends each sentence on its port (µ-law, 20 ms packets, real time), silence before and
    after; all streams at once, each with its own SSRC."""
    streams = []
    for n, text in enumerate(sentences):
        pcm = [0] * int(8000 * lead_s) + speech_8k(text) + [0] * int(8000 * tail_s)
        streams.append(bytes(ulaw(s) for s in pcm))
    frames = max(len(s) for s in streams) // 160 + 1
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    for k in range(frames):
        for n, (port, payload) in enumerate(zip(ports, streams)):
            chunk = payload[k * 160:(k + 1) * 160].ljust(160, bytes([ulaw(0)]))
            sock.sendto(rtp(0, 1000 + k, 160 * k, 0x5EEC0000 + n, chunk, marker=(k == 0)), (host, port))
        delay = start + (k + 1) * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    sock.close()
