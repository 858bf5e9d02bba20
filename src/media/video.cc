#include "media/video.h"

#include "common/strings.h"

namespace verbatim::media {

namespace {

uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// Partition 0's start with the VP8 payload header's P bit clear (RFC 6386 §9.1).
bool vp8_keyframe(Bytes p) {
  const size_t d = vp8_descriptor_size(p);
  return d != 0 && (p[0] & 0x10) != 0 && (p[0] & 0x07) == 0 && (p[d] & 0x01) == 0;
}

bool h264_key_nal(uint8_t type) { return type == 5 || type == 7; }  // IDR slice, SPS

// RFC 6184 §5.6-5.8: a single NAL unit, a STAP-A (24) of several, or a FU-A (28) fragment.
bool h264_keyframe(Bytes p) {
  if (p.empty()) return false;
  const uint8_t type = p[0] & 0x1f;
  if (type >= 1 && type <= 23) return h264_key_nal(type);
  if (type == 24) {
    for (size_t i = 1; i + 2 < p.size();) {
      const size_t size = static_cast<size_t>(p[i]) << 8 | p[i + 1];
      if (size == 0 || i + 2 + size > p.size()) return false;
      if (h264_key_nal(p[i + 2] & 0x1f)) return true;
      i += 2 + size;
    }
    return false;
  }
  if (type == 28) return p.size() >= 2 && (p[1] & 0x80) && h264_key_nal(p[1] & 0x1f);
  return false;
}

}  // namespace

size_t vp8_descriptor_size(Bytes p) {
  if (p.empty()) return 0;
  size_t i = 1;
  if (p[0] & 0x80) {  // X: the extension byte follows
    if (p.size() < 2) return 0;
    const uint8_t x = p[1];
    i = 2;
    if (x & 0x80) {  // I: a picture id of 7 bits, or 15 with its M bit
      if (p.size() <= i) return 0;
      i += (p[i] & 0x80) ? 2 : 1;
    }
    if (x & 0x40) ++i;  // L: TL0PICIDX
    if (x & 0x30) ++i;  // T or K: TID/Y/KEYIDX
  }
  return i < p.size() ? i : 0;
}

bool video_keyframe(std::string_view encoding, Bytes payload) {
  if (iequals(encoding, "VP8")) return vp8_keyframe(payload);
  if (iequals(encoding, "H264")) return h264_keyframe(payload);
  return false;
}

std::vector<uint32_t> keyframe_requests(Bytes d) {
  std::vector<uint32_t> out;
  for (size_t pos = 0; d.size() - pos >= 4;) {
    const uint8_t* h = &d[pos];
    if ((h[0] >> 6) != 2) break;
    const size_t len = (static_cast<size_t>(h[2]) << 8 | h[3]) * 4 + 4;
    if (len > d.size() - pos) break;
    const uint8_t fmt = h[0] & 0x1f;
    if (h[1] == 206 && fmt == 1 && len >= 12) out.push_back(get32(h + 8));  // PLI
    if (h[1] == 206 && fmt == 4) {                                          // FIR: 8-byte entries
      for (size_t e = 12; e + 8 <= len; e += 8) out.push_back(get32(h + e));
    }
    pos += len;
  }
  return out;
}

void write_keyframe_request(std::vector<uint8_t>& out, uint32_t sender, uint32_t media, bool fir,
                            uint8_t fir_seq) {
  out.clear();
  out.insert(out.end(), {0x80, 201, 0, 1});  // RR, no report blocks
  put32(out, sender);
  if (fir) {
    out.insert(out.end(), {0x84, 206, 0, 4});
    put32(out, sender);
    put32(out, 0);  // RFC 5104 §4.3.1.2: the media source field is unused
    put32(out, media);
    out.insert(out.end(), {fir_seq, 0, 0, 0});
  } else {
    out.insert(out.end(), {0x81, 206, 0, 2});
    put32(out, sender);
    put32(out, media);
  }
}

void StreamSwitch::want(uint64_t sender) {
  wanted_ = sender;
  if (sender == 0) shown_ = 0;
}

bool StreamSwitch::forward(uint64_t sender, const RtpPacket& packet, Bytes datagram, bool keyframe,
                           uint8_t payload_type, std::vector<uint8_t>& out) {
  if (sender == 0 || datagram.size() < 12) return false;
  if (sender == wanted_ && sender != shown_) {
    if (!keyframe) return false;
    // The switch: this keyframe follows the last packet we sent, one 90 kHz frame (1/30 s) on.
    shown_ = sender;
    ++switches_;
    first_in_seq_ = packet.sequence;
    seq_delta_ = static_cast<uint16_t>(next_seq_ - packet.sequence);
    ts_delta_ = last_ts_ + 3000 - packet.timestamp;
  }
  if (sender != shown_) return false;
  // Reordered from before the switch: the receiver already has what followed it.
  if (static_cast<int16_t>(packet.sequence - first_in_seq_) < 0) return false;
  const auto seq = static_cast<uint16_t>(packet.sequence + seq_delta_);
  const uint32_t ts = packet.timestamp + ts_delta_;
  if (static_cast<int16_t>(seq - next_seq_) >= 0) next_seq_ = static_cast<uint16_t>(seq + 1);
  last_ts_ = ts;
  out.assign(datagram.begin(), datagram.end());
  out[1] = static_cast<uint8_t>((out[1] & 0x80) | (payload_type & 0x7f));
  out[2] = static_cast<uint8_t>(seq >> 8);
  out[3] = static_cast<uint8_t>(seq);
  for (int k = 0; k < 4; ++k) {
    out[4 + k] = static_cast<uint8_t>(ts >> (24 - 8 * k));
    out[8 + k] = static_cast<uint8_t>(ssrc_ >> (24 - 8 * k));
  }
  return true;
}

}  // namespace verbatim::media
