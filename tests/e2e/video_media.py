"""Video for the meeting tests: ffmpeg as a real encoder sending RTP (VP8, H.264) from a test
pattern, and what is received or recorded turned back into a stream ffmpeg decodes (RFC 7741 VP8
payloads into IVF, RFC 6184 H.264 payloads into Annex B)."""
import shutil
import struct
import subprocess

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


def send_video(port, codec, seconds, ssrc, pattern, srtp_key=None):
    """ffmpeg encoding a test pattern (320x240, 25 frames a second, a keyframe a second) as RTP to
    the gateway's `port`, in real time; with `srtp_key` (an SDES key, base64), as SRTP
    (AES_CM_128_HMAC_SHA1_80)."""
    enc = (["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-payload_type", "96"]
           if codec == "VP8" else
           ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
            "-x264-params", "repeat-headers=1", "-pix_fmt", "yuv420p", "-payload_type", "97"])
    secure = ["-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80", "-srtp_out_params", srtp_key] if srtp_key else []
    return subprocess.Popen([FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
                             "-i", f"{pattern}=size=320x240:rate=25", "-t", str(seconds), "-g", "25", "-an",
                             *enc, "-ssrc", str(ssrc), "-f", "rtp", *secure,
                             f"{'srtp' if srtp_key else 'rtp'}://127.0.0.1:{port}?pkt_size=1200"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ports(answer):
    """The port of each m-line of an answer, in order."""
    return [int(line.split()[1]) for line in answer.split("\r\n") if line.startswith("m=")]
