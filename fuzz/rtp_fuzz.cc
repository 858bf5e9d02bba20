// libFuzzer target: the RTP and RTCP parsers and the receive statistics (media/rtp.h). Every
// view the parsers return lies inside the datagram; the statistics take any sequence of
// packets (the input split into 8-byte steps of sequence number, timestamp, arrival) without
// crashing, and never count more distinct packets received than the sequence range expects.
#include <cstdint>
#include <span>

#include "media/rtp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::media;
  const Bytes in(data, size);
  (void)classify(in);
  if (auto p = parse_rtp(in)) {
    const auto& r = p.value();
    auto inside = [&](Bytes b) {
      return b.empty() || (b.data() >= data && b.data() + b.size() <= data + size);
    };
    if (!inside(r.payload) || !inside(r.extension)) __builtin_trap();
  }
  if (auto c = parse_rtcp(in)) {
    for (const auto& p : c.value()) (void)p.reports.size();
  }
  SourceStats s;
  for (size_t i = 0; i + 8 <= size; i += 8) {
    const uint16_t seq = static_cast<uint16_t>(data[i] << 8 | data[i + 1]);
    const uint32_t ts = static_cast<uint32_t>(data[i + 2] << 8 | data[i + 3]) * 160u;
    const uint32_t arrival = static_cast<uint32_t>(data[i + 4] << 24 | data[i + 5] << 16 |
                                                   data[i + 6] << 8 | data[i + 7]);
    (void)s.update(seq, ts, arrival);
    if (s.received() > s.expected()) __builtin_trap();
  }
  (void)s.mos();
  (void)s.loss_ratio();
  return 0;
}
