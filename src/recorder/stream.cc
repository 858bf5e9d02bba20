#include "recorder/stream.h"

#include <netinet/udp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <spdlog/spdlog.h>

#include "common/clock.h"

namespace verbatim::recorder {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using nlohmann::json;

namespace {

std::string endpoint_text(const udp::endpoint& e) {
  return e.address().is_v6() ? "[" + e.address().to_string() + "]:" + std::to_string(e.port())
                             : e.address().to_string() + ":" + std::to_string(e.port());
}

std::string hex32(uint32_t v) {
  char buf[12];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

StreamReceiver::StreamReceiver(asio::io_context& io, uint16_t port, StreamSpec spec, Latch latch,
                               PacketSink* sink)
    : rtp_socket_(io),
      rtcp_socket_(io),
      port_(port),
      spec_(std::move(spec)),
      latch_(latch),
      sink_(sink),
      opened_(std::chrono::steady_clock::now()),
      last_media_(opened_) {}

Result<std::shared_ptr<StreamReceiver>> StreamReceiver::open(asio::io_context& io,
                                                             const asio::ip::address& address,
                                                             uint16_t port, StreamSpec spec,
                                                             Latch latch, PacketSink* sink) {
  auto s = std::make_shared<StreamReceiver>(io, port, std::move(spec), latch, sink);
  boost::system::error_code ec;
  for (auto [socket, p, local] :
       {std::tuple{&s->rtp_socket_, port, &s->rtp_local_},
        std::tuple{&s->rtcp_socket_, static_cast<uint16_t>(port + 1), &s->rtcp_local_}}) {
    *local = udp::endpoint(address, p);
    socket->open(local->protocol(), ec);
    if (!ec) socket->bind(*local, ec);
    if (!ec) socket->non_blocking(true, ec);  // drained until empty at each wake-up
    if (ec) {
      return make_error(ErrorCode::kIo,
                        "media port " + endpoint_text(*local) + ": " + ec.message());
    }
  }
  // Room for bursts while the loop writes evidence (the default is ~200 KiB).
  s->rtp_socket_.set_option(asio::socket_base::receive_buffer_size(1 << 20), ec);
  // A sender's run of equal datagrams (a gateway's GSO send of a camera's frame) may arrive in
  // one read (drain() cuts it up). Without it, the kernel cuts such a run up on arrival, one
  // queued buffer and wake-up per datagram. Where the kernel lacks it, datagrams come one by one.
  const int on = 1;
  ::setsockopt(s->rtp_socket_.native_handle(), SOL_UDP, UDP_GRO, &on, sizeof on);
  return s;
}

void StreamReceiver::start() {
  receive(false);
  receive(true);
}

void StreamReceiver::update(StreamSpec spec) {
  if (spec.source != spec_.source || spec.source_port != spec_.source_port) {
    if (rtp_latch_) {
      json e = {{"type", "relatch"}, {"previous", endpoint_text(*rtp_latch_)}};
      if (sink_) sink_->event(*this, e);
    }
    rtp_latch_.reset();
    rtcp_latch_.reset();
  }
  if (spec.srtp != spec_.srtp) {
    srtp_.reset();
    if (spec.srtp) {
      auto r = media::SrtpReceiver::create(*spec.srtp);
      if (r) {
        srtp_ = std::move(r).value();
      } else if (sink_) {
        sink_->event(*this, {{"type", "srtp-error"}, {"error", r.error().message}});
      }
    }
  }
  if (spec.receiving && !spec_.receiving) {
    // Back from inactive (a hold, a pause): what the senders numbered meanwhile is not loss.
    for (auto& [ssrc, source] : sources_) source.stats.inactive();
  }
  if (spec.receiving != spec_.receiving && sink_ && !spec.session_wide) {
    sink_->event(*this, {{"type", spec.receiving ? "resume" : "hold"}});
  }
  spec_ = std::move(spec);
  last_media_ = std::chrono::steady_clock::now();
}

void StreamReceiver::close() {
  closed_ = true;
  sink_ = nullptr;
  boost::system::error_code ec;
  rtp_socket_.close(ec);
  rtcp_socket_.close(ec);
}

// Waits for the socket to be readable, then reads what is there into one buffer shared by
// every stream of the thread (a datagram is handled before the next is read): no receive
// buffer per stream (memory per call), and several datagrams per wake-up under load.
void StreamReceiver::receive(bool rtcp) {
  auto& socket = rtcp ? rtcp_socket_ : rtp_socket_;
  socket.async_wait(udp::socket::wait_read,
                    [self = shared_from_this(), rtcp](boost::system::error_code ec) {
                      if (self->closed_ || ec == asio::error::operation_aborted) return;
                      if (!ec) self->drain(rtcp);
                      if (!self->closed_) self->receive(rtcp);
                    });
}

// One read may hold several datagrams of one sender (UDP_GRO, set in open()): the control
// message gives their size, the last may be shorter. Each is handled as if read alone.
void StreamReceiver::drain(bool rtcp) {
  thread_local std::array<uint8_t, 65536> buffer;
  const int fd = (rtcp ? rtcp_socket_ : rtp_socket_).native_handle();
  for (int i = 0; i < kMaxPerWakeup && !closed_; ++i) {
    udp::endpoint from;
    iovec part{buffer.data(), buffer.size()};
    alignas(cmsghdr) std::array<uint8_t, CMSG_SPACE(sizeof(int))> control{};
    msghdr h{};
    h.msg_name = from.data();
    h.msg_namelen = static_cast<socklen_t>(from.capacity());
    h.msg_iov = &part;
    h.msg_iovlen = 1;
    h.msg_control = control.data();
    h.msg_controllen = control.size();
    const ssize_t got = ::recvmsg(fd, &h, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: empty
    }
    from.resize(h.msg_namelen);
    const auto n = static_cast<size_t>(got);
    size_t segment = n;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int size = 0;
        std::memcpy(&size, CMSG_DATA(c), sizeof size);
        if (size > 0) segment = static_cast<size_t>(size);
      }
    }
    const auto at = std::chrono::system_clock::now();
    const auto steady_at = std::chrono::steady_clock::now();
    for (size_t offset = 0; offset < n && !closed_; offset += segment) {
      on_datagram(rtcp, from, media::Bytes(buffer.data() + offset, std::min(segment, n - offset)),
                  at, steady_at);
    }
  }
}

bool StreamReceiver::source_allowed(bool rtcp, const udp::endpoint& from) {
  const auto& latched = rtcp ? rtcp_latch_ : rtp_latch_;
  if (latched) return *latched == from;
  if (latch_ == Latch::kSdpAddress && spec_.source && from.address() != *spec_.source) return false;
  // RTCP comes from the host that sends the RTP.
  if (rtcp && rtp_latch_ && from.address() != rtp_latch_->address()) return false;
  return true;
}

void StreamReceiver::foreign(const udp::endpoint& from) {
  ++counters_.foreign;
  if (foreign_reported_ >= kMaxForeignEvents || !sink_) return;
  ++foreign_reported_;
  spdlog::warn("stream {} (port {}): dropped a packet from {}, not the latched source {}",
               spec_.label, port_, endpoint_text(from),
               rtp_latch_ ? endpoint_text(*rtp_latch_)
                          : (spec_.source ? spec_.source->to_string() : std::string("(none)")));
  sink_->event(*this, {{"type", "foreign-source"}, {"from", endpoint_text(from)}});
}

void StreamReceiver::on_datagram(bool rtcp, const udp::endpoint& from, media::Bytes datagram,
                                 std::chrono::system_clock::time_point at,
                                 std::chrono::steady_clock::time_point steady_at) {
  if (!sink_) return;
  if (!source_allowed(rtcp, from)) {
    foreign(from);
    return;
  }
  if (spec_.srtp) {                                // nothing is believed before it authenticates
    thread_local std::array<uint8_t, 2048> plain;  // the decrypted packet
    const media::PacketKind k = media::classify(datagram);
    if (!srtp_ || (k != media::PacketKind::kRtp && k != media::PacketKind::kRtcp) ||
        datagram.size() > plain.size()) {
      ++counters_.invalid;
      return;
    }
    std::memcpy(plain.data(), datagram.data(), datagram.size());
    size_t n = datagram.size();
    switch (srtp_->unprotect(plain.data(), n, k == media::PacketKind::kRtcp)) {
      case media::SrtpReceiver::Outcome::kOk:
        datagram = media::Bytes(plain.data(), n);
        break;
      case media::SrtpReceiver::Outcome::kAuthFailed:
        if (counters_.srtp_auth_failed++ < kMaxForeignEvents) {
          sink_->event(*this, {{"type", "srtp-auth-failed"}, {"from", endpoint_text(from)}});
        }
        return;
      case media::SrtpReceiver::Outcome::kReplay:
        ++counters_.duplicates;
        return;
      case media::SrtpReceiver::Outcome::kMalformed:
        ++counters_.invalid;
        return;
    }
  }
  const media::PacketKind kind = media::classify(datagram);
  if (kind == media::PacketKind::kRtcp) {
    if (!media::parse_rtcp(datagram)) {
      ++counters_.invalid;
      return;
    }
    if (rtcp && !rtcp_latch_) rtcp_latch_ = from;
    if (!rtcp && !rtp_latch_) {  // RTCP multiplexed on the RTP port before any RTP: no latch
      ++counters_.invalid;
      return;
    }
    ++counters_.rtcp;
    counters_.bytes += datagram.size();
    sink_->record(*this, at, from, rtcp ? rtcp_local_ : rtp_local_, datagram);
    return;
  }
  if (kind != media::PacketKind::kRtp || rtcp) {
    ++counters_.invalid;
    return;
  }
  auto p = media::parse_rtp(datagram);
  if (!p) {
    ++counters_.invalid;
    return;
  }
  if (!rtp_latch_) {
    rtp_latch_ = from;
    sink_->event(*this, {{"type", "latched"}, {"source", endpoint_text(from)}});
  }
  on_rtp(p.value(), from, datagram, at, steady_at);
}

void StreamReceiver::on_rtp(const media::RtpPacket& p, const udp::endpoint& from,
                            media::Bytes datagram, std::chrono::system_clock::time_point at,
                            std::chrono::steady_clock::time_point steady_at) {
  auto map = spec_.payloads.find(p.payload_type);
  const bool known = map != spec_.payloads.end() || p.payload_type == spec_.telephone_event;
  auto it = sources_.find(p.ssrc);
  if (it == sources_.end()) {
    if (sources_.size() >= kMaxSources) {
      // A source that keeps changing SSRC: still evidence, no more statistics.
      ++counters_.packets;
      counters_.bytes += datagram.size();
      last_media_ = steady_at;
      sink_->record(*this, at, from, rtp_local_, datagram);
      return;
    }
    const uint32_t rate =
        map != spec_.payloads.end() && map->second.clock_rate > 0 ? map->second.clock_rate : 8000;
    it = sources_.emplace(p.ssrc, Source(rate)).first;
    it->second.first = at;
    json e = {{"type", sources_.size() == 1 ? "ssrc" : "ssrc-change"}, {"ssrc", hex32(p.ssrc)}};
    if (sources_.size() > 1) e["previous"] = hex32(last_ssrc_);
    sink_->event(*this, e);
  } else if (p.ssrc != last_ssrc_ && last_ssrc_ != 0) {
    sink_->event(
        *this, {{"type", "ssrc-change"}, {"ssrc", hex32(p.ssrc)}, {"previous", hex32(last_ssrc_)}});
  }
  last_ssrc_ = p.ssrc;
  Source& s = it->second;
  // Arrival in RTP clock units (RFC 3550 A.8) from the steady clock.
  const auto since = std::chrono::duration_cast<std::chrono::microseconds>(steady_at - opened_);
  const uint32_t rate = map != spec_.payloads.end() && map->second.clock_rate > 0
                            ? static_cast<uint32_t>(map->second.clock_rate)
                            : 8000;
  const auto arrival = static_cast<uint32_t>(since.count() * rate / 1000000);
  const int64_t lost_before = s.stats.lost();
  const media::Arrival a = s.stats.update(p.sequence, p.timestamp, arrival);
  if (a == media::Arrival::kDuplicate) {
    ++counters_.duplicates;
    return;
  }
  if (const int64_t lost = s.stats.lost() - lost_before; lost != 0) {
    if (loss_pending_ <= 0 && lost > 0) loss_since_ = at;
    loss_pending_ += lost;
  }
  if (loss_pending_ > 0 && at - loss_since_ >= kLossWindow) note_loss();
  note_gap(at, steady_at, false);
  media_seen_ = true;
  if (!known) {
    if (counters_.unknown_payload++ == 0) {
      sink_->event(*this, {{"type", "unknown-payload"}, {"payloadType", p.payload_type}});
    }
  } else if (p.payload_type != spec_.telephone_event && p.payload_type != s.payload_type) {
    json e = {{"type", s.payload_type < 0 ? "codec" : "codec-change"},
              {"ssrc", hex32(p.ssrc)},
              {"payloadType", p.payload_type}};
    if (map != spec_.payloads.end()) {
      e["codec"] = map->second.encoding;
      s.codec = map->second.encoding;
      s.clock_rate = map->second.clock_rate;
    }
    sink_->event(*this, e);
    s.payload_type = p.payload_type;
  }
  if (p.payload_type == spec_.telephone_event) on_telephone_event(s, p, at);
  s.last = at;
  ++counters_.packets;
  counters_.bytes += datagram.size();
  last_media_ = steady_at;
  sink_->record(*this, at, from, rtp_local_, datagram);
}

void StreamReceiver::note_gap(std::chrono::system_clock::time_point at,
                              std::chrono::steady_clock::time_point steady_at, bool to_end) {
  if (!spec_.receiving || !media_seen_ || steady_at - last_media_ < kGap) return;
  const auto silent =
      std::chrono::duration_cast<std::chrono::milliseconds>(steady_at - last_media_);
  if (counters_.gaps++ >= kMaxGapEvents || !sink_) return;
  json e = {{"type", "gap"},
            {"seconds", std::floor(static_cast<double>(silent.count()) / 100.0) / 10.0},
            {"startedAt", format_iso8601_ms(at - silent)}};
  if (to_end) e["toEnd"] = true;
  sink_->event(*this, std::move(e));
}

void StreamReceiver::note_loss() {
  if (loss_pending_ > 0 && sink_) {
    sink_->event(*this, {{"type", "loss"},
                         {"packets", loss_pending_},
                         {"startedAt", format_iso8601_ms(loss_since_)}});
  }
  loss_pending_ = 0;
}

void StreamReceiver::finish(std::chrono::system_clock::time_point at,
                            std::chrono::steady_clock::time_point steady_at) {
  note_loss();
  note_gap(at, steady_at, true);
}

// RFC 4733 §2.3: one event per RTP timestamp; the end bit (sent three times) closes it.
void StreamReceiver::on_telephone_event(Source& s, const media::RtpPacket& p,
                                        std::chrono::system_clock::time_point at) {
  if (p.payload.size() < 4) return;
  const uint8_t code = p.payload[0];
  const bool end = (p.payload[1] & 0x80) != 0;
  const uint16_t duration = static_cast<uint16_t>(p.payload[2] << 8 | p.payload[3]);
  if (p.timestamp != s.dtmf_timestamp) {  // a new event (its end packets repeat the timestamp)
    s.dtmf_timestamp = p.timestamp;
    s.dtmf_open = true;
  }
  if (!end || !s.dtmf_open) return;
  s.dtmf_open = false;
  static constexpr const char* kNames = "0123456789*#ABCD";
  const std::string digit =
      code < 16 ? std::string(1, kNames[code]) : "event " + std::to_string(code);
  const uint32_t rate = 8000;
  const uint32_t ms = duration * 1000u / rate;
  sink_->event(*this, {{"type", "dtmf"},
                       {"digit", digit},
                       {"durationMs", ms},
                       {"startedAt", format_iso8601_ms(at - std::chrono::milliseconds(ms))}});
}

json StreamReceiver::summary() const {
  json sources = json::array();
  for (const auto& [ssrc, s] : sources_) {
    json j = {{"ssrc", hex32(ssrc)},
              {"received", s.stats.received()},
              {"expected", s.stats.expected()},
              {"lost", s.stats.lost()},
              {"lossRatio", s.stats.loss_ratio()},
              {"late", s.stats.late()},
              {"duplicates", s.stats.duplicates()},
              {"restarts", s.stats.restarts()},
              {"jitterMs", s.stats.jitter_ms()},
              {"mos", s.stats.mos()},
              {"first", format_iso8601_ms(s.first)},
              {"last", format_iso8601_ms(s.last)}};
    if (!s.codec.empty()) {
      j["codec"] = s.codec;
      j["clockRate"] = s.clock_rate;
    }
    sources.push_back(j);
  }
  json j = {{"index", spec_.index + 1},
            {"label", spec_.label},
            {"port", port_},
            {"packets", counters_.packets},
            {"rtcp", counters_.rtcp},
            {"bytes", counters_.bytes},
            {"foreignDropped", counters_.foreign},
            {"duplicatesDropped", counters_.duplicates},
            {"invalid", counters_.invalid},
            {"unknownPayload", counters_.unknown_payload},
            {"srtpAuthFailed", counters_.srtp_auth_failed},
            {"gaps", counters_.gaps},
            {"sources", sources}};
  if (rtp_latch_) j["latchedSource"] = endpoint_text(*rtp_latch_);
  if (spec_.srtp) j["srtp"] = spec_.srtp->suite;
  return j;
}

}  // namespace verbatim::recorder
