// libFuzzer target: the SIP message parser (sip/message.h, header_values.h) on arbitrary
// bytes, as a datagram and as a stream frame, and the digest credentials parser and verifier
// (sip/digest.h) on the same bytes as an Authorization value. Must never crash, hang or
// over-allocate; a message that parses must serialise to something that parses again with the same
// header count, and every typed accessor and validate() must cope with whatever was accepted.
#include <cstdint>
#include <string_view>

#include "sip/digest.h"
#include "sip/lint.h"
#include "sip/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::sip;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ParseOptions stream;
  stream.datagram = false;
  (void)frame_length(bytes, stream);
  auto m = Message::parse(bytes);
  if (m) {
    const Message& msg = m.value();
    (void)validate(msg);
    (void)msg.vias();
    (void)msg.from();
    (void)msg.to();
    (void)msg.cseq();
    (void)msg.call_id();
    (void)msg.contacts();
    (void)msg.routes();
    (void)msg.record_routes();
    (void)msg.content_type();
    (void)msg.tokens(HeaderId::kSupported);
    auto again = Message::parse(msg.serialize());
    if (!again || again.value().headers().size() != msg.headers().size()) __builtin_trap();
  }
  if (size < 4096) (void)lint_message(bytes);
  static DigestServer server("fuzz.example", {1, 2, 3},
                             [](std::string_view, DigestAlgorithm a) -> std::optional<std::string> {
                               return digest_ha1(a, "u", "fuzz.example", "p");
                             });
  if (size < 4096) {
    (void)parse_digest(bytes);
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));
    if (server.verify(bytes, "REGISTER", "sip:fuzz.example", now) == DigestVerdict::kOk) {
      __builtin_trap();
    }
  }
  return 0;
}
