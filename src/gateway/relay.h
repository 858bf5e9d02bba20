// The gateway's media anchor. For each stream of a call the gateway holds a port pair facing
// each side (A: the caller, B: the callee); what one side sends is forwarded to the other side,
// and copied to the taps: the recorders' streams of the recording sessions of that call.
//   - strict source: a side's sockets take packets only from the address its SDP names or the
//     address its SIP comes from (a phone behind a NAT names its private address; a softphone
//     may name another interface of its host), any port: the first packet latches it
//     (symmetric RTP); anything else is dropped and counted (RTP bleed, T12);
//   - forwarding goes to where the other side's packets come from once it has sent, before that
//     to the port its SDP names;
//   - RTCP is relayed the same way on the odd port above; taps get RTP and RTCP;
//   - taps are added when a recorder answers and removed when it leaves, without touching the
//     call: a recorder never delays or breaks the media of the call it records;
//   - a WebRTC side (a browser, set_ice and set_dtls) has RTP, RTCP, STUN and DTLS on its one
//     port, told apart by the first byte (RFC 7983): STUN checks are answered by ICE-lite, and
//     only an address whose check was answered may go on to DTLS and SRTP; the SRTP keys come
//     from the DTLS handshake, whose peer certificate must match the SDP's a=fingerprint.
//     What goes to it goes to the address ICE selected;
//   - an announcement (a spoken notice, prompts.h) plays to one side in RTP of its own (its own
//     SSRC, one packet per 20 ms on a clock of absolute deadlines), instead of what the other
//     side sends; what that side sends still goes to the recorders.
// Hand-written: the relays that exist (rtpengine, the kernel's forwarding) are daemons, not
// libraries; this one is a few hundred lines on Boost.Asio, reading each socket when readable
// into one buffer per thread (memory per call stays small), as the recorder does.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/result.h"
#include "gateway/media_anchor.h"
#include "media/srtp.h"

namespace verbatim::gateway {

// A port pair the gateway sends copies from (one recorder stream). What comes back on it (the
// recorder's RTCP) is read and dropped, so nothing piles up in the socket; a meeting member's
// port hands what comes in on RTP to its receiver instead.
// RTP it sends is queued (copied) and sent once the io_context has run what is ready now: one
// sendmmsg for all that this port was given meanwhile (a camera's burst of packets copied to a
// recorder, a speaker's forwarded to a member). Under load, a system call and the receiver's
// wake-up are shared by many packets; when idle, a packet waits only for the handlers already
// ready. RTCP is sent at once.
class TapPorts : public std::enable_shared_from_this<TapPorts> {
 public:
  static Result<std::shared_ptr<TapPorts>> open(boost::asio::io_context& io,
                                                const boost::asio::ip::address& address,
                                                uint16_t port);
  void send(bool rtcp, const uint8_t* data, size_t size, const boost::asio::ip::udp::endpoint& to);
  using Receiver = std::function<void(const boost::asio::ip::udp::endpoint& from,
                                      std::span<const uint8_t> packet)>;
  // What arrives on the RTP port (or with `rtcp`, the RTCP port) goes to `receiver`.
  void set_receiver(bool rtcp, Receiver receiver) {
    (rtcp ? rtcp_receiver_ : receiver_) = std::move(receiver);
  }
  // Sends what is queued first.
  void close();
  uint16_t port() const { return port_; }
  uint64_t sent() const { return sent_; }
  // System calls that sent RTP (each one sendmmsg of one or more packets).
  uint64_t send_calls() const { return send_calls_; }

 private:
  struct Queued {
    size_t offset = 0;
    size_t size = 0;
    boost::asio::ip::udp::endpoint to;
  };
  TapPorts(boost::asio::io_context& io, uint16_t port) : rtp_(io), rtcp_(io), port_(port) {}
  void drain(bool rtcp);
  void flush();
  boost::asio::ip::udp::socket rtp_, rtcp_;
  uint16_t port_;
  uint64_t sent_ = 0;
  uint64_t send_calls_ = 0;
  std::vector<uint8_t> queued_bytes_;
  std::vector<Queued> queued_;
  bool flush_posted_ = false;
  bool gso_ = true;
  Receiver receiver_, rtcp_receiver_;
  bool closed_ = false;
};

class RelayStream : public std::enable_shared_from_this<RelayStream> {
 public:
  // Binds RTP on port_a/port_b and RTCP on the odd ports above them, on `address`.
  static Result<std::shared_ptr<RelayStream>> open(boost::asio::io_context& io,
                                                   const boost::asio::ip::address& address,
                                                   uint16_t port_a, uint16_t port_b);
  ~RelayStream();
  RelayStream(const RelayStream&) = delete;
  RelayStream& operator=(const RelayStream&) = delete;

