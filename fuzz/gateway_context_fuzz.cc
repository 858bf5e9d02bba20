// libFuzzer target: what a recorder takes from the X-Verbatim headers of a SIPREC INVITE
// (siprec/gateway_context.h) — any headers, signatures, times and group lists. Never crashes;
// whatever it accepts was signed under the key (the fuzzer cannot forge the HMAC, so only the
// seed's signed fields survive) and reads back the same when signed again.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "siprec/gateway_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim;
  // The seed fuzz/corpus/gateway_context/signed.sip is signed with this key at t=1800000000.
  static const siprec::GatewayKey key{1, 2, 3};
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1800000001));
  auto m = sip::Message::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!m || !m.value().is_request()) return 0;
  const auto r = siprec::read_context(m.value(), key, now);
  if (r.context && !r.ignored.empty()) std::abort();  // trusted and refused at once
  if (!r.context) return 0;
  // Trusted: the same context signed again must be read back whole.
  const auto call_id = m.value().call_id();
  std::string text =
      "INVITE sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
      "From: <sip:gw@127.0.0.1>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: " +
      std::string(call_id ? call_id.value() : "x") + "\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n";
  for (const auto& [n, v] :
       siprec::context_headers(*r.context, call_id ? call_id.value() : "x", key, now)) {
    text += n + ": " + v + "\r\n";
  }
  auto again = sip::Message::parse(text + "Content-Length: 0\r\n\r\n");
  if (!again) return 0;  // a Call-ID the parser takes in one message but not rebuilt: not ours
  const auto back = siprec::read_context(again.value(), key, now);
  if (!back.context || !(*back.context == *r.context)) std::abort();
  return 0;
}
