// libFuzzer target: the SDP parser and the RFC 3264 answerer (sip/sdp.h). Must never crash or
// over-allocate; an SDP that parses must serialise to an SDP that parses to the same text,
// and answering it must produce a parseable SDP.
#include <cstdint>
#include <string>
#include <string_view>

#include "sip/sdp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::sip;
  auto sdp = parse_sdp(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!sdp) return 0;
  const std::string out = serialize_sdp(sdp.value());
  auto again = parse_sdp(out);
  if (!again || serialize_sdp(again.value()) != out) __builtin_trap();
  for (const auto& m : sdp.value().media) {
    (void)m.rtpmaps();
    (void)m.cryptos();
    (void)m.label();
    (void)sdp.value().is_hold(m);
  }
  AnswerOptions o;
  o.address = "192.0.2.1";
  o.ports.assign(sdp.value().media.size(), 40000);
  if (auto a = answer_recvonly(sdp.value(), o); a && !parse_sdp(serialize_sdp(a.value()))) {
    __builtin_trap();
  }
  return 0;
}
