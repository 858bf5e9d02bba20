// One recorded stream: the RTP and RTCP sockets of one m-line of a SIPREC session, and what
// the recorder makes of each datagram on the live path — nothing but bookkeeping and evidence:
//   - latching (strict source): the stream takes packets from one source only, the first that
//     sends valid RTP from the address the offer's SDP names (latch "sdp-address"), or from
//     anywhere (latch "first-packet", for recording clients behind NAT). Everything else is
//     dropped and counted as foreign: no RTP-bleed class flaw (T12);
//   - RTP: receive statistics per SSRC (RFC 3550: loss, jitter, reordering, MOS), duplicates
//     dropped so the evidence holds each (SSRC, sequence) once, late packets kept (T14), SSRC
//     and payload type changes noted as timed events (T15, T16), RFC 4733 telephone events
//     kept as timed DTMF events, payload types the answer did not accept counted and flagged;
//   - media gaps (no packet for kGap or more while the stream should be receiving) and packet
//     loss (summed over windows of kLossWindow) as timed events, for the player's timeline;
//   - RTCP from the latched address: validated and kept; STUN/DTLS and garbage dropped;
//   - SRTP (SDES): every packet authenticated and decrypted before anything else looks at it
//     (a wrong tag or key never latches, is never stored: T13); replays dropped; the evidence
//     holds the decrypted packets (the archive encrypts them at rest).
// Every accepted datagram goes to the sink (the session's pcap evidence) with its arrival time.
// Decoding happens after the call, from the evidence (design.md, "Where the cost is").
// Threads and ownership: a StreamReceiver is owned by its recording session and runs on the
// recorder's io_context thread; sinks are borrowed for the stream's life.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <nlohmann/json.hpp>

#include "media/rtp.h"
#include "media/srtp.h"
#include "sip/sdp.h"

namespace verbatim::recorder {

class StreamReceiver;

// Where a stream's accepted datagrams and timed events go (the recording session).
class PacketSink {
 public:
  virtual ~PacketSink() = default;
  virtual void record(const StreamReceiver& stream, std::chrono::system_clock::time_point at,
                      const boost::asio::ip::udp::endpoint& from,
                      const boost::asio::ip::udp::endpoint& to, media::Bytes datagram) = 0;
  virtual void event(const StreamReceiver& stream, nlohmann::json event) = 0;
};

// What the SDP says about a stream (from the offer and our answer).
struct StreamSpec {
  size_t index = 0;  // m-line, 0-based
  std::string label;
  std::string media = "audio";
  std::optional<boost::asio::ip::address> source;  // the offer's c= address (none: 0.0.0.0)
  uint16_t source_port = 0;             // the offer's m= port (symmetric RTP sends from it)
  std::map<int, sip::RtpMap> payloads;  // payload types our answer accepted
  int telephone_event = -1;             // its payload type, -1 if none
  bool receiving = true;                // false while held / inactive
  // The change of `receiving` is the whole session's (a pause or its end), noted once by the
  // session: no hold or resume event of the stream's own.
  bool session_wide = false;
  std::optional<media::SdesKey> srtp;  // the client's SDES key (RTP/SAVP)
};

struct StreamCounters {
  uint64_t packets = 0;  // RTP accepted into the evidence
  uint64_t rtcp = 0;
  uint64_t bytes = 0;
  uint64_t foreign = 0;     // from anyone but the latched source
  uint64_t duplicates = 0;  // dropped
  uint64_t invalid = 0;     // not RTP/RTCP, or malformed
  uint64_t unknown_payload = 0;
  uint64_t srtp_auth_failed = 0;  // SRTP/SRTCP with a wrong tag or key: dropped (T13)
  uint64_t gaps = 0;              // silences of kGap or more while receiving
};

class StreamReceiver : public std::enable_shared_from_this<StreamReceiver> {
 public:
  enum class Latch { kSdpAddress, kFirstPacket };
  // Binds RTP to `port` and RTCP to port + 1 on `address`.
  static Result<std::shared_ptr<StreamReceiver>> open(boost::asio::io_context& io,
                                                      const boost::asio::ip::address& address,
                                                      uint16_t port, StreamSpec spec, Latch latch,
                                                      PacketSink* sink);
  void start();
  // A re-INVITE changed the stream (codec, hold, source: the latch is re-established when the
  // offer's address or port changed, as when a client moves the stream to a new port).
  void update(StreamSpec spec);
  // The recording ends: notes the loss still being summed and a gap that lasts to the end.
  void finish(std::chrono::system_clock::time_point at,
              std::chrono::steady_clock::time_point steady_at);
  // Stops receiving; no callback reaches the sink afterwards.
  void close();

