#include "media/rtp.h"

#include <cmath>
#include <cstdlib>

namespace verbatim::media {

namespace {

uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

Error bad(const std::string& what) { return make_error(ErrorCode::kInvalidArgument, what); }

}  // namespace

PacketKind classify(Bytes d) {
  if (d.empty()) return PacketKind::kUnknown;
  const uint8_t b = d[0];
  if (b <= 3) return PacketKind::kStun;
  if (b >= 20 && b <= 63) return PacketKind::kDtls;
  if (b >= 128 && b <= 191 && d.size() >= 8) {
    const uint8_t pt = d[1];
    if (pt >= 192 && pt <= 223) return PacketKind::kRtcp;
    return d.size() >= 12 ? PacketKind::kRtp : PacketKind::kUnknown;
  }
  return PacketKind::kUnknown;
}

void write_rtp_header(std::vector<uint8_t>& out, uint8_t payload_type, bool marker,
                      uint16_t sequence, uint32_t timestamp, uint32_t ssrc) {
  out.assign(12, 0);
  out[0] = 0x80;
  out[1] = static_cast<uint8_t>((marker ? 0x80 : 0) | (payload_type & 0x7f));
  out[2] = static_cast<uint8_t>(sequence >> 8);
  out[3] = static_cast<uint8_t>(sequence);
  for (size_t k = 0; k < 4; ++k) {
    out[4 + k] = static_cast<uint8_t>(timestamp >> (24 - 8 * k));
    out[8 + k] = static_cast<uint8_t>(ssrc >> (24 - 8 * k));
  }
}

Result<RtpPacket> parse_rtp(Bytes d) {
  if (d.size() < 12)
    return bad("RTP packet of " + std::to_string(d.size()) + " bytes (header is 12)");
  if ((d[0] >> 6) != 2) return bad("RTP version " + std::to_string(d[0] >> 6));
  RtpPacket p;
  p.csrc_count = d[0] & 0x0f;
  p.marker = (d[1] & 0x80) != 0;
  p.payload_type = d[1] & 0x7f;
  p.sequence = be16(&d[2]);
  p.timestamp = be32(&d[4]);
  p.ssrc = be32(&d[8]);
  size_t pos = 12;
  if (pos + size_t{4} * p.csrc_count > d.size()) return bad("CSRC list runs past the end");
  for (uint8_t i = 0; i < p.csrc_count; ++i, pos += 4) p.csrc[i] = be32(&d[pos]);
  if (d[0] & 0x10) {
    if (pos + 4 > d.size()) return bad("header extension runs past the end");
    p.extension_profile = be16(&d[pos]);
    const size_t words = be16(&d[pos + 2]);
    pos += 4;
    if (pos + 4 * words > d.size()) return bad("header extension runs past the end");
    p.extension = d.subspan(pos, 4 * words);
    pos += 4 * words;
  }
  size_t end = d.size();
  if (d[0] & 0x20) {
    const uint8_t pad = d[d.size() - 1];
    if (pad == 0 || pad > d.size() - pos)
      return bad("padding count " + std::to_string(pad) + " does not fit");
    p.padding = pad;
    end -= pad;
  }
  p.payload = d.subspan(pos, end - pos);
  return p;
}

Result<std::vector<RtcpPacket>> parse_rtcp(Bytes d) {
  std::vector<RtcpPacket> out;
  size_t pos = 0;
  if (d.size() < 4) return bad("RTCP packet shorter than its header");
  while (pos < d.size()) {
    if (d.size() - pos < 4) return bad("trailing bytes after the last RTCP packet");
    const uint8_t* h = &d[pos];
    if ((h[0] >> 6) != 2) return bad("RTCP version " + std::to_string(h[0] >> 6));
    const size_t len = (static_cast<size_t>(be16(h + 2)) + 1) * 4;
    if (len > d.size() - pos)
      return bad("RTCP length " + std::to_string(len) + " runs past the end");
    Bytes body = d.subspan(pos + 4, len - 4);
    if (h[0] & 0x20) {  // padding: only the last packet may have it
      if (pos + len != d.size()) return bad("padding on an RTCP packet that is not the last");
      const uint8_t pad = d[pos + len - 1];
      if (pad == 0 || pad > body.size()) return bad("RTCP padding count does not fit");
      body = body.first(body.size() - pad);
    }
    RtcpPacket p;
    p.type = h[1];
    p.count = h[0] & 0x1f;
    size_t i = 0;
    auto need = [&](size_t n) { return i + n <= body.size(); };
    auto blocks = [&]() -> Status {
      for (uint8_t k = 0; k < p.count; ++k) {
        if (!need(24)) return bad("report block runs past the packet");
        RtcpReportBlock b;
        b.ssrc = be32(&body[i]);
        b.fraction_lost = body[i + 4];
        int32_t lost = static_cast<int32_t>(body[i + 5] << 16 | body[i + 6] << 8 | body[i + 7]);
        if (lost & 0x800000) lost -= 0x1000000;
        b.cumulative_lost = lost;
        b.highest_sequence = be32(&body[i + 8]);
        b.jitter = be32(&body[i + 12]);
        b.last_sr = be32(&body[i + 16]);
        b.delay_since_last_sr = be32(&body[i + 20]);
        p.reports.push_back(b);
        i += 24;
      }
      return ok_status();
    };
    switch (p.type) {
      case RtcpPacket::kSr: {
        if (!need(24)) return bad("SR shorter than its sender info");
        p.ssrc = be32(&body[0]);
        p.ntp_timestamp = static_cast<uint64_t>(be32(&body[4])) << 32 | be32(&body[8]);
        p.rtp_timestamp = be32(&body[12]);
        p.packet_count = be32(&body[16]);
        p.octet_count = be32(&body[20]);
        i = 24;
        VB_TRY(blocks());
        break;
      }
      case RtcpPacket::kRr: {
        if (!need(4)) return bad("RR without its SSRC");
        p.ssrc = be32(&body[0]);
        i = 4;
        VB_TRY(blocks());
        break;
      }
      case RtcpPacket::kSdes:
        for (uint8_t k = 0; k < p.count; ++k) {
          if (!need(4)) return bad("SDES chunk runs past the packet");
          const uint32_t ssrc = be32(&body[i]);
          i += 4;
          for (;;) {
            if (!need(1)) return bad("SDES items run past the packet");
            const uint8_t type = body[i];
            if (type == 0) {  // END, then padding to the next 32-bit boundary
              i = (i + 4) & ~static_cast<size_t>(3);
              break;
            }
            if (!need(2) || !need(2 + static_cast<size_t>(body[i + 1])))
              return bad("SDES item runs past the packet");
            p.sdes.push_back(
                {ssrc, type,
                 std::string(reinterpret_cast<const char*>(&body[i + 2]), body[i + 1])});
            i += 2 + body[i + 1];
          }
          if (i > body.size()) return bad("SDES chunk padding runs past the packet");
        }
        break;
      case RtcpPacket::kBye:
        for (uint8_t k = 0; k < p.count; ++k) {
          if (!need(4)) return bad("BYE source list runs past the packet");
          p.bye_sources.push_back(be32(&body[i]));
          i += 4;
        }
        if (!p.bye_sources.empty()) p.ssrc = p.bye_sources.front();
        if (need(1)) {
          const size_t n = body[i];
          if (!need(1 + n)) return bad("BYE reason runs past the packet");
          p.bye_reason.assign(reinterpret_cast<const char*>(&body[i + 1]), n);
        }
        break;
      default:  // APP, feedback (RFC 4585), XR (RFC 3611), ...: the sender SSRC when present
        if (need(4)) p.ssrc = be32(&body[0]);
        break;
    }
    out.push_back(std::move(p));
    pos += len;
  }
  return out;
}

// --- receive statistics (RFC 3550 A.1, A.3, A.8) ---------------------------------------------

void SourceStats::init(uint16_t seq) {
  base_seq_ = seq;
  max_seq_ = seq;
  bad_seq_ = 0x10001;
  cycles_ = 0;
  received_ = 0;
  window_.fill(0);
}

bool SourceStats::seen(uint32_t ext) const {
  const uint32_t bit = ext % kWindow;
  return (window_[bit / 64] >> (bit % 64)) & 1;
}

void SourceStats::mark(uint32_t ext) {
  const uint32_t bit = ext % kWindow;
  window_[bit / 64] |= uint64_t{1} << (bit % 64);
}

Arrival SourceStats::update(uint16_t seq, uint32_t rtp_timestamp, uint32_t arrival) {
  Arrival result = Arrival::kInOrder;
  if (!initialised_) {
    initialised_ = true;
    init(seq);
    max_seq_ = static_cast<uint16_t>(seq - 1);
    probation_ = kMinSequential;
  }
  if (inactive_) {
    inactive_ = false;
    const uint16_t gap = static_cast<uint16_t>(seq - max_seq_ - 1);
    if (probation_ == 0 && gap > 0 && gap < 0x8000) {
      // Not expected: the base moves up with the highest number, as if the gap never was.
      if (static_cast<uint16_t>(seq - 1) < max_seq_) cycles_ += 0x10000;
      max_seq_ = static_cast<uint16_t>(seq - 1);
      base_seq_ += gap;
      window_.fill(0);
      have_transit_ = false;
    }
  }
  const uint16_t udelta = static_cast<uint16_t>(seq - max_seq_);
  if (probation_ > 0) {
    // A new source is believed after kMinSequential packets in sequence.
    if (seq == static_cast<uint16_t>(max_seq_ + 1)) {
      --probation_;
      max_seq_ = seq;
      if (probation_ == 0) {
        const auto first = static_cast<uint16_t>(seq - (kMinSequential - 1));
        init(first);
        if (seq < first) cycles_ = 0x10000;  // the probation straddled a wrap
        max_seq_ = seq;
        for (uint32_t k = 0; k < kMinSequential; ++k) mark(cycles_ + seq - k);
        received_ = kMinSequential;
        return Arrival::kInOrder;
      }
    } else {
      probation_ = kMinSequential - 1;
      max_seq_ = seq;
    }
    return Arrival::kProbation;
  }
  uint32_t ext = 0;
  if (udelta == 0) {
    ++duplicates_;
    return Arrival::kDuplicate;
  }
  if (udelta < kMaxDropout) {
    // Forward, perhaps with a gap: the slots skipped over now stand for newer numbers.
    const uint32_t old_ext = cycles_ + max_seq_;
    if (seq < max_seq_) cycles_ += 0x10000;
    max_seq_ = seq;
    ext = cycles_ + max_seq_;
    if (ext - old_ext >= kWindow) {
      window_.fill(0);
    } else {
      for (uint32_t e = old_ext + 1; e < ext; ++e) {
        const uint32_t bit = e % kWindow;
        window_[bit / 64] &= ~(uint64_t{1} << (bit % 64));
      }
    }
  } else if (udelta <= 0x10000 - kMaxMisorder) {
    // A big jump: a restart when the next packet follows it, else a stray.
    if (seq == bad_seq_) {
      init(seq);
      ++restarts_;
      mark(seq);
      received_ = 1;
      have_transit_ = false;
      return Arrival::kRestart;
    }
    bad_seq_ = (seq + 1u) & 0xffffu;
    return Arrival::kProbation;
  } else {
    // Older than the highest: a duplicate or a late (reordered) packet. (Signed: before the
    // first wrap, a number from "before zero" is older than the source itself.)
    const int64_t older = int64_t{cycles_} + seq - (seq > max_seq_ ? 0x10000 : 0);
    const int64_t highest = int64_t{cycles_} + max_seq_;
    if (older < int64_t{base_seq_} || highest - older >= kWindow) return Arrival::kTooOld;
    ext = static_cast<uint32_t>(older);
    if (seen(ext)) {
      ++duplicates_;
      return Arrival::kDuplicate;
    }
    ++late_;
    result = Arrival::kLate;
  }
  mark(ext);
  ++received_;
  // Interarrival jitter (A.8).
  const int64_t transit = static_cast<int64_t>(arrival) - static_cast<int64_t>(rtp_timestamp);
  if (have_transit_) {
    int64_t d = transit - last_transit_;
    // Both clocks are 32-bit and wrap: keep the difference in range.
    d = static_cast<int32_t>(static_cast<uint32_t>(d));
    jitter_ += (static_cast<double>(std::llabs(d)) - jitter_) / 16.0;
  }
  have_transit_ = true;
  last_transit_ = transit;
  return result;
}

uint64_t SourceStats::expected() const {
  if (!initialised_ || probation_ > 0) return 0;
  return static_cast<uint64_t>(extended_highest()) - base_seq_ + 1;
}

int64_t SourceStats::lost() const {
  return static_cast<int64_t>(expected()) - static_cast<int64_t>(received_);
}

double SourceStats::loss_ratio() const {
  const uint64_t e = expected();
  if (e == 0) return 0;
  const int64_t l = lost();
  return l <= 0 ? 0.0 : static_cast<double>(l) / static_cast<double>(e);
}

double SourceStats::mos(double one_way_delay_ms) const {
  // ITU-T G.107 E-model, G.711 with packet-loss concealment: Ie = 0, Bpl = 25.1, random loss.
  const double ppl = loss_ratio() * 100.0;
  const double ie_eff = 95.0 * ppl / (ppl + 25.1);
  const double d = one_way_delay_ms + 2.0 * jitter_ms();  // a jitter buffer of twice the jitter
  const double id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0.0);
  const double r = 93.2 - id - ie_eff;
  if (r <= 0) return 1.0;
  if (r >= 100) return 4.5;
  return std::min(4.5, 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6);
}

}  // namespace verbatim::media
