// libFuzzer target: the recorder's live path for one stream (recorder/stream.h), which every
// packet from the network reaches: a sequence of datagrams from three sources (the expected
// one, another port of the same host, a foreign host) on the RTP and RTCP sockets, through
// latching, RTP/RTCP parsing, per-SSRC statistics, payload-type and SSRC changes and RFC 4733
// events. Never crashes; the summary always prints.
//
// Input: records of [flags][length][bytes]: flags bit 0 = RTCP socket, bits 1-2 = source.
#include <chrono>
#include <cstdint>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "recorder/stream.h"

namespace {

struct NullSink : verbatim::recorder::PacketSink {
  size_t packets = 0, events = 0;
  void record(const verbatim::recorder::StreamReceiver&, std::chrono::system_clock::time_point,
              const boost::asio::ip::udp::endpoint&, const boost::asio::ip::udp::endpoint&,
              verbatim::media::Bytes) override {
    ++packets;
  }
  void event(const verbatim::recorder::StreamReceiver&, nlohmann::json e) override {
    (void)e.dump();
    ++events;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::recorder;
  namespace asio = boost::asio;
  static asio::io_context io;
  NullSink sink;
  StreamSpec spec;
  spec.label = "1";
  spec.source = asio::ip::make_address("192.0.2.1");
  spec.payloads[0] = verbatim::sip::RtpMap{0, "PCMU", 8000, 1};
  spec.payloads[96] = verbatim::sip::RtpMap{96, "opus", 48000, 2};
  spec.telephone_event = 101;
  if (size % 4 == 3) {  // SRTP: nothing the fuzzer makes authenticates, so nothing gets past it
    spec.srtp = verbatim::media::parse_sdes_key("AES_CM_128_HMAC_SHA1_80",
                                                "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj")
                    .value();
  }
  StreamSpec plain = spec;
  plain.srtp.reset();
  auto stream = std::make_shared<StreamReceiver>(
      io, 20000, plain,
      size % 2 ? StreamReceiver::Latch::kFirstPacket : StreamReceiver::Latch::kSdpAddress, &sink);
  const asio::ip::udp::endpoint sources[4] = {{asio::ip::make_address("192.0.2.1"), 4000},
                                              {asio::ip::make_address("192.0.2.1"), 4001},
                                              {asio::ip::make_address("198.51.100.9"), 4000},
                                              {asio::ip::make_address("2001:db8::1"), 4000}};
  const auto t0 = std::chrono::system_clock::time_point{} + std::chrono::hours(500000);
  const auto s0 = std::chrono::steady_clock::time_point{};
  stream->update(spec);  // as the recorder does once the answer exists
  size_t i = 0;
  for (int n = 0; i + 3 <= size; ++n) {
    const uint8_t flags = data[i];
    const size_t len =
        std::min<size_t>(size - i - 3, static_cast<size_t>(data[i + 1]) << 8 | data[i + 2]);
    i += 3;
    stream->on_datagram(flags & 1, sources[(flags >> 1) & 3], verbatim::media::Bytes(data + i, len),
                        t0 + std::chrono::milliseconds(20 * n),
                        s0 + std::chrono::milliseconds(flags & 0x80 ? 20 * n : 20 * n + 7));
    i += len;
    if (n == 50) {
      // A re-INVITE halfway: new codec set, on hold, the same source.
      StreamSpec changed = spec;
      changed.payloads.erase(0);
      changed.receiving = (flags & 0x40) != 0;
      stream->update(changed);
    }
  }
  (void)stream->summary().dump();
  stream->close();
  return 0;
}