  // A stream that should be receiving and gets nothing for this long has a gap (the timeline's
  // "no media"). Phones that stop sending in silence (VAD without comfort noise) show too.
  static constexpr std::chrono::milliseconds kGap{1000};
  // Lost packets are summed over this long (from the first loss) before they are noted: an
  // event per burst for the timeline, not per packet.
  static constexpr std::chrono::seconds kLossWindow{5};
  static constexpr size_t kMaxGapEvents = 500;  // per stream; then only counted

  uint16_t port() const { return port_; }
  const StreamSpec& spec() const { return spec_; }
  const StreamCounters& counters() const { return counters_; }
  // Last accepted RTP packet (steady clock), or the time the stream opened.
  std::chrono::steady_clock::time_point last_media() const { return last_media_; }
  std::optional<boost::asio::ip::udp::endpoint> latched() const { return rtp_latch_; }
  // Statistics per SSRC and counters, for the quality report.
  nlohmann::json summary() const;

  // The live-path work for one datagram, public for tests and the benchmark.
  void on_datagram(bool rtcp, const boost::asio::ip::udp::endpoint& from, media::Bytes datagram,
                   std::chrono::system_clock::time_point at,
                   std::chrono::steady_clock::time_point steady_at);

  StreamReceiver(boost::asio::io_context& io, uint16_t port, StreamSpec spec, Latch latch,
                 PacketSink* sink);

 private:
  struct Source {
    media::SourceStats stats;
    int payload_type = -1;
    std::string codec;  // of payload_type when it was seen (a later re-INVITE may drop it)
    int clock_rate = 0;
    std::optional<uint32_t> dtmf_timestamp;
    bool dtmf_open = false;
    std::chrono::system_clock::time_point first, last;
    explicit Source(uint32_t clock_rate) : stats(clock_rate) {}
  };
  void receive(bool rtcp);
  void drain(bool rtcp);
  bool source_allowed(bool rtcp, const boost::asio::ip::udp::endpoint& from);
  void foreign(const boost::asio::ip::udp::endpoint& from);
  void on_rtp(const media::RtpPacket& p, const boost::asio::ip::udp::endpoint& from,
              media::Bytes datagram, std::chrono::system_clock::time_point at,
              std::chrono::steady_clock::time_point steady_at);
  void on_telephone_event(Source& s, const media::RtpPacket& p,
                          std::chrono::system_clock::time_point at);
  // A gap ending now (or at the end: `to_end`) when the stream should have been receiving.
  void note_gap(std::chrono::system_clock::time_point at,
                std::chrono::steady_clock::time_point steady_at, bool to_end);
  void note_loss();

  boost::asio::ip::udp::socket rtp_socket_, rtcp_socket_;
  boost::asio::ip::udp::endpoint rtp_local_, rtcp_local_;
  uint16_t port_ = 0;
  StreamSpec spec_;
  Latch latch_;
  PacketSink* sink_;
  std::optional<boost::asio::ip::udp::endpoint> rtp_latch_, rtcp_latch_;
  std::map<uint32_t, Source> sources_;  // by SSRC (bounded: kMaxSources)
  uint32_t last_ssrc_ = 0;
  StreamCounters counters_;
  size_t foreign_reported_ = 0;
  std::chrono::steady_clock::time_point opened_, last_media_;
  std::unique_ptr<media::SrtpReceiver> srtp_;
  // Loss being summed: packets (late arrivals subtract), since the first of the window.
  int64_t loss_pending_ = 0;
  std::chrono::system_clock::time_point loss_since_{};
  bool media_seen_ = false;  // an RTP packet accepted since the stream opened
  bool closed_ = false;
  static constexpr size_t kMaxSources = 32;
  static constexpr size_t kMaxForeignEvents = 16;
  static constexpr int kMaxPerWakeup = 64;  // then other sockets get their turn
};

}  // namespace verbatim::recorder
