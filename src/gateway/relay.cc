#include "gateway/relay.h"

#include <netinet/udp.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>

#include <cerrno>
#include <cstring>
#include <random>

#include "media/rtp.h"

namespace verbatim::gateway {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {

constexpr int kMaxPerWakeup = 16;
// Packets one port queues before it sends them without waiting (bounds its memory; sendmmsg
// takes at most UIO_MAXIOV, 1024).
constexpr size_t kMaxQueued = 64;
// A GSO send: at most 64 segments (UDP_MAX_SEGMENTS) in one IP datagram's worth of bytes.
constexpr size_t kMaxGsoSegments = 64;
constexpr size_t kMaxGsoBytes = 65000;

Status bind_socket(udp::socket& s, const asio::ip::address& address, uint16_t port) {
  boost::system::error_code ec;
  s.open(address.is_v6() ? udp::v6() : udp::v4(), ec);
  if (!ec) s.bind(udp::endpoint(address, port), ec);
  if (!ec) s.non_blocking(true, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "media port " + std::to_string(port) + ": " + ec.message());
  }
  return ok_status();
}

udp::endpoint rtcp_of(const udp::endpoint& rtp) {
  return udp::endpoint(rtp.address(), static_cast<uint16_t>(rtp.port() + 1));
}

}  // namespace

// --- TapPorts --------------------------------------------------------------------------------

Result<std::shared_ptr<TapPorts>> TapPorts::open(asio::io_context& io,
                                                 const asio::ip::address& address, uint16_t port) {
  std::shared_ptr<TapPorts> t(new TapPorts(io, port));
  VB_TRY(bind_socket(t->rtp_, address, port));
  VB_TRY(bind_socket(t->rtcp_, address, static_cast<uint16_t>(port + 1)));
  t->drain(false);
  t->drain(true);
  return t;
}

void TapPorts::drain(bool rtcp) {
  auto& socket = rtcp ? rtcp_ : rtp_;
  socket.async_wait(udp::socket::wait_read,
                    [self = shared_from_this(), rtcp](boost::system::error_code ec) {
                      if (self->closed_ || ec == asio::error::operation_aborted) return;
                      thread_local std::array<uint8_t, 2048> buffer;
                      auto& s = rtcp ? self->rtcp_ : self->rtp_;
                      udp::endpoint from;
                      for (int i = 0; i < kMaxPerWakeup && !self->closed_; ++i) {
                        boost::system::error_code e;
                        const size_t n = s.receive_from(asio::buffer(buffer), from, 0, e);
                        if (e) break;
                        auto& to = rtcp ? self->rtcp_receiver_ : self->receiver_;
                        if (to) to(from, std::span<const uint8_t>(buffer.data(), n));
                      }
                      self->drain(rtcp);
                    });
}

void TapPorts::send(bool rtcp, const uint8_t* data, size_t size, const udp::endpoint& to) {
  if (closed_) return;
  if (rtcp) {
    boost::system::error_code ec;
    rtcp_.send_to(asio::buffer(data, size), to, 0, ec);
    if (!ec) ++sent_;
    return;
  }
  queued_.push_back(Queued{queued_bytes_.size(), size, to});
  queued_bytes_.insert(queued_bytes_.end(), data, data + size);
  if (queued_.size() >= kMaxQueued) {
    flush();
  } else if (!flush_posted_) {
    flush_posted_ = true;
    asio::post(rtp_.get_executor(), [self = shared_from_this()] {
      self->flush_posted_ = false;
      self->flush();
    });
  }
}

