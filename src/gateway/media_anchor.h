// MediaAnchor: where the gateway's calls get their media ports, the seam between the call logic
// and the relays. A call opens one MediaStream per m-line it relays (a port pair, one facing each
// side) and one MediaTap per recorder stream (the port the copies are sent from); it closes them
// when it ends, which gives their ports back.
//
// RelayAnchor is the production implementation (RelayStream and TapPorts of relay.h on ports from
// the configured range); the gateway's unit tests use a fake that binds nothing and finishes
// announcements when told. The call logic owns its streams and taps (shared with the relay's
// own handlers); everything runs on the gateway's io_context thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "common/result.h"
#include "media/dtls_srtp.h"
#include "media/port_pool.h"
#include "media/srtp.h"
#include "media/stun.h"
#include "media/transcoder.h"

namespace verbatim::gateway {

enum class Side { kA = 0, kB = 1 };
inline Side other(Side s) { return s == Side::kA ? Side::kB : Side::kA; }

// What an announcement plays: RTP payloads of one codec, one per 20 ms.
struct Announcement {
  uint8_t payload_type = 0;
  uint32_t ticks_per_frame = 160;                                   // RTP clock ticks per payload
  std::shared_ptr<const std::vector<std::vector<uint8_t>>> frames;  // shared by every call
};

// What a stream relayed, by the side that sent.
struct RelayCounters {
  std::array<uint64_t, 2> received{};  // by the side that sent
  std::array<uint64_t, 2> forwarded{};
  std::array<uint64_t, 2> foreign{};       // dropped: not from that side's address
  std::array<uint64_t, 2> srtp_failed{};   // dropped: SRTP/SRTCP that did not authenticate
  std::array<uint64_t, 2> announced{};     // announcement packets sent to that side
  std::array<uint64_t, 2> ice_answered{};  // STUN checks answered (WebRTC sides)
  std::array<uint64_t, 2> dtls_failed{};   // DTLS handshakes that failed for good
  std::array<uint64_t, 2> transcoded{};    // packets made in the other side's codec
  uint64_t tapped = 0;
  uint64_t withheld = 0;  // not copied: the recording was paused (call control)
};

// A port pair the gateway sends from: one recorder stream's copies (what comes back is
// dropped), or a meeting member's mix, where the gateway is the member's peer and takes in what
// the member sends on it (on_rtp).
class MediaTap {
 public:
  using RtpHandler = std::function<void(const boost::asio::ip::udp::endpoint& from,
                                        std::span<const uint8_t> packet)>;
  virtual ~MediaTap() = default;
  virtual uint16_t port() const = 0;
  // What arrives on the RTP port goes to `handler` from now on.
  virtual void on_rtp(RtpHandler handler) = 0;
  // What arrives on the RTCP port (the one above) goes to `handler` (until then it is dropped).
  virtual void on_rtcp(RtpHandler handler) = 0;
  // Sends one RTP packet from the RTP port; `send_rtcp`, one RTCP packet from the RTCP port.
  virtual void send(std::span<const uint8_t> packet, const boost::asio::ip::udp::endpoint& to) = 0;
  virtual void send_rtcp(std::span<const uint8_t> packet,
                         const boost::asio::ip::udp::endpoint& to) = 0;
  // Gives the port back; later calls do nothing.
  virtual void close() = 0;
};

// One relayed stream of a call (relay.h says what each operation does to the packets).
class MediaStream {
 public:
  virtual ~MediaStream() = default;
  virtual uint16_t port(Side facing) const = 0;
  virtual void set_remote(Side side, const boost::asio::ip::udp::endpoint& rtp,
                          bool relatch = false) = 0;
  virtual Status set_srtp(Side side, const media::SdesKey& theirs, const media::SdesKey& ours) = 0;
  virtual void set_signalling(Side side, const boost::asio::ip::address& address) = 0;
  // ICE-lite towards `side` (a browser): its connectivity checks are answered with `ice`'s
  // credentials. Until set_dtls, DTLS it sends is kept (a few datagrams) for the handshake.
  virtual void set_ice(Side side, media::IceLite ice) = 0;
  // `side` is a WebRTC peer: SRTP keys from this DTLS handshake, RTP and RTCP on one port
  // (rtcp-mux), and nothing taken from or sent to an address its ICE checks did not come from.
  // Null: the side is no longer a browser (another party took it).
  virtual void set_dtls(Side side, std::unique_ptr<media::DtlsSrtp> dtls) = 0;
  // What `from` sends (RTP in `source`) goes to the other side transcoded into `target`
  // (media/transcoder.h): the two parties share no codec. Its recorders get it as sent.
  virtual Status set_transcoding(Side from, const media::Transcoder::Codec& source,
                                 const media::Transcoder::Codec& target) = 0;
  // Copies of what `from` sends go to `to` from `via` (a tap of the same anchor).
  virtual uint64_t add_tap(Side from, const std::shared_ptr<MediaTap>& via,
                           const boost::asio::ip::udp::endpoint& to,
                           std::unique_ptr<media::SrtpSender> srtp = nullptr) = 0;
  virtual void remove_tap(uint64_t id) = 0;
  // A paused tap copies nothing (what is said in the pause never reaches the recorder) and
  // keeps its SRTP context, so the copies go on where they stopped when it resumes.
  virtual void pause_tap(uint64_t id, bool paused) = 0;
  // `done` gets the packets sent once the last one went (not called after close()).
  virtual void play(Side to, Announcement a, std::function<void(uint64_t sent)> done) = 0;
  virtual RelayCounters counters() const = 0;
  // Stops relaying and gives the ports back; later calls do nothing.
  virtual void close() = 0;
};

class MediaAnchor {
 public:
  virtual ~MediaAnchor() = default;
  // The address the streams' SDP names.
  virtual boost::asio::ip::address address() const = 0;
  // kResourceExhausted when no ports are free (or none could be bound).
  virtual Result<std::shared_ptr<MediaStream>> open_stream() = 0;
  virtual Result<std::shared_ptr<MediaTap>> open_tap() = 0;
  virtual size_t ports_free() const = 0;
};

// Relays on the io_context, on port pairs from [min, max] on `address`. A port another process
// holds is skipped (it goes to the back of the pool) a few times before giving up.
class RelayAnchor final : public MediaAnchor {
 public:
  RelayAnchor(boost::asio::io_context& io, boost::asio::ip::address address, uint16_t port_min,
              uint16_t port_max);
  boost::asio::ip::address address() const override { return address_; }
  Result<std::shared_ptr<MediaStream>> open_stream() override;
  Result<std::shared_ptr<MediaTap>> open_tap() override;
  size_t ports_free() const override { return ports_.available(); }

 private:
  boost::asio::io_context& io_;
  boost::asio::ip::address address_;
  media::PortPool ports_;
};

}  // namespace verbatim::gateway