  // The RTP address a side's SDP names (its RTCP: the port above). Port 0 or the address
  // 0.0.0.0 (hold): nothing is sent to that side. `relatch`: another party took that side (a
  // transfer), so the port latched from the old one is forgotten even on the same host.
  void set_remote(Side side, const boost::asio::ip::udp::endpoint& rtp, bool relatch = false);
  // Copies of what `from` sends go to `to` (its RTCP to the port above), sent from `via`.
  // SRTP (SDES) on a side: what it sends is authenticated and decrypted with `theirs` before
  // anything else looks at it (a forgery never latches, is never forwarded or copied); what goes
  // to it is encrypted with `ours`. Taps always get the decrypted packets.
  Status set_srtp(Side side, const media::SdesKey& theirs, const media::SdesKey& ours);
  // The address a side's SIP comes from: its media is taken from there too.
  void set_signalling(Side side, const boost::asio::ip::address& address);
  // MediaStream::set_ice and set_dtls (media_anchor.h).
  void set_ice(Side side, media::IceLite ice);
  void set_dtls(Side side, std::unique_ptr<media::DtlsSrtp> dtls);
  // What `from` sends (its RTP; RTCP still goes as it is) is transcoded before it goes to the
  // other side; the taps still get it as sent.
  void set_transcoder(Side from, std::unique_ptr<media::Transcoder> t) {
    leg(from).transcoder = std::move(t);
  }
  // `srtp`: the copies are encrypted with it (SRTP/SRTCP towards the recorder); null: plain.
  uint64_t add_tap(Side from, const std::shared_ptr<TapPorts>& via,
                   const boost::asio::ip::udp::endpoint& to,
                   std::unique_ptr<media::SrtpSender> srtp = nullptr);
  void remove_tap(uint64_t id);
  void pause_tap(uint64_t id, bool paused);
  // Plays `a` to `to` (replacing one already playing there); `done` gets the packets sent when
  // the last one went, or when the stream closed (not called after close()).
  void play(Side to, Announcement a, std::function<void(uint64_t sent)> done = nullptr);
  bool playing(Side to) const { return legs_[static_cast<size_t>(to)]->player != nullptr; }
  void close();

  uint16_t port(Side s) const { return ports_[static_cast<size_t>(s)]; }
  const RelayCounters& counters() const { return counters_; }

 private:
  struct Player {
    explicit Player(boost::asio::io_context& io) : timer(io) {}
    Announcement announcement;
    size_t next = 0;
    uint64_t sent = 0;
    uint16_t seq = 0;
    uint32_t timestamp = 0, ssrc = 0;
    std::chrono::steady_clock::time_point due;
    boost::asio::steady_timer timer;
    std::function<void(uint64_t)> done;
  };
  // A WebRTC side's ICE and DTLS state.
  struct WebRtc {
    explicit WebRtc(boost::asio::io_context& io, media::IceLite i) : ice(std::move(i)), timer(io) {}
    media::IceLite ice;
    std::unique_ptr<media::DtlsSrtp> dtls;
    std::vector<std::vector<uint8_t>> early;  // DTLS from a checked address before set_dtls
    boost::asio::steady_timer timer;          // the handshake's retransmissions
    bool timer_armed = false;
    bool failed = false;  // the handshake failed (counted once)
  };
  struct Leg {
    explicit Leg(boost::asio::io_context& io) : rtp(io), rtcp(io) {}
    boost::asio::ip::udp::socket rtp, rtcp;
    std::optional<boost::asio::ip::udp::endpoint> sdp;   // where the SDP says it is
    std::optional<boost::asio::ip::address> signalling;  // where its SIP comes from
    std::optional<boost::asio::ip::udp::endpoint> rtp_latched, rtcp_latched;
    std::unique_ptr<media::SrtpReceiver> rx;
    std::unique_ptr<media::SrtpSender> tx;
    std::unique_ptr<Player> player;
    std::unique_ptr<WebRtc> webrtc;
    std::unique_ptr<media::Transcoder> transcoder;  // what it sends, for the other side
    // A WebRTC peer: DTLS set, so RTP and RTCP share the RTP port.
    bool muxed() const { return webrtc && webrtc->dtls; }
  };
  struct Tap {
    uint64_t id = 0;
    Side from = Side::kA;
    std::weak_ptr<TapPorts> via;
    boost::asio::ip::udp::endpoint to;
    std::unique_ptr<media::SrtpSender> srtp;
    bool paused = false;
  };
  RelayStream(boost::asio::io_context& io, uint16_t port_a, uint16_t port_b);
  void receive(Side side, bool rtcp);
  void drain(Side side, bool rtcp);
  void on_datagram(Side side, bool rtcp, const boost::asio::ip::udp::endpoint& from, uint8_t* data,
                   size_t size);
  // Where packets for `to` go: where it sends from once it has, else where its SDP says.
  std::optional<boost::asio::ip::udp::endpoint> destination(Side to, bool rtcp);
  bool send_to_side(Side to, bool rtcp, const uint8_t* data, size_t size);
  // STUN and DTLS on a side's RTP port; true when the datagram was one of them.
  bool on_ice_or_dtls(Side side, const boost::asio::ip::udp::endpoint& from, const uint8_t* data,
                      size_t size);
  void dtls_send(Side side, const media::Datagrams& out);
  void dtls_progress(Side side);
  void play_next(Side to);
  Leg& leg(Side s) { return *legs_[static_cast<size_t>(s)]; }

  std::array<std::unique_ptr<Leg>, 2> legs_;
  boost::asio::io_context& io_;
  std::array<uint16_t, 2> ports_{};
  std::vector<Tap> taps_;
  uint64_t next_tap_ = 1;
  RelayCounters counters_;
  std::vector<uint8_t> protect_buffer_;
  std::vector<uint8_t> announce_buffer_;
  std::vector<std::vector<uint8_t>> transcoded_;
  bool closed_ = false;
};

}  // namespace verbatim::gateway