void TapPorts::flush() {
  if (queued_.empty()) return;
  // Runs of packets to one address, all of one size but the last (which may be shorter), go as
  // one UDP GSO send (UDP_SEGMENT): the kernel takes one buffer through the stack and cuts it
  // into the same datagrams at the end. A camera's frame is such a run.
  struct Control {
    alignas(cmsghdr) std::array<uint8_t, CMSG_SPACE(sizeof(uint16_t))> bytes;
  };
  thread_local std::vector<mmsghdr> messages;
  thread_local std::vector<iovec> parts;
  thread_local std::vector<Control> controls;
  thread_local std::vector<size_t> counts;  // packets in each message
  messages.clear();
  parts.clear();
  counts.clear();
  controls.resize(queued_.size());
  parts.reserve(queued_.size());
  for (size_t i = 0; i < queued_.size();) {
    size_t j = i + 1;
    size_t total = queued_[i].size;
    while (gso_ && j < queued_.size() && queued_[j].to == queued_[i].to &&
           queued_[j].offset == queued_[j - 1].offset + queued_[j - 1].size &&
           queued_[j - 1].size == queued_[i].size && queued_[j].size <= queued_[i].size &&
           total + queued_[j].size <= kMaxGsoBytes && j - i < kMaxGsoSegments) {
      total += queued_[j].size;
      ++j;
    }
    parts.push_back(iovec{queued_bytes_.data() + queued_[i].offset, total});
    mmsghdr m{};
    m.msg_hdr.msg_name = queued_[i].to.data();
    m.msg_hdr.msg_namelen = static_cast<socklen_t>(queued_[i].to.size());
    if (j - i > 1) {
      Control& c = controls[messages.size()];
      m.msg_hdr.msg_control = c.bytes.data();
      m.msg_hdr.msg_controllen = c.bytes.size();
      cmsghdr* h = CMSG_FIRSTHDR(&m.msg_hdr);
      h->cmsg_level = SOL_UDP;
      h->cmsg_type = UDP_SEGMENT;
      h->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto segment = static_cast<uint16_t>(queued_[i].size);
      std::memcpy(CMSG_DATA(h), &segment, sizeof segment);
    }
    messages.push_back(m);
    counts.push_back(j - i);
    i = j;
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    messages[i].msg_hdr.msg_iov = &parts[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  const int fd = rtp_.native_handle();
  size_t next = 0;     // the next message
  size_t handled = 0;  // packets sent or dropped so far
  while (next < messages.size() && !closed_) {
    const int n =
        ::sendmmsg(fd, messages.data() + next, static_cast<unsigned>(messages.size() - next), 0);
    if (n > 0) {
      ++send_calls_;
      for (size_t k = next; k < next + static_cast<size_t>(n); ++k) {
        sent_ += counts[k];
        handled += counts[k];
      }
      next += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && counts[next] > 1 && (errno == EINVAL || errno == EIO || errno == ENOTSUP)) {
      // This kernel or route cannot segment (a device without checksum offload, say): this
      // port sends one by one from now on, starting with what is left.
      gso_ = false;
      queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(handled));
      flush();
      return;
    } else {
      handled += counts[next];
      ++next;  // this one cannot go (a full buffer, no route): dropped, as a failed sendto is
    }
  }
  queued_.clear();
  queued_bytes_.clear();
}

void TapPorts::close() {
  if (!closed_) flush();
  closed_ = true;
  receiver_ = nullptr;
  rtcp_receiver_ = nullptr;
  boost::system::error_code ec;
  rtp_.close(ec);
  rtcp_.close(ec);
}

// --- RelayStream -----------------------------------------------------------------------------

RelayStream::RelayStream(asio::io_context& io, uint16_t port_a, uint16_t port_b)
    : legs_{std::make_unique<Leg>(io), std::make_unique<Leg>(io)},
      io_(io),
      ports_{port_a, port_b} {}

RelayStream::~RelayStream() {
  // A destructor never throws: Asio reports a failed cancel or close by exception, and there is
  // nothing left to do about it here.
  try {
    close();
  } catch (...) {
  }
}

Result<std::shared_ptr<RelayStream>> RelayStream::open(asio::io_context& io,
                                                       const asio::ip::address& address,
                                                       uint16_t port_a, uint16_t port_b) {
  std::shared_ptr<RelayStream> r(new RelayStream(io, port_a, port_b));
  for (Side side : {Side::kA, Side::kB}) {
    const uint16_t p = r->port(side);
    VB_TRY(bind_socket(r->leg(side).rtp, address, p));
    VB_TRY(bind_socket(r->leg(side).rtcp, address, static_cast<uint16_t>(p + 1)));
  }
  for (Side side : {Side::kA, Side::kB}) {
    r->receive(side, false);
    r->receive(side, true);
  }
  return r;
}

void RelayStream::set_remote(Side side, const udp::endpoint& rtp, bool relatch) {
  Leg& l = leg(side);
  if (relatch || (l.sdp && l.sdp->address() != rtp.address())) {
    // Moved (a re-INVITE with a new address): latch again.
    l.rtp_latched.reset();
    l.rtcp_latched.reset();
  }
  l.sdp = rtp;
}

Status RelayStream::set_srtp(Side side, const media::SdesKey& theirs, const media::SdesKey& ours) {
  auto rx = media::SrtpReceiver::create(theirs);
  if (!rx) return rx.error();
  auto tx = media::SrtpSender::create(ours);
  if (!tx) return tx.error();
  leg(side).rx = std::move(rx).value();
  leg(side).tx = std::move(tx).value();
  return ok_status();
}

void RelayStream::set_signalling(Side side, const asio::ip::address& address) {
  Leg& l = leg(side);
  if (l.signalling != address) {
    l.rtp_latched.reset();
    l.rtcp_latched.reset();
  }
  l.signalling = address;
}

void RelayStream::set_ice(Side side, media::IceLite ice) {
  Leg& l = leg(side);
  if (l.webrtc) {
    l.webrtc->ice = std::move(ice);
  } else {
    l.webrtc = std::make_unique<WebRtc>(io_, std::move(ice));
  }
}

void RelayStream::set_dtls(Side side, std::unique_ptr<media::DtlsSrtp> dtls) {
  Leg& l = leg(side);
  if (!l.webrtc) l.webrtc = std::make_unique<WebRtc>(io_, media::IceLite());
  WebRtc& w = *l.webrtc;
  w.dtls = std::move(dtls);
  if (!w.dtls) {  // no longer a browser: plain RTP (or SDES) again, from its SDP's address
    w.timer.cancel();
    w.timer_armed = false;
    l.rx.reset();
    l.tx.reset();
    return;
  }
  w.timer.cancel();
  w.timer_armed = false;
  w.failed = false;
  l.rx.reset();
  l.tx.reset();
  dtls_send(side, w.dtls->start());
  auto early = std::move(w.early);
  w.early.clear();
  for (const auto& d : early) dtls_send(side, w.dtls->receive(d));
  dtls_progress(side);
}

bool RelayStream::on_ice_or_dtls(Side side, const udp::endpoint& from, const uint8_t* data,
                                 size_t size) {
  const size_t i = static_cast<size_t>(side);
  Leg& l = leg(side);
  WebRtc& w = *l.webrtc;
  const std::span<const uint8_t> datagram(data, size);
  switch (media::classify(datagram)) {
    case media::PacketKind::kStun: {
      const auto answer = w.ice.on_stun(datagram, from);
      if (answer.empty()) return true;
      boost::system::error_code ec;
      l.rtp.send_to(asio::buffer(answer), from, 0, ec);
      // 0x0101: a Binding success response (an error answers a check that failed).
      if (answer[0] == 0x01 && answer[1] == 0x01) ++counters_.ice_answered[i];
      return true;
    }
    case media::PacketKind::kDtls:
      if (!w.ice.checked(from)) {
        ++counters_.foreign[i];
      } else if (!w.dtls) {
        constexpr size_t kMaxEarly = 8;
        if (w.early.size() < kMaxEarly) w.early.emplace_back(data, data + size);
      } else {
        dtls_send(side, w.dtls->receive(datagram));
        dtls_progress(side);
      }
      return true;
    default:
      return false;
  }
}

void RelayStream::dtls_send(Side side, const media::Datagrams& out) {
  Leg& l = leg(side);
  const auto to = l.webrtc->ice.selected();
  if (!to) return;  // no check yet: the retransmission timer sends it again
  for (const auto& d : out) {
    boost::system::error_code ec;
    l.rtp.send_to(asio::buffer(d), *to, 0, ec);
  }
}

// After DTLS moved: keyed when done (SRTP sessions from its keys), counted once when it failed,
// else retransmissions every 400 ms until one or the other.
void RelayStream::dtls_progress(Side side) {
  const size_t i = static_cast<size_t>(side);
  Leg& l = leg(side);
  WebRtc& w = *l.webrtc;
  if (!w.dtls) return;
  if (w.dtls->done()) {
    if (l.rx) return;
    w.timer.cancel();
    w.timer_armed = false;
    auto rx = media::SrtpReceiver::create(w.dtls->remote_key());
    auto tx = media::SrtpSender::create(w.dtls->local_key());
    if (rx && tx) {
      l.rx = std::move(rx).value();
      l.tx = std::move(tx).value();
    } else {
      ++counters_.dtls_failed[i];
    }
    return;
  }
  if (!w.dtls->failure().empty()) {
    // Kept, failed: the side stays WebRTC and unkeyed, so nothing it sends is ever relayed.
    if (!w.failed) ++counters_.dtls_failed[i];
    w.failed = true;
    w.timer.cancel();
    w.timer_armed = false;
    return;
  }
  if (w.timer_armed) return;
  w.timer_armed = true;
  w.timer.expires_after(std::chrono::milliseconds(400));
  w.timer.async_wait([self = shared_from_this(), side](boost::system::error_code ec) {
    if (ec || self->closed_) return;
    Leg& leg = self->leg(side);
    if (!leg.webrtc || !leg.webrtc->dtls) return;
    leg.webrtc->timer_armed = false;
    self->dtls_send(side, leg.webrtc->dtls->on_timer());
    self->dtls_progress(side);
  });
}

uint64_t RelayStream::add_tap(Side from, const std::shared_ptr<TapPorts>& via,
                              const udp::endpoint& to, std::unique_ptr<media::SrtpSender> srtp) {
  const uint64_t id = next_tap_++;
  taps_.push_back(Tap{id, from, via, to, std::move(srtp), false});
  return id;
}

void RelayStream::remove_tap(uint64_t id) {
  std::erase_if(taps_, [id](const Tap& t) { return t.id == id; });
}

void RelayStream::pause_tap(uint64_t id, bool paused) {
  for (Tap& t : taps_) {
    if (t.id == id) t.paused = paused;
  }
}

void RelayStream::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  for (auto& l : legs_) {
    l->rtp.close(ec);
    l->rtcp.close(ec);
    if (l->player) l->player->timer.cancel();
    if (l->webrtc) l->webrtc->timer.cancel();
    l->player.reset();
  }
  taps_.clear();
}

