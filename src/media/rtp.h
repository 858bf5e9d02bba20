// RTP and RTCP on the wire (RFC 3550), as a recorder receives them: packet parsing with every
// length checked against the datagram, demultiplexing of what arrives on one port (RFC 7983:
// RTP, RTCP, STUN, DTLS), and the per-source receive statistics of RFC 3550 appendix A
// (extended sequence numbers across wraps, probation of new sources, restarts after a large
// jump, duplicates, reordering, expected/lost/fraction lost, interarrival jitter) with an
// E-model MOS estimate (ITU-T G.107, simplified for narrowband G.711 with packet-loss
// concealment).
//
// Hand-written: no packaged library parses RTP/RTCP without also owning the sockets and the
// session (libsrtp2 only protects packets; oRTP and ccRTP are session stacks with their own
// threads). Parsing returns views into the caller's datagram: no allocation per RTP packet.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace verbatim::media {

// A big-endian (network order) 16-bit field.
inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

using Bytes = std::span<const uint8_t>;

enum class PacketKind { kRtp, kRtcp, kStun, kDtls, kUnknown };
// RFC 7983 §7 on the first byte, and RFC 5761 §4 (payload types 64-95 after the marker bit
// are RTCP packet types 192-223) to tell RTCP from RTP on a shared port.
PacketKind classify(Bytes datagram);

struct RtpPacket {
  uint8_t payload_type = 0;
  bool marker = false;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  uint8_t csrc_count = 0;
  std::array<uint32_t, 15> csrc{};
  std::optional<uint16_t> extension_profile;  // set when the X bit is
  Bytes extension;                            // the extension's data words
  Bytes payload;                              // without padding
  uint8_t padding = 0;                        // padding bytes removed from the end
};

// Errors say what is wrong ("RTP version 1", "CSRC list runs past the end").
Result<RtpPacket> parse_rtp(Bytes datagram);

// `out` becomes a 12-byte RTP header (version 2, no CSRCs or extension) for packets we send; the
// payload is appended after it.
void write_rtp_header(std::vector<uint8_t>& out, uint8_t payload_type, bool marker,
                      uint16_t sequence, uint32_t timestamp, uint32_t ssrc);

struct RtcpReportBlock {
  uint32_t ssrc = 0;
  uint8_t fraction_lost = 0;    // /256
  int32_t cumulative_lost = 0;  // 24-bit signed
  uint32_t highest_sequence = 0;
  uint32_t jitter = 0;
  uint32_t last_sr = 0;
  uint32_t delay_since_last_sr = 0;
};

struct RtcpPacket {
  enum Type : uint8_t { kSr = 200, kRr = 201, kSdes = 202, kBye = 203, kApp = 204 };
  uint8_t type = 0;
  uint8_t count = 0;  // RC / SC / subtype
  uint32_t ssrc = 0;  // sender (SR, RR, APP); the first source (BYE)
  // SR sender info
  uint64_t ntp_timestamp = 0;
  uint32_t rtp_timestamp = 0;
  uint32_t packet_count = 0;
  uint32_t octet_count = 0;
  std::vector<RtcpReportBlock> reports;
  // SDES: (ssrc, item type, text) per item
  struct SdesItem {
    uint32_t ssrc = 0;
    uint8_t type = 0;  // 1 CNAME, 2 NAME, ...
    std::string text;
  };
  std::vector<SdesItem> sdes;
  // BYE
  std::vector<uint32_t> bye_sources;
  std::string bye_reason;
};

// A compound RTCP packet (RFC 3550 §6.1): every packet's length must fit exactly; unknown
// packet types are skipped by their length (RFC 4585 feedback, XR, ...).
Result<std::vector<RtcpPacket>> parse_rtcp(Bytes datagram);

// What update() made of a packet.
enum class Arrival {
  kInOrder,    // the next one, or a jump forward within MAX_DROPOUT (the gap is loss until filled)
  kLate,       // older than the highest seen but not seen before (reordered): counted, not a loss
  kDuplicate,  // seen before: to be dropped
  kProbation,  // a new source (or a restart) not yet confirmed by MIN_SEQUENTIAL packets
  kRestart,    // a confirmed restart after a large jump (sender reset): statistics start over
  kTooOld,     // further back than the duplicate window can tell: dropped
};

// RFC 3550 appendix A.1 (sequence), A.3 (loss), A.8 (jitter), per SSRC.
class SourceStats {
 public:
  // `clock_rate`: the payload's RTP clock (8000 for G.711) for jitter in milliseconds.
  explicit SourceStats(uint32_t clock_rate = 8000) : clock_rate_(clock_rate) {}

  // `arrival` in units of the RTP clock (the receiver's own clock, any origin).
  Arrival update(uint16_t sequence, uint32_t rtp_timestamp, uint32_t arrival);
  // The stream was inactive (held, or its recording paused): the sequence numbers the sender
  // used meanwhile were not meant for us, so the forward gap before the next packet is not loss
  // (up to half the sequence space; a larger one is left to the usual restart rule).
  void inactive() { inactive_ = initialised_; }

  uint64_t received() const { return received_; }  // distinct packets, duplicates excluded
  uint64_t duplicates() const { return duplicates_; }
  uint64_t late() const { return late_; }
  uint64_t restarts() const { return restarts_; }
  uint64_t expected() const;
  int64_t lost() const;       // expected - received (negative only with duplicates undetected)
  double loss_ratio() const;  // lost / expected, 0..1
  uint32_t extended_highest() const { return cycles_ + max_seq_; }
  double jitter_ms() const { return jitter_ * 1000.0 / clock_rate_; }
  uint32_t jitter_rtp_units() const { return static_cast<uint32_t>(jitter_); }
  // E-model estimate, 1.0 .. 4.5 (G.711 with PLC; `one_way_delay_ms` adds the delay
  // impairment; jitter adds as buffering delay of twice its value).
  double mos(double one_way_delay_ms = 0) const;

 private:
  void init(uint16_t sequence);
  bool seen(uint32_t extended) const;
  void mark(uint32_t extended);

  static constexpr int kMinSequential = 2;
  static constexpr uint16_t kMaxDropout = 3000;
  static constexpr uint16_t kMaxMisorder = 100;
  static constexpr uint32_t kWindow = 1024;  // duplicate detection reach, in packets

  uint32_t clock_rate_;
  bool initialised_ = false;
  uint16_t max_seq_ = 0;
  uint32_t cycles_ = 0;  // count of wraps << 16
  uint32_t base_seq_ = 0;
  uint32_t bad_seq_ = 0x10001;  // RTP_SEQ_MOD + 1: none
  int probation_ = kMinSequential;
  uint64_t received_ = 0, duplicates_ = 0, late_ = 0, restarts_ = 0;
  // Interarrival jitter (A.8), in RTP units.
  double jitter_ = 0;
  bool have_transit_ = false;
  int64_t last_transit_ = 0;
  std::array<uint64_t, kWindow / 64> window_{};  // bit per extended sequence number mod kWindow
  bool inactive_ = false;
};

}  // namespace verbatim::media
