// The production MediaAnchor: relay.h's RelayStream and TapPorts on ports from a PortPool.
#include "gateway/media_anchor.h"

#include "gateway/relay.h"
#include "gateway/sip_helpers.h"

namespace verbatim::gateway {

namespace {

using boost::asio::ip::udp;

class RelayTap final : public MediaTap {
 public:
  RelayTap(std::shared_ptr<TapPorts> tap, media::PortPool& pool)
      : tap_(std::move(tap)), pool_(pool) {}
  ~RelayTap() override { close(); }
  RelayTap(const RelayTap&) = delete;
  RelayTap& operator=(const RelayTap&) = delete;
  uint16_t port() const override { return tap_->port(); }
  void on_rtp(RtpHandler handler) override { tap_->set_receiver(false, std::move(handler)); }
  void on_rtcp(RtpHandler handler) override { tap_->set_receiver(true, std::move(handler)); }
  void send(std::span<const uint8_t> packet, const udp::endpoint& to) override {
    tap_->send(false, packet.data(), packet.size(), to);
  }
  void send_rtcp(std::span<const uint8_t> packet, const udp::endpoint& to) override {
    tap_->send(true, packet.data(), packet.size(), to);
  }
  void close() override {
    if (closed_) return;
    closed_ = true;
    tap_->close();
    pool_.give(tap_->port());
  }
  const std::shared_ptr<TapPorts>& ports() const { return tap_; }

 private:
  std::shared_ptr<TapPorts> tap_;
  media::PortPool& pool_;
  bool closed_ = false;
};

class RelayedStream final : public MediaStream {
 public:
  RelayedStream(std::shared_ptr<RelayStream> relay, media::PortPool& pool)
      : relay_(std::move(relay)), pool_(pool) {}
  ~RelayedStream() override { close(); }
  RelayedStream(const RelayedStream&) = delete;
  RelayedStream& operator=(const RelayedStream&) = delete;
  uint16_t port(Side facing) const override { return relay_->port(facing); }
  void set_remote(Side side, const udp::endpoint& rtp, bool relatch) override {
    relay_->set_remote(side, rtp, relatch);
  }
  Status set_srtp(Side side, const media::SdesKey& theirs, const media::SdesKey& ours) override {
    return relay_->set_srtp(side, theirs, ours);
  }
  void set_signalling(Side side, const boost::asio::ip::address& address) override {
    relay_->set_signalling(side, address);
  }
  void set_ice(Side side, media::IceLite ice) override { relay_->set_ice(side, std::move(ice)); }
  void set_dtls(Side side, std::unique_ptr<media::DtlsSrtp> dtls) override {
    relay_->set_dtls(side, std::move(dtls));
  }
  Status set_transcoding(Side from, const media::Transcoder::Codec& source,
                         const media::Transcoder::Codec& target) override {
    auto t = media::Transcoder::create(source, target);
    if (!t) return t.error();
    relay_->set_transcoder(from, std::move(t).value());
    return ok_status();
  }
  uint64_t add_tap(Side from, const std::shared_ptr<MediaTap>& via, const udp::endpoint& to,
                   std::unique_ptr<media::SrtpSender> srtp) override {
    // Taps of this anchor are RelayTaps (the anchor made them).
    return relay_->add_tap(from, static_cast<const RelayTap&>(*via).ports(), to, std::move(srtp));
  }
  void remove_tap(uint64_t id) override { relay_->remove_tap(id); }
  void pause_tap(uint64_t id, bool paused) override { relay_->pause_tap(id, paused); }
  RelayCounters counters() const override { return relay_->counters(); }
  void play(Side to, Announcement a, std::function<void(uint64_t sent)> done) override {
    relay_->play(to, std::move(a), std::move(done));
  }
  void close() override {
    if (closed_) return;
    closed_ = true;
    relay_->close();
    pool_.give(relay_->port(Side::kA));
    pool_.give(relay_->port(Side::kB));
  }

 private:
  std::shared_ptr<RelayStream> relay_;
  media::PortPool& pool_;
  bool closed_ = false;
};

}  // namespace

RelayAnchor::RelayAnchor(boost::asio::io_context& io, boost::asio::ip::address address,
                         uint16_t port_min, uint16_t port_max)
    : io_(io), address_(std::move(address)), ports_(port_min, port_max) {}

Result<std::shared_ptr<MediaStream>> RelayAnchor::open_stream() {
  Result<std::shared_ptr<RelayStream>> r =
      make_error(ErrorCode::kResourceExhausted, "no free media ports");
  for (int attempt = 0; attempt < detail::kBindAttempts && !r; ++attempt) {
    auto pa = ports_.take();
    auto pb = ports_.take();
    if (!pa || !pb) {
      if (pa) ports_.give(*pa);
      if (pb) ports_.give(*pb);
      return make_error(ErrorCode::kResourceExhausted, "no free media ports");
    }
    r = RelayStream::open(io_, address_, *pa, *pb);
    if (!r) {
      ports_.give(*pa);
      ports_.give(*pb);
    }
  }
  if (!r) {  // every port tried is held by another process
    return make_error(ErrorCode::kResourceExhausted,
                      "no media port could be bound: " + r.error().message);
  }
  return std::shared_ptr<MediaStream>(
      std::make_shared<RelayedStream>(std::move(r).value(), ports_));
}

Result<std::shared_ptr<MediaTap>> RelayAnchor::open_tap() {
  Result<std::shared_ptr<TapPorts>> tap = make_error(ErrorCode::kResourceExhausted, "");
  for (int attempt = 0; attempt < detail::kBindAttempts && !tap; ++attempt) {
    auto port = ports_.take();
    if (!port) {
      return make_error(ErrorCode::kResourceExhausted, "no free media ports for the recording");
    }
    tap = TapPorts::open(io_, address_, *port);
    if (!tap) ports_.give(*port);
  }
  if (!tap) return tap.error();
  return std::shared_ptr<MediaTap>(std::make_shared<RelayTap>(std::move(tap).value(), ports_));
}

}  // namespace verbatim::gateway