void RelayStream::receive(Side side, bool rtcp) {
  auto& socket = rtcp ? leg(side).rtcp : leg(side).rtp;
  socket.async_wait(udp::socket::wait_read,
                    [self = shared_from_this(), side, rtcp](boost::system::error_code ec) {
                      if (self->closed_ || ec == asio::error::operation_aborted) return;
                      if (!ec) self->drain(side, rtcp);
                      if (!self->closed_) self->receive(side, rtcp);
                    });
}

void RelayStream::drain(Side side, bool rtcp) {
  thread_local std::array<uint8_t, 2048> buffer;
  auto& socket = rtcp ? leg(side).rtcp : leg(side).rtp;
  udp::endpoint from;
  for (int i = 0; i < kMaxPerWakeup && !closed_; ++i) {
    boost::system::error_code ec;
    const size_t n = socket.receive_from(asio::buffer(buffer), from, 0, ec);
    if (ec) return;  // would_block: empty
    on_datagram(side, rtcp, from, buffer.data(), n);
  }
}

void RelayStream::on_datagram(Side side, bool rtcp, const udp::endpoint& from, uint8_t* data,
                              size_t size) {
  const size_t i = static_cast<size_t>(side);
  Leg& in = leg(side);
  if (in.webrtc && !rtcp && on_ice_or_dtls(side, from, data, size)) return;
  std::optional<udp::endpoint>* latched = nullptr;
  if (in.muxed()) {
    // A browser: only the addresses ICE checked, only on the one port, only once keyed.
    if (rtcp || !in.webrtc->ice.checked(from)) {
      ++counters_.foreign[i];
      return;
    }
    if (!in.rx) {
      ++counters_.srtp_failed[i];
      return;
    }
    rtcp = media::classify(std::span<const uint8_t>(data, size)) == media::PacketKind::kRtcp;
  } else {
    latched = rtcp ? &in.rtcp_latched : &in.rtp_latched;
    const bool known = (in.sdp && in.sdp->address() == from.address()) ||
                       (in.signalling && *in.signalling == from.address());
    if (*latched ? **latched != from : !known) {
      ++counters_.foreign[i];
      return;
    }
  }
  if (in.rx && in.rx->unprotect(data, size, rtcp) != media::SrtpReceiver::Outcome::kOk) {
    ++counters_.srtp_failed[i];  // forged, replayed or damaged: never latched, never relayed
    return;
  }
  if (latched && !*latched) *latched = from;
  ++counters_.received[i];
  // To the other side, unless an announcement is playing there (its RTCP still goes); in the
  // other side's codec where the two share none.
  if (!rtcp && in.transcoder) {
    transcoded_.clear();
    in.transcoder->transcode(std::span<const uint8_t>(data, size), transcoded_);
    for (const auto& p : transcoded_) {
      ++counters_.transcoded[i];
      if (!leg(other(side)).player && send_to_side(other(side), false, p.data(), p.size())) {
        ++counters_.forwarded[i];
      }
    }
  } else if ((rtcp || !leg(other(side)).player) && send_to_side(other(side), rtcp, data, size)) {
    ++counters_.forwarded[i];
  }
  for (Tap& t : taps_) {
    if (t.from != side) continue;
    if (t.paused) {
      ++counters_.withheld;
      continue;
    }
    auto via = t.via.lock();
    if (!via) continue;
    if (t.srtp) {
      protect_buffer_.assign(data, data + size);
      if (!t.srtp->protect(protect_buffer_, rtcp)) continue;
      via->send(rtcp, protect_buffer_.data(), protect_buffer_.size(), rtcp ? rtcp_of(t.to) : t.to);
    } else {
      via->send(rtcp, data, size, rtcp ? rtcp_of(t.to) : t.to);
    }
    ++counters_.tapped;
  }
}

std::optional<udp::endpoint> RelayStream::destination(Side to, bool rtcp) {
  Leg& out = leg(to);
  if (out.muxed()) return out.webrtc->ice.selected();
  std::optional<udp::endpoint> d = rtcp ? out.rtcp_latched : out.rtp_latched;
  if (!d && out.sdp && out.sdp->port() != 0 && !out.sdp->address().is_unspecified()) {
    d = rtcp ? rtcp_of(*out.sdp) : *out.sdp;
  }
  return d;
}

bool RelayStream::send_to_side(Side to, bool rtcp, const uint8_t* data, size_t size) {
  const auto d = destination(to, rtcp);
  if (!d) return false;
  Leg& out = leg(to);
  if (out.muxed() && !out.tx) return false;  // a browser gets SRTP only, once keyed
  auto& socket = rtcp && !out.muxed() ? out.rtcp : out.rtp;
  boost::system::error_code ec;
  if (out.tx) {
    protect_buffer_.assign(data, data + size);
    if (!out.tx->protect(protect_buffer_, rtcp)) return false;
    socket.send_to(asio::buffer(protect_buffer_), *d, 0, ec);
  } else {
    socket.send_to(asio::buffer(data, size), *d, 0, ec);
  }
  return !ec;
}

void RelayStream::play(Side to, Announcement a, std::function<void(uint64_t sent)> done) {
  if (closed_ || !a.frames) return;
  Leg& l = leg(to);
  if (l.player) l.player->timer.cancel();
  l.player = std::make_unique<Player>(io_);
  Player& p = *l.player;
  p.announcement = std::move(a);
  p.done = std::move(done);
  // Random SSRC, sequence and timestamp bases (RFC 3550 §5.1); one generator per thread,
  // seeded once (std::random_device costs a syscall each time it is made).
  thread_local std::mt19937 rng{std::random_device{}()};
  p.ssrc = rng();
  p.seq = static_cast<uint16_t>(rng());
  p.timestamp = rng();
  p.due = std::chrono::steady_clock::now();
  play_next(to);
}

void RelayStream::play_next(Side to) {
  Leg& l = leg(to);
  if (!l.player) return;
  Player& p = *l.player;
  const auto& frames = *p.announcement.frames;
  if (p.next >= frames.size()) {
    auto done = std::move(p.done);
    const uint64_t sent = p.sent;
    l.player.reset();
    if (done) done(sent);
    return;
  }
  const auto& payload = frames[p.next];
  std::vector<uint8_t>& packet = announce_buffer_;
  media::write_rtp_header(packet, p.announcement.payload_type, p.next == 0, p.seq, p.timestamp,
                          p.ssrc);
  packet.insert(packet.end(), payload.begin(), payload.end());
  if (send_to_side(to, false, packet.data(), packet.size())) {
    ++p.sent;
    ++counters_.announced[static_cast<size_t>(to)];
  }
  ++p.next;
  ++p.seq;
  p.timestamp += p.announcement.ticks_per_frame;
  p.due += std::chrono::milliseconds(20);
  p.timer.expires_at(p.due);
  p.timer.async_wait([self = shared_from_this(), to, player = &p](boost::system::error_code ec) {
    // A timer of a player since replaced may still fire: only the current one plays on.
    if (ec || self->closed_ || self->leg(to).player.get() != player) return;
    self->play_next(to);
  });
}

}  // namespace verbatim::gateway
